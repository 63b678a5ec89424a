"""
Lean statistics: when the statistics are all that listens, lock proxies count in place.

An event costs a record, a call-site lookup and a trip through the sinks: over a microsecond,
against 80 ns for a bare acquire+release. With only the statistics listening (``state.lean``),
a Lock or RLock proxy does what lock_stat and mutrace do: a non-blocking attempt first, and
when it succeeds it only bumps its primitive's tally and stamps the time the hold began. The
rest (a wait, a timeout, a failed attempt) comes here, where the call site is looked up and
the contention counted as the event path would.

What it counts is the one hold model's rules (``_core.holds``), inlined: a hold begins at the
acquire that takes the lock (an RLock's outermost), ends at the release that frees it, and a
Condition's wait cuts it in two (``park``/``unpark`` below); ``tests/test_lean.py`` pins its
figures to the event path's, which goes through the model, on the same program.

The figures are the event path's, with two differences, both for acquisitions that did not
wait: they count for their primitive, not for their call site (per-site figures cover what
waited, timed out or failed, where the report looks), and they are not checked for a change
of owner (``owner_changes`` counts the hand-offs to a waiting thread). The fast paths are in
the proxies (``_locks``), inline: a function call would cost more than everything they do.

The class-based primitives (Condition, Semaphore, BoundedSemaphore, Event, the queues) count in
place too, in their wrappers (``_conditions``, ``_queues``): see below. The same two
differences hold for them, and two more: a queue's ``max_size`` is read just after each lean
put, outside the queue's lock (by a put done in place, ``_ownsteps``, under it), and operations
made inside another primitive's methods that did not wait (a Queue subclass's ``_put`` setting
an Event) are counted where the event path, busy with the outer operation, leaves them out
(inside one that waited, both leave them out); the library's own (``include_library``) stay out
on both paths. Condition, Event and Barrier waits that block, and a queue's put or get that has
to wait (``_queuelean.lean_wait``), are counted in place too, when they end (see "waits that
block" below); ``Queue.join``, ``shutdown`` and Barrier's ``abort``/``reset`` always take the
event path: they are rare.
"""

from __future__ import annotations

from _thread import get_ident
from collections.abc import Callable
from types import FrameType

from .._core.dispatch import guard, hidden
from .._core.event import Op, Outcome, Primitive, SyncEvent, perf_counter_ns, tries_only, wait_limit
from .._core.leanholds import (
    ThreadHolds,
    local,
    permit_holders,
    place_of,
    rechain,
    seen_chains,
    this_thread,
    unlink,
)
from .._core.registry import allocate_rlock
from .._core.sites import PAST_OUR_CALLER, call_site, creator_frame, past_machinery
from .._core.state import state
from .._core.tally import Tally, TallyBook, count_contended, site_tally
from .._core.timeouts import NO_TIMEOUT, attempt_first, no_time_limit
from .._core.tracking import Watch
from .gil import acquire_contended
from .interrupts import take


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.state import LeanLines

    #: What :func:`park` hands back for a hold it stopped: where the hold was taken (the
    #: code and instruction), which other threads' acquires overwrite while it waits.
    Parked = tuple[Any, int]


def adopt(proxy: Any, stats: TallyBook) -> Tally:
    """Point ``proxy`` at its tally in ``stats`` (its first operation under them)."""
    tally = stats.tally(proxy._syncscope_primitive)
    proxy._syncscope_tally = tally
    return tally


