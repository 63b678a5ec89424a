"""Correct: main takes a plain Lock as a gate, joins a worker blocked on it; a third thread
(computing 3 s) opens the gate (a Lock may be released by any thread)."""

import threading
import time

gate = threading.Lock()
gate.acquire()


def opener():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        sum(range(100))
    gate.release()


def worker():
    with gate:
        pass


o = threading.Thread(target=opener)
o.start()
t = threading.Thread(target=worker)
t.start()
t.join()
o.join()
print("ok")
