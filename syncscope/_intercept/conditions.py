"""
Condition, Semaphore, BoundedSemaphore and Barrier: their methods wrapped on the class (Event's
are in ``events``, built the same way).

With lean statistics (``state.lean``), an operation that does not wait is counted in place in
its primitive's tally, first thing in each wrapper, and with the lines says so itself
(``state.lines``); with spans alone under pressure, a notify with nobody waiting is counted in
place (see ``counted``); everything else goes on to the event path below it (see ``_lean``).

These are Python classes, so their methods are replaced on the class itself: ``isinstance``,
subclasses (the user's and the standard library's), pickling and ``copy`` keep working, and
objects created before install are left alone because they were never registered as watched.
Each wrapper is a plain function with the wrapped one's signature: measured here, a
``wrapt.FunctionWrapper`` on a class costs about ten times a plain function per call.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from functools import partial
from types import BuiltinMethodType

from .._core.dispatch import as_program, emit, guard, hidden
from .._core.event import (
    Op,
    SyncEvent,
    get_ident,
    perf_counter_ns,
    tries_only,
    wait_limit,
)
from .._core.sites import call_site, creator_frame
from .._core.state import state
from .._core.timeouts import count_value
from .._core.tracebacks import hide_frames
from .._core.tracking import library_owned, primitive_of, watch_new, watches
from .barrierwait import barrier_wait
from .calls import blocking_call, said_wait, silent, watched
from .counted import may_count, permit_returned, permit_taken
from .lean import (
    adopt_watch,
    park,
    permit_held,
    permits_returned,
    semaphore_acquire_slowly,
    signal_wait,
    signalled,
    unpark,
)
from .lockfactories import LOCK_TYPE, condition_lock, proxy_for
from .lockpaths import count_op
from .ownsteps import OwnCondition, UnwatchedCondition, barrier_condition


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: (class, method name, replacement) for every method this module wraps.
    Wrapper = tuple[type, str, Callable[..., Any]]


_getframe = sys._getframe


#: Condition's own ``_is_owned``, for a lock that has none: it tries the lock with
#: ``acquire(False)`` and gives it back if that succeeds.
_PROBING_IS_OWNED = threading.Condition._is_owned  # type: ignore[attr-defined]


def _probes(is_owned: Any) -> bool:
    """
    Whether a Condition's ``_is_owned`` would try its lock (a lock of the program's own
    class, without ``_is_owned``): asked before a wait, that would be one try of the
    program's lock more than the original makes. Such a wait is not asked: if the lock is
    not held, the real wait raises, and the wait is said to have failed.
    """
    return getattr(is_owned, "__func__", None) is _PROBING_IS_OWNED


#: ``Condition.wait_for``'s code. wait_for is not wrapped: CPython's runs the predicate, the
#: program's own code, with the lock held, and calls ``self.wait`` between, so the predicate's
#: operations are reported (and a lock it waits for is seen: a deadlock through a predicate),
#: the lock is held while it runs, and each wait is reported as the wait_for's.
_WAIT_FOR = threading.Condition.wait_for.__code__


def _wait_op() -> Op:
    """The op a Condition's wait reports: "wait_for" when ``Condition.wait_for`` called it."""
    try:
        caller = _getframe(2)  # this, the wait wrapper, its caller
    except ValueError:  # called from C
        return "wait"
    if caller.f_code is _WAIT_FOR:
        return "wait_for"
    # A subclass's wait calling super().wait(), called by wait_for.
    outer = caller.f_back
    if caller.f_code.co_name == "wait" and outer is not None and outer.f_code is _WAIT_FOR:
        return "wait_for"
    return "wait"


def wrappers() -> list[Wrapper]:
    """Build the replacement methods, each closing over the original it wraps."""
    result: list[Wrapper] = []
    result += _condition_wrappers()
    result += _semaphore_wrappers()
    result += _barrier_wrappers()
    return result


