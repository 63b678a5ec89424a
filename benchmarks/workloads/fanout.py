"""
Fan-out with concurrent.futures: submit many small CPU tasks to a ThreadPoolExecutor and gather
the results as they complete.

    python fanout.py [SCALE]
"""

import sys
from concurrent.futures import ThreadPoolExecutor, as_completed


WORKERS = 4
# Tasks at scale 1: about a second under plain python on a 2-core machine.
TASKS = 8_000
# 3000 rounds of this loop take about 0.1 ms in CPython 3.11 on a current x86-64 core.
ROUNDS = 3000


def work(seed: int) -> int:
    acc = seed
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    count = max(int(TASKS * scale), 1)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(work, n) for n in range(count)]
        results = [future.result() for future in as_completed(futures)]
    assert len(results) == count, (len(results), count)
    print(f"fanout: {count} tasks, checksum {sum(results) % 1_000_003}")


if __name__ == "__main__":
    main()
