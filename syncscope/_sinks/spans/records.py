"""
Records into events: what a Lock or RLock proxy recorded on the record path (see
``_core/state.Records``) becomes, on the worker, the event the event path would have made on
the program's thread, with the same fields: its call site is resolved from the caller's code
and instruction here, once per instruction. So does a wait for a signal's record (see
``_intercept/calls.said_wait``), whose call site the wrapper looked up.
"""

from __future__ import annotations

from collections import deque
from types import CodeType

from ..._core.event import SyncEvent
from ..._core.leanholds import OpUses, Uses
from ..._core.leanholds import where as site_at
from ..._core.state import RECORD_ACQUIRED, RECORD_BUSY, RECORD_RELEASED


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .pairing import SpanPairing


Site = tuple[str, int, str]

#: Instruction offset -> (code, its site): the last one seen at that offset (as in _core.sites).
_sites: dict[int, tuple[CodeType, Site]] = {}


def site_of(where: Any, lasti: int) -> Site:
    """The call site of a record: its ``where`` and ``lasti`` (see ``Records``)."""
    if lasti < 0:
        return where  # type: ignore[no-any-return]
    known = _sites.get(lasti)
    if known is not None and known[0] is where:
        return known[1]
    site = site_at(where, lasti)
    _sites[lasti] = (where, site)
    return site


def event_of(record: tuple[Any, ...]) -> SyncEvent:
    """The event the event path would have made of ``record``."""
    holds, proxy, op, time_ns, where, lasti, depth = record
    event = _made_by(holds, time_ns)
    event.primitive = proxy._syncscope_primitive
    if op == RECORD_ACQUIRED:
        event.op = "acquire"
        event.outcome = "acquired"
    elif op == RECORD_BUSY:
        event.op = "acquire"
        event.outcome = "busy"
        event.timeout = 0.0  # a trylock: as the event path has it (wait_limit)
    else:
        event.op = "release"
        event.outcome = "released"
    event.file, event.line, event.function = site_of(where, lasti)
    event.depth = depth
    return event


def wait_event_of(record: tuple[Any, ...]) -> SyncEvent:
    """The event the event path would have made of a wait's record (``calls.said_wait``)."""
    holds, primitive, op, outcome, time_ns, site, waited, timeout, arrivals = record
    event = _made_by(holds, time_ns)
    event.primitive = primitive
    event.op = op
    event.outcome = outcome
    event.file, event.line, event.function = site
    event.waited_ns = waited
    event.timeout = timeout
    event.arrivals = arrivals
    return event


def _made_by(holds: Any, time_ns: int) -> SyncEvent:
    """
    An event of the thread ``holds`` stands for, made at ``time_ns``, for a record to fill in
    (its primitive, operation, outcome and site); every other field as the event path leaves
    it when not given.
    """
    event = SyncEvent.__new__(SyncEvent)
    event.timeout = event.waited_ns = event.depth = event.permits = event.waiters = None
    event.arrivals = event.unfinished = event.item = event.item_id = event.qsize = None
    event.error = None
    event.immediate = False
    event.thread_id = holds.ident
    event.thread_name = holds.thread_name()
    event.life = holds.life
    event.time_ns = time_ns
    event.trace_id = event.span_id = None
    return event


class Acquired:
    """
    What stands for an acquire's event while the pairing holds the lock lightly (under
    pressure, see ``SpanPairing.acquired_lightly``): its event is made only if the hold
    becomes a span after all, and its summary reads the rest from the record when built.
    It stands for the first of the operations counted in place (``OpUses``) in a summary
    too, which reads only its thread and call site.
    """

    __slots__ = ("record", "thread_id", "time_ns")
    op = "acquire"
    outcome = "acquired"

    def __init__(self, record: tuple[Any, ...]) -> None:
        self.record = record
        self.thread_id: int = record[0].ident
        self.time_ns: int = record[3]

    def event(self) -> SyncEvent:
        return event_of(self.record)

    @property
    def life(self) -> Any:
        return self.record[0].life

    @property
    def thread_name(self) -> str:
        return self.record[0].thread_name()  # type: ignore[no-any-return]

    @property
    def file(self) -> str:
        return site_of(self.record[4], self.record[5])[0]

    @property
    def line(self) -> int:
        return site_of(self.record[4], self.record[5])[1]

    @property
    def function(self) -> str:
        return site_of(self.record[4], self.record[5])[2]


