"""Deadlocks that happen and hangs: the watchdog's logic, in-process and with real threads."""

from __future__ import annotations

import json
import linecache
import re
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.holds import Holds
from syncscope._core.ourthreads import Ticker
from syncscope._core.state import state
from syncscope._settings import DEADLOCK_EXIT_STATUS
from syncscope._sinks.cycles import cycles, stuck_threads
from syncscope._sinks.findings import Deadlock, Hang, short_path, stack_of
from syncscope._sinks.recorder import DiagnosisOptions, Recorder
from syncscope._sinks.standing import blocked_outside

from .conftest import Latch, add_sink, join, run_syncscope, start_thread
from .support.events import acquired, primitive, released, waiting
from .support.process import read_until, script, start_syncscope, stop


#: For tests whose threads must all look blocked for good: pytest-timeout's timer thread would be
#: one that runs (it waits with a timeout), so the timeout is a signal, which also bounds the
#: waits without a timeout these tests need the watchdog to see.
endless = pytest.mark.timeout(10, method="signal")


def never(_ident: int) -> bool:
    return False


def holds_with(*steps: tuple[str, Any, int]) -> Holds:
    """Feed ('take'|'wait', primitive, thread) steps to a fresh tracker."""
    holds = Holds()
    for step, prim, thread in steps:
        if step == "take":
            holds.acquired(acquired(prim, thread=thread))
        else:
            holds.begin_wait(waiting(prim, thread=thread))
    return holds


class TestStuckThreads:
    def test_two_thread_cycle(self) -> None:
        """Each waits for the lock the other holds: both are stuck, in one cycle."""
        a, b = primitive("lock", "a"), primitive("lock", "b")
        holds = holds_with(("take", a, 1), ("take", b, 2), ("wait", b, 1), ("wait", a, 2))
        stuck = stuck_threads(holds.snapshot(), never)
        assert {1: (2,), 2: (1,)} == stuck
        assert [[1, 2]] == cycles(stuck, lambda ident: ident)

    def test_waiting_for_a_running_thread(self) -> None:
        """A thread waiting for a lock whose holder runs is not stuck."""
        a = primitive("lock", "a")
        holds = holds_with(("take", a, 1), ("wait", a, 2))
        assert {} == stuck_threads(holds.snapshot(), never)

    def test_blocked_behind_a_cycle(self) -> None:
        """A third thread waiting for a lock of the cycle is stuck too, listed after it."""
        a, b = primitive("lock", "a"), primitive("lock", "b")
        holds = holds_with(
            ("take", a, 1), ("take", b, 2), ("wait", b, 1), ("wait", a, 2), ("wait", a, 3)
        )
        stuck = stuck_threads(holds.snapshot(), never)
        assert {1, 2, 3} == set(stuck)
        assert [[1, 2, 3]] == cycles(stuck, lambda ident: ident)

    def test_waits_with_a_timeout_are_left_out(self) -> None:
        """A cycle in which one wait has a timeout ends by itself: nothing is stuck."""
        a, b = primitive("lock", "a"), primitive("lock", "b")
        holds = holds_with(("take", a, 1), ("take", b, 2), ("wait", b, 1), ("wait", a, 2))
        assert {} == stuck_threads(holds.snapshot(), lambda ident: ident == 2)

    def test_semaphore_needs_every_holder_stuck(self) -> None:
        """A semaphore wait is stuck only when every other holder of a permit is stuck."""
        sem, a = primitive("semaphore", "pool"), primitive("lock", "a")
        cycle = holds_with(("take", sem, 1), ("take", a, 2), ("wait", a, 1), ("wait", sem, 2))
        assert {1, 2} == set(stuck_threads(cycle.snapshot(), never))
        cycle.acquired(acquired(sem, thread=3))  # a running thread also holds a permit
        assert {} == stuck_threads(cycle.snapshot(), never)

    def test_own_lock_and_signals_are_no_cycle(self) -> None:
        """A Lock taken twice by one thread, or a lock used as a signal: left to the hang check."""
        own, signal = primitive("lock", "own"), primitive("lock", "signal")
        holds = holds_with(("take", own, 1), ("wait", own, 1), ("take", signal, 2))
        holds.handoff[signal] = None
        holds.acquired(acquired(signal, thread=3))
        holds.begin_wait(waiting(signal, thread=4))
        assert {} == stuck_threads(holds.snapshot(), never)

    def test_semaphore_signalled_before_anyone_holds_a_permit(self) -> None:
        """A release(n) while nobody holds a permit marks a Semaphore(0) as a signal: no cycle."""
        sem = primitive("semaphore", "items")
        holds = Holds()
        assert [] == holds.returned(released(sem, thread=3, permits=2))
        assert sem in holds.handoff
        holds.acquired(acquired(sem, thread=1))
        holds.acquired(acquired(sem, thread=2))
        holds.begin_wait(waiting(sem, thread=1))
        holds.begin_wait(waiting(sem, thread=2))
        assert {} == stuck_threads(holds.snapshot(), never)

    def test_two_separate_deadlocks(self) -> None:
        """Two independent cycles are two deadlocks."""
        a, b, c, d = (primitive("lock", name) for name in "abcd")
        holds = holds_with(
            ("take", a, 1),
            ("take", b, 2),
            ("wait", b, 1),
            ("wait", a, 2),
            ("take", c, 3),
            ("take", d, 4),
            ("wait", d, 3),
            ("wait", c, 4),
        )
        groups = cycles(stuck_threads(holds.snapshot(), never), lambda ident: ident)
        assert [[1, 2], [3, 4]] == groups


