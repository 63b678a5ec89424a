"""The rules for threads blocked for good while others run, on synthetic events (no threads)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import pytest

from syncscope._core.event import Primitive
from syncscope._core.tracking import watch, watches
from syncscope._sinks.hangs import (
    _handler_reach,
    causes,
    hang_subjects,
    held_while_waiting,
    holders_exited,
)
from syncscope._sinks.recorder import DiagnosisOptions, Recorder

from .support.events import acquired, event, primitive, waiting


SECOND = 1_000_000_000


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(DiagnosisOptions(stats=False, detect_deadlocks=True, echo=False))
    yield rec
    rec.close()


def at(seconds: float) -> int:
    return int(seconds * SECOND)


class TestCauses:
    def test_event_set_and_cleared_before_the_wait(self, recorder: Recorder) -> None:
        """The set was lost: set and cleared, then the waiter came."""
        ready = primitive("event", "ready")
        recorder.handle(event(ready, "set", "set", thread=2, line=16, at=at(1)))
        recorder.handle(event(ready, "clear", "cleared", thread=2, line=17, at=at(1.1)))
        recorder.handle(waiting(ready, "wait", thread=1, line=23, at=at(1.2)))
        snapshot = recorder.holds.snapshot()
        assert recorder.traces is not None
        [line] = causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert "event ready was set at " in line and "before it waited" in line
        assert [1] == hang_subjects(snapshot, recorder.traces, at(3.3), at(2))
        assert [] == hang_subjects(snapshot, recorder.traces, at(2.0), at(2))

    def test_notify_before_anyone_waited(self, recorder: Recorder) -> None:
        """The only notify found no waiter: the wake-up was lost."""
        done = primitive("condition", "done")
        recorder.handle(event(done, "notify", "notified", thread=2, waiters=0, at=at(1)))
        recorder.handle(waiting(done, "wait", thread=1, at=at(1.5)))
        snapshot = recorder.holds.snapshot()
        assert recorder.traces is not None
        [line] = causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert "came before it waited (it found no waiter)" in line

    def test_a_notify_that_woke_a_wait_was_not_lost(self, recorder: Recorder) -> None:
        """
        The last notify woke this thread's wait before this one (a wait_for, or a loop
        around wait, whose predicate stayed false): nothing was lost, nothing came since.
        """
        done = primitive("condition", "done")
        recorder.handle(waiting(done, "wait_for", thread=1, at=at(1)))
        recorder.handle(event(done, "notify_all", "notified", thread=2, waiters=1, at=at(1.2)))
        recorder.handle(event(done, "wait_for", "woken", thread=1, at=at(1.3)))
        recorder.handle(waiting(done, "wait_for", thread=1, at=at(1.4)))
        snapshot = recorder.holds.snapshot()
        assert recorder.traces is not None
        [line] = causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert "came before it waited and woke 1 waiter; nothing has notified" in line
        assert "lost" not in line

    def test_idle_consumers_are_no_hang(self, recorder: Recorder) -> None:
        """A get on a queue nobody put into yet has no cause: a pool waiting for work."""
        jobs = primitive("queue", "jobs")
        recorder.handle(waiting(jobs, "get", thread=1, at=at(1)))
        snapshot = recorder.holds.snapshot()
        assert recorder.traces is not None
        assert () == causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert [] == hang_subjects(snapshot, recorder.traces, at(10), at(2))


class TestHeldWhileWaiting:
    def test_waiter_holds_the_lock_its_signaller_waits_for(self, recorder: Recorder) -> None:
        """T1 waits on a Condition holding L; T2 waits for L: found after the grace period."""
        lock, cond = primitive("lock", "state"), primitive("condition", "items")
        recorder.handle(acquired(lock, thread=1, at=at(1)))
        recorder.handle(waiting(cond, "wait", thread=1, at=at(1.1)))
        recorder.handle(waiting(lock, thread=2, at=at(1.2)))
        snapshot = recorder.holds.snapshot()
        assert recorder.traces is not None
        assert [] == held_while_waiting(snapshot, recorder.traces, at(1.5), at(1))
        assert [(1, [2])] == held_while_waiting(snapshot, recorder.traces, at(2.3), at(1))


class TestExitedHolders:
    def test_lock_of_an_exited_thread(self, recorder: Recorder) -> None:
        """A wait for a lock whose holder exited: no holder to wait for, a hang's cause."""
        lock = primitive("lock", "gone")
        hold = recorder.holds.acquired(acquired(lock, thread=5, at=at(1)))
        assert hold is not None
        hold.exited = at(1.5)
        recorder.handle(waiting(lock, thread=1, at=at(2)))
        snapshot = recorder.holds.snapshot()
        assert holders_exited(snapshot, snapshot.waiting[1])
        assert snapshot.holders(1) is None
        assert recorder.traces is not None
        [line] = causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert 'it is held by "T5", which has exited' in line

    def test_for_good_since_the_holder_exited_not_since_the_wait_began(
        self, recorder: Recorder
    ) -> None:
        """
        A reader-writer lock's first reader takes the writers' lock and exits; the last
        reader, still reading, will release it. A writer waiting since before the exit is
        blocked for good (as far as anyone can tell) only from the exit on.
        """
        lock = primitive("lock", "c_resource")
        hold = recorder.holds.acquired(acquired(lock, thread=5, at=at(1)))
        assert hold is not None
        recorder.handle(waiting(lock, thread=1, at=at(2)))
        hold.exited = at(10)
        snapshot = recorder.holds.snapshot()
        assert at(10) == holders_exited(snapshot, snapshot.waiting[1])
        assert recorder.traces is not None
        assert [] == hang_subjects(snapshot, recorder.traces, at(11), at(2))
        assert [1] == hang_subjects(snapshot, recorder.traces, at(12), at(2))

    def test_a_lock_released_by_another_thread_is_a_signal(self, recorder: Recorder) -> None:
        """Released before by another thread than its taker: whoever took it, anyone may
        release it, and its taker's exit says nothing."""
        lock = primitive("lock", "c_resource")
        recorder.holds.handed_off(lock)
        hold = recorder.holds.acquired(acquired(lock, thread=5, at=at(1)))
        assert hold is not None
        hold.exited = at(1.5)
        recorder.handle(waiting(lock, thread=1, at=at(2)))
        snapshot = recorder.holds.snapshot()
        assert 0 == holders_exited(snapshot, snapshot.waiting[1])
        assert recorder.traces is not None
        assert [] == hang_subjects(snapshot, recorder.traces, at(60), at(2))
        # Reported otherwise (every thread blocked), the cause still says who took it.
        [line] = causes(snapshot.waiting[1], snapshot, recorder.traces)
        assert 'it is held by "T5", which has exited' in line