def drain(pairing: SpanPairing, buffer: deque[tuple[Any, ...]], count: int) -> None:
    """
    Pair the first ``count`` items of the sink's ``buffer``: events as ``(event, parent)``,
    records of locks and of waits, findings as ``(title, attributes, threads, locks)`` and
    the marks of operations counted in place (``_intercept/counted``). A record's event is
    made only when the pairing needs one: not for a use of a lock held lightly under pressure
    (its acquire and its release only counted; in one go when the release is the next item,
    as it mostly is).
    """
    pop = buffer.popleft
    pair = pairing.pair
    acquired_lightly = pairing.acquired_lightly
    released_lightly = pairing.released_lightly
    seen = pairing.seen
    left = count
    while left > 0:
        item = pop()
        left -= 1
        if len(item) == 2:
            pair(item[0], item[1])
            continue
        if len(item) == 3:
            pairing.counted_mark(*item)
            continue
        if len(item) == 4:  # a finding, in its place (see the sink's on_finding)
            pairing.finding(*item)
            continue
        if len(item) == 9:  # a wait's beginning or end (see _intercept/calls.said_wait)
            pair(wait_event_of(item), None)
            continue
        holds = item[0]
        # A thread of its own, if its ident was another's; if it has ended, the record is late.
        if seen(holds.ident, holds.life, item[3]):
            pairing.pair_late(event_of(item), None)
            continue
        if item[2] == RECORD_ACQUIRED:
            prim = item[1]._syncscope_primitive
            ident = item[0].ident
            depth = item[6]
            stand_in = Acquired(item)
            if left and (depth is None or depth == 1):
                after = buffer[0]  # the same thread's release of it, to depth 0?
                if (
                    len(after) == 7
                    and after[1] is item[1]
                    and after[2] == RECORD_RELEASED
                    and not after[6]
                    and after[0] is holds
                    and acquired_lightly(prim, ident, depth, 0, stand_in, after[3])
                ):
                    pop()
                    left -= 1
                    left = _more_uses(pairing, buffer, left, item, stand_in)
                    continue
            if not acquired_lightly(prim, ident, depth, 0, stand_in):
                pair(event_of(item), None)
        elif item[2] == RECORD_BUSY or not released_lightly(
            item[1]._syncscope_primitive, item[0].ident, item[6], item[3]
        ):  # a failed trylock (a span of its own), or a release not taken lightly
            pair(event_of(item), None)


#: Uses of one lock counted together at most.
RUN = 256


def _more_uses(
    pairing: SpanPairing, buffer: deque[tuple[Any, ...]], left: int, item: Any, stand_in: Any
) -> int:
    """
    After a use of a lock counted in one go: the same thread's next uses of it, acquire and
    release records one after another, counted together while the pairing takes them. The
    uses it leaves go back to the front of the buffer, to be paired one by one. Returns how
    many items are left to drain.
    """
    holds, proxy = item[0], item[1]
    taken: list[tuple[Any, ...]] = []
    uses: list[tuple[int, int]] = []
    pop = buffer.popleft
    most = min(RUN, pairing.room_for_uses())  # none gathered only to go back
    while left >= 2 and len(uses) < most:
        first = buffer[0]
        if (
            len(first) != 7
            or first[1] is not proxy
            or first[0] is not holds
            or first[2] != RECORD_ACQUIRED
            or (first[6] is not None and first[6] != 1)
        ):
            break
        second = buffer[1]
        if len(second) != 7 or second[1] is not proxy or second[0] is not holds or second[6]:
            break
        if second[2] != RECORD_RELEASED:
            break
        taken.append(pop())
        taken.append(pop())
        left -= 2
        uses.append((first[3], second[3]))
    if not uses:
        return left
    done = pairing.used_lightly_again(proxy._syncscope_primitive, holds.ident, stand_in, uses)
    for record in reversed(taken[2 * done :]):
        buffer.appendleft(record)
        left += 1
    return left


def sum_counted(pairing: SpanPairing, counted: deque[Uses]) -> None:
    """
    Sum up what each thread counted in place since last time (see ``_core/state.Records``
    and ``_intercept/counted``),
    and forget the counts of threads that ended, or that forgot them, once all is summed.
    """
    for _ in range(len(counted)):
        use = counted.popleft()
        # Read before the count: once its thread has ended, the count read after is its last.
        over = use.gone or use.first[0].exited
        count = use.count  # read once: the thread may count on meanwhile
        reentered = use.reentered
        new = count - use.summed
        new_reentries = reentered - use.summed_reentered
        if new or new_reentries:
            held_ns = use.held_ns
            end = use.last_ns
            first = use.first
            if type(use) is OpUses:
                pairing.counted_ops(use.prim, use.op, Acquired(first), new, use.since_ns, end)
            else:
                pairing.counted_uses(
                    first[1]._syncscope_primitive,
                    Acquired(first),
                    new,
                    held_ns - use.summed_ns,
                    use.since_ns,
                    end,
                    new_reentries,
                )
            use.summed = count
            use.summed_ns = held_ns
            use.summed_reentered = reentered
        if not over:
            counted.append(use)
