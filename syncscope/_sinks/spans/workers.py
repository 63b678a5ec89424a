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
    thread after a short program has ended.
    """

    def __init__(self) -> None:
        from ..._core.registry import allocate_lock

        self._go = allocate_lock()
        self._go.acquire()
        self._target: Callable[[], None] | None = None
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        self._go.acquire()
        target = self._target
        if target is not None:
            target()

    def start(self, target: Callable[[], None]) -> None:
        self._target = target
        self._go.release()

    def cancel(self) -> None:
        """Not needed after all: the thread ends."""
        with contextlib.suppress(RuntimeError):
            self._go.release()


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
