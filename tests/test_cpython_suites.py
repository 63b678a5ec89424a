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
import threading
import unittest
from typing import Any, ClassVar

import pytest

import syncscope
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
        super().setUp()  # type: ignore[misc]

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
