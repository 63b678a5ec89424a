"""
Events into span records: a wait with its end, an acquire with its release, a get with its
put, and the ids and links of each span.

Who holds what is not decided here: the pairing feeds every event to its own
:class:`~syncscope._core.holds.Holds`, the one model the report, the watchdog and the
lock-order check read too, and a hold span is exactly the life of one of its holds (from the
acquire, or the end of a ``Condition.wait``, to the release, the start of a wait, or exit).
A semaphore's permits are holds of their takers, an RLock has one hold from its first
acquire to its last release, and a hold whose release was never seen ends when the next
owner's acquire shows it was gone.

The pairing runs under the sink's lock, on the worker (or on the program's thread when log
lines need the ids at once), and only makes small records: the builder turns them into spans.
"""

from __future__ import annotations

import sys
import time
from _thread import get_ident
from collections import deque
from collections.abc import Callable

from ..._core.event import BLOCKING_OPS, Primitive, SyncEvent
from ..._core.holds import Hold, Holds
from .light import BLOCKED_NS as _BLOCKED_NS
from .light import LIGHT_KINDS as _LIGHT_KINDS
from .light import Folder, LightHolds
from .lives import ThreadLives
from .segments import HoldSpan, Link, PendingWait, Place, Segment, span_id


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


_time_ns = time.time_ns

# Record types: one record is one span.
OP = 0
HOLD = 1
WAIT_AT_EXIT = 2
FINDING = 3

#: Outcomes that make an operation's span matter, whether it blocked or not.
_NOTABLE = frozenset({"timeout", "error", "broken", "busy", "aborted", "full", "empty"})
#: Operations that may wake a thread waiting on the same primitive.
_SIGNALS = frozenset(
    {"notify", "notify_all", "set", "put", "get", "task_done", "release", "abort", "reset"}
)
#: Signals whose event says how many waiters they woke (``SyncEvent.waiters``).
_NOTIFIES = frozenset({"notify", "notify_all"})
#: Links of one wait to the holders in its way, at most.
MAX_LINKS = 8
#: Remembered puts waiting for their get, per process (oldest forgotten first).
MAX_PUTS = 100_000
#: Primitives whose last hold and last signal are remembered, for links (oldest forgotten
#: first): a program may make a lock or an Event per task, and they are keyed by id, not held.
MAX_REMEMBERED = 10_000


def span_id_of(record: tuple[Any, ...]) -> int:
    """The span id of an OP or HOLD record."""
    return record[2] if record[0] == OP else record[1].span_id  # type: ignore[no-any-return]


def links_of(record: tuple[Any, ...]) -> tuple[Link, ...]:
    """The links of a span record (an OP's, a FINDING's, a WAIT_AT_EXIT's; a HOLD has none)."""
    kind = record[0]
    if kind == OP:
        return record[4]  # type: ignore[no-any-return]
    if kind == FINDING:
        return record[3]  # type: ignore[no-any-return]
    if kind == WAIT_AT_EXIT:
        return record[1].links  # type: ignore[no-any-return]
    return ()


def duration(record: tuple[Any, ...]) -> int:
    """How long the span of an OP or HOLD record lasts, in ns (a hold open at exit: for ever)."""
    if record[0] == OP:
        return record[1].waited_ns or 0
    release = record[2]
    if release is None:
        return sys.maxsize
    return int(release.time_ns - record[1].event.time_ns)


def remember(memory: dict[int, Any], key: int, value: Any) -> None:
    """``memory[key] = value``, forgetting the oldest key once there are MAX_REMEMBERED."""
    if key not in memory and len(memory) >= MAX_REMEMBERED:
        del memory[next(iter(memory))]
    memory[key] = value


