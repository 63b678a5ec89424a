"""
Two threads taking turns on a Condition, 20,000 turns each at scale 1: each waits for its
turn, takes it and hands it over with ``notify``, which wakes the other when it is waiting
(else it finds its turn on taking the lock): a Condition's worst case. The turns are
counted at the end. (``event_turns`` does the same with two Events.)

    python condition_turns.py [SCALE]
"""

import sys
import threading


# Turns of each thread at scale 1.
TURNS = 20_000

cond = threading.Condition()


def play(me: int, turns: int, whose: list[int], taken: list[int]) -> None:
    for _ in range(turns):
        with cond:
            while whose[0] != me:
                cond.wait()
            taken[me] += 1
            whose[0] = 1 - me
            cond.notify()


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    turns = max(int(TURNS * scale), 1)
    whose, taken = [0], [0, 0]
    threads = [threading.Thread(target=play, args=(me, turns, whose, taken)) for me in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken == [turns, turns], (taken, turns)
    print(f"condition_turns: {sum(taken)} turns taken on a Condition")


if __name__ == "__main__":
    main()
