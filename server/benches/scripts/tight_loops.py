# Tight loops: arithmetic, a preallocated buffer, a function call every seventh item (about
# 0.15 s on the simulated board).
buf = bytearray(64)


def checksum(data, n):
    acc = 0
    for j in range(n):
        acc = (acc * 31 + data[j]) & 0xFFFF
    return acc


total = 0
for i in range(400000):
    buf[i & 63] = i & 0xFF
    if i % 7 == 0:
        total += checksum(buf, 16)
    else:
        total ^= i
print(total)
