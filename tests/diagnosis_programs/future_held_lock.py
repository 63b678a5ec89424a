"""Bug: the main thread holds cache_lock while it waits for a pool task that needs it."""

import concurrent.futures as cf
import threading
import time

cache_lock = threading.Lock()
pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool")


def heartbeat():
    while True:
        time.sleep(0.05)


def fill(key):
    with cache_lock:  # line 17
        return key * 2


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
with cache_lock:  # line 22
    future = pool.submit(fill, 21)
    print(future.result())  # line 24
