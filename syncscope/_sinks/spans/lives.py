"""
Threads of one ident: a thread that ended and the thread that got its ident after it are two
threads in the trace. The pairing learns that a thread ended when an item of the next thread
with its ident comes (:meth:`ThreadLives.seen`); an item of the ended thread that comes after
that is late (a hold it left counted in place and claimed since, its counts summed up, an
event paired after the next thread's first item) and goes under the ended thread's own
thread span, its holds and waits its own (:meth:`ThreadLives.pair_late`).

:class:`ThreadLives` is a part of :class:`~syncscope._sinks.spans.pairing.SpanPairing`, kept
apart: it reads and writes the pairing's state.
"""

from __future__ import annotations

import contextlib
import time
import weakref

from ..._core.holds import Life
from .segments import span_id


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..._core.event import Primitive, SyncEvent
    from ..._core.holds import Holds
    from .segments import PendingWait, Place, Segment


class ThreadLives:
    """The pairing's threads told apart by life, not by ident (see the module)."""

    # The pairing's state (see SpanPairing.__init__).
    _light: dict[Primitive, tuple[Any, Place]]
    _pending: dict[int, PendingWait]
    _rand: Callable[[int], int]
    holds: Holds
    segment: Segment

    if TYPE_CHECKING:

        def place(self, ident: int, parent: tuple[int, int] | None, spans: int = 1) -> Place: ...

        def pair(self, event: SyncEvent, parent: tuple[int, int] | None) -> None: ...

        def _materialize(self, prim: Primitive) -> None: ...

        def _unwait(self, pending: PendingWait) -> None: ...

    def __init__(self) -> None:
        #: Thread ident -> the life (``SyncEvent.life``) it was last seen in, weakly (one that
        #: ended is not kept here), and the time of that thread's first item here.
        self._lives: dict[int, weakref.ref[Any]] = {}
        self._first_ns: dict[int, int] = {}
        #: Threads ended by ``seen``, and where their spans went in the part then: an item of
        #: theirs that comes late (a use counted in place, summed or claimed after their end)
        #: goes there, and does not bring them back to life.
        self._ended_places: weakref.WeakKeyDictionary[Any, Place | None] = (
            weakref.WeakKeyDictionary()
        )
        #: An ended thread's wait whose end is still to come, late: (PendingWait, Wait) or None.
        self._late_waits: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def seen(self, ident: int, life: Any, time_ns: int) -> bool:
        """
        An event or record of thread ``life`` (its ``SyncEvent.life``; None: not known), whose
        ident is ``ident``, made at ``time_ns``: if another thread had that ident, that one has
        ended (an ident is reused once its thread is gone), and the new one is a thread of its
        own. True when ``life`` is a thread that has ended: the item came late (see
        :meth:`pair_late`): made before the first item of the thread with the ident now (two
        threads with one ident never overlap), a hold it left counted in place and claimed
        only now, its thread never seen before.
        """
        if life is None:
            return False
        known_ref = self._lives.get(ident)
        known = known_ref() if known_ref is not None else None
        if known is life:
            return False
        if life in self._ended_places:
            return True
        if known_ref is not None and time_ns < self._first_ns[ident]:
            with contextlib.suppress(TypeError):  # a life is weakly referenceable; None is not
                self._ended_places[life] = None
            return True
        self._lives[ident] = weakref.ref(life)
        self._first_ns[ident] = time_ns
        if known_ref is not None:  # ended, whether or not its Thread is gone already
            self._ended(ident, known)
        return False

    def pair_late(self, event: SyncEvent, parent: tuple[int, int] | None) -> None:
        """
        Pair an event of a thread that has ended, whose ident is another's now (a hold it
        left counted in place, claimed since): under its own thread span, and a hold it makes
        is its own, exited, not the thread's that has the ident now.
        """
        ident, life = event.thread_id, event.life
        seg = self.segment
        now_life, now_place = self._lives.get(ident), seg.places.pop(ident, None)
        ended = self._ended_places.get(life)
        if ended is not None and ended[2] is seg:
            seg.places[ident] = ended
        self._lives[ident] = weakref.ref(life)  # for this one event
        holds = self.holds
        held = holds.held.get(ident)
        before = len(held) if held is not None else 0
        # What the ident's thread now does is not the late one's to end, nor the reverse.
        now_waits = self._swap_waits(ident, self._late_waits.pop(life, (None, None)))
        try:
            self.pair(event, parent)
        finally:
            late_waits = self._swap_waits(ident, now_waits)
            if late_waits[0] is not None or late_waits[1] is not None:
                self._late_waits[life] = late_waits
            if now_life is not None:
                self._lives[ident] = now_life
            else:
                self._lives.pop(ident, None)
            # The event may have cut the trace: its place is then the new part's, and leaving
            # it there would put the thread with the ident now under the ended one.
            late = self.segment.places.pop(ident, None)
            if self.segment is not seg:
                seg.places.pop(ident, None)
            if late is not None:
                self._ended_places[life] = late
            if now_place is not None:
                seg.places[ident] = now_place
            held = self.holds.held.get(ident)
            if held is not None:
                for hold in held[before:]:
                    if hold.event.life is life:
                        held.remove(hold)
                        hold.exited = time.time_ns()

    def _swap_waits(self, ident: int, waits: tuple[Any, Any]) -> tuple[Any, Any]:
        """
        Make ``waits`` (a PendingWait and the model's Wait, either None) thread ``ident``'s;
        return what it had.
        """
        holds = self.holds
        had = self._pending.pop(ident, None), holds.waiting.pop(ident, None)
        pending, waiting = waits
        if pending is not None:
            self._pending[ident] = pending
        if waiting is not None:
            holds.waiting[ident] = waiting
        return had

    def _ended(self, ident: int, life: Any) -> None:
        """
        Thread ``life`` has ended, and its ident is another thread's now: its holds stay,
        marked exited (a wait for one links to it, whoever waits); its place goes, so that
        the next thread's spans go under a thread span of its own (None: its Thread is gone).
        """
        for prim in [p for p, (acquire, _) in self._light.items() if acquire.thread_id == ident]:
            self._materialize(prim)  # held lightly: a hold of the model, marked below
        # A wait it began ends with an item still to come, late (see pair_late), if at all.
        pending = self._pending.pop(ident, None)
        if life is not None:
            waiting = self.holds.waiting.pop(ident, None)
            if pending is not None or waiting is not None:
                self._late_waits[life] = (pending, waiting)
        elif pending is not None:  # its Thread is gone: nothing to keep it by
            self._unwait(pending)
        self.holds.exited(Life(ident, life.thread_name() if life else f"Thread-{ident}"))
        seg = self.segment
        with contextlib.suppress(TypeError):  # a life is weakly referenceable; None is not
            self._ended_places[life] = seg.places.get(ident)
        seg.places.pop(ident, None)
        if ident in seg.previous_places:  # nor is it the thread of the part before
            seg.previous_places = {k: v for k, v in seg.previous_places.items() if k != ident}

    def place_of(self, ident: int, life: Any, time_ns: int) -> Place:
        """
        :meth:`place` (not counted: folded) for what thread ``life`` counted in place from
        ``time_ns`` and the worker sums up now, when that thread may have ended and its ident
        be another's.
        """
        if self.seen(ident, life, time_ns):  # its thread has ended: where its spans went then
            place = self._ended_places.get(life)
            if place is None:  # none went anywhere: a thread span of its own, not the ident's
                seg = self.segment
                place = self._ended_places[life] = (seg.trace_id, span_id(self._rand), seg)
            return place
        return self.place(ident, None, 0)
