"""Correct: the producer waits for a pool task whose work is an interruptible sleep
(stop.wait(0.1) in a loop, 3 s in all), then puts; the consumer waits meanwhile."""

import concurrent.futures as cf
import queue
import threading

stop = threading.Event()
items = queue.Queue()
pool = cf.ThreadPoolExecutor(2)


def slow():
    for _ in range(30):  # 3 s, interruptible
        if stop.wait(0.1):
            return None
    return 42


def produce():
    items.put(1)
    items.put(pool.submit(slow).result())
    items.put(None)


def consume(got):
    while (item := items.get()) is not None:
        got.append(item)


got = []
threads = [
    threading.Thread(target=produce, name="producer"),
    threading.Thread(target=consume, args=(got,), name="consumer"),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
pool.shutdown()
print(got)
