"""syncscope's own threads: a Ticker sleeps, wakes, steps aside for a fork and comes back."""

from __future__ import annotations

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
