"""
An LRU cache guarded by an RLock (its get_or_make calls get and put, which take it again),
shared by 4 threads that look up overlapping keys and compute what is missing outside it.

    python lru_cache.py [SCALE]
"""

import sys
import threading
from collections import OrderedDict


THREADS = 4
SIZE = 200
KEYS = 400
# Lookups at scale 1, in all: about 1.2 s under plain python on a 2-core machine.
LOOKUPS = 40_000
MISS_ROUNDS = 300
ROUNDS = 100


def work(seed: int, rounds: int) -> int:
    acc = seed
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    return acc


class LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[int, int] = OrderedDict()
        self.lock = threading.RLock()

    def get(self, key: int) -> int | None:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key: int, value: int) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def get_or_make(self, key: int) -> int:
        with self.lock:
            value = self.get(key)
        if value is None:
            value = work(key, MISS_ROUNDS)
            self.put(key, value)
        return value


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    per_thread = max(int(LOOKUPS * scale) // THREADS, 1)
    cache = LRU(SIZE)
    totals = [0] * THREADS

    def look_up(index: int) -> None:
        for i in range(per_thread):
            key = (i * 7 + index) % KEYS
            totals[index] += cache.get_or_make(key) + work(i, ROUNDS)

    threads = [threading.Thread(target=look_up, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"lru_cache: {per_thread * THREADS} lookups, checksum {sum(totals) % 1_000_003}")


if __name__ == "__main__":
    main()
