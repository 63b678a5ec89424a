"""
Lean statistics: with the statistics all that listens, lock proxies count in place of
reporting events. The figures must be the event path's, and the locks must stay drop-ins.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import syncscope
from syncscope import get_original
from syncscope._core.state import state
from syncscope._intercept.gil import acquire_contended
from syncscope._intercept.locks import PROXY_TYPES
from syncscope._sinks.figures import PrimitiveStats
from syncscope.testing import Recording

from .conftest import Latch, join, start_thread


lock_tests = pytest.importorskip("test.lock_tests", reason="CPython's test package is missing")


@contextlib.contextmanager
def _held_by_another_thread(lock: Any) -> Iterator[None]:
    """``lock`` held by a thread of its own for the time of the block, let go after it."""
    held, done = Latch(), Latch()

    def hold() -> None:
        with lock:
            held.set()
            done.wait()

    thread = start_thread(hold)
    held.wait()
    try:
        yield
    finally:
        done.set()
        join(thread)


def lean_recording() -> Any:
    """A recording whose statistics take the lean path (no events kept, no checks)."""
    return syncscope.record(detect_deadlocks=False, events=0)


def full_recording() -> Any:
    """The same figures through the event path: keeping events rules the lean path out."""
    return syncscope.record(detect_deadlocks=False, events=10)


@pytest.fixture
def lean() -> Iterator[Recording]:
    with lean_recording() as rec:
        assert state.lean is not None, "the lean path is not on"
        yield rec


def wait_until_blocked(thread: threading.Thread, function: str, timeout: float = 5) -> None:
    """Until ``thread`` runs ``function`` (where it blocks): there is no event to wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident or 0)
        if frame is not None and frame.f_code.co_name == function:
            return
        time.sleep(0.001)
    raise AssertionError(f"{thread.name} did not block in {function}() in time")


class TestFigures:
    def test_uncontended_acquisitions_and_holds(self, lean: Recording) -> None:
        """Each acquire counts, each release ends a hold, nothing waited."""
        lock = threading.Lock()
        for _ in range(3):
            with lock:
                pass
        lock.acquire()
        lock.release()
        s = lean.stats(lock)
        assert (4, 4, 0, 0) == (s.acquisitions, s.holds, s.contended, s.timeouts)
        assert 0 < s.max_hold_s <= s.total_hold_s

    def test_hold_time_covers_the_hold(self, lean: Recording) -> None:
        """A hold measured around a known pause is at least that long."""
        lock = threading.Lock()
        with lock:
            start = time.perf_counter()
            while time.perf_counter() - start < 0.02:
                pass
        assert lean.stats(lock).max_hold_s >= 0.02

    def test_rlock_reentry_is_one_hold(self, lean: Recording) -> None:
        """Every acquire of an RLock counts; one hold runs from the first to the last release."""
        rlock = threading.RLock()
        with rlock, rlock:
            rlock.acquire()
            rlock.release()
        s = lean.stats(rlock)
        assert (3, 1) == (s.acquisitions, s.holds)

    def test_failed_attempt_and_timeout_count_at_their_site(self, lean: Recording) -> None:
        """A failed non-blocking acquire and a timed-out one are counted where they were made."""
        lock = threading.Lock()
        with _held_by_another_thread(lock):
            assert lock.acquire(False) is False
            line_busy = sys._getframe().f_lineno - 1
            assert lock.acquire(timeout=0.02) is False
            line_timeout = sys._getframe().f_lineno - 1
        s = lean.stats(lock)
        assert (1, 1, 1) == (s.failed, s.timeouts, s.contended)
        assert s.total_wait_s >= 0.02
        sites = {site.line: site for site in s.sites}
        assert 1 == sites[line_busy].failed
        assert 1 == sites[line_timeout].timeouts

    @pytest.mark.parametrize("factory_name", ["Lock", "RLock"])
    def test_a_failed_trylock_answers_false_counted_once_at_its_site(
        self, lean: Recording, factory_name: str
    ) -> None:
        """
        ``acquire(False)`` and ``acquire(0)`` on a lock another thread holds answer False, a
        bool as the lock's, each counted once as failed at its line, nothing taken.
        """
        lock = getattr(threading, factory_name)()
        with _held_by_another_thread(lock):
            answers = [lock.acquire(False), lock.acquire(0)]
            line = sys._getframe().f_lineno - 1
        assert [(bool, False), (bool, False)] == [(type(a), a) for a in answers]
        s = lean.stats(lock)
        assert (2, 1, 0) == (s.failed, s.acquisitions, s.timeouts)  # the holder's, one
        assert 2 == {site.line: site for site in s.sites}[line].failed

    def test_contended_acquire(self, lean: Recording) -> None:
        """An acquire that waited for another thread counts its wait, at its site."""
        lock = threading.Lock()
        held = Latch()
        got: list[int] = []

        def waiter() -> None:
            with lock:
                got.append(sys._getframe().f_lineno - 1)

        lock.acquire()
        thread = start_thread(waiter)
        wait_until_blocked(thread, "acquire_contended")
        held.set()
        lock.release()
        join(thread)
        s = lean.stats(lock)
        assert (2, 1, 1) == (s.acquisitions, s.contended, s.owner_changes)
        assert s.max_wait_s > 0
        (site,) = [site for site in s.sites if site.contended]
        assert got == [site.line]
        top = s.top_site()
        assert top is not None and top.line == site.line

    def test_condition_hold_stops_while_waiting(self, lean: Recording) -> None:
        """A Condition's lock is not held while it waits: the wait cuts its hold in two."""
        for lock in (threading.Lock(), None):
            cond = threading.Condition(lock)
            with cond:
                assert cond.wait(timeout=0.05) is False
            s = lean.stats(cond if lock is None else lock)
            assert 1 == s.acquisitions
            assert 2 == s.holds
            assert s.max_hold_s < 0.05, "the wait was counted as holding the lock"

    def test_the_same_figures_as_the_event_path(self) -> None:
        """A deterministic program gives the same per-primitive counts either way."""

        def program() -> tuple[Any, Any, Any]:
            lock, rlock, cond = threading.Lock(), threading.RLock(), threading.Condition()
            for _ in range(5):
                with lock, rlock:
                    rlock.acquire()
                    rlock.release()
            lock.acquire(False)
            lock.acquire(timeout=0.001)
            lock.release()
            with cond:
                cond.wait(0.001)
                cond.notify()
            return lock, rlock, cond

        def figures(s: PrimitiveStats) -> tuple[int, ...]:
            return (s.acquisitions, s.holds, s.contended, s.timeouts, s.failed, s.waits)

        with lean_recording() as lean:
            assert state.lean is not None
            lean_prims = program()
        with full_recording() as full:
            assert state.lean is None
            full_prims = program()
        assert [figures(lean.stats(p)) for p in lean_prims] == [
            figures(full.stats(p)) for p in full_prims
        ]

    def test_a_timeout_of_another_type_counts_as_on_the_event_path(self) -> None:
        """
        A timeout a trylock cannot be tried before (a float subclass, numpy's float64) is
        counted, and its hold too: it was made as asked, uncounted, under -q.
        """

        class Seconds(float):
            pass

        def program() -> Any:
            lock = threading.Lock()
            assert lock.acquire(timeout=Seconds(1.0))
            assert not lock.acquire(timeout=Seconds(0.001))
            with pytest.raises(ValueError):
                lock.acquire(timeout=Seconds(-5.0))
            lock.release()
            return lock

        def figures(s: PrimitiveStats) -> tuple[int, ...]:
            return (s.acquisitions, s.holds, s.contended, s.timeouts, s.failed, s.errors)

        with lean_recording() as lean:
            assert state.lean is not None
            lean_lock = program()
        with full_recording() as full:
            full_lock = program()
        assert figures(full.stats(full_lock)) == figures(lean.stats(lean_lock))
        assert (1, 1, 1) == figures(lean.stats(lean_lock))[:2] + figures(lean.stats(lean_lock))[3:4]


