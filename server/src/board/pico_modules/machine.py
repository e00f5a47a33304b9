# machine for the simulated Pico (HeapLens): a Raspberry Pi Pico's API on the MicroPython unix
# port, loaded at boot in place of the unix port's own. Its code and objects are in the heap
# every run starts from, so it is kept small: each function costs ~200 bytes, hence few
# functions and shared no-op methods. README.md beside this file says what each call does
# here and where it allocates differently from a Pico.
#
# Timer and Pin.irq callbacks run like a Pico's soft IRQs: one thread (started here, blocked
# while no Timer is armed) counts down the deadlines and hands each due callback to
# micropython.schedule, so the main thread runs it between two bytecodes, in a busy loop or
# while sleeping in time.sleep*(). The thread allocates nothing and shares only fixed-size
# tables with the main thread, never a dict or a list that grows.

# Imported names are private (`_x`): `from machine import *` must bring only the Pico's API.
# const() needs no import: the compiler replaces it.
from micropython import schedule as _schedule
from micropython import heap_lock as _heap_lock, heap_unlock as _heap_unlock
from time import ticks_ms as _ticks_ms, ticks_us as _ticks_us, ticks_diff as _ticks_diff
from time import sleep_ms as _sleep_ms, sleep_us as _sleep_us
from utime import sleep_us as _usleep
import _thread

# _pins holds 4 bytes a GPIO: mode, pull, output latch, level driven from outside (0 none,
# 1 low, 2 high), at these offsets.
_PULL = const(30)
_LATCH = const(60)
_EXT = const(90)
_pins = bytearray(120)
# GPIO -> its Pin, made at first use (a Pico's Pins are static).
_static = {}
# GPIO -> (handler, trigger, hard) of Pin.irq.
_pin_irq = {}
# ADC channels 0-3 are GPIO26-29 (0; 3 is VSYS/3 with VSYS = 5 V), 4 the temperature sensor:
# 14019 is 0.7059 V, 27.0 C by the datasheet's formula. Tests may set other values here.
_adc = [0, 0, 0, 33096, 14019]
# I2C: every bus has the same devices, each 256 bytes of registers and a register pointer (at
# index 256): an SSD1306 display (0x3C) and a BME280 sensor (0x76, chip id 0x60 in 0xD0).
# Tests may add devices.
_i2c_devices = {0x3C: bytearray(257), 0x76: bytearray(257)}
_i2c_devices[0x76][0xD0] = 0x60


def _nop(self, a=None, b=None):
    pass


def _nopk(self, *a, **k):
    pass


def _zero(self=None, a=None):
    return 0


def _hard_call(f, arg):
    # Runs from the scheduler. A hard IRQ handler runs with the heap locked, as on a Pico; if
    # it raises, its IRQ is turned off and the scheduler prints the traceback after the line a
    # Pico prints. (`except ... as e` would make the frame too big for the C stack: see _set.)
    _heap_lock()
    try:
        f(arg)
    except:  # anything: a KeyboardInterrupt must not leave the heap locked either
        _heap_unlock()
        print("Uncaught exception in IRQ callback handler")
        arg.deinit() if type(arg) is Timer else arg.irq()
        raise
    _heap_unlock()


def _soft_call(f, arg):
    try:
        _schedule(f, arg)
    except RuntimeError:
        pass  # queue full: a Pico drops the event too


def _pin_hard(pin):
    h = _pin_irq.get(pin._id)
    if h:
        _hard_call(h[0], pin)


def _level(i):
    p = _pins
    if p[i] == 1 or p[i] == 2 and not p[_LATCH + i]:
        return p[_LATCH + i]
    if p[_EXT + i]:
        return p[_EXT + i] - 1
    return 1 if p[_PULL + i] == 1 else 0


def _set(i, at, v):
    # Writes a latch (at = _LATCH) or an outside level (at = _EXT), then runs the pin's IRQ.
    # Hot functions keep few locals and no try: a frame of more than 11 words (locals, stack,
    # 3 a try) is allocated on the heap at each call.
    old = _level(i)
    _pins[at + i] = v
    if _pin_irq and _level(i) != old:
        _edge(i, old)


