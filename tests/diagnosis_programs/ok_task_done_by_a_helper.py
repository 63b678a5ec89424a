"""Correct: the worker hands each job to a helper thread that calls task_done() after a long
computation; join() waits meanwhile while the worker idles in get()."""

import queue
import threading
import time

jobs = queue.Queue()


def finish(record):
    end = time.monotonic() + 3
    while time.monotonic() < end:
        sum(range(1000))
    jobs.task_done()


def worker():
    while True:
        record = jobs.get()
        threading.Thread(target=finish, args=(record,), name="helper").start()


threading.Thread(target=worker, name="worker", daemon=True).start()
jobs.put("a")
jobs.join()
print("joined")
