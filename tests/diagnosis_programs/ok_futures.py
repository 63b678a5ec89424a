"""Correct: tasks wait on Futures of another pool; the main thread waits long for a result."""

import time
from concurrent.futures import ThreadPoolExecutor, as_completed, wait

inner = ThreadPoolExecutor(max_workers=2)
outer = ThreadPoolExecutor(max_workers=2)


def leaf(n):
    time.sleep(0.01)
    return n


def branch(n):
    return sum(f.result() for f in [inner.submit(leaf, n), inner.submit(leaf, n + 1)])


def slow():
    time.sleep(3)  # longer than the grace period and the hang timeout
    return "slow"


branches = [outer.submit(branch, n) for n in range(6)]
print(sorted(f.result() for f in as_completed(branches)))
done, _ = wait([inner.submit(leaf, 7)])
print(outer.submit(slow).result())
inner.shutdown()
outer.shutdown()