class TestDropIn:
    def test_errors_are_the_originals(self, lean: Recording) -> None:
        """Bad arguments and bad releases raise exactly as on the real locks."""
        for make in (threading.Lock, threading.RLock):
            lock = make()
            with pytest.raises(ValueError):
                lock.acquire(timeout=-100)
            with pytest.raises(ValueError):
                lock.acquire(False, 1)
            with pytest.raises(RuntimeError):
                lock.release()
            assert lock.acquire(timeout=1) is True
            lock.release()
        s = lean.stats(lock)
        assert (1, 1, 0) == (s.acquisitions, s.holds, s.failed)

    def test_rlock_released_by_another_thread(self, lean: Recording) -> None:
        """Another thread's release raises and leaves the owner's hold to be counted."""
        rlock = threading.RLock()
        errors: list[BaseException] = []

        def release() -> None:
            try:
                rlock.release()
            except RuntimeError as exc:
                errors.append(exc)

        with rlock:
            join(start_thread(release))
        assert 1 == len(errors)
        assert 1 == lean.stats(rlock).holds

    def test_lock_released_by_another_thread(self, lean: Recording) -> None:
        """A Lock may be released by any thread: that ends the hold."""
        lock = threading.Lock()
        lock.acquire()
        join(start_thread(lock.release))
        assert not lock.locked()
        assert 1 == lean.stats(lock).holds


def _lean(cls: type) -> type:
    """A CPython test class run with lean statistics listening."""

    def setUp(self: Any) -> None:
        # Every primitive watched: these tests make theirs inside the standard library.
        syncscope.install(lines=False, include_library=True)
        self._recording = lean_recording()
        self._recording.__enter__()
        assert state.lean is not None
        assert type(threading.Lock()) in PROXY_TYPES
        cls.setUp(self)

    def tearDown(self: Any) -> None:
        cls.tearDown(self)
        self._recording.__exit__(None, None, None)
        syncscope.uninstall()

    return type(f"Lean{cls.__name__}", (cls,), {"setUp": setUp, "tearDown": tearDown})


def _patched(name: str) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(threading, name)(*args, **kwargs)

    return staticmethod(create)  # type: ignore[return-value]


LeanLockTests = _lean(type("L", (lock_tests.LockTests,), {"locktype": _patched("Lock")}))
LeanRLockTests = _lean(type("R", (lock_tests.RLockTests,), {"locktype": _patched("RLock")}))
LeanConditionTests = _lean(
    type("C", (lock_tests.ConditionTests,), {"condtype": _patched("Condition")})
)


class TestContendedAcquire:
    """_gil.acquire_contended: the GIL given away a few times, then a real wait."""

    def test_gets_a_lock_released_meanwhile(self) -> None:
        lock = get_original("threading", "Lock")()
        lock.acquire()
        released = Latch()

        def release() -> None:
            lock.release()
            released.set()

        thread = start_thread(release)
        assert acquire_contended(lock) is True
        released.wait()
        join(thread)
        assert lock.locked()

    def test_times_out_as_the_lock_does(self) -> None:
        lock = get_original("threading", "Lock")()
        lock.acquire()
        assert acquire_contended(lock, 0.01) is False
        assert acquire_contended(lock, 0) is False
        with pytest.raises(ValueError):
            acquire_contended(lock, -5)
