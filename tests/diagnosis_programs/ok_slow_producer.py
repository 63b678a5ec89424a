"""Correct: consumers wait on an empty queue while the main thread computes its first item."""

import queue
import threading
import time

jobs = queue.Queue()


def heartbeat():
    while True:
        time.sleep(0.05)


def consumer():
    while jobs.get() is not None:
        jobs.task_done()
    jobs.task_done()


def main():
    threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
    consumers = [threading.Thread(target=consumer, name=f"consumer-{n}") for n in range(2)]
    for thread in consumers:
        thread.start()
    time.sleep(3)  # a long computation before the first item
    for item in (1, 2, None, None):
        jobs.put(item)
    for thread in consumers:
        thread.join()


main()
