"""
Light holds and counts made in place: under pressure, what the pairing sums up without the
hold model. An uncontended Lock or RLock use is counted into its summary and the lock held
lightly, outside the model, until its owner lets it go (or anything else happens to it, which
makes it the model's hold with the span it would have had). Uses and operations that the
program's threads counted in place (``_core/state.Records``, ``_intercept/counted``) are
summed up here too.

:class:`LightHolds` is a part of :class:`~syncscope._sinks.spans.pairing.SpanPairing`, kept
apart: it reads and writes the pairing's state.
"""

from __future__ import annotations

import sys

from ..._core.event import Primitive, SyncEvent
from ..._core.holds import Hold
from .segments import HoldSpan, span_id


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from ..._core.holds import Holds
    from .segments import Link, PendingWait, Place, Segment
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


#: An operation that took this long blocked, whether or not it said it would (ns).
BLOCKED_NS = 100_000
#: Kinds whose uncontended uses are folded without the hold model under pressure.
LIGHT_KINDS = frozenset({"lock", "rlock"})


class Folder(Protocol):
    """Where spans that do not matter are counted under pressure (``summary.Summaries``)."""

    def fold(self, place: Any, prim: Any, op: str, event: Any, start: int, end: int) -> None: ...

    def fold_uses(
        self, place: Any, prim: Any, acquire: Any, uses: list[tuple[int, int]]
    ) -> None: ...

    def fold_counted(
        self, place: Any, prim: Any, acquire: Any, count: int, held_ns: int, start: int, end: int
    ) -> None: ...

    def fold_ops(
        self, place: Any, prim: Any, op: str, event: Any, count: int, start: int, end: int
    ) -> None: ...


