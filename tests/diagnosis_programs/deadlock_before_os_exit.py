"""Bug: two threads deadlock; the main thread gives up after a while and calls os._exit."""

import os
import threading

first = threading.Lock()
second = threading.Lock()
both = threading.Barrier(2)


def forward():
    with first:
        both.wait()
        with second:  # line 14
            pass


def backward():
    with second:
        both.wait()
        with first:  # line 21
            pass


threads = [
    threading.Thread(target=forward, name="forward", daemon=True),
    threading.Thread(target=backward, name="backward", daemon=True),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(3)
os._exit(0)
