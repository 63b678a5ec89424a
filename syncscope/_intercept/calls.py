"""
How the class-based primitives' wrappers (``conditions``, ``events``, ``queues``,
``futures``, ``simplequeue``) run what they wrap: with nothing it does nested recorded
(``silent``), or, on the event path, as a blocking call whose errors are reported, each
with the outcome ``error_outcome`` (or the caller) gives it, and whose result comes back
with how long it took, for the caller to report (``blocking_call``); and whether an
object's operation is reported at all (``watched``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import time_ns

from .._core.context import following
from .._core.dispatch import emit, guard
from .._core.event import Op, Outcome, Primitive, SyncEvent, perf_counter_ns
from .._core.holds import CONDITION_WAITS
from .._core.leanholds import local as lean_local
from .._core.leanholds import this_thread
from .._core.state import state
from .._core.tracking import primitive_of
from .lockpaths import program_span


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def watched(obj: object) -> Primitive | None:
    """The Primitive to report ``obj``'s operation under, or None to pass straight through."""
    if not state.active or guard.busy:
        return None
    return primitive_of(obj)


def blocking_call(
    primitive: Primitive,
    op: Op,
    site: tuple[str, int, str],
    call: Callable[[], Any],
    outcome_of: Callable[[BaseException], Outcome] | None = None,
) -> tuple[Any, int]:
    """
    Run a blocking original with nothing nested recorded; report and re-raise its errors,
    as ``outcome_of`` says what each ended (else: a broken barrier, or an error).
    """
    guard.busy = True
    start = perf_counter_ns()
    try:
        result = call()
    except BaseException as exc:
        guard.busy = False
        waited = perf_counter_ns() - start
        outcome = (outcome_of or error_outcome)(exc)
        failed = exc if outcome in ("error", "broken") else None
        emit(SyncEvent(primitive, op, outcome, site, waited, error=failed))
        # This frame is in the exception's traceback, or its frames' caller: it keeps neither
        # the exception nor what holds it (a Future's result()), or the cycle lives on.
        del call, outcome_of, failed
        raise
    guard.busy = False
    return result, perf_counter_ns() - start


def said_wait(
    primitive: Primitive,
    op: Op,
    outcome: Outcome,
    site: tuple[str, int, str],
    waited: int | None = None,
    timeout: float | None = None,
    arrivals: int | None = None,
) -> None:
    """
    A wait for a signal (a Condition's, an Event's, a Barrier's) begins (``outcome``
    "waiting") or ends as asked: its event emitted, or, with the span sink all that listens
    (``state.records``), a record of it in the sink's buffer, which its worker makes the same
    event of (``_sinks/spans/records.wait_event_of``): ``(holds, primitive, op, outcome,
    time_ns, site, waited, timeout, arrivals)``. No event is made and dispatched on the
    program's thread then: two of them were most of what spans cost a wait there. As the
    Lock's records, not under a span of the program's own (ours go under it) nor into a
    buffer the worker has let fill up (the sink then pairs on this thread, in order).
    """
    records = state.records
    if (
        records is None
        or len(records.buffer) >= records.capacity
        or (following.reader is not None and program_span())
    ):
        emit(SyncEvent(primitive, op, outcome, site, waited, timeout, arrivals=arrivals))
        return
    if records.taken:  # a hold counted in place that it concerns goes first (see the sink)
        records.claim(primitive)
        if primitive.lock is not None and op in CONDITION_WAITS:
            records.claim(primitive.lock)
    buffer = records.buffer
    holds = lean_local.holds or this_thread()
    buffer.append((holds, primitive, op, outcome, time_ns(), site, waited, timeout, arrivals))
    if not len(buffer) % records.ring_at:
        records.ring()


def error_outcome(exc: BaseException) -> Outcome:
    if isinstance(exc, threading.BrokenBarrierError):
        return "broken"
    return "error"


def silent(call: Callable[..., Any], *args: Any) -> Any:
    """
    ``call(*args)``, an original, with nothing nested recorded. Not a lambda: a wrapper
    whose arguments a closure captures makes a cell of each on every call, fast path or not.
    """
    guard.busy = True
    try:
        return call(*args)
    finally:
        guard.busy = False
