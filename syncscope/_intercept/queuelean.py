"""
A queue's operations on the lean path (``state.lean``) that are not counted in place: a put
or get that has to wait (counted at its call site when it ends), one that fails, a poll that
finds nothing, and the lines of those the lean path says (``state.lines``). The wrappers are
in ``_queues``; ``_simplequeue`` uses these too.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from .._core.dispatch import emit, guard, hidden
from .._core.event import Op, Outcome, SyncEvent, perf_counter_ns, wait_limit
from .._core.sites import NO_SITE, PAST_OUR_CALLER, call_site
from .._core.state import state
from .._core.tally import Tally, TallyBook, site_tally
from .._core.tracking import Watch
from .lean import adopt_watch
from .ownsteps import IN_PLACE, in_place_ok
from .queuefill import queued
from .queuehooks import PLAIN, item_text, renders_in_c


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.event import Primitive
    from .._core.state import LeanLines

    Site = tuple[str, int, str]


_Full, _Empty = queue.Full, queue.Empty
_ShutDown = getattr(queue, "ShutDown", None)
#: The standard library's queues. Without ``--all``, nothing of the program's runs in their
#: put and get but PriorityQueue's comparisons (run as the program's by the hooks) and a
#: signal handler or finalizer, which the guard, set in place, hides as on the event path
#: (``hidden`` would cost 3,300 instructions a put or get; the guard alone costs 1,500).
STANDARD = frozenset({queue.Queue, queue.LifoQueue, queue.PriorityQueue})


def lean_failed(
    entry: Watch, op: Op, exc: BaseException, block: Any, timeout: Any, item: Any
) -> None:
    """A put or get tried at once failed otherwise than full or empty: the event path's report."""
    text = item_text(item) if op == "put" else None
    outcome = failed_outcome(op, exc, block, timeout)
    emit(SyncEvent(entry.primitive, op, outcome, call_site(), item=text, error=exc))


def lean_rejected(entry: Watch, lean: TallyBook, op: Op, outcome: Outcome) -> None:
    """
    A put or get asked not to wait found the queue full or empty (``outcome``): counted at
    its call site as the event path counts its event (``Stats.handle``), and told to the hang
    check, without the event, or another attempt to raise what this one raised (a poll of
    an empty queue cost 7 to 20 times the bare one that way).
    """
    tally = lean_tally(entry, lean)
    site = site_tally(tally, call_site(PAST_OUR_CALLER))  # the wrapper's caller, first
    tally.rejected += 1
    site.rejected += 1
    diagnosis = state.diagnosis
    if diagnosis is not None:
        diagnosis.touched(entry.primitive, op, outcome)


