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
import math
import os
import threading


# json.encoder's own encoder, without importing json (whose decoder imports re).
try:
    from _json import encode_basestring_ascii
except ImportError:  # an interpreter without the C accelerator: json's fallback
    from json.encoder import encode_basestring_ascii

from _thread import get_ident

from .._core.dispatch import guard, sink_failed
from .._core.event import SyncEvent, time_ns
from .._core.output import FdWriter, format_duration
from .._core.sites import NO_SITE, call_site


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.event import Op, Outcome


FORMATS = ("console", "json", "logfmt")

_UTC = datetime.UTC


def describe(event: SyncEvent) -> str:
    """The event in the article's words: ``<what> <happened> by <thread>``."""
    primitive = event.primitive
    label = primitive.label
    thread = event.thread_name
    op, outcome = event.op, event.outcome
    waited_ns = event.waited_ns
    waited = f" after {format_duration(waited_ns)}" if waited_ns and outcome != "waiting" else ""
    if op == "acquire" and outcome == "acquired":  # the commonest two first
        depth = event.depth
        if depth and depth > 1:
            return f"{label} acquired by {thread} (depth {depth}){waited}"
        return f"{label} acquired by {thread}{waited}"
    if op == "release" and outcome == "released":
        if event.depth and primitive.kind == "rlock":
            return f"{label} released by {thread} (depth {event.depth})"
        if event.permits and event.permits > 1 and primitive.kind == "semaphore":
            return f"{label} released {event.permits} by {thread}"
        return f"{label} released by {thread}"
    if primitive.kind == "queue":
        return _describe_queue(event, label, thread, waited)
    if outcome == "waiting":
        arrived = f" ({event.arrivals} arrived)" if primitive.kind == "barrier" else ""
        return f"{label} {op if op == 'wait_for' else 'wait'} by {thread}{arrived}"
    if outcome == "error":
        return f"{label} {op} failed by {thread}: {event.error_text}"
    if op == "acquire":
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


#: Kept renderings: past this many, the cache starts afresh (a program with ever new threads).
_CACHE_LIMIT = 4096
#: Where a queue's item goes in its kept console words (see LeanLines.item).
_ITEM = "\x00item\x00"
#: The program's threads by ident (threading's own).
_threads = threading._active  # type: ignore[attr-defined]


def _json_value(value: object) -> str:
    """One field's value as ``json.dumps`` writes it (the fields are str, int and float)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    return repr(value)


class _Timestamps:
    """
    ``datetime.fromtimestamp(ns / 1e9, UTC).isoformat()``, exactly, with the part up to the
    second rendered once a second.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        #: The last second rendered and its text with the dot after it, as one tuple: threads
        #: share it, and another thread may replace it between any two of this one's steps.
        self.last = (-1.0, "")

    def text(self, ns: int) -> str:
        # datetime's own rounding: the float's fraction of a second, to the microsecond, half
        # to even. For a time after 1970 the float's floor is modf's whole part, and the
        # fraction the same exact difference: the usual case, within a second already
        # rendered and not on a whole microsecond, as cheaply as Python allows.
        seconds = ns / 1e9
        second = seconds // 1.0
        micro = round((seconds - second) * 1e6)
        last = self.last
        if last[0] == second and 0 < micro < 1_000_000:
            return last[1] + str(1_000_000 + micro)[1:] + "+00:00"
        return self._text(ns)

    def _text(self, ns: int) -> str:
        """:meth:`text` for any time: the micro carried into the second when it rounds up."""
        fraction, second = math.modf(ns / 1e9)
        micro = round(fraction * 1e6)
        if micro >= 1_000_000:
            micro -= 1_000_000
            second += 1.0
        elif micro < 0:
            micro += 1_000_000
            second -= 1.0
        last = self.last
        if last[0] == second:
            text = last[1]
        else:
            text = datetime.datetime.fromtimestamp(second, _UTC).isoformat()[:-6] + "."
            if second >= 0:  # before 1970 the floor is not modf's whole part: never kept
                self.last = (second, text)
        if micro:
            return f"{text}{micro:06d}+00:00"
        return text[:-1] + "+00:00"


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
        self._timestamp = _Timestamps().text
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
                if len(lines) >= _CACHE_LIMIT:
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
                if len(tails) >= _CACHE_LIMIT:
                    tails.clear()
                tails[key] = tail
            self._writer.write(b'{"timestamp": "' + self._timestamp(event.time_ns).encode() + tail)
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
            if len(self._fixed) >= _CACHE_LIMIT:
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


