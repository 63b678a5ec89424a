"""
CPython's own tests for the primitives, run against syncscope's instrumented types.

The classes are bound the way CPython's ``test_threading`` binds them, but to the names in
``threading`` and ``queue`` while syncscope is installed, with every primitive watched
(``include_library=True``: these tests create their primitives inside the standard library's
``test`` package) and an output listening, so that the instrumented paths run, not the
pass-through ones.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import unittest
from typing import Any, ClassVar

import pytest

import syncscope
from syncscope._core.state import state
from syncscope._intercept.locks import PROXY_TYPES


lock_tests = pytest.importorskip("test.lock_tests", reason="CPython's test package is missing")
test_queue = pytest.importorskip("test.test_queue", reason="CPython's test package is missing")


class Instrumented:
    """Install before each test, uninstall after it; check the types really are ours."""

    #: An output listening: the reporting paths run.
    install_options: ClassVar[dict[str, Any]] = {"output": os.devnull}

    def setUp(self) -> None:
        syncscope.install(**self.install_options, include_library=True)
        probe = threading.Lock()
        assert type(probe) in PROXY_TYPES, "threading.Lock() did not give an instrumented lock"
        self.installed()
        super().setUp()  # type: ignore[misc]

    def installed(self) -> None:
        """Installed, before the test case's own set-up."""

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        syncscope.uninstall()


def _patched(module: Any, name: str) -> Any:
    # Looked up at call time: bound to whatever the module holds while the test runs.
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(module, name)(*args, **kwargs)

    return staticmethod(create)


class LockTests(Instrumented, lock_tests.LockTests):
    locktype = _patched(threading, "Lock")


class RLockTests(Instrumented, lock_tests.RLockTests):
    locktype = _patched(threading, "RLock")


class ConditionAsRLockTests(Instrumented, lock_tests.RLockTests):
    # Condition uses an RLock by default and exports its API.
    locktype = _patched(threading, "Condition")

    def test_recursion_count(self) -> None:
        self.skipTest("Condition does not expose _recursion_count() (skipped by CPython too)")


class EventTests(Instrumented, lock_tests.EventTests):
    eventtype = _patched(threading, "Event")


class ConditionTests(Instrumented, lock_tests.ConditionTests):
    condtype = _patched(threading, "Condition")


class SemaphoreTests(Instrumented, lock_tests.SemaphoreTests):
    semtype = _patched(threading, "Semaphore")


class BoundedSemaphoreTests(Instrumented, lock_tests.BoundedSemaphoreTests):
    semtype = _patched(threading, "BoundedSemaphore")


class BarrierTests(Instrumented, lock_tests.BarrierTests):
    barriertype = _patched(threading, "Barrier")


class QueueTests(Instrumented, test_queue.QueueTest, unittest.TestCase):
    queue = queue


class LifoQueueTests(Instrumented, test_queue.LifoQueueTest, unittest.TestCase):
    queue = queue


class PriorityQueueTests(Instrumented, test_queue.PriorityQueueTest, unittest.TestCase):
    queue = queue


class FailingQueueTests(Instrumented, test_queue.FailingQueueTest, unittest.TestCase):
    queue = queue


class SimpleQueueTests(Instrumented, test_queue.BaseSimpleQueueTest, unittest.TestCase):
    queue = queue

    def setUp(self) -> None:
        self.type2test = queue.SimpleQueue
        super().setUp()


class Idle(Instrumented):
    """Installed with nothing listening: the proxies' pass-through paths (see _gil)."""

    install_options: ClassVar[dict[str, Any]] = {"lines": False}


class IdleLockTests(Idle, lock_tests.LockTests):
    locktype = _patched(threading, "Lock")


class IdleRLockTests(Idle, lock_tests.RLockTests):
    locktype = _patched(threading, "RLock")


class IdleConditionTests(Idle, lock_tests.ConditionTests):
    condtype = _patched(threading, "Condition")


class Counting(Instrumented):
    """
    Spans alone, past the span allowance from the start: what nobody waits for is counted in
    place (a busy program's steady state), the rest recorded or reported.
    """

    install_options: ClassVar[dict[str, Any]] = {
        "lines": False,
        "report": False,
        "detect_deadlocks": False,
        "spans": True,
        "exporter": "none",
    }

    def installed(self) -> None:
        (sink,) = [sink for sink in state.sinks if type(sink).__name__ == "SpanSink"]
        sink._allowance = -(10**15)  # type: ignore[attr-defined]  # spent: the worker keeps counting
        records = state.records
        assert records is not None and records.counted is not None, "nothing counted in place"
        records.counting = True
        # The sink's threads, started by install, run before the test case counts threads
        # (CPython's tests wait for the threads they start to end, by their count).
        wanted = {"SpareThread._run", "SpanSink._worker_main"}
        deadline = time.monotonic() + 10
        while not wanted <= _running():
            assert time.monotonic() < deadline, "the span sink's threads did not start"
            time.sleep(0.001)


def _running() -> set[str]:
    """The qualified names of the functions every thread is running, at any depth."""
    names = set()
    for frame in sys._current_frames().values():
        walked: Any = frame
        while walked is not None:
            names.add(walked.f_code.co_qualname)
            walked = walked.f_back
    return names


class CountingLockTests(Counting, lock_tests.LockTests):
    locktype = _patched(threading, "Lock")


class CountingRLockTests(Counting, lock_tests.RLockTests):
    locktype = _patched(threading, "RLock")


class CountingEventTests(Counting, lock_tests.EventTests):
    eventtype = _patched(threading, "Event")


class CountingConditionTests(Counting, lock_tests.ConditionTests):
    condtype = _patched(threading, "Condition")


class CountingSemaphoreTests(Counting, lock_tests.SemaphoreTests):
    semtype = _patched(threading, "Semaphore")


class CountingBoundedSemaphoreTests(Counting, lock_tests.BoundedSemaphoreTests):
    semtype = _patched(threading, "BoundedSemaphore")


class CountingQueueTests(Counting, test_queue.QueueTest, unittest.TestCase):
    queue = queue
