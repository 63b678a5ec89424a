"""
The classic bounded buffer: two producers and two consumers share a fixed-size buffer guarded
by one Condition; a producer waits while it is full, a consumer while it is empty, and each
notifies the other side after changing it.

    python bounded_buffer.py [SCALE]
"""

import sys
import threading
from collections import deque


PRODUCERS = 2
CONSUMERS = 2
CAPACITY = 8
# Items per producer at scale 1: about a second under plain python on a 2-core machine.
ITEMS = 6_000
# 1000 rounds of this loop take about 35 µs in CPython 3.11 on a current x86-64 core; it runs
# once to make an item and once to consume it, about 0.07 ms per item.
ROUNDS = 1000


def work(seed: int) -> int:
    acc = seed
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    return acc


class BoundedBuffer:
    def __init__(self, capacity: int) -> None:
        self.items: deque[int | None] = deque()
        self.capacity = capacity
        self.cond = threading.Condition()

    def put(self, item: int | None) -> None:
        with self.cond:
            while len(self.items) >= self.capacity:
                self.cond.wait()
            self.items.append(item)
            self.cond.notify()

    def get(self) -> int | None:
        with self.cond:
            while not self.items:
                self.cond.wait()
            item = self.items.popleft()
            self.cond.notify()
            return item


def produce(buffer: BoundedBuffer, first: int, count: int) -> None:
    for n in range(first, first + count):
        buffer.put(work(n))


def consume(buffer: BoundedBuffer, totals: list[int], index: int) -> None:
    while True:
        item = buffer.get()
        if item is None:  # one sentinel per consumer
            return
        totals[index] += work(item)
        totals[CONSUMERS + index] += 1


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    per_producer = max(int(ITEMS * scale), 1)
    buffer = BoundedBuffer(CAPACITY)
    # Each consumer's checksum then its item count: one slot each, so no lock is needed.
    totals = [0] * (2 * CONSUMERS)
    producers = [
        threading.Thread(target=produce, args=(buffer, p * per_producer, per_producer))
        for p in range(PRODUCERS)
    ]
    consumers = [
        threading.Thread(target=consume, args=(buffer, totals, c)) for c in range(CONSUMERS)
    ]
    for thread in producers + consumers:
        thread.start()
    for thread in producers:
        thread.join()
    for _ in consumers:
        buffer.put(None)
    for thread in consumers:
        thread.join()
    consumed = sum(totals[CONSUMERS:])
    assert consumed == PRODUCERS * per_producer, (consumed, PRODUCERS * per_producer)
    print(f"bounded_buffer: {consumed} items, checksum {sum(totals[:CONSUMERS]) % 1_000_003}")


if __name__ == "__main__":
    main()
