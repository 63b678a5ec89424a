"""
The worst case for an instrumented lock: four threads make 200,000 increments of one shared
counter in all (at scale 1), each under one Lock, and do nothing else between them. Every loop
iteration is a lock acquire and release; the count is checked at the end.

    python counter.py [SCALE]
"""

import sys
import threading


THREADS = 4
# Increments in all at scale 1, shared out among the threads: about 0.1 s under plain python on
# a 2-core machine, so that the slowest tools (a lock profiler capturing every operation) finish
# in under a minute. --scale 40 gives the 8,000,000 increments of earlier baselines.
INCREMENTS = 200_000

counter = 0
lock = threading.Lock()


def increment(times: int) -> None:
    global counter
    for _ in range(times):
        with lock:
            counter += 1


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    times = max(int(INCREMENTS * scale) // THREADS, 1)
    threads = [threading.Thread(target=increment, args=(times,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter == THREADS * times, (counter, THREADS * times)
    print(f"counter: {counter} increments by {THREADS} threads")


if __name__ == "__main__":
    main()
