"""
Threads blocked in ``Thread.join()`` for good, seen by the watchdog as waits for the end of
the thread they join. A join is no watched operation, but a thread that joins while holding a
lock the joined thread waits for is in a deadlock; so is the interpreter's end, which joins
each non-daemon thread (3.11, 3.12: 3.13 joins them in C, unseen).
"""

from __future__ import annotations

import threading
import time
from types import FrameType

from .._core.compat import current_frames
from .._core.event import Primitive, thread_name
from .._core.holds import Snapshot, Wait
from .._core.records import replace
from .._core.sites import past_machinery
from .standing import JOINS, machinery_timeout


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .findings import BlockedThread

#: The kinds of waits that end when a thread's work does: a Future's, a join's.
THREADLIKE = frozenset({"future", "thread"})

#: Joiner -> (its wait for the joined thread's end, the joined thread's ident).
Seen = dict[int, tuple[Wait, int]]


class Joins:
    """The joins seen by the watchdog's last look, kept from look to look while they last."""

    def __init__(self) -> None:
        #: (joiner, joined thread's ident) -> the wait: the same one at each look, so that a
        #: cycle through it is confirmed at its second sighting as any other.
        self._waits: dict[tuple[int, int], Wait] = {}

    def seen(self, snapshot: Snapshot, frames: dict[int, FrameType], skip: int | None) -> Seen:
        """
        The threads (but ``skip``) blocked in ``Thread.join()`` without a timeout on a thread
        that is itself waiting in a watched operation, or joining one that does, when some
        thread waits for a lock.
        """
        found: Seen = {}
        if not any(wait.op == "acquire" for wait in snapshot.waiting.values()):
            self._waits.clear()
            return found
        if not frames:
            frames.update(current_frames())
        # Joiner -> the joined thread, for every join without a timeout; kept are those that
        # lead, join after join, to a thread in a watched wait (A joins B, which joins C,
        # which waits for a lock A holds).
        joining: dict[int, Any] = {}
        frame: FrameType | None = None
        joined: Any = None
        for ident, frame in frames.items():
            if ident in snapshot.waiting or ident == skip:
                continue
            joined = joined_thread(frame)
            if joined is not None and joined.ident is not None:
                joining[ident] = joined
        leads: set[int] = set()
        changed = True
        while changed:
            changed = False
            for ident, joined in joining.items():
                if ident not in leads and (
                    joined.ident in snapshot.waiting or joined.ident in leads
                ):
                    leads.add(ident)
                    changed = True
        kept: dict[tuple[int, int], Wait] = {}
        for ident in leads:
            joined = joining[ident]
            key = (ident, joined.ident)
            wait = self._waits.get(key) or join_wait(ident, joined, frames[ident])
            kept[key] = wait
            found[ident] = (wait, joined.ident)
        # This frame is among ``frames`` (read from here): a local naming a frame would keep
        # it, and every caller's locals, alive until the next collection.
        frame = joined = None
        self._waits = kept
        return found


def with_joins(snapshot: Snapshot, joins: Seen) -> Snapshot:
    """``snapshot`` with each join of ``joins`` among its waits."""
    if not joins:
        return snapshot
    waiting = {**snapshot.waiting, **{ident: wait for ident, (wait, _) in joins.items()}}
    return Snapshot(snapshot.held, waiting, snapshot.owner, snapshot.permits, snapshot.handoff)


def run_by(threads: tuple[BlockedThread, ...], waits: list[Wait], cycle: int) -> Any:
    """A deadlock's ``threads``, each waiting on a Future held by the next in the cycle."""
    return tuple(
        replace(thread, held_by=(threads[(index + 1) % cycle].name,))
        if index < cycle and not thread.held_by and waits[index].primitive.kind == "future"
        else thread
        for index, thread in enumerate(threads)
    )


def joined_thread(frame: FrameType) -> Any:
    """
    The Thread whose ``join()`` (no timeout) the innermost frame ``frame`` is in, or None:
    ``join`` itself (3.13 joins in C) or ``_wait_for_tstate_lock`` (3.11, 3.12), or the
    interpreter's end in ``threading._shutdown``.
    """
    code = frame.f_code
    if code.co_filename != threading.__file__:
        return None
    if code.co_name == "_shutdown":  # it joins each thread through its tstate lock
        try:
            lock = frame.f_locals.get("lock")
        except Exception:
            return None
        if lock is None:
            return None
        active = getattr(threading, "_active", {})
        return next(
            (t for t in list(active.values()) if getattr(t, "_tstate_lock", None) is lock),
            None,
        )
    if code.co_name not in JOINS or machinery_timeout(frame) is not None:
        return None
    try:
        thread = frame.f_locals.get("self")
    except Exception:
        return None
    return thread if isinstance(thread, threading.Thread) else None


def join_wait(ident: int, thread: Any, frame: FrameType) -> Wait:
    """A wait of thread ``ident`` for ``thread``'s end, at the program's line that joins."""
    caller = past_machinery(frame) or frame  # the interpreter's end has no caller of ours
    site = (caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
    primitive = Primitive("thread", type(thread).__name__, thread.name, *site)
    return Wait(primitive, "join", site, ident, thread_name(ident), time.time_ns(), None, None)