def lean_wait(
    q: Any,
    entry: Watch,
    lean: TallyBook,
    op: Op,
    call: Callable[..., Any],
    args: tuple[Any, ...],
    timeout: Any,
) -> Any:
    """
    A blocking put or get that found the queue full or empty when tried at once: make it
    (``call(*args)``) as asked, waiting or timing out, and count it at the caller's site as
    the event path's statistics count its events (``Stats.handle``), without them. With the
    checks on, the wait is announced to the watchdog first and its end told to the hang
    check, as a Condition's wait is (see ``_lean``).
    """
    tally = lean_tally(entry, lean)
    site_key = call_site()
    site = site_tally(tally, site_key)
    lines = state.lines
    text = None
    said_in_put = lines is not None and op == "put"  # its line, said by _put (see below)
    said_in_get = lines is not None and op == "get"  # by _get, if it can be (see queuehooks)
    outer = guard.pending_put if said_in_put else guard.pending_get if said_in_get else None
    if lines is not None:  # first (a Ctrl-C in it leaves no wait announced), as the event
        primitive = entry.primitive  # path says it
        text = item_text(args[1]) if op == "put" else None
        lines.item(primitive, op, "waiting", text, site_key)
    diagnosis = state.diagnosis
    start = perf_counter_ns()  # first: a Ctrl-C at it leaves no wait begun
    wait = (
        diagnosis.wait_begins(entry.primitive, site_key, wait_limit(True, timeout), None, op)
        if diagnosis is not None
        else None
    )
    pending_get = None
    if said_in_put:  # its line said under the queue's lock, by _put
        guard.pending_put = (q, entry.primitive, site_key, text, id(args[1]), start, lines)
    elif said_in_get:
        pending_get = (q, entry.primitive, lines, site_key, start, outer)
        guard.pending_get = pending_get
    guard.busy = True  # the queue's own mutex and Conditions are not the user's business
    outcome: Outcome = "error"
    try:
        try:
            result = call(*args)
        except BaseException as exc:
            guard.busy = False
            if said_in_put:
                guard.pending_put = outer
            elif said_in_get:
                guard.pending_get = outer
            waited = perf_counter_ns() - start
            outcome = failed_outcome(op, exc, True, timeout)
            if lines is not None:  # a put's failure says no time, as on the event path
                failed = None if op == "put" else waited
                lines.said(
                    SyncEvent(entry.primitive, op, outcome, site_key, failed, item=text, error=exc)
                )
            if outcome == "timeout":
                tally.rejected += 1
                site.rejected += 1
                if op == "get":  # a get's wait counts even when it timed out; a put's does not
                    tally.empty_waits += 1
                    tally.empty_total += waited
                    site.empty_waits += 1
                    site.empty_total += waited
            else:
                tally.errors += 1
            raise
        guard.busy = False
        unsaid = pending_get is not None and guard.pending_get is pending_get
        if said_in_put:
            guard.pending_put = outer
        elif said_in_get:
            guard.pending_get = outer
        waited = perf_counter_ns() - start
        if op == "get":
            outcome = "got"
            if lines is not None and (pending_get is None or unsaid):
                said_got(lines, q, entry, result, waited)
            tally.gets += 1
            site.gets += 1
            tally.empty_waits += 1
            tally.empty_total += waited
            site.empty_waits += 1
            site.empty_total += waited
        else:
            outcome = "put"
            tally.puts += 1
            site.puts += 1
            tally.unfinished += 1
            size = queued(q)  # just after the put, not under the queue's lock
            if size is not None and size > tally.max_size:
                tally.max_size = size
            tally.full_waits += 1
            tally.full_total += waited
            site.full_waits += 1
            site.full_total += waited
        if said_in_put or said_in_get:
            raise_deferred()  # from saying it (see queuehooks), once counted
        return result
    finally:
        # Whatever ends it (a signal handler's exception included), the wait is over.
        if wait is not None:
            diagnosis.signal_ended(wait, outcome)  # type: ignore[union-attr]
        else:
            diagnosis = state.diagnosis
            if diagnosis is not None:  # the checks began during the wait
                diagnosis.touched(entry.primitive, op, outcome)


def said_put(
    q: Any,
    entry: Watch,
    lean: TallyBook,
    lines: LeanLines,
    put: Callable[..., Any],
    item: Any,
    block: Any,
    timeout: Any,
) -> bool:
    """
    The lean put at once, with the lines: True if made (counted, and said under the queue's
    lock, by the original's own steps or from inside its ``_put``), False if the queue was
    full. What it does inside is the put's, unseen, as on the event path (a program's lock
    in a subclass's ``_qsize``).
    """
    outer = guard.pending_put
    # Now: in _put, a subclass's is a caller. This function's caller is put()'s wrapper.
    site = call_site(PAST_OUR_CALLER) if lines.fields else NO_SITE
    text = item_text(item)
    size = None
    in_place = IN_PLACE.get(type(q))
    if in_place is not None and in_place_ok(q):
        # The original's own steps, its line said under the queue's lock (see say_put). What
        # a signal handler or a finalizer does inside is the put's, unseen, as in the real one.
        guard.busy = True  # down: put_wrapper tested it
        try:
            size = in_place[0](q, item, entry, say_put, (lines, entry.primitive, text, site))
        except BaseException as exc:  # a signal handler's: as from the real put
            guard.busy = False
            lean_failed(entry, "put", exc, block, timeout, item)
            raise
        guard.busy = False
        if size is not None:
            return _put_counted(entry, lean, size)
    guard.pending_put = (q, entry.primitive, site, text, id(item), None, lines)
    try:
        if type(q) in STANDARD and not state.options.include_library:
            guard.busy = True  # down: put_wrapper tested it
            try:
                put(q, item, False)
            finally:
                guard.busy = False
        else:
            hidden(put, q, item, False)
    except _Full:
        return False
    except BaseException as exc:
        lean_failed(entry, "put", exc, block, timeout, item)
        raise
    finally:
        guard.pending_put = outer
    if size is None:  # just after the put, not under its lock (see put_wrapper)
        size = queued(q)
    return _put_counted(entry, lean, size)


