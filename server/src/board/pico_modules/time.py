# time for the simulated Pico (HeapLens): the unix port's module, except that sleep() and
# sleep_us() wait through sleep_ms(), which runs pending callbacks (Timer, Pin.irq) while a
# script sleeps, as a Pico does. The unix port's own sleep() and sleep_us() do not. Neither
# allocates: a float is read with struct.pack_into, since float arithmetic would allocate.
# HeapLens's sampler (its heap timeline) hooks sleep_ms() through _hk: while a hook is set, a
# sleep waits in slices, calling the hook between them; it returns the ms until it wants to
# run again. The hook allocates nothing, so neither does a hooked sleep.
from utime import *
from utime import sleep_ms as _ms, sleep_us as _us
from struct import pack_into as _pack

_b = bytearray(8)
_hk = [None]


def sleep_ms(ms):
    h = _hk[0]
    if h is not None and isinstance(ms, int):
        while ms > 0:
            w = h()
            if w > ms:
                w = ms
            _ms(w)
            ms -= w
        h()
    _ms(ms)


def _micros(s):
    if isinstance(s, int):
        return s * 1000000
    b = _b
    _pack("<d", b, 0, s)
    e = (b[7] & 0x7F) << 4 | b[6] >> 4
    if b[7] & 0x80 or not e:
        return 0
    # s = m * 2 ** (e - 1075); drop 12 of the 53 mantissa bits so that m * 10**6 stays a
    # small int; round to the nearest microsecond.
    m = ((b[6] & 15 | 16) << 48 | b[5] << 40 | b[4] << 32 | b[3] << 24 | b[2] << 16 | b[1] << 8 | b[0]) >> 12
    e = 1063 - e
    return m * 1000000 << -e if e < 0 else (m * 1000000 + (1 << e >> 1)) >> e


def sleep(s):
    sleep_us(_micros(s))


def sleep_us(us):
    if us >= 1000:
        sleep_ms(us // 1000)
        us %= 1000
    _us(us)


# A Pico's utime is this module under its old name.
__import__("sys").modules["utime"] = __import__("sys").modules["time"]
