"""
Two threads taking turns with two Events, 20,000 turns each at scale 1: the first sets the
second's Event and waits for its own; the second wakes, clears its Event and sets the
first's, which wakes and clears it in turn. Each waits for the other once a turn. The
turns are counted at the end. (``condition_turns`` does the same on a Condition.)

    python event_turns.py [SCALE]
"""

import sys
import threading


# Turns of each thread at scale 1.
TURNS = 20_000

first, second = threading.Event(), threading.Event()


def lead(turns: int, taken: list[int]) -> None:
    for _ in range(turns):
        second.set()
        first.wait()
        first.clear()
        taken[0] += 1


def follow(turns: int, taken: list[int]) -> None:
    for _ in range(turns):
        second.wait()
        second.clear()
        taken[1] += 1
        first.set()


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    turns = max(int(TURNS * scale), 1)
    taken = [0, 0]
    threads = [
        threading.Thread(target=lead, args=(turns, taken)),
        threading.Thread(target=follow, args=(turns, taken)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken == [turns, turns], (taken, turns)
    print(f"event_turns: {sum(taken)} turns taken with two Events")


if __name__ == "__main__":
    main()
