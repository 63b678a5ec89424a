"""Bug: the Event is set and cleared again before the waiter looks at it."""

import threading
import time

go = threading.Event()
pulsed = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def pulse():
    go.set()  # line 16
    go.clear()  # line 17
    pulsed.set()


def runner():
    pulsed.wait()
    go.wait()  # line 23


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=pulse, name="pulser").start()
waiting = threading.Thread(target=runner, name="runner")
waiting.start()
while waiting.is_alive():
    waiting.join(0.5)
