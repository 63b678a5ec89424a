"""
Summaries: under pressure, the spans that do not matter (operations that did not block, holds
nobody waited for) are folded into one span per thread, primitive and operation per interval,
"Lock.acquire lock x 1,234, none waited", rather than lost.

Past :data:`APART` primitives made at one place, one thread's summaries of the others made
there are one per operation: "Lock.acquire 99,984 made at bank.py:25 x 400,000, none waited".
A program with a lock per object (an account, a connection, a cache entry) would otherwise
make two summary spans per object: a hundred thousand objects made as many spans as their
operations, all of them past the buffer, dropped.
"""

from __future__ import annotations

import os

from ..._core.state import BUSY
from .pairing import HOLD, OP


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: Primitives made at one place whose operations one thread's summaries keep apart in an
#: interval; the others made there are summed up together (see above).
APART = 16


class Bucket:
    """
    The operations of one thread on one primitive, folded together; or on the primitives
    made at one place past :data:`APART` (``prims``: their ids), the first being ``prim``.
    """

    __slots__ = (
        "count",
        "end",
        "event",
        "key",
        "op",
        "place",
        "prim",
        "prims",
        "start",
        "total_ns",
    )

    def __init__(
        self, key: Any, event: Any, prim: Any, op: str, place: Any, start: int, end: int
    ) -> None:
        self.key = key
        self.event = event
        self.prim = prim
        self.op = op
        self.place = place
        self.count = 0
        self.start = start
        self.end = end
        self.total_ns = 0
        self.prims: set[int] | None = None


class Summaries:
    """Records folded into buckets, until :meth:`take` hands them to the builder."""

    __slots__ = ("apart", "buckets")

    def __init__(self) -> None:
        #: (thread span, primitive id, op), or (thread span, place made, op) for those summed
        #: up together -> their bucket.
        self.buckets: dict[tuple[Any, ...], Bucket] = {}
        #: (thread span, place made, op) -> how many primitives made there have a bucket of
        #: their own.
        self.apart: dict[tuple[Any, ...], int] = {}

    def add(self, record: tuple[Any, ...]) -> None:
        """Fold one OP or HOLD record (never a wait at exit: that one is always kept)."""
        place = record[3] if record[0] == OP else record[1].place
        if place[2] is not None:  # counted as a span of its part: a summary's now
            place[2].count -= 1
        if record[0] == OP:
            event = record[1]
            end = event.time_ns
            self.fold(place, event.primitive, event.op, event, end - (event.waited_ns or 0), end)
        else:
            assert record[0] == HOLD
            hold, release = record[1], record[2]
            self.fold(
                hold.place, hold.prim, "hold", hold.event, hold.event.time_ns, release.time_ns
            )

    def fold(self, place: Any, prim: Any, op: str, event: Any, start: int, end: int) -> Bucket:
        """
        Count one operation (or hold) of ``op`` on ``prim`` from ``start`` to ``end`` (ns), in
        the bucket of its thread's span ``place``; ``event`` names the thread and the site.
        """
        # Compared, not min() and max(): a builtin's call costs more than the rest of a fold
        # (the worker folds each lock's uses, a hundred thousand locks' at a time).
        bucket = self.buckets.get((place[0], place[1], prim.id, op))
        if bucket is None:
            bucket = self._bucket(place, prim, op, event, start, end)
        else:
            if start < bucket.start:
                bucket.start = start
            if end > bucket.end:
                bucket.end = end
        bucket.count += 1
        bucket.total_ns += end - start
        return bucket

    def _bucket(self, place: Any, prim: Any, op: str, event: Any, start: int, end: int) -> Bucket:
        """The bucket for ``prim`` that has none of its own: a new one, or its place's."""
        made = (place[0], place[1], prim.kind, prim.file, prim.line, prim.column, op)  # _made()
        apart = self.apart.get(made, 0)
        if apart < APART:
            self.apart[made] = apart + 1
            key: tuple[Any, ...] = (place[0], place[1], prim.id, op)
        else:
            key = made
            bucket = self.buckets.get(key)
            if bucket is not None:
                assert bucket.prims is not None
                bucket.prims.add(prim.id)
                if start < bucket.start:
                    bucket.start = start
                if end > bucket.end:
                    bucket.end = end
                return bucket
        bucket = self.buckets[key] = Bucket(key, event, prim, op, place, start, end)
        if key is made:
            bucket.prims = {prim.id}
        if place[2] is not None:  # one span of its part (a cut counts spans)
            place[2].count += 1
        return bucket

    def fold_uses(self, place: Any, prim: Any, acquire: Any, uses: list[tuple[int, int]]) -> None:
        """
        Uses of a lock that did not wait, as ``(acquired, released)`` times: each an acquire
        and a hold, as :meth:`fold` counts them, the two buckets looked up once.
        """
        first = uses[0][0]
        acquires = self.fold(place, prim, "acquire", acquire, first, first)
        holds = self.fold(place, prim, "hold", acquire, first, uses[0][1])
        earliest, latest_start, latest_end, held = first, first, uses[0][1], 0
        for start, end in uses[1:]:
            held += end - start
            if start < earliest:  # the clock may step back
                earliest = start
            if start > latest_start:
                latest_start = start
            if end > latest_end:
                latest_end = end
        count = len(uses) - 1
        acquires.count += count
        holds.count += count
        holds.total_ns += held
        if earliest < acquires.start:
            acquires.start = earliest
        if earliest < holds.start:
            holds.start = earliest
        if latest_start > acquires.end:
            acquires.end = latest_start
        if latest_end > holds.end:
            holds.end = latest_end

    def fold_counted(
        self, place: Any, prim: Any, acquire: Any, count: int, held_ns: int, start: int, end: int
    ) -> None:
        """
        ``count`` uses of a lock counted in place (see ``_core/state.Records``) from ``start``
        to ``end``, held ``held_ns`` in all: as many acquires and holds.
        """
        acquires = self.fold(place, prim, "acquire", acquire, start, start)
        holds = self.fold(place, prim, "hold", acquire, start, start)
        acquires.count += count - 1
        holds.count += count - 1
        holds.total_ns += held_ns
        if end > acquires.end:
            acquires.end = end
        if end > holds.end:
            holds.end = end

    def fold_ops(
        self, place: Any, prim: Any, op: str, event: Any, count: int, start: int, end: int
    ) -> None:
        """``count`` operations ``op`` counted in place from ``start`` to ``end``, none waited."""
        bucket = self.fold(place, prim, op, event, start, start)
        bucket.count += count - 1
        if end > bucket.end:
            bucket.end = end

    def take(self) -> list[Bucket]:
        buckets = list(self.buckets.values())
        self.buckets = {}
        self.apart = {}
        return buckets

    def merge(self, buckets: list[Bucket]) -> None:
        """
        Another stage's buckets (the sink's, into the builder's), kept apart as :meth:`fold`
        keeps them: past :data:`APART` primitives made at one place, into that place's bucket.
        """
        for other in buckets:
            bucket = self.buckets.get(other.key)
            if bucket is None and other.prims is None:
                made = _made(other.place, other.prim, other.op)
                pooled = self.buckets.get(made)
                apart = self.apart.get(made, 0)
                if (
                    pooled is not None
                    and pooled.prims is not None
                    and other.prim.id in pooled.prims
                ):
                    bucket = pooled  # summed up with the others here already
                elif apart < APART:
                    self.apart[made] = apart + 1
                elif pooled is not None and pooled.prims is not None:
                    pooled.prims.add(other.prim.id)
                    bucket = pooled
                else:  # the first past APART: its place's bucket from now on
                    other.key, other.prims = made, {other.prim.id}
            if bucket is None:
                self.buckets[other.key] = other
                continue
            if other.place[2] is not None:  # counted as a span of its part: one with this
                other.place[2].count -= 1
            if bucket.prims is not None and other.prims is not None:
                bucket.prims |= other.prims
            bucket.count += other.count
            bucket.total_ns += other.total_ns
            bucket.start = min(bucket.start, other.start)
            bucket.end = max(bucket.end, other.end)


