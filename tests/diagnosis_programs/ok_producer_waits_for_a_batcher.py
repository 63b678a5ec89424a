"""Correct: a batcher thread polls its inbox with a timeout and completes the Futures it
holds every 3 s; the producer waits for one before putting; the consumer waits meanwhile."""

import concurrent.futures as cf
import contextlib
import queue
import threading
import time

inbox = queue.Queue()
items = queue.Queue()
stop = threading.Event()


def batcher():
    pending = []
    flush_at = time.monotonic() + 3
    while not stop.is_set():
        with contextlib.suppress(queue.Empty):
            pending.append(inbox.get(timeout=0.2))
        if time.monotonic() >= flush_at:
            for fut in pending:
                fut.set_result(42)
            pending.clear()
            flush_at = time.monotonic() + 3


def produce():
    items.put(1)
    fut = cf.Future()
    inbox.put(fut)
    items.put(fut.result())
    items.put(None)


def consume(got):
    while (item := items.get()) is not None:
        got.append(item)


got = []
b = threading.Thread(target=batcher, name="batcher")
b.start()
threads = [
    threading.Thread(target=produce, name="producer"),
    threading.Thread(target=consume, args=(got,), name="consumer"),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
stop.set()
b.join()
print(got)