def acquire_slowly(proxy: Any, tally: Tally, blocking: Any, timeout: Any) -> Any:
    """
    An acquire that may wait (or that was given a timeout): acquire as asked, and count the
    wait, the timeout or the failure at the caller's site; with the lines, say each. Each
    line comes before what a Ctrl-C in it would leave half done (a hold, a wait announced).
    """
    lock = proxy._syncscope_lock
    lines = state.lines
    unlimited = timeout is NO_TIMEOUT or no_time_limit(timeout)
    if not unlimited and not attempt_first(blocking, timeout):
        return _acquire_as_asked(proxy, tally, lines, blocking, timeout)
    # A trylock or a timed acquire cannot deadlock for ever: no lock order (see _lockorder).
    ordered = bool(blocking) and unlimited
    got = False
    try:  # from each acquire on, a signal handler's exception: acquire() raises, lock free
        for got in proxy._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
            break
        if got:
            if lines is not None:
                lines.acquired(proxy)
            _acquired(proxy, tally, None, ordered)
            return True
        if tries_only(blocking, timeout):  # acquire(timeout=0) is the trylock just made
            return trylock_failed(proxy, tally)
        where = call_site()
        site = site_tally(tally, where)
        primitive = proxy._syncscope_primitive
        limit = wait_limit(blocking, timeout)
        if lines is not None:
            lines.line(primitive, "acquire", "waiting", site=where)
        diagnosis = state.diagnosis
        start = perf_counter_ns()  # first: a Ctrl-C at it leaves no wait begun
        wait = diagnosis.wait_begins(primitive, where, limit, proxy) if diagnosis else None
        try:
            got = acquire_contended(lock, timeout)
        except BaseException as exc:
            if lines is not None:
                lines.said(
                    SyncEvent(primitive, "acquire", "error", where, timeout=limit, error=exc)
                )
            raise
        finally:
            waited = perf_counter_ns() - start
            if wait is not None:
                diagnosis.wait_ends(wait, got, waited)  # type: ignore[union-attr]
        if got:
            if lines is not None:
                depth = lock._recursion_count() if proxy._reentrant else None
                lines.line(primitive, "acquire", "acquired", depth, waited=waited, site=where)
            _acquired(proxy, tally, site, ordered)
            count_contended(tally, site, waited)
            tally.owner_changes += 1  # it waited for another thread: a hand-off
    except BaseException:
        if got:
            try:
                forget_hold(proxy)  # first: no other thread's hold begins meanwhile
            finally:
                lock.release()
        raise
    if not got:
        tally.timeouts += 1
        site.timeouts += 1
        count_contended(tally, site, waited)
        if lines is not None:
            lines.line(primitive, "acquire", "timeout", waited=waited, site=where)
    return got


def trylock_failed(proxy: Any, tally: Tally) -> bool:
    """
    A trylock whose one attempt found the lock taken: counted as failed at the caller's
    site, and said with the lines ("busy"). Returns False, the call's answer. The proxies'
    fast paths call it after their attempt, so that no second one is made, which could
    succeed where the call failed.
    """
    where = call_site()
    site = site_tally(tally, where)
    tally.failed += 1
    site.failed += 1
    lines = state.lines
    if lines is not None:
        lines.line(proxy._syncscope_primitive, "acquire", "busy", site=where)
    return False


def _acquire_as_asked(
    proxy: Any, tally: Tally, lines: LeanLines | None, blocking: Any, timeout: Any
) -> Any:
    """
    An acquire whose timeout a trylock cannot be tried before (one the real acquire
    refuses, or out of its range): made as asked, counted as the event path's statistics
    count its events (the time it took as a wait, whatever it was), and said with the
    lines. No lock order: it has a time limit, or raises.
    """
    lock = proxy._syncscope_lock
    primitive = proxy._syncscope_primitive
    where = call_site()
    site = site_tally(tally, where)
    limit = wait_limit(blocking, timeout)
    start = perf_counter_ns()
    got = False
    try:  # from the acquire on, a signal handler's exception: acquire() raises, lock free
        try:
            got = take(lock, blocking, timeout)
        except BaseException as exc:
            tally.errors += 1
            if lines is not None:
                lines.said(
                    SyncEvent(primitive, "acquire", "error", where, timeout=limit, error=exc)
                )
            raise
        waited = perf_counter_ns() - start if blocking else None
        if got:
            if lines is not None:  # first: a Ctrl-C in it leaves no hold
                depth = lock._recursion_count() if proxy._reentrant else None
                lines.line(primitive, "acquire", "acquired", depth, waited=waited, site=where)
            _acquired(proxy, tally, site, False)
            if waited is not None:
                count_contended(tally, site, waited)
            return True
    except BaseException:
        if got:
            try:
                forget_hold(proxy)
            finally:
                lock.release()
        raise
    if waited is not None:
        tally.timeouts += 1
        site.timeouts += 1
        count_contended(tally, site, waited)
    else:
        tally.failed += 1
        site.failed += 1
    if lines is not None:
        outcome: Outcome = "timeout" if blocking else "busy"
        lines.line(primitive, "acquire", outcome, waited=waited, site=where)
    return False


def _acquired(proxy: Any, tally: Tally, site: Tally | None, ordered: bool) -> None:
    if not proxy._syncscope_since:  # an RLock's outermost acquire, or any Lock's
        proxy._syncscope_since = perf_counter_ns()
        if state.diagnosis is not None:
            # Where it was taken: from 5 frames up, all ours, past threading's (a Condition's).
            frame = past_machinery(creator_frame(5))
            if frame is None:  # nowhere, not where it was taken last: no caller of the program's
                proxy._syncscope_code = None
            else:
                proxy._syncscope_code, proxy._syncscope_lasti = frame.f_code, frame.f_lasti
            push(proxy, ordered)
    tally.acquisitions += 1
    if site is not None:
        site.acquisitions += 1


