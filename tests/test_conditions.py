"""Condition, Semaphore, BoundedSemaphore, Event and Barrier under syncscope."""

from __future__ import annotations

import copy
import os
import pickle
import threading
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import syncscope
from syncscope._intercept.locks import PROXY_TYPES

from .conftest import Capture, SignalSink, add_sink, join, start_thread


class TestCondition:
    def test_producer_consumer_in_the_articles_words(
        self, capture: Capture, signals: SignalSink
    ) -> None:
        """The article's condition example reads as the article prints it by hand."""
        capture.install()
        add_sink(signals)
        condition = threading.Condition()
        integers: list[int] = []
        waiting = signals.when(lambda e: e.op == "wait" and e.outcome == "waiting")

        def consume() -> None:
            with condition:
                while not integers:
                    condition.wait(timeout=5)
                integers.pop()

        consumer = start_thread(consume, name="Thread-2")
        waiting.wait()
        with condition:
            integers.append(159)
            condition.notify()
        join(consumer)
        assert [
            "condition acquired by Thread-2",
            "condition wait by Thread-2",
            "condition acquired by MainThread",
            "condition notified by MainThread",
            "condition released by MainThread",
            "condition woken by Thread-2",
            "condition released by Thread-2",
        ] == [m.split(" after ")[0] for m in capture.messages()]

    def test_an_acquire_that_waits_is_not_told_as_a_wait(
        self, capture: Capture, signals: SignalSink
    ) -> None:
        """
        A thread blocked taking a Condition says so in other words than the article's
        ``condition wait by``, which is its wait(): a reader of the lines tells them apart.
        """
        capture.install()
        add_sink(signals)
        condition = threading.Condition()
        blocked = signals.when(lambda e: e.op == "acquire" and e.outcome == "waiting")

        def take() -> None:
            with condition:
                pass

        with condition:
            taker = start_thread(take, name="Thread-2")
            blocked.wait()
        join(taker)
        messages = [m.split(" after ")[0] for m in capture.messages()]
        assert "condition busy, acquire waits by Thread-2" in messages
        assert "condition acquired by Thread-2" in messages
        assert not any(" wait by " in m for m in messages), messages

    def test_notify_without_waiters_and_notify_all(self, capture: Capture) -> None:
        """notify says how many it woke; notify_all is one event, not one per notify."""
        capture.install()
        cond = threading.Condition()
        with cond:
            cond.notify()
            cond.notify_all()
        assert [
            "condition cond acquired by MainThread",
            "condition cond notified by MainThread (nobody waiting)",
            "condition cond notified all by MainThread (nobody waiting)",
            "condition cond released by MainThread",
        ] == capture.messages()

    def test_wait_timeout_and_wait_for(self, capture: Capture) -> None:
        """A timed-out wait and wait_for, and a woken wait_for, are reported with their outcome."""
        capture.install()
        cond = threading.Condition()
        ready: list[int] = []

        def notifier() -> None:
            with cond:  # only once the main thread's wait_for has let the lock go
                ready.append(1)
                cond.notify()

        with cond:
            assert cond.wait(0.001) is False
            assert cond.wait_for(lambda: False, timeout=0) is False  # one wait, whatever the clock
            thread = start_thread(notifier)
            assert cond.wait_for(lambda: ready, timeout=5) == [1]
        join(thread)
        outcomes = [(e["op"], e["outcome"]) for e in capture.events() if e["thread"] != thread.name]
        assert [
            ("acquire", "acquired"),
            ("wait", "waiting"),
            ("wait", "timeout"),
            ("wait_for", "waiting"),
            ("wait_for", "timeout"),
            ("wait_for", "waiting"),
            ("wait_for", "woken"),
            ("release", "released"),
        ] == outcomes

    def test_wait_for_through_a_subclass_wait(self, capture: Capture) -> None:
        """A subclass's wait calling super().wait(), called by wait_for: a wait_for's wait."""

        class Traced(threading.Condition):
            def wait(self, timeout: float | None = None) -> bool:
                return super().wait(timeout)

        capture.install()
        cond = Traced()
        with cond:
            assert cond.wait_for(lambda: False, timeout=0) is False  # one wait, whatever the clock
            assert cond.wait(0.001) is False
        waits = [(e["op"], e["outcome"]) for e in capture.events() if e["op"] != "acquire"]
        assert [
            ("wait_for", "waiting"),
            ("wait_for", "timeout"),
            ("wait", "waiting"),
            ("wait", "timeout"),
            ("release", "released"),
        ] == waits

    def test_wait_for_predicate_is_the_programs_code(self, capture: Capture) -> None:
        """
        The predicate runs as the program's code, with the lock held: its operations are
        reported (they were hidden inside the wait_for), a wait_for true at once waits for
        nothing, and each wait between two calls of the predicate is the wait_for's.
        """
        capture.install()
        cond = threading.Condition()
        flag = threading.Event()

        def notifier() -> None:
            with cond:
                flag.set()
                cond.notify()

        with cond:
            assert cond.wait_for(lambda: True, timeout=5) is True
            thread = start_thread(notifier)
            assert cond.wait_for(lambda: flag.wait(0), timeout=5) is True
        join(thread)
        mine = [
            (e["kind"], e["op"], e["outcome"])
            for e in capture.events()
            if e["thread"] != thread.name
        ]
        assert [
            ("condition", "acquire", "acquired"),
            ("event", "wait", "waiting"),  # the predicate's first call
            ("event", "wait", "timeout"),
            ("condition", "wait_for", "waiting"),
            ("condition", "wait_for", "woken"),
            ("event", "wait", "set"),  # its second, the lock held again
            ("condition", "release", "released"),
        ] == mine

    def test_notify_on_an_unowned_condition(self, capture: Capture) -> None:
        """RuntimeError as without syncscope, and no spurious acquire from the ownership test."""
        capture.install()
        cond = threading.Condition(threading.Lock())
        with pytest.raises(RuntimeError, match="un-acquired lock"):
            cond.notify()
        with pytest.raises(RuntimeError, match="un-acquired lock"):
            cond.wait()
        assert ["error"] == [e["outcome"] for e in capture.events()]

    @pytest.mark.parametrize("lock_kind", ["instrumented", "plain", "rlock"])
    def test_condition_given_a_lock(self, lock_kind: str, signals: SignalSink) -> None:
        """Condition(lock) works with an instrumented lock, a plain one and an RLock."""
        plain = syncscope.get_original("threading", "Lock")()
        syncscope.install(output=os.devnull)
        add_sink(signals)
        lock = {
            "instrumented": threading.Lock,
            "plain": lambda: plain,
            "rlock": threading.RLock,
        }[lock_kind]()
        cond = threading.Condition(lock)
        waiting = signals.when(lambda e: e.op == "wait" and e.outcome == "waiting")
        result: list[bool] = []

        def waiter() -> None:
            with cond:
                result.append(cond.wait(timeout=5))

        thread = start_thread(waiter)
        waiting.wait()
        with cond:
            cond.notify()
        join(thread)
        assert [True] == result
        assert not cond._is_owned()

    @pytest.mark.parametrize(
        "options",
        [{"output": os.devnull}, {"lines": False, "stats": True, "detect_deadlocks": True}],
        ids=["lines", "-q"],
    )
    def test_a_lock_of_the_programs_own_class(self, options: dict[str, object]) -> None:
        """
        A Condition over a lock without ``_is_owned`` tries it with ``acquire(False)`` as
        often as the original does: a watched wait asked it first whether it was held, one
        try more.
        """
        original_lock = syncscope.get_original("threading", "Lock")

        class Counting:
            def __init__(self) -> None:
                self.inner = original_lock()
                self.calls: list[tuple[object, ...]] = []

            def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
                self.calls.append(("acquire", blocking, timeout))
                return self.inner.acquire(blocking, timeout)

            def release(self) -> None:
                self.calls.append(("release",))
                self.inner.release()

            __enter__ = acquire

            def __exit__(self, *exc_info: object) -> None:
                self.release()

        def calls_made() -> tuple[list[tuple[object, ...]], bool]:
            lock = Counting()
            cond = threading.Condition(lock)
            with cond:
                cond.notify()
                notified = cond.wait(0)
            with pytest.raises(RuntimeError, match="un-acquired lock"):
                cond.wait(0)
            return lock.calls, notified

        expected = calls_made()  # the original's
        syncscope.install(**options)
        assert expected == calls_made()

    def test_wait_releases_a_twice_held_rlock(self, signals: SignalSink) -> None:
        """wait() on an RLock held twice releases it fully, so another thread can take it."""
        syncscope.install(output=os.devnull)
        add_sink(signals)
        cond = threading.Condition(threading.RLock())
        waiting = signals.when(lambda e: e.op == "wait" and e.outcome == "waiting")
        took: list[bool] = []

        def waiter() -> None:
            with cond, cond:
                cond.wait(timeout=5)

        thread = start_thread(waiter)
        waiting.wait()
        with cond:  # possible only if wait() released both levels
            took.append(True)
            cond.notify()
        join(thread)
        assert [True] == took

    def test_subclass(self, capture: Capture) -> None:
        """A user subclass of Condition is watched and keeps its own behaviour."""
        capture.install()

        class Flagged(threading.Condition):
            def __init__(self) -> None:
                super().__init__()
                self.flag = False

            def raise_flag(self) -> None:
                with self:
                    self.flag = True
                    self.notify_all()

        flagged = Flagged()
        flagged.raise_flag()
        assert flagged.flag
        assert "condition flagged acquired by MainThread" == capture.messages()[0]
        assert type(flagged._lock) in PROXY_TYPES


