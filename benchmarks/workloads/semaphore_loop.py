"""
Nothing but one BoundedSemaphore of two permits: four threads take and give back a permit
100,000 times in all (at scale 1), with nothing between. The count is checked at the end.

    python semaphore_loop.py [SCALE]
"""

import sys
import threading


THREADS = 4
PERMITS = 2
# Permits taken in all at scale 1, shared out among the threads.
ACQUISITIONS = 100_000

permits = threading.BoundedSemaphore(PERMITS)


def take(times: int, done: list[int]) -> None:
    for _ in range(times):
        with permits:
            pass
    done.append(times)


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    times = max(int(ACQUISITIONS * scale) // THREADS, 1)
    done: list[int] = []
    threads = [threading.Thread(target=take, args=(times, done)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(done) == THREADS * times, (done, THREADS * times)
    print(f"semaphore_loop: {THREADS} threads took a permit {sum(done)} times")


if __name__ == "__main__":
    main()
