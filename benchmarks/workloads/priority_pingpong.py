"""
``queue_pingpong`` on a ``queue.PriorityQueue`` of 16 places: one thread puts 50,000 pairs
(priority, number) (at scale 1), another gets them and sums the numbers. Pairs of ints order in
C, so syncscope's lean path does these puts and gets in place; a heap holding items of the
program's classes takes the original's put and get (see ``instructions.py``'s rows). The sum
is checked at the end.

    python priority_pingpong.py [SCALE]
"""

import queue
import sys
import threading


PLACES = 16
PRIORITIES = 8
# Pairs put at scale 1.
ITEMS = 50_000


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    items = max(int(ITEMS * scale), 1)
    channel: queue.PriorityQueue[tuple[int, int]] = queue.PriorityQueue(PLACES)
    sums: list[int] = []

    def produce() -> None:
        for n in range(items):
            channel.put((n % PRIORITIES, n))
        channel.put((PRIORITIES, -1))  # after every other: it comes out last

    def consume() -> None:
        total = 0
        while (pair := channel.get())[1] >= 0:
            total += pair[1]
        sums.append(total)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sums == [items * (items - 1) // 2], (sums, items)
    print(f"priority_pingpong: {items} pairs through a PriorityQueue, summed to {sums[0]}")


if __name__ == "__main__":
    main()
