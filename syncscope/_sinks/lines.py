"""
The log-line sink: each event becomes one structlog event, rendered in the article's words
(``lock acquired by Thread-2``), as JSON, or as logfmt, and written as one ``write()``.

structlog is configured here through a private logger, never through ``structlog.configure``:
the traced program may use structlog itself. The console format is the sentence alone, written
straight to the writer: structlog is imported only for JSON and logfmt (its import takes tens
of milliseconds, asyncio among it, before the program's first line).
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from .._core.event import SyncEvent
from .._core.output import FdWriter, format_duration


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
        arrived = f" ({event.arrivals} arrived)" if primitive.kind == "barrier" else ""
        return f"{label} {op if op == 'wait_for' else 'wait'} by {thread}{arrived}"
    if outcome == "error":
        return f"{label} {op} failed by {thread}: {event.error_text}"
    if op == "acquire":
        if outcome == "acquired":
            depth = f" (depth {event.depth})" if event.depth and event.depth > 1 else ""
            return f"{label} acquired by {thread}{depth}{waited}"
        if outcome == "busy":
            return f"{label} busy, acquire failed by {thread}"
        return f"{label} acquire timed out by {thread}{waited}"
    if op == "release":
        if primitive.kind == "rlock" and event.depth:
            return f"{label} released by {thread} (depth {event.depth})"
        if primitive.kind == "semaphore" and event.permits and event.permits > 1:
            return f"{label} released {event.permits} by {thread}"
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
        woken = "" if event.waiters == 1 else f" ({_waiters(event.waiters)})"
        return f"{label} notified by {thread}{woken}"
    if op == "notify_all":
        return f"{label} notified all by {thread} ({_waiters(event.waiters)})"
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
        return f"{item} not put to {label} by {thread}: {event.error_text}"
    if op == "get":
        if outcome == "got":
            return f"{item} got from {label} by {thread}{waited}"
        if outcome == "waiting":
            return f"{label} empty, get waits by {thread}"
        if outcome == "empty":
            return f"nothing got from {label} by {thread}: queue empty"
        if outcome == "timeout":
            return f"nothing got from {label} by {thread}: timed out{waited}"
        return f"nothing got from {label} by {thread}: {event.error_text}"
    if op == "task_done":
        if outcome == "error":
            return f"task done on {label} failed by {thread}: {event.error_text}"
        return f"task done on {label} by {thread} ({event.unfinished} unfinished)"
    if op == "join":
        if outcome == "waiting":
            return f"{label} join waits by {thread} ({event.unfinished} unfinished)"
        if outcome == "joined":
            return f"{label} joined by {thread}{waited}"
        return f"{label} join failed by {thread}: {event.error_text}"
    if op == "shutdown":
        return f"{label} shut down by {thread}{' (immediate)' if event.immediate else ''}"
    return f"{label} {op} {outcome} by {thread}"


def _waited(event: SyncEvent) -> str:
    if not event.waited_ns or event.outcome == "waiting":
        return ""
    return f" after {format_duration(event.waited_ns)}"


def _waiters(count: int | None) -> str:
    if not count:
        return "nobody waiting"
    return "1 waiter" if count == 1 else f"{count} waiters"


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
        fields["error"] = event.error_text
    if event.trace_id is not None:
        fields["trace_id"] = f"{event.trace_id:032x}"
        fields["span_id"] = f"{event.span_id:016x}"
    return fields


class ConsoleSink:
    """Writes one line per event; ``fmt`` is ``console``, ``json`` or ``logfmt``."""

    def __init__(self, fmt: str = "console", output: str | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        if output is None:
            self._writer = FdWriter(2, owns_fd=False)
        else:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._writer = FdWriter(fd, owns_fd=True)
        self.fd = self._writer._fd
        self._fmt = fmt
        if fmt == "console":
            self._write = self._writer.msg
            return
        import structlog

        renderer: Any
        if fmt == "json":
            renderer = structlog.processors.JSONRenderer(sort_keys=False)
        else:
            renderer = structlog.processors.LogfmtRenderer(
                key_order=["timestamp", "event"], drop_missing=True
            )
        self._logger = structlog.wrap_logger(
            self._writer, processors=[renderer], context_class=dict
        ).bind()

    def handle(self, event: SyncEvent) -> None:
        if self._fmt == "console":
            self._write(describe(event))
        else:
            self._logger.msg(describe(event), **event_fields(event))

    def note(self, message: str, **fields: Any) -> None:
        """Write a line that is not an operation (a slow spot...), among the others."""
        if self._fmt == "console":
            self._write(message)
        else:
            self._logger.msg(message, **fields)

    def close(self) -> None:
        self._writer.close()
