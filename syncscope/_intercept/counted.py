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
"""

from __future__ import annotations

import sys
import time

from .._core.context import following
from .._core.dispatch import guard
from .._core.leanholds import OpUses, ThreadHolds, this_thread
from .._core.leanholds import local as lean_local
from .._core.sites import _machinery_files, call_site
from .._core.tracking import watches
from .lockpaths import MAX_USES, forget_summed, program_span


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.event import Primitive
    from .._core.state import Records


_getframe = sys._getframe
_time_ns = time.time_ns
#: Counted operations that leave a mark in the buffer (see count_op).
_MARKED = frozenset({"get", "set", "clear"})


def may_count() -> bool:
    """
    Whether an operation may be counted in place now: not nested in our own work, nor under
    the program's own span (ours is its child then: an event).
    """
    return not guard.busy and (following.reader is None or not program_span())


def countable(obj: object) -> Primitive | None:
    """``obj``'s primitive if its operation may be counted in place now, else None."""
    if not may_count():
        return None
    entry = watches.get(id(obj))
    return None if entry is None else entry.primitive


def count_op(primitive: Primitive, op: str, records: Records, item_id: int | None = None) -> None:
    """
    Count one ``op`` on ``primitive`` by this thread, done (called by the wrapper the
    program called). A get, a set or a clear also leaves a mark in the sink's buffer, in
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
        use = _first(holds, primitive, op, now, records)
    if use.count == use.summed:  # the first since the worker summed: its start
        use.since_ns = now
    use.count += 1
    use.last_ns = now


def _first(holds: ThreadHolds, primitive: Primitive, op: str, now: int, records: Records) -> OpUses:
    """The first ``op`` on ``primitive`` counted by this thread: where it happened."""
    try:
        frame = _getframe(3)  # this, count_op, the wrapper, the caller
    except ValueError:  # no caller: the wrapper was called from C (a thread's target)
        frame = None
    if frame is not None and _machinery_files.get(frame.f_code.co_filename) is False:
        where: Any = frame.f_code
        lasti = frame.f_lasti
    else:  # the standard library's own code, a file not seen yet, or no caller at all
        where = call_site(4)
        lasti = -1
    uses = holds.uses
    if len(uses) >= MAX_USES:
        forget_summed(uses)
    use = OpUses((holds, None, op, now, where, lasti, None), records.counted, primitive, op)
    records.counted.append(use)  # first: never in the thread's uses but not the worker's
    uses[primitive, op] = use
    return use
