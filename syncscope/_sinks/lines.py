"""
The log-line sink: each event becomes one line, in the article's words (``lock acquired by
Thread-2``), as JSON, or as logfmt, written with one ``write()``.

The lines are structlog's: JSON as its ``JSONRenderer`` writes it (the fields, then
``event``), logfmt as its ``LogfmtRenderer(key_order=["timestamp", "event"],
drop_missing=True)`` does. An operation's line is built here without structlog's processor
chain, which adds nothing to these renderers but its cost on the program's thread: the parts
that stay the same from one operation to the next (primitive, operation, thread, call site)
are rendered once and kept, and the line is written with one ``os.write``. Notes (a slow spot,
a finding) go through structlog, configured through a private logger, never through
``structlog.configure``: the traced program may use structlog itself. structlog is imported at
the first note, not before the program's first line (its import takes tens of milliseconds,
asyncio among it).
"""

from __future__ import annotations

import datetime
import os


# json.encoder's own encoder, without importing json (whose decoder imports re).
try:
    from _json import encode_basestring_ascii
except ImportError:  # an interpreter without the C accelerator: json's fallback
    from json.encoder import encode_basestring_ascii


from .._core.event import SyncEvent
from .._core.output import FdWriter
from .words import CACHE_LIMIT, describe


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .leanlines import LeanLines


FORMATS = ("console", "json", "logfmt")

_UTC = datetime.UTC
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


