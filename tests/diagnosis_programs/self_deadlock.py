"""Bug: a function holding a Lock calls a helper that takes it again (it needed an RLock)."""

import threading
import time

cache_lock = threading.Lock()
cache = {}


def heartbeat():
    while True:
        time.sleep(0.05)


def refresh():
    with cache_lock:  # line 16
        cache.clear()
        fill()


def fill():
    with cache_lock:  # line 22: waits for itself
        cache["a"] = 1


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
worker = threading.Thread(target=refresh, name="refresher")
worker.start()
while worker.is_alive():
    worker.join(0.5)
