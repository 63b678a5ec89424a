"""Bug: each task of a two-worker pool waits for a sub-task queued behind it on the same pool."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

pool = ThreadPoolExecutor(max_workers=2)
both_started = threading.Barrier(2)


def heartbeat():
    while True:
        time.sleep(0.05)


def child(n):
    return n * 2


def parent(n):
    both_started.wait()  # both workers busy before either submits
    sub = pool.submit(child, n)  # line 22: queued behind the parents
    return sub.result()  # line 23: waits for ever


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
futures = [pool.submit(parent, n) for n in range(2)]
print([future.result() for future in futures])  # line 28
