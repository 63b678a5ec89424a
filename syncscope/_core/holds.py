"""
Who holds what and who waits on what, kept up to date from the events.

The deadlock watchdog, the lock-order graph, the hold times and the slow-spot thresholds all
read this one state, so that "held" means the same thing everywhere:

* a successful acquire of a lock, rlock, semaphore or a Condition's lock starts a hold; an
  RLock's re-entry does not (its ``depth`` is above 1), its last release ends it;
* a Lock may be released by another thread than the one that took it: the hold ends all the
  same, and the lock is marked as *handed off* (used as a signal, not as a mutex), which keeps
  it out of deadlock cycles;
* a semaphore's permits are holds of the threads that took them; a release by a thread that
  holds none returns the oldest permit (if any) and marks the semaphore as handed off too;
* ``Condition.wait`` gives its lock up without lock events: its "waiting" event parks the
  thread's hold of the Condition's lock, and its end event takes it back.

The state is written by the program's threads (each mostly its own entries, inside the
instrumented operation) and read by the watchdog thread through :meth:`Holds.snapshot`. A
semaphore's permits are the exception: several threads take and give them back at once, so
their list is changed under a lock of our own.

Thread idents are reused (on Linux a thread started after another ended usually gets its
ident), so a tracker that follows a live program (``track_exits``) notices each thread's end:
a per-thread token in a ``_thread._local`` dies with its thread, and its weak reference's
callback, which runs on the ending thread, takes the thread's holds out of ``held``. They stay
where they are held (``owner``, ``permits``) marked ``exited``: "held by X (exited)". A new
thread with the same ident starts with no holds. A replay of recorded events (the spans, the
timeline) runs on one thread and leaves ``track_exits`` off.
"""

from __future__ import annotations

import _thread
import contextlib
import itertools
import time
import weakref
from functools import partial

from . import leanholds
from .event import Primitive, SyncEvent, thread_name
from .registry import allocate_lock


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


#: Kinds with one holder at a time (a semaphore has permits instead).
OWNED_KINDS = frozenset({"lock", "rlock", "condition"})
#: Operations after which a Condition takes back the lock it gave up to wait.
CONDITION_WAITS = frozenset({"wait", "wait_for"})

Site = tuple[str, int, str]

#: Handed-off primitives remembered (a program may make a new signal lock per task).
MAX_HANDOFF = 10_000


class Hold:
    """
    One thread holding one primitive (one permit, for a semaphore), since the event that
    took it. Times are the events' ``time_ns``: no clock is read on the hot path.
    """

    __slots__ = (
        "event",
        "exited",
        "held",
        "primitive",
        "since_ns",
        "site_tally",
        "span",
        "tally",
        "thread_id",
    )

    def __init__(self, primitive: Primitive, event: SyncEvent, held: list[Hold]) -> None:
        self.primitive = primitive
        self.event = event
        self.thread_id = event.thread_id
        self.since_ns = event.time_ns
        #: The holder's list of holds, to leave it without looking it up.
        self.held = held
        #: The statistics to add the hold time to, set by the statistics (if any).
        self.tally: Any = None
        self.site_tally: Any = None
        #: The span of this hold, set by the span pairing (if any).
        self.span: Any = None
        #: When its thread ended without giving it back (with ``track_exits``; ``time_ns``,
        #: the events' clock); 0 while it runs.
        self.exited = 0

    @property
    def thread_name(self) -> str:
        return self.event.thread_name

    @property
    def site(self) -> Site:
        """Where it was taken."""
        event = self.event
        return (event.file, event.line, event.function)

    def __repr__(self) -> str:
        gone = " (exited)" if self.exited else ""
        return f"<Hold {self.primitive.label} by {self.thread_name}{gone}>"


class Life:
    """
    One thread from its first tracked hold to its end (an ident may serve several lives).

    Attributes:
        serial: unique in the process.
        exited: when it ended (``time.time_ns``); 0 while it runs.
        error: for a thread that died of an exception: its text and the innermost user site
            it was raised at (set by the diagnosis sink's ``threading.excepthook``).
    """

    __slots__ = ("error", "exited", "ident", "name", "serial")

    _serials = itertools.count(1)

    def __init__(self, ident: int, name: str) -> None:
        self.ident = ident
        self.name = name
        self.serial = next(self._serials)
        self.exited = 0
        self.error: tuple[str, Site | None] | None = None

    def __repr__(self) -> str:
        return f"<Life {self.name} #{self.serial}{' (exited)' if self.exited else ''}>"


