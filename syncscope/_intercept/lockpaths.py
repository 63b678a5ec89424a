"""
The paths a Lock or RLock proxy takes when something listens other than the lean statistics:
the event path (an event per operation, for every sink) and, when the span sink alone
listens, the record path (a record per uncontended operation, see ``_core/state.Records``).
"""

from __future__ import annotations

import sys
import time

from .._core.context import current_parent, following
from .._core.dispatch import emit_fresh, guard
from .._core.event import (
    Outcome,
    Primitive,
    SyncEvent,
    perf_counter_ns,
    tries_only,
    wait_limit,
)
from .._core.leanholds import MAX_USES, OpUses, ThreadHolds, Uses, this_thread
from .._core.leanholds import local as lean_local
from .._core.sites import PAST_OUR_CALLER, _machinery_files, call_site, past_machinery
from .._core.state import (
    BUSY,
    RECORD_ACQUIRED,
    RECORD_BUSY,
    RECORD_RELEASED,
    WANTED,
    Records,
    state,
)
from .._core.timeouts import NO_TIMEOUT, attempt_first
from .gil import acquire_contended
from .interrupts import NOT_YET, owned_items, take
from .lean import acquire_slowly, adopt, pop


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.tally import Tally, TallyBook


_getframe = sys._getframe
_time_ns = time.time_ns


def first_tally(proxy: Any, stats: TallyBook) -> Tally | None:
    """
    The tally a lock proxy's fast path counts into at its first operation under ``stats``,
    adopted there: a first acquire (one a lock, where a program makes a lock per object)
    then takes the fast path, as the next do. None for one inside another operation, and,
    where holds are placed (the diagnosis), for one called by threading's, queue's or
    syncscope's own code (a Thread's target, a Barrier's action): the slow path places it
    past them.
    """
    if (proxy._syncscope_library or state.lines is not None) and guard.busy:
        return None
    if state.diagnosis is not None:
        try:
            caller = _getframe(2)  # this, the proxy's method, its caller
        except ValueError:  # called from C: no caller to place it at either way
            return adopt(proxy, stats)
        if past_machinery(caller) is not caller:
            return None
    return adopt(proxy, stats)


def slow_acquire(proxy: Any, blocking: Any, timeout: Any) -> Any:
    """
    A proxy's acquire past its fast paths: one to count as lean statistics do when they may
    wait, or one to report as events. Called by the proxies' ``acquire`` and ``__enter__``
    alone: a lean first acquire looks for their caller from 5 frames up (``lean._acquired``:
    creator_frame, _acquired, acquire_slowly, this, the proxy's method; walking up through
    them one at a time made a frame object of each).
    """
    stats = state.lean
    if stats is not None:
        # Part of another operation (hidden inside it, as on the event path, for a library's
        # lock, and with the lines for any: the lean fast paths skip the thread-local read).
        if (proxy._syncscope_library or state.lines is not None) and guard.busy:
            return take(proxy._syncscope_lock, blocking, timeout)
        tally = proxy._syncscope_tally
        if tally is None or tally.owner is not stats:
            tally = adopt(proxy, stats)
        return acquire_slowly(proxy, tally, blocking, timeout)
    if not state.active or guard.busy:
        return take(proxy._syncscope_lock, blocking, timeout)
    return observed_acquire(
        proxy._syncscope_lock, proxy._syncscope_primitive, proxy._reentrant, blocking, timeout
    )


def reported_release(proxy: Any) -> None:
    """
    A proxy's release to report as an event. Whether this thread may release comes as an
    item, and the release is said in a ``try`` whose ``finally`` releases (see _interrupts).
    """
    items = proxy._syncscope_owned
    if items is NOT_YET:
        items = owned_items(proxy)
    for owned in items:  # noqa: B007 (one item: see _interrupts)
        break
    if owned:
        try:
            said_released(proxy, proxy._reentrant, 4)  # call_site, it, this, release, caller
        finally:
            proxy._syncscope_lock.release()
        return None
    return refused_release(proxy)


