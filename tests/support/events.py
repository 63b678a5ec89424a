"""Synthetic primitives and events, to drive the diagnosis without threads."""

from __future__ import annotations

import itertools

from syncscope._core.event import Primitive, SyncEvent


FILE = "/src/app.py"
_clock = itertools.count(1_000_000_000, 1_000_000)  # 1 ms apart, unless told otherwise


def primitive(
    kind: str = "lock",
    name: str | None = None,
    line: int = 1,
    type_name: str | None = None,
    file: str = FILE,
) -> Primitive:
    """A Primitive created at ``file:line``."""
    default_type = {"rlock": "RLock", "condition": "Condition", "queue": "Queue"}.get(
        kind, kind.capitalize()
    )
    return Primitive(kind, type_name or default_type, name or kind, file, line, "setup")


def event(
    prim: Primitive,
    op: str,
    outcome: str,
    *,
    thread: int = 1,
    line: int = 10,
    waited_ns: int | None = None,
    timeout: float | None = None,
    depth: int | None = None,
    permits: int | None = None,
    waiters: int | None = None,
    unfinished: int | None = None,
    qsize: int | None = None,
    at: int | None = None,
    function: str = "work",
) -> SyncEvent:
    """An event of thread ``thread`` (named ``T<thread>``) at ``FILE:line``, at time ``at``."""
    result = SyncEvent(
        prim,
        op,  # type: ignore[arg-type]
        outcome,  # type: ignore[arg-type]
        (FILE, line, function),
        waited_ns,
        timeout=timeout,
        depth=depth,
        permits=permits,
        waiters=waiters,
        unfinished=unfinished,
        qsize=qsize,
    )
    result.thread_id = thread
    result.thread_name = f"T{thread}"
    result.life = None  # a made-up thread: not the Thread that made the event
    result.time_ns = next(_clock) if at is None else at
    return result


def acquired(prim: Primitive, thread: int = 1, **kwargs: object) -> SyncEvent:
    return event(prim, "acquire", "acquired", thread=thread, **kwargs)  # type: ignore[arg-type]


def released(prim: Primitive, thread: int = 1, **kwargs: object) -> SyncEvent:
    return event(prim, "release", "released", thread=thread, **kwargs)  # type: ignore[arg-type]


def waiting(prim: Primitive, op: str = "acquire", thread: int = 1, **kwargs: object) -> SyncEvent:
    return event(prim, op, "waiting", thread=thread, **kwargs)  # type: ignore[arg-type]