def hold_ended(proxy: Any) -> None:
    """
    Count the hold of ``proxy`` that ends now, if lean statistics stamped its beginning.
    Called while the lock is still held, so that no other thread's hold begins meanwhile.
    """
    since = proxy._syncscope_since
    if not since:
        return
    held = perf_counter_ns() - since
    proxy._syncscope_since = 0
    holds = proxy._syncscope_holder
    if holds is not None:
        if holds.top is proxy and holds.ident == get_ident():  # pop(), its common case
            proxy._syncscope_holder = None
            holds.top = proxy._syncscope_below
            proxy._syncscope_below = None
        else:
            pop(proxy)
    tally = proxy._syncscope_tally
    if tally is not None:
        tally.holds += 1
        tally.hold_total += held
        if held > tally.hold_max:
            tally.hold_max = held
            if holds is not None:  # a lean hold knows where it was taken
                longest_hold(proxy, tally, held, holds)


def longest_hold(proxy: Any, tally: Tally, held: int, holds: ThreadHolds) -> None:
    """A lean hold (which knows where it was taken) as long as the longest: tell the book."""
    book = tally.owner
    if book is not None:
        place = place_of(proxy._syncscope_code, proxy._syncscope_lasti)  # see place_of
        book.longest_hold(proxy._syncscope_primitive, held, holds.thread_name(), place)


def park(lock: Any, stats: TallyBook | None) -> Parked | None:
    """
    A Condition on ``lock`` starts waiting: its lock's hold stops, to resume on
    :func:`unpark`. Where the stopped hold was taken, or None when there was none.
    """
    if stats is not None and getattr(lock, "_syncscope_since", None):
        parked = (lock._syncscope_code, lock._syncscope_lasti)
        hold_ended(lock)
        return parked
    return None


def unpark(lock: Any, stats: TallyBook | None, parked: Parked | None) -> None:
    """
    The hold :func:`park` stopped (``parked``) resumes, where it was taken (the notifier
    took the lock meanwhile, at its own line). Not a hold never parked (a wait on a lock not
    held), nor one taken again meanwhile (by a predicate, with the RLock): each was pushed a
    second time, and its thread's chain looped on itself (a release then walked it for ever).
    """
    if parked is None or stats is None or not hasattr(lock, "_syncscope_since"):
        return
    if lock._syncscope_since or lock._syncscope_holder is not None:
        return  # on again already
    lock._syncscope_since = perf_counter_ns()
    lock._syncscope_code, lock._syncscope_lasti = parked
    if state.diagnosis is not None:
        push(lock, False)  # taken back where it was first taken


def parked_to_wait(proxy: Any) -> Parked | None:
    """
    A Condition gives ``proxy`` up to wait (its ``_release_save``): the proxy's lean hold
    parked here (see :func:`park`), to resume when the lock is taken back, or None. The wait
    wrapper parks it first (then nothing is left to park here), but not a wait it does not
    see: one under the guard, as in an Event's wait with ``--all``. Left held, the hold was
    still on its thread's chain while another thread took the lock: the chain came apart (a
    hold never given back, an inversion where there was none, a chain looping on itself,
    walked at every acquire).
    """
    return park(proxy, state.lean)


# -- lean holds: the chain of each thread's holds (see _core/leanholds) -----------------------


def push(proxy: Any, ordered: bool) -> None:
    """
    The calling thread now holds ``proxy``, whose place the caller noted: on top of its chain.
    ``ordered``: a blocking acquire with no time limit, whose order counts. The proxies' fast
    paths do the same, written out.
    """
    holds = local.holds or this_thread()
    below = proxy._syncscope_below = holds.top
    holds.top = proxy
    proxy._syncscope_holder = holds
    if below is not None:
        nested(proxy, below, ordered)


