"""Correct: a scheduler thread completes the Futures in a lock-guarded list when due,
polling with stop.wait(0.2); the producer waits for one before putting."""

import concurrent.futures as cf
import queue
import threading
import time

due = []  # (when, future)
due_lock = threading.Lock()
items = queue.Queue()
stop = threading.Event()


def scheduler():
    while not stop.wait(0.2):
        now = time.monotonic()
        with due_lock:
            ready = [f for t, f in due if t <= now]
            due[:] = [(t, f) for t, f in due if t > now]
        for fut in ready:
            fut.set_result(42)


def later(seconds):
    fut = cf.Future()
    with due_lock:
        due.append((time.monotonic() + seconds, fut))
    return fut


def produce():
    items.put(1)
    items.put(later(3).result())
    items.put(None)


def consume(got):
    while (item := items.get()) is not None:
        got.append(item)


got = []
s = threading.Thread(target=scheduler, name="scheduler")
s.start()
threads = [
    threading.Thread(target=produce, name="producer"),
    threading.Thread(target=consume, args=(got,), name="consumer"),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
stop.set()
s.join()
print(got)