class TestTheLockAConditionMakes:
    @pytest.mark.parametrize("watch_library", [False, True], ids=["default", "--all"])
    def test_a_library_condition_takes_threading_rlock_as_the_program_left_it(
        self, monkeypatch: pytest.MonkeyPatch, watch_library: bool
    ) -> None:
        """
        A Condition made without a lock makes one with ``threading.RLock``, whatever the
        program put there after syncscope (its own RLock, another tool's): also a Condition
        of the standard library's (a Future's), whose RLock syncscope makes at once when
        ``threading.RLock`` is its own.
        """
        from concurrent.futures import Future

        original = syncscope.get_original("threading", "RLock")
        syncscope.install(lines=False, stats=True, include_library=watch_library)
        try:
            ours = Future()._condition._lock  # made by syncscope's stand-in, or as it would
            assert isinstance(ours, type(original()))
            assert (type(ours) in PROXY_TYPES) is watch_library  # --all: watched, else raw
            made: list[object] = []

            def program_rlock() -> object:
                lock = original()
                made.append(lock)
                return lock

            monkeypatch.setattr(threading, "RLock", program_rlock)
            theirs = Future()._condition._lock
            monkeypatch.undo()
        finally:
            syncscope.uninstall()
        # Theirs, made once; with --all wrapped as the Condition's, as any lock it is given.
        assert 1 == len(made)
        assert made[0] is (theirs._syncscope_lock if watch_library else theirs)

    def test_a_watched_condition_takes_threading_rlock_as_the_program_left_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        The program's own Condition, made without a lock after the program put an RLock of
        its own in ``threading.RLock``: it gets that RLock (watched as the Condition), as
        threading's Condition would; it got syncscope's original RLock.
        """
        original = syncscope.get_original("threading", "RLock")
        made: list[object] = []

        def program_rlock() -> object:
            lock = original()
            made.append(lock)
            return lock

        syncscope.install(lines=False, stats=True)
        try:
            monkeypatch.setattr(threading, "RLock", program_rlock)
            condition = threading.Condition()
            monkeypatch.undo()
            with condition:
                assert made[0]._is_owned()  # type: ignore[attr-defined]
        finally:
            syncscope.uninstall()
        assert 1 == len(made)
        assert type(condition._lock) in PROXY_TYPES  # type: ignore[attr-defined]
        assert made[0] is condition._lock._syncscope_lock  # type: ignore[attr-defined]


class TestSemaphore:
    def test_acquire_release_and_contention(self, capture: Capture, signals: SignalSink) -> None:
        """A semaphore reports acquires, waits and releases, in that order."""
        capture.install()
        add_sink(signals)
        semaphore = threading.Semaphore(1)
        waiting = signals.when(lambda e: e.outcome == "waiting")
        semaphore.acquire()
        thread = start_thread(lambda: (semaphore.acquire(timeout=5), semaphore.release()))
        waiting.wait()
        semaphore.release()
        join(thread)
        assert ["acquired", "waiting", "released", "acquired", "released"] == [
            e["outcome"] for e in capture.events()
        ]

    def test_with_statement_is_seen(self, capture: Capture) -> None:
        """`with semaphore:` is reported (Semaphore.__enter__ is bound to the base acquire)."""
        capture.install()
        semaphore = threading.BoundedSemaphore(2)
        with semaphore:
            pass
        assert [
            "semaphore acquired by MainThread",
            "semaphore released by MainThread",
        ] == capture.messages()

    def test_bounded_over_release(self, capture: Capture) -> None:
        """ValueError as without syncscope; reported as a failed release, not a release."""
        capture.install()
        semaphore = threading.BoundedSemaphore(1)
        with pytest.raises(ValueError, match="released too many times"):
            semaphore.release()
        assert ["error"] == [e["outcome"] for e in capture.events()]

    def test_release_n(self, capture: Capture) -> None:
        """release(n) is one event that says n."""
        capture.install()
        semaphore = threading.Semaphore(0)
        semaphore.release(3)
        assert ["semaphore released 3 by MainThread"] == capture.messages()

    def test_non_blocking_with_timeout_raises(self) -> None:
        """acquire(False, timeout) raises ValueError as without syncscope."""
        syncscope.install(output=os.devnull)
        with pytest.raises(ValueError, match="can't specify timeout"):
            threading.Semaphore().acquire(False, 1)


class _Seconds(float):
    """A float subclass that says which of its operators a semaphore's acquire calls."""

    calls: ClassVar[list[str]] = []

    def __radd__(self, other: float) -> float:
        _Seconds.calls.append("radd")
        return float(self) + other

    def __gt__(self, other: object) -> bool:
        _Seconds.calls.append("gt")
        return float(self) > other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        _Seconds.calls.append("le")
        return float(self) <= other  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["statistics", "diagnosis", "lines", "events"])
