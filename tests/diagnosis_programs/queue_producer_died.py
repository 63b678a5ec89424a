"""Bug: the only producer dies on a bad record; the consumer waits in get() for ever."""

import queue
import threading
import time

items = queue.Queue()


def heartbeat():
    while True:
        time.sleep(0.05)


def producer():
    for record in ("1", "2", "three", "4"):
        items.put(int(record))  # line 17: ValueError on "three"
    items.put(None)


def consumer():
    total = 0
    while (item := items.get()) is not None:  # line 23
        total += item
    print(total)


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=producer, name="producer", daemon=True).start()
consuming = threading.Thread(target=consumer, name="consumer")
consuming.start()
consuming.join()
