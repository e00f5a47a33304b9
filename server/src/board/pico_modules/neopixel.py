# neopixel for the simulated Pico (HeapLens): the pixels live in .buf in the strip's byte order
# (GRB, or GRBW with bpp=4); write() hands .buf to machine.bitstream, which sends nothing.
from machine import bitstream as _bitstream


class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)
        self.timing = timing
        pin.init(pin.OUT)

    def __len__(self):
        return self.n

    def __setitem__(self, index, value):
        b = self.buf
        at = index * self.bpp
        b[at + 1] = value[0]
        b[at] = value[1]
        b[at + 2] = value[2]
        if self.bpp == 4:
            b[at + 3] = value[3]

    def __getitem__(self, index):
        b = self.buf
        at = index * self.bpp
        if self.bpp == 4:
            return (b[at + 1], b[at], b[at + 2], b[at + 3])
        return (b[at + 1], b[at], b[at + 2])

    def fill(self, value):
        for i in range(self.n):
            self[i] = value

    def write(self):
        _bitstream(self.pin, 0, self.timing, self.buf)
