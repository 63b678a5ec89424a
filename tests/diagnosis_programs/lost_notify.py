"""Bug: the only notify comes before the waiter waits, and no predicate is checked."""

import threading
import time

done = threading.Condition()
notified = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def notifier():
    with done:
        done.notify()  # line 17: nobody waits yet
    notified.set()


def waiter():
    notified.wait()
    with done:
        done.wait()  # line 24


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=notifier, name="notifier").start()
waiting = threading.Thread(target=waiter, name="waiter")
waiting.start()
while waiting.is_alive():
    waiting.join(0.5)
