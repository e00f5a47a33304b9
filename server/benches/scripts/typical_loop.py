# A typical loop: format a reading, keep a short history, count by bucket (about 0.2 s on
# the simulated board, long enough that start-up and compile costs do not dominate).
history = []
counts = {}


def reading(i):
    return (i * 37) % 1000 / 10


for i in range(120000):
    value = reading(i)
    line = "t=%d v=%.1f" % (i, value)
    history.append(line)
    if len(history) > 20:
        history.pop(0)
    bucket = int(value) // 10
    counts[bucket] = counts.get(bucket, 0) + 1
print(len(history), len(counts), history[-1])
