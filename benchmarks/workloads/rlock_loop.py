"""
Nothing but one RLock, taken twice over: four threads enter it and enter it again inside,
100,000 times in all (at scale 1), with nothing under it. The count is checked at the end.
``one_lock`` does the same with a Lock taken once.

    python rlock_loop.py [SCALE]
"""

import sys
import threading


THREADS = 4
# Outer acquisitions in all at scale 1, shared out among the threads.
ACQUISITIONS = 100_000

lock = threading.RLock()


def take(times: int, done: list[int]) -> None:
    for _ in range(times):
        with lock:  # noqa: SIM117 (nested to show the re-entry)
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
    print(f"rlock_loop: {THREADS} threads took one RLock twice over {sum(done)} times")


if __name__ == "__main__":
    main()