def observed_acquire(
    lock: Any, primitive: Primitive, reentrant: bool, blocking: Any, timeout: Any
) -> Any:
    site = call_site(4)  # call_site, this, slow_acquire, acquire or __enter__, the caller
    # The usual call, acquire() or `with`, decided without a call; any other by the helpers.
    plain = blocking is True and timeout is NO_TIMEOUT
    limit = None if plain else wait_limit(blocking, timeout)
    waited = None
    got = False
    # The events are made with their fields in order: positional arguments cost less. The
    # guard is down here (see slow_acquire), so the events go out with emit_fresh.
    try:
        if plain or attempt_first(blocking, timeout):
            got = take(lock, False)
            # acquire(False), acquire(timeout=0) wait for nothing: the attempt was the call.
            if not got and (plain or not tries_only(blocking, timeout)):
                emit_fresh(SyncEvent(primitive, "acquire", "waiting", site, None, limit))
                start = perf_counter_ns()
                got = acquire_contended(lock, timeout)
                waited = perf_counter_ns() - start
        else:
            start = perf_counter_ns()
            got = take(lock, blocking, timeout)
            if blocking:
                waited = perf_counter_ns() - start
        if got:
            depth = lock._recursion_count() if reentrant else None
            emit_fresh(SyncEvent(primitive, "acquire", "acquired", site, waited, limit, depth))
    except BaseException as exc:
        if got:
            # An exception in our code after the real acquire (a signal handler's): the
            # caller sees acquire() raise, so it must not be left holding the lock.
            lock.release()
        else:
            emit_fresh(SyncEvent(primitive, "acquire", "error", site, timeout=limit, error=exc))
        raise
    if not got:
        outcome: Outcome = "busy" if tries_only(blocking, timeout) else "timeout"
        emit_fresh(SyncEvent(primitive, "acquire", outcome, site, waited, limit))
    return got


def refused_release(proxy: Any) -> None:
    """
    A release by a thread that may not release: the real one raises RuntimeError, reported
    as such, not as a release.
    """
    site = call_site(4)  # call_site, this, the release path, release or __exit__, its caller
    try:
        proxy._syncscope_lock.release()
    except BaseException as exc:
        emit_fresh(SyncEvent(proxy._syncscope_primitive, "release", "error", site, error=exc))
        raise


def said_released(proxy: Any, reentrant: bool, depth: int) -> None:
    """
    The release event of a release the thread may make, said before the real one (or another
    thread's "acquired" could come first), which the caller makes whatever happens here (a
    Ctrl-C in our code must not leave the lock held). ``depth``: ``call_site``'s, from here.
    """
    site = call_site(depth)
    held = proxy._syncscope_lock._recursion_count() - 1 if reentrant else None
    if not held:
        proxy._syncscope_since = 0  # a hold lean statistics began ends unseen by them
        if proxy._syncscope_holder is not None:
            pop(proxy)
    emit_fresh(SyncEvent(proxy._syncscope_primitive, "release", "released", site, None, None, held))


def said_release(proxy: Any) -> None:
    """
    A release on the lean path with the lines listening (``state.lines``): its line, then the
    real release, whatever happens meanwhile (see said_released). One that raises (not the
    owner's) is an event, as it is without the lean path; a lock released inside another
    operation (a library's with ``--all``, a program's in a queue subclass's ``_qsize``) is
    released unseen, as it was taken.
    """
    lock = proxy._syncscope_lock
    lines = state.lines
    if lines is None or guard.busy:  # inside another operation: taken unseen (see _Proxy)
        return lock.release()  # type: ignore[no-any-return]
    items = proxy._syncscope_owned
    if items is NOT_YET:
        items = owned_items(proxy)
    for owned in items:  # noqa: B007 (one item: see _interrupts)
        break
    if owned:
        try:
            depth = lock._recursion_count() - 1 if proxy._reentrant else None
            lines.line(proxy._syncscope_primitive, "release", "released", depth)
        finally:
            lock.release()
        return None
    return refused_release(proxy)