class TestConcurrentPermits:
    def test_permits_taken_and_given_back_on_many_threads(self) -> None:
        """Permits of one semaphore taken and released at once on 8 threads: none lost or mixed."""
        holds = Holds()
        sem = primitive("semaphore", "pool")
        go = threading.Barrier(8)
        errors: list[BaseException] = []

        def work(ident: int) -> None:
            try:
                go.wait(timeout=5)
                for _ in range(1000):
                    holds.acquired(acquired(sem, thread=ident))
                    assert 1 == len(holds.returned(released(sem, thread=ident, permits=1)))
            except BaseException as exc:
                errors.append(exc)

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible
        try:
            threads = [start_thread(work, ident) for ident in range(1, 9)]
            for thread in threads:
                join(thread, timeout=60)
        finally:
            sys.setswitchinterval(interval)
        assert [] == errors
        assert {} == holds.permits
        assert sem not in holds.handoff  # each gave back its own permit


class TestFrames:
    def test_the_waiting_event_carries_the_timeout(self) -> None:
        """A blocked acquire says how long it may wait (None: for ever); no frame is read."""
        with syncscope.record(echo=False):
            lock = threading.Lock()
            blocked = _Blocked()
            add_sink(blocked)
            lock.acquire()
            timed = start_thread(acquire_with_timeout, lock, 5.0)
            blocked.latch.wait()
            assert 5.0 == blocked.event.timeout
            blocked.latch = Latch()
            lock.release()
            join(timed)
            lock.acquire()
            forever = start_thread(acquire_with_timeout, lock, -1)
            blocked.latch.wait()
            assert blocked.event.timeout is None
            lock.release()
            join(forever)

    def test_a_look_keeps_no_frame_alive(self) -> None:
        """
        A look at every thread's frame (the deadlock checks, while a thread waits) leaves
        none of them alive: a function's locals are freed when it returns, as without
        syncscope, not at the next collection (cheroot's suite: a socket its test closed
        warned unclosed in a later test, a finalizer ran late and on another thread).
        """
        import gc
        import weakref

        class Resource:
            pass

        def work(rec: Any) -> weakref.ref[Resource]:
            resource = Resource()
            rec._recorder.check_now()  # a look while `resource` is this frame's local
            return weakref.ref(resource)

        with syncscope.record(echo=False) as rec:
            lock = threading.Lock()
            blocked = _Blocked()
            add_sink(blocked)
            lock.acquire()
            waiter = start_thread(acquire_with_timeout, lock, 10.0)
            blocked.latch.wait()
            gc.disable()  # freed by its count of references alone, or not at all
            try:
                ref = work(rec)
                alive = ref() is not None
            finally:
                gc.enable()
                lock.release()
                join(waiter)
        assert not alive

    def test_machinery_frames(self) -> None:
        """A thread whose innermost frame is in threading is blocked; user code is not."""
        assert not blocked_outside(sys._getframe())
        assert blocked_outside(None)

    @pytest.mark.parametrize(("timeout", "for_good"), [(5.0, False), (None, True)])
    def test_machinery_wait_with_a_timeout(self, timeout: float | None, for_good: bool) -> None:
        """A thread in an unwatched Condition.wait with a timeout ends it by itself: not blocked."""
        cond = threading.Condition()
        entered = Latch()

        def wait() -> None:
            with cond:
                entered.set()
                cond.wait(timeout)

        thread = start_thread(wait)
        entered.wait()
        assert cond.acquire(timeout=5)  # got once the thread's wait has given it up
        try:
            assert for_good == blocked_outside(sys._current_frames()[thread.ident])  # type: ignore[index]
            cond.notify()
        finally:
            cond.release()
        join(thread)

    def test_stack_of_machinery_only(self) -> None:
        """A thread with no frame outside threading (a Timer's) still shows its innermost frames."""
        stacks = []
        done = Latch()

        def record_the_caller() -> None:
            stacks.append(stack_of(sys._getframe(1)))  # Thread.run, then threading's bootstrap
            done.set()

        thread = start_thread(record_the_caller)
        done.wait()
        join(thread)
        [stack] = stacks
        assert stack and ("run", threading.__file__) == (stack[-1][2], stack[-1][0])