def event_fields(event: SyncEvent) -> dict[str, Any]:
    """The structured fields of an event, as the json and logfmt outputs show them."""
    primitive = event.primitive
    fields: dict[str, Any] = {
        "timestamp": iso_time(event.time_ns),
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


def _json_value(value: object) -> str:
    """One field's value as ``json.dumps`` writes it (the fields are str, int and float)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    return repr(value)


def iso_time(ns: int) -> str:
    """
    ``ns`` since the epoch as ``datetime.now(UTC).isoformat()`` writes a time: to the
    microsecond, rounded down (exactly: no float in between).
    """
    return (_EPOCH + datetime.timedelta(microseconds=ns // 1000)).isoformat()


class _Timestamps:
    """
    A time in nanoseconds as ``datetime.now(UTC).isoformat()`` writes it (to the microsecond,
    rounded down, as the clock is read there), with the part up to the second rendered once a
    second.
    """

    __slots__ = ("last", "start")

    def __init__(self, start: bytes) -> None:
        #: What a line begins with, before its timestamp (see :meth:`line`).
        self.start = start
        #: The last second rendered (its first nanosecond), its text with the dot after it,
        #: and that text after the line's start, encoded, as one tuple: threads share it, and
        #: another thread may replace it between any two of this one's steps. At first a
        #: second so far off that no time a clock gives falls into it.
        self.last: tuple[int, str, bytes] = (-(1 << 80), "", b"")

    def text(self, ns: int) -> str:
        second = ns // 1_000_000_000
        micro = (ns - second * 1_000_000_000) // 1000
        last = self.last
        if last[0] != second * 1_000_000_000:
            last = self._second(second)
        if micro:
            return f"{last[1]}{micro:06d}+00:00"
        return last[1][:-1] + "+00:00"  # datetime leaves out a fraction of none

    def line(self, ns: int, tail: bytes) -> bytes:
        """A line at ``ns``: the start, the timestamp, then ``tail``, in one go."""
        last = self.last
        # Into the second last rendered, counted from its start: a time since the epoch is
        # a two-digit int, whose division and remainder cost more than the rest of the line.
        into = ns - last[0]
        if 1000 <= into < 1_000_000_000:  # not its first microsecond, which has no fraction
            return b"%s%06d+00:00%s" % (last[2], into // 1000, tail)
        return self.start + self.text(ns).encode() + tail

    def _second(self, second: int) -> tuple[int, str, bytes]:
        text = iso_time(second * 1_000_000_000)[:-6] + "."
        self.last = last = (second * 1_000_000_000, text, self.start + text.encode())
        return last


def _logfmt_value(value: object) -> str:
    """One value as structlog's ``LogfmtRenderer`` writes it."""
    text = str(value)
    quote = " " in text or "=" in text or '"' in text
    if quote and "\\" in text:
        text = text.replace("\\", "\\\\")
    text = text.replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"' if quote else text


class ConsoleSink:
    """Writes one line per event; ``fmt`` is ``console``, ``json`` or ``logfmt``."""

    def __init__(
        self, fmt: str = "console", output: str | None = None, buffered: bool = False
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        # A line written at once keeps the GIL when it can (see _core/gil_write).
        if output is None:
            self._writer = FdWriter(2, owns_fd=False, keep_gil=True)
        else:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            # Buffered, when asked (the runner), unless the program writes to it too.
            self._writer = FdWriter(fd, owns_fd=True, buffered=buffered, keep_gil=True)
        self.fd = self._writer._fd
        self._fmt = fmt
        self._json = fmt == "json"
        #: What a JSON or logfmt line begins with, before its timestamp (see :meth:`tail`).
        self.stamp = b'{"timestamp": "' if self._json else b"timestamp="
        self._logger: Any = None  # structlog's, for notes: made at the first one
        self._timestamps = _Timestamps(self.stamp)
        self._timestamp = self._timestamps.text
        #: (primitive, its name, op, outcome, thread id, thread name, file, line, function)
        #: -> the fields from ``kind`` to ``function``, rendered.
        self._fixed: dict[tuple[object, ...], str] = {}
        #: The same key and the depth -> a JSON line after its timestamp, encoded: the line
        #: of an event with no field after ``function`` but the depth, which the key decides.
        self._json_tails: dict[tuple[object, ...], bytes] = {}
        #: (primitive, its name, thread name, op, outcome, depth, permits) -> the console
        #: line, encoded, of an acquire or release that neither waited nor failed.
        self._console_lines: dict[tuple[object, ...], bytes] = {}
        self._lean_lines: LeanLines | None = None
        if fmt == "console":
            self.handle = self._console_line  # type: ignore[method-assign]
        elif fmt == "json":
            self.handle = self._json_line_out  # type: ignore[method-assign]

    def handle(self, event: SyncEvent) -> None:
        self._writer.msg(self._logfmt_line(event))

    def _console_line(self, event: SyncEvent) -> None:
        op = event.op
        # An acquire's or a release's sentence is decided by these, unless it waited or failed
        # (no other field of the event applies to them).
        if op in {"acquire", "release"} and event.waited_ns is None and event.error is None:
            primitive = event.primitive
            key = (
                primitive,
                primitive.name,
                event.thread_name,
                op,
                event.outcome,
                event.depth,
                event.permits,
            )
            lines = self._console_lines
            data = lines.get(key)
            if data is None:
                data = (describe(event) + "\n").encode("utf-8", "backslashreplace")
                if len(lines) >= CACHE_LIMIT:
                    lines.clear()
                lines[key] = data
            self._writer.write(data)
        else:
            self._writer.msg(describe(event))

    def _json_line_out(self, event: SyncEvent) -> None:
        # Most lines have none of the fields after ``function`` but an RLock's depth (as
        # ``count``): their sentence is decided by the fixed fields and the depth, and the
        # whole line after its timestamp is kept (``count`` is there when one of its five
        # sources is, or for a shutdown).
        if (
            event.waited_ns is None
            and event.permits is None
            and event.waiters is None
            and event.arrivals is None
            and event.unfinished is None
            and event.op != "shutdown"
            and event.item is None
            and event.qsize is None
            and event.error is None
            and event.trace_id is None
        ):
            primitive = event.primitive
            key = (
                primitive,
                primitive.name,
                event.op,
                event.outcome,
                event.thread_id,
                event.thread_name,
                event.file,
                event.line,
                event.function,
                event.depth,
            )
            tails = self._json_tails
            tail = tails.get(key)
            if tail is None:
                tail = self.tail(event)
                if len(tails) >= CACHE_LIMIT:
                    tails.clear()
                tails[key] = tail
            self._writer.write(self._timestamps.line(event.time_ns, tail))
        else:
            self._writer.msg(self._json_line(event))

    def tail(self, event: SyncEvent) -> bytes:
        """
        The JSON or logfmt line of ``event`` after its timestamp (after :attr:`stamp`),
        encoded: what a line kept for the same fields is made of.
        """
        if self._json:
            fixed = self._fixed_part(event, True)
            rest = "".join(
                f', "{name}": {_json_value(value)}' for name, value in self._varying(event)
            )
            message = encode_basestring_ascii(describe(event))
            return f'", {fixed}{rest}, "event": {message}}}\n'.encode()
        line = f" event={_logfmt_value(describe(event))} " + self._fixed_part(event, False)
        for key, value in self._varying(event):
            line += f" {key}={_logfmt_value(value)}"
        return (line + "\n").encode("utf-8", "backslashreplace")

    def _fixed_part(self, event: SyncEvent, json: bool) -> str:
        primitive = event.primitive
        key = (
            primitive,
            primitive.name,
            event.op,
            event.outcome,
            event.thread_id,
            event.thread_name,
            event.file,
            event.line,
            event.function,
        )
        fixed = self._fixed.get(key)
        if fixed is None:
            fields = {
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
            if json:
                fixed = ", ".join(f'"{key}": {_json_value(value)}' for key, value in fields.items())
            else:
                fixed = " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
            if len(self._fixed) >= CACHE_LIMIT:
                self._fixed.clear()
            self._fixed[key] = fixed
        return fixed

    def _varying(self, event: SyncEvent) -> list[tuple[str, object]]:
        """The fields after ``function`` that this event has, in their order."""
        varying: list[tuple[str, object]] = []
        if event.waited_ns is not None:
            varying.append(("waited_ms", round(event.waited_ns / 1e6, 3)))
        count = event.count
        if count is not None:
            varying.append(("count", count))
        if event.item is not None:
            varying.append(("item", event.item))
        if event.qsize is not None:
            varying.append(("qsize", event.qsize))
        if event.error is not None:
            varying.append(("error", event.error_text))
        if event.trace_id is not None:
            varying.append(("trace_id", f"{event.trace_id:032x}"))
            varying.append(("span_id", f"{event.span_id:016x}"))
        return varying

    def _json_line(self, event: SyncEvent) -> str:
        """Any event's JSON line: the fields after ``function`` said as :meth:`_varying` does."""
        head = f'{{"timestamp": "{self._timestamp(event.time_ns)}", {self._fixed_part(event, True)}'
        message = encode_basestring_ascii(describe(event))
        # _varying() and _json_value(), written out: a list of pairs and a call per field
        # cost more than the line's other parts together.
        rest = ""
        waited_ns = event.waited_ns
        if waited_ns is not None:
            rest += f', "waited_ms": {round(waited_ns / 1e6, 3)!r}'
        count = event.depth  # SyncEvent.count, written out
        if count is None:
            count = event.permits
            if count is None:
                count = event.waiters
                if count is None:
                    count = event.arrivals
                    if count is None:
                        count = event.unfinished
                        if count is None and event.op == "shutdown":
                            count = int(event.immediate)
        if count is not None:
            rest += f', "count": {count!r}'
        item = event.item
        if item is not None:
            rest += f', "item": {encode_basestring_ascii(item)}'
        qsize = event.qsize
        if qsize is not None:
            rest += f', "qsize": {qsize!r}'
        if event.error is not None:
            rest += f', "error": {encode_basestring_ascii(event.error_text)}'
        if event.trace_id is not None:
            rest += f', "trace_id": "{event.trace_id:032x}", "span_id": "{event.span_id:016x}"'
        return f'{head}{rest}, "event": {message}}}'

    def _logfmt_line(self, event: SyncEvent) -> str:
        line = (
            f"timestamp={self._timestamp(event.time_ns)} event={_logfmt_value(describe(event))} "
            + self._fixed_part(event, False)
        )
        for key, value in self._varying(event):
            line += f" {key}={_logfmt_value(value)}"
        return line

    def lean_lines(self) -> LeanLines | None:
        """
        What the primitives write their lines with when they count in place (the lean paths
        of ``-q``'s statistics and checks, taken with the lines too).
        """
        if self._lean_lines is None:
            from .leanlines import LeanLines  # here: lines.py is its own module's base

            self._lean_lines = LeanLines(self)
        return self._lean_lines

    def note(self, message: str, **fields: Any) -> None:
        """Write a line that is not an operation (a slow spot...), among the others."""
        if self._fmt == "console":
            self._writer.msg(message)
            return
        logger = self._logger
        if logger is None:
            logger = self._logger = _structlog_logger(self._fmt, self._writer)
        logger.msg(message, **fields)

    def close(self) -> None:
        self._writer.close()


def _structlog_logger(fmt: str, writer: FdWriter) -> Any:
    import structlog

    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.processors.LogfmtRenderer(
            key_order=["timestamp", "event"], drop_missing=True
        )
    return structlog.wrap_logger(writer, processors=[renderer], context_class=dict).bind()