def nested(proxy: Any, below: Any, ordered: bool) -> None:
    """
    ``proxy`` was pushed on ``below``: its chain's key, checked for order unless among the
    chains seen (a pair of one place is not kept there at once: see ``LeanChecks.new_pair``).
    """
    holds = proxy._syncscope_holder
    if holds is not None and holds.stale:  # a hold below was taken out (see unlink)
        holds.stale = False
        rechain(holds)
        chain = proxy._syncscope_chain
    elif below._syncscope_below is None:
        # A chain's key: the ids of the primitives in it, oldest first, as nested pairs.
        first, then = below._syncscope_primitive, proxy._syncscope_primitive
        chain = proxy._syncscope_chain = (first.id, then.id)
        if not ordered:
            return
        diagnosis = state.diagnosis
        if diagnosis is None:
            return
        if first.line == then.line and first.file == then.file and first.column == then.column:
            # Two locks made at one place (a lock per object): most often a pair never seen
            # before, which the order check's own memory of pairs answers. Once it remembers
            # no more, a pair neither remembered nor reversed there (most pairs of such a
            # program) asks nothing: read here, without a call (about 2,000 instructions
            # fewer a pair; ``LockOrder.wants_same_class`` says the same), and before the
            # chains seen, which then answer nothing more (a lookup fewer a pair).
            order = diagnosis.lockorder
            full = None if order is None else order.full_pairs
            if full is not None and chain not in full and (chain[1], chain[0]) not in full:
                event_held = diagnosis.event_held  # most often empty: no call then
                if holds is None or not event_held or not event_held.get(holds.ident):
                    return
            if chain not in seen_chains:
                diagnosis.new_pair(proxy, below, chain)
        elif chain not in seen_chains:
            diagnosis.new_chain(proxy, chain)
        return
    else:
        chain = proxy._syncscope_chain = (below._syncscope_chain, proxy._syncscope_primitive.id)
    if ordered and chain not in seen_chains:
        diagnosis = state.diagnosis
        if diagnosis is not None:
            diagnosis.new_chain(proxy, chain)


def pop(proxy: Any) -> None:
    """``proxy``'s hold ends: out of its holder's chain (a release, or a Condition's wait). The
    holder is forgotten last: a Ctrl-C in the walk leaves it for ``forget_hold``."""
    holds = proxy._syncscope_holder
    if holds is None:
        return
    if holds.top is proxy:
        holds.top = proxy._syncscope_below
    else:
        unlink(proxy, holds)
    proxy._syncscope_below = proxy._syncscope_holder = None
    if holds.ident != get_ident():
        handed_off(proxy)


def handed_off(proxy: Any) -> None:
    """A thread released a Lock another took: a signal, not a mutex (see _core.holds)."""
    diagnosis = state.diagnosis
    if diagnosis is not None:
        diagnosis.handed_off(proxy._syncscope_primitive)


def forget_hold(proxy: Any) -> None:
    """
    A Ctrl-C came as a hold of ``proxy`` was noted, and the caller releases the lock next: the
    hold (not its acquire) goes uncounted, stamp and chain forgotten; not an RLock's inner one.
    """
    if proxy._reentrant and proxy._syncscope_lock._recursion_count() != 1:
        return
    proxy._syncscope_since = 0
    if proxy._syncscope_holder is not None:
        pop(proxy)


# -- the class-based primitives ----------------------------------------------------------------
#
# Condition, Semaphore, Event and the queues keep their tally in their tracking entry (a
# Watch): their wrappers (``_conditions``, ``_queues``) count an operation that does not wait
# there, in place, and send a queue operation that fails down the event path, which the
# statistics count from the events as before. Each fast path is a non-blocking attempt (a
# trylock, a put or get with block=False, a wait that finds the event set): it cannot wait
# unseen. Waits for a signal (Condition, Event, Barrier, and a queue's put or get that must
# wait for room or an item, ``_queuelean.lean_wait``) stay off the event path too: see the last
# section; with the checks on, each is announced to the watchdog before it blocks.
#
# Semaphores are the exception: their permits are holds, counted here by the hold model's rules
# (``Holds.returned``, written for lean counting), so even their waits stay off the event path
# while the statistics are lean: an acquire that waited is counted at its call site as a
# lock's is. With the checks on (``state.diagnosis``), a permit also notes its taker and where
# it was taken, for the watchdog (``permit_held``), a wait is announced to it, and an Event,
# Condition or queue operation done in place is told to the hang check
# (``state.diagnosis.touched``, straight from the wrapper: one call), whose evidence is what
# happened last to each of them; a set, clear or notify gives its caller's frame.

#: Reentrant: the program's code may run inside (a profile function, a signal handler, a
#: finalizer as the tally is made) and make the first operation on another primitive.
_adopting = allocate_rlock()


