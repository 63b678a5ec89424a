"""Bug: two daemon threads deadlock; the main thread ends before any grace period is over."""

import threading

first = threading.Lock()
second = threading.Lock()
both = threading.Barrier(3)


def forward():
    with first:
        both.wait()
        with second:  # line 13
            pass


def backward():
    with second:
        both.wait()
        with first:  # line 20
            pass


threading.Thread(target=forward, name="forward", daemon=True).start()
threading.Thread(target=backward, name="backward", daemon=True).start()
both.wait()
threading.Event().wait(0.3)  # the cycle forms meanwhile; then the program just ends
