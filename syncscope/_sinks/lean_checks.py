"""
The diagnosis' lean path: what the Lock and RLock proxies tell it when ``-q``'s checks listen.

With the statistics, the deadlock watchdog and the lock-order check listening and nothing
else, lock proxies keep their holds themselves (see ``_core/leanholds``) and only call here for
what is rare: an acquire that must wait (the watchdog's "who waits on whom", and the order of
the wait, which a deadlock's own acquires make), an acquire holding a chain of locks never seen
before (the lock-order graph, lockdep's chain cache; for a lock taken holding one other made
at the same place, a pair not yet known for good, see :meth:`LeanChecks.new_pair`), and a Lock
released by another thread than its taker (a signal, not a mutex). Everything here runs on the
program's thread, with nothing it does recorded.
"""

from __future__ import annotations

from _thread import get_ident
from time import time_ns

from .._core import leanholds
from .._core.dispatch import guard, hidden
from .._core.event import SIGNAL_WAITS, Op, Outcome, Primitive, _active_threads
from .._core.holds import Holds, Wait, lean_chain, lean_hold_of
from .._core.leanholds import place_of
from .._core.sites import call_site, is_machinery
from .lockorder import MAX_DEPTH, SAME_SITE


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._core.leanholds import TakenAt
    from .lockorder import LockOrder, Site
    from .stats import Stats
    from .traces import Traces


def _outer(holds: leanholds.ThreadHolds) -> Callable[[], list[Any]]:
    """The primitives of ``holds``'s lean holds beyond the innermost :data:`MAX_DEPTH`."""

    def outer() -> list[Any]:
        further = leanholds.chain_of(holds)[MAX_DEPTH:]  # newest first
        return [proxy._syncscope_primitive for proxy in reversed(further)]

    return outer


def _taken_at(proxy: Any) -> TakenAt | Site:
    """
    Where the thread took ``proxy``, as the order check records it (the first caller outside
    threading, queue and syncscope): the code and instruction its lean hold keeps, unless
    that is threading's or queue's own (a lock of the library's, with ``--all``).
    """
    code = proxy._syncscope_code
    if code is not None and not is_machinery(code):
        return place_of(code, proxy._syncscope_lasti)
    return call_site()


def _nothing(*_args: object) -> None:
    """No hang check listens."""


#: Chains of held locks remembered as checked (a few hundred bytes each): a program that
#: nests a new lock object each time makes a new chain each time.
MAX_CHAINS = 100_000


