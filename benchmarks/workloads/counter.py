"""
The worst case for an instrumented lock: four threads increment one shared counter under one
Lock, and do nothing else. Every loop iteration is a lock acquire and release.

    python counter.py [SCALE]
"""

import sys
import threading


THREADS = 4
# Increments per thread at scale 1: about a second under plain python on a 2-core machine.
INCREMENTS = 2_000_000

counter = 0
lock = threading.Lock()


def increment(times: int) -> None:
    global counter
    for _ in range(times):
        with lock:
            counter += 1


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    times = max(int(INCREMENTS * scale), 1)
    threads = [threading.Thread(target=increment, args=(times,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter == THREADS * times, (counter, THREADS * times)
    print(f"counter: {counter} increments by {THREADS} threads")


if __name__ == "__main__":
    main()
