"""
A three-stage pipeline: a feeder thread puts numbers on a bounded Queue, two stage threads each
take from one Queue, work on the item and put the result on the next, and the main thread sums
what comes out of the last. A None passed down the line ends each stage.

    python pipeline.py [SCALE]
"""

import queue
import sys
import threading


CAPACITY = 100
# Items at scale 1: about 0.8 s under plain python on a 2-core machine.
ITEMS = 10_000
# 700 rounds of this loop take about 25 µs in CPython 3.11 on a current x86-64 core.
ROUNDS = 700


def work(seed: int) -> int:
    acc = seed
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def stage(source: queue.Queue, sink: queue.Queue) -> None:
    while True:
        item = source.get()
        if item is None:
            sink.put(None)
            return
        sink.put(work(item))


def feed(first: queue.Queue, count: int) -> None:
    for item in range(count):
        first.put(item)
    first.put(None)


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    count = max(int(ITEMS * scale), 1)
    raw: queue.Queue = queue.Queue(CAPACITY)
    half: queue.Queue = queue.Queue(CAPACITY)
    done: queue.Queue = queue.Queue(CAPACITY)
    threads = [
        threading.Thread(target=stage, args=(raw, half)),
        threading.Thread(target=stage, args=(half, done)),
        threading.Thread(target=feed, args=(raw, count)),
    ]
    for thread in threads:
        thread.start()
    total = received = 0
    while (item := done.get()) is not None:
        total += item
        received += 1
    for thread in threads:
        thread.join()
    assert received == count, (received, count)
    print(f"pipeline: {received} items, checksum {total % 1_000_003}")


if __name__ == "__main__":
    main()