class LeanChecks:
    """The diagnosis sink's side of :class:`~syncscope._core.leanholds.LeanDiagnosis`."""

    def __init__(
        self,
        holds: Holds,
        lockorder: LockOrder | None,
        stats: Stats | None,
        traces: Traces | None,
    ) -> None:
        self._holds = holds
        self._traces = traces
        #: Read by the lean path without a call (see ``_intercept/lean.nested``): the order
        #: check, and the holds the event path keeps (thread id -> its holds, oldest first).
        self.lockorder = lockorder
        self.event_held = holds.held
        self._stats = stats
        #: Each wait's start and end: the watchdog's sign of life (see the recorder's
        #: ``_progress_now``).
        self.progress = 0
        #: An Event, Condition, Barrier or queue operation counted in place, told to the
        #: hang check (see ``LeanDiagnosis.touched``): straight to it, one call on each.
        self.touched: Callable[..., None] = traces.lean_touched if traces is not None else _nothing
        #: A queue's put, and a get that got an item: the same, each through an entry of its
        #: own, which has nothing to decide (about 520 instructions fewer on every one).
        self.put: Callable[[Primitive], None] = traces.lean_put if traces is not None else _nothing
        self.got: Callable[[Primitive], None] = traces.lean_got if traces is not None else _nothing
        #: A set, clear or notify counted in place: the same, for those (see ``lean_marked``).
        self.marked: Callable[..., None] = traces.lean_marked if traces is not None else _nothing
        leanholds.forget()  # a new lock-order graph: no chain is known to it

    def new_chain(self, proxy: Any, chain: Any) -> None:
        seen = leanholds.seen_chains
        if len(seen) >= MAX_CHAINS:  # chains of per-object locks: checked again, not kept
            seen.clear()
        seen.add(chain)
        lockorder = self.lockorder
        holds = proxy._syncscope_holder
        if lockorder is None or holds is None:
            return
        below = proxy._syncscope_below
        model = self._holds.held.get(holds.ident)  # holds the event path keeps, if any
        if not model and below is not None and below._syncscope_below is None:
            # Two locks, one taken holding the other (made at two places, or at one after
            # a hold below was taken out: see new_pair for the others), checked as a pair,
            # with no holds made for them. Asking whether the pair is new reads the graph
            # and takes nothing: only what it then does is guarded.
            first, then = below._syncscope_primitive, proxy._syncscope_primitive
            to_do = lockorder.wants_pair(first, then)
            if to_do is None:
                return
            if to_do[3] is SAME_SITE and not to_do[2]:  # a new pair of a lock per object
                self._remember_pair(lockorder, proxy, below, holds)
                return
            site = leanholds.site_of(below)
            thread = holds.thread_name()
            hidden(lockorder.taking_pair, to_do, first, site, then, thread, call_site())
            return
        was_busy = guard.busy
        guard.busy = True
        try:
            # The innermost holds whole (the order check reads their sites, see MAX_DEPTH),
            # the ones further out as primitives, only if a guard is worked out; and made
            # only if the check has anything to do with them.
            proxies = leanholds.chain_of(holds, MAX_DEPTH)  # newest first
            primitives = [
                *(hold.primitive for hold in model or ()),
                *(proxy._syncscope_primitive for proxy in reversed(proxies)),
            ]
            if len(primitives) < 2 or not lockorder.wants(primitives[-1], primitives):
                return
            whole = len(proxies) < MAX_DEPTH  # the chain ends within it: nothing further out
            held = [*(model or ()), *lean_chain(holds, MAX_DEPTH)]
            if len(held) > 1:
                taken = held[-1]
                outer = None if whole else _outer(holds)
                lockorder.taking(taken.primitive, taken.thread_name, call_site(), held, outer)
        finally:
            guard.busy = was_busy

    def new_pair(self, proxy: Any, below: Any, pair: tuple[int, int]) -> None:
        lockorder = self.lockorder
        holds = proxy._syncscope_holder
        if lockorder is None or holds is None:
            return
        if self.event_held.get(holds.ident):  # holds the event path keeps: the whole chain
            self.new_chain(proxy, pair)
            return
        wanted = lockorder.wants_same_class(
            below._syncscope_primitive, proxy._syncscope_primitive, pair
        )
        if wanted:
            # Remembered: seen again, it is known, and kept among the chains seen then.
            self._remember_pair(lockorder, proxy, below, holds)
        elif wanted is False:
            # Known for good: a pair taken again and again (a parent and a child node locked
            # in a loop) asks nothing more. Not the pairs turned down for now: most of those
            # are new pairs past what the check remembers, never seen again, which would fill
            # the set and empty it.
            seen = leanholds.seen_chains
            if len(seen) >= MAX_CHAINS:
                seen.clear()
            seen.add(pair)

    @staticmethod
    def _remember_pair(lockorder: LockOrder, proxy: Any, below: Any, holds: Any) -> None:
        """
        A new pair of a lock per object (``proxy`` taken holding ``below`` alone): remembered
        with where each was taken as the proxies keep it (see place_of: a site made only if
        reported, but for code made at run time), as the pair is most often never seen again.
        Under the guard: a profile function or a signal handler of the program's may run while
        the graph's lock is held, and a lock of the library's it took (``--all``) would be
        checked in turn, and wait for that lock for ever.
        """
        first, then = below._syncscope_primitive, proxy._syncscope_primitive
        thread = holds.thread_name()
        was_busy = guard.busy
        guard.busy = True
        try:
            lockorder.same_site_pair(
                first,
                place_of(below._syncscope_code, below._syncscope_lasti),
                then,
                thread,
                _taken_at(proxy),
                (then.file, then.line, then.column),
                (),
            )
        finally:
            guard.busy = was_busy

    def wait_begins(
        self,
        primitive: Primitive,
        site: tuple[str, int, str],
        timeout: float | None,
        proxy: Any,
        op: Op = "acquire",
    ) -> Wait:
        # A wait record, not an event: who, where, since when, for how long at most.
        ident = get_ident()
        thread = _active_threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        now = time_ns()
        self.progress += 1
        if op != "acquire":  # a wait for a signal: no holder, no lock order
            # Nothing here takes a primitive syncscope watches: no guard needed.
            traces = self._traces
            if traces is not None:  # touched() with "waiting": only its time
                trace = traces.by_primitive.get(primitive)  # waited(), written out
                if trace is None:
                    traces.waited(primitive, now)
                else:
                    trace.last_ns = now
            holds = self._holds
            wait = holds.waiting[ident] = Wait(primitive, op, site, ident, name, now, timeout, None)
            wake = holds.wake  # read once: the watchdog may clear it meanwhile
            if wake is not None and timeout is None:
                wake()
            return wait
        was_busy = guard.busy
        guard.busy = True
        try:
            holds = self._holds
            blocker = lean_hold_of(proxy) if proxy is not None else None
            wait = holds.waiting[ident] = Wait(
                primitive, op, site, ident, name, now, timeout, blocker
            )
            wake = holds.wake  # read once: the watchdog may clear it meanwhile
            if wake is not None and timeout is None:
                wake()
            if self.lockorder is not None and timeout is None:
                held = holds.held_by(ident)
                if held:
                    self.lockorder.taking(primitive, name, site, held)
            return wait
        finally:
            guard.busy = was_busy

    def wait_ends(self, wait: Wait, got: bool, waited_ns: int) -> None:
        self._ended(wait, got)
        blocker = wait.blocker
        if got and blocker is not None and waited_ns and self._stats is not None:
            was_busy = guard.busy
            guard.busy = True
            try:
                self._stats.blocked_by(wait.primitive, blocker, waited_ns)
            finally:
                guard.busy = was_busy

    def signal_ended(self, wait: Wait, outcome: Outcome) -> None:
        """
        A wait for a signal (``wait_begins`` with an op other than "acquire") ended: the
        watchdog's and the hang check's side of its end (``wait_ends`` and ``touched`` in one).
        """
        # _ended, written out: one call fewer on every wait for a signal.
        self.progress += 1
        ident = wait.thread_id
        waiting = self._holds.waiting
        if waiting.get(ident) is wait:
            del waiting[ident]
        reported = wait.reported  # read as _ended reads it: at once, before the clock
        now = time_ns()
        if reported:  # see deadlock.Watchdog._follow
            wait.ended_ns = now if outcome != "error" else -1
        traces = self._traces
        if traces is not None:  # no primitive syncscope watches is taken: no guard needed
            primitive, op = wait.primitive, wait.op
            if op in SIGNAL_WAITS:
                # A waiter is no operator (see touched), but a Barrier's: its time, and its
                # thread the first time, is all there is to keep. Written out for a trace
                # made already (about 900 instructions fewer a wait, callgrind on 3.11).
                trace = traces.by_primitive.get(primitive)
                barrier = primitive.kind == "barrier"
                if trace is not None and (not barrier or ident in trace.operators):
                    trace.last_ns = now
                    return
                if not barrier:
                    traces.waited(primitive, now)
                    return
            traces.touched(primitive, op, outcome, ident, None, now)

    def _ended(self, wait: Wait, went_on: bool) -> None:
        """
        ``wait`` is over: a sign of life, and no longer among the watchdog's waits;
        ``went_on``: as asked (not ended by an exception, a Ctrl-C's included).
        """
        self.progress += 1
        waiting = self._holds.waiting
        if waiting.get(wait.thread_id) is wait:
            del waiting[wait.thread_id]
        if wait.reported:  # see deadlock.Watchdog._follow
            wait.ended_ns = time_ns() if went_on else -1

    def handed_off(self, primitive: Primitive) -> None:
        self._holds.handed_off(primitive)