def test_a_semaphore_s_timeout_of_the_programs_own_type(mode: str) -> None:
    """
    ``Semaphore.acquire(timeout=...)`` is Python code that computes with its timeout: a
    timeout of the program's own type has its operators called as without syncscope, also
    when it is 0 and no permit is left (no trylock stands in for the call).
    """
    installs: dict[str, dict[str, object]] = {
        "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
        "diagnosis": {"lines": False, "stats": True},
        "lines": {"output": os.devnull},
        "events": {"output": os.devnull, "detect_deadlocks": False},
    }

    def calls_made(semaphore: threading.Semaphore) -> tuple[bool, list[str]]:
        _Seconds.calls = []
        got = semaphore.acquire(timeout=_Seconds(0.0))
        return got, _Seconds.calls

    expected = calls_made(syncscope.get_original("threading", "Semaphore")(0))
    syncscope.install(**installs[mode])  # type: ignore[arg-type]
    try:
        actual = calls_made(threading.Semaphore(0))
    finally:
        syncscope.uninstall()
    assert expected == actual
    assert not expected[0] and expected[1]  # no permit; its operators were asked


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["acquire", "try", "release", "release2"]), max_size=30))
def test_semaphore_equivalence(operations: list[str]) -> None:
    """Any single-threaded sequence of operations gives the same results with and without."""

    def play(semaphore: threading.Semaphore) -> list[object]:
        results: list[object] = []
        for operation in operations:
            try:
                if operation == "acquire":
                    results.append(semaphore.acquire(timeout=0))
                elif operation == "try":
                    results.append(semaphore.acquire(False))
                elif operation == "release":
                    results.append(semaphore.release())
                else:
                    results.append(semaphore.release(2))
            except ValueError as exc:
                results.append(("ValueError", str(exc)))
        return results

    expected = play(threading.BoundedSemaphore(3))
    syncscope.install(output=os.devnull)
    try:
        actual = play(threading.BoundedSemaphore(3))
    finally:
        syncscope.uninstall()
    assert expected == actual


