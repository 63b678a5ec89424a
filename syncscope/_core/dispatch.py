"""
The dispatcher: an intercepted operation's event goes to every sink that listens, and nothing
a sink does is recorded or escapes into the program.

When no sink listens the interception never gets here: it checks ``state.active`` first.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterable

from .event import Sink, SyncEvent
from .signals import raise_if_a_handlers
from .state import counters, state


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Guard(threading.local):
    """Per-thread re-entrancy flag: set while an instrumented operation or a sink runs."""

    busy = False
    #: A Queue.put in progress, for the hook in ``_put`` to report (see _queues).
    pending_put: object = None
    #: A Queue.get in progress, for the hook in ``_get`` to report (see _queues).
    pending_get: object = None
    #: An exception to raise once the operation in progress is complete (see _queues).
    deferred: BaseException | None = None


# A raw ``_thread._local`` subclass would do too; ``threading.local`` is the same C type.
guard = _Guard()


def as_program(call: Callable[..., Any], *args: Any) -> Any:
    """
    ``call(*args)``: the program's own code, run inside one of the operations we watch (a
    Barrier's action, a queue subclass's ``_put``), with the guard down as it was found: what
    it does is the program's, reported and seen by the checks.
    """
    was_busy = guard.busy
    guard.busy = False
    try:
        return call(*args)
    finally:
        guard.busy = was_busy


def hidden(call: Callable[..., Any], *args: Any) -> Any:
    """
    ``call(*args)``: an original whose own primitives may be watched too (``--all``), or
    the program's (a queue subclass's ``_qsize``), run inside one of the operations we
    watch, with the guard up: what it does is part of the operation, unseen, as on the event
    path. The other way round from :func:`as_program`.
    """
    was_busy = guard.busy
    guard.busy = True
    try:
        return call(*args)
    finally:
        guard.busy = was_busy


def emit(event: SyncEvent) -> None:
    """Hand ``event`` to every sink. Nothing a sink does is recorded, and no sink error escapes."""
    was_busy = guard.busy
    guard.busy = True
    try:
        for sink in state.sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # a sink must never break the program it watches
                sink_failed(sink, exc)
    # A Ctrl-C landing here goes on up as it came: the operation's wrapper sees it and puts
    # right what it must (a lock taken is released again, a lock released stays released).
    # It cannot be put off until the operation returns: a signal made pending again (with
    # _thread.interrupt_main) is raised as the very call that makes it pending returns.
    finally:
        guard.busy = was_busy


def emit_fresh(event: SyncEvent) -> None:
    """
    :func:`emit`, for a caller that has just seen the guard down on this thread (it checked
    ``guard.busy``): one look at the thread-local guard less, on every reported operation.
    """
    guard.busy = True
    try:
        for sink in state.sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # a sink must never break the program it watches
                sink_failed(sink, exc)
    finally:  # a Ctrl-C goes on up as it came (see emit)
        guard.busy = False


def close_sinks(sinks: Iterable[Sink]) -> None:
    """
    Close each sink in turn; one that fails does not keep the others from flushing.

    The run they watched ended when closing began, not when each one's turn came (a span
    flush may take seconds): every sink with a ``stop_clock`` is told so first.
    """
    sinks = tuple(sinks)
    for sink in sinks:
        stop_clock = getattr(sink, "stop_clock", None)
        if stop_clock is not None:
            try:
                stop_clock()
            except Exception as exc:
                _count_failure(sink, exc)
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # at exit: say it, never raise into the program's shutdown
            _count_failure(sink, exc)


def let_go(sinks: Iterable[Sink]) -> None:
    """
    Closed sinks that nothing reads any more (the runner's at exit, the pytest plugin's at
    the session's end) let go of what they kept, each that can (``let_go``): see
    ``Recorder.let_go``. One that fails does not keep the others from it, and loses
    nothing (the collector frees what it kept): nothing is said.
    """
    for sink in sinks:
        forget = getattr(sink, "let_go", None)
        if forget is not None:
            with contextlib.suppress(Exception):  # never raise into the shutdown
                forget()


def sink_failed(sink: object, exc: Exception) -> None:
    """
    Count and say (the first time) that ``sink`` failed with ``exc``, caught inside an
    operation of the program's; but an exception a signal handler of the program's raised
    meanwhile is the program's: it goes on up (a bare ``raise``, from the caller's ``except``).
    """
    raise_if_a_handlers(exc)
    _count_failure(sink, exc)


def _count_failure(sink: object, exc: Exception) -> None:
    counters.sink_errors += 1
    if counters.first_sink_error is None:
        counters.first_sink_error = f"{type(sink).__name__}: {exc!r}"
        with contextlib.suppress(Exception):  # stderr may be closed: nothing left to tell
            sys.__stderr__.write(  # type: ignore[union-attr]
                f"syncscope: an output failed and its events are lost: {exc!r}\n"
            )
