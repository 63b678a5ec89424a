"""Bug: a wait_for predicate takes a lock that a thread holds while it waits for the Condition."""

import threading
import time

ready = threading.Condition()
totals_lock = threading.Lock()
totals = []
holding_totals = threading.Event()
checking = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def all_counted():
    checking.set()
    with totals_lock:  # line 20: called by wait_for with ready held
        return len(totals) >= 3


def reporter():
    holding_totals.wait()
    with ready:
        ready.wait_for(all_counted)  # line 27


def counter():
    with totals_lock:
        holding_totals.set()
        checking.wait()
        with ready:  # line 34: blocked behind the reporter
            totals.append(1)
            ready.notify()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
workers = [
    threading.Thread(target=reporter, name="reporter"),
    threading.Thread(target=counter, name="counter"),
]
for worker in workers:
    worker.start()
for worker in workers:
    while worker.is_alive():
        worker.join(0.5)