class _Token:
    """Lives in a thread's ``_thread._local`` slot; its death tells that the thread ended."""

    __slots__ = ("__weakref__", "life")

    def __init__(self, life: Life) -> None:
        self.life = life


class Wait:
    """
    One thread blocked in one operation, since its "waiting" event (or, on the lean path, its
    announcement): what the watchdog, the hang check and the report read of it, no more.
    """

    __slots__ = (
        "blocker",
        "ended_ns",
        "op",
        "primitive",
        "reported",
        "since_ns",
        "site",
        "thread_id",
        "thread_name",
        "timeout",
    )

    def __init__(
        self,
        primitive: Primitive,
        op: str,
        site: Site,
        thread_id: int,
        thread_name: str,
        since_ns: int,
        timeout: float | None,
        blocker: Hold | None,
    ) -> None:
        self.primitive = primitive
        self.op = op
        #: Where the wait was made.
        self.site = site
        self.thread_id = thread_id
        self.thread_name = thread_name
        #: When it began (``time.time_ns``, an event's clock).
        self.since_ns = since_ns
        #: How long it may last, in seconds (None: for as long as it takes).
        self.timeout = timeout
        #: For an acquire: the hold that was in the way when the wait began (a lock's owner).
        self.blocker = blocker
        #: Set once a deadlock or hang report has named this wait.
        self.reported = False
        #: When it ended and its thread went on (``time.time_ns``); -1: it ended otherwise
        #: (an exception, its thread's end); 0 while it lasts. Kept for reported ones only.
        self.ended_ns = 0

    @classmethod
    def of(cls, event: SyncEvent, blocker: Hold | None) -> Wait:
        """The wait a "waiting" event begins."""
        return cls(
            event.primitive,
            event.op,
            (event.file, event.line, event.function),
            event.thread_id,
            event.thread_name,
            event.time_ns,
            event.timeout,
            blocker,
        )

    def __repr__(self) -> str:
        return f"<Wait {self.op} {self.primitive.label} by {self.thread_name}>"