class TestEvent:
    def test_set_clear_and_wait(self, capture: Capture, signals: SignalSink) -> None:
        """set, clear and wait are reported; set comes before the wake-up it causes."""
        capture.install()
        add_sink(signals)
        event = threading.Event()
        waiting = signals.when(lambda e: e.outcome == "waiting")
        thread = start_thread(lambda: event.wait(timeout=5), name="Thread-2")
        waiting.wait()
        event.set()
        join(thread)
        event.clear()
        assert [
            "event wait by Thread-2",
            "event set by MainThread",
            "event woken by Thread-2",
            "event cleared by MainThread",
        ] == [m.split(" after ")[0] for m in capture.messages()]

    def test_wait_timeout_and_already_set(self, capture: Capture) -> None:
        """A wait that times out and one on a set event return as without syncscope."""
        capture.install()
        event = threading.Event()
        assert event.wait(0.001) is False
        event.set()
        assert event.wait() is True
        assert ["waiting", "timeout", "set", "set"] == [e["outcome"] for e in capture.events()]

    def test_copy_behaves_as_the_original(self) -> None:
        """copy.copy of an Event works as without syncscope and is not the same primitive."""
        syncscope.install(output=os.devnull)
        event = threading.Event()
        duplicate = copy.copy(event)
        assert type(duplicate) is threading.Event
        assert syncscope._api.describe_primitive(duplicate) is None
        with pytest.raises(TypeError):
            pickle.dumps(event)


