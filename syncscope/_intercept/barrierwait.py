"""
A Barrier's wait on the lean path, and when the watchdog hears of it.

With the checks on (``-q``, the pytest plugin), a wait is announced to the watchdog before it
blocks, so that a thread stuck at a barrier is seen. Whether an arrival will wait cannot be
told before it is made without the barrier's lock: the last arriver does not wait, and a
thread arriving as the barrier drains waits first in ``_enter``. So a barrier whose Condition
is its own (``ownsteps.UnwatchedCondition``) tells the watchdog from that Condition's
``wait``, where CPython's Barrier waits for the others and for a drain (``_enter`` and
``_wait`` in 3.11 to 3.13; 3.14's source was not read for this), the first time the arrival
gets there: a ``Barrier(1)`` or a last arriver is not announced at all (a third of a
``Barrier(1).wait`` under ``-q``, see ``benchmarks/README.md``). Where the program called is
looked up once, as the arrival is made, for the announcement and the count alike: looked up
from that Condition's ``wait``, four frames further in, and again at the end, it cost a wait
about 11,000 instructions more (callgrind, 3.11), and a ``Barrier(1)`` about 2,500 fewer.

An arrival may also wait for the barrier's lock, held by another thread inside the barrier's
methods: briefly, unless the program's code runs there. So every arrival is announced before
it is made, as before, at a barrier with an action (its last arriver runs it under the lock),
at a subclass's (its own steps may run there), at one whose lock is taken as it arrives (the
program's code holds it, or a signal handler's ``abort()``), at one whose Condition syncscope
watches (``--all``), and at any while the lines are on (each says its wait first, with the
number arrived).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .._core.dispatch import guard
from .._core.event import Outcome, Primitive, SyncEvent, perf_counter_ns, wait_limit
from .._core.sites import PAST_OUR_CALLER, call_site
from .._core.state import state
from .._core.tally import Tally, site_tally
from .._core.tracebacks import hide_frames
from .lean import wait_ended


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: An arrival whose wait is told to the watchdog when it blocks: the barrier, its
    #: Primitive, its time limit as given (None: the barrier's), the watchdog's record of
    #: the wait once told (None until then), and the program's call.
    Arrival = list[Any]


class _Arrivals(threading.local):
    #: The calling thread's arrival at a barrier not announced yet (see the module).
    arrival: Arrival | None = None


_arrivals = _Arrivals()
_condition_wait = threading.Condition.wait  # the original, read before any install
_BARRIER = threading.Barrier  # the class whose methods the wrappers replace


def condition_wait(self: Any, timeout: Any = None) -> Any:
    """A Barrier's own Condition's ``wait``: its arrival, if not told yet, told first."""
    try:
        arrival = _arrivals.arrival
        if arrival is not None and arrival[3] is None and arrival[0]._cond is self:
            diagnosis = state.diagnosis
            if diagnosis is not None:
                limit = arrival[2]
                if limit is None:
                    limit = arrival[0]._timeout
                if limit is not None:  # None: for ever, as wait_limit would say
                    limit = wait_limit(True, limit)
                arrival[3] = diagnosis.wait_begins(arrival[1], arrival[4], limit, None, "wait")
        return _condition_wait(self, timeout)
    except BaseException as exc:
        hide_frames(exc)  # the program's traceback, not ours
        raise


condition_wait.__name__ = "wait"
condition_wait.__qualname__ = "Condition.wait"


def barrier_wait(
    barrier: Any, primitive: Primitive, tally: Tally, call: Callable[..., Any], timeout: Any
) -> Any:
    """
    A Barrier's wait. Only its last arriver (the index ``parties - 1``) did not wait: it is
    counted for the barrier only, the others (and a broken barrier's) at their site too. With
    the checks on, the wait is told to the watchdog (see the module).
    """
    diagnosis = state.diagnosis
    lines = state.lines
    wait = None
    where = None
    arrival = outer = None
    cond = barrier._cond
    if lines is not None or (
        diagnosis is not None
        and (
            barrier._action is not None
            or type(cond).wait is not condition_wait
            or cond._lock.locked()  # this arrival may wait for it (see the module)
            or type(barrier) is not _BARRIER
        )
    ):
        where = call_site(PAST_OUR_CALLER)
        limit = wait_limit(True, barrier._timeout if timeout is None else timeout)
        if lines is not None:  # first: a Ctrl-C in it leaves no wait announced
            arrivals = barrier.n_waiting + 1  # as the event path reads it: unlocked
            lines.line(primitive, "wait", "waiting", site=where, arrivals=arrivals)
    elif diagnosis is not None:
        where = call_site(PAST_OUR_CALLER)  # for the announcement too (see the module)
        arrival = [barrier, primitive, timeout, None, where]
    start = perf_counter_ns()  # first: a Ctrl-C at it leaves no wait begun
    if diagnosis is not None and arrival is None and where is not None:  # looked up above
        wait = diagnosis.wait_begins(primitive, where, limit, None, "wait")
    guard.busy = True  # the barrier's Condition, and the action the last arriver runs
    if arrival is not None:  # set last before the call: no signal handler runs in between
        outer = _arrivals.arrival  # one from a wait this one interrupted (a signal handler's)
        _arrivals.arrival = arrival
    try:
        index = call(barrier, timeout)
    except BaseException as exc:
        guard.busy = False
        if arrival is not None:  # first: before any call
            _arrivals.arrival = outer
            wait = arrival[3]
        waited = perf_counter_ns() - start
        outcome: Outcome = "broken" if isinstance(exc, threading.BrokenBarrierError) else "error"
        where = where or call_site(PAST_OUR_CALLER)
        wait_ended(primitive, tally, site_tally(tally, where), "wait", outcome, waited, wait)
        if lines is not None:
            lines.said(SyncEvent(primitive, "wait", outcome, where, waited, error=exc))
        raise
    guard.busy = False
    if arrival is not None:  # first: before any call
        _arrivals.arrival = outer
        wait = arrival[3]
    waited = perf_counter_ns() - start
    site = None
    if index != barrier._parties - 1:  # it waited for the others
        site = site_tally(tally, where or call_site(PAST_OUR_CALLER))
    wait_ended(primitive, tally, site, "wait", "passed", waited, wait)
    if lines is not None:
        where = where or call_site(PAST_OUR_CALLER)
        lines.line(primitive, "wait", "passed", waited=waited, site=where, arrivals=index)
    return index