class Holds:
    """The current holds and waits of every thread, from the events."""

    def __init__(self, track_exits: bool = False, lean: bool = False) -> None:
        #: Also the Lock and RLock holds the proxies keep themselves (see _core/leanholds):
        #: the live program's model, not a replay's.
        self.lean = lean
        #: thread id -> its holds, oldest first.
        self.held: dict[int, list[Hold]] = {}
        #: thread id -> the operation it is blocked in.
        self.waiting: dict[int, Wait] = {}
        #: Set while the deadlock watchdog sleeps because no thread waits without a timeout
        #: (nothing it could report): such a wait calls it as it begins, and the watchdog looks
        #: again (see deadlock.Watchdog._idle).
        self.wake: Callable[[], None] | None = None
        #: Locks, rlocks and Condition locks -> their holder's hold.
        self.owner: dict[Primitive, Hold] = {}
        #: Semaphores -> the permits taken and not given back, oldest first.
        self.permits: dict[Primitive, list[Hold]] = {}
        #: thread id -> the hold its Condition.wait gave up for the time of the wait.
        self.parked: dict[int, Hold] = {}
        #: Primitives released by a thread that did not take them: signals, not mutexes.
        #: An ordered set (a dict), the oldest forgotten past MAX_HANDOFF.
        self.handoff: dict[Primitive, None] = {}
        #: Guards ``permits``: a semaphore's permits change on several threads at once.
        self._permits_lock = allocate_lock()
        #: With ``track_exits``: each thread's token (see the module's docstring).
        self._local: Any = _thread._local() if track_exits else None
        #: id(token) -> the weak reference whose callback sees the thread end.
        self._watch: dict[int, weakref.ref[_Token]] = {}
        #: Lives that ended, the most recent last (bounded: a program may run many threads).
        self.ended: dict[int, Life] = {}

    def waits_for_good(self) -> bool:
        """Whether a thread waits without a timeout: only such waits make deadlocks and hangs."""
        # A copy: the program's threads add and remove waits meanwhile.
        return any(wait.timeout is None for wait in list(self.waiting.values()))

    def after_fork_in_child(self) -> None:
        """A fork while another thread changed the permits leaves their lock held in the child."""
        self._permits_lock = allocate_lock()

    # -- program side: called from the sink, on the thread of the event --------------------

    def begin_wait(self, event: SyncEvent) -> Wait:
        blocker = self.owner.get(event.primitive) if event.op == "acquire" else None
        wait = self.waiting[event.thread_id] = Wait.of(event, blocker)
        wake = self.wake  # read once: the watchdog may clear it meanwhile
        if wake is not None and wait.timeout is None:
            wake()
        return wait

    def acquired(self, event: SyncEvent) -> Hold | None:
        """Start a hold; None for an RLock re-entry (or a kind that is not held)."""
        depth = event.depth
        if depth is not None and depth > 1:
            return None
        primitive = event.primitive
        kind = primitive.kind
        if kind not in OWNED_KINDS:
            return self._permit(event, primitive) if kind == "semaphore" else None
        held = self.held.get(event.thread_id)
        if held is None:
            held = self.held[event.thread_id] = []
            if self._local is not None:
                self.life(event.thread_id, event.thread_name)
        hold = Hold(primitive, event, held)
        stale = self.owner.get(primitive)
        if stale is not None:  # its release was not seen: forget it, it is not held
            self._drop(stale)
        self.owner[primitive] = hold
        held.append(hold)
        return hold

    def _permit(self, event: SyncEvent, primitive: Primitive) -> Hold:
        held = self.held.get(event.thread_id)
        if held is None:
            held = self.held[event.thread_id] = []
            if self._local is not None:
                self.life(event.thread_id, event.thread_name)
        hold = Hold(primitive, event, held)
        with self._permits_lock:
            permits = self.permits.get(primitive)
            if permits is None:
                permits = self.permits[primitive] = []
            permits.append(hold)
        held.append(hold)
        return hold

    def released(self, event: SyncEvent) -> Hold | None:
        """End the hold a release ends (none for an inner RLock release); return it."""
        depth = event.depth
        if depth is not None and depth > 0:
            return None
        primitive = event.primitive
        hold = self.owner.pop(primitive, None)
        if hold is None:
            return None
        if hold.thread_id != event.thread_id:
            self.handed_off(primitive)
        # Not contextlib.suppress: on this path its cost would double the method's.
        try:  # noqa: SIM105
            hold.held.remove(hold)
        except ValueError:  # gone already, by a racing stale drop
            pass
        return hold

    def returned(self, event: SyncEvent) -> list[Hold]:
        """A semaphore's release: end the permits it gives back; return them."""
        primitive = event.primitive
        ident = event.thread_id
        ended = []
        with self._permits_lock:
            permits = self.permits.get(primitive)
            if not permits:
                # Nobody holds a permit: this release signals (a Semaphore(0) as an event),
                # and the permits taken after it are not holds their takers could give back.
                self.handed_off(primitive)
                return []
            for _ in range(event.permits or 1):
                mine = None  # a loop: a generator would make a cell of ident every release
                for hold in reversed(permits):
                    if hold.thread_id == ident and not hold.exited:
                        mine = hold
                        break
                if mine is None:
                    self.handed_off(primitive)  # given for another thread, or out of nothing
                    if not permits:
                        break
                    mine = permits[0]  # a permit given back for another thread
                permits.remove(mine)
                ended.append(mine)
            if not permits:
                del self.permits[primitive]
        for hold in ended:
            with contextlib.suppress(ValueError):  # gone already, by a racing stale drop
                hold.held.remove(hold)
        return ended

    # -- thread lives ----------------------------------------------------------------------

    def life(self, ident: int, name: str | None) -> Life | None:
        """
        The calling thread's life (``ident`` and ``name`` are its own; None: looked up when
        needed), registered at its first call; None without ``track_exits``.
        """
        local = self._local
        if local is None:
            return None
        token = getattr(local, "token", None)
        if token is not None:
            return token.life  # type: ignore[no-any-return]
        life = Life(ident, name if name is not None else thread_name(ident))
        token = local.token = _Token(life)
        key = id(token)
        # Not a closure: a cell of self would be made on every call, the common one too.
        self._watch[key] = weakref.ref(token, partial(self._token_dropped, key, life))
        return life

    def _token_dropped(self, key: int, life: Life, _ref: object) -> None:
        """The thread of ``life`` has ended: its thread-local token is gone."""
        self._watch.pop(key, None)
        self.exited(life)

    def exited(self, life: Life) -> None:
        """
        Thread ``life`` has ended (called on it, as it ends): its holds stay where they are
        held, marked ``exited``; its ident starts afresh for the next thread to get it.
        """
        now = life.exited = time.time_ns()
        ident = life.ident
        held = self.held.pop(ident, None)
        for hold in held or ():
            hold.exited = now
        parked = self.parked.pop(ident, None)
        if parked is not None:
            parked.exited = now
        wait = self.waiting.pop(ident, None)
        if wait is not None:
            wait.ended_ns = -1  # it did not go on: its thread ended
        ended = self.ended
        ended[life.serial] = life
        if len(ended) > MAX_HANDOFF:
            with contextlib.suppress(Exception):
                del ended[next(iter(ended))]

    def handed_off(self, primitive: Primitive) -> None:
        handoff = self.handoff
        if primitive not in handoff:
            handoff[primitive] = None
            if len(handoff) > MAX_HANDOFF:
                with contextlib.suppress(Exception):  # another thread evicted it first
                    del handoff[next(iter(handoff))]

    def park(self, event: SyncEvent) -> Hold | None:
        """A Condition.wait begins: the thread gives its hold of the Condition's lock up."""
        lock = event.primitive.lock
        if lock is None:
            return None
        hold = self.owner.get(lock)
        if hold is None or hold.thread_id != event.thread_id:
            return None
        del self.owner[lock]
        try:  # noqa: SIM105 (not contextlib.suppress: every Condition wait comes here)
            hold.held.remove(hold)
        except ValueError:  # gone already, by a racing stale drop
            pass
        self.parked[event.thread_id] = hold
        return hold

    def unpark(self, event: SyncEvent) -> Hold | None:
        """A Condition.wait ended: the thread holds the Condition's lock again, from now."""
        hold = self.parked.pop(event.thread_id, None)
        if hold is None:
            return None
        hold.since_ns = event.time_ns
        stale = self.owner.get(hold.primitive)
        if stale is not None:
            self._drop(stale)
        self.owner[hold.primitive] = hold
        hold.held.append(hold)
        return hold

    def forget(self, primitive: Primitive) -> None:
        """``primitive`` was made free without a release: whoever held it no longer does."""
        hold = self.owner.get(primitive)
        if hold is not None:
            self._drop(hold)

    def _drop(self, hold: Hold) -> None:
        if self.owner.get(hold.primitive) is hold:
            del self.owner[hold.primitive]
        with contextlib.suppress(ValueError):
            hold.held.remove(hold)

    # -- watchdog side ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A consistent-enough copy for another thread to read at leisure."""
        for _ in range(10):
            try:
                snapshot = Snapshot(
                    {ident: tuple(held) for ident, held in list(self.held.items()) if held},
                    dict(self.waiting),
                    dict(self.owner),
                    {p: tuple(permits) for p, permits in list(self.permits.items()) if permits},
                    frozenset(list(self.handoff)),
                )
            except RuntimeError:  # a dict changed size while being copied: try again
                continue
            if self.lean:
                self._add_lean(snapshot)
            return snapshot
        return Snapshot({}, {}, {}, {}, frozenset())

    def _add_lean(self, snapshot: Snapshot) -> None:
        """Add the holds the lock proxies keep themselves, as the model's holds."""
        for holds in list(leanholds.lingering.values()):  # threads that ended holding some
            for hold in lean_chain(holds):
                snapshot.owner.setdefault(hold.primitive, hold)
        for ident, holds in list(leanholds.threads.items()):
            chain = lean_chain(holds)
            if not chain:
                continue
            snapshot.held[ident] = (*snapshot.held.get(ident, ()), *chain)
            for hold in chain:
                snapshot.owner[hold.primitive] = hold
        for key, watch in list(leanholds.permit_holders.items()):
            permits = lean_permits(watch)
            if not permits:  # none out now: forget it until its next lean permit
                if not watch.permits:
                    leanholds.permit_holders.pop(key, None)
                continue
            snapshot.permits[watch.primitive] = (
                *snapshot.permits.get(watch.primitive, ()),
                *permits,
            )
            for hold in permits:
                if not hold.exited:
                    snapshot.held[hold.thread_id] = (*snapshot.held.get(hold.thread_id, ()), hold)

    def held_by(self, ident: int) -> list[Hold]:
        """Thread ``ident``'s holds, oldest first: the model's and the proxies' own."""
        held = list(self.held.get(ident, ()))
        if self.lean:
            holds = leanholds.threads.get(ident)
            if holds is not None:
                held.extend(lean_chain(holds))
        return held


