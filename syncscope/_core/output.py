"""
The one way syncscope writes text: a line at a time, with one ``os.write`` each, under a lock
of its own, so that lines from two threads never interleave and a broken output never breaks
the program. Lines, findings and the exit report all go through a :class:`FdWriter`.
"""

from __future__ import annotations

import contextlib
import os

from .fork import reset_after_fork
from .registry import allocate_lock


def format_duration(ns: int) -> str:
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} \u00b5s"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


class FdWriter:
    """structlog's "logger": writes each rendered line with one ``os.write``, under our own lock."""

    def __init__(self, fd: int, owns_fd: bool) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        self._lock = allocate_lock()  # the original: never instrumented
        self.broken = False
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock._at_fork_reinit()  # a thread of the parent may have held it

    def msg(self, line: str) -> None:
        self.write((line + "\n").encode("utf-8", "backslashreplace"))

    def write(self, data: bytes) -> None:
        """Write ``data``, a whole line or block ending with its newline, with one write."""
        with self._lock:
            if self.broken:
                return
            try:
                written = os.write(self._fd, data)
                while written < len(data):  # only a non-blocking or interrupted output splits
                    data = data[written:]
                    written = os.write(self._fd, data)
            except InterruptedError:
                pass
            except OSError:
                # A closed pipe, a full disk, a non-blocking stderr that is full: none of it may
                # break the program. Stop writing.
                self.broken = True

    info = debug = warning = error = critical = log = msg

    def close(self) -> None:
        if self._owns_fd:
            with contextlib.suppress(OSError):
                os.close(self._fd)
