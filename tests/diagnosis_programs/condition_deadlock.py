"""Bug: the consumer waits on a Condition while holding the lock the producer needs first."""

import threading
import time

state_lock = threading.Lock()
items_ready = threading.Condition()
items = []
consumer_waits = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def consumer():
    with state_lock:  # line 18
        with items_ready:
            consumer_waits.set()
            while not items:
                items_ready.wait()  # line 22


def producer():
    consumer_waits.wait()
    with state_lock:  # line 27: blocked behind the consumer
        with items_ready:
            items.append(1)
            items_ready.notify()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
workers = [
    threading.Thread(target=consumer, name="consumer"),
    threading.Thread(target=producer, name="producer"),
]
for worker in workers:
    worker.start()
for worker in workers:
    while worker.is_alive():
        worker.join(0.5)