def lean_chain(holds: leanholds.ThreadHolds, innermost: int = 10_000) -> list[Hold]:
    """
    The lean holds of one thread, oldest first, as the model's holds: the ``innermost``
    (newest) of them at most. A thread that holds thousands at once (as_completed takes
    every future's Condition) would make each of its acquires cost as much as all of them.
    """
    held: list[Hold] = []
    for proxy in reversed(leanholds.chain_of(holds, innermost)):
        hold = Hold(proxy._syncscope_primitive, leanholds.lean_event(proxy, holds), held)
        hold.exited = holds.exited
        held.append(hold)
    return held


def lean_permits(watch: Any) -> list[Hold]:
    """A semaphore's permits taken on the lean path, as the model's holds, oldest first."""
    if watch() is None:  # the semaphore is gone
        return []
    primitive = watch.primitive
    holds: list[Hold] = []
    for permit in list(watch.permits):
        if len(permit) < 5:  # taken before the checks listened: where and by whom unknown
            continue
        ident, since, code, lasti, taker = permit
        event = leanholds.acquired_event(
            primitive, leanholds.where(code, lasti), None, ident, taker.thread_name(), since
        )
        hold = Hold(primitive, event, [])
        hold.exited = taker.exited
        holds.append(hold)
    return holds


def lean_hold_of(proxy: Any) -> Hold | None:
    """The hold of ``proxy`` its proxy keeps itself, if it is held."""
    holds = proxy._syncscope_holder
    if holds is None:
        return None
    for held in leanholds.chain_of(holds):
        if held is proxy:
            hold = Hold(proxy._syncscope_primitive, leanholds.lean_event(proxy, holds), [])
            hold.exited = holds.exited
            return hold
    return None