# -- the record path: the span sink alone listens (state.records) -----------------------------
#
# An acquire that takes the lock at its first attempt (blocking or not, with a time limit or
# without), a trylock that finds it taken, and a release by the owner only append a record
# to the span sink's ordered buffer (see _core/state.Records): the sink's worker makes the
# event of it. An acquire's record goes in after the real acquire, a release's before the
# real release, so the buffer has the holds in the order they happened. Everything else (an
# acquire that has to wait, arguments the real acquire refuses, a release that raises, an
# operation under a span of the program's own, a buffer the worker has let fill up) takes
# the event path, into the same buffer. A program that polls with acquire(False) made an
# event on its own thread at each attempt, 4-5 us, and ran 32x plain.


def program_span() -> bool:
    """Whether the program has a current span of its own here (our spans go under it then)."""
    return current_parent() is not None


def recorded_acquire(proxy: Any, records: Records, blocking: Any, timeout: Any) -> Any:
    buffer = records.buffer
    count = len(buffer)
    lock = proxy._syncscope_lock
    got = tried = False
    if (
        (timeout is NO_TIMEOUT or attempt_first(blocking, timeout))  # the first: no call
        and count < records.capacity
        and not (following.reader is not None and program_span())
    ):
        tried = True
        for got in proxy._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
            break
    if not got:
        trylock = tried and tries_only(blocking, timeout)  # that attempt was the whole call
        counted = records.counted
        # Whoever holds it now: its hold goes in first. Not for a trylock counted in place:
        # nothing links to it, and each would make a span of a hold counted in place.
        if counted is not None and not (trylock and records.counting):
            records.claim(proxy._syncscope_primitive, waits=True)
        if count >= records.capacity and counted is not None:
            records.counting = True  # the worker is behind: count uses in place from now on
        if trylock:
            return busy(proxy, records)
        return observed_acquire(
            lock, proxy._syncscope_primitive, proxy._reentrant, blocking, timeout
        )
    try:
        # The caller of acquire or __enter__; None where it was called from C at the bottom
        # of a thread (_getframe(2) would raise there).
        frame = _getframe(1).f_back
        if frame is not None and _machinery_files.get(frame.f_code.co_filename) is False:
            where: Any = frame.f_code
            lasti = frame.f_lasti
        else:  # threading's own code (a Condition's __enter__), or a file not seen yet
            where = call_site(PAST_OUR_CALLER)
            lasti = -1
        if records.taken:  # an RLock re-entered while its hold is counted: that goes first
            records.claim(proxy._syncscope_primitive)
        buffer.append(
            (
                lean_local.holds or this_thread(),
                proxy,
                RECORD_ACQUIRED,
                _time_ns(),
                where,
                lasti,
                lock._recursion_count() if proxy._reentrant else None,
            )
        )
        if not (count + 1) % records.ring_at:
            records.ring()
        records.budget -= 2  # a use is two spans; not exact between threads: it says when
        if records.budget <= 0 and records.counted is not None:
            records.counting = True  # the allowance is spent: count uses in place from now on
    except BaseException:  # a signal handler's exception: acquire() raises, lock free
        lock.release()
        raise
    return True


def busy(proxy: Any, records: Records) -> bool:
    """
    A trylock that found the lock taken, on the record path: a record, which the worker makes
    the "busy" event of (a span of its own, as on the event path). Under pressure (past the
    allowance of spans, or the worker behind), counted in place and summed up instead
    ("Lock.acquire lock x 1,234, found busy"), as operations nobody waited on are: a program
    polling locks fails thousands of trylocks a second, and as spans they were dropped once
    the worker fell behind, the sink only told so after the fact. Returns False, the call's
    answer.
    """
    if records.counting and records.counted is not None:
        # count_op's _first, count_op, this, recorded_acquire, acquire, the caller.
        count_op(proxy._syncscope_primitive, BUSY, records, site_depth=5)
        return False
    buffer = records.buffer
    where, lasti = record_site(3)  # this, recorded_acquire, acquire, the caller
    holds = lean_local.holds or this_thread()
    buffer.append((holds, proxy, RECORD_BUSY, _time_ns(), where, lasti, None))
    if not len(buffer) % records.ring_at:
        records.ring()
    return False


