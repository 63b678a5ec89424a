"""
Operations counted in place: with the span sink alone and under pressure
(``_core/state.Records.counting``), an Event, Condition or queue operation that neither waits
nor lets anyone in makes no event. A notify or a set with nobody waiting, a wait on a set
Event, a clear, a put with no getter waiting and a get with no putter waiting are counted by
their thread, as uncontended lock uses are (``_intercept/lockpaths``), and the sink's worker
sums the counts into the summary spans their spans would have been folded into
("Condition.notify cond x 1,234, none waited"). Whatever waits, wakes a thread or fails takes
the event path, as before.

Whether anyone waits is read from the primitive's own waiters before the operation, without
its lock: a thread about to wait (its wait already an event, not yet among the waiters) may
be woken by a counted operation, and its wait (a span: it waited) then links to nothing, or to
an older signal. A free-threaded build does not count in place.

A semaphore's permit is a hold, as a lock's use is: a permit taken at once while nobody waits
records nothing, its record waiting in ``Records.taken`` (a list per semaphore, one record
per permit out) until its taker gives it back with nobody waiting, which counts the use as a
lock's is counted (``_intercept/lockpaths``); whatever else happens to the semaphore first
(a wait for a permit, a release that wakes someone or comes from another thread, the end)
takes the records out into the buffer (``Records.claim``), and the permits go on as
recorded ones. Each record leaves the list by one atomic list operation, on either side.
"""

from __future__ import annotations

import contextlib
import time

from .._core.context import following
from .._core.dispatch import guard, hidden
from .._core.leanholds import local as lean_local
from .._core.leanholds import this_thread
from .._core.state import BUSY, RECORD_ACQUIRED, state
from .._core.tracking import Watch, watches
from .lockpaths import count_op, count_use, program_span, record_site
from .ownsteps import give_permit, take_permit


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._core.event import Primitive
    from .._core.state import Records


_time_ns = time.time_ns


def may_count() -> bool:
    """
    Whether an operation may be counted in place now: not nested in our own work, nor under
    the program's own span (ours is its child then: an event).
    """
    return not guard.busy and (following.reader is None or not program_span())


def countable(obj: object) -> Primitive | None:
    """``obj``'s primitive if its operation may be counted in place now, else None."""
    if guard.busy or (following.reader is not None and program_span()):  # may_count()
        return None
    entry = watches.get(id(obj))
    return None if entry is None else entry.primitive


def _permit_seen(semaphore: Any) -> bool:
    """
    Whether a permit is there, read without the lock: a hint. A ``_value`` of the class's
    own (a property) is not read here, but only where the original reads it, under its lock;
    nor is the semaphore's ``__dict__`` (see ``queuefill.freely_sized``).
    """
    return hasattr(type(semaphore), "_value") or bool(getattr(semaphore, "_value", 1))


def permit_taken(
    semaphore: Any,
    entry: Watch,
    acquire: Callable[..., Any],
    release: Callable[..., Any],
    records: Records,
    trylock: bool = False,
) -> bool | None:
    """
    An acquire of a semaphore, blocking or not: True if it took a permit at once, nobody
    waiting, its hold counted in place (see above); False if it is a ``trylock`` (it never
    waits) that found none, counted in place and summed up as a lock's ("found busy"); None
    if it took nothing, or is not to be counted in place yet (``Records.spent``), and the
    event path does as asked.
    """
    if semaphore._cond._waiters or not may_count():
        return None  # it would take a permit someone waits for: an event
    if not records.counting and (not _permit_seen(semaphore) or not records.spent(2)):
        # Events, its acquire and hold; with no permit to take, a wait or a failed trylock, a
        # span kept (busy: see pairing) that spends nothing of the allowance.
        return None
    where, lasti = record_site(2)  # this, acquire, the caller
    holds = lean_local.holds or this_thread()
    now = _time_ns()  # before: no call between the permit taken and the try that gives it back
    got = take_permit(semaphore)  # the original's own steps, where they can
    if got is None:
        got = (
            hidden(acquire, semaphore, False)  # its Condition is watched too: hide it
            if state.options.include_library
            else acquire(semaphore, False)
        )
    if not got:
        if trylock:  # the attempt was the whole call: its answer
            # count_op's _first, count_op, this, acquire, the caller.
            count_op(entry.primitive, BUSY, records, site_depth=4)
            return False
        return None
    record = (holds, entry, RECORD_ACQUIRED, now, where, lasti, None)
    out: Any = None
    try:
        taken = records.taken
        out = taken.get(entry.primitive)
        if type(out) is not list:
            out = taken.setdefault(entry.primitive, [])
        out.append(record)
        if taken.get(entry.primitive) is not out:  # claimed meanwhile: into the buffer
            try:
                out.remove(record)
            except ValueError:  # the claimer took it
                pass
            else:
                records.buffer.append(record)
    except BaseException:  # a signal handler's exception: acquire() raises, permit back
        if out is not None:  # no hold, unless a claimer has put it in the buffer already
            with contextlib.suppress(ValueError):
                out.remove(record)
        hidden(release, semaphore)
        raise
    return True


def permit_returned(
    semaphore: Any, release: Callable[..., Any], records: Records, bounded: bool
) -> bool:
    """
    A release of one permit: True if it gave back a permit whose hold was counted in place,
    nobody waiting (released, then counted); else False, nothing done.
    """
    holds = lean_local.holds
    entry = watches.get(id(semaphore))
    if holds is None or entry is None or semaphore._cond._waiters:
        return False
    out = records.taken.get(entry.primitive)
    if type(out) is not list:
        return False
    for record in reversed(out):  # the thread's newest permit
        if record[0] is holds:
            break
    else:
        return False
    if bounded and semaphore._value + 1 > semaphore._initial_value:
        return False  # the release raises: the event path says so
    try:
        out.remove(record)
    except ValueError:  # claimed meanwhile: a release of a recorded permit
        return False
    except BaseException:  # a signal handler's exception as the record left: give it back
        hidden(release, semaphore)
        raise
    try:
        try:  # the last permit out: its list goes (subscripts: no other thread runs between)
            if not out and records.taken[entry.primitive] is out:
                del records.taken[entry.primitive]
        except KeyError:  # claimed meanwhile, with nothing of this thread's in it
            pass
    finally:
        if give_permit(semaphore, bounded):  # the original's own steps, where they can
            pass
        elif state.options.include_library:  # its Condition is watched too: hide it
            hidden(release, semaphore)
        else:
            release(semaphore)
    count_use(holds, entry, record, records)
    return True
