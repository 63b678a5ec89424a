"""
queue_producer_died on a SimpleQueue, fed first by a thread that ends: the checks count a
SimpleQueue's operations in place, and must still know every thread that put into it.
"""

import queue
import threading
import time

items = queue.SimpleQueue()


def heartbeat():
    while True:
        time.sleep(0.05)


def producer():
    for record in ("1", "2", "three", "4"):
        items.put(int(record))  # line 20: ValueError on "three"
    items.put(None)


def consumer():
    total = 0
    while (item := items.get()) is not None:  # line 26
        total += item
    print(total)


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
starter = threading.Thread(target=items.put, args=(0,), name="starter")
starter.start()
starter.join()
threading.Thread(target=producer, name="producer", daemon=True).start()
consuming = threading.Thread(target=consumer, name="consumer")
consuming.start()
consuming.join()
