"""
Lean holds: who holds which Lock and RLock while ``-q``'s diagnosis listens, kept in the locks.

The deadlock watchdog and the lock-order graph need each thread's holds; building an event and
a :class:`~syncscope._core.holds.Hold` for every acquire costs fifty times the acquire. So
while the diagnosis is lean (``state.diagnosis`` set), a Lock or RLock proxy keeps its own hold,
as the kernel's lockdep keeps a task's held locks: the proxy points at its holder's
:class:`ThreadHolds` and at the proxy held just before it by that thread (``below``), so each
thread's holds are a chain from its ``top``, and it notes where it was taken (the caller's code
and instruction, turned into a line only when asked). Pushing and popping that chain is all an
uncontended acquire and release add to the statistics' lean path.

Nothing else reads the chains on the hot path. They are turned into the model's ``Hold``
objects (:func:`holds_of`, :func:`hold_of`) only when someone asks: the watchdog's snapshot,
a contended acquire naming its blocker, and the lock-order check of a chain of held locks not
seen before (the chain's key is the ids of the locks in it, as lockdep caches a validated
chain by its hash: a known chain adds no new order, nor narrows a guard). A pair of two locks
made at one place (a lock per object) is kept among the chains seen only once the check's
memory of pairs knows it for good: most are new, and most never come again.

The fields a proxy carries for this (``_syncscope_holder``, ``_syncscope_below``,
``_syncscope_chain``, ``_syncscope_code``, ``_syncscope_lasti``) are written by the proxies'
fast paths in ``_intercept/locks.py`` and read here.
"""

from __future__ import annotations

import _thread
import os
import threading
import time
import weakref
from types import CodeType

from .event import Op, Outcome, Primitive, SyncEvent, thread_life


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Protocol
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


_active_threads: dict[int, threading.Thread] = threading._active  # type: ignore[attr-defined]

#: Steps past which a release stops looking for its hold in its holder's chain: far beyond
#: any chain a thread holds (a release gives up only on a chain looping on itself).
MAX_WALK = 10_000_000
#: Threads that ended with lean holds still held, kept (bounded) so they read "(exited)".
MAX_LINGERING = 1_000


#: Locks one thread keeps counted uses of, past which it forgets those already summed.
MAX_USES = 256


class ThreadHolds:
    """One thread's lean holds: the top of its chain, newest first."""

    __slots__ = (
        "__weakref__",
        "exited",
        "ident",
        "life",
        "name",
        "stale",
        "top",
        "uses",
        "uses_limit",
    )

    def __init__(self, ident: int, name: str, life: Any = None) -> None:
        self.ident = ident
        #: The thread's name when first seen (kept for when it has exited).
        self.name = name
        #: Its life, if ``threading`` knows it: ``SyncEvent.life``, for its records.
        self.life = life
        #: The proxy this thread took last and still holds, or None.
        self.top: Any = None
        #: A hold was taken out of the chain below others: their chain keys still name it,
        #: recomputed at the next push (see ``unlink``).
        self.stale = False
        #: When the thread ended (``time.time_ns``, the events' clock); 0 while it runs.
        self.exited = 0
        #: Proxy -> this thread's :class:`Uses` of it counted in place (spans under pressure);
        #: (primitive, operation) -> its :class:`OpUses`.
        self.uses: dict[Any, Uses] = {}
        #: How many ``uses`` make the thread forget those summed (see lockpaths.make_room).
        self.uses_limit = MAX_USES

    def thread_name(self) -> str:
        life = self.life
        if life is not None:  # its own Thread, not whichever has its ident now
            return life.thread_name()  # type: ignore[no-any-return]
        thread = None if self.exited else _active_threads.get(self.ident)
        return thread._name if thread is not None else self.name  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<ThreadHolds {self.name}{' (exited)' if self.exited else ''}>"


