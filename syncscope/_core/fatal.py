"""
Fatal signals: SIGTERM and SIGHUP end a process without running ``atexit``, so what an
output writes at exit (the spans still in flight, the timeline's file) would be lost just when
someone stops a program that hangs (``timeout``, ``kill``, a CI job's time limit).

While an output asks (:func:`close_on_fatal_signal`), each of these signals that the program
leaves at its default action is caught, on the main thread: every output that asked closes,
each within the seconds it gave, then the process dies of the signal as it would have (the
same exit status, no ``atexit``). One handler for all of them: an output that hooked the signal
for itself alone would leave the next one to find it taken.

A program that sets its own handler later replaces this one, as it would the default. The
program sees the signal at its default meanwhile (see ``signals``).
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

from . import signals


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
_getsignal = signals.getsignal_original
_setsignal = signals.signal_original

#: The outputs to close, in the order they asked: (close, the seconds it may take, what it
#: imports to close or None).
_closers: list[tuple[Callable[[], None], float, Callable[[], None] | None]] = []
#: Signal -> what it was before it was caught here (the default action).
_caught: dict[int, Any] = {}
#: The signal being handled, once one is: the outputs are closing.
_closing: list[int] = []


def close_on_fatal_signal(
    close: Callable[[], None], seconds: float, imports: Callable[[], None] | None = None
) -> None:
    """
    Call ``close`` (waited for ``seconds`` at most) before a fatal signal ends the process.
    ``imports``: imports the modules ``close`` needs, called first on the signalled thread. It
    may hold the import lock (the signal came in an import, or in a finder): a closing
    thread that imported a module not yet loaded would wait for it for ever.
    """
    _closers.append((close, max(seconds, 0.0), imports))
    if not _caught and threading.current_thread() is threading.main_thread():
        for number in FATAL_SIGNALS:
            with contextlib.suppress(Exception):
                if _getsignal(number) == signals.SIG_DFL:
                    _setsignal(number, _fatal_signal)
                    _caught[number] = signals.SIG_DFL
                    signals.stand_in(number, _fatal_signal, signal.SIG_DFL)  # as python says it


def forget(close: Callable[[], None]) -> None:
    """``close`` has run or is no longer needed; the last one gives the signals back."""
    _closers[:] = [entry for entry in _closers if entry[0] != close]
    if _closers:
        return
    for number, previous in list(_caught.items()):
        with contextlib.suppress(Exception):  # not the main thread: leave it caught
            if _getsignal(number) is _fatal_signal:
                _setsignal(number, previous)
            del _caught[number]
            signals.stand_down(number)


def _fatal_signal(number: int, frame: Any) -> None:
    """
    Close every output, then die of the signal. Each closes on a thread of its own, waited
    for within its own time: the handler may have interrupted this thread inside one of them,
    holding its lock, and that one must not keep the others from closing. A second signal
    while they close (``timeout`` sends one more) changes nothing: the first ends the process.
    """
    if _closing:
        return
    _closing.append(number)
    closers = list(_closers)
    for _close, _seconds, imports in closers:
        if imports is not None:
            with contextlib.suppress(BaseException):
                imports()
    now = _monotonic()
    pending = [(_close_apart(close), now + seconds + GRACE) for close, seconds, _ in closers]
    for done, deadline in pending:
        if done is not None:
            with contextlib.suppress(BaseException):
                done.acquire(timeout=max(deadline - _monotonic(), 0.0))
    with contextlib.suppress(BaseException):
        from .output import flush_all  # the lines said up to now, buffered: out first

        flush_all()
    _setsignal(number, signals.SIG_DFL)
    os.kill(os.getpid(), number)


def _close_apart(close: Callable[[], None]) -> Any:
    """
    Start ``close`` on a thread of its own: the lock it releases when done, or None when no
    thread could start.
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
        # At interpreter shutdown (3.12: the main thread waits in threading's own code for
        # the program's threads, holding nothing of ours), close here. Otherwise (no thread
        # left to start) this thread may hold the output's lock: closing here could wait for
        # ever, and the process would not die of the signal.
        if getattr(threading, "_SHUTTING_DOWN", False):
            with contextlib.suppress(BaseException):
                close()
        return None
    return done


if hasattr(os, "register_at_fork"):  # a child forked while the parent closed is not closing
    os.register_at_fork(after_in_child=_closing.clear)
