"""
syncscope's own threads: a Ticker sleeps, wakes, steps aside for a fork and comes back; a
Resumable (the span threads) steps aside between two rounds of work and comes back to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from syncscope._core import ourthreads
from syncscope._core.ourthreads import Ticker


class Armed:
    """Where a Ticker rings (what ``Holds.wake`` is to the watchdog)."""

    def __init__(self) -> None:
        self.wake: Callable[[], None] | None = None

    def __call__(self, wake: Callable[[], None] | None) -> None:
        self.wake = wake


def until(done: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, failure
        time.sleep(0.001)


def ticker(look: Callable[[], None], wanted: list[bool]) -> tuple[Ticker, Armed]:
    armed = Armed()
    made = Ticker(look, lambda: wanted[0], armed, interval=0.01)
    made.start()
    return made, armed


class TestTicker:
    def test_sleeps_until_woken_then_looks(self) -> None:
        wanted = [False]
        made, armed = ticker(lambda: None, wanted)
        try:
            until(lambda: armed.wake is not None, "it never went to sleep")
            assert 0 == made.looks
            wanted[0] = True
            wake = armed.wake
            assert wake is not None
            wake()
            until(lambda: made.looks > 0, "woken, it never looked")
        finally:
            made.stop()
        assert made.stopped

    def test_a_step_aside_that_outlasts_its_wait_leaves_it_able_to_come_back(self) -> None:
        """
        A fork waits a second at most for a look to end. The thread that ends after that must
        neither take the ring away nor keep its successor from starting.
        """
        in_look = threading.Event()
        slow = threading.Event()
        wanted = [True]

        def look() -> None:
            in_look.set()
            slow.wait(10)

        made, armed = ticker(look, wanted)
        try:
            assert in_look.wait(10)
            wanted[0] = False
            ended = made.step_aside()  # waits its second for the look, in vain
            assert ended is not None
            assert armed.wake is not None
            slow.set()
            until(lambda: ended.finished, "the old thread never ended")
            assert armed.wake is not None, "the old thread took the ring away"
            looks = made.looks
            wanted[0] = True
            armed.wake()
            until(lambda: made.looks > looks, "woken, it never came back")
        finally:
            slow.set()
            made.stop()
        assert made.stopped

    def test_no_step_aside_while_a_wait_it_must_look_at_is_on(self) -> None:
        wanted = [True]
        made, _ = ticker(lambda: None, wanted)
        try:
            until(lambda: made.looks > 0, "it never looked")
            assert made.step_aside() is None
            looks = made.looks
            until(lambda: made.looks > looks, "it stopped looking")
        finally:
            made.stop()

    def test_a_wake_that_cannot_start_a_thread_raises_nothing(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At 3.12's interpreter shutdown no thread starts: the program's wait must go on."""
        wanted = [False]
        made, armed = ticker(lambda: None, wanted)
        try:
            until(lambda: armed.wake is not None, "it never went to sleep")
            assert made.step_aside() is not None

            def no_thread(run: Any) -> Any:
                raise RuntimeError("can't create new thread at interpreter shutdown")

            monkeypatch.setattr(ourthreads, "start", no_thread)
            wanted[0] = True
            wake = armed.wake
            assert wake is not None
            wake()  # raises nothing
            assert armed.wake is not None, "the next wait would not try again"
            monkeypatch.undo()
            armed.wake()
            until(lambda: made.looks > 0, "it never came back")
        finally:
            made.stop()
        assert made.stopped


