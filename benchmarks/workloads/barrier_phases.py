"""
Four threads working in phases on a Barrier, 20,000 phases at scale 1: each does a step of
work (a few additions) and waits at the barrier for the others before the next, as a
simulation's threads do between time steps: a Barrier's worst case, where nearly all the time
is spent in its waits. The steps are counted at the end.

    python barrier_phases.py [SCALE]
"""

import sys
import threading


# Phases at scale 1.
PHASES = 20_000
THREADS = 4


def work(me: int, phases: int, barrier: threading.Barrier, steps: list[int]) -> None:
    total = 0
    for phase in range(phases):
        total += phase * me
        barrier.wait()
        steps[me] += 1


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    phases = max(int(PHASES * scale), 1)
    barrier = threading.Barrier(THREADS)
    steps = [0] * THREADS
    threads = [
        threading.Thread(target=work, args=(me, phases, barrier, steps)) for me in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert steps == [phases] * THREADS, (steps, phases)
    print(f"barrier_phases: {sum(steps)} steps taken in {phases} phases on a Barrier")


if __name__ == "__main__":
    main()