def _request_stop() -> None:
    """A function of the program's a handler calls by its global name."""
    stopping.set()


stopping = threading.Event()


def _calls_request_stop(number: int, frame: object) -> None:
    _request_stop()


def _sets(event: threading.Event, number: int, frame: object) -> None:
    event.set()


class _Server:
    def __init__(self, done: threading.Event) -> None:
        self.finished = done  # the handler's code names it "finished", not "done"

    def on_signal(self, number: int, frame: object) -> None:
        self.finished.set()

    def __call__(self, number: int, frame: object) -> None:
        self.finished.set()

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the program's attribute hook ran for {name}")


class TestSignalHandlerReach:
    """
    What a signal handler of the program's reaches (``signal_fed``): what its code names,
    what it was handed, and what the program's functions it calls name.
    """

    @pytest.fixture
    def done(self) -> Iterator[tuple[threading.Event, Primitive]]:
        event = threading.Event()
        known = primitive("event", "done")
        watch(event, known)
        yield event, known
        watches.pop(id(event), None)

    def _reach(self, handler: object) -> tuple[set[str], set[Primitive]]:
        names: set[str] = set()
        given: set[Primitive] = set()
        _handler_reach(handler, names, given)
        return names, given

    def test_handed_through_a_partial(self, done: tuple[threading.Event, Primitive]) -> None:
        event, known = done
        names, given = self._reach(functools.partial(_sets, event))
        assert {known} == given
        assert "event" in names

    def test_held_by_a_bound_method_s_object(self, done: tuple[threading.Event, Primitive]) -> None:
        event, known = done
        names, given = self._reach(_Server(event).on_signal)
        assert {known} == given
        assert "finished" in names

    def test_held_by_a_callable_object(self, done: tuple[threading.Event, Primitive]) -> None:
        event, known = done
        names, given = self._reach(_Server(event))
        assert {known} == given
        assert "finished" in names

    def test_named_by_a_function_it_calls(self) -> None:
        names, given = self._reach(_calls_request_stop)
        assert "stopping" in names
        assert set() == given

    def test_handlers_that_are_no_code_of_the_program_s(self) -> None:
        import signal

        for handler in (signal.SIG_DFL, signal.SIG_IGN, None, print):
            assert (set(), set()) == self._reach(handler)


class _Hooked:
    """A callable handler whose class hooks every attribute read (a proxy, a tracer)."""

    def __init__(self, done: threading.Event) -> None:
        object.__setattr__(self, "finished", done)

    def __getattribute__(self, name: str) -> object:
        raise AssertionError(f"the program's __getattribute__ ran for {name}")

    def __call__(self, number: int, frame: object) -> None:
        self.finished.set()  # type: ignore[attr-defined]  (never called here)


class _OwnDict:
    """A handler's instance whose class defines __dict__ itself."""

    @property
    def __dict__(self) -> dict[str, object]:  # type: ignore[override]
        raise AssertionError("the program's __dict__ property ran")

    def on_signal(self, number: int, frame: object) -> None:
        pass


class _App:
    """A server whose handler is a bound method naming one of its primitives only."""

    def __init__(self, done: threading.Event, jobs: threading.Event) -> None:
        self.finished = done
        self.jobs = jobs

    def on_signal(self, number: int, frame: object) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        self.finished.set()


class TestSignalHandlerReachRunsNoProgramCode:
    def test_no_attribute_hook_runs(self) -> None:
        event = threading.Event()
        known = primitive("event", "done")
        watch(event, known)
        try:
            names: set[str] = set()
            given: set[Primitive] = set()
            _handler_reach(_Hooked(event), names, given)
            assert {known} == given
            _handler_reach(_OwnDict().on_signal, names, given)  # its __dict__ unread
        finally:
            watches.pop(id(event), None)

    def test_only_what_the_handler_names_of_its_instance(self) -> None:
        done, jobs = threading.Event(), threading.Event()
        known, other = primitive("event", "done"), primitive("event", "queue_ready")
        watch(done, known)
        watch(jobs, other)
        try:
            names: set[str] = set()
            given: set[Primitive] = set()
            _handler_reach(_App(done, jobs).on_signal, names, given)
            assert {known} == given  # through self.request_stop(); jobs is not reached
        finally:
            watches.pop(id(done), None)
            watches.pop(id(jobs), None)
