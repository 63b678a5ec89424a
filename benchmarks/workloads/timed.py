"""
Timed operations, as libraries write them: four threads each take a Lock with
``acquire(timeout=5)``, wait on a set Event with ``wait(timeout=5)``, put an item on a Queue
and get one back with ``get(timeout=5)``, 12,500 times (at scale 1). Nothing ever waits long;
every call could. The counts are checked at the end.

    python timed.py [SCALE]
"""

import queue
import sys
import threading


THREADS = 4
# Rounds in all at scale 1, shared out among the threads.
ROUNDS = 50_000
LIMIT = 5.0

lock = threading.Lock()
ready = threading.Event()
items: queue.Queue[int] = queue.Queue()


def work(times: int, done: list[int]) -> None:
    count = 0
    for number in range(times):
        if lock.acquire(timeout=LIMIT):
            try:
                count += 1
            finally:
                lock.release()
        assert ready.wait(timeout=LIMIT)
        items.put(number)
        items.get(timeout=LIMIT)
    done.append(count)


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    times = max(int(ROUNDS * scale) // THREADS, 1)
    ready.set()
    done: list[int] = []
    threads = [threading.Thread(target=work, args=(times, done)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(done) == THREADS * times, (done, THREADS * times)
    assert items.empty()
    print(f"timed: {THREADS} threads made {sum(done)} rounds of timed calls")


if __name__ == "__main__":
    main()
