"""Correct: the main thread holds a lock while it waits for pool tasks that take another lock
and run for a few seconds; a task waits a while for the second lock, held by another task."""

import concurrent.futures as cf
import threading
import time

config_lock = threading.Lock()
stats_lock = threading.Lock()
pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool")


def slow(n):
    with stats_lock:
        time.sleep(1.5)
    return n


with config_lock:
    futures = [pool.submit(slow, n) for n in range(2)]
    print(sum(f.result() for f in futures))
pool.shutdown()
