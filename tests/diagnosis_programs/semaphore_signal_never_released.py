"""Bug: a Semaphore(0) signals a result; its only releaser dies before release()."""

import threading
import time

result_ready = threading.Semaphore(0)
result = []


def heartbeat():
    while True:
        time.sleep(0.05)


def producer():
    result.append(1 / 0)  # dies here
    result_ready.release()


def consumer():
    result_ready.acquire()  # line 21


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=producer, name="producer", daemon=True).start()
waiter = threading.Thread(target=consumer, name="consumer")
waiter.start()
while waiter.is_alive():
    waiter.join(0.5)