class LightHolds:
    """The pairing's light holds and counts summed up (see the module)."""

    # The pairing's state (see SpanPairing.__init__).
    _fold: Folder | None
    _light: dict[Primitive, tuple[Any, Place]]
    _pending: dict[int, PendingWait]
    _waiters: dict[int, int]
    _pressed: Callable[[], bool]
    _counts: Any
    _max_trace_spans: int
    _rand: Callable[[int], int]
    _last_hold: dict[int, tuple[int, int]]
    _signals: dict[int, Link]
    _room: dict[int, Link]
    holds: Holds
    segment: Segment
    holding: int

    if TYPE_CHECKING:

        def place(self, ident: int, parent: tuple[int, int] | None, spans: int = 1) -> Place: ...

        def place_of(self, ident: int, life: Any, time_ns: int) -> Place: ...

        def _take_put(self, prim: Primitive, item_id: int | None) -> tuple[int, int] | None: ...

    # Under pressure, an acquire of a Lock or RLock that did not block, which nobody waits
    # for, is counted into its summary and the lock held lightly (``_light``), outside the
    # model; its owner's release, still under pressure, counts the hold: nothing is made.
    # Any other event on it (a wait for it, a Condition's wait over it, a release by another
    # thread, a re-entry), a finding or the end first make it the model's hold with the span
    # it would have had: what is kept (waits, holds in their way, links) is the same.

    def _light_acquire(self, event: SyncEvent) -> bool:
        """An uncontended acquire under pressure: counted, and the lock held lightly."""
        if event.op != "acquire":
            return False
        waited = event.waited_ns or 0
        return self.acquired_lightly(event.primitive, event.thread_id, event.depth, waited, event)

    def acquired_lightly(
        self,
        prim: Primitive,
        ident: int,
        depth: int | None,
        waited: int,
        acquire: Any,
        released: int | None = None,
    ) -> bool:
        """
        Thread ``ident`` took ``prim`` (to ``depth``, after ``waited`` ns): True if that made a
        light hold (counted), else False and nothing changed. ``acquire`` is its event, or
        what stands for it (``thread_id``, ``time_ns``, and ``event()`` when it is needed).
        ``released``: the time of the owner's last release, the very next thing paired (a
        record's): the hold is counted too, as ``released_lightly`` would, in one go.
        """
        if (
            (depth is not None and depth != 1)
            or self._fold is None
            or prim.kind not in LIGHT_KINDS
            or prim in self._light
            or waited >= BLOCKED_NS
            or ident in self._pending
            or prim in self.holds.owner
            or not self._pressed()
        ):
            return False
        if prim.id in self._waiters:
            for pending in self._pending.values():  # a waiter to link to this hold: a span
                if pending.prim is prim and not pending.links:
                    return False
        waiting = self.holds.waiting
        if waiting:
            waiting.pop(ident, None)
        # The acquire is folded, and the hold too when released: no span of the part (the
        # summary counts as one, see Summaries.fold); a hold still open may become one.
        hold_spans = 0 if released is not None else 1
        seg = self.segment
        if seg.count + 1 < self._max_trace_spans:  # no cut at either span: place() inlined
            seg.count += hold_spans
            place = seg.places.get(ident)
            if place is None:
                place = seg.places[ident] = (seg.trace_id, span_id(self._rand), seg)
            hold_place = place
        else:
            place = self.place(ident, None, 0)
            hold_place = self.place(ident, None, hold_spans)
        end = acquire.time_ns
        self._fold.fold(place, prim, "acquire", acquire, end - waited, end)
        if released is not None:  # held and let go: opened and closed, held and not
            self._last_hold.pop(prim.id, None)
            self._fold.fold(hold_place, prim, "hold", acquire, end, released)
            self._counts.aggregated += 2
            return True
        self._counts.aggregated += 1
        if hold_place[2] is not None:
            hold_place[2].opened += 1
        self.holding += 1
        self._light[prim] = (acquire, hold_place)
        return True

    def _light_release(self, event: SyncEvent) -> bool:
        """An event on a lightly held lock: True if it was its light release (see below)."""
        prim = event.primitive
        if (
            event.op == "release"
            and event.outcome == "released"
            and self.released_lightly(prim, event.thread_id, event.depth, event.time_ns)
        ):
            return True
        self._materialize(prim)  # anything else makes the hold the model's first
        return False

    def room_for_uses(self) -> int:
        """How many uses ``used_lightly_again`` may count: none when a cut may be due."""
        return sys.maxsize if self.segment.count + 1 < self._max_trace_spans else 0

    def used_lightly_again(
        self, prim: Primitive, ident: int, acquire: Any, uses: list[tuple[int, int]]
    ) -> int:
        """
        More uses of ``prim`` by thread ``ident`` (``(acquired, released)`` times), next in
        the buffer after one ``acquired_lightly(..., released)`` counted: nothing happened in
        between, so each is counted as that one was while the pressure lasts and no cut is
        due. How many were counted (the rest are paired one by one).
        """
        seg = self.segment
        place = seg.places.get(ident)
        fold = self._fold
        if place is None or fold is None:
            return 0
        if seg.count + 1 >= self._max_trace_spans:  # a cut may be due: one by one
            return 0
        done = 0
        pressed = self._pressed
        for _ in uses:  # folded: no spans of the part
            if not pressed():  # the pressure gone
                break
            done += 1
        if done:
            fold.fold_uses(place, prim, acquire, uses[:done])
            self._counts.aggregated += 2 * done
        return done

    def counted_uses(
        self,
        prim: Primitive,
        acquire: Any,
        count: int,
        held_ns: int,
        start: int,
        end: int,
        reentered: int = 0,
    ) -> None:
        """
        ``count`` uses of ``prim`` that nobody waited for, by the thread of ``acquire`` (the
        first one's stand-in), counted in place between ``start`` and ``end`` (ns) and held
        ``held_ns`` in all: summed up as their acquires and holds would have been; and
        ``reentered`` re-entries of an RLock inside such uses, as more acquires.
        """
        fold = self._fold
        assert fold is not None  # counting in place only happens when folding does
        # Folded: no spans of the part (the summary counts as one, see Summaries.fold).
        place = self.place_of(acquire.thread_id, acquire.life, start)
        if count:
            # A wait that begins after these links to nothing rather than to an older hold.
            self._last_hold.pop(prim.id, None)
            fold.fold_counted(place, prim, acquire, count, held_ns, start, end)
        if reentered:
            fold.fold_ops(place, prim, "acquire", acquire, reentered, start, end)
        self._counts.aggregated += 2 * count + reentered

    def counted_ops(
        self, prim: Primitive, op: str, first: Any, count: int, start: int, end: int
    ) -> None:
        """
        ``count`` operations ``op`` on ``prim`` that neither waited nor let anyone in, by the
        thread of ``first`` (the first one's stand-in), counted in place between ``start``
        and ``end`` (ns): summed up as their spans would have been.
        """
        fold = self._fold
        assert fold is not None  # counting in place only happens when folding does
        place = self.place_of(first.thread_id, first.life, start)
        fold.fold_ops(place, prim, op, first, count, start, end)
        self._counts.aggregated += count

    def counted_mark(self, prim: Primitive, op: str, item_id: int | None) -> None:
        """
        The mark of a get, set or clear counted in place, in its place among the events: it
        is not sent, so what would link to it links to nothing (a wait that finds the Event
        set, a put let in by the room a get made), and a get takes its item's put.
        """
        if op == "get":
            self._take_put(prim, item_id)
            self._room.pop(prim.id, None)
        else:
            self._signals.pop(prim.id, None)

    def released_lightly(self, prim: Primitive, ident: int, depth: int | None, end: int) -> bool:
        """
        Thread ``ident`` releases ``prim`` to ``depth`` at ``end``: True if that is the owner's
        last release of a light hold under pressure (counted), else False and nothing changed.
        """
        light = self._light.get(prim)
        if light is None:
            return False
        acquire, place = light
        if ident != acquire.thread_id or (depth is not None and depth != 0) or not self._pressed():
            return False
        del self._light[prim]
        waiting = self.holds.waiting
        if waiting:
            waiting.pop(ident, None)
        if place[2] is not None:
            place[2].closed += 1
            place[2].count -= 1  # counted as the span it might have become: folded instead
        self.holding -= 1
        # No span of this hold: a wait that begins now links to nothing rather than to it.
        self._last_hold.pop(prim.id, None)
        fold = self._fold
        fold.fold(place, prim, "hold", acquire, acquire.time_ns, end)  # type: ignore[union-attr]
        self._counts.aggregated += 1
        return True

    def _materialize(self, prim: Primitive) -> None:
        """A lightly held lock becomes the model's hold, with its span, from its acquire."""
        acquire, place = self._light.pop(prim)
        if type(acquire) is not SyncEvent:  # a record's stand-in: its event, made now
            acquire = acquire.event()
        hold = self.holds.acquired(acquire)
        assert hold is not None  # a Lock or RLock at depth 1
        held = hold.held
        if len(held) > 1 and held[-2].since_ns > hold.since_ns:
            held.sort(key=_since)  # in the order they were taken, as if made then
        hold.span = HoldSpan(hold, acquire, place, span_id(self._rand))

    def _materialize_all(self) -> None:
        for prim in list(self._light):
            self._materialize(prim)


def _since(hold: Hold) -> int:
    return hold.since_ns
