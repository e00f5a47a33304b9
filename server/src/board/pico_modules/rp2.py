# rp2 for the simulated Pico (HeapLens): PIO, StateMachine and the asm_pio assembler. Programs
# assemble to the words a Pico would load, but no state machine runs them: an active state
# machine takes every word put() at once, get() returns 0. See README.md beside this file.
from array import array as _array
from machine import _nop, _nopk, _zero
from time import sleep_ms as _sleep_ms


# PIO(0), PIO(1), then StateMachine(0..7), made at first use (a Pico's are static).
_objs = [None] * 10


class PIOASMError(Exception):
    pass


class PIO:
    IN_LOW = 0
    IN_HIGH = 1
    OUT_LOW = 2
    OUT_HIGH = 3
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    JOIN_NONE = 0
    JOIN_TX = 1
    JOIN_RX = 2
    IRQ_SM0 = 0x100
    IRQ_SM1 = 0x200
    IRQ_SM2 = 0x400
    IRQ_SM3 = 0x800

    def __new__(cls, id):
        if id not in (0, 1):
            raise ValueError("invalid PIO")
        p = _objs[id]
        if p is None:
            p = _objs[id] = object.__new__(cls)
            p._id = id
            p._used = 0  # words of the 32-word instruction memory in use
        return p

    def add_program(self, prog):
        # prog[1 + id] is the program's offset in PIO id, -1 while not loaded.
        if prog[1 + self._id] < 0:
            n = len(prog[0])
            if self._used + n > 32:
                raise OSError(12)  # ENOMEM
            prog[1 + self._id] = self._used
            self._used += n

    def remove_program(self, prog=None):
        if prog is None:
            self._used = 0
        elif prog[1 + self._id] >= 0:
            self._used -= len(prog[0])
            prog[1 + self._id] = -1

    def state_machine(self, id, *args, **kw):
        return StateMachine(self._id * 4 + id, *args, **kw)

    irq = _nopk
    gpio_base = _zero


class StateMachine:
    # exec() runs nothing; IRQs never fire.
    restart = exec = _nop
    irq = _nopk
    rx_fifo = _zero

    def __new__(cls, id, *args, **kw):
        if not 0 <= id < 8:
            raise ValueError("invalid StateMachine")
        sm = _objs[2 + id]
        if sm is None:
            sm = _objs[2 + id] = object.__new__(cls)
            sm._id = id
            sm._prog = None
            sm._on = False
            sm._tx = 0  # words waiting in the TX FIFO (only while stopped)
        if args or kw:
            sm.init(*args, **kw)
        return sm

    def init(self, prog, freq=-1, **kw):
        if freq != -1 and not 1908 <= freq <= 125000000:
            raise ValueError("freq out of range")
        PIO(self._id >> 2).add_program(prog)
        self._prog = prog
        self._on = False
        self._tx = 0

    def active(self, value=None):
        if value is not None:
            self._on = bool(value)
            if self._on:
                self._tx = 0
        return self._on

    def put(self, value, shift=0):
        # A stopped state machine's FIFO fills (4 words, 8 joined) and put() then blocks, as
        # on a Pico; a running one takes every word at once.
        n = 1 if isinstance(value, int) else len(value)
        if self._on:
            return
        cap = 8 if self._prog and self._prog[5] >> 30 == 1 else 4
        while n:
            while self._tx >= cap and not self._on:
                _sleep_ms(1)
            if self._on:
                return
            self._tx += 1
            n -= 1

    def get(self, buf=None, shift=0):
        if buf is None:
            return 0
        for k in range(len(buf)):
            buf[k] = 0

    def tx_fifo(self):
        return self._tx


bootsel_button = _zero


# The assembler. A program is assembled by calling its function once with its globals
# replaced by _dsl (as on a Pico, it sees no other global), each instruction appending to
# _asm, then encoding: labels, side-set and delays are only known once all are seen.
class _Asm:
    def start(self):
        self.words = []  # instruction bits without delay/side-set
        self.extra = []  # delay | side-set value << 8 | 1 << 16 when .side() was given
        self.refs = []  # (instruction index, label) of jumps
        self.labels = {}
        self.wrap_target = 0
        self.wrap = -1

    def side(self, value):
        self.extra[-1] |= 0x10000 | value << 8
        return self

    def delay(self, cycles):
        self.extra[-1] |= cycles
        return self

    __getitem__ = delay

    def finish(self, side_count, side_opt):
        # side_count includes the enable bit when side_opt.
        sides = 0
        for e in self.extra:
            sides += e >> 16
        if side_opt is None:
            side_opt = 0 < side_count and sides < len(self.words)
            side_count += side_opt
        if sides and not side_count:
            raise PIOASMError("no sideset")
        words = self.words
        for k in range(len(words)):
            e = self.extra[k]
            if e & 0xFF > 31 >> side_count:
                raise PIOASMError("delay too large")
            w = words[k] | (e & 0xFF) << 8
            if e >> 16:
                v = e >> 8 & 0xFF
                if v >> side_count - side_opt:
                    raise PIOASMError("sideset too large")
                w |= side_opt << 12 | v << 13 - side_count
            words[k] = w
        for k, label in self.refs:
            if label not in self.labels:
                raise PIOASMError("unknown label {}".format(label))
            words[k] |= self.labels[label]
        return side_opt