def finding_parts(
    finding: object,
) -> tuple[str, dict[str, Any], tuple[int, ...], frozenset[int] | None]:
    """
    What :meth:`SpanPairing.finding` takes of a finding of the diagnosis (told on the thread
    that found it): its title, its span's attributes, the threads it names, an inversion's locks.
    """
    kind = type(finding).__name__
    text = getattr(finding, "text", None)
    title = kind.lower()
    try:
        full = str(text() if callable(text) else finding)
        title = full.split("\n", 1)[0].removeprefix("syncscope: ")
    except Exception:
        full = title
    threads = getattr(finding, "threads", ())
    idents = tuple(t.ident for t in threads if getattr(t, "ident", None) is not None)
    locks = None
    if kind == "Inversion":  # found on the thread whose acquire closed the cycle
        idents = (get_ident(),)
        edges = getattr(finding, "edges", ())
        locks = frozenset(ref.id for edge in edges for ref in (edge.first, edge.then))
    waited = [t.waiting_ns for t in threads if getattr(t, "waiting_ns", None)]
    waited.append(getattr(finding, "duration_ns", 0) or 0)
    now = _time_ns()
    attributes: dict[str, Any] = {
        "syncscope.finding": kind.lower(),
        "syncscope.finding.text": full,
        "syncscope.finding.since_ns": now - max(waited),
        "syncscope.finding.at_ns": now,
    }
    return title, attributes, idents, locks


def _never() -> bool:
    return False


