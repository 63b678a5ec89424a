"""Bug: the main module ends holding a lock its non-daemon worker waits for: the
interpreter's end joins the worker for ever."""

import threading
import time

db_lock = threading.Lock()
main_holds = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def worker():
    main_holds.wait()
    with db_lock:  # line 18
        pass


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=worker, name="worker").start()
db_lock.acquire()  # line 24: never released
main_holds.set()
