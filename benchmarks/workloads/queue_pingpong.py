"""
Nothing but a queue: one thread puts 50,000 numbers (at scale 1) into a ``queue.Queue`` of 16
places, another gets them and sums them up. The sum is checked at the end.
(``simplequeue_pingpong`` does the same with a ``queue.SimpleQueue``.)

    python queue_pingpong.py [SCALE]
"""

import queue
import sys
import threading


PLACES = 16
# Numbers put at scale 1.
ITEMS = 50_000


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    items = max(int(ITEMS * scale), 1)
    channel: queue.Queue[int | None] = queue.Queue(PLACES)
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
    print(f"queue_pingpong: {items} numbers through a Queue, summed to {sums[0]}")


if __name__ == "__main__":
    main()