class SpanPairing(ThreadLives, LightHolds):
    """
    The pairing state of one span sink. :meth:`pair` takes events in the order they happened
    and calls ``append`` with one record per span:

    * ``(OP, event, span_id, place, links, keep)``: an operation (a wait lasts until ``event``);
    * ``(HOLD, hold_span, end_event or None, reason, keep)``: a hold that ended;
    * ``(WAIT_AT_EXIT, pending_wait, True)``: a wait still blocked when the run ended.

    ``keep`` (always the last item; an error text when a finding named the wait) says the
    span matters: the operation blocked, failed,
    or woke or let in a thread that waited; the hold made another thread wait. Under
    pressure the sink gives up the others, folded into summary spans, never these.
    ``append`` returns False for a record that will not be a span (summed up or dropped):
    no later span links to it then.

    A new trace part begins after ``max_trace_spans`` spans at a moment when no thread holds
    anything, so that no hold and no link from a wait to its holder crosses the cut (a
    program that never lets go is cut anyway at twice that count); waits in progress stay in
    their part, whose thread and run spans wait for its open spans to end (see
    :class:`Segment`).
    """

    def __init__(
        self,
        rand: Callable[[int], int],
        max_trace_spans: int,
        append: Callable[[tuple[Any, ...]], bool | None],
        fold: Folder | None = None,
        pressed: Callable[[], bool] | None = None,
        counts: Any = None,
    ) -> None:
        self._rand = rand
        #: Under pressure (``pressed()``), uncontended lock uses are counted into ``fold``
        #: straight away, and in ``counts.aggregated`` (see _light_acquire).
        self._fold = fold if pressed is not None and counts is not None else None
        #: Whether spans that do not matter may be folded (not when each span's ids or
        #: length are needed).
        self.folds = self._fold is not None
        self._pressed: Callable[[], bool] = pressed or _never
        self._counts = counts
        #: Lock or RLock -> (its acquire, the place of its hold): held by a thread that nobody
        #: waited for yet, not in ``holds`` (see _light_acquire).
        self._light: dict[Primitive, tuple[Any, Place]] = {}
        self._max_trace_spans = max_trace_spans
        self._append = append
        self.holds = Holds()
        self.segment = Segment(0, None, rand)
        self._pending: dict[int, PendingWait] = {}
        #: Primitive id -> the span of the hold that ended last (a wait that began as it was
        #: released links to it).
        self._last_hold: dict[int, tuple[int, int]] = {}
        self._signals: dict[int, Link] = {}
        #: Queue id -> the last get, which a put blocked on a full queue links to.
        self._room: dict[int, Link] = {}
        self._puts: dict[tuple[int, int], deque[tuple[int, int]]] = {}
        #: Primitive id -> how many threads wait for it now (a signal that wakes one matters).
        self._waiters: dict[int, int] = {}
        #: Hold spans open: a new trace part begins when there are none, so that no wait
        #: links to a holder in another part.
        self.holding = 0
        #: Parts that were cut, whose thread and run spans have not gone out yet.
        self.cut: list[Segment] = []
        ThreadLives.__init__(self)

    # -- places --------------------------------------------------------------------------------

    def place(self, ident: int, parent: tuple[int, int] | None, spans: int = 1) -> Place:
        """
        Trace id and parent span id for a new span of thread ``ident``; counts it in its
        part, unless it is folded into a summary (``spans`` 0: the summary is counted as one
        span, see ``Summaries.fold``).
        """
        if parent is not None:
            return parent[0], parent[1], None
        seg = self.segment
        if seg.count >= self._max_trace_spans and (
            self._quiet() or seg.count >= 2 * self._max_trace_spans
        ):
            seg = self._rotate()
        seg.count += spans
        place = seg.places.get(ident)
        if place is None:
            place = seg.places[ident] = (seg.trace_id, span_id(self._rand), seg)
        return place

    def _quiet(self) -> bool:
        """
        No thread holds anything, and no acquire waits for a holder it has not been linked to
        yet (whose acquire is still to be paired): a cut now splits no holder link.
        """
        if self.holding:
            return False
        return all(p.links or p.start_event.op != "acquire" for p in self._pending.values())

    def _rotate(self) -> Segment:
        old = self.segment
        old.end_ns = _time_ns()
        new = self.segment = Segment(old.index + 1, old, self._rand)
        self.cut.append(old)
        return new

    def complete_parts(self) -> list[Segment]:
        """The parts cut whose open spans all ended (call under the lock the pairing runs in)."""
        cut = self.cut
        if not cut:
            return []
        done = [seg for seg in cut if seg.closed >= seg.opened]
        if done:
            self.cut = [seg for seg in cut if seg.closed < seg.opened]
        return done

    @staticmethod
    def _opened(place: Place) -> None:
        if place[2] is not None:
            place[2].opened += 1

    @staticmethod
    def _closed(place: Place) -> None:
        if place[2] is not None:
            place[2].closed += 1

    def _unwait(self, pending: PendingWait) -> None:
        self._closed(pending.place)
        key = pending.prim.id
        left = self._waiters.get(key, 1) - 1
        if left > 0:
            self._waiters[key] = left
        else:
            self._waiters.pop(key, None)

    # -- the events ----------------------------------------------------------------------------

    def pair(self, event: SyncEvent, parent: tuple[int, int] | None) -> None:
        """Pair one event; set its ``trace_id`` and ``span_id`` (for the log lines)."""
        life = event.life
        if life is not None:
            known = self._lives.get(event.thread_id)
            if (known is None or known() is not life) and self.seen(
                event.thread_id, life, event.time_ns
            ):
                return self.pair_late(event, parent)
        prim = event.primitive
        light = self._light
        if light:
            if prim in light and self._light_release(event):
                return
            if prim.lock in light:
                self._materialize(prim.lock)
        outcome = event.outcome
        if (
            outcome == "acquired"
            and parent is None
            and self._fold is not None
            and prim.kind in _LIGHT_KINDS
            and self._light_acquire(event)
        ):
            return
        op = event.op
        ident = event.thread_id
        holds = self.holds

        if outcome == "waiting":
            self._begin_wait(event, parent)
            return

        if holds.waiting:
            holds.waiting.pop(ident, None)
        if op == "release" and outcome == "released" and self._release(event):
            return
        # A release that ends no hold (acquired before syncscope saw it): a point span.

        pending = self._pending.pop(ident, None) if op in BLOCKING_OPS else None
        if pending is not None:
            self._unwait(pending)
            if pending.prim is not prim:
                pending = None
        # A span matters when the operation blocked or failed, or when it is a signal that may
        # have woken a thread waiting for it: those are never given up for a summary. (Not every
        # lock use while a thread waits: the running thread may take the lock a thousand
        # times while a waiter waits for the GIL; the holds in a waiter's way are marked when
        # it links to them.) A notify says how many it woke, counted as it happened: one that
        # woke nobody (or failed) is no signal, whatever waits the pairing has not seen end.
        woke = (event.waiters if outcome == "notified" else 0) if op in _NOTIFIES else None
        keep: bool | str = (
            pending is not None
            or (event.waited_ns or 0) >= _BLOCKED_NS
            or outcome in _NOTABLE
            or (op in _SIGNALS and (prim.id in self._waiters if woke is None else woke > 0))
        )
        links: tuple[Link, ...] = ()
        if pending is not None:
            new_span_id = pending.span_id
            place = pending.place
            links = pending.links
        else:
            new_span_id = span_id(self._rand)
            place = self.place(ident, parent)

        if op in ("wait", "wait_for") and outcome in ("woken", "set"):
            signal = self._signals.get(prim.id)
            if signal is not None:
                links = (*links, signal)
        elif op == "get" and outcome == "got":
            put = self._take_put(prim, event.item_id)
            if put is not None:
                links = (*links, (put[0], put[1], "put"))
        elif op == "put" and outcome == "put" and pending is not None:
            room = self._room.get(prim.id)
            if room is not None:  # blocked on a full queue: the get that made room
                links = (*links, room)
        elif op == "join" and outcome == "joined":
            signal = self._signals.get(prim.id)
            if signal is not None:
                links = (*links, signal)
        elif op == "acquire" and outcome == "acquired" and pending is not None and not links:
            # The holder released the lock just as this wait began: link to the release
            # that let this thread in.
            last = self._last_hold.get(prim.id)
            if last is not None:
                links = ((last[0], last[1], "holder"),)

        if pending is not None and pending.error is not None:
            keep = pending.error  # a finding named this wait: an error span
        if links and place[2] is not None:
            # A part cut while threads held locks (past twice its size, the cut does not wait
            # for a quiet moment) leaves some waits' holders in the part before: a link there
            # would leave the tree Jaeger draws. The link stays within its part.
            links = _within(links, place[0])
        # Not sent (summed up or dropped): nothing may link to it later.
        sent = self._append((OP, event, new_span_id, place, links, keep)) is not False
        event.trace_id, event.span_id = place[0], new_span_id

        if op == "acquire":
            if outcome == "acquired":
                self._drop_stale(prim, event)
                hold = holds.acquired(event)
                if hold is not None:
                    self._open(hold, event, parent)
                    if prim.id in self._waiters:
                        self._late_holder(hold, ident)
        elif op in ("notify", "notify_all", "set", "task_done"):
            if woke == 0:
                pass  # a waiter woken earlier links to the notify that woke it, not to this one
            elif sent:
                remember(self._signals, prim.id, (place[0], new_span_id, op))
            else:
                self._signals.pop(prim.id, None)
        elif op == "clear":
            self._signals.pop(prim.id, None)
        elif op == "put" and outcome == "put":
            if sent:
                self._remember_put(prim, event.item_id, place[0], new_span_id)
        elif op == "get" and outcome == "got":
            if sent:
                remember(self._room, prim.id, (place[0], new_span_id, "room"))
            else:
                self._room.pop(prim.id, None)
        if op in ("wait", "wait_for") and prim.kind == "condition" and prim.lock is not None:
            if ident in holds.parked:
                self._drop_stale(prim.lock, event)
            hold = holds.unpark(event)
            if hold is not None:  # the lock is the thread's again: a new hold span
                self._open(hold, event, parent)

    def _begin_wait(self, event: SyncEvent, parent: tuple[int, int] | None) -> None:
        prim = event.primitive
        ident = event.thread_id
        holds = self.holds
        links: tuple[Link, ...] = ()
        if event.op == "acquire":
            links = self._holder_links(prim, ident)
        elif event.op in ("wait", "wait_for") and prim.kind == "condition":
            # The lock is given up while waiting: its hold ends, and a new one begins after.
            parked = holds.park(event)
            if parked is not None:
                self._end(parked, event, "wait")
        holds.begin_wait(event)
        place = self.place(ident, parent)
        new_span_id = span_id(self._rand)
        old = self._pending.get(ident)
        if old is not None:  # its end was never seen
            self._unwait(old)
        self._pending[ident] = PendingWait(prim, new_span_id, place, links, event)
        self._opened(place)
        self._waiters[prim.id] = self._waiters.get(prim.id, 0) + 1
        event.trace_id, event.span_id = place[0], new_span_id

    def _release(self, event: SyncEvent) -> bool:
        """End the holds a release ends; False when it belongs to no hold the model knows."""
        holds = self.holds
        prim = event.primitive
        if prim.kind == "semaphore":
            ended = holds.returned(event)
        else:
            released = holds.released(event)
            if released is not None:
                ended = [released]
            else:
                # An RLock's inner release ends no hold: it belongs to the one still open.
                owner = holds.owner.get(prim)
                if owner is None or owner.thread_id != event.thread_id:
                    return False
                ended = []
                self._name_span(event, owner)
        if ended:
            self._name_span(event, ended[0])  # the line says which hold it ended
        for hold in ended:
            self._end(hold, event, "released")
        return bool(ended) or prim.kind != "semaphore"

    @staticmethod
    def _name_span(event: SyncEvent, hold: Hold) -> None:
        span: HoldSpan | None = hold.span
        if span is not None:
            event.trace_id, event.span_id = span.trace_id, span.span_id

    def _drop_stale(self, prim: Primitive, event: SyncEvent) -> None:
        """
        An acquire succeeds while the model still has an owner: that owner's release was not
        seen (the lock was taken before syncscope watched it), and the model forgets the hold
        (see Holds.acquired). Its span ends here too, saying so.
        """
        depth = event.depth
        if depth is not None and depth > 1:
            return  # an RLock re-entered: nothing is forgotten
        stale = self.holds.owner.get(prim)
        if stale is not None:
            self._end(stale, event, "release not seen")

    def _open(self, hold: Hold, event: SyncEvent, parent: tuple[int, int] | None) -> None:
        place = self.place(hold.thread_id, parent)
        hold.span = HoldSpan(hold, event, place, span_id(self._rand))
        self._opened(place)
        self.holding += 1

    def _end(self, hold: Hold, event: SyncEvent | None, reason: str) -> None:
        span = hold.span
        if span is None:
            return
        hold.span = None  # ended once, whatever ends it again
        self._closed(span.place)
        self.holding -= 1
        keep = span.contended or span.kept or event is None
        if self._append((HOLD, span, event, reason, keep)) is False:
            self._last_hold.pop(span.prim.id, None)  # not sent: nothing may link to it
        else:
            remember(self._last_hold, span.prim.id, (span.trace_id, span.span_id))

    def _late_holder(self, hold: Hold, ident: int) -> None:
        """
        An acquire paired after another thread's wait for the same lock began: the waiting
        thread found it taken by this one (the holder's event was emitted after the waiter's),
        so the wait links to this hold, as it would have, had the events come in order.
        """
        span = hold.span
        if span is None:
            return
        prim = hold.primitive
        for pending in self._pending.values():
            event = pending.start_event
            if pending.prim is prim and not pending.links and event.op == "acquire":
                if event.thread_id == ident:
                    continue
                pending.links = ((span.trace_id, span.span_id, "holder"),)
                span.contended = True

    def _holder_links(self, prim: Primitive, ident: int) -> tuple[Link, ...]:
        holds = self.holds
        if prim.kind == "semaphore":
            holders: tuple[Hold, ...] = tuple(holds.permits.get(prim, ()))
        else:
            owner = holds.owner.get(prim)
            holders = () if owner is None else (owner,)
        links = []
        for hold in holders:
            span = hold.span
            if span is not None and (hold.thread_id != ident or hold.exited):
                span.contended = True
                links.append((span.trace_id, span.span_id, "holder"))
                if len(links) == MAX_LINKS:
                    break
        return tuple(links)

    def _remember_put(
        self, prim: Primitive, item_id: int | None, trace_id: int, span_id: int
    ) -> None:
        if item_id is None:
            return
        puts = self._puts
        key = (prim.id, item_id)
        queue_of = puts.get(key)
        if queue_of is None:
            if len(puts) >= MAX_PUTS:
                del puts[next(iter(puts))]
            queue_of = puts[key] = deque()
        queue_of.append((trace_id, span_id))

    def _take_put(self, prim: Primitive, item_id: int | None) -> tuple[int, int] | None:
        if item_id is None:
            return None
        key = (prim.id, item_id)
        queue_of = self._puts.get(key)
        if not queue_of:
            return None
        # The same object put twice (small ints...): a LIFO queue gives back the newest.
        found = queue_of.pop() if prim.type_name == "LifoQueue" else queue_of.popleft()
        if not queue_of:
            del self._puts[key]
        return found

    # -- findings ------------------------------------------------------------------------------

    def finding(
        self,
        title: str,
        attributes: dict[str, Any],
        threads: tuple[int, ...],
        locks: frozenset[int] | None = None,
    ) -> None:
        """
        A finding (deadlock, hang, inversion, slow spot) about ``threads``: their waits become
        error spans, and the finding's own error span links to those waits and their holds.
        ``locks``: an inversion's (primitive ids), found as the thread in ``threads`` took the
        last of them: only its holds of those, which made nobody wait (yet), and the last hold
        of each lock before, in the same part (the other order's, most often).
        Appends ``(FINDING, title, attributes, links, segment, True)``.
        """
        self._materialize_all()
        links: list[Link] = []
        for ident in threads:
            pending = self._pending.get(ident)
            if pending is not None:
                pending.error = title
                links.append((pending.place[0], pending.span_id, "blocked"))
            for hold in self.holds.held.get(ident, ()):
                span = hold.span
                if span is None or (locks is not None and hold.primitive.id not in locks):
                    continue
                if locks is None:
                    span.contended = True
                else:
                    span.kept = True  # linked to: sent, though it made nobody wait
                links.append((span.trace_id, span.span_id, "holds"))
        segment = self.segment
        segment.count += 1  # the finding's own span
        for lock in sorted(locks or ()):
            last = self._last_hold.get(lock)
            if last is not None and last[0] == segment.trace_id:
                links.append((last[0], last[1], "held before"))
        self._append((FINDING, title, attributes, tuple(links[: 4 * MAX_LINKS]), segment, True))

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> None:
        """The run ended: every wait still blocked and every hold still open becomes a span."""
        self._materialize_all()
        late = [wait for wait, _ in self._late_waits.values() if wait is not None]
        for pending in [*self._pending.values(), *late]:  # a late one: its end never came
            self._closed(pending.place)
            self._append((WAIT_AT_EXIT, pending, True))
        self._pending.clear()
        self._late_waits.clear()
        self._waiters.clear()
        holds = self.holds
        for held in list(holds.held.values()):
            for hold in list(held):
                self._end(hold, None, "held at exit")
        # Holds of threads that ended holding them, their idents another's since (see seen).
        for hold in list(holds.owner.values()):
            self._end(hold, None, "held at exit")
        for permits in list(holds.permits.values()):
            for hold in list(permits):
                self._end(hold, None, "held at exit")
        for hold in list(holds.parked.values()):  # given up to wait, and still waiting
            if hold.span is not None:
                self._closed(hold.span.place)
                self.holding -= 1
            hold.span = None


def _within(links: tuple[Link, ...], trace_id: int) -> tuple[Link, ...]:
    """
    The links into trace ``trace_id``. Not written in pair(): a comprehension there makes a
    closure cell of what it reads, on every event paired.
    """
    return tuple(link for link in links if link[0] == trace_id)