def _edge(i, old):
    h = _pin_irq.get(i)
    if h and h[1] & (8 >> old):
        _soft_call(_pin_hard if h[2] else h[0], _static[i])


def _sim_drive(pin, level):
    # Test hook: drive a pin from outside with 0 or 1, or None to let it go.
    _set(Pin(pin)._id, _EXT, 0 if level is None else 2 if level else 1)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __new__(cls, id, mode=-1, pull=-1, value=None):
        p = _static.get(id)
        if p is None:
            p = _new_pin(cls, id)
        if mode != -1 or pull != -1 or value is not None:
            p.init(mode, pull, value)
        return p

    def init(self, mode=-1, pull=-1, value=None, alt=-1, drive=0):
        i = self._id
        if value is not None:
            _set(i, _LATCH, 1 if value else 0)
        if mode is not None and mode != -1:
            _pins[i] = mode
        _pins[_PULL + i] = 0 if pull is None or pull == -1 else pull

    def value(self, v=None):
        if v is None:
            return _level(self._id)
        _set(self._id, _LATCH, 1 if v else 0)

    __call__ = value

    def on(self):
        _set(self._id, _LATCH, 1)

    def off(self):
        _set(self._id, _LATCH, 0)

    high = on
    low = off

    def toggle(self):
        i = self._id
        _set(i, _LATCH, _pins[_LATCH + i] ^ 1)

    def irq(self, handler=None, trigger=12, hard=False):
        if handler is None:
            _pin_irq.pop(self._id, None)
        else:
            _pin_irq[self._id] = (handler, trigger, hard)

    def __repr__(self):
        return "Pin(GPIO%d, mode=%s)" % (
            self._id,
            ("IN", "OUT", "OPEN_DRAIN", "ALT")[_pins[self._id] & 3],
        )


def _new_pin(cls, id):
    # The pin for a GPIO number, "GPn", "GPIOn", "LED" (GPIO25) or a Pin, made at first use.
    if isinstance(id, Pin):
        return id
    i = id
    if id == "LED":
        i = 25
    elif isinstance(id, str) and id[:2] == "GP":
        i = int(id[4:] if id[:4] == "GPIO" else id[2:])
    if not 0 <= i < 30:
        raise ValueError("invalid pin")
    p = _static.get(i)
    if p is None:
        p = _static[i] = object.__new__(cls)
        p._id = i
    return p


class Signal:
    def __init__(self, pin, *a, invert=False, **k):
        self._p = pin if hasattr(pin, "value") else Pin(pin, *a, **k)
        self._i = 1 if invert else 0

    def value(self, v=None):
        if v is None:
            return self._p.value() ^ self._i
        self._p.value((1 if v else 0) ^ self._i)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    CORE_TEMP = 4

    def __init__(self, id):
        if not (isinstance(id, int) and 0 <= id <= 4):
            id = Pin(id)._id - 26
            if id < 0:
                raise ValueError("Pin doesn't have ADC capabilities")
        self._id = id

    def read_u16(self):
        return _adc[self._id]


