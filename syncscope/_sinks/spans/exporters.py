"""
The span exporters that need no collector, public as ``syncscope.exporters`` (see there):
Jaeger's trace JSON in a file, and one line per span.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from ..._core.files import check_writable, takes_rewrites, write_whole
from ..._core.output import say
from ..._core.registry import allocate_lock


__all__ = ["ConsoleSpanExporter", "JaegerJsonFileExporter", "jaeger_span", "jaeger_tags"]

_KIND_NAMES = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}


def _trace_id_hex(trace_id: int) -> str:
    # As Jaeger prints it: 16 digits when the high half is zero, else 32.
    high, low = trace_id >> 64, trace_id & 0xFFFFFFFFFFFFFFFF
    return f"{high:016x}{low:016x}" if high else f"{low:016x}"


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": value.hex()}
    # Sequences: Jaeger shows them as their JSON text.
    return {
        "key": key,
        "type": "string",
        "value": json.dumps(list(value), separators=(",", ":"), default=str),
    }


def jaeger_tags(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Attributes as Jaeger's typed tags, sorted by key as Jaeger's API returns them."""
    return [_tag(key, value) for key, value in sorted((attributes or {}).items())]


def jaeger_span(span: ReadableSpan, process_id: str = "p1") -> dict[str, Any]:
    """
    One span in Jaeger's trace JSON: what ``/api/traces`` returns for an OTLP span.

    The parent becomes a ``CHILD_OF`` reference and each link a ``FOLLOWS_FROM`` one (Jaeger's
    JSON has no link attributes). Tags are the span's attributes plus those Jaeger adds itself:
    ``span.kind``, ``otel.scope.name``/``otel.scope.version`` and, for a span that failed,
    ``error``, ``otel.status_code`` and ``otel.status_description``.
    """
    context = span.context
    assert context is not None
    trace_id = _trace_id_hex(context.trace_id)
    references = []
    if span.parent is not None and span.parent.is_valid:
        references.append(
            {
                "refType": "CHILD_OF",
                "traceID": _trace_id_hex(span.parent.trace_id),
                "spanID": f"{span.parent.span_id:016x}",
            }
        )
    for link in span.links:
        references.append(
            {
                "refType": "FOLLOWS_FROM",
                "traceID": _trace_id_hex(link.context.trace_id),
                "spanID": f"{link.context.span_id:016x}",
            }
        )
    attributes = dict(span.attributes or {})
    scope = span.instrumentation_scope
    if scope is not None:
        attributes["otel.scope.name"] = scope.name
        if scope.version:
            attributes["otel.scope.version"] = scope.version
    attributes["span.kind"] = _KIND_NAMES.get(span.kind, "internal")
    status = span.status
    if status.status_code is StatusCode.ERROR:
        attributes["error"] = True
        attributes["otel.status_code"] = "ERROR"
        if status.description:
            attributes["otel.status_description"] = status.description
    elif status.status_code is StatusCode.OK:
        attributes["otel.status_code"] = "OK"
    start = span.start_time or 0
    end = span.end_time or start
    return {
        "traceID": trace_id,
        "spanID": f"{context.span_id:016x}",
        "operationName": span.name,
        "references": references,
        "startTime": start // 1000,
        "duration": max(end - start, 0) // 1000,
        "tags": jaeger_tags(attributes),
        "logs": [],
        "processID": process_id,
        "warnings": None,
        "flags": 1,
    }


