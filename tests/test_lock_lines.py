"""
The lines with the checks (the runner's default): Lock and RLock operations take the lean
path, which writes their lines itself (``_sinks/lines.LockLines``), and the other primitives
report events as before. The lines must be the event path's, line for line, and the locks
must stay drop-ins.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.state import state
from syncscope._intercept.locks import PROXY_TYPES

from .conftest import join, start_thread


lock_tests = pytest.importorskip("test.lock_tests", reason="CPython's test package is missing")


def wait_for_line(path: Path, line: str, timeout: float = 5) -> None:
    """Until ``line`` is in the output: a thread announced its wait, and blocks next."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in path.read_text().splitlines():
            return
        time.sleep(0.001)
    raise AssertionError(f"{line!r} was not written in time")


def program(path: Path) -> None:
    """Every kind of Lock and RLock line, and the primitives around them."""
    lock, rlock = threading.Lock(), threading.RLock()
    cond, sem, jobs = threading.Condition(), threading.Semaphore(1), queue.Queue()
    with lock:
        pass
    with rlock, rlock:
        rlock.acquire()
        rlock.release()
    lock.acquire()
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0.001) is False
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(RuntimeError):
        rlock.release()
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    # A wait for the lock: announced, then acquired after it.
    lock.acquire()

    def take() -> None:
        with lock:
            pass

    taker = start_thread(take, name="taker")
    wait_for_line(path, f"{lock._syncscope_primitive.label} wait by taker")  # type: ignore[attr-defined]
    lock.release()
    join(taker)
    # A thread renamed between two acquires: the kept line is not reused.
    threading.current_thread().name = "renamed"
    try:
        with lock:
            pass
    finally:
        threading.current_thread().name = "MainThread"
    with cond:
        cond.notify()
        cond.wait(0)
    with sem:
        jobs.put(61)
    jobs.get()


def run(tmp_path: Path, label: str, **options: Any) -> list[str]:
    path = tmp_path / f"{label}.log"
    syncscope.install(format="console", output=str(path), detect_deadlocks=True, **options)
    try:
        lean = state.lines is not None
        program(path)
    finally:
        syncscope.uninstall()
    lines = path.read_text().splitlines()
    # Names made unique per process (lock#2), and times, differ between two runs.
    lines = [re.sub(r"#\d+\b", "", re.sub(r" after [\d.]+ \S+$", "", line)) for line in lines]
    return [str(lean), *lines]


def test_the_lean_lines_are_the_event_paths(tmp_path: Path) -> None:
    lean = run(tmp_path, "lean")
    # A long-hold threshold needs every event: the event path, as before the lean lines.
    full = run(tmp_path, "full", long_hold_ms=1e9)
    assert ("True", "False") == (lean[0], full[0])
    assert full[1:] == lean[1:]
    assert "lock acquired by renamed" in lean
    assert "lock release failed by MainThread: RuntimeError: release unlocked lock" in lean


def test_json_lines_take_the_event_path(tmp_path: Path) -> None:
    """The lean lines are console lines: JSON needs each call site, not looked up there."""
    syncscope.install(format="json", output=str(tmp_path / "x.log"), detect_deadlocks=True)
    assert state.lines is None
    assert state.lean is None


def test_the_other_primitives_report_events(tmp_path: Path) -> None:
    """Their lines are in order only on the event path (a put's is written under its lock)."""
    syncscope.install(format="console", output=str(tmp_path / "x.log"), detect_deadlocks=True)
    assert state.lean is not None
    assert state.in_place is None


def _with_lock_lines(cls: type) -> type:
    """A CPython test class run with the lines and the checks listening."""

    def setUp(self: Any) -> None:
        # Every primitive watched: these tests make theirs inside the standard library.
        syncscope.install(
            format="console", output=os.devnull, detect_deadlocks=True, include_library=True
        )
        # The watchdog's thread running before these tests count threads (one more later
        # would be one left behind); it says who it is once it runs.
        watchdog = state.sinks[-1].watchdog  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while watchdog.ident is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert state.lines is not None
        assert type(threading.Lock()) in PROXY_TYPES
        cls.setUp(self)

    def tearDown(self: Any) -> None:
        cls.tearDown(self)
        syncscope.uninstall()

    return type(f"Lines{cls.__name__}", (cls,), {"setUp": setUp, "tearDown": tearDown})


def _patched(name: str) -> Any:
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(threading, name)(*args, **kwargs)

    return staticmethod(create)


LinesLockTests = _with_lock_lines(
    type("L", (lock_tests.LockTests,), {"locktype": _patched("Lock")})
)
LinesRLockTests = _with_lock_lines(
    type("R", (lock_tests.RLockTests,), {"locktype": _patched("RLock")})
)
LinesConditionTests = _with_lock_lines(
    type("C", (lock_tests.ConditionTests,), {"condtype": _patched("Condition")})
)