def record_site(depth: int) -> tuple[Any, int]:
    """
    Where the frame ``depth`` frames above the caller of this is, as a record has it: its
    code and instruction; or, for the standard library's own code, a file not seen yet, or
    no frame at all (the operation called from C, a thread's target), its call site and -1.
    """
    try:
        frame = _getframe(depth + 1)
    except ValueError:
        frame = None
    if frame is not None and _machinery_files.get(frame.f_code.co_filename) is False:
        return frame.f_code, frame.f_lasti
    return call_site(depth + 2), -1


def recorded_release(proxy: Any, records: Records) -> None:
    lock = proxy._syncscope_lock
    reentrant = proxy._reentrant
    items = proxy._syncscope_owned
    if items is NOT_YET:
        items = owned_items(proxy)
    for owned in items:  # noqa: B007 (one item: see _interrupts)
        break
    if not owned:  # the real release raises: an event
        return refused_release(proxy)
    try:  # recorded before the real release, which happens whatever happens meanwhile
        taken = records.taken
        prim = proxy._syncscope_primitive
        # Subscripts, no call in between: another thread's release of a Lock gets no KeyError.
        if taken and prim in taken and taken[prim] is WANTED:
            del taken[prim]  # this hold was recorded: nothing is wanted
        buffer = records.buffer
        count = len(buffer)
        if count >= records.capacity or (following.reader is not None and program_span()):
            said_released(proxy, reentrant, 4)  # an event: the buffer is full, or in a span
            return None
        frame = _getframe(1).f_back  # release's or __exit__'s caller (None: C, a thread's bottom)
        if frame is not None and _machinery_files.get(frame.f_code.co_filename) is False:
            where: Any = frame.f_code
            lasti = frame.f_lasti
        else:
            where = call_site(PAST_OUR_CALLER)
            lasti = -1
        buffer.append(
            (
                lean_local.holds or this_thread(),
                proxy,
                RECORD_RELEASED,
                _time_ns(),
                where,
                lasti,
                lock._recursion_count() - 1 if reentrant else None,
            )
        )
        if not (count + 1) % records.ring_at:
            records.ring()
    finally:
        lock.release()
    return None


# -- uses counted in place: the record path under pressure (Records.counting) ------------------
#
# A use of a lock that nobody waits for records nothing: its acquire's record waits in
# ``Records.taken`` and its owner's release counts the use in the thread's ``Uses``. Whatever
# else happens to the lock first takes the record out into the buffer (``claim``), and the
# use goes on as a recorded one. The proxies call these first, and take their usual path
# when they answer False (``counted_acquire``: None; its False is the call's answer).
#
# The owner and a claimer race for the record. Under the GIL another thread runs, and a
# signal handler, only where a call returns (or a function starts, or a loop jumps back):
# so each side reads and deletes the record with subscripts, and calls nothing in between
# but what must come next (the release, the append to the buffer), which runs before any
# other thread can. A free-threaded build does not count in place (see the span sink).