class Uses:
    """
    One thread's uses of one lock that nobody waited for, counted in place while the span sink
    is under pressure (see ``_core/state.Records``). Only that thread writes ``count``,
    ``held_ns`` and ``last_ns``; the sink's worker reads them and keeps what it has summed
    (``summed``, ``summed_ns``), so that each use is summed up once.
    """

    __slots__ = (
        "count",
        "counted_in",
        "first",
        "gone",
        "held_ns",
        "last_ns",
        "reentered",
        "since_ns",
        "summed",
        "summed_ns",
        "summed_reentered",
    )

    def __init__(self, first: tuple[Any, ...], counted_in: Any) -> None:
        #: The record of the first use's acquire: its thread, lock and call site.
        self.first = first
        #: The sink's ``Records.counted`` these are summed from: a thread that finds them in
        #: another (syncscope installed again) starts new ones, or its counts would be lost.
        self.counted_in = counted_in
        self.count = 0
        self.held_ns = 0
        self.last_ns = first[3]
        self.summed = 0
        self.summed_ns = 0
        #: An RLock's re-entries inside these uses, and how many of them the worker summed.
        self.reentered = 0
        self.summed_reentered = 0
        #: When the first use not summed yet began (ns): the thread sets it when it counts a
        #: use with nothing left to sum, so a summary does not cover the time before it.
        self.since_ns = first[3]
        #: Set by the thread when it forgets these (see ``_intercept/lockpaths.forget_summed``).
        self.gone = False


class OpUses(Uses):
    """
    One thread's operations of one kind on an Event, Condition or queue that neither waited
    nor let anyone in, counted in place as :class:`Uses` are (see
    ``_intercept/counted``). ``first`` is a record as a lock's, its lock None.
    """

    __slots__ = ("op", "prim")

    def __init__(self, first: tuple[Any, ...], counted_in: Any, prim: Any, op: str) -> None:
        super().__init__(first, counted_in)
        self.prim = prim
        self.op = op


class _Token:
    """Lives in the thread's local storage: its end, on the ending thread, marks the exit."""

    __slots__ = ("__weakref__",)


class _Local(_thread._local):
    holds: ThreadHolds | None = None
    token: _Token | None = None


#: The calling thread's ThreadHolds (``local.holds``; None until its first lean acquire).
local = _Local()
#: ident -> the ThreadHolds of the live thread with that ident.
threads: dict[int, ThreadHolds] = {}
#: Threads that ended holding something: id -> ThreadHolds (oldest forgotten first).
lingering: dict[int, ThreadHolds] = {}
#: Chains of held locks already checked for order (see the module's docstring).
seen_chains: set[Any] = set()
#: Semaphores whose permits were taken on the lean path: id(their Watch) -> the Watch, whose
#: ``permits`` are (ident, perf_counter_ns, code, instruction) (see _intercept/lean).
permit_holders: dict[int, Any] = {}
_watch: dict[int, weakref.ref[_Token]] = {}


def this_thread() -> ThreadHolds:
    """The calling thread's ThreadHolds, made at its first lean acquire."""
    holds = local.holds
    if holds is not None:
        return holds
    ident = _thread.get_ident()
    thread = _active_threads.get(ident)
    name = thread._name if thread is not None else f"Thread-{ident}"  # type: ignore[attr-defined]
    holds = ThreadHolds(ident, name, thread_life(ident, thread))
    token = _Token()
    key = id(token)

    def ended(_ref: object, key: int = key, holds: ThreadHolds = holds) -> None:
        _watch.pop(key, None)
        holds.exited = time.time_ns()
        if threads.get(holds.ident) is holds:
            del threads[holds.ident]
        if holds.top is not None:
            linger(holds)

    _watch[key] = weakref.ref(token, ended)
    local.token = token
    local.holds = holds
    threads[ident] = holds
    return holds


def linger(holds: ThreadHolds) -> None:
    """
    Keep ``holds``, of a thread that ended holding something, among the last
    :data:`MAX_LINGERING`, whichever thread ends meanwhile. The oldest go by a snapshot of
    the keys taken in one call, each popped in one call: ``next(iter(...))`` then a pop let
    another thread's insertion come between them, and the ending thread printed a
    RuntimeError. (Not an OrderedDict's ``popitem``: without a GIL, an OrderedDict changed
    by two threads at once is not safe.)
    """
    lingering[id(holds)] = holds
    excess = len(lingering) - MAX_LINGERING
    if excess > 0:
        for key in list(lingering)[:excess]:
            lingering.pop(key, None)


def unlink(proxy: Any, holds: ThreadHolds) -> None:
    """
    Take ``proxy`` out of ``holds``'s chain wherever it is (a release out of order, or by
    another thread); the chains of the holds above it no longer include it.
    """
    above = None
    current = holds.top
    steps = 0
    while current is not None and current is not proxy:
        above = current
        current = current._syncscope_below
        steps += 1
        if steps > MAX_WALK:  # a chain looping on itself must not hang a release
            return
    if current is None:
        return
    below = proxy._syncscope_below
    if above is None:
        holds.top = below
    else:
        above._syncscope_below = below
        # The chain keys above it named it: recomputed before the next push reads one, or a
        # chain that was never checked could pass for one that was. Not now: a thread giving
        # back hundreds of locks in the order it took them (as_completed) would recompute
        # them all at each.
        holds.stale = True