class TestBarrier:
    def test_parties_meet(self, capture: Capture) -> None:
        """Every party reports its wait and its passage."""
        capture.install()
        barrier = threading.Barrier(2)
        thread = start_thread(lambda: barrier.wait(timeout=5))
        barrier.wait(timeout=5)
        join(thread)
        outcomes = sorted(e["outcome"] for e in capture.events())
        assert ["passed", "passed", "waiting", "waiting"] == outcomes

    def test_abort_breaks_waiters(self, capture: Capture, signals: SignalSink) -> None:
        """abort() is reported, and a waiter gets BrokenBarrierError as without syncscope."""
        capture.install()
        add_sink(signals)
        barrier = threading.Barrier(2)
        waiting = signals.when(lambda e: e.outcome == "waiting")
        errors: list[type] = []

        def wait() -> None:
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError as exc:
                errors.append(type(exc))

        thread = start_thread(wait)
        waiting.wait()
        barrier.abort()
        join(thread)
        barrier.reset()
        assert [threading.BrokenBarrierError] == errors
        assert ["waiting", "aborted", "broken", "reset"] == [e["outcome"] for e in capture.events()]


def test_subclasses_of_event_semaphore_and_barrier(capture: Capture) -> None:
    """User subclasses are watched and named after their variable."""
    capture.install()

    class Gate(threading.Event):
        pass

    class Pool(threading.Semaphore):
        pass

    class Meeting(threading.Barrier):
        pass

    gate = Gate()
    pool = Pool(1)
    meeting = Meeting(1)
    gate.set()
    with pool:
        pass
    meeting.wait()
    names = {e["name"] for e in capture.events()}
    assert {"gate", "pool", "meeting"} == names


class TestABarriersOwnCondition:
    """
    A Barrier's own Condition, which syncscope does not watch, runs the original's methods,
    and looks, pickles and copies as a threading.Condition does; named, it is watched.
    """

    def test_a_barrier_meets_on_it_and_it_looks_the_same(self, capture: Capture) -> None:
        capture.install()
        barrier = threading.Barrier(2)
        cond = barrier._cond  # made by threading itself: not watched
        assert syncscope._api.describe_primitive(cond) is None
        assert type(cond) is not threading.Condition  # the originals' methods, not the wrappers
        assert isinstance(cond, threading.Condition)
        assert "<class 'threading.Condition'>" == repr(type(cond))
        assert "Condition" == type(cond).__qualname__
        thread = start_thread(lambda: barrier.wait(timeout=5))
        assert barrier.wait(timeout=5) in (0, 1)
        join(thread)
        assert ["passed", "passed"] == sorted(
            e["outcome"] for e in capture.events() if e["outcome"] == "passed"
        )

    def test_pickled_and_copied_as_the_original(self) -> None:
        """Pickling fails at its lock, as the original's does; a copy is a working Condition."""
        syncscope.install(output=os.devnull)
        cond = threading.Barrier(2)._cond
        with pytest.raises(TypeError, match="lock"):
            pickle.dumps(cond)
        duplicate = copy.copy(cond)
        assert type(duplicate) is threading.Condition
        with duplicate:
            assert duplicate.wait(0) is False
            duplicate.notify_all()

    def test_a_reducer_the_program_registered_for_conditions_is_used(self) -> None:
        import copyreg

        syncscope.install(output=os.devnull)
        cond = threading.Barrier(2)._cond
        copyreg.pickle(threading.Condition, lambda c: (str, ("a Condition",)))
        try:
            assert "a Condition" == pickle.loads(pickle.dumps(cond))
        finally:
            del copyreg.dispatch_table[threading.Condition]

    def test_named_it_is_watched_and_reported(self, capture: Capture) -> None:
        """syncscope.name() watches a library's Condition from then on: this one too."""
        capture.install()
        cond = syncscope.name(threading.Barrier(2)._cond, "turns")
        with cond:
            cond.notify_all()
            assert cond.wait(0) is False
        said = [(e["op"], e["outcome"]) for e in capture.events() if "turns" in e["event"]]
        assert ("notify_all", "notified") in said, said
        assert ("wait", "timeout") in said, said

    def test_a_barrier_made_while_installed_meets_after_uninstall(self) -> None:
        syncscope.install(output=os.devnull)
        barrier = threading.Barrier(2)
        syncscope.uninstall()
        thread = start_thread(lambda: barrier.wait(timeout=5))
        assert barrier.wait(timeout=5) in (0, 1)
        join(thread)

    def test_other_conditions_keep_their_class(self) -> None:
        """An Event's, a subclass, a watched one: only the Barrier's own is made otherwise."""

        class Mine(threading.Condition):
            pass

        syncscope.install(output=os.devnull)
        assert type(threading.Event()._cond) is threading.Condition
        assert type(Mine()) is Mine
        watched = threading.Condition()
        assert syncscope._api.describe_primitive(watched) is not None
        assert type(watched) is threading.Condition
