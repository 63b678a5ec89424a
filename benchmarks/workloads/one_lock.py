"""
Nothing but one Lock: four threads take and release it 200,000 times in all (at scale 1), with
nothing under it and nothing between. Every loop iteration is a lock acquire and release; the
count is checked at the end. (``counter`` does the same with a shared increment under the lock.)

    python one_lock.py [SCALE]
"""

import sys
import threading


THREADS = 4
# Acquisitions in all at scale 1, shared out among the threads.
ACQUISITIONS = 200_000

lock = threading.Lock()


def take(times: int, done: list[int]) -> None:
    for _ in range(times):
        with lock:
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
    print(f"one_lock: {THREADS} threads took one lock {sum(done)} times")


if __name__ == "__main__":
    main()