def counted_acquire(
    proxy: Any, records: Records, blocking: Any = True, timeout: Any = -1
) -> bool | None:
    """
    An acquire, blocking or not, with a time limit or without: True if its first attempt
    took the lock, to be counted; False if it is a trylock whose attempt found the lock
    taken, that one attempt the whole call, as for the real lock (counted as "found busy",
    but inside an operation of ours, where it is unseen); None where the proxy goes on: it
    has to wait (the record path then, then the event path), has arguments the real acquire
    refuses, runs under the program's own span or inside an operation we report, or
    re-enters an RLock whose hold is not counted here.
    """
    if timeout is not NO_TIMEOUT and not attempt_first(blocking, timeout):
        return None  # acquire(False, 5), acquire(timeout=-5): the real one raises
    if following.reader is not None and program_span():
        return None  # under the program's own span: its child, recorded
    if state.options.include_library and guard.busy:
        return None  # a library's lock inside an operation we report (hidden): not its own
    lock = proxy._syncscope_lock
    reentrant = proxy._reentrant
    if reentrant and lock._is_owned():
        return counted_reentry(proxy, lock, records) or None  # False: not counted here
    # What can be, before the acquire: the less this thread does holding the lock, the less
    # often the interpreter hands the GIL to another thread that then finds it taken.
    # The caller of acquire or __enter__; None where it was called from C at the bottom of a
    # thread (_getframe(2) would raise there).
    frame = _getframe(1).f_back
    if frame is not None and _machinery_files.get(frame.f_code.co_filename) is False:
        where: Any = frame.f_code
        lasti = frame.f_lasti
    else:  # threading's own code (a Condition's __enter__), or a file not seen yet
        where = call_site(PAST_OUR_CALLER)
        lasti = -1
    holds = lean_local.holds or this_thread()
    for got in proxy._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
        break
    if not got:
        # A blocking acquire without a time limit, the usual one, asks nothing more.
        if (not blocking or timeout is not NO_TIMEOUT) and tries_only(blocking, timeout):
            if not guard.busy:  # else inside an operation of ours: taken or not, unseen
                # count_op's _first, count_op, this, acquire, the caller (as busy() counts).
                count_op(proxy._syncscope_primitive, BUSY, records, site_depth=4)
            return False
        return None  # it waits: an event, after the holder's record (see claim)
    try:
        record = (holds, proxy, RECORD_ACQUIRED, _time_ns(), where, lasti, 1 if reentrant else None)
        taken = records.taken
        prim = proxy._syncscope_primitive
        found = taken.setdefault(prim, record)
        if found is not record:
            # A thread found it taken before the record was there: this use is recorded,
            # after that thread's wait. (Or a hold whose release was never seen: it goes
            # first, and ends as such.)
            found = taken.pop(prim, WANTED)  # unless a claimer took it meanwhile
            if found is not WANTED:
                records.buffer.append(found)
            records.buffer.append(record)
    except BaseException:  # a signal handler's exception: acquire() raises, lock free
        lock.release()
        raise
    return True


def counted_reentry(proxy: Any, lock: Any, records: Records) -> bool:
    """
    An RLock re-entered by its owner: True if it took it, counted with the hold around it.

    Only inside a hold this thread counts in place: the re-entry is no span of its own (the
    hold is), and the pairing would only fold it into the summary's acquires. Recorded
    otherwise, after the hold's record.
    """
    holds = lean_local.holds
    record = records.taken.get(proxy._syncscope_primitive)
    if holds is None or record is None or record is WANTED or record[0] is not holds:
        return False
    for got in proxy._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
        break
    if not got:  # owned: taken at once, unless the count overflows (the usual path says)
        return False
    try:
        now = _time_ns()
        use = holds.uses.get(proxy)
        if use is None or use.counted_in is not records.counted:
            use = new_uses(holds, proxy, record, records)
        if use.count == use.summed and use.reentered == use.summed_reentered:
            use.since_ns = record[3]  # nothing left to sum: these begin with the hold
        use.last_ns = now
        use.reentered += 1  # last: counted only if acquire() returns
    except BaseException:  # a signal handler's exception: acquire() raises, not re-entered
        lock.release()
        raise
    return True


def counted_release(proxy: Any, records: Records) -> bool:
    """A release: True if it ended a use counted in place (the lock released, then counted)."""
    lock = proxy._syncscope_lock
    reentrant = proxy._reentrant
    taken = records.taken
    prim = proxy._syncscope_primitive
    if reentrant:
        depth = lock._recursion_count()  # 0: not the owner's, the real release raises
        if depth != 1:
            if depth < 2:
                return False
            # An inner release inside a hold this thread counts in place: nothing to say (an
            # inner release ends no hold, and its re-entry was counted or recorded).
            record = taken.get(prim)
            if record is None or record is WANTED or record[0] is not lean_local.holds:
                return False
            lock.release()
            return True
    # From here to the release, no call returns before it (see above; a Lock's taker is told
    # by its ThreadHolds, read from the thread's local storage without a call).
    try:
        record = taken[prim]
    except KeyError:
        return False
    if record is WANTED:
        return False
    holds = record[0]
    if not reentrant and holds is not lean_local.holds:
        # Released by another thread (a Lock as a signal; one with the ident of the thread
        # that took it and ended): the hold goes into the buffer, and this release after it.
        del taken[prim]
        records.buffer.append(record)
        return False
    del taken[prim]
    lock.release()
    # count_use, written out: a lock's release under pressure takes this path every time.
    now = _time_ns()  # only this thread writes its counts: no hurry now
    use = holds.uses.get(proxy)
    if use is None or use.counted_in is not records.counted:
        use = new_uses(holds, proxy, record, records)
    if use.count == use.summed:  # the first use since the worker summed: its start
        use.since_ns = record[3]
    use.count += 1
    use.held_ns += now - record[3]
    use.last_ns = now
    return True


