"""Four threads that spend their time waiting for one lock.

Each Worker takes hot_lock 40 times and holds it while it sleeps for a
millisecond, so the others queue up behind it: the exit report puts hot_lock at
the top, with where it was waited for. quiet_lock, taken once by the main
thread, costs nothing. The workers start together at a Barrier.

Run it with the report at exit and no per-operation lines:

    python -m syncscope -q examples/hot.py
"""

import threading
import time


WORKERS = 4
ROUNDS = 40
HOLD = 0.001


hot_lock = threading.Lock()
quiet_lock = threading.Lock()
start = threading.Barrier(WORKERS)


def work():
    start.wait()
    for _ in range(ROUNDS):
        with hot_lock:
            time.sleep(HOLD)


def main():
    workers = [threading.Thread(target=work) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with quiet_lock:
        print(f"{WORKERS * ROUNDS} rounds done")


if __name__ == "__main__":
    main()
