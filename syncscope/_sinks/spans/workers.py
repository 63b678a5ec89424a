"""
What syncscope's own span threads share: they stay out of the program's sight
(``threading.enumerate()``, its loggers) and out of its way (the GIL).
"""

from __future__ import annotations

import _thread
import contextlib
import sys
import threading
import time
from collections.abc import Callable

from ..._core import ourthreads
from ..._core.fork import reset_after_fork
from ..._core.registry import allocate_lock


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_active_threads: dict[int, Any] = threading._active  # type: ignore[attr-defined]
_sleep = time.sleep
#: How often a worker looks for work when the program is quiet, in seconds.
INTERVAL = 0.25


class SpareThread:
    """
    A raw thread started now, to run a function given later: from 3.12 on no thread can start
    once the interpreter shuts down, and the span worker may only get to starting the sending
    thread after a short program has ended. Until it is given its function, it steps aside
    for a single-threaded program's fork and comes back in the parent's after-fork hook, or
    (3.13) when it is given its function (see ``_core/ourthreads``).
    """

    def __init__(self) -> None:
        self._go = allocate_lock()
        self._go.acquire()
        self._target: Callable[[], None] | None = None
        #: Given its function, or not needed after all: it no longer steps aside.
        self._taken = False
        self._aside = False
        #: Serializes handing the function over, stepping aside and coming back.
        self._turn = allocate_lock()
        self._thread = ourthreads.start(self._run)
        ourthreads.steps_aside_for_forks(self, ourthreads.SENDS)
        reset_after_fork(self)

    def _run(self) -> None:
        self._go.acquire()
        target = self._target
        if target is not None:
            target()

    def run(self, target: Callable[[], None]) -> ourthreads.Started:
        """Run ``target`` on the spare thread (on a new one if it stepped aside for a fork)."""
        with self._turn:
            self._taken = True
            if self._aside:  # it did not come back in the parent's hook (3.13): now, then
                return ourthreads.start(target)
            self._target = target
            self._go.release()
            return self._thread

    def cancel(self) -> None:
        """Not needed after all: the thread ends."""
        with self._turn:
            self._taken = True
            with contextlib.suppress(RuntimeError):
                self._go.release()

    def step_aside(self) -> ourthreads.Started | None:
        with self._turn:
            if self._taken or self._aside:
                return None
            self._aside = True
            self._go.release()  # no target: the thread ends
            thread = self._thread
            return thread if thread.done.acquire(timeout=1.0) else None

    def come_back(self) -> None:
        with self._turn:
            if not self._aside or self._taken:
                return
            ended = self._thread
            if not ended.finished:  # late for the fork: it is ending (and takes ``_go``)
                ended.done.acquire(timeout=1.0)
            if ended.finished:  # else still aside: run() starts a thread of its own
                self._thread = ourthreads.start(self._run)
                self._aside = False

    def _after_fork_in_child(self) -> None:
        self._taken = True  # no thread here: nothing to step aside, the child sends nothing
        self._turn = allocate_lock()


def give_way() -> None:
    """
    Let the program's threads have the GIL. A thread that wakes up (a lock handed over, a
    Condition notified) waits for the GIL, and a busy thread keeps it for the whole switch
    interval, 5 ms: the worker giving it up every slice keeps that wait short.
    """
    _sleep(0)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def forget_dummy_thread() -> None:
    """
    Take back the ``_DummyThread`` that library code (logging, grpc) may have registered for
    this worker by calling ``threading.current_thread()``: the program must not see our threads
    in ``threading.enumerate()``.
    """
    ident = _thread.get_ident()
    thread = _active_threads.get(ident)
    if thread is not None and type(thread).__name__ == "_DummyThread":
        with threading._active_limbo_lock:  # type: ignore[attr-defined]
            _active_threads.pop(ident, None)


_QUIET_PREFIXES = ("opentelemetry", "grpc", "urllib3", "requests")


def quiet_loggers() -> None:
    """
    Silence what OpenTelemetry, grpc and urllib3 log *from syncscope's own threads*.

    A dead collector makes the exporters log a warning per retry and an error per batch, with
    tracebacks at exit: syncscope says it in one line of its own instead. ``isEnabledFor`` is
    shadowed on each logger instance and still answers as before on every other thread, so
    the program's own use of these loggers is unchanged (and no log record is even made on
    ours, which would register a ``_DummyThread`` for it).
    """
    if "logging" not in sys.modules:
        return  # no logger anywhere yet (importing logging would cost the program 10 ms)
    # Imported all the same: the program's thread may be importing it right now (a
    # ``concurrent.futures`` import does), and the import waits until it is complete.
    import logging

    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or not name.startswith(_QUIET_PREFIXES):
            continue
        if "isEnabledFor" in vars(logger):
            continue
        original = logger.isEnabledFor

        def is_enabled_for(level: int, _original: Callable[[int], bool] = original) -> bool:
            if _thread.get_ident() in our_threads:
                return False
            return _original(level)

        logger.isEnabledFor = is_enabled_for  # type: ignore[method-assign]


#: Idents of the worker threads: what they log is ours to silence.
our_threads: set[int] = set()
