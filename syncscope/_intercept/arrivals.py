"""
A Barrier's waiting line says how many threads have arrived, itself included: counted where
the barrier counts them, under its lock. ``Barrier.wait`` takes the lock, counts the arrival,
then calls ``_wait`` (or ``_release``, the last arriver): both are hooked to say the line or
event the wait made as it began (``guard.pending_arrival``). Read before the lock, two threads
arriving at once could both say the same count.
"""

from __future__ import annotations

from collections.abc import Callable

from .._core.dispatch import guard
from .._core.event import SyncEvent


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: A Barrier.wait's waiting event not said yet: the barrier, the event, what says it, and
    #: the one it stands in front of (a signal handler's wait inside another's).
    PendingArrival = tuple[Any, SyncEvent, Callable[[SyncEvent], None], object]


def arrived(barrier: Any) -> None:
    """
    A Barrier's ``_wait`` or ``_release`` begins: this thread has arrived, under the barrier's
    lock, so its waiting line or event (``guard.pending_arrival``) says exactly how many
    have (read outside the lock, two threads arriving at once could both say the same).
    """
    pending: PendingArrival | None = guard.pending_arrival  # type: ignore[assignment]
    if pending is None or pending[0] is not barrier:  # not watched, or not this wait's
        return
    guard.pending_arrival = None
    _, waiting, say, _ = pending
    waiting.arrivals = barrier._count
    say(waiting)


def not_arrived(pending: PendingArrival) -> None:
    """
    A Barrier's wait ended without arriving (a broken barrier, a subclass that waits its own
    way): its waiting line or event is said now, with the arrivals read before it began.
    Called as every wait ends, arrived or not: the pending wait it came inside is back.
    """
    unsaid = guard.pending_arrival is pending
    guard.pending_arrival = pending[3]
    if unsaid:
        pending[2](pending[1])
