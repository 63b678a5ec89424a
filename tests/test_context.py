"""Context propagation: wrappers on Thread.start and submit, taken off newest first."""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

import syncscope


def layers(method: object) -> int:
    """How many wrappers are on ``method``."""
    count = 0
    while hasattr(method, "__wrapped__"):
        method = method.__wrapped__
        count += 1
    return count


ORIGINAL_START = threading.Thread.start
ORIGINAL_SUBMIT = ThreadPoolExecutor.submit


class TestWrappers:
    def test_wrapped_with_spans_and_put_back_at_uninstall(self) -> None:
        """Spans on: both are wrapped; after uninstall, the originals by identity."""
        syncscope.install(lines=False, spans=True, exporter="none")
        try:
            start = vars(threading.Thread)["start"]
            assert ORIGINAL_START is start.__wrapped__
            # It looks like the original to introspection.
            assert (start.__name__, start.__qualname__, start.__module__) == (
                "start",
                "Thread.start",
                "threading",
            )
            # submit is also observed as a wait (the futures patch): two layers, ours on top.
            assert 2 == layers(vars(ThreadPoolExecutor)["submit"])
        finally:
            syncscope.uninstall()
        assert ORIGINAL_START is vars(threading.Thread)["start"]
        assert ORIGINAL_SUBMIT is vars(ThreadPoolExecutor)["submit"]

    def test_a_second_install_wraps_once(self) -> None:
        """Install, uninstall, install: one layer of wrapper, never two."""
        for _ in range(2):
            syncscope.install(lines=False, spans=True, exporter="none")
            syncscope.uninstall()
        syncscope.install(lines=False, spans=True, exporter="none")
        try:
            start = vars(threading.Thread)["start"]
            assert ORIGINAL_START is start.__wrapped__
            assert 2 == layers(vars(ThreadPoolExecutor)["submit"])
        finally:
            syncscope.uninstall()
        assert ORIGINAL_START is vars(threading.Thread)["start"]

    def test_without_spans_no_span_is_carried(self) -> None:
        """Statistics only: Thread.start stays as it is, submit has the futures layer only."""
        syncscope.install(lines=False, stats=True)
        try:
            assert ORIGINAL_START is vars(threading.Thread)["start"]
            assert 1 == layers(vars(ThreadPoolExecutor)["submit"])
        finally:
            syncscope.uninstall()
        assert ORIGINAL_SUBMIT is vars(ThreadPoolExecutor)["submit"]


@pytest.mark.skipif(
    importlib.util.find_spec("concurrent.futures.interpreter") is not None,
    reason="Python's own InterpreterPoolExecutor runs its tasks in other interpreters",
)
def test_an_interpreter_pools_tasks_go_as_submitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    A task of 3.14's InterpreterPoolExecutor runs in an interpreter of its own, where nothing
    is watched: it is not wrapped to carry the program's span (before 3.14, a stand-in).
    """
    from opentelemetry.sdk.trace import TracerProvider

    from syncscope._core import context

    module = types.ModuleType("concurrent.futures.interpreter")

    class InterpreterPoolExecutor(ThreadPoolExecutor):
        pass

    module.InterpreterPoolExecutor = InterpreterPoolExecutor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    syncscope.install(lines=False, spans=True, exporter="none")
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("request"):
            assert context.current_parent() is not None  # our spans follow the program's
            with ThreadPoolExecutor(1) as threads, InterpreterPoolExecutor(1) as interpreters:
                carried = threads.submit(lambda: context.task_parent.value).result(10)
                sent = interpreters.submit(lambda: context.task_parent.value).result(10)
    finally:
        syncscope.uninstall()
    assert carried is not None
    assert sent is None