class JaegerJsonFileExporter(SpanExporter):
    """
    Collects spans and writes them as Jaeger's trace JSON, the format its UI uploads.

    The file holds ``{"data": [trace, ...]}``, one entry per trace id, each with its spans and
    its ``processes`` (the service name and resource attributes). Spans are kept in memory
    until the file is written, as compact JSON text; past ``max_spans`` they are counted in
    :attr:`dropped` instead.

    Args:
        path: the file to write: a regular file is replaced atomically; a FIFO, a device or
            ``/dev/stdout`` is written into, at shutdown only.
        max_spans: how many spans to keep at most.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: str | os.PathLike[str], *, max_spans: int = 200_000) -> None:
        self.path = os.fspath(path)
        self.max_spans = max_spans
        self.dropped = 0
        self._count = 0
        self._lock = allocate_lock()
        #: trace id -> process key -> list of span JSON texts
        self._traces: dict[str, dict[tuple[str, str], list[str]]] = {}
        self._processes: dict[tuple[str, str], dict[str, Any]] = {}
        self._written = False
        # Fail now, not at exit, when the file cannot be written.
        check_writable(self.path)

    def _process_key(self, span: ReadableSpan) -> tuple[str, str]:
        attributes = dict(span.resource.attributes)
        service = str(attributes.pop("service.name", "unknown_service"))
        tags = jaeger_tags(attributes)
        key = (service, json.dumps(tags, sort_keys=True))
        if key not in self._processes:
            self._processes[key] = {"serviceName": service, "tags": tags}
        return key

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                if self._count >= self.max_spans:
                    self.dropped += 1
                    continue
                self._count += 1
                key = self._process_key(span)
                data = jaeger_span(span)
                text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
                self._traces.setdefault(data["traceID"], {}).setdefault(key, []).append(text)
        return SpanExportResult.SUCCESS

    def _document(self) -> str:
        parts = []
        for trace_id, by_process in self._traces.items():
            ids = {key: f"p{number}" for number, key in enumerate(by_process, 1)}
            spans = []
            for key, texts in by_process.items():
                pid = ids[key]
                # Each span was written with processID "p1": name its real process.
                mine = f'"processID":"{pid}"'
                spans += [text.replace('"processID":"p1"', mine, 1) for text in texts]
            processes = {ids[key]: self._processes[key] for key in by_process}
            head = json.dumps(trace_id)
            body = ",".join(spans)
            tail = json.dumps(processes, ensure_ascii=False)
            parts.append(
                f'{{"traceID":{head},"spans":[{body}],"processes":{tail},"warnings":null}}'
            )
        return '{"data":[' + ",\n".join(parts) + "]}\n"

    def write(self) -> None:
        """Write the file now, with every span collected so far."""
        with self._lock:
            document = self._document()
        write_whole(self.path, document)
        self._written = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if takes_rewrites(self.path):  # a pipe's reader takes one file: the last, at shutdown
            self.write()
        return True

    def shutdown(self) -> None:
        try:
            self.write()
        except OSError as exc:  # said: whoever shuts the SDK down may swallow it
            say(f"cannot write the Jaeger file {self.path!r}: {exc.strerror or exc}")
            raise


class ConsoleSpanExporter(SpanExporter):
    """
    One line per span on standard error (or ``output``), as each batch is exported::

        span Lock.acquire lock 1.204 ms [acquired] thread=Thread-1 at lock.py:12 trace=... span=...

    Each line is one ``os.write`` when writing to a file descriptor, so lines from this
    exporter never interleave with others mid-line.

    .. versionadded:: 0.1.0
    """

    def __init__(self, output: IO[str] | int = 2) -> None:
        self._output = output

    @staticmethod
    def format(span: ReadableSpan) -> str:
        """The line for one span."""
        context = span.context
        assert context is not None
        attributes = span.attributes or {}
        duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        parts = [f"span {span.name} {duration:.3f} ms"]
        outcome = attributes.get("syncscope.outcome")
        if outcome is not None:
            parts.append(f"[{outcome}]")
        thread = attributes.get("thread.name")
        if thread is not None:
            parts.append(f"thread={thread}")
        path = attributes.get("code.file.path")
        if path is not None:
            parts.append(f"at {os.path.basename(str(path))}:{attributes.get('code.line.number')}")
        parts.append(f"trace={context.trace_id:032x} span={context.span_id:016x}")
        if span.parent is not None:
            parts.append(f"parent={span.parent.span_id:016x}")
        for link in span.links:
            why = (link.attributes or {}).get("syncscope.link", "link")
            parts.append(f"{why}={link.context.span_id:016x}")
        return " ".join(parts)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(self.format(span) + "\n" for span in spans)
        output = self._output
        try:
            if isinstance(output, int):
                data = text.encode("utf-8", "backslashreplace")
                while data:
                    data = data[os.write(output, data) :]
            else:
                output.write(text)
                output.flush()
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            if not isinstance(self._output, int):
                self._output.flush()
