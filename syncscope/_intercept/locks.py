"""
Lock and RLock: proxies around the C locks.

``_thread.lock`` cannot be subclassed and cannot be patched, so ``threading.Lock`` and
``threading.RLock`` are replaced by factories (see _lockfactories). A lock created by the
user's code comes back wrapped in a proxy; one created by the standard library or a package
comes back raw, with no cost at all.

The proxies are plain ``__slots__`` classes rather than ``wrapt`` object proxies: measured
here, a wrapt proxy costs several times a plain method call on every acquire and release, and
this is the hottest path of a threaded program.
"""

from __future__ import annotations

import sys
import threading
from _thread import get_ident
from itertools import starmap
from types import FrameType

from .._core.dispatch import guard
from .._core.event import Primitive, perf_counter_ns
from .._core.holds import freed_without_release
from .._core.leanholds import local as lean_local
from .._core.leanholds import this_thread, unlink
from .._core.registry import saved
from .._core.state import state
from .._core.tally import Tally
from .._core.timeouts import NO_TIMEOUT, as_read
from .._core.tracebacks import hide_frames
from . import lean
from .gil import acquire_contended
from .interrupts import NOT_BLOCKING, NOT_YET, checked_blocking, take
from .lean import forget_hold, hold_ended, longest_hold, nested, parked_to_wait, pop, unpark
from .lockpaths import (
    counted_acquire,
    counted_release,
    first_tally,
    recorded_acquire,
    recorded_release,
    reported_release,
    said_release,
    slow_acquire,
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


_original_rlock = saved["threading"]["RLock"]
_getframe = sys._getframe


class _Proxy:
    """
    What the Lock and RLock proxies share: behave as the lock they wrap, report operations.

    Acquire and release start with a lean path, taken when the statistics are all that
    listens (see _lean). It is written out in each method rather than called, because a call
    would cost more than the counting does; the rest is the same for both proxies.
    """

    __slots__ = (
        "__weakref__",
        "_syncscope_attempts",
        "_syncscope_below",
        "_syncscope_chain",
        "_syncscope_code",
        "_syncscope_holder",
        "_syncscope_lasti",
        "_syncscope_library",
        "_syncscope_lock",
        "_syncscope_owned",
        "_syncscope_primitive",
        "_syncscope_since",
        "_syncscope_tally",
    )
    _reentrant = False

    def __init__(
        self, lock: Any = None, primitive: Primitive | None = None, library: bool = False
    ) -> None:
        if lock is None or primitive is None:
            # type(lock)() refuses as type(raw_lock)() does: CPython's
            # test_threading.test_disallow_instantiation checks type(threading.Lock())().
            cls = type(self)
            raise TypeError(f"cannot create '{cls.__module__}.{cls.__name__}' instances")
        self._syncscope_lock = lock
        #: The fast paths' non-blocking acquires, endless, one per item (see _interrupts).
        self._syncscope_attempts = starmap(lock.acquire, NOT_BLOCKING)
        #: Whether this thread may release it, one answer per item (see _interrupts): held, for
        #: a Lock; owned by this thread, for an RLock. Made at the first release that asks.
        self._syncscope_owned: Iterator[bool] = NOT_YET
        self._syncscope_primitive = primitive
        #: perf_counter_ns() when the current hold began under lean statistics, else 0.
        self._syncscope_since = 0
        #: Its tally in the lean statistics, from its first operation there (first_tally).
        self._syncscope_tally: Tally | None = None
        # Its lean hold, while the diagnosis is lean (see _core/leanholds): the holder's
        # ThreadHolds, the proxy that holder took before it, the key of that chain, and
        # the code and instruction that took it.
        self._syncscope_holder: Any = None
        self._syncscope_below: Any = None
        self._syncscope_chain: Any = None
        self._syncscope_code: Any = None
        self._syncscope_lasti = 0
        #: Made by the standard library or a package (watched with ``--all``): what it does
        #: inside another watched operation (an Event's set takes its Condition's lock, a put
        #: its queue's mutex) is that operation's, as on the event path: the fast paths read
        #: the guard for such a lock, or for any with the lines on, and under it take it unseen.
        self._syncscope_library = library

    def _at_fork_reinit(self) -> None:
        self._syncscope_lock._at_fork_reinit()
        self._syncscope_since = 0
        # Free now (logging's fork idiom: taken before fork, reinitialised in the child): out of
        # its holder's chain, or each lock the child takes is seen under it (false inversions).
        if self._syncscope_holder is not None:
            unlink(self, self._syncscope_holder)
        self._syncscope_holder = self._syncscope_below = None
        freed_without_release(self._syncscope_primitive, state.sinks)  # the event path's model

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(proxy, type(original_lock)) stays true
        return type(self._syncscope_lock)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy and pickle look a reducer up by type(), the proxy's: one the program registered
        # for the lock's own type (copyreg.pickle(_thread.LockType, ...)) applies here too.
        # Without one, they fail exactly as they do on the lock itself.
        import copyreg  # loaded at interpreter start-up: a dict lookup

        lock = self._syncscope_lock
        reducer = copyreg.dispatch_table.get(type(lock))
        if reducer is not None:
            return reducer(self)
        return lock.__reduce_ex__(protocol)

    def __repr__(self) -> str:
        return repr(self._syncscope_lock)

    # No __getattr__ forwarding: a class with __getattr__ loses the interpreter's attribute
    # specialisations, which measured here made every acquire+release pair 70% slower. The
    # locks' whole API is spelled out instead.


class _LockProxy(_Proxy):
    """A ``_thread.lock`` that reports its operations."""

    __slots__ = ()

    def acquire(self, blocking: Any = True, timeout: Any = -1) -> Any:
        try:
            if blocking is not True and blocking is not False:  # read as the lock reads it
                blocking = checked_blocking(blocking)
            if type(timeout) is not int and type(timeout) is not float:
                timeout = as_read(timeout)  # once: the paths below pass the plain number on
            tally = self._syncscope_tally
            if tally is None or tally.owner is not state.lean:  # a first operation under them
                tally = None if (book := state.lean) is None else first_tally(self, book)
            lines = state.lines
            if (
                tally is not None
                and timeout is NO_TIMEOUT
                and not ((self._syncscope_library or lines is not None) and guard.busy)
            ):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
                    break
                if got:  # uncontended: count it, stamp the hold, done
                    try:
                        if lines is not None:  # said first: a Ctrl-C in it leaves no hold
                            lines.line(self._syncscope_primitive, "acquire", "acquired")
                        self._syncscope_since = perf_counter_ns()
                        tally.acquisitions += 1
                        if state.diagnosis is not None:  # _lean.push, written out
                            holds = lean_local.holds or this_thread()
                            below = self._syncscope_below = holds.top
                            holds.top = self
                            self._syncscope_holder = holds
                            try:
                                frame: FrameType | None = _getframe(1)
                            except ValueError:  # called from C: no caller
                                frame = None
                            if frame is None:
                                self._syncscope_code = None
                            else:
                                self._syncscope_code = frame.f_code
                                self._syncscope_lasti = frame.f_lasti
                            if below is not None:
                                nested(self, below, blocking)
                    except BaseException:  # a signal handler's exception: acquire() raises
                        try:
                            forget_hold(self)  # first: no other thread's hold begins meanwhile
                        finally:
                            lock.release()
                        raise
                    return True
                if not blocking:  # a trylock that found it taken: that attempt was the call
                    return lean.trylock_failed(self, tally)
            records = state.records
            if records is not None and records.counting:  # the span sink alone, under pressure
                answer = counted_acquire(self, records, blocking, timeout)  # see there
                if answer is not None:
                    return answer
            if state.lean is None and (not state.active or guard.busy):
                lock = self._syncscope_lock
                if timeout is NO_TIMEOUT:  # blocking, see _gil: no convoy behind a holder
                    for got in self._syncscope_attempts:  # one item: see _interrupts
                        return got if got or not blocking else acquire_contended(lock)
                return take(lock, blocking, timeout)
            if records is not None:  # the span sink alone: see recorded_acquire
                return recorded_acquire(self, records, blocking, timeout)
            return slow_acquire(self, blocking, timeout)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    # Not `__enter__ = acquire`: measured 28 ns slower a `with`, with nothing listening.
    def __enter__(self) -> Any:
        try:
            tally = self._syncscope_tally
            if tally is None or tally.owner is not state.lean:  # a first operation under them
                tally = None if (book := state.lean) is None else first_tally(self, book)
            lines = state.lines
            if tally is not None and not (
                (self._syncscope_library or lines is not None) and guard.busy
            ):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
                    break
                if got:
                    try:
                        if lines is not None:
                            lines.line(self._syncscope_primitive, "acquire", "acquired")
                        self._syncscope_since = perf_counter_ns()
                        tally.acquisitions += 1
                        if state.diagnosis is not None:
                            holds = lean_local.holds or this_thread()
                            below = self._syncscope_below = holds.top
                            holds.top = self
                            self._syncscope_holder = holds
                            try:
                                frame: FrameType | None = _getframe(1)
                            except ValueError:  # called from C: no caller
                                frame = None
                            code = None if frame is None else frame.f_code  # read once
                            if code is CONDITION_ENTER and frame is not None:  # `with cond:`
                                frame = frame.f_back  # the with's line
                                code = None if frame is None else frame.f_code
                            self._syncscope_code = code
                            if frame is not None:
                                self._syncscope_lasti = frame.f_lasti
                            if below is not None:
                                nested(self, below, True)
                    except BaseException:
                        try:
                            forget_hold(self)
                        finally:
                            lock.release()
                        raise
                    return True
            records = state.records
            if records is not None and records.counting and counted_acquire(self, records):
                return True  # the span sink alone, under pressure: see counted_acquire
            if state.lean is None and (not state.active or guard.busy):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # one item: see _interrupts
                    return got or acquire_contended(lock)
            if records is not None:
                return recorded_acquire(self, records, True, -1)
            return slow_acquire(self, True, -1)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def release(self) -> None:
        try:
            since = self._syncscope_since
            if since:  # a hold that lean statistics stamped ends: _lean.hold_ended, written out
                try:
                    held = perf_counter_ns() - since
                    self._syncscope_since = 0
                    tally = self._syncscope_tally
                    holds = self._syncscope_holder
                    if tally is not None:
                        tally.holds += 1
                        tally.hold_total += held
                        if held > tally.hold_max:
                            tally.hold_max = held
                            if holds is not None:  # a lean hold knows where it was taken
                                longest_hold(self, tally, held, holds)
                    if holds is not None:  # _lean.pop, written out
                        # The holder goes last: a Ctrl-C before (at get_ident) is forgotten.
                        if holds.top is self and holds.ident == get_ident():
                            holds.top = self._syncscope_below
                            self._syncscope_below = self._syncscope_holder = None
                        else:
                            pop(self)
                except BaseException:  # Ctrl-C before the real release: release still
                    try:
                        forget_hold(self)
                    finally:
                        self._syncscope_lock.release()
                    raise
            if state.lean is not None:
                lines = state.lines
                if lines is None:
                    self._syncscope_lock.release()
                    return None
                if not guard.busy:  # said_release, written out: see _interrupts
                    for owned in self._syncscope_owned:  # one item: see _interrupts
                        if owned:
                            try:
                                lines.line(self._syncscope_primitive, "release", "released")
                            finally:
                                self._syncscope_lock.release()
                            return None
                        break
                return said_release(self)
            records = state.records
            if records is not None and records.taken and counted_release(self, records):
                return None  # the span sink alone, a use counted in place: see counted_release
            if not state.active or guard.busy:
                self._syncscope_lock.release()
                return None
            if records is not None:  # the span sink alone: see recorded_release
                return recorded_release(self, records)
            return reported_release(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def __exit__(self, *exc_info: object) -> None:
        try:
            since = self._syncscope_since
            if since:
                try:
                    held = perf_counter_ns() - since
                    self._syncscope_since = 0
                    tally = self._syncscope_tally
                    holds = self._syncscope_holder
                    if tally is not None:
                        tally.holds += 1
                        tally.hold_total += held
                        if held > tally.hold_max:
                            tally.hold_max = held
                            if holds is not None:  # a lean hold knows where it was taken
                                longest_hold(self, tally, held, holds)
                    if holds is not None:
                        if holds.top is self and holds.ident == get_ident():
                            holds.top = self._syncscope_below
                            self._syncscope_below = self._syncscope_holder = None
                        else:
                            pop(self)
                except BaseException:  # Ctrl-C before the real release: release still
                    try:
                        forget_hold(self)
                    finally:
                        self._syncscope_lock.release()
                    raise
            if state.lean is not None:
                lines = state.lines
                if lines is None:
                    self._syncscope_lock.release()
                    return None
                if not guard.busy:  # said_release, written out: see _interrupts
                    for owned in self._syncscope_owned:  # one item: see _interrupts
                        if owned:
                            try:
                                lines.line(self._syncscope_primitive, "release", "released")
                            finally:
                                self._syncscope_lock.release()
                            return None
                        break
                return said_release(self)
            records = state.records
            if records is not None and records.taken and counted_release(self, records):
                return None  # the span sink alone, a use counted in place: see counted_release
            if not state.active or guard.busy:
                self._syncscope_lock.release()
                return None
            if records is not None:  # the span sink alone: see recorded_release
                return recorded_release(self, records)
            return reported_release(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def locked(self) -> bool:
        return self._syncscope_lock.locked()  # type: ignore[no-any-return]

    # The deprecated aliases of _thread.lock.
    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def _is_owned(self) -> bool:
        # Condition's own fallback, done on the wrapped lock: without it, Condition would probe
        # with acquire(False) through the proxy and every notify() would show a failed acquire.
        for got in self._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
            break
        if got:
            self._syncscope_lock.release()
            return False
        return True

    # Condition's own fallbacks too, done on the wrapped lock: giving the lock up to wait and
    # taking it back are part of the wait, not operations of their own. The state saved is
    # the lean hold parked, if any (Condition hands it back as it is: see _lean.park).
    def _release_save(self) -> Any:
        records = state.records
        if records is not None and records.taken:  # a hold counted in place goes in first
            records.claim(self._syncscope_primitive)
        # Mostly parked already by the wait wrapper: then nothing to park, and no call.
        parked = parked_to_wait(self) if self._syncscope_since else None
        self._syncscope_lock.release()
        return parked  # the hold parked here, if any: handed back to _acquire_restore

    def _acquire_restore(self, saved_state: Any) -> None:
        self._syncscope_lock.acquire()
        if saved_state is not None:
            unpark(self, state.lean, saved_state)


class _RLockProxy(_Proxy):
    """An RLock that reports its operations; also speaks the protocol Condition relies on."""

    __slots__ = ()
    _reentrant = True

    def acquire(self, blocking: Any = True, timeout: Any = -1) -> Any:
        try:
            if blocking is not True and blocking is not False:  # read as the lock reads it
                blocking = checked_blocking(blocking)
            if type(timeout) is not int and type(timeout) is not float:
                timeout = as_read(timeout)  # once: the paths below pass the plain number on
            tally = self._syncscope_tally
            if tally is None or tally.owner is not state.lean:  # a first operation under them
                tally = None if (book := state.lean) is None else first_tally(self, book)
            lines = state.lines
            if (
                tally is not None
                and timeout is NO_TIMEOUT
                and not ((self._syncscope_library or lines is not None) and guard.busy)
            ):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
                    break
                if got:  # uncontended, or reentered
                    try:
                        if lines is not None:
                            lines.line(
                                self._syncscope_primitive,
                                "acquire",
                                "acquired",
                                lock._recursion_count(),
                            )
                        if not self._syncscope_since:  # the outermost acquire
                            self._syncscope_since = perf_counter_ns()
                            if state.diagnosis is not None:  # _lean.push, written out
                                holds = lean_local.holds or this_thread()
                                below = self._syncscope_below = holds.top
                                holds.top = self
                                self._syncscope_holder = holds
                                try:
                                    frame: FrameType | None = _getframe(1)
                                except ValueError:  # called from C: no caller
                                    frame = None
                                if frame is None:
                                    self._syncscope_code = None
                                else:
                                    self._syncscope_code = frame.f_code
                                    self._syncscope_lasti = frame.f_lasti
                                if below is not None:
                                    nested(self, below, bool(blocking))
                        tally.acquisitions += 1
                    except BaseException:
                        try:
                            forget_hold(self)
                        finally:
                            lock.release()
                        raise
                    return True
                if not blocking:  # a trylock that found it taken: that attempt was the call
                    return lean.trylock_failed(self, tally)
            records = state.records
            if records is not None and records.counting:  # the span sink alone, under pressure
                answer = counted_acquire(self, records, blocking, timeout)  # see there
                if answer is not None:
                    return answer
            if state.lean is None and (not state.active or guard.busy):
                lock = self._syncscope_lock
                if timeout is NO_TIMEOUT:  # blocking, see _gil: no convoy behind a holder
                    for got in self._syncscope_attempts:  # one item: see _interrupts
                        return got if got or not blocking else acquire_contended(lock)
                return take(lock, blocking, timeout)
            if records is not None:  # the span sink alone: see recorded_acquire
                return recorded_acquire(self, records, blocking, timeout)
            return slow_acquire(self, blocking, timeout)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def __enter__(self) -> Any:
        try:
            tally = self._syncscope_tally
            if tally is None or tally.owner is not state.lean:  # a first operation under them
                tally = None if (book := state.lean) is None else first_tally(self, book)
            lines = state.lines
            if tally is not None and not (
                (self._syncscope_library or lines is not None) and guard.busy
            ):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # noqa: B007 (one item: see _interrupts)
                    break
                if got:
                    try:
                        if lines is not None:
                            lines.line(
                                self._syncscope_primitive,
                                "acquire",
                                "acquired",
                                lock._recursion_count(),
                            )
                        if not self._syncscope_since:  # the outermost acquire
                            self._syncscope_since = perf_counter_ns()
                            if state.diagnosis is not None:  # _lean.push, written out
                                holds = lean_local.holds or this_thread()
                                below = self._syncscope_below = holds.top
                                holds.top = self
                                self._syncscope_holder = holds
                                try:
                                    frame: FrameType | None = _getframe(1)
                                except ValueError:  # called from C: no caller
                                    frame = None
                                code = None if frame is None else frame.f_code  # read once
                                if code is CONDITION_ENTER and frame is not None:  # `with cond:`
                                    frame = frame.f_back  # the with's line
                                    code = None if frame is None else frame.f_code
                                self._syncscope_code = code
                                if frame is not None:
                                    self._syncscope_lasti = frame.f_lasti
                                if below is not None:
                                    nested(self, below, True)
                        tally.acquisitions += 1
                    except BaseException:
                        try:
                            forget_hold(self)
                        finally:
                            lock.release()
                        raise
                    return True
            records = state.records
            if records is not None and records.counting and counted_acquire(self, records):
                return True  # the span sink alone, under pressure: see counted_acquire
            if state.lean is None and (not state.active or guard.busy):
                lock = self._syncscope_lock
                for got in self._syncscope_attempts:  # one item: see _interrupts
                    return got or acquire_contended(lock)
            if records is not None:
                return recorded_acquire(self, records, True, -1)
            return slow_acquire(self, True, -1)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def release(self) -> None:
        # Only the owner's outermost release ends the hold (another thread's release raises).
        try:
            if self._syncscope_since:
                lock = self._syncscope_lock
                try:
                    if lock._recursion_count() == 1:
                        hold_ended(self)
                except BaseException:  # Ctrl-C before the real release: release still
                    if lock._is_owned():
                        try:
                            forget_hold(self)
                        finally:
                            lock.release()
                    raise
            if state.lean is not None:
                lines = state.lines
                if lines is None:
                    self._syncscope_lock.release()
                    return None
                if not guard.busy:  # said_release, written out: see _interrupts
                    for owned in self._syncscope_owned:  # one item: see _interrupts
                        if owned:
                            lock = self._syncscope_lock
                            try:
                                depth = lock._recursion_count() - 1
                                lines.line(self._syncscope_primitive, "release", "released", depth)
                            finally:
                                lock.release()
                            return None
                        break
                return said_release(self)
            records = state.records
            if records is not None and records.taken and counted_release(self, records):
                return None  # the span sink alone, a use counted in place: see counted_release
            if not state.active or guard.busy:
                self._syncscope_lock.release()
                return None
            if records is not None:  # the span sink alone: see recorded_release
                return recorded_release(self, records)
            return reported_release(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._syncscope_since:
                lock = self._syncscope_lock
                try:
                    if lock._recursion_count() == 1:
                        hold_ended(self)
                except BaseException:  # Ctrl-C before the real release: release still
                    if lock._is_owned():
                        try:
                            forget_hold(self)
                        finally:
                            lock.release()
                    raise
            if state.lean is not None:
                lines = state.lines
                if lines is None:
                    self._syncscope_lock.release()
                    return None
                if not guard.busy:  # said_release, written out: see _interrupts
                    for owned in self._syncscope_owned:  # one item: see _interrupts
                        if owned:
                            lock = self._syncscope_lock
                            try:
                                depth = lock._recursion_count() - 1
                                lines.line(self._syncscope_primitive, "release", "released", depth)
                            finally:
                                lock.release()
                            return None
                        break
                return said_release(self)
            records = state.records
            if records is not None and records.taken and counted_release(self, records):
                return None  # the span sink alone, a use counted in place: see counted_release
            if not state.active or guard.busy:
                self._syncscope_lock.release()
                return None
            if records is not None:  # the span sink alone: see recorded_release
                return recorded_release(self, records)
            return reported_release(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    @property
    def _is_owned(self) -> Any:
        # The RLock's own, bound: a Condition keeps it (Condition.__init__) and calls it in
        # every notify and wait, where a method of ours cost a Python call each time.
        return self._syncscope_lock._is_owned

    # The RLock's own state, and the lean hold parked, if any (see _LockProxy._release_save).
    def _release_save(self) -> Any:
        records = state.records
        if records is not None and records.taken:  # a hold counted in place goes in first
            records.claim(self._syncscope_primitive)
        lock = self._syncscope_lock
        # Not owned: the next line raises.
        parked = parked_to_wait(self) if self._syncscope_since and lock._is_owned() else None
        return (lock._release_save(), parked)

    def _acquire_restore(self, saved_state: Any) -> None:
        own, parked = saved_state
        self._syncscope_lock._acquire_restore(own)
        if parked is not None:
            unpark(self, state.lean, parked)

    def _recursion_count(self) -> int:
        return self._syncscope_lock._recursion_count()  # type: ignore[no-any-return]

    if hasattr(_original_rlock(), "locked"):  # RLock.locked() arrived in 3.14

        def locked(self) -> bool:
            return self._syncscope_lock.locked()  # type: ignore[no-any-return]


PROXY_TYPES = (_LockProxy, _RLockProxy)


#: Condition.__enter__'s code: a Condition taken with `with cond:` takes its lock's __enter__
#: from there, and the hold is placed at the with, as the event path places it (the __enter__
#: fast paths compare the caller's code with it: a look past every machinery frame cost 1,300
#: instructions a Lock pair under -q). Condition.acquire is the lock's own acquire, bound.
CONDITION_ENTER = threading.Condition.__enter__.__code__