class LeanLines:
    """
    The lines of the operations that the lean paths count in place (the statistics and
    checks counted there, see ``_core/state.set_sinks``), written by the primitives
    straight away. A console line that the operation's primitive, name, thread name and
    figures decide (an acquire or release that did not wait, a notify, a set) is kept,
    encoded (renaming the primitive or the thread makes a new one), and written with one
    write: no event is made, no call site looked up, nothing dispatched; a JSON or logfmt
    one is kept by call site too, after its timestamp. Everything else is an event for this
    sink alone (:meth:`said`): one made without its site (``NO_SITE``) has it looked up here
    when the lines name it.
    """

    __slots__ = (
        "_book",
        "_console",
        "_items",
        "_lines",
        "_stamp",
        "_tails",
        "_timestamp",
        "_write",
        "console",
        "fields",
    )

    def __init__(self, console: ConsoleSink) -> None:
        self._console = console
        self._write = console._writer.write
        #: A JSON or logfmt line's start, and how its timestamp is written.
        self._stamp = console.stamp
        self._timestamp = console._timestamp
        #: (primitive, its name, thread name, op, outcome, depth, permits, waiters) -> line.
        self._lines: dict[tuple[object, ...], bytes] = {}
        #: The same, the waited time and the call site too -> a JSON or logfmt line's tail.
        self._tails: dict[tuple[object, ...], bytes] = {}
        #: (primitive, its name, thread name, op, outcome) -> a queue item's console line, in
        #: two: the words before the item, and after it.
        self._items: dict[tuple[object, ...], tuple[str, str | None]] = {}
        self._book: Any = None
        #: Console lines: their words only.
        self.console = console._fmt == "console"
        #: JSON or logfmt lines: every field of the event path's (a queue's size too).
        self.fields = not self.console

    def lean_stats(self, lines: bool) -> Any:
        """
        Where the primitives count when the lines are all that listens: a book nobody reads
        (see ``_core/state.set_sinks``), made once.
        """
        if self._book is None:
            from .stats import Stats

            self._book = Stats()
        return self._book

    def line(
        self,
        primitive: Any,
        op: Op,
        outcome: Outcome,
        depth: int | None = None,
        permits: int | None = None,
        waiters: int | None = None,
        waited: int | None = None,
        site: tuple[str, int, str] | None = None,
    ) -> None:
        """
        The line of an operation that did not fail: its words are decided by the arguments,
        and by the time it ``waited`` (0 for a wait that found its Event set, which the JSON
        says; a console line says a time waited after the words it is kept for). The JSON's
        call site is looked up unless the caller knows it (``site``).
        """
        ident = get_ident()
        thread = _threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        if not self.console:  # JSON or logfmt: kept after its timestamp, by call site too
            if waited:  # a time of its own on each line: nothing to keep
                self.said(
                    SyncEvent(primitive, op, outcome, site or NO_SITE, waited, None, depth, permits)
                )
                return
            if site is None:
                site = call_site()
            kept = (
                primitive,
                primitive.name,
                ident,
                name,
                op,
                outcome,
                depth,
                permits,
                waiters,
                waited,
                site,
            )
            try:
                tail = self._tails.get(kept)
                if tail is None:
                    event = SyncEvent(
                        primitive, op, outcome, site, waited, None, depth, permits, waiters
                    )
                    tail = self._console.tail(event)
                    if len(self._tails) >= _CACHE_LIMIT:
                        self._tails.clear()
                    self._tails[kept] = tail
                self._write(self._stamp + self._timestamp(time_ns()).encode() + tail)
            except Exception as exc:  # a line must never break the program it describes
                sink_failed(self._console, exc)
            return
        key = (primitive, primitive.name, name, op, outcome, depth, permits, waiters)
        try:
            data = self._lines.get(key)
            if data is None:
                event = SyncEvent(
                    primitive, op, outcome, NO_SITE, None, None, depth, permits, waiters
                )
                data = (describe(event) + "\n").encode("utf-8", "backslashreplace")
                if len(self._lines) >= _CACHE_LIMIT:
                    self._lines.clear()
                self._lines[key] = data
            if waited and outcome != "waiting":  # describe()'s rule: the time comes last
                data = data[:-1] + f" after {format_duration(waited)}\n".encode()
            self._write(data)
        except Exception as exc:  # a line must never break the program it describes
            sink_failed(self._console, exc)

    def item(
        self,
        primitive: Any,
        op: Op,
        outcome: Outcome,
        text: str | None,
        site: tuple[str, int, str] = NO_SITE,
        waited: int | None = None,
        qsize: int | None = None,
    ) -> None:
        """
        The line of a queue's put or get that did not fail (or of one that waits), of an
        item said as ``text``: a console line is its kept words with the item between them;
        a JSON or logfmt one is an event's (:meth:`said`).
        """
        if not self.console:
            self.said(SyncEvent(primitive, op, outcome, site, waited, item=text, qsize=qsize))
            return
        ident = get_ident()
        thread = _threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        key = (primitive, primitive.name, name, op, outcome)
        try:
            words = self._items.get(key)
            if words is None:
                marked = describe(SyncEvent(primitive, op, outcome, NO_SITE, item=_ITEM))
                head, found, tail = marked.partition(_ITEM)
                words = (head, tail) if found else (marked, None)  # a get's wait: no item
                if len(self._items) >= _CACHE_LIMIT:
                    self._items.clear()
                self._items[key] = words
            before, after = words
            line = before if after is None else f"{before}{'item' if text is None else text}{after}"
            if waited and outcome != "waiting":  # describe()'s rule: the time comes last
                line += f" after {format_duration(waited)}"
            self._write((line + "\n").encode("utf-8", "backslashreplace"))
        except Exception as exc:  # a line must never break the program it describes
            sink_failed(self._console, exc)

    def acquired(self, proxy: Any) -> None:
        """Lock or RLock ``proxy`` was acquired at once (an RLock's depth is read from it)."""
        depth = proxy._syncscope_lock._recursion_count() if proxy._reentrant else None
        self.line(proxy._syncscope_primitive, "acquire", "acquired", depth)

    def said(self, event: SyncEvent) -> None:
        """An operation's event for its line alone: the statistics and checks count it."""
        was_busy = guard.busy
        guard.busy = True
        try:
            if not event.file and not self.console:  # made without its site: looked up
                event.file, event.line, event.function = call_site()
            self._console.handle(event)
        except Exception as exc:
            sink_failed(self._console, exc)
        finally:
            guard.busy = was_busy