def _put_counted(entry: Watch, lean: TallyBook, size: int | None) -> bool:
    """:func:`said_put`'s put, made, counted: ``size`` items after it (None: not known)."""
    tally = entry.tally  # lean_tally(), written out
    if tally is None or tally.owner is not lean:
        tally = adopt_watch(entry, lean)
    tally.puts += 1
    tally.unfinished += 1
    if size is not None and size > tally.max_size:
        tally.max_size = size
    diagnosis = state.diagnosis
    if diagnosis is not None:  # the hang check hears of it (see _lean)
        diagnosis.put(entry.primitive)
    if guard.deferred is not None:  # from saying it (see queuehooks), once counted
        raise_deferred()
    return True


def say_put(what: tuple[LeanLines, Primitive, str | None, Site], size: int) -> None:
    """
    The line of a put made by the original's own steps (``ownsteps``), said by them under the
    queue's lock once the item is in, as the hook of the real ``_put`` says it: before any get
    of it can say its own. What the line raises (a Ctrl-C) is raised by the put once counted.
    """
    lines, primitive, text, site = what
    try:
        lines.item(primitive, "put", "put", text, site, None, size if lines.fields else None)
    except BaseException as exc:
        guard.deferred = exc


def say_got(what: list[Any], item: Any) -> None:
    """
    :func:`say_put` for a get: its line said under the queue's lock if the item's text is
    made by C code alone (see ``queuehooks.renders_in_c``), else by the get once done.
    ``what``: the lines, the queue's primitive, the queue, and whether the line was said, set
    here for the get to read: decided once, under the lock (looked at again after it, an item
    another thread changes meanwhile would be said twice, or not at all).
    """
    try:
        if type(item) in PLAIN or renders_in_c(item):
            what[3] = True  # first: a line its write interrupts is not said again
            lines, primitive, q, _ = what
            qsize = len(q.queue) if lines.fields else None  # a standard queue's _qsize()
            lines.item(primitive, "get", "got", item_text(item), NO_SITE, None, qsize)
    except BaseException as exc:  # raised once the get is counted, as from the hook
        guard.deferred = exc


def lean_got(q: Any, entry: Watch, lean: TallyBook, item: Any) -> None:
    """
    A get of ``item`` done at once on the lean path: counted in place, told to the hang
    check, and said with the lines.
    """
    tally = entry.tally
    if tally is None or tally.owner is not lean:
        tally = adopt_watch(entry, lean)
    tally.gets += 1
    diagnosis = state.diagnosis
    if diagnosis is not None:  # the hang check hears of it (see _lean)
        diagnosis.got(entry.primitive)
    lines = state.lines
    if lines is not None:
        said_got(lines, q, entry, item)


def said_got(lines: LeanLines, q: Any, entry: Watch, item: Any, waited: int | None = None) -> None:
    """The line of a get (after it, as on the event path), the queue's size if it says it."""
    text, qsize = item_text(item), queued(q) if lines.fields else None
    lines.item(entry.primitive, "get", "got", text, NO_SITE, waited, qsize)


def lean_tally(entry: Watch, lean: TallyBook) -> Tally:
    tally = entry.tally
    if tally is None or tally.owner is not lean:
        tally = adopt_watch(entry, lean)
    return tally


def failed_outcome(op: str, exc: BaseException, block: Any, timeout: Any) -> Outcome:
    """What a put or get (``op``) asked with ``block`` and ``timeout`` that raised ``exc`` is."""
    if isinstance(exc, _Full):
        return "full" if not block or timeout is None else "timeout"
    if isinstance(exc, _Empty):
        return "empty" if not block or timeout is None else "timeout"
    if _ShutDown is not None and isinstance(exc, _ShutDown):
        return "shutdown"
    return "error"


def raise_deferred() -> None:
    """Raise what saying a put or get from inside ``_put`` or ``_get`` raised (a Ctrl-C)."""
    deferred, guard.deferred = guard.deferred, None
    if deferred is not None:
        raise deferred
