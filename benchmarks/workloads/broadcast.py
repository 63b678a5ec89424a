"""
A Condition broadcast, as a coordinator of workers in rounds writes it: eight waiters sleep on
one Condition; each round (3,000 at scale 1) the coordinator bumps a generation number and
wakes them all with ``notify_all()``, then waits until all eight have acknowledged it, and the
last to acknowledge wakes it. Nearly every wait really blocks.

    python broadcast.py [SCALE]
"""

import sys
import threading


WAITERS = 8
# Rounds at scale 1.
ROUNDS = 3_000

cond = threading.Condition()
# The round the coordinator has started (-1: stop), and how many waiters have seen it.
state = {"round": 0, "acks": 0}


def waiter(seen_rounds: list[int], index: int) -> None:
    seen = 0
    while True:
        with cond:
            while state["round"] == seen:
                cond.wait()
            seen = state["round"]
            if seen < 0:
                return
            seen_rounds[index] += 1
            state["acks"] += 1
            if state["acks"] == WAITERS:
                cond.notify_all()


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rounds = max(int(ROUNDS * scale), 1)
    seen_rounds = [0] * WAITERS
    threads = [threading.Thread(target=waiter, args=(seen_rounds, i)) for i in range(WAITERS)]
    for thread in threads:
        thread.start()
    for number in range(1, rounds + 1):
        with cond:
            state["acks"] = 0
            state["round"] = number
            cond.notify_all()
            while state["acks"] < WAITERS:
                cond.wait()
    with cond:
        state["round"] = -1
        cond.notify_all()
    for thread in threads:
        thread.join()
    assert seen_rounds == [rounds] * WAITERS, seen_rounds
    print(f"broadcast: {rounds} rounds to {WAITERS} waiters")


if __name__ == "__main__":
    main()
