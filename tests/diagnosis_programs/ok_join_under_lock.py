"""Correct: a thread joins workers while holding a lock; one worker polls that lock with a
timeout and gives up, another waits a while for a lock a third thread holds."""

import threading
import time

outer = threading.Lock()
inner = threading.Lock()
holding = threading.Event()


def poller():
    holding.wait()
    while not outer.acquire(timeout=0.3):
        if not controller_thread.is_alive():
            return
        if time.monotonic() > give_up:
            return


def waiter():
    holding.wait()
    with inner:
        pass


def keeper():
    with inner:
        holding.wait()
        time.sleep(2)


def controller():
    with outer:
        holding.set()
        p.join()
        w.join()


give_up = time.monotonic() + 2.5
p = threading.Thread(target=poller, name="poller")
w = threading.Thread(target=waiter, name="waiter")
k = threading.Thread(target=keeper, name="keeper")
controller_thread = threading.Thread(target=controller, name="controller")
for t in (k, p, w, controller_thread):
    t.start()
for t in (k, p, w, controller_thread):
    t.join()
print("done")
