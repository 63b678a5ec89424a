"""
Who waits on whom: the threads that can never go on, each with the threads holding what it
waits for, and the cycles among them (the watchdog's deadlocks).
"""

from __future__ import annotations

from collections.abc import Callable

from .._core.holds import Snapshot, Wait
from .joins import THREADLIKE


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def stuck_threads(
    snapshot: Snapshot,
    bounded: Callable[[int], bool],
    runner: Callable[[Wait], int | None] | None = None,
) -> dict[int, tuple[int, ...]]:
    """
    The threads that can never go on, each with the threads that hold what it waits for.

    A greatest fixed point: start from every thread blocked in an acquire that others hold,
    and (given ``runner``) every thread waiting on a Future whose task another thread runs or
    joining another thread, drop those with a holder that is not itself stuck (it may
    release), until nothing moves; then drop waits with a timeout (``bounded``) and repeat.
    """
    holders: dict[int, tuple[int, ...]] = {}
    for ident, wait in snapshot.waiting.items():
        found = snapshot.holders(ident)
        if (
            found is None
            and runner is not None
            and wait.timeout is None
            and wait.primitive.kind in THREADLIKE
        ):
            running = runner(wait)  # the worker running its task, the thread it joins
            found = None if running is None or running == ident else (running,)
        if found is not None:
            holders[ident] = found
    stuck = set(holders)
    checked_bounds = False
    while True:
        changed = True
        while changed:
            changed = False
            for ident in list(stuck):
                if any(holder not in stuck for holder in holders[ident]):
                    stuck.discard(ident)
                    changed = True
        if checked_bounds or not stuck:
            break
        checked_bounds = True
        timed = {ident for ident in stuck if bounded(ident)}
        if not timed:
            break
        stuck -= timed
    return {ident: holders[ident] for ident in stuck}


def cycles(stuck: dict[int, tuple[int, ...]], order: Callable[[int], Any]) -> list[list[int]]:
    """
    Split the stuck threads into deadlocks: each list starts with its cycle (each thread
    waiting for the next, the last for the first), then the threads blocked behind it.
    """
    result = []
    remaining = set(stuck)

    def step(ident: int) -> int:
        return next(holder for holder in stuck[ident] if holder in stuck)

    while remaining:
        start = min(remaining, key=order)
        path: list[int] = []
        seen: dict[int, int] = {}
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = step(node)
        cycle = path[seen[node] :]
        members = set(cycle)
        behind = []
        for ident in sorted(remaining - members, key=order):
            chain, node = {ident}, step(ident)
            while node not in members and node not in chain:
                chain.add(node)
                node = step(node)
            if node in members:
                behind.append(ident)
        result.append(cycle + behind)
        remaining -= members | set(behind)
    return result


def cycle_length(group: list[int], stuck: dict[int, tuple[int, ...]]) -> int:
    """How many of ``group`` (cycle first) form the cycle."""
    first = group[0]
    length = 1
    node = next(h for h in stuck[first] if h in stuck)
    while node != first and length < len(group):
        length += 1
        node = next(h for h in stuck[node] if h in stuck)
    return length