class TestRealDeadlock:
    @endless
    def test_found_reported_and_broken(self, capfd: pytest.CaptureFixture[str]) -> None:
        """Two threads deadlock: the watchdog reports both, their holds, waits and stacks."""
        # Created before record(): waiting on it, this thread is blocked in the machinery, for
        # good as far as the watchdog can tell (a Lock's cycle is only reported then).
        found = threading.Event()
        with syncscope.record() as rec:
            rec._recorder.listeners.append(
                lambda finding: found.set() if isinstance(finding, Deadlock) else None
            )
            lock_a = threading.Lock()
            lock_b = threading.Lock()
            both = threading.Barrier(2)
            first = start_thread(cross, lock_a, lock_b, both, name="first")
            second = start_thread(cross, lock_b, lock_a, both, name="second")
            found.wait()
            [deadlock] = rec.deadlocks
            # Break it: let each blocked acquire through, without events.
            lock_a._syncscope_lock.release()  # type: ignore[attr-defined]
            join(second)
            lock_b._syncscope_lock.release()  # type: ignore[attr-defined]
            join(first)
        assert 2 == deadlock.cycle
        threads = {thread.name: thread for thread in deadlock.threads}
        assert {"first", "second"} == set(threads)
        first_thread = threads["first"]
        assert first_thread.waits_for is not None
        assert "lock_b" == first_thread.waits_for.name
        assert ("second",) == first_thread.held_by
        assert ["lock_a"] == [ref.name for ref, _, _ in first_thread.holds]
        assert first_thread.stack[-1][2] == "cross"
        err = capfd.readouterr().err
        assert "syncscope: deadlock: 2 threads wait for each other" in err
        assert '"first" waits for lock lock_b' in err
        assert "holds lock lock_a, taken at" in err
        assert "in cross" in err

    @endless
    def test_check_now(self) -> None:
        """check_deadlocks() finds a deadlock at once, without waiting for a second look."""
        with syncscope.record(echo=False) as rec:
            lock_a = threading.Lock()
            lock_b = threading.Lock()
            both = threading.Barrier(2)
            blocked = _Blocked(count=2)
            add_sink(blocked)
            first = start_thread(cross, lock_a, lock_b, both)
            second = start_thread(cross, lock_b, lock_a, both)
            blocked.latch.wait()
            new = rec.check_deadlocks()
            assert 1 == len(rec.deadlocks)
            assert new in ([], rec.deadlocks)  # [] if the watchdog was there first
            assert [] == rec.check_deadlocks()  # already reported
            lock_a._syncscope_lock.release()  # type: ignore[attr-defined]
            join(second)
            lock_b._syncscope_lock.release()  # type: ignore[attr-defined]
            join(first)
        assert 1 == len(rec.deadlocks)

    def test_semaphore_zero_as_a_signal(self) -> None:
        """Two consumers of a Semaphore(0), each blocked after taking a permit a producer gave."""
        with syncscope.record(echo=False) as rec:
            items = threading.Semaphore(0)
            one_each = threading.Barrier(2)
            blocked = _Blocked(count=2)
            add_sink(blocked)
            consumers = [start_thread(take_two, items, one_each) for _ in range(2)]
            blocked.latch.wait()  # both wait for their first permit
            blocked.latch, blocked._left = Latch(), 2
            items.release(2)  # by a thread that holds none
            blocked.latch.wait()  # each took one and waits for its second
            assert [] == rec.check_deadlocks()
            items.release(2)
            for consumer in consumers:
                join(consumer)
        assert [] == rec.deadlocks

    def test_lock_as_a_signal_while_another_thread_runs(self) -> None:
        """A cycle through a Lock that a running third thread will release is no deadlock."""
        with syncscope.record(echo=False) as rec:
            done = threading.Lock()
            data = threading.Lock()
            both = threading.Barrier(2)
            go = Latch()
            blocked = _Blocked(count=2)
            add_sink(blocked)
            holder = start_thread(cross, done, data, both, name="holder")
            taker = start_thread(cross, data, done, both, name="taker")
            signaller = start_thread(release_when, go, done, name="signaller")
            blocked.latch.wait()  # each waits for what the other took: a cycle, on the face of it
            assert [] == rec.check_deadlocks()  # the signaller runs: it may release done
            go.set()
            join(signaller)
            join(taker)
            data.release()  # the taker's, which it never releases
            join(holder)
        assert [] == rec.deadlocks

    def test_no_deadlock_on_contention(self) -> None:
        """Threads that wait for each other's locks but get them in the end: nothing."""
        with syncscope.record(echo=False) as rec:
            lock = threading.Lock()
            blocked = _Blocked()
            add_sink(blocked)
            lock.acquire()
            waiter = start_thread(acquire_with_timeout, lock, -1)
            blocked.latch.wait()
            assert [] == rec.check_deadlocks()
            lock.release()
            join(waiter)
        assert [] == rec.deadlocks


