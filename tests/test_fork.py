"""A forked child: the diagnosis neither waits for the parent's threads nor inherits held locks."""

from __future__ import annotations

import os
import select
from collections.abc import Callable
from pathlib import Path

import pytest

import syncscope

from .conftest import run_syncscope
from .support.process import script


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")


def in_child(check: Callable[[], object]) -> str:
    """Fork; call ``check`` in the child and return the repr of what it returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, and leave without any cleanup
        try:
            answer = repr(check())
        except BaseException as exc:
            answer = f"raised {exc!r}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 10)
        assert ready, "the child did not answer in time"
        return os.read(read, 4096).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)  # it has answered: it exits at once


class TestInProcess:
    def test_child_has_no_watchdog_to_wait_for(self) -> None:
        """In the child the watchdog is stopped, and closing the recorder does not wait for it."""
        with syncscope.record(echo=False) as rec:
            recorder = rec._recorder
            assert recorder.watchdog is not None
            watchdog = recorder.watchdog
            answer = in_child(
                lambda: (watchdog._running, recorder.close(), watchdog._stopped.locked())
            )
        assert "(False, None, False)" == answer

    def test_locks_held_at_the_fork_are_free_in_the_child(self) -> None:
        """A lock of ours held by another thread at the fork is free in the child."""
        with syncscope.record(echo=False) as rec:
            recorder = rec._recorder
            assert recorder.lockorder is not None
            holds, order = recorder.holds, recorder.lockorder
            with recorder._lock, order._lock, holds._permits_lock:
                answer = in_child(
                    lambda: tuple(
                        lock.acquire(timeout=1)
                        for lock in (recorder._lock, order._lock, holds._permits_lock)
                    )
                )
        assert "(True, True, True)" == answer


class TestRunner:
    def test_child_exits_at_once(self, tmp_path: Path) -> None:
        """A child that ends normally is not held up by the diagnosis at its exit."""
        program = script(
            tmp_path,
            """
            import os
            import sys
            import threading
            import time

            lock = threading.Lock()
            with lock:
                pass
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:
                with lock:
                    pass
                sys.exit(0)
            _, status = os.waitpid(pid, 0)
            took = time.monotonic() - started
            print(f"child exit {os.waitstatus_to_exitcode(status)} after {took:.3f} s")
            """,
        )
        result = run_syncscope("-q", str(program), timeout=30)
        assert 0 == result.returncode, result.stderr
        head, seconds = result.stdout.strip().rsplit(" after ", 1)
        assert "child exit 0" == head
        # Closing waited for the parent's watchdog thread: 1.4 s. Now a child ends in a blink.
        assert float(seconds.removesuffix(" s")) < 1.0, result.stdout