def _condition_wrappers() -> list[Wrapper]:
    cls = threading.Condition
    init, wait = cls.__init__, cls.wait
    notify, notify_all = cls.notify, cls.notify_all

    def __init__(self: Any, lock: Any = None) -> None:
        try:
            primitive = watch_new(self, "condition")
            if lock is None:
                lock = condition_lock(primitive is not None)
            if primitive is not None:
                # A watched Condition's lock reports as the Condition: "condition acquired by ...".
                # Condition copies lock.acquire/release onto itself, so wrapping the lock is the
                # only way to see cond.acquire() and `with cond:`.
                library = state.options.include_library and library_owned(creator_frame(1))
                lock = proxy_for(lock, primitive, library)
                primitive.lock = getattr(lock, "_syncscope_primitive", None)
            init(self, lock)
            if primitive is not None and type(self) is UnwatchedCondition:
                self.__class__ = cls  # type: ignore[assignment]  # a Barrier's own, watched now
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def wait_(self: Any, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return wait(self, timeout)
                is_owned = self._is_owned
                # An RLock's own, in C, runs nothing watched: no guard (1,650 instructions a wait).
                if type(is_owned) is BuiltinMethodType:
                    if not is_owned():
                        return wait(self, timeout)  # the real wait raises RuntimeError
                elif not _probes(is_owned) and not silent(is_owned):
                    return wait(self, timeout)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                # _wait_op(), its common case written out: the program's own code calls.
                try:
                    code = _getframe(1).f_code
                except ValueError:  # called from C
                    code = None
                if code is None or (code is not _WAIT_FOR and code.co_name != "wait"):
                    op: Op = "wait"
                else:
                    op = _wait_op()
                lock = self._lock
                parked = park(lock, lean)
                try:
                    return signal_wait(
                        entry.primitive,
                        tally,
                        op,
                        wait,
                        (self, timeout),
                        timeout,
                    )
                finally:
                    unpark(lock, lean, parked)
            primitive = watched(self)
            if primitive is None or not (_probes(self._is_owned) or silent(self._is_owned)):
                return wait(self, timeout)  # not watched, or the real wait raises RuntimeError
            site = call_site()
            op = _wait_op()
            said_wait(primitive, op, "waiting", site, timeout=wait_limit(True, timeout))
            lean, lock = state.lean, self._lock
            parked = park(lock, lean)
            try:
                notified, waited = blocking_call(primitive, op, site, partial(wait, self, timeout))
            finally:
                unpark(lock, lean, parked)
            said_wait(primitive, op, "woken" if notified else "timeout", site, waited)
            return notified
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def notify_(self: Any, n: Any = 1) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return notify(self, n)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                waiting = len(self._waiters)
                try:
                    notify(self, n)
                except BaseException as exc:
                    emit(SyncEvent(entry.primitive, "notify", "error", call_site(), error=exc))
                    raise
                woken = min(n, waiting) if isinstance(n, int) else waiting
                tally.notifies += 1
                tally.woken += woken
                diagnosis = state.diagnosis
                if diagnosis is not None:  # the hang check hears of it (see _lean)
                    diagnosis.marked(entry.primitive, "notify", woken)
                lines = state.lines
                if lines is not None:  # under the lock: before the woken say so
                    lines.line(entry.primitive, "notify", "notified", waiters=woken)
                return None
            records, spends = state.records, None  # spends: see Records.spent
            if records is not None:
                entry = watches.get(id(self))
                if entry is None:  # not watched (a library's own): nothing to report
                    return notify(self, n)
                if not getattr(self, "_waiters", 1) and may_count():
                    if not records.counting:
                        spends = records  # wakes nobody: spends once it did not fail
                    else:
                        counted = entry.primitive  # nobody to wake: counted in place
                        try:
                            notify(self, n)
                        except BaseException as exc:
                            emit(SyncEvent(counted, "notify", "error", call_site(), error=exc))
                            raise
                        count_op(counted, "notify", records)
                        return None
            primitive = watched(self)
            if primitive is None:
                return notify(self, n)
            site = call_site()
            waiting = len(getattr(self, "_waiters", ()))
            try:
                silent(notify, self, n)
            except BaseException as exc:
                emit(SyncEvent(primitive, "notify", "error", site, error=exc))
                raise
            if spends is not None:
                spends.spent()
            woken = min(n, waiting) if isinstance(n, int) else waiting
            emit(SyncEvent(primitive, "notify", "notified", site, waiters=woken))
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def notify_all_(self: Any) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return notify_all(self)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                waiting = len(self._waiters)
                guard.busy = True
                try:
                    notify_all(self)  # it calls notify(): that one stays silent
                except BaseException as exc:
                    guard.busy = False
                    emit(SyncEvent(entry.primitive, "notify_all", "error", call_site(), error=exc))
                    raise
                guard.busy = False
                tally.notifies += 1
                tally.woken += waiting
                diagnosis = state.diagnosis
                if diagnosis is not None:  # the hang check hears of it (see _lean)
                    diagnosis.marked(entry.primitive, "notify_all", waiting)
                lines = state.lines
                if lines is not None:
                    lines.line(entry.primitive, "notify_all", "notified", waiters=waiting)
                return None
            records, spends = state.records, None  # spends: see Records.spent
            if records is not None:
                entry = watches.get(id(self))
                if entry is None:  # not watched (a library's own): nothing to report
                    return notify_all(self)
                if not getattr(self, "_waiters", 1) and may_count():
                    if not records.counting:
                        spends = records  # wakes nobody: spends once it did not fail
                    else:
                        counted = entry.primitive  # nobody to wake: counted in place
                        guard.busy = True
                        try:
                            notify_all(self)  # it calls notify(): that one stays silent
                        except BaseException as exc:
                            guard.busy = False
                            emit(SyncEvent(counted, "notify_all", "error", call_site(), error=exc))
                            raise
                        guard.busy = False
                        count_op(counted, "notify_all", records)
                        return None
            primitive = watched(self)
            if primitive is None:
                return notify_all(self)
            site = call_site()
            waiting = len(getattr(self, "_waiters", ()))
            try:
                silent(notify_all, self)  # it calls notify(): that one stays silent
            except BaseException as exc:
                emit(SyncEvent(primitive, "notify_all", "error", site, error=exc))
                raise
            if spends is not None:
                spends.spent()
            emit(SyncEvent(primitive, "notify_all", "notified", site, waiters=waiting))
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    return [
        (cls, "__init__", __init__),
        (cls, "wait", wait_),
        (cls, "notify", notify_),
        (cls, "notify_all", notify_all_),
    ]


def _semaphore_wrappers() -> list[Wrapper]:
    sem, bounded = threading.Semaphore, threading.BoundedSemaphore
    init, bounded_init = sem.__init__, bounded.__init__
    acquire, release, bounded_release = sem.acquire, sem.release, bounded.release

    def __init__(self: Any, value: Any = 1) -> None:
        try:
            watch_new(self, "semaphore")
            init(self, value)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def bounded_init_(self: Any, value: Any = 1) -> None:
        try:
            watch_new(self, "semaphore")
            bounded_init(self, value)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def acquire_(self: Any, blocking: Any = True, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or (
                    (state.options.include_library or state.lines is not None) and guard.busy
                ):
                    return acquire(self, blocking, timeout)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                # A permit at once: a hold begins (Semaphore.acquire checks no timeout then).
                got = False
                if blocking or timeout is None:
                    cond = self._cond
                    lock = cond._lock
                    if type(lock) is LOCK_TYPE and type(cond) is OwnCondition:
                        with lock:  # acquire(False)'s own steps, written out (see _ownsteps)
                            if self._value != 0:
                                self._value -= 1
                                got = True
                    elif state.options.include_library:
                        got = hidden(acquire, self, False)  # its Condition is watched: hide it
                    else:
                        got = acquire(self, False)
                if got:
                    try:
                        lines = state.lines
                        if lines is not None:  # first: a Ctrl-C in it leaves no permit
                            lines.line(entry.primitive, "acquire", "acquired")
                        if state.diagnosis is None:
                            entry.permits.append((get_ident(), perf_counter_ns()))
                        else:  # a hold the watchdog reads: where it was taken (see _lean)
                            # Not _getframe(1): called from C (a thread's target), there
                            # is no caller, and f_back is None.
                            permit_held(entry, _getframe().f_back)
                        tally.acquisitions += 1
                    except BaseException:  # a signal handler's exception: acquire() raises
                        hidden(release, self)  # the permit back, unseen as it was taken
                        raise
                    return True
                return semaphore_acquire_slowly(
                    self, entry, tally, acquire, release, blocking, timeout
                )
            records = state.records
            if (
                records is not None
                and records.counted is not None
                and (blocking or timeout is None)  # not acquire(False, 5): the real one raises
            ):
                entry = watches.get(id(self))  # the span sink alone: see counted
                if entry is not None:
                    trylock = tries_only(blocking, timeout)
                    answer = permit_taken(self, entry, acquire, release, records, trylock)
                    if answer is not None:
                        return answer
            primitive = watched(self)
            if primitive is None:
                return acquire(self, blocking, timeout)
            site = call_site()
            limit = wait_limit(blocking, timeout)
            waited = None
            if blocking:
                got = silent(acquire, self, False)
                # acquire(timeout=0) never waits: the attempt was the whole call.
                if not got and not tries_only(blocking, timeout):
                    emit(SyncEvent(primitive, "acquire", "waiting", site, timeout=limit))
                    got, waited = blocking_call(
                        primitive, "acquire", site, partial(acquire, self, True, timeout)
                    )
            else:
                try:
                    got = silent(acquire, self, blocking, timeout)
                except BaseException as exc:
                    emit(SyncEvent(primitive, "acquire", "error", site, error=exc))
                    raise
            if got:
                try:
                    emit(SyncEvent(primitive, "acquire", "acquired", site, waited, timeout=limit))
                except BaseException:  # acquire() raises: give the permit back
                    silent(release, self)
                    raise
            else:
                emit(
                    SyncEvent(
                        primitive,
                        "acquire",
                        "busy" if tries_only(blocking, timeout) else "timeout",
                        site,
                        waited,
                    )
                )
            return got
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def make_release(original: Callable[..., Any], is_bounded: bool) -> Callable[..., Any]:
        def release_(self: Any, n: Any = 1) -> None:
            try:
                # Decided by n's value, read calling nothing of the program's (the original
                # compares and adds n: an own number type's methods run there, once).
                count = n if type(n) is int else count_value(n)
                lean = state.lean
                if lean is not None:
                    entry = watches.get(id(self))
                    if entry is None or (
                        (state.options.include_library or state.lines is not None) and guard.busy
                    ):
                        return original(self, n)  # type: ignore[no-any-return]
                    if (count is not None and count >= 1) and (
                        not is_bounded or self._value + count <= self._initial_value
                    ):
                        permits = entry.permits
                        if permits:
                            tally = entry.tally
                            if tally is not None and tally.owner is lean:  # else not theirs
                                # Mostly the caller's own permit, taken last: _lean's rule
                                # for it, written out; any other case goes there.
                                try:
                                    mine = permits[-1]
                                except IndexError:  # given back meanwhile by another thread
                                    mine = None
                                if count == 1 and mine is not None and mine[0] == get_ident():
                                    held = perf_counter_ns() - mine[1]
                                    try:
                                        permits.remove(mine)
                                    except ValueError:  # taken by a release for us meanwhile
                                        permits_returned(entry, tally, count)
                                    else:
                                        tally.holds += 1
                                        tally.hold_total += held
                                        if held > tally.hold_max:  # noqa: PLR1730 (no call)
                                            tally.hold_max = held
                                elif mine is not None:
                                    permits_returned(entry, tally, count)
                        elif state.diagnosis is not None:  # no permit out: a signal
                            signalled(entry)
                        lines = state.lines
                        try:  # said first: a waiter it wakes says so after it
                            if lines is not None:
                                lines.line(entry.primitive, "release", "released", permits=count)
                        finally:
                            cond = self._cond
                            lock = cond._lock
                            done = False
                            if (
                                type(n) is int
                                and n == 1
                                and type(lock) is LOCK_TYPE
                                and type(cond) is OwnCondition
                            ):
                                with lock:  # release(1)'s own steps, written out (see _ownsteps)
                                    if not is_bounded or self._value + 1 <= self._initial_value:
                                        self._value += 1
                                        if cond._waiters:  # notify() wakes nobody without
                                            cond.notify()
                                        done = True
                            if not done:  # a release(n), one too many (the real one raises)
                                if state.options.include_library:  # its Condition is watched
                                    hidden(original, self, n)
                                else:
                                    original(self, n)
                        return None
                    # A release that raises: the event path says so.
                records = state.records
                if (
                    records is not None
                    and records.taken
                    and type(n) is int  # the original's comparisons are the program's else
                    and n == 1
                    and permit_returned(self, original, records, is_bounded)
                ):
                    return None  # a permit counted in place, given back: see counted
                primitive = watched(self)
                if primitive is None:
                    return original(self, n)  # type: ignore[no-any-return]
                site = call_site()
                will_succeed = (count is not None and count >= 1) and (
                    not is_bounded or self._value + count <= self._initial_value
                )
                if not will_succeed:  # let the real release raise, and report that
                    try:
                        silent(original, self, n)
                    except BaseException as exc:
                        emit(
                            SyncEvent(
                                primitive,
                                "release",
                                "error",
                                site,
                                permits=count,
                                error=exc,
                            )
                        )
                        raise
                    # It did not raise (a number of the program's own): said after it, then.
                    emit(SyncEvent(primitive, "release", "released", site, permits=count))
                    return None
                # Say "released" first: a waiter woken by this release reports after it; and
                # release whatever happens while saying it.
                try:
                    emit(SyncEvent(primitive, "release", "released", site, permits=count))
                finally:
                    silent(original, self, n)
                return None
            except BaseException as exc:
                hide_frames(exc)  # the program's traceback, not ours
                raise

        release_.__name__ = release_.__qualname__ = "release"
        return release_

    return [
        (sem, "__init__", __init__),
        (sem, "acquire", acquire_),
        # Semaphore.__enter__ is the original acquire function itself, bound at class creation.
        (sem, "__enter__", acquire_),
        (sem, "release", make_release(release, is_bounded=False)),
        (bounded, "__init__", bounded_init_),
        (bounded, "release", make_release(bounded_release, is_bounded=True)),
    ]


def _barrier_wrappers() -> list[Wrapper]:
    cls = threading.Barrier
    init, wait, abort, reset = cls.__init__, cls.wait, cls.abort, cls.reset

    def __init__(self: Any, parties: Any, action: Any = None, timeout: Any = None) -> None:
        try:
            primitive = watch_new(self, "barrier")
            init(self, parties, action, timeout)
            if primitive_of(self._cond) is None:  # its own Condition without the wrappers
                self._cond = barrier_condition(self._cond)
            if primitive is not None and action is not None:
                # The last thread to arrive runs it inside the wait, under the guard: it is
                # the program's own code all the same (see as_program).
                self._action = partial(as_program, action)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def wait_wrapper(self: Any, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return wait(self, timeout)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                return barrier_wait(self, entry.primitive, tally, wait, timeout)
            primitive = watched(self)
            if primitive is None:
                return wait(self, timeout)
            site = call_site()
            limit = wait_limit(True, self._timeout if timeout is None else timeout)
            arrivals = self.n_waiting + 1
            said_wait(primitive, "wait", "waiting", site, timeout=limit, arrivals=arrivals)
            index, waited = blocking_call(primitive, "wait", site, partial(wait, self, timeout))
            said_wait(primitive, "wait", "passed", site, waited, arrivals=index)
            return index
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def abort_wrapper(self: Any) -> None:
        try:
            primitive = watched(self)
            if primitive is None:
                return abort(self)
            emit(SyncEvent(primitive, "abort", "aborted", call_site()))
            silent(abort, self)
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def reset_wrapper(self: Any) -> None:
        try:
            primitive = watched(self)
            if primitive is None:
                return reset(self)
            emit(SyncEvent(primitive, "reset", "reset", call_site()))
            silent(reset, self)
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    wait_wrapper.__name__ = wait_wrapper.__qualname__ = "wait"
    abort_wrapper.__name__ = abort_wrapper.__qualname__ = "abort"
    reset_wrapper.__name__ = reset_wrapper.__qualname__ = "reset"
    return [
        (cls, "__init__", __init__),
        (cls, "wait", wait_wrapper),
        (cls, "abort", abort_wrapper),
        (cls, "reset", reset_wrapper),
    ]