def rechain(holds: ThreadHolds) -> None:
    """Recompute the chain keys of ``holds``'s chain from the bottom up."""
    chain: Any = None
    for proxy in reversed(chain_of(holds)):
        key = proxy._syncscope_primitive.id
        chain = key if chain is None else (chain, key)
        proxy._syncscope_chain = chain


def chain_of(holds: ThreadHolds, most: int = 10_000) -> list[Any]:
    """The proxies ``holds`` holds, newest first: ``most`` of them at most."""
    proxies: list[Any] = []
    current = holds.top
    while current is not None and len(proxies) < most:
        proxies.append(current)
        current = current._syncscope_below
    return proxies


def forget() -> None:
    """
    A new diagnosis begins: no chain is known to it yet, and no hold either (as a new hold
    model knows none): a lock or a permit left held under an earlier one (a test's
    recording, and the next test's) is not under each lock its thread takes next. Its
    release, if it comes, finds it in no chain.
    """
    seen_chains.clear()
    for holds in list(threads.values()):
        holds.top = None
    lingering.clear()
    for watch in list(permit_holders.values()):  # a semaphore's permits: holds too
        watch.permits = []
    permit_holders.clear()


def after_fork_in_child() -> None:
    """Only the forking thread goes on in a child: the others' holds are nobody's."""
    me = _thread.get_ident()
    for ident in list(threads):
        if ident != me:
            holds = threads.pop(ident)
            holds.exited = time.time_ns()
    lingering.clear()


# -- turning lean holds into the model's holds, when asked -------------------------------------


#: (id of a code, instruction) -> the code and the instruction's line. A lean hold's line is
#: asked for at each new lock-order chain but a pair of one class, and wherever a place kept
#: for later (:data:`TakenAt`) is read: walking the code's line table each time cost 5.8 us in
#: a function of 140 entries (0.1 us remembered).
#: By the code's id, the code kept beside its line (so that no other code takes the id while
#: the entry lasts) and compared; emptied when full, for code made at run time.
_lines: dict[tuple[int, int], tuple[CodeType, int]] = {}
MAX_LINES = 4096


def _line(code: CodeType, lasti: int) -> int:
    key = (id(code), lasti)
    known = _lines.get(key)
    if known is not None and known[0] is code:
        return known[1]
    line = _walk_lines(code, lasti)
    if len(_lines) >= MAX_LINES:
        _lines.clear()
    _lines[key] = (code, line)
    return line


def _walk_lines(code: CodeType, lasti: int) -> int:
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= lasti < end:
            return number if number is not None else line
        if number is not None:
            line = number
    return line


#: Where a lean hold was taken, as its proxy keeps it: the code and the instruction. What
#: keeps it for later (a remembered pair of locks, a record hold) makes it a site only when
#: it is read (most never are, and the line of an instruction is a walk of its code's
#: table), but for code made at run time (see :func:`place_of`).
TakenAt = tuple[CodeType | None, int]


def place_of(code: CodeType | None, lasti: int) -> tuple[str, int, str] | TakenAt:
    """
    Where a lean hold was taken (``code``, ``lasti``), to keep: as it is, but made a site at
    once for code made at run time (a file name in angle brackets: ``exec``, a dataclass's
    ``__init__``), which may be new at each call: kept, each would live as long as the pair
    or the record that keeps it.
    """
    if code is None or code.co_filename[:1] == "<":
        return where(code, lasti)
    return code, lasti


def as_site(place: tuple[str, int, str] | TakenAt) -> tuple[str, int, str]:
    """``place`` as a site (file, line, function), if it is a :data:`TakenAt`."""
    if len(place) == 2:
        return where(*place)
    return place


def site_of(proxy: Any) -> tuple[str, int, str]:
    """Where ``proxy``'s hold was taken: the caller of its acquire."""
    return where(proxy._syncscope_code, proxy._syncscope_lasti)


def where(code: CodeType | None, lasti: int) -> tuple[str, int, str]:
    """The site of an instruction: file, line, function."""
    if code is None:
        return ("<unknown>", 0, "<unknown>")
    return (code.co_filename, _line(code, lasti), code.co_name)


