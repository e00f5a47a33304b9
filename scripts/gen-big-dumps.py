#!/usr/bin/env python3
"""Write the big generated dumps of BENCHMARKS.md ("Memory of big dumps") into a folder.

    python3 scripts/gen-big-dumps.py /tmp/dumps
    /usr/bin/time -v target/release/heaplens stats --json /tmp/dumps/areas-4.5M.txt

areas-*.txt: many one-row areas (the shape that once took ~100 bytes per byte of text);
big-before/after/all.txt: an 8 M-block map, a copy with 1 % of its allocations freed, and one
where every block changed.
"""
import random
import sys
from pathlib import Path


def areas(size: int, path: Path) -> None:
    parts, n, i = [], 0, 0
    while n < size:
        part = f"GC memory layout; from {0x20000000 + i * 0x1000:x}:\n00000000: h=..S==.\n"
        parts.append(part)
        n += len(part)
        i += 1
    path.write_text("".join(parts))


def heap(blocks: bytearray, path: Path) -> None:
    used = sum(1 for b in blocks if b != ord("."))
    out = [f"GC: total: {len(blocks) * 16}, used: {used * 16}, free: {(len(blocks) - used) * 16}\n".encode()]
    out.append(b"GC memory layout; from 20000000:")
    for i in range(0, len(blocks), 64):
        out.append(b"\n%08x: " % (i * 16) + bytes(blocks[i:i + 64]))
    out.append(b"\n")
    path.write_bytes(b"".join(out))


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    areas(4_500_000, folder / "areas-4.5M.txt")
    areas(10_000_000, folder / "areas-10M.txt")
    random.seed(5)
    size = 8_000_000
    blocks = bytearray()
    heads = b"hhSTLDBFA"
    while len(blocks) < size:
        r = random.random()
        blocks += b"." * (0 if r < 0.6 else random.randrange(8) if r < 0.9 else random.randrange(400))
        r = random.random()
        length = 1 + random.randrange(2) if r < 0.6 else 3 + random.randrange(14) if r < 0.95 else 17 + random.randrange(600)
        blocks += bytes([heads[random.randrange(len(heads))]]) + b"=" * (length - 1)
    blocks = blocks[:size]
    heap(blocks, folder / "big-before.txt")
    after = bytearray(blocks)
    for _ in range(size // 6400):
        head = random.randrange(size)
        while head > 0 and after[head] == ord("="):
            head -= 1
        if after[head] != ord("."):
            end = head + 1
            while end < size and after[end] == ord("="):
                end += 1
            after[head:end] = b"." * (end - head)
    heap(after, folder / "big-after.txt")
    heap(bytearray(b"h." * (size // 2)), folder / "big-all.txt")


if __name__ == "__main__":
    main()
