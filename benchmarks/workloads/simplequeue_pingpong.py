"""
``queue_pingpong`` on a ``queue.SimpleQueue``: one thread puts 200,000 numbers (at scale 1),
another gets them and sums them up. A SimpleQueue's operations are C, a Queue's Python: the
bare program is much faster, so the wrapper's share is much larger. The sum is checked at the end.

    python simplequeue_pingpong.py [SCALE]
"""

import queue
import sys
import threading


# Numbers put at scale 1.
ITEMS = 200_000


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    items = max(int(ITEMS * scale), 1)
    channel: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    sums: list[int] = []

    def produce() -> None:
        for n in range(items):
            channel.put(n)
        channel.put(None)

    def consume() -> None:
        total = 0
        while (n := channel.get()) is not None:
            total += n
        sums.append(total)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sums == [items * (items - 1) // 2], (sums, items)
    print(f"simplequeue_pingpong: {items} numbers through a SimpleQueue, summed to {sums[0]}")


if __name__ == "__main__":
    main()