class Snapshot:
    """Holds and waits at one moment, as the watchdog reads them."""

    __slots__ = ("handoff", "held", "owner", "permits", "waiting")

    def __init__(
        self,
        held: dict[int, tuple[Hold, ...]],
        waiting: dict[int, Wait],
        owner: dict[Primitive, Hold],
        permits: dict[Primitive, tuple[Hold, ...]],
        handoff: frozenset[Primitive],
    ) -> None:
        self.held = held
        self.waiting = waiting
        self.owner = owner
        self.permits = permits
        self.handoff = handoff

    def holders(self, ident: int) -> tuple[int, ...] | None:
        """
        The threads whose release would let ``ident``'s acquire through; None when that is
        not a question of holders (not an acquire, a signal, nobody else holds it).
        """
        wait = self.waiting.get(ident)
        if wait is None or wait.op != "acquire":
            return None
        primitive = wait.primitive
        if primitive in self.handoff:
            return None
        if primitive.kind == "semaphore":
            others = tuple(
                {
                    h.thread_id
                    for h in self.permits.get(primitive, ())
                    if h.thread_id != ident and not h.exited
                }
            )
            return others or None
        hold = self.owner.get(primitive)
        if hold is None or hold.thread_id == ident or hold.exited:
            # Free by now, a Lock taken twice by one thread (another may free it), or held by
            # a thread that has exited (its ident may be another thread's now).
            return None
        return (hold.thread_id,)


def freed_without_release(primitive: Primitive, sinks: Iterable[object]) -> None:
    """
    ``primitive`` was made free without a release (``_at_fork_reinit()`` in a forked child,
    after a fork handler took it in the parent: logging's idiom): the hold model of each of
    ``sinks`` that keeps one forgets its hold.
    """
    for sink in sinks:
        holds = getattr(sink, "holds", None)
        if isinstance(holds, Holds):
            holds.forget(primitive)
