"""Bug: main holds L and joins B; B joins C; C waits for L. A 3-thread cycle through two joins."""

import threading

L = threading.Lock()
started = threading.Event()


def c():
    started.set()
    with L:
        pass


def b():
    tc = threading.Thread(target=c, name="C", daemon=True)
    tc.start()
    tc.join()


tb = threading.Thread(target=b, name="B", daemon=True)
with L:
    tb.start()
    started.wait()
    tb.join()
