"""
Trace parts (segments) of a run, the spans that stay open a while (holds, waits) and the span
and trace ids, drawn at random.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..._core.event import Primitive, SyncEvent
from ..._core.holds import Hold


_time_ns = time.time_ns

#: Where a span goes: trace id, parent span id, and the trace part it counts in (None under a
#: span of the program's own).
Place = tuple[int, int, "Segment | None"]
#: A link: trace id, span id, and why (``holder``, ``notify``, ``put``...).
Link = tuple[int, int, str]


def span_id(rand: Callable[[int], int]) -> int:
    return rand(64) or 1


def trace_id(rand: Callable[[int], int]) -> int:
    # Keep the high half non-zero: Jaeger shortens such trace ids to 16 digits otherwise.
    return (rand(64) | 1 << 63) << 64 | rand(64)


class Segment:
    """
    One trace of the run: its ids, and the span of each thread in it.

    ``opened`` counts the spans placed in it that stay open a while (waits, holds), ``closed``
    those of them that ended: a part that was cut is complete, and its thread and run spans
    can go out, once the two are equal (so that no child ends after its parent).
    """

    __slots__ = (
        "closed",
        "count",
        "end_ns",
        "index",
        "opened",
        "places",
        "previous",
        "previous_places",
        "run_span_id",
        "start_ns",
        "trace_id",
    )

    def __init__(self, index: int, previous: Segment | None, rand: Callable[[int], int]) -> None:
        self.index = index
        self.trace_id = trace_id(rand)
        self.run_span_id = span_id(rand)
        #: thread ident -> (trace id, the thread's span id, this segment): made once per thread,
        #: so that a span costs no allocation for its place.
        self.places: dict[int, Place] = {}
        self.count = 0
        self.opened = 0
        self.closed = 0
        self.start_ns = _time_ns()
        self.end_ns: int | None = None
        # Only the ids of the trace before: not a chain of every trace of the run.
        self.previous = None if previous is None else (previous.trace_id, previous.run_span_id)
        self.previous_places = {} if previous is None else previous.places


class HoldSpan:
    """The span of one hold of the model: it starts at ``event`` (an acquire, a wait's end)."""

    __slots__ = (
        "contended",
        "event",
        "ident",
        "kept",
        "parent_id",
        "prim",
        "segment",
        "span_id",
        "trace_id",
    )

    def __init__(self, hold: Hold, event: SyncEvent, place: Place, span_id: int) -> None:
        #: Another thread waited for it: the span is never given up for a summary.
        self.contended = False
        #: A finding links to it (an inversion's, nobody having waited): never given up either.
        self.kept = False
        self.prim = hold.primitive
        self.event = event
        self.ident = hold.thread_id
        self.trace_id, self.parent_id, self.segment = place
        self.span_id = span_id

    @property
    def place(self) -> Place:
        return self.trace_id, self.parent_id, self.segment


class PendingWait:
    """A wait in progress on one thread: the span id it got, and what it carries to its end."""

    __slots__ = ("error", "links", "place", "prim", "span_id", "start_event")

    def __init__(
        self,
        prim: Primitive,
        span_id: int,
        place: Place,
        links: tuple[Link, ...],
        start_event: SyncEvent,
    ) -> None:
        self.prim = prim
        self.span_id = span_id
        self.place = place
        self.links = links
        self.start_event = start_event
        #: Set when a finding (a deadlock, a hang) names this wait: its span is an error.
        self.error: str | None = None
