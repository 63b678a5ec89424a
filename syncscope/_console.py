"""
The log-line sink: each event becomes one structlog event, rendered in the article's words
(``lock acquired by Thread-2``), as JSON, or as logfmt, and written as one ``write()``.

structlog is configured here through a private logger, never through ``structlog.configure``:
the traced program may use structlog itself.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any

from ._events import SyncEvent
from ._fork import reset_after_fork
from ._registry import allocate_lock


FORMATS = ("console", "json", "logfmt")

_UTC = datetime.UTC


def describe(event: SyncEvent) -> str:
    """The event in the article's words: ``<what> <happened> by <thread>``."""
    primitive = event.primitive
    label = primitive.label
    thread = event.thread_name
    op, outcome = event.op, event.outcome
    waited = _waited(event)
    if primitive.kind == "queue":
        return _describe_queue(event, label, thread, waited)
    if outcome == "waiting":
        arrived = f" ({event.count} arrived)" if primitive.kind == "barrier" else ""
        return f"{label} {op if op == 'wait_for' else 'wait'} by {thread}{arrived}"
    if outcome == "error":
        return f"{label} {op} failed by {thread}: {_error(event)}"
    if op == "acquire":
        if outcome == "acquired":
            depth = f" (depth {event.count})" if event.count and event.count > 1 else ""
            return f"{label} acquired by {thread}{depth}{waited}"
        if outcome == "busy":
            return f"{label} busy, acquire failed by {thread}"
        return f"{label} acquire timed out by {thread}{waited}"
    if op == "release":
        if primitive.kind == "rlock" and event.count:
            return f"{label} released by {thread} (depth {event.count})"
        if primitive.kind == "semaphore" and event.count and event.count > 1:
            return f"{label} released {event.count} by {thread}"
        return f"{label} released by {thread}"
    if op in ("wait", "wait_for"):
        if outcome == "woken":
            return f"{label} woken by {thread}{waited}"
        if outcome == "set":
            return f"{label} wait by {thread} (already set)"
        if outcome == "passed":
            return f"{label} passed by {thread}{waited}"
        if outcome == "broken":
            return f"{label} broken for {thread}{waited}"
        return f"{label} {op} timed out by {thread}{waited}"
    if op == "notify":
        woken = "" if event.count == 1 else f" ({_waiters(event.count)})"
        return f"{label} notified by {thread}{woken}"
    if op == "notify_all":
        return f"{label} notified all by {thread} ({_waiters(event.count)})"
    return f"{label} {outcome} by {thread}"


def _describe_queue(event: SyncEvent, label: str, thread: str, waited: str) -> str:
    op, outcome = event.op, event.outcome
    item = event.item if event.item is not None else "item"
    if op == "put":
        if outcome == "put":
            return f"{item} put to {label} by {thread}{waited}"
        if outcome == "waiting":
            return f"{label} full, put of {item} waits by {thread}"
        if outcome == "full":
            return f"{item} not put to {label} by {thread}: queue full"
        if outcome == "timeout":
            return f"{item} not put to {label} by {thread}: timed out{waited}"
        return f"{item} not put to {label} by {thread}: {_error(event)}"
    if op == "get":
        if outcome == "got":
            return f"{item} got from {label} by {thread}{waited}"
        if outcome == "waiting":
            return f"{label} empty, get waits by {thread}"
        if outcome == "empty":
            return f"nothing got from {label} by {thread}: queue empty"
        if outcome == "timeout":
            return f"nothing got from {label} by {thread}: timed out{waited}"
        return f"nothing got from {label} by {thread}: {_error(event)}"
    if op == "task_done":
        if outcome == "error":
            return f"task done on {label} failed by {thread}: {_error(event)}"
        return f"task done on {label} by {thread} ({event.count} unfinished)"
    if op == "join":
        if outcome == "waiting":
            return f"{label} join waits by {thread} ({event.count} unfinished)"
        if outcome == "joined":
            return f"{label} joined by {thread}{waited}"
        return f"{label} join failed by {thread}: {_error(event)}"
    if op == "shutdown":
        return f"{label} shut down by {thread}{' (immediate)' if event.count else ''}"
    return f"{label} {op} {outcome} by {thread}"


def _waited(event: SyncEvent) -> str:
    if not event.waited_ns or event.outcome == "waiting":
        return ""
    return f" after {format_duration(event.waited_ns)}"


def format_duration(ns: int) -> str:
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} \u00b5s"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def _waiters(count: int | None) -> str:
    if not count:
        return "nobody waiting"
    return "1 waiter" if count == 1 else f"{count} waiters"


def _error(event: SyncEvent) -> str:
    error = event.error
    if error is None:
        return event.outcome
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def event_fields(event: SyncEvent) -> dict[str, Any]:
    """The structured fields of an event, as the json and logfmt outputs show them."""
    primitive = event.primitive
    fields: dict[str, Any] = {
        "timestamp": datetime.datetime.fromtimestamp(event.time_ns / 1e9, _UTC).isoformat(),
        "kind": primitive.kind,
        "type": primitive.type_name,
        "name": primitive.name,
        "primitive_id": primitive.id,
        "created_at": primitive.created_at,
        "op": event.op,
        "outcome": event.outcome,
        "thread": event.thread_name,
        "thread_id": event.thread_id,
        "file": event.file,
        "line": event.line,
        "function": event.function,
    }
    if event.waited_ns is not None:
        fields["waited_ms"] = round(event.waited_ns / 1e6, 3)
    if event.count is not None:
        fields["count"] = event.count
    if event.item is not None:
        fields["item"] = event.item
    if event.qsize is not None:
        fields["qsize"] = event.qsize
    if event.error is not None:
        fields["error"] = _error(event)
    if event.trace_id is not None:
        fields["trace_id"] = f"{event.trace_id:032x}"
        fields["span_id"] = f"{event.span_id:016x}"
    return fields


class _FdWriter:
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
        data = (line + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if self.broken:
                return
            try:
                while data:
                    written = os.write(self._fd, data)
                    data = data[written:]
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


class ConsoleSink:
    """Writes one line per event; ``fmt`` is ``console``, ``json`` or ``logfmt``."""

    def __init__(self, fmt: str = "console", output: str | None = None) -> None:
        import structlog

        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        if output is None:
            self._writer = _FdWriter(2, owns_fd=False)
        else:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._writer = _FdWriter(fd, owns_fd=True)
        self.fd = self._writer._fd
        renderer: Any
        if fmt == "console":
            renderer = _render_message
        elif fmt == "json":
            renderer = structlog.processors.JSONRenderer(sort_keys=False)
        else:
            renderer = structlog.processors.LogfmtRenderer(
                key_order=["timestamp", "event"], drop_missing=True
            )
        self._fmt = fmt
        self._logger = structlog.wrap_logger(
            self._writer, processors=[renderer], context_class=dict
        ).bind()

    def handle(self, event: SyncEvent) -> None:
        if self._fmt == "console":
            self._logger.msg(describe(event))
        else:
            self._logger.msg(describe(event), **event_fields(event))

    def note(self, message: str, **fields: Any) -> None:
        """Write a line that is not an operation (a slow spot...), among the others."""
        if self._fmt == "console":
            self._logger.msg(message)
        else:
            self._logger.msg(message, **fields)

    def close(self) -> None:
        self._writer.close()


def _render_message(_logger: Any, _method: str, event_dict: dict[str, Any]) -> str:
    return str(event_dict["event"])
