"""Bug: a thread joins a worker while holding the lock the worker needs to finish."""

import threading
import time

stats_lock = threading.Lock()
holding = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def worker():
    holding.wait()
    with stats_lock:  # line 17
        pass


def controller(w):
    with stats_lock:  # line 22
        holding.set()
        w.join()  # line 24


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
w = threading.Thread(target=worker, name="worker", daemon=True)
c = threading.Thread(target=controller, args=(w,), name="controller", daemon=True)
w.start()
c.start()
while c.is_alive():
    c.join(0.5)
