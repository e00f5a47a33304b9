# A Pico-style loop that sleeps: a reading, a bounded history, 1 ms of sleep per iteration
# (about 1.5 s on the simulated board): most of its time is spent inside time.sleep_ms, where
# the heap timeline samples through the simulated Pico's sleep hook.
import time

history = []
for i in range(1200):
    history.append("t=%d" % i)
    if len(history) > 20:
        history.pop(0)
    time.sleep_ms(1)
print(len(history), history[-1])