#: Counted operations that leave a mark in the buffer (see count_op).
_MARKED = frozenset({"get", "set", "clear"})


def count_op(
    primitive: Primitive,
    op: str,
    records: Records,
    item_id: int | None = None,
    site_depth: int = 3,
) -> None:
    """
    Count one ``op`` on ``primitive`` by this thread, done (called by the wrapper the
    program called; ``site_depth``: the caller's frame from ``_first``'s, when it is not the
    wrapper's caller). A get, a set or a clear also leaves a mark in the sink's buffer, in
    order with the events: what later spans link to changes there (a get takes its item's
    put, ``item_id``, and the room it made; a set or a clear, the Event's last set).
    """
    if op in _MARKED:
        buffer = records.buffer
        buffer.append((primitive, op, item_id))
        if not len(buffer) % records.ring_at:  # a batch waits: wake the worker, as records do
            records.ring()
    holds = lean_local.holds or this_thread()
    now = _time_ns()
    use = holds.uses.get((primitive, op))
    if use is None or use.counted_in is not records.counted:
        use = _first(holds, primitive, op, now, records, site_depth)
    if use.count == use.summed:  # the first since the worker summed: its start
        use.since_ns = now
    use.count += 1
    use.last_ns = now


def _first(
    holds: ThreadHolds, primitive: Primitive, op: str, now: int, records: Records, depth: int
) -> OpUses:
    """The first ``op`` on ``primitive`` counted by this thread: where it happened."""
    where, lasti = record_site(depth)  # this, count_op, the wrapper, the caller (3)
    make_room(holds)
    uses = holds.uses
    use = OpUses((holds, None, op, now, where, lasti, None), records.counted, primitive, op)
    records.counted.append(use)  # first: never in the thread's uses but not the worker's
    uses[primitive, op] = use
    return use


def count_use(holds: ThreadHolds, key: Any, record: tuple[Any, ...], records: Records) -> None:
    """
    A use counted in place ended now: the thread of ``holds`` counts it, for ``key`` (what
    ``record``'s acquire took: a lock's proxy, a semaphore's Watch). Only that thread writes
    its counts.
    """
    now = _time_ns()
    use = holds.uses.get(key)
    if use is None or use.counted_in is not records.counted:
        use = new_uses(holds, key, record, records)
    if use.count == use.summed:  # the first use since the worker summed: its start
        use.since_ns = record[3]
    use.count += 1
    use.held_ns += now - record[3]
    use.last_ns = now


def new_uses(holds: ThreadHolds, proxy: Any, record: tuple[Any, ...], records: Records) -> Uses:
    """The first use of ``proxy`` by the thread of ``holds`` counted in place."""
    make_room(holds)
    uses = holds.uses
    use = Uses(record, records.counted)
    records.counted.append(use)  # first: never in the thread's uses but not the worker's
    uses[proxy] = use
    return use


def make_room(holds: ThreadHolds) -> None:
    """
    Before the thread of ``holds`` counts uses of one more lock (or operation): once it
    counts ``uses_limit`` of them, forget those the worker has summed. Those not summed yet
    stay, and the next look comes when there are twice as many: with the worker behind, a
    look at every new lock walked all the others (transfers between 10,000 per-object locks
    took 16 s, 100,000 about 170 s).
    """
    uses = holds.uses
    if len(uses) >= holds.uses_limit:
        forget_summed(uses)
        holds.uses_limit = max(MAX_USES, 2 * len(uses))


def forget_summed(uses: dict[Any, Uses]) -> None:
    """Forget a thread's counts that the worker has summed (only that thread writes them)."""
    for key, other in list(uses.items()):
        if other.summed == other.count and other.summed_reentered == other.reentered:
            del uses[key]
            other.gone = True