def _made(place: Any, prim: Any, op: str) -> tuple[Any, ...]:
    """The key of the bucket of ``op`` on the primitives made where ``prim`` was, in ``place``."""
    return (place[0], place[1], prim.kind, prim.file, prim.line, prim.column, op)


def summary_name(bucket: Bucket) -> str:
    prim = bucket.prim
    if bucket.op == BUSY:  # trylocks that found the lock taken
        return f"{prim.type_name}.acquire {_which(bucket)} x {bucket.count:,}, found busy"
    if bucket.op == "hold":
        tail = "nobody waited"
    elif bucket.op == "release":
        tail = "nobody waiting"
    else:
        tail = "none waited"
    return f"{prim.type_name}.{bucket.op} {_which(bucket)} x {bucket.count:,}, {tail}"


def _which(bucket: Bucket) -> str:
    """The primitive's name, or how many were summed up together and where they were made."""
    if bucket.prims is None:
        return str(bucket.prim.name)
    return f"{len(bucket.prims):,} made at {os.path.basename(bucket.prim.file)}:{bucket.prim.line}"


def base_attributes(event: Any, prim: Any) -> dict[str, Any]:
    """The attributes every span of an operation has: its thread, call site and primitive."""
    return {
        "thread.id": event.thread_id,
        "thread.name": event.thread_name,
        "code.function.name": event.function,
        "code.file.path": event.file,
        "code.line.number": event.line,
        "syncscope.kind": prim.kind,
        "syncscope.type": prim.type_name,
        "syncscope.name": prim.name,
        "syncscope.primitive_id": prim.id,
        "syncscope.created_at": prim.created_at,
    }


def summary_attributes(bucket: Bucket) -> dict[str, Any]:
    attributes = {
        **base_attributes(bucket.event, bucket.prim),
        "syncscope.op": bucket.op,
        "syncscope.outcome": "summary",
        "syncscope.summary.count": bucket.count,
        "syncscope.summary.waited": 0,
        "syncscope.summary.total_ms": round(bucket.total_ns / 1e6, 3),
    }
    if bucket.op == BUSY:  # trylocks: the operation is an acquire, each one found it taken
        attributes["syncscope.op"] = "acquire"
        attributes["syncscope.summary.outcome"] = "busy"
    if bucket.prims is not None:  # several primitives: the first one's name and id are not theirs
        attributes["syncscope.name"] = _which(bucket)
        attributes["syncscope.summary.primitives"] = len(bucket.prims)
        del attributes["syncscope.primitive_id"]
    return attributes
