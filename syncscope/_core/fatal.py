"""
Fatal signals: SIGTERM and SIGHUP end a process without running ``atexit``, so what an
output writes at exit (the spans still in flight, the timeline's file) would be lost just when
someone stops a program that hangs (``timeout``, ``kill``, a CI job's time limit).

While an output asks (:func:`close_on_fatal_signal`), each of these signals that the program
leaves at its default action is caught, on the main thread: every output that asked closes,
each within the seconds it gave, then the process dies of the signal as it would have (the
same exit status, no ``atexit``). One handler for all of them: an output that hooked the signal
for itself alone would leave the next one to find it taken.

A program that sets its own handler later replaces this one, as it would the default.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Signals whose default action ends the process (those this platform has).
FATAL_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Seconds waited past the outputs' own, for the threads that close them to start and end.
GRACE = 0.3

_monotonic = time.monotonic

#: The outputs to close, in the order they asked, with the seconds each may take.
_closers: list[tuple[Callable[[], None], float]] = []
#: Signal -> what it was before it was caught here (the default action).
_caught: dict[int, Any] = {}
#: The signal being handled, once one is: the outputs are closing.
_closing: list[int] = []


def close_on_fatal_signal(close: Callable[[], None], seconds: float) -> None:
    """Call ``close`` (waited for ``seconds`` at most) before a fatal signal ends the process."""
    _closers.append((close, max(seconds, 0.0)))
    if not _caught and threading.current_thread() is threading.main_thread():
        for number in FATAL_SIGNALS:
            with contextlib.suppress(Exception):
                if signal.getsignal(number) is signal.SIG_DFL:
                    signal.signal(number, _fatal_signal)
                    _caught[number] = signal.SIG_DFL


def forget(close: Callable[[], None]) -> None:
    """``close`` has run or is no longer needed; the last one gives the signals back."""
    _closers[:] = [entry for entry in _closers if entry[0] != close]
    if _closers:
        return
    for number, previous in list(_caught.items()):
        with contextlib.suppress(Exception):  # not the main thread: leave it caught
            if signal.getsignal(number) is _fatal_signal:
                signal.signal(number, previous)
            del _caught[number]


def _fatal_signal(number: int, frame: Any) -> None:
    """
    Close every output, then die of the signal. Each closes on a thread of its own, all
    waited for within the longest time any of them gave: the handler may have interrupted this
    thread inside one of them, holding its lock, and that one must not keep the others from
    closing. A second signal while they close (``timeout`` sends one more) changes nothing:
    the first ends the process.
    """
    if _closing:
        return
    _closing.append(number)
    closers = list(_closers)
    deadline = _monotonic() + max((seconds for _close, seconds in closers), default=0.0) + GRACE
    pending = [_close_apart(close) for close, _seconds in closers]
    for done in pending:
        if done is not None:
            with contextlib.suppress(BaseException):
                done.acquire(timeout=max(deadline - _monotonic(), 0.0))
    with contextlib.suppress(BaseException):
        from .output import flush_all  # the lines said up to now, buffered: out first

        flush_all()
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


def _close_apart(close: Callable[[], None]) -> Any:
    """
    Start ``close`` on a thread of its own: the lock it releases when done, or None when it
    ran here, as no thread can start at interpreter shutdown (3.12: the main thread waiting
    for the program's threads to end).
    """
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            with contextlib.suppress(BaseException):
                close()
        finally:
            done.release()

    try:
        _thread.start_new_thread(run, ())
    except RuntimeError:
        with contextlib.suppress(BaseException):
            close()
        return None
    return done