_asm = _Asm()


def _emit(word, label=None):
    a = _asm
    if label is not None:
        if isinstance(label, int):
            word |= label
        else:
            a.refs.append((len(a.words), label))
    a.words.append(word)
    a.extra.append(0)
    return a


def _label(name):
    if name in _asm.labels:
        raise PIOASMError("duplicate label {}".format(name))
    _asm.labels[name] = len(_asm.words)


def _wrap_target():
    _asm.wrap_target = len(_asm.words)


def _wrap():
    _asm.wrap = len(_asm.words) - 1


def _jmp(cond, label=None):
    if label is None:
        return _emit(0, cond)
    return _emit(cond << 5, label)


def _wait(polarity, src, index):
    # src: gpio (0), pin (6, also a jmp condition) or the irq function itself.
    return _emit(0x2000 | polarity << 7 | (0 if src == 0 else 1 if src == 6 else 2) << 5 | index)


def _in(src, n, op=0x4000):
    if not 0 < n <= 32:
        raise PIOASMError("invalid bit count {}".format(n))
    return _emit(op | src << 5 | n & 31)


def _out(dest, n):
    return _in(7 if dest == 8 else dest, n, 0x6000)


def _push(a=0, b=0, op=0x8000):
    # Blocking unless noblock (0x100) is given.
    v = a | b
    return _emit(op | (v if v & 0x100 else v | 0x20) & 0x60)


def _pull(a=0, b=0):
    return _push(a, b, 0x8080)


def _mov(dest, src):
    return _emit(0xA000 | (4 if dest == 8 else dest) << 5 | src)


def _irq(mod, index=None):
    if index is None:
        mod, index = 0, mod
    return _emit(0xC000 | mod & 0x60 | index)


def _set(dest, data):
    return _emit(0xE000 | dest << 5 | data)


def _rel(x):
    return x | 0x10


# The names a PIO program sees. exec is 8: out() encodes it as 7, mov() as 4.
_dsl = {
    "gpio": 0,
    "pins": 0,
    "x": 1,
    "y": 2,
    "null": 3,
    "pindirs": 4,
    "pc": 5,
    "status": 5,
    "isr": 6,
    "osr": 7,
    "exec": 8,
    "not_x": 1,
    "x_dec": 2,
    "not_y": 3,
    "y_dec": 4,
    "x_not_y": 5,
    "pin": 6,
    "not_osre": 7,
    "block": 0x20,
    "noblock": 0x100,
    "iffull": 0x40,
    "ifempty": 0x40,
    "clear": 0x40,
    "invert": lambda x: x | 0x08,
    "reverse": _rel,
    "rel": _rel,
    "label": _label,
    "wrap_target": _wrap_target,
    "wrap": _wrap,
    "word": _emit,
    "nop": lambda: _emit(0xA042),
    "jmp": _jmp,
    "wait": _wait,
    "in_": _in,
    "out": _out,
    "push": _push,
    "pull": _pull,
    "mov": _mov,
    "irq": _irq,
    "set": _set,
}


def asm_pio(
    out_init=None,
    set_init=None,
    sideset_init=None,
    side_pindir=False,
    in_shiftdir=0,
    out_shiftdir=0,
    autopush=False,
    autopull=False,
    push_thresh=32,
    pull_thresh=32,
    fifo_join=0,
):
    def assemble(f):
        g = f.__globals__
        saved = g.copy()
        g.clear()
        g.update(_dsl)
        a = _asm
        a.start()
        try:
            f()
        finally:
            g.clear()
            g.update(saved)
        n = 0 if sideset_init is None else 1 if isinstance(sideset_init, int) else len(sideset_init)
        opt = a.finish(n, None)
        top = a.wrap if a.wrap >= 0 else len(a.words) - 1
        return [
            _array("H", a.words),
            -1,
            -1,
            -1,
            opt << 30 | side_pindir << 29 | top << 12 | a.wrap_target << 7,
            fifo_join << 30
            | (pull_thresh & 31) << 25
            | (push_thresh & 31) << 20
            | out_shiftdir << 19
            | in_shiftdir << 18
            | autopull << 17
            | autopush << 16,
            out_init,
            set_init,
            sideset_init,
        ]

    return assemble


def asm_pio_encode(instr, sideset_count, sideset_opt=False):
    a = _asm
    a.start()
    exec(instr, _dsl)
    if len(a.words) != 1:
        raise PIOASMError("expecting exactly 1 instruction")
    a.finish(sideset_count, 1 if sideset_opt else 0)
    return a.words[0]
