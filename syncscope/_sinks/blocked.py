"""
The findings' view of blocked threads: what the watchdog puts in a deadlock or a hang report
for each thread (what it waits for, who holds it, what it holds, its stack), from a snapshot
of the hold model.
"""

from __future__ import annotations

from types import FrameType

from .._core.event import Primitive, thread_name
from .._core.holds import Hold, Snapshot, Wait


# The findings' records are imported when a finding is made, not at start-up (see findings).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .findings import BlockedThread, HeldBy, Ref


def held_by(snapshot: Snapshot, frames: dict[int, FrameType], now: int) -> tuple[HeldBy, ...]:
    """Every hold, of live threads and of threads that have exited."""
    from .findings import HeldBy, Ref

    live = tuple(
        HeldBy(hold.thread_name, Ref.of(hold.primitive), hold.site, now - hold.since_ns, False)
        for ident, held in snapshot.held.items()
        if ident in frames
        for hold in held
    )
    gone = {
        id(hold): hold
        for hold in (*snapshot.owner.values(), *(h for p in snapshot.permits.values() for h in p))
        if hold.exited
    }
    return live + tuple(
        HeldBy(hold.thread_name, Ref.of(hold.primitive), hold.site, now - hold.since_ns, True)
        for hold in gone.values()
    )


def created(wait: Wait) -> tuple[str, int, str]:
    primitive = wait.primitive
    return (primitive.file, primitive.line, primitive.function)


def loose_note(loose: list[Wait], lasted_ns: int) -> str:
    """The one line a cycle through a Lock or a semaphore gets."""
    names = ", ".join(
        f"{w.primitive.label} is a "
        + ("semaphore" if w.primitive.kind == "semaphore" else "plain Lock")
        for w in loose
    )
    return (
        f"{names}: another thread could release it, but none did in "
        f"{lasted_ns / 1e9:.1f} s while other threads ran"
    )


def holds_of(ident: int, snapshot: Snapshot, now: int) -> tuple[tuple[Ref, Any, int], ...]:
    from .findings import Ref

    return tuple(
        (Ref.of(hold.primitive), hold.site, now - hold.since_ns)
        for hold in snapshot.held.get(ident, ())
    )


def blocked_thread(
    ident: int, snapshot: Snapshot, frame: FrameType | None, now: int, itself: bool = False
) -> BlockedThread:
    from .findings import BlockedThread, Ref, stack_of

    wait = snapshot.waiting[ident]
    holders = snapshot.holders(ident) or ()
    names = []
    for holder in holders:
        held = snapshot.held.get(holder, ())
        names.append(held[0].thread_name if held else thread_name(holder))
    exited = False
    if itself:
        names = [wait.thread_name]
    elif not names and wait.op == "acquire":
        gone = [h for h in holds_of_primitive(snapshot, wait.primitive) if h.exited]
        names = list(dict.fromkeys(h.thread_name for h in gone))
        exited = bool(gone)
    return BlockedThread(
        wait.thread_name,
        ident,
        Ref.of(wait.primitive),
        wait.op,
        wait.site,
        now - wait.since_ns,
        tuple(names),
        holds_of(ident, snapshot, now),
        stack_of(frame),
        holders_exited=exited,
    )


def holds_of_primitive(snapshot: Snapshot, primitive: Primitive) -> tuple[Hold, ...]:
    if primitive.kind == "semaphore":
        return snapshot.permits.get(primitive, ())
    hold = snapshot.owner.get(primitive)
    return () if hold is None else (hold,)


def outside_thread(ident: int, snapshot: Snapshot, frame: FrameType, now: int) -> BlockedThread:
    from .findings import BlockedThread, stack_of

    return BlockedThread(
        thread_name(ident),
        ident,
        None,
        None,
        None,
        None,
        (),
        holds_of(ident, snapshot, now),
        stack_of(frame),
    )