def adopt_watch(entry: Watch, stats: TallyBook) -> Tally:
    """Point ``entry`` at its tally in ``stats`` (its first operation under them)."""
    with _adopting:  # two threads' first operations at once: one tally, no permit forgotten
        tally = entry.tally
        if tally is None or tally.owner is not stats:
            tally = stats.tally(entry.primitive)
            # Permits taken before these statistics began are not theirs to count (the event
            # path's holds of an earlier recording are not either).
            entry.permits = []
            entry.tally = tally
        return tally


def permit_taken(entry: Watch, tally: Tally, site: Tally | None = None) -> None:
    """A semaphore's acquire got a permit: a hold of the calling thread begins."""
    if state.diagnosis is None:
        entry.permits.append((get_ident(), perf_counter_ns()))
    else:
        permit_held(entry, creator_frame(1))
    tally.acquisitions += 1
    if site is not None:
        site.acquisitions += 1


def permit_held(entry: Watch, frame: FrameType | None) -> None:
    """
    With the checks on, a permit is a hold the watchdog reads (see ``Holds.snapshot``): it
    notes where it was taken, and the semaphore is listed where the watchdog looks.
    """
    code, lasti = (frame.f_code, frame.f_lasti) if frame is not None else (None, 0)
    # The taker's ThreadHolds, which knows when it has exited (its ident may be reused).
    holds = local.holds or this_thread()
    entry.permits.append((holds.ident, perf_counter_ns(), code, lasti, holds))  # type: ignore[arg-type]
    permit_holders[id(entry)] = entry


def signalled(entry: Watch) -> None:
    """A release that gives back no permit of the caller's: the semaphore is a signal."""
    diagnosis = state.diagnosis
    if diagnosis is not None:
        diagnosis.handed_off(entry.primitive)


def permits_returned(entry: Watch, tally: Tally, n: Any) -> None:
    """
    A semaphore's ``release(n)``, before the real one: end the holds it gives back, by the hold
    model's rules (``Holds.returned``): the caller's newest permit for each, else (a release for
    another thread) the oldest one; none when no permit is out (the semaphore signals).
    """
    permits = entry.permits
    ident = get_ident()
    now = perf_counter_ns()
    while n > 0 and permits:
        try:
            mine = permits[-1]  # mostly: the caller's own, taken last
        except IndexError:  # given back meanwhile by another thread
            return
        if mine[0] != ident:
            for permit in reversed(permits):
                if permit[0] == ident:
                    mine = permit
                    break
            else:  # none of the caller's: a release for another thread, the oldest permit
                signalled(entry)
                try:
                    mine = permits[0]
                except IndexError:
                    return
        try:
            permits.remove(mine)
        except ValueError:  # another thread's release for us took it first: look again
            continue
        n -= 1
        held = now - mine[1]
        tally.holds += 1
        tally.hold_total += held
        if held > tally.hold_max:
            tally.hold_max = held


def semaphore_acquire_slowly(
    sem: Any,
    entry: Watch,
    tally: Tally,
    acquire: Callable[..., Any],
    release: Callable[..., Any],
    blocking: Any,
    timeout: Any,
) -> Any:
    """
    A semaphore's acquire whose attempt to take a permit at once failed, or a non-blocking one
    given a timeout (the real acquire raises): acquire as asked, and count the wait, the
    timeout, the failure or the error at the caller's site, as the event path's statistics do.
    """
    where = call_site()
    site = site_tally(tally, where)
    primitive = entry.primitive
    lines = state.lines
    limit = wait_limit(blocking, timeout)
    # The attempt was the whole call: acquire(False), or acquire(timeout=0), which never waits
    # (acquire(False, timeout) raises, below).
    if tries_only(blocking, timeout) and (blocking or timeout is None):
        tally.failed += 1
        site.failed += 1
        if lines is not None:
            lines.line(primitive, "acquire", "busy", site=where)
        return False
    if lines is not None and blocking:  # first: a Ctrl-C in it leaves no wait announced
        lines.line(primitive, "acquire", "waiting", site=where)
    diagnosis = state.diagnosis
    start = perf_counter_ns()  # first: a Ctrl-C at it leaves no wait begun
    wait = (
        diagnosis.wait_begins(primitive, where, limit, None)
        if diagnosis is not None and blocking
        else None
    )
    guard.busy = True  # the semaphore's own Condition is not the user's business
    got = False
    try:
        got = acquire(sem, blocking, timeout)
    except BaseException as exc:
        tally.errors += 1
        if lines is not None:  # a blocking acquire's error says how long it waited
            waited_ns = perf_counter_ns() - start if blocking else None
            lines.said(SyncEvent(primitive, "acquire", "error", where, waited_ns, error=exc))
        raise
    finally:
        guard.busy = False
        waited = perf_counter_ns() - start
        if wait is not None:
            diagnosis.wait_ends(wait, got, waited)  # type: ignore[union-attr]
    if got:
        try:
            if lines is not None:  # first: a Ctrl-C in it leaves no permit counted
                lines.line(primitive, "acquire", "acquired", waited=waited, site=where)
            permit_taken(entry, tally, site)
        except BaseException:  # a signal handler's exception: acquire() raises, permit back
            hidden(release, sem)  # unseen, as it was taken
            raise
        if blocking:
            count_contended(tally, site, waited)
            tally.owner_changes += 1  # it waited for another thread's release: a hand-off
    elif blocking:
        tally.timeouts += 1
        site.timeouts += 1
        count_contended(tally, site, waited)
        if lines is not None:
            lines.line(primitive, "acquire", "timeout", waited=waited, site=where)
    else:
        tally.failed += 1
        site.failed += 1
        if lines is not None:
            lines.line(primitive, "acquire", "busy", site=where)
    return got


