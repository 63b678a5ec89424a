"""Bug: two threads take two Locks in opposite orders while a heartbeat keeps running."""

import threading
import time

accounts = threading.Lock()
ledger = threading.Lock()
both_hold_one = threading.Barrier(2)


def heartbeat():
    while True:
        time.sleep(0.05)


def transfer():
    with accounts:
        both_hold_one.wait()
        with ledger:  # line 19: waits for audit
            pass


def audit():
    with ledger:
        both_hold_one.wait()
        with accounts:  # line 26: waits for transfer
            pass


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
workers = [
    threading.Thread(target=transfer, name="transfer"),
    threading.Thread(target=audit, name="audit"),
]
for worker in workers:
    worker.start()
while any(worker.is_alive() for worker in workers):
    for worker in workers:
        worker.join(0.5)
