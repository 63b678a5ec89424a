"""Correct: two threads take two locks in opposite orders, backing off when the second is busy."""

import threading
import time

left = threading.Lock()
right = threading.Lock()


def take(first, second, rounds):
    done = 0
    while done < rounds:
        with first:
            if second.acquire(timeout=0.01):
                try:
                    done += 1
                finally:
                    second.release()
                continue
        time.sleep(0.001)  # back off


workers = [
    threading.Thread(target=take, args=(left, right, 200), name="ltr"),
    threading.Thread(target=take, args=(right, left, 200), name="rtl"),
]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