# -- waits that block: Barrier, Condition and Event waits --------------------------------------
#
# They wait for a signal, not for a holder: no hold begins, so they are counted here in one go
# when they end, as the statistics count their "wait" events (``waits``, ``wait_timeouts``,
# ``broken``, ``errors``, the time waited); what waited, timed out or failed also at its call
# site, looked up once. With the checks on, a wait is announced to the watchdog first (its
# "waiting"), and its end told to the hang check (``touched``), as its events would.


def signal_wait(
    primitive: Primitive,
    tally: Tally,
    op: Op,
    call: Callable[..., Any],
    args: tuple[Any, ...],
    timeout: Any,
) -> Any:
    """
    A Condition or Event wait (``op``: "wait" or "wait_for"): ``call(*args)``, with nothing it
    does counted (the event path's ``blocking_call``), and its wait counted at the caller's site.
    ``timeout`` is the wait's, as given: how long it may last, told to the checks if they listen.
    """
    where = call_site(PAST_OUR_CALLER)  # this function's caller is a wrapper
    site = site_tally(tally, where)
    diagnosis = state.diagnosis
    # Before any line; None (for ever) at once, as wait_limit says of it.
    limit = None if diagnosis is None or timeout is None else wait_limit(True, timeout)
    lines = state.lines
    if lines is not None:  # first: a Ctrl-C in it leaves no wait announced
        lines.line(primitive, op, "waiting", site=where)
    start = perf_counter_ns()  # first: a Ctrl-C at it leaves no wait begun
    wait = diagnosis.wait_begins(primitive, where, limit, None, op) if diagnosis else None
    guard.busy = True
    try:
        result = call(*args)
    except BaseException as exc:
        guard.busy = False
        waited = perf_counter_ns() - start
        wait_ended(primitive, tally, site, op, "error", waited, wait)
        if lines is not None:
            lines.said(SyncEvent(primitive, op, "error", where, waited, error=exc))
        raise
    guard.busy = False
    waited = perf_counter_ns() - start
    outcome: Outcome = "woken" if result else "timeout"
    wait_ended(primitive, tally, site, op, outcome, waited, wait)
    if lines is not None:
        lines.line(primitive, op, outcome, waited=waited, site=where)
    return result


def wait_ended(
    primitive: Primitive,
    tally: Tally,
    site: Tally | None,
    op: Op,
    outcome: Outcome,
    waited: int,
    wait: Any,
) -> None:
    """
    A wait for a signal counted in ``tally`` (and ``site``, if given) as it ended; ``wait``:
    what the watchdog was told when it began, or None when it was not (told of it now).
    """
    tally.waits += 1
    if waited:
        tally.waited_total += waited
        if waited > tally.waited_max:
            tally.waited_max = waited
    if outcome == "timeout":
        tally.wait_timeouts += 1
    elif outcome == "broken":
        tally.broken += 1
    elif outcome == "error":
        tally.errors += 1
    if site is not None:
        site.waits += 1
        if outcome == "timeout":
            site.wait_timeouts += 1
        if waited:
            site.waited_total += waited
            if waited > site.waited_max:
                site.waited_max = waited
    diagnosis = state.diagnosis
    if diagnosis is not None:
        if wait is not None:
            diagnosis.signal_ended(wait, outcome)
        else:  # the checks began during the wait
            diagnosis.touched(primitive, op, outcome)