def lean_event(proxy: Any, holds: ThreadHolds) -> SyncEvent:
    """The acquire event the event path would have made for ``proxy``'s current hold."""
    return acquired_event(
        proxy._syncscope_primitive,
        site_of(proxy),
        1 if proxy._reentrant else None,
        holds.ident,
        holds.thread_name(),
        proxy._syncscope_since,
    )


def acquired_event(
    primitive: Primitive,
    site: tuple[str, int, str],
    depth: int | None,
    ident: int,
    thread_name: str,
    since: int,
) -> SyncEvent:
    """An acquire event made after the fact, for a hold the event path did not see begin."""
    event = SyncEvent.__new__(SyncEvent)
    event.primitive = primitive
    event.op = "acquire"
    event.outcome = "acquired"
    event.file, event.line, event.function = site
    # Written out, not a loop of setattr(): each new lock-order chain whose check has work
    # to do makes one per lock held.
    event.waited_ns = event.timeout = event.permits = event.waiters = event.arrivals = None
    event.unfinished = event.item = event.item_id = event.qsize = event.error = None
    event.trace_id = event.span_id = None
    event.life = None  # not known: the pairing takes it for the thread that has the ident now
    event.immediate = False
    event.depth = depth
    event.thread_id = ident
    event.thread_name = thread_name
    event.time_ns = time.time_ns() - max(0, time.perf_counter_ns() - since) if since else 0
    return event


class PairMemory(Protocol):
    """The lock-order check, as the lean path reads it (see :class:`LeanDiagnosis`)."""

    @property
    def full_pairs(self) -> Mapping[tuple[int, int], object] | None:
        """Its pairs of a lock per object once it remembers no more, else None."""


class LeanDiagnosis(Protocol):
    """What the lock proxies tell the diagnosis when its path is lean (``state.diagnosis``)."""

    @property
    def lockorder(self) -> PairMemory | None:
        """The lock-order check, None without it."""

    @property
    def event_held(self) -> Mapping[int, Sequence[object]]:
        """Thread id -> the holds the event path keeps for it (a longer chain than the lean's)."""

    def new_chain(self, proxy: Any, chain: Any) -> None:
        """The calling thread took ``proxy`` (pushed already) holding a chain not seen yet."""

    def new_pair(self, proxy: Any, below: Any, pair: tuple[int, int]) -> None:
        """
        The calling thread took ``proxy`` (pushed already) holding ``below`` alone, both made
        at one place, a pair not among the chains seen; ``pair``: their primitives' ids,
        ``below``'s first. Adds it to :data:`seen_chains` once the check knows it for good.
        """

    def wait_begins(
        self,
        primitive: Primitive,
        site: tuple[str, int, str],
        timeout: float | None,
        proxy: Any,
        op: Op = "acquire",
    ) -> Any:
        """
        A blocking acquire of ``primitive`` at ``site`` is about to wait (``proxy``: its lock
        proxy, for a Lock or RLock, else None), or a wait for a signal (``op``: "wait" or
        "wait_for" of a Condition, Event or Barrier, or a queue's "get" or "put" waiting for an
        item or for room); returns what ``wait_ends`` or ``signal_ended`` takes.
        """

    def wait_ends(self, wait: Any, got: bool, waited_ns: int) -> None:
        """The wait ``wait_begins`` announced is over (``got``: the lock was taken)."""

    def signal_ended(self, wait: Any, outcome: Outcome) -> None:
        """
        The wait for a signal ``wait_begins`` announced is over, with ``outcome``: what
        ``wait_ends`` and then ``touched`` would do, in one call.
        """

    def touched(self, primitive: Primitive, op: Op, outcome: Outcome) -> None:
        """
        An Event, Condition, Barrier or queue operation the lean path counted in place, on the
        calling thread; not a set, clear or notify (see :meth:`marked`).
        """

    def put(self, primitive: Primitive) -> None:
        """:meth:`touched` for a queue's put (``op`` "put", ``outcome`` "put")."""

    def got(self, primitive: Primitive) -> None:
        """:meth:`touched` for a queue's get that got an item (``op`` "get", ``outcome`` "got")."""

    def marked(self, primitive: Primitive, op: Op, waiters: int | None = None) -> None:
        """
        A set, clear, notify or notify_all counted in place, called straight from its wrapper,
        whose caller is kept as where it was made (the hang check's evidence of what happened
        last); ``waiters``: how many a notify woke.
        """

    def handed_off(self, primitive: Primitive) -> None:
        """A thread released a Lock another took, or a semaphore's permit it did not take."""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