class Worker:
    """What a span thread is to its Resumable: rounds of work, rung by a doorbell."""

    def __init__(self) -> None:
        self.doorbell = threading.Lock()
        self.doorbell.acquire()
        self.rounds = 0
        self.in_round = threading.Event()
        self.finish_round = threading.Event()
        self.finish_round.set()
        self.ready = True
        #: Ends for good after the round going on.
        self.last = False
        self.runs = 0
        self.running = 0
        self.most_running = 0
        self.thread = ourthreads.Resumable(self.run, self.ring, lambda: self.ready)

    def ring(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.doorbell.release()

    def run(self, leaving: Callable[[], bool]) -> bool:
        self.runs += 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            while True:
                self.doorbell.acquire(timeout=10)
                if leaving():
                    return True
                self.in_round.set()
                self.finish_round.wait(10)
                self.rounds += 1
                self.in_round.clear()
                if self.last:
                    return False
        finally:
            self.running -= 1

    def work(self) -> None:
        """Hand it a round of work, as its owner does: back from a fork first."""
        self.thread.resume()
        self.ring()

    @classmethod
    def in_a_long_round(cls) -> Worker:
        """A worker started and in a round that lasts until ``finish_round`` is set."""
        worker = cls()
        worker.thread.start(ourthreads.LOOKS)
        worker.finish_round.clear()
        worker.work()
        assert worker.in_round.wait(10)
        return worker


def count_starts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The threads of ours started from now on, as a list that grows."""
    started: list[object] = []
    spawn = ourthreads.start

    def counted(run: Callable[[], None]) -> ourthreads.Started:
        started.append(run)
        return spawn(run)

    monkeypatch.setattr(ourthreads, "start", counted)
    return started


class TestResumable:
    def test_steps_aside_and_comes_back_with_its_work_where_it_was(self) -> None:
        worker = Worker()
        worker.thread.start(ourthreads.LOOKS)
        worker.work()
        until(lambda: worker.rounds == 1, "it never worked")
        ended = worker.thread.step_aside()
        assert ended is not None, "the fork did not wait for it"
        assert ended.finished and worker.thread.aside
        assert 0 == worker.running
        worker.work()  # the next need brings it back (where the hooks cannot: 3.13)
        until(lambda: worker.rounds == 2, "it never came back")
        assert not worker.thread.aside
        worker.thread.step_aside()  # the end of the test: no thread left behind

    def test_a_fork_does_not_wait_while_it_is_not_ready(self) -> None:
        """Not while it imports: the fork goes on at once (and keeps its warning)."""
        worker = Worker()
        worker.thread.start(ourthreads.LOOKS)
        worker.ready = False
        assert worker.thread.step_aside() is None
        until(lambda: worker.running == 0, "asked to leave, it never left")
        worker.ready = True
        worker.work()
        until(lambda: worker.rounds == 1, "it never came back")
        worker.thread.step_aside()

    def test_a_thread_late_for_the_fork_is_asked_back_not_followed(self) -> None:
        """
        A fork waits a second at most for a round to end. The thread late for it is asked
        back after the fork: one thread runs rounds, never two.
        """
        worker = Worker.in_a_long_round()
        started_at = time.monotonic()
        assert worker.thread.step_aside() is None  # its second ran out: the fork went on
        assert time.monotonic() - started_at >= 0.9
        worker.thread.come_back()  # the parent's after-fork hook
        assert not worker.thread.aside
        worker.finish_round.set()
        until(lambda: worker.rounds >= 1, "the late round never ended")
        rounds = worker.rounds  # the step aside's ring may have made one more round
        worker.work()
        until(lambda: worker.rounds > rounds, "it never worked again")
        assert (1, 1) == (worker.runs, worker.most_running), "two threads ran rounds"
        worker.thread.step_aside()

    def test_forks_during_a_long_round_leave_no_threads_behind(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        A fork does not wait for a round that is not ready (an export, say); the thread is
        asked back after it, not followed by another that would wait for it, at each fork.
        """
        started = count_starts(monkeypatch)
        worker = Worker.in_a_long_round()
        worker.ready = False
        for _ in range(5):
            assert worker.thread.step_aside() is None
            worker.thread.come_back()  # the parent's after-fork hook
            assert not worker.thread.aside
        worker.ready = True
        worker.finish_round.set()
        until(lambda: worker.rounds >= 1, "the round never ended")
        rounds = worker.rounds  # the step aside's ring may have made one more round
        worker.work()
        until(lambda: worker.rounds > rounds, "asked back, it did not go on")
        assert 1 == len(started), "a thread was started for each fork"
        assert (1, 1) == (worker.runs, worker.most_running)
        worker.thread.step_aside()

    def test_a_thread_late_for_the_fork_that_ends_for_good_is_not_run_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        started = count_starts(monkeypatch)
        worker = Worker.in_a_long_round()
        worker.ready = False
        assert worker.thread.step_aside() is None
        worker.thread.come_back()  # the parent's after-fork hook, the round still going on
        worker.last = True
        worker.finish_round.set()
        until(lambda: worker.thread.over, "it never ended")
        assert worker.thread.resume() is True  # nothing to come back to
        assert not worker.thread.aside
        assert 1 == len(started), "a thread was started to run it again"
        assert 1 == worker.runs

    def test_a_resume_that_cannot_start_a_thread_raises_nothing(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At 3.12's interpreter shutdown no thread starts: it says so, and stays aside."""
        worker = Worker()
        worker.thread.start(ourthreads.LOOKS)
        assert worker.thread.step_aside() is not None

        def no_thread(run: Any) -> Any:
            raise RuntimeError("can't create new thread at interpreter shutdown")

        monkeypatch.setattr(ourthreads, "start", no_thread)
        assert worker.thread.resume() is False
        assert worker.thread.aside
        monkeypatch.undo()
        worker.work()
        until(lambda: worker.rounds == 1, "it never came back")
        worker.thread.step_aside()

    def test_done_for_good_it_does_not_come_back(self) -> None:
        finished = threading.Event()

        def run(leaving: Callable[[], bool]) -> bool:
            finished.set()
            return False

        thread = ourthreads.Resumable(run, lambda: None, lambda: True)
        thread.start(ourthreads.LOOKS)
        assert finished.wait(10)
        until(lambda: thread.over, "it never ended")
        assert thread.step_aside() is None
        assert thread.resume()
