"""Bug: three threads in a cycle of three Locks, a heartbeat and a join(0.5) loop running."""

import threading
import time

first = threading.Lock()
second = threading.Lock()
third = threading.Lock()
all_hold_one = threading.Barrier(3)


def heartbeat():
    while True:
        time.sleep(0.05)


def step(mine, next_one):
    with mine:
        all_hold_one.wait()
        with next_one:  # line 20
            pass


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
workers = [
    threading.Thread(target=step, args=(first, second), name="one"),
    threading.Thread(target=step, args=(second, third), name="two"),
    threading.Thread(target=step, args=(third, first), name="three"),
]
for worker in workers:
    worker.start()
for worker in workers:
    while worker.is_alive():
        worker.join(0.5)