class PWM:
    def __init__(self, dest, freq=None, duty_u16=None, duty_ns=None, invert=False):
        self._f = 1907  # a slice's reset divider: 125 MHz / 65536
        self._d = 0
        self.init(freq, duty_u16, duty_ns)

    def init(self, freq=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        if duty_ns is not None:
            self.duty_ns(duty_ns)

    def deinit(self):
        self._d = 0

    def freq(self, f=None):
        if f is None:
            return self._f
        if not 8 <= f <= 62500000:
            raise ValueError("freq too large" if f > 8 else "freq too small")
        self._f = f

    def duty_u16(self, d=None):
        if d is None:
            return self._d
        self._d = min(max(d, 0), 65535)

    def duty_ns(self, ns=None):
        # A period is 10**9 // freq ns. Integer arithmetic: a float would allocate.
        if ns is None:
            return self._d * (1000000000 // self._f) >> 16
        self.duty_u16(ns * self._f * 65535 // 1000000000)


class I2C:
    init = _nopk
    deinit = _nop

    def __init__(self, id, scl=None, sda=None, freq=400000, timeout=50000):
        # A Pico's I2Cn has SDA on GPIO 4k+2n and SCL on GPIO 4k+2n+1.
        if id not in (0, 1):
            raise ValueError("I2C(%d) doesn't exist" % id)
        if scl is not None and Pin(scl)._id & 3 != 2 * id + 1:
            raise ValueError("bad SCL pin")
        if sda is not None and Pin(sda)._id & 3 != 2 * id:
            raise ValueError("bad SDA pin")

    def scan(self):
        return sorted(_i2c_devices)

    def _dev(self, addr, at=None):
        # The device at addr, its register pointer set to `at` when given.
        d = _i2c_devices.get(addr)
        if d is None:
            raise OSError(19 if type(self) is SoftI2C else 5)  # ENODEV / EIO
        if at is not None:
            d[256] = at & 255
        return d

    def readfrom_into(self, addr, buf, stop=True):
        _i2c_read(self._dev(addr), buf)

    def readfrom(self, addr, nbytes, stop=True):
        b = bytearray(nbytes)
        _i2c_read(self._dev(addr), b)
        return bytes(b)

    def writeto(self, addr, buf, stop=True):
        return _i2c_write(self._dev(addr), buf, 1)

    def writevto(self, addr, vector, stop=True):
        d = self._dev(addr)
        n = 0
        for buf in vector:
            n += _i2c_write(d, buf, not n)
        return n

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        _i2c_read(self._dev(addr, memaddr), buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        self._dev(addr, memaddr)
        return self.readfrom(addr, nbytes)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        _i2c_write(self._dev(addr, memaddr), buf, 0)


def _i2c_read(d, buf):
    for k in range(len(buf)):
        buf[k] = d[d[256]]
        d[256] = d[256] + 1 & 255


def _i2c_write(d, buf, first):
    # Writes buf at the register pointer; with `first`, buf[0] sets the pointer instead.
    for k in range(len(buf)):
        if first and not k:
            d[256] = buf[0]
        else:
            d[d[256]] = buf[k]
            d[256] = d[256] + 1 & 255
    return len(buf)


class SoftI2C(I2C):
    __init__ = _nopk


# SPI: MISO is as if wired to MOSI: a read returns the bytes written meanwhile.
class SPI:
    CONTROLLER = 0
    MSB = 0
    LSB = 1
    init = _nopk
    deinit = write = _nop

    def __init__(self, id, *a, **k):
        if id not in (0, 1):
            raise ValueError("SPI(%d) doesn't exist" % id)

    def read(self, nbytes, write=0):
        b = bytearray(nbytes)
        self.readinto(b, write)
        return bytes(b)

    def readinto(self, buf, write=0):
        for k in range(len(buf)):
            buf[k] = write

    def write_readinto(self, write_buf, read_buf):
        for k in range(len(read_buf)):
            read_buf[k] = write_buf[k]


class SoftSPI(SPI):
    __init__ = _nopk


# UART: TX is as if wired to RX: written bytes wait in _b (rxbuf bytes, then dropped) until
# read; _n of them are waiting.
class UART:
    INV_TX = 1
    INV_RX = 2
    RTS = 4
    CTS = 8
    init = irq = _nopk
    deinit = sendbreak = flush = _nop

    def __init__(self, id, baudrate=115200, *a, rxbuf=256, **k):
        if id not in (0, 1):
            raise ValueError("UART(%d) doesn't exist" % id)
        self._b = bytearray(rxbuf)
        self._n = 0

    def any(self):
        return self._n

    def txdone(self):
        return True

    def write(self, buf):
        b = self._b
        for k in range(min(len(buf), len(b) - self._n)):
            b[self._n] = buf[k]
            self._n += 1
        return len(buf)

    def readinto(self, buf, nbytes=None):
        n = min(self._n, len(buf) if nbytes is None else nbytes)
        _take(self._b, buf, n, self._n)
        self._n -= n
        return n or None

    def read(self, nbytes=None):
        n = self._n if nbytes is None else min(nbytes, self._n)
        if n:
            b = bytearray(n)
            self.readinto(b)
            return bytes(b)

    def readline(self):
        n = 0
        while n < self._n and self._b[n] != 10:
            n += 1
        return self.read(n + 1)


def _take(b, buf, n, end):
    # Moves the first n of the `end` bytes of b into buf and the rest to the start of b.
    for k in range(end):
        if k < n:
            buf[k] = b[k]
        else:
            b[k - n] = b[k]


# Timers: a fixed table of slots shared with the thread. _tleft counts down the us to each
# deadline: each pass of the thread subtracts the time since its last one (_tlast[0]);
# _ticks_us() is a small int where time_ns() would allocate. _tflag bits: 1 armed, 2 callback
# scheduled and not yet run, 4 hard. _tstate: [0] thread blocked on _wake, [1] IRQs disabled,
# [2] slots in use (a high-water mark), [3] thread started.
_NTIMER = const(16)
_QUEUE = const(4)
_tobj = [None] * _NTIMER
_tcb = [None] * _NTIMER
_tleft = [0] * _NTIMER
_tper = [0] * _NTIMER
_tlast = [0]
_tflag = bytearray(_NTIMER)
_tstate = bytearray(4)
_lock = _thread.allocate_lock()
_wake = _thread.allocate_lock()
_wake.acquire()


def _fire(i):
    # Runs on the main thread, from the scheduler: calls one Timer's callback. While bit 2 is
    # set only this function writes _tflag[i] outside _lock; deinit() clears it.
    f = _tflag[i]
    if not f & 2:
        return
    _tflag[i] = f & ~2
    t = _tobj[i]
    cb = _tcb[i]
    if t is None or cb is None:
        return
    if f & 4:
        _hard_call(cb, t)
    else:
        cb(t)
    if not _tflag[i] & 1 and _tobj[i] is t:
        t.deinit()  # a one-shot that its callback did not re-arm frees its slot


def _ticker():
    # The Timer thread: while a Timer is armed, passes over the table and sleeps until the
    # next deadline (1 ms at most, so that a Timer armed meanwhile is seen); else blocks on
    # _wake, which Timer.init releases.
    while True:
        # Nothing may end this thread: it would leave _lock held and every Timer.init() and
        # deinit() waiting forever (a MemoryError here while a hard callback has the heap
        # locked once did).
        try:
            armed = 0
            wait = 1000
            _lock.acquire()
            try:
                now = _ticks_us()
                dt = _ticks_diff(now, _tlast[0])
                _tlast[0] = now
                # Callbacks waiting in the scheduler's queue, which holds 4 on this port (8
                # on a Pico): past that, schedule() would raise, and allocate the exception.
                queued = 0
                i = 0
                while i < _tstate[2]:
                    queued += _tflag[i] >> 1 & 1
                    i += 1
                i = 0
                while i < _tstate[2]:
                    f = _tflag[i]
                    if f & 1:
                        armed = 1
                        left = _tleft[i] - dt
                        p = _tper[i]
                        # A one-shot whose last callback has not run yet waits for it, as does
                        # one that finds the queue full; a periodic Timer drops that period.
                        if left <= 0 and not _tstate[1] and (p or not f & 2):
                            if not f & 2 and queued < _QUEUE:
                                queued += 1
                                # One write, before the callback can run: see _fire.
                                _tflag[i] = (f if p else f & ~1) | 2
                                try:
                                    _schedule(_fire, i)
                                except:  # noqa: E722 - full, or the heap locked by a hard IRQ
                                    _tflag[i] = f
                            if p:
                                left += p
                                if left <= 0:
                                    left = p  # missed periods are dropped
                        _tleft[i] = left
                        if 0 < left < wait:
                            wait = left
                    i += 1
                if not armed:
                    _tstate[0] = 1
            finally:
                _lock.release()
            if armed:
                _usleep(wait)
            else:
                _wake.acquire()
        except:  # noqa: E722 - anything, see above
            pass


def _start():
    # The thread starts with the first Timer: while a second thread exists, every collection
    # must stop it and wait (~0.1 ms, over 1 ms on a busy host), which a Pico's collections
    # never do. Its start-up allocates on the heap, and without a GIL it would do so while a
    # probe reads the heap: wait until it is parked on _wake, so that all of it happens here.
    if not _tstate[3]:
        _tstate[3] = 1
        _thread.start_new_thread(_ticker, ())
        while not _tstate[0]:
            _usleep(50)


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, mode=1, callback=None, period=-1, tick_hz=1000, freq=None, hard=False):
        if id != -1:
            raise ValueError("Timer doesn't exist")
        self._i = -1
        if callback is not None or period != -1 or freq is not None:
            self.init(mode=mode, callback=callback, period=period, tick_hz=tick_hz, freq=freq, hard=hard)

    def init(self, mode=1, callback=None, period=-1, tick_hz=1000, freq=None, hard=False):
        _start()
        if freq is not None:
            us = 1000000 // freq if isinstance(freq, int) else int(1e6 / freq)
        else:
            us = (0xFFFFFFFF if period == -1 else period) * 1000000 // tick_hz
        us = max(us, 1)
        per = us if mode else 0
        flag = 5 if hard else 1
        i = self._i
        if i < 0:
            try:
                # Found and claimed with no branch between: see below.
                i = _tobj.index(None)
                _tobj[i] = self
            except ValueError:
                raise OSError(12)  # ENOMEM: a Pico's alarm pool is full
        # From acquire to release, no branch: the VM runs scheduled callbacks at branches, and
        # one that called Timer.init or deinit here would wait for _lock forever.
        _lock.acquire()
        _tobj[i] = self
        self._i = i
        _tcb[i] = callback
        _tper[i] = per
        # The thread's next pass subtracts the time since its last one, this included.
        _tleft[i] = us + _ticks_diff(_ticks_us(), _tlast[0])
        _tflag[i] = _tflag[i] & 2 | flag
        _tstate[2] = max(_tstate[2], i + 1)
        _lock.release()
        if _tstate[0]:
            # The thread found no Timer armed (it set [0] holding _lock, so it has not seen
            # this one) and waits on _wake: its count restarts from now.
            _tstate[0] = 0
            _tlast[0] = _ticks_us()
            _tleft[i] = us
            if _wake.locked():
                _wake.release()

    def deinit(self):
        i = self._i
        if i >= 0:
            _lock.acquire()  # no branch until the release: see init
            self._i = -1
            _tflag[i] = 0
            _tcb[i] = None
            _tobj[i] = None
            _lock.release()


# RTC: starts at 2021-01-01 00:00:00 (a Friday), like a Pico that no host has set.
_rtc = [1609459200, 0]  # seconds since 1970 at _ticks_ms() = _rtc[1]


class RTC:
    __init__ = _nop

    def datetime(self, dt=None):
        t = __import__("time")
        if dt is None:
            t = t.gmtime(_rtc[0] + _ticks_diff(_ticks_ms(), _rtc[1]) // 1000)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        _rtc[0] = t.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        _rtc[1] = _ticks_ms()

    init = datetime


class WDT:
    feed = _nop

    def __init__(self, id=0, timeout=5000):
        if timeout > 8388:
            raise ValueError("timeout exceeds 8388 ms")


class _Mem:
    # mem8/16/32: reads give 0, writes are ignored (the host's memory is not the Pico's).
    __getitem__ = _zero
    __setitem__ = _nop


mem8 = mem16 = mem32 = _Mem()
PWRON_RESET = 1
WDT_RESET = 3
_sys = [125000000, None]  # freq(), the data of the last bitstream()


def freq(hz=None):
    if hz is None:
        return _sys[0]
    _sys[0] = hz


def unique_id():
    return b"\xe6\x60\x58\x38\x83\x2a\x4d\x2c"


def reset_cause():
    return PWRON_RESET


def idle():
    _sleep_ms(1)


def lightsleep(ms=1):
    _sleep_ms(ms)


def reset(ms=None):
    # Ends the run like a soft reset: the simulator respawns the interpreter.
    raise SystemExit


deepsleep = soft_reset = bootloader = reset


def disable_irq():
    s = _tstate[1]
    _tstate[1] = 1
    return s


def enable_irq(state=0):
    _tstate[1] = state


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    # No pin ever pulses: wait out the timeout, then -1 if the pin sits at pulse_level (the
    # pulse never ended), else -2 (it never began).
    _sleep_us(timeout_us)
    return -1 if pin.value() == pulse_level else -2


def bitstream(pin, encoding, timing, data):
    # Nothing is clocked out; the data is kept (a reference, no copy) for tests.
    _sys[1] = data