class TestIdle:
    @endless
    @pytest.mark.parametrize("lean", [False, True], ids=["events", "lean"])
    def test_sleeps_while_nothing_waits_for_good_and_such_a_wait_wakes_it(self, lean: bool) -> None:
        """
        While no thread waits without a timeout (nothing could be reported) the watchdog
        takes no turn: a program that sleeps or measures its own CPU time, beside a monitor
        thread in ``Event.wait(10)``, shares the process with a thread that takes none. The
        first wait without a timeout wakes it, so a deadlock after a quiet spell is still
        found. Alike on the event path and on -q's lean path (no events kept).
        """
        # Made before record(): the originals, whose waits are not the watchdog's to see.
        found = threading.Event()
        both = threading.Barrier(2)
        events = 0 if lean else 10
        with syncscope.record(echo=False, events=events, detect_deadlocks=True) as rec:
            watchdog = rec._recorder.watchdog
            assert watchdog is not None
            assert lean == (state.diagnosis is not None)
            rec._recorder.listeners.append(
                lambda finding: found.set() if isinstance(finding, Deadlock) else None
            )
            waiting = rec._recorder.holds.waiting
            ticker = watchdog._ticker
            _until_idle(watchdog)
            looks = ticker.looks
            signal = threading.Event()
            timed = start_thread(signal.wait, 10)
            _until(lambda: timed.ident in waiting, "the wait never began")
            lock_a = threading.Lock()
            lock_b = threading.Lock()
            for _ in range(100):  # operations that wait for nothing wake nothing
                with lock_a:
                    pass
            # Awake, it would look every 0.2 s: a quiet spell of a second shows it sleeps.
            threading.Event().wait(1.0)
            assert looks == ticker.looks, "it looked while only a timed wait was on"
            untimed = start_thread(signal.wait)
            _until(lambda: ticker.looks > looks, "a wait without a timeout did not wake it")
            signal.set()
            join(timed)
            join(untimed)
            _until_idle(watchdog)
            first = start_thread(cross, lock_a, lock_b, both, name="first")
            second = start_thread(cross, lock_b, lock_a, both, name="second")
            found.wait(timeout=10)
            lock_a._syncscope_lock.release()  # type: ignore[attr-defined]
            join(second)
            lock_b._syncscope_lock.release()  # type: ignore[attr-defined]
            join(first)
            assert found.is_set(), "the deadlock was not found"
            _until_idle(watchdog)  # nothing waits again: back to sleep
        assert 1 == len(rec.deadlocks)
        assert {"first", "second"} == {thread.name for thread in rec.deadlocks[0].threads}


#: A waits on an Event holding L, B waits for L; the Event is set by a callback that a third
#: thread fires on a reply it reads from standard input (a socket's, in real life): that
#: thread runs, and nothing in its code names the Event.
CALLBACK_SETTER = """\
    import sys, threading
    L = threading.Lock()
    listeners = []
    ready = threading.Event()

    def worker_a():
        ev = threading.Event()
        listeners.append(ev.set)
        with L:
            ready.set()
            ev.wait()

    def worker_b():
        ready.wait()
        with L:
            pass

    def on_reply():
        sys.stdin.readline()
        for callback in listeners:
            callback()

    threads = [threading.Thread(target=f, name=f.__name__) for f in (worker_a, worker_b, on_reply)]
    for thread in threads:
        thread.start()
    ready.wait()
    print("waiting", flush=True)
    for thread in threads:
        thread.join()
    print("all done", flush=True)
"""


class TestHeldWhileWaiting:
    """
    A signal awaited under a lock its signallers wait for, while other threads run: a
    deadlock once it has lasted half the hang timeout, not the grace (a running thread may
    give the signal without naming it).
    """

    @pytest.mark.parametrize(
        "hang_timeout",
        [
            pytest.param("6", id="half-of-6"),  # 3 s; the grace, 1 s, is past at the reply
            pytest.param("0", id="hangs-off"),  # half the default, 5 s
        ],
    )
    def test_a_callback_fired_by_a_running_thread_is_no_deadlock(
        self, tmp_path: Path, hang_timeout: str
    ) -> None:
        from .spans_programs import Interactive, NotYet

        program = script(tmp_path, CALLBACK_SETTER)
        args = ["-q", "--deadlock-exit", "--hang-timeout", hang_timeout, str(program)]
        run = Interactive(args)
        try:
            _read_until(run, "stdout", "waiting")
            with pytest.raises(NotYet):
                run.wait_for("stderr", "deadlock:", timeout=1.8)
            run.send("reply\n")
            result = run.finish()
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "all done" in result.stdout
        assert "no lock-order inversion, no deadlock" in result.stderr
        assert "deadlock:" not in result.stderr

    def test_found_once_it_has_lasted_half_the_hang_timeout(self, tmp_path: Path) -> None:
        from .spans_programs import Interactive

        program = script(tmp_path, CALLBACK_SETTER)
        run = Interactive(["-q", "--deadlock-exit", "--hang-timeout", "6", str(program)])
        try:
            _read_until(run, "stdout", "waiting")
            _read_until(run, "stderr", "deadlock:", timeout=30)  # no reply ever comes
            run.process.wait(30)  # ended by --deadlock-exit, its input still open
            result = run.finish()
        finally:
            run.process.kill()
        assert DEADLOCK_EXIT_STATUS == result.returncode, result.stderr
        assert 'deadlock: "worker_a" waits on event ev while holding lock L' in result.stderr
        waited = [float(s) for s in re.findall(r"\(for ([\d.]+) s\)", result.stderr)]
        assert waited and min(waited) >= 3.0, result.stderr


def _read_until(run: Any, stream: str, text: str, count: int = 1, timeout: float = 20) -> None:
    """
    Read ``run``'s output until ``count`` lines of ``stream`` contain ``text``, the lines read
    already included (its two streams are read by two threads: their lines interleave as
    they come, not as they were written).
    """
    import queue

    deadline = time.monotonic() + timeout
    while sum(text in line for line in run.seen[stream]) < count:
        left = deadline - time.monotonic()
        if left <= 0 or stream in run.ended:
            raise AssertionError(f"not {count} x {text!r} on {stream}: {run.seen}")
        try:
            name, line = run.lines.get(timeout=left)
        except queue.Empty:
            continue
        if line is None:
            run.ended.add(name)
        else:
            run.seen[name].append(line)


