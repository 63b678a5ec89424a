"""
A job queue: the main thread puts jobs on a queue.Queue, a pool of worker threads takes them,
at most a few at a time run a job (a BoundedSemaphore bounds the concurrency), and results are
appended to a list under a Lock. One sentinel per worker shuts the pool down.

    python jobs.py [SCALE]
"""

import queue
import sys
import threading


WORKERS = 8
RUNNING_AT_ONCE = 4
# Jobs at scale 1: about a second under plain python on a 2-core machine.
JOBS = 8_000
# 3000 rounds of this loop take about 0.1 ms in CPython 3.11 on a current x86-64 core.
ROUNDS = 3000


def work(seed: int) -> int:
    acc = seed
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    count = max(int(JOBS * scale), 1)
    jobs: queue.Queue = queue.Queue()
    slots = threading.BoundedSemaphore(RUNNING_AT_ONCE)
    results: list[int] = []
    results_lock = threading.Lock()

    def worker() -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            with slots:
                result = work(job)
            with results_lock:
                results.append(result)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for job in range(count):
        jobs.put(job)
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    assert len(results) == count, (len(results), count)
    print(f"jobs: {count} done, checksum {sum(results) % 1_000_003}")


if __name__ == "__main__":
    main()
