"""Correct: Semaphore(0) as a work counter; 6 consumers, a producer releases one permit every
0.8 s through a callback (its code does not name the semaphore). Each consumer waits longer
than the hang timeout (2 s) for its turn; the semaphore is released all the time."""

import threading
import time

avail = threading.Semaphore(0)
N = 6
done = []


def consumer(i):
    avail.acquire()
    done.append(i)


def produce(notify, n):
    for _ in range(n):
        time.sleep(0.8)
        notify()


cs = [threading.Thread(target=consumer, args=(i,), daemon=True) for i in range(N)]
for c in cs:
    c.start()
p = threading.Thread(target=produce, args=(avail.release, N), daemon=True)
p.start()
for c in cs:
    c.join(10)
print("ok", len(done))
