"""
Building: on the worker, span records become spans, written straight to OTLP's wire format
when syncscope's OTLP exporter is all that takes them (see ``otlp``: a tenth of the SDK's
cost), else ``ReadableSpan`` objects for the program's TracerProvider, the Jaeger file and the
console; with the run and thread spans of each trace part around them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..._core.event import BLOCKING_OPS, Primitive, SyncEvent
from . import send
from .options import SpanOptions
from .otlp import SpanEncoder
from .otlp import attributes as otlp_attributes
from .pairing import HOLD, OP, WAIT_AT_EXIT, HoldSpan, PendingWait, Segment
from .send import BATCH_SIZE, Sender, make_otlp_exporter, program_provider
from .workers import forget_dummy_thread, give_way, quiet_loggers


_time_ns = time.time_ns
#: Spans built between two offers of the GIL to the program's threads.
SLICE = 64
_HOLD_OP = (("syncscope.op", "hold"),)


class Owner(send.Owner, Protocol):
    """What the builder reads of the sink it builds for."""

    #: When the run ended (time_ns), once it has.
    close_ns: int


class _ThreadSpan:
    __slots__ = ("end", "ident", "name", "span_id", "start", "used")

    def __init__(self, ident: int, name: str, span_id: int, start: int, end: int) -> None:
        self.ident = ident
        self.name = name
        self.span_id = span_id
        self.start = start
        self.end = end
        self.used = False


class SegmentSpans:
    __slots__ = ("segment", "threads")

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.threads: dict[int, _ThreadSpan] = {}


class Builder:
    """
    Made on the installing thread, then lives on the worker: imports OpenTelemetry, builds
    spans, feeds the exporters.
    """

    def __init__(self, sink: Owner) -> None:
        self.sink = sink
        options = sink.options
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
        from opentelemetry.trace.span import TraceFlags

        self.ReadableSpan = ReadableSpan
        self.SpanContext = SpanContext
        self.Link = Link
        self.internal = SpanKind.INTERNAL
        self.sampled = TraceFlags(TraceFlags.SAMPLED)
        self.error_status = Status
        self.ERROR = StatusCode.ERROR
        self.own_resource = self.resource = _resource(options)
        self.scope = InstrumentationScope("syncscope", _version())
        self.span_items = options.span_items
        self.min_ns = int(options.min_span_ms * 1_000_000)
        self.parked: dict[int, Any] = {}
        self.segments: dict[int, SegmentSpans] = {}
        #: Traces below this index are complete: their run and thread spans went out.
        self.done_below = 0
        self.local: list[Any] = []  # file and console exporters: called on this thread
        self.out: list[Any] = []
        self.file_exporter: Any = None
        if options.jaeger_file is not None:
            from .exporters import JaegerJsonFileExporter

            self.file_exporter = JaegerJsonFileExporter(options.jaeger_file)
            self.local.append(self.file_exporter)
        if "console" in options.exporters:
            from .exporters import ConsoleSpanExporter

            self.local.append(ConsoleSpanExporter())
        otlp = make_otlp_exporter(options) if "otlp" in options.exporters else None
        #: Spans written straight to OTLP's wire format, when our OTLP exporter is all that
        #: takes them (see _otlp); else SDK ReadableSpans.
        self.encoder: SpanEncoder | None = None
        if otlp is not None and not self.local:
            self.encoder = SpanEncoder(
                self.own_resource.attributes, self.scope.name, self.scope.version or ""
            )
        self.wire = False
        self.remote = Sender(sink, otlp, self.encoder)
        quiet_loggers()
        forget_dummy_thread()

    # Records -> spans --------------------------------------------------------------------

    def build(self, records: list[tuple[Any, ...]]) -> None:
        # Spans that go to the program's TracerProvider belong to its service.
        provider = program_provider()
        self.resource = self.own_resource if provider is None else provider.resource
        # The program's provider, once set, takes ReadableSpans from then on.
        self.wire = self.encoder is not None and provider is None
        remote = self.remote
        for index, record in enumerate(records, 1):
            if not index % SLICE:
                give_way()
            kind = record[0]
            if remote is not None and remote.full() and kind != WAIT_AT_EXIT:
                # The collector is behind (or gone): drop now, rather than build to drop.
                self.sink.stats.buffer_dropped += 1
                continue
            if kind == OP:
                self._op(record[1], record[2], record[3], record[4])
            elif kind == HOLD:
                self._hold(record[1], record[2], record[3])
            else:
                self._wait_at_exit(record[1])
            if len(self.out) >= BATCH_SIZE:
                self.ship()
        self.ship()

    def _context(self, trace_id: int, span_id: int) -> Any:
        return self.SpanContext(trace_id, span_id, False, self.sampled)

    def _links(self, links: tuple[tuple[int, int, str], ...]) -> list[Any]:
        return [
            self.Link(self._context(trace_id, span_id), {"syncscope.link": why})
            for trace_id, span_id, why in links
        ]

    def _base_attributes(self, event: SyncEvent, prim: Primitive) -> dict[str, Any]:
        return {
            "thread.id": event.thread_id,
            "thread.name": event.thread_name,
            "code.function.name": event.function,
            "code.file.path": event.file,
            "code.line.number": event.line,
            "syncscope.kind": prim.kind,
            "syncscope.type": prim.type_name,
            "syncscope.name": prim.name,
            "syncscope.primitive_id": prim.id,
            "syncscope.created_at": prim.created_at,
        }

    def _op(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, Segment | None],
        links: tuple[tuple[int, int, str], ...],
    ) -> None:
        end = event.time_ns
        waited = event.waited_ns
        start = end - waited if waited else end
        if end <= start:
            end = start + 1  # Jaeger flags a zero-length span as a clock problem
        args = (event, span_id, place, links, start, end)
        self._take(self._op_span, args, span_id, place, event, start, end, links)

    def _op_span(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, Segment | None],
        links: tuple[tuple[int, int, str], ...],
        start: int,
        end: int,
    ) -> Any:
        prim = event.primitive
        op = event.op
        constant = (("syncscope.op", op), ("syncscope.outcome", event.outcome))
        variable: list[tuple[str, Any]] = []
        if op in BLOCKING_OPS:
            variable.append(("syncscope.waited_ms", round((event.waited_ns or 0) / 1e6, 3)))
        if event.count is not None:
            variable.append(("syncscope.count", event.count))
        if event.qsize is not None:
            variable.append(("syncscope.queue.size", event.qsize))
        if self.span_items and event.item is not None:
            variable.append(("syncscope.queue.item", event.item))
        error = None
        if event.error is not None:
            message = event.error_text
            variable.append(("syncscope.error", message))
            if event.outcome in ("error", "broken"):
                error = message
        name = f"{prim.type_name}.{op} {prim.name}"
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, error
        )

    def _hold(self, hold: HoldSpan, release: SyncEvent | None, reason: str) -> None:
        start = hold.event.time_ns
        end = release.time_ns if release is not None else self.sink.close_ns
        if end <= start:
            end = start + 1
        args = (hold, release, reason, start, end)
        place = hold.place
        self._take(self._hold_span, args, hold.span_id, place, hold.event, start, end, ())

    def _hold_span(
        self, hold: HoldSpan, release: SyncEvent | None, reason: str, start: int, end: int
    ) -> Any:
        prim = hold.prim
        variable: list[tuple[str, Any]] = [("syncscope.held_ms", round((end - start) / 1e6, 3))]
        outcome = reason
        if release is not None:
            variable.append(("syncscope.released_at", f"{release.file}:{release.line}"))
            if release.thread_id != hold.ident:
                outcome = "released by another thread"
                variable.append(("syncscope.released_by", release.thread_name))
        variable.append(("syncscope.outcome", outcome))
        name = f"{prim.type_name}.hold {prim.name}"
        place = hold.place
        return self._span(
            name, hold.span_id, place, start, end, hold.event, prim, _HOLD_OP, variable, (), None
        )

    def _wait_at_exit(self, pending: PendingWait) -> None:
        event = pending.start_event
        start = event.time_ns
        end = max(self.sink.close_ns, start + 1)
        args = (pending, start, end)
        place = pending.place
        self._take(self._wait_span, args, pending.span_id, place, event, start, end, pending.links)

    def _wait_span(self, pending: PendingWait, start: int, end: int) -> Any:
        event = pending.start_event
        prim = pending.prim
        constant = (("syncscope.op", event.op), ("syncscope.outcome", "still waiting at exit"))
        variable = [("syncscope.waited_ms", round((end - start) / 1e6, 3))]
        name = f"{prim.type_name}.{event.op} {prim.name}"
        span_id, place, links = pending.span_id, pending.place, pending.links
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, None
        )

    def _take(
        self,
        build: Callable[..., Any],
        args: tuple[Any, ...],
        span_id: int,
        place: tuple[int, int, Segment | None],
        event: SyncEvent,
        start: int,
        end: int,
        links: tuple[tuple[int, int, str], ...],
    ) -> None:
        """Send the span (built now), or park it unbuilt when shorter than ``min_span_ms``."""
        thread = None
        segment = place[2]
        if segment is not None:
            thread = self._thread_span(
                segment, place[1], event.thread_id, event.thread_name, start, end
            )
        if end - start < self.min_ns:
            self._park(span_id, (build, args, thread))
            return
        if thread is not None:
            thread.used = True
        self.out.append(build(*args))
        if links and self.parked:
            # Short spans that this one links to go out after all.
            for _trace, target, _why in links:
                parked = self.parked.pop(target, None)
                if parked is not None:
                    parked_build, parked_args, parked_thread = parked
                    if parked_thread is not None:
                        parked_thread.used = True
                    self.out.append(parked_build(*parked_args))

    def _span(
        self,
        name: str,
        span_id: int,
        place: tuple[int, int, Segment | None],
        start: int,
        end: int,
        event: SyncEvent,
        prim: Primitive,
        constant: tuple[tuple[str, Any], ...],
        variable: list[tuple[str, Any]],
        links: tuple[tuple[int, int, str], ...],
        error: str | None,
    ) -> Any:
        """
        One span of an operation: its thread's, call site's and primitive's attributes, then
        ``constant`` (few distinct values: encoded once) and ``variable`` ones.
        """
        trace_id, parent_id, _segment = place
        encoder = self.encoder
        if self.wire and encoder is not None:
            ident, thread = event.thread_id, event.thread_name
            file, line, function = event.file, event.line, event.function
            blobs = (
                encoder.cached((ident, thread), (("thread.id", ident), ("thread.name", thread))),
                encoder.cached(
                    (file, line, function),
                    (
                        ("code.function.name", function),
                        ("code.file.path", file),
                        ("code.line.number", line),
                    ),
                ),
                encoder.cached(
                    prim,
                    (
                        ("syncscope.kind", prim.kind),
                        ("syncscope.type", prim.type_name),
                        ("syncscope.name", prim.name),
                        ("syncscope.primitive_id", prim.id),
                        ("syncscope.created_at", prim.created_at),
                    ),
                ),
                encoder.cached(constant, constant),
                otlp_attributes(9, variable),
            )
            return encoder.span(name, trace_id, span_id, parent_id, start, end, blobs, links, error)
        attributes = self._base_attributes(event, prim)
        attributes.update(constant)
        attributes.update(variable)
        return self._plain_span(
            name, trace_id, span_id, parent_id, start, end, attributes, links, error
        )

    def _plain_span(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start: int,
        end: int,
        attributes: dict[str, Any],
        links: Sequence[tuple[int, int, str]],
        error: str | None = None,
    ) -> Any:
        """A span from its attributes as they are: a run or thread span, or an SDK span."""
        encoder = self.encoder
        if self.wire and encoder is not None:
            blob = otlp_attributes(9, attributes)
            return encoder.span(
                name, trace_id, span_id, parent_id, start, end, (blob,), links, error
            )
        kwargs: dict[str, Any] = {}
        if error is not None:
            kwargs["status"] = self.error_status(self.ERROR, error)
        return self.ReadableSpan(
            name,
            context=self._context(trace_id, span_id),
            parent=None if parent_id is None else self._context(trace_id, parent_id),
            resource=self.resource,
            attributes=attributes,
            links=self._links(tuple(links)),
            kind=self.internal,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
            **kwargs,
        )

    def _park(self, span_id: int, entry: tuple[Any, ...]) -> None:
        """Keep a short span (unbuilt) a while, in case a long one links to it."""
        parked = self.parked
        if len(parked) >= 4096:
            del parked[next(iter(parked))]
        parked[span_id] = entry

    def _thread_span(
        self, segment: Segment, span_id: int, ident: int, name: str, start: int, end: int
    ) -> _ThreadSpan | None:
        spans = self.segments.get(segment.index)
        if spans is None:
            if segment.index < self.done_below:
                return None  # a hold that outlived its trace: its thread span is out already
            # A new trace begins: the earlier ones are complete.
            for index in sorted(self.segments):
                if index < segment.index:
                    self._finish_segment(self.segments.pop(index))
            self.done_below = segment.index
            spans = self.segments[segment.index] = SegmentSpans(segment)
        thread = spans.threads.get(span_id)
        if thread is None:
            thread = spans.threads[span_id] = _ThreadSpan(ident, name, span_id, start, end)
        else:
            thread.start = min(thread.start, start)
            thread.end = max(thread.end, end)
        return thread

    def _finish_segment(self, spans: SegmentSpans) -> None:
        segment = spans.segment
        trace_id = segment.trace_id
        previous = segment.previous
        run_start = segment.start_ns
        run_end = segment.end_ns or self.sink.close_ns or _time_ns()
        used = [thread for thread in spans.threads.values() if thread.used]
        if not used:
            return
        for thread in used:
            run_start = min(run_start, thread.start)
            run_end = max(run_end, thread.end)
            links = []
            if previous is not None:
                before = segment.previous_places.get(thread.ident)
                if before is not None:
                    links.append((previous[0], before[1], "previous trace"))
            self.out.append(
                self._plain_span(
                    f"thread {thread.name}",
                    trace_id,
                    thread.span_id,
                    segment.run_span_id,
                    thread.start,
                    max(thread.end, thread.start + 1),
                    {
                        "thread.id": thread.ident,
                        "thread.name": thread.name,
                        "syncscope.trace_part": segment.index + 1,
                    },
                    links,
                )
            )
        run_links = []
        if previous is not None:
            run_links.append((previous[0], previous[1], "previous trace"))
        self.out.append(
            self._plain_span(
                f"run {self.sink.options.run_name}",
                trace_id,
                segment.run_span_id,
                None,
                run_start,
                max(run_end, run_start + 1),
                {
                    "process.pid": os.getpid(),
                    "syncscope.trace_part": segment.index + 1,
                    "syncscope.spans": segment.count,
                },
                run_links,
            )
        )

    # Hand-over to exporters ------------------------------------------------------------------

    def ship(self) -> None:
        out = self.out
        if not out:
            return
        self.out = []
        self.sink.stats.shipped += len(out)
        for exporter in self.local:
            with contextlib.suppress(Exception):
                exporter.export(out)
        remote = self.remote
        if remote is not None:
            remote.put(out)

    def tick(self) -> None:
        remote = self.remote
        if remote is not None:
            remote.ring()

    def finish(self) -> None:
        for index in sorted(self.segments):
            self._finish_segment(self.segments.pop(index))
        self.done_below = sys.maxsize
        self.ship()
        if self.file_exporter is not None:
            with contextlib.suppress(Exception):
                self.file_exporter.shutdown()
            self.sink.stats.file_dropped = self.file_exporter.dropped
        remote = self.remote
        if remote is not None:
            remote.finish()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("syncscope")
    except Exception:
        return "0"


def _resource(options: SpanOptions) -> Any:
    """
    The SDK's attributes, then ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, then ours.

    Not ``Resource.create()``: it runs the detectors on a thread pool, whose threads the
    program would see (and which refuses to start during interpreter shutdown).
    """
    from opentelemetry.sdk import resources

    from_env = resources.OTELResourceDetector().detect()
    name = options.service_name or os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if not name:
        name = str(from_env.attributes.get("service.name", "") or "")
    if not name:
        name = f"syncscope {options.run_name}"
    ours = resources.Resource(
        {
            "service.name": name,
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": ".".join(map(str, sys.version_info[:3])),
        }
    )
    base = getattr(resources, "_DEFAULT_RESOURCE", None) or resources.Resource.get_empty()
    return base.merge(from_env).merge(ours)
