"""Context propagation: wrappers on Thread.start and submit, taken off newest first."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