def _signal_until(run: Any, number: int, stream: str, text: str, count: int = 1) -> None:
    """
    Send signal ``number`` until ``stream`` says ``text`` (``count`` times in all): the OS may
    give a process's signal to a thread other than the main one, which then does not wake
    from its wait to run the handler (see ``Interactive.signal``).
    """
    for _ in range(6):
        run.process.send_signal(number)
        try:
            _read_until(run, stream, text, count, timeout=5)
            return
        except AssertionError:
            continue
    raise AssertionError(f"no {text!r} on {stream} after 6 signals: {run.seen}")


#: A thread waits on an Event that the main thread sets once a reply it reads from standard
#: input comes (a socket's, in real life): nothing in the main thread's code names the Event.
LATE_REPLY = """\
    import sys, threading

    class Service:
        def __init__(self):
            self.ready = threading.Event()

        def on_message(self, data):
            self.ready.set()

    svc = Service()

    def waiter():
        svc.ready.wait()
        print("waiter went on", flush=True)

    thread = threading.Thread(target=waiter, name="waiter")
    thread.start()
    print("waiting", flush=True)
    svc.on_message(sys.stdin.readline())
    thread.join()
"""


#: Every thread blocked twice over: on a first Event, which a signal handler sets through a
#: callback (SIGUSR1), then on a second one until a Ctrl-C.
INTERRUPTED_HANG = """\
    import signal, threading

    # Ctrl-C raises KeyboardInterrupt whatever this process was started with (a shell's
    # background job starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    first, second = threading.Event(), threading.Event()
    callbacks = [first.set]
    signal.signal(signal.SIGUSR1, lambda *args: callbacks[0]())
    print("phase 1", flush=True)
    try:
        first.wait()
        print("phase 2", flush=True)
        second.wait()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


class TestSignalFed:
    def test_syncscope_s_own_signal_handlers_feed_nothing(self, tmp_path: Path) -> None:
        """
        With spans, syncscope's own handler for fatal signals stands in, and its code names
        a ``done`` too: a hang on the program's ``done`` is a hang all the same.
        """
        program = script(
            tmp_path,
            """\
            import threading
            done = threading.Event()
            threading.Thread(target=done.wait, daemon=True).start()
            done.wait()
            """,
        )
        jaeger = tmp_path / "spans.json"
        args = ["-q", "--hang-timeout", "1", "--deadlock-exit", f"--jaeger-file={jaeger}"]
        result = run_syncscope(*args, str(program), timeout=30)
        assert DEADLOCK_EXIT_STATUS == result.returncode, result.stderr
        assert "syncscope: hang:" in result.stderr


class TestHangOver:
    """A hang reported while other threads run, whose waits end after all: said so."""

    @pytest.mark.parametrize(
        "mode", [pytest.param(["-q"], id="lean"), pytest.param([], id="events")]
    )
    def test_a_hang_whose_waits_end_is_said_over(self, tmp_path: Path, mode: list[str]) -> None:
        from .spans_programs import Interactive

        program = script(tmp_path, LATE_REPLY)
        out = tmp_path / "report.json"
        args = [*mode, "--report", "--hang-timeout", "1", "--report-json", str(out)]
        run = Interactive([*args, str(program)])
        try:
            _read_until(run, "stdout", "waiting")
            _read_until(run, "stderr", "syncscope: hang: 1 thread blocked for good")
            run.send("reply\n")
            _read_until(run, "stderr", 'syncscope: hang over: "waiter" went on after')
            result = run.finish()
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "waiter went on" in result.stdout
        assert "no deadlock, 1 hang (1 over)" in result.stderr
        assert "over: its waits ended after" in result.stderr
        (hang,) = json.loads(out.read_text())["hangs"]
        assert hang["over_after_s"] >= 1.0  # it waited past the hang timeout

    def test_a_hang_ended_by_ctrl_c_is_not_over(self, tmp_path: Path) -> None:
        """Interrupted, a hang ends without going on: not said over, counted as a hang."""
        import signal

        from .spans_programs import Interactive

        program = script(tmp_path, INTERRUPTED_HANG)
        out = tmp_path / "report.json"
        run = Interactive(["-q", "--hang-timeout", "1", "--report-json", str(out), str(program)])
        try:
            _read_until(run, "stdout", "phase 1")
            _read_until(run, "stderr", "syncscope: hang: no progress")
            _signal_until(run, signal.SIGINT, "stdout", "interrupted")
            result = run.finish()
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "hang over" not in result.stderr
        assert "no deadlock, 1 hang\n" in result.stderr
        (hang,) = json.loads(out.read_text())["hangs"]
        assert hang["over_after_s"] is None

    def test_after_a_hang_of_every_thread_is_over_the_next_is_reported(
        self, tmp_path: Path
    ) -> None:
        import signal

        from .spans_programs import Interactive

        program = script(tmp_path, INTERRUPTED_HANG)
        run = Interactive(["-q", "--hang-timeout", "1", str(program)])
        try:
            _read_until(run, "stdout", "phase 1")
            _read_until(run, "stderr", "syncscope: hang: no progress")
            # Its handler sets the first Event.
            _signal_until(run, signal.SIGUSR1, "stdout", "phase 2")
            _read_until(run, "stderr", 'syncscope: hang over: "MainThread" went on after')
            _read_until(run, "stderr", "syncscope: hang: no progress", count=2)  # the second
            _signal_until(run, signal.SIGINT, "stdout", "interrupted")
            result = run.finish()
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "no deadlock, 2 hangs (1 over)" in result.stderr

    def test_after_a_hang_of_every_thread_partly_ends_the_next_is_reported(
        self, tmp_path: Path
    ) -> None:
        """A thread of the first hang waits for good: the next hang is reported all the same."""
        import signal

        from .spans_programs import Interactive

        stuck = "threading.Thread(target=threading.Event().wait, daemon=True).start()\n    "
        source = INTERRUPTED_HANG.replace('print("phase 1"', stuck + 'print("phase 1"')
        program = script(tmp_path, source)
        run = Interactive(["-q", "--hang-timeout", "1", str(program)])
        try:
            _read_until(run, "stdout", "phase 1")
            _read_until(run, "stderr", "syncscope: hang: no progress")
            _signal_until(run, signal.SIGUSR1, "stdout", "phase 2")
            _read_until(run, "stderr", "syncscope: hang: no progress", count=2)  # the second
            _signal_until(run, signal.SIGINT, "stdout", "interrupted")
            result = run.finish()
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "no deadlock, 2 hangs\n" in result.stderr

    def test_a_hang_still_on_at_exit_is_not_over(self, tmp_path: Path) -> None:
        from .spans_programs import Interactive

        never = LATE_REPLY.replace('name="waiter"', 'name="waiter", daemon=True')
        never = never.replace("svc.on_message(sys.stdin.readline())", "sys.stdin.readline()")
        program = script(tmp_path, never.replace("thread.join()\n", ""))
        out = tmp_path / "report.json"
        run = Interactive(["-q", "--hang-timeout", "1", "--report-json", str(out), str(program)])
        try:
            _read_until(run, "stdout", "waiting")
            _read_until(run, "stderr", "syncscope: hang: 1 thread blocked for good")
            result = run.finish()  # its input closed: the program ends, the waiter waiting
        finally:
            run.process.kill()
        assert 0 == result.returncode, result.stderr
        assert "no deadlock, 1 hang\n" in result.stderr
        assert "hang over" not in result.stderr
        (hang,) = json.loads(out.read_text())["hangs"]
        assert hang["over_after_s"] is None


class TestHang:
    @endless
    def test_event_nobody_sets(self) -> None:
        """Every thread blocked, one on an Event nobody sets: a hang, reported once."""
        reported = Latch()
        unwatched = threading.Event()  # created before record(): its wait is not watched
        with syncscope.record(hang_timeout=0.3, echo=False) as rec:
            ready = threading.Event()

            def on_finding(finding: object) -> None:
                if isinstance(finding, Hang):
                    reported.set()
                    ready.set()  # on the watchdog's thread: unblock everyone
                    unwatched.set()

            rec._recorder.listeners.append(on_finding)
            waiter = start_thread(ready.wait, name="waiter")
            unwatched.wait()  # a wait with a timeout would be no hang: it ends by itself
            reported.wait()
            join(waiter)
        [hang] = rec.hangs
        names = [thread.name for thread in hang.threads]
        assert "waiter" == names[0]
        assert hang.threads[0].waits_for is not None
        assert "ready" == hang.threads[0].waits_for.name
        assert "MainThread" in names
        assert "waits for event ready" in hang.text()
        assert hang.after_ns >= 0.3e9

    @endless
    def test_a_hang_is_reported_when_seen_again_alike(self) -> None:
        """
        A thread just woken that the OS has not run yet looks blocked where it was, for one
        look: a hang is reported when a second look sees every thread blocked alike, not at
        its first sighting, nor when a thread blocked outside syncscope's view has moved
        from one wait to another meanwhile (no event says so).
        """
        first = threading.Event()  # created before record(): unwatched, as a library's
        second = threading.Event()

        def mover() -> None:
            first.wait()
            second.wait()

        with syncscope.record(hang_timeout=1e-9, echo=False) as rec:
            watchdog = rec._recorder.watchdog
            assert watchdog is not None
            watchdog.stop()  # only the looks below
            ready = threading.Event()
            blocked = _Blocked(op="wait")
            add_sink(blocked)
            moving = start_thread(mover, name="mover")
            waiter = start_thread(ready.wait, name="waiter")
            blocked.latch.wait()
            _look_until(watchdog, lambda: watchdog._hang_sighting is not None)
            assert [] == rec.hangs  # seen once
            first.set()
            _until_blocked_in(moving, mover.__code__, 2)  # in second.wait()
            watchdog.check()
            assert [] == rec.hangs  # blocked again, elsewhere: not alike
            _look_until(watchdog, lambda: bool(rec.hangs))
            [hang] = rec.hangs
            ready.set()
            second.set()
            join(waiter)
            join(moving)
        assert ["waiter", "mover"] == [thread.name for thread in hang.threads]

    @endless
    def test_timer_is_no_hang(self) -> None:
        """A threading.Timer waits with a timeout: whoever waits for it is not hung."""
        with syncscope.record(hang_timeout=1e-9, echo=False) as rec:
            watchdog = rec._recorder.watchdog
            assert watchdog is not None
            ready = threading.Event()
            blocked = _Blocked(op="wait")
            add_sink(blocked)
            timer = threading.Timer(60, ready.set)
            timer.start()
            waiter = start_thread(ready.wait, name="waiter")
            blocked.latch.wait()
            watchdog.check()  # notes the progress so far
            watchdog.check()  # quiet since: looks for a hang
            assert [] == rec.hangs
            timer.cancel()
            join(timer)
            watchdog.check()
            watchdog.check()
            watchdog.check()  # a hang is reported when seen twice alike
            [hang] = rec.hangs  # with the timer gone, nobody can set the event
            ready.set()
            join(waiter)
        assert ["waiter"] == [thread.name for thread in hang.threads]


class TestWritingNeverFails:
    def test_short_path_without_a_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file name stays as it is when the working directory is gone (relpath raises)."""
        gone = tmp_path / "gone"
        gone.mkdir()
        monkeypatch.chdir(gone)
        gone.rmdir()
        assert "/src/app.py" == short_path("/src/app.py")

    def test_a_finding_that_cannot_be_written(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A deadlock whose text or JSON fails is still kept, told and said to be found."""

        def fail(*_args: object) -> Any:
            raise RuntimeError("no words for it")

        monkeypatch.setattr(Deadlock, "text", fail)
        monkeypatch.setattr("syncscope.report.Report.of", fail)
        told: list[object] = []
        recorder = Recorder(DiagnosisOptions(report_json=str(tmp_path / "r.json")))
        recorder.listeners.append(told.append)
        try:
            recorder._deadlock(Deadlock((), 2))
        finally:
            recorder.close()
        assert 1 == len(recorder.deadlocks) == len(told)
        err = capfd.readouterr().err
        assert "syncscope: found a deadlock, but could not write it out: RuntimeError(" in err
        assert "cannot write the JSON report" in err

    def test_deadlock_exit_without_a_working_directory(self, tmp_path: Path) -> None:
        """The program's working directory removed: the deadlock is reported, the program ended."""
        program = script(
            tmp_path,
            textwrap.dedent(DEADLOCK).replace(
                "import threading\n",
                "import os, tempfile, threading\n\n"
                "os.chdir(tempfile.mkdtemp())\nos.rmdir(os.getcwd())\n",
                1,
            ),
        )
        assert "os.rmdir" in program.read_text()
        result = run_syncscope("--deadlock-exit", "-q", str(program), timeout=30)
        assert DEADLOCK_EXIT_STATUS == result.returncode, result.stderr
        assert "syncscope: deadlock: 2 threads wait for each other" in result.stderr
        assert "Deadlocks (1):" in result.stderr
        assert "failed" not in result.stderr


class _Blocked:
    """A sink whose latch opens when ``count`` operations ``op`` have started to wait."""

    def __init__(self, count: int = 1, op: str = "acquire") -> None:
        self.latch = Latch()
        self._left = count
        self._op = op
        #: The last operation that started to wait.
        self.event: Any = None

    def handle(self, event: Any) -> None:
        if event.outcome == "waiting" and event.op == self._op:
            self.event = event
            self._left -= 1
            if self._left <= 0:
                self.latch.set()

    def close(self) -> None:
        pass


def acquire_with_timeout(lock: threading.Lock, timeout: float) -> None:
    if lock.acquire(timeout=timeout):
        lock.release()


def release_when(go: Latch, lock: threading.Lock) -> None:
    go.wait()
    lock.release()


def take_two(items: threading.Semaphore, one_each: threading.Barrier) -> None:
    items.acquire()
    one_each.wait(timeout=5)  # one permit each, then both wait for a second
    items.acquire()


def cross(first: threading.Lock, second: threading.Lock, both: threading.Barrier) -> None:
    first.acquire()
    both.wait(timeout=5)
    second.acquire()  # released by the test, never by this thread


DEADLOCK = """
    import threading

    accounts_lock = threading.Lock()
    audit_lock = threading.Lock()
    both_in = threading.Barrier(2)

    def transfer():
        with accounts_lock:
            both_in.wait()
            with audit_lock:
                pass

    def audit():
        with audit_lock:
            both_in.wait()
            with accounts_lock:
                pass

    threads = [
        threading.Thread(target=transfer, name="transfer"),
        threading.Thread(target=audit, name="audit"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
"""


class TestRunner:
    def test_deadlock_exit(self, tmp_path: Path) -> None:
        """--deadlock-exit: the report within a second, then the distinct exit status."""
        program = script(tmp_path, DEADLOCK)
        result = run_syncscope("--deadlock-exit", "-q", str(program), timeout=30)
        assert DEADLOCK_EXIT_STATUS == result.returncode == 3, result.stderr
        err = result.stderr
        assert "syncscope: deadlock: 2 threads wait for each other and will never go on" in err
        assert '"transfer" waits for lock audit_lock at ' in err
        assert 'held by "audit"' in err
        assert "holds lock accounts_lock, taken at " in err
        assert "prog.py:9 in transfer" in err  # where it took accounts_lock
        assert "prog.py:11 in transfer" in err  # where it waits
        assert '"audit" waits for lock accounts_lock at ' in err
        assert "with audit_lock:" in err  # the stack shows the source line
        assert "syncscope: ending the program with status 3" in err
        assert "Deadlocks (1):" in err  # the exit report, written before exiting
        waited = [float(w) for w in re.findall(r"\(for ([\d.]+) ms\)", err)]
        assert waited
        assert all(ms < 1000 for ms in waited), err

    def test_rlock_cycle_while_another_thread_runs(self, tmp_path: Path) -> None:
        """RLocks are released by their owners only: their cycle is reported, whatever runs."""
        program = script(
            tmp_path,
            DEADLOCK.replace("threading.Lock()", "threading.RLock()").replace(
                "for thread in threads:\n        thread.join()",
                "threading.Event().wait(60)  # waits, but ends by itself: it counts as running",
            ),
        )
        assert "RLock()" in program.read_text() and "join()" not in program.read_text()
        result = run_syncscope("--deadlock-exit", "-q", "--no-report", str(program), timeout=30)
        assert DEADLOCK_EXIT_STATUS == result.returncode, result.stderr
        assert '"transfer" waits for rlock audit_lock at ' in result.stderr

    def test_deadlock_exit_status_of_choice(self, tmp_path: Path) -> None:
        """--deadlock-exit=STATUS picks the status."""
        program = script(tmp_path, DEADLOCK)
        result = run_syncscope("--deadlock-exit=9", "-q", "--no-report", str(program))
        assert 9 == result.returncode, result.stderr

    def test_deadlock_reported_while_it_lasts(self, tmp_path: Path) -> None:
        """Without --deadlock-exit the program stays deadlocked; the report is out already."""
        program = script(tmp_path, DEADLOCK)
        out = tmp_path / "report.json"
        process = start_syncscope("--report-json", str(out), str(program))
        try:
            err = read_until(process, "syncscope: deadlock:", "created at:")
            assert process.poll() is None  # still deadlocked
            assert '"transfer" waits for lock audit_lock' in err
            assert 1 == len(json.loads(out.read_text())["deadlocks"])
        finally:
            stop(process)

    def test_hang_on_an_event(self, tmp_path: Path) -> None:
        """An Event nobody sets: after --hang-timeout, who waits on what and who holds what."""
        program = script(
            tmp_path,
            """
            import threading

            config_ready = threading.Event()
            config_lock = threading.Lock()

            def loader():
                config_lock.acquire()  # and never released, nor is the event set
                config_ready.wait()

            threading.Thread(target=loader, name="loader").start()
            config_ready.wait()
            """,
        )
        process = start_syncscope("-q", "--hang-timeout", "0.5", str(program))
        try:
            err = read_until(process, "syncscope: hang:", "held:", "taken at")
            assert process.poll() is None
        finally:
            stop(process)
        assert "syncscope: hang: no progress for " in err
        assert '"MainThread" waits for event config_ready at ' in err
        assert '"loader" waits for event config_ready at ' in err
        assert 'lock config_lock by "loader", taken at ' in err
        assert "prog.py:8 in loader" in err
        assert "deadlock" not in err


def test_current_frames_leaves_the_collector_as_it_found_it() -> None:
    """
    The watchdog reads other threads' frames with the collector off for the call before 3.12
    (CPython gh-106883: a collection inside ``sys._current_frames()`` could deadlock the
    program); the program's own setting is what it finds afterwards, on or off.
    """
    import gc

    from syncscope._core.compat import current_frames

    was = gc.isenabled()
    try:
        for setting in (True, False):
            (gc.enable if setting else gc.disable)()
            frames = current_frames()
            assert setting == gc.isenabled()
            assert sys._getframe() is frames[threading.get_ident()].f_back
    finally:
        (gc.enable if was else gc.disable)()


def _look_until(watchdog: Any, done: Any, timeout: float = 10) -> None:
    """Let ``watchdog`` look until ``done()``, for ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "never came"
        watchdog.check()


def _asleep(watchdog: Any) -> bool:
    """Whether ``watchdog`` sleeps until a wait begins (see Watchdog._idle)."""
    frame = sys._current_frames().get(watchdog.ident or 0)
    return (
        watchdog._holds.wake is not None
        and frame is not None
        and frame.f_code is Ticker._idle.__code__
    )


def _until(done: Any, failure: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, failure
        time.sleep(0.001)


def _until_idle(watchdog: Any) -> None:
    _until(lambda: _asleep(watchdog), "the watchdog never went to sleep")


def _until_blocked_in(thread: threading.Thread, code: Any, line: int) -> None:
    """Until ``thread`` waits for the lock of a Condition.wait called ``line`` lines into
    ``code``: blocked in C, where no frame of its stack moves."""
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, f"{thread.name} never blocked there"
        frame = sys._current_frames().get(thread.ident or 0)
        stack = []
        while frame is not None:
            stack.append(frame)
            frame = frame.f_back
        inner = stack[0] if stack else None
        if (
            inner is not None
            and inner.f_code.co_filename == threading.__file__
            and "waiter.acquire()" in linecache.getline(inner.f_code.co_filename, inner.f_lineno)
            and any(f.f_code is code and f.f_lineno == code.co_firstlineno + line for f in stack)
        ):
            return
        time.sleep(0.001)
