"""
Building: on the worker, span records become spans, written straight to OTLP's wire format
when syncscope's OTLP exporter is all that takes them (see ``otlp``: a tenth of the SDK's
cost), else ``ReadableSpan`` objects for the program's TracerProvider, the Jaeger file and the
console; with the run and thread spans of each trace part around them.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Sequence

from ..._core.event import BLOCKING_OPS, Primitive, SyncEvent
from . import send
from .otlp import SpanEncoder
from .otlp import attributes as otlp_attributes
from .pairing import FINDING, HOLD, OP, span_id_of
from .resource import resource_attributes, version
from .segments import HoldSpan, PendingWait, Segment, span_id
from .send import BATCH_SIZE, Sender, program_provider
from .summary import Bucket, Summaries, base_attributes, summary_attributes, summary_name
from .workers import forget_dummy_thread, give_way, quiet_loggers


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


_time_ns = time.time_ns
#: Spans built between two offers of the GIL to the program's threads.
SLICE = 64
_HOLD_OP = (("syncscope.op", "hold"),)


class Owner(send.Owner, Protocol):
    """What the builder reads of the sink it builds for."""

    #: When the run ended (time_ns), once it has.
    close_ns: int
    #: Spans given up after the pairing linked to them (see SpanSink.given_up).
    given_up: dict[int, None]

    @property
    def lock(self) -> Any:
        """The pairing's lock: a part's span count changes under it (see Summaries)."""

    def give_up(self, span_id: int) -> None: ...


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
    __slots__ = ("findings", "findings_end", "segment", "threads")

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.threads: dict[int, _ThreadSpan] = {}
        self.findings = False
        self.findings_end = 0


class Builder:
    """
    Made on the installing thread, then lives on the worker: imports OpenTelemetry, builds
    spans, feeds the exporters.
    """

    def __init__(self, sink: Owner) -> None:
        self.sink = sink
        options = sink.options
        self.own_attributes = resource_attributes(options)
        self.version = version()
        #: The SDK's classes, once imported (see _load_sdk).
        self.sdk = False
        self.span_items = options.span_items
        self.segments: dict[int, SegmentSpans] = {}
        #: Trace parts whose run and thread spans went out.
        self.done: set[int] = set()
        #: Spans not built because the sender is behind (see build).
        self.summaries = Summaries()
        self._rand = random.Random().getrandbits
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
        otlp = "otlp" in options.exporters
        #: Spans written straight to OTLP's wire format, when our OTLP exporter is all that
        #: takes them (see _otlp); else SDK ReadableSpans.
        self.encoder: SpanEncoder | None = None
        if otlp and not self.local:
            self.encoder = SpanEncoder(self.own_attributes, "syncscope", self.version)
        else:
            self._load_sdk()
        self.wire = self.encoder is not None
        self.remote = Sender(sink, otlp, self.encoder)
        quiet_loggers()
        forget_dummy_thread()

    def _load_sdk(self) -> None:
        """
        Import what SDK spans are made of: only when spans go to the program's TracerProvider
        (it has imported the SDK then), or to the file or console exporters. Spans encoded by
        hand for OTLP need none of it, and the imports (``opentelemetry.trace``, the SDK's
        trace and resources modules) cost about 150 ms of the program's GIL.
        """
        if self.sdk:
            return
        from opentelemetry.sdk.resources import Resource
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
        self.own_resource = self.resource = Resource(self.own_attributes)
        self.scope = InstrumentationScope("syncscope", self.version)
        self.sdk = True

    def _choose(self) -> None:
        """Encoded spans, or SDK spans: the program's TracerProvider, once set, takes these."""
        provider = program_provider()
        self.wire = self.encoder is not None and provider is None
        if not self.wire:
            self._load_sdk()
            # Spans that go to the program's TracerProvider belong to its service.
            self.resource = self.own_resource if provider is None else provider.resource

    # Records -> spans --------------------------------------------------------------------

    def build(self, records: list[tuple[Any, ...]]) -> None:
        self._choose()
        remote = self.remote
        for index, record in enumerate(records, 1):
            if not index % SLICE:
                give_way()
            kind = record[0]
            keep = record[-1]
            if not keep and remote is not None and remote.full():
                # The collector is behind (or gone): a summary, rather than build to drop.
                with self.sink.lock:  # it counts in its part as the pairing does
                    self.summaries.add(record)
                self.sink.stats.aggregated_late += 1  # this thread's own count: no lock
                self.sink.give_up(span_id_of(record))
                continue
            given_up = self.sink.given_up
            if kind == OP:
                self._op(record[1], record[2], record[3], _sent_only(record[4], given_up), keep)
            elif kind == HOLD:
                self._hold(record[1], record[2], record[3], keep)
            elif kind == FINDING:
                self._finding(record[1], record[2], _sent_only(record[3], given_up), record[4])
            else:
                pending = record[1]
                pending.links = _sent_only(pending.links, given_up)
                self._wait_at_exit(pending)
            if len(self.out) >= BATCH_SIZE:
                self.ship()
        self.ship()

    def _context(self, trace_id: int, span_id: int) -> Any:
        return self.SpanContext(trace_id, span_id, False, self.sampled)

    def _links(self, links: tuple[tuple[int, int, str], ...]) -> list[Any]:
        made = []  # a loop: a comprehension would make a cell of self every span
        for trace, span, why in links:
            made.append(self.Link(self._context(trace, span), {"syncscope.link": why}))
        return made

    # Summaries, findings, trace parts --------------------------------------------------------

    def summarize(self, buckets: list[Bucket]) -> None:
        """The summary spans of the sink's buckets and the builder's own, then ship."""
        self._choose()
        summaries = self.summaries
        with self.sink.lock:  # merged buckets count in their parts as the pairing's do
            summaries.merge(buckets)
        for bucket in summaries.take():
            trace_id, parent_id, segment = bucket.place
            start, end = bucket.start, max(bucket.end, bucket.start + 1)
            if segment is not None:
                event = bucket.event
                thread = self._thread_span(
                    segment, parent_id, event.thread_id, event.thread_name, start, end
                )
                if thread is not None:
                    thread.used = True
            self.out.append(
                self._plain_span(
                    summary_name(bucket),
                    trace_id,
                    span_id(self._rand),
                    parent_id,
                    start,
                    end,
                    summary_attributes(bucket),
                    (),
                )
            )
            self.sink.stats.summaries += 1
        self.ship()

    def finish_parts(self, parts: list[Segment]) -> None:
        """Trace parts that were cut, whose spans all went out: their thread and run spans."""
        self._choose()
        for segment in parts:
            spans = self.segments.pop(segment.index, None)
            self.done.add(segment.index)
            if spans is not None:
                self._finish_segment(spans)
        self.ship()

    def _finding(
        self,
        title: str,
        attributes: dict[str, Any],
        links: tuple[tuple[int, int, str], ...],
        segment: Segment,
    ) -> None:
        """A finding (deadlock, hang, inversion, slow spot): an error span under the run span."""
        now = int(attributes.pop("syncscope.finding.at_ns", 0) or _time_ns())
        start = int(attributes.pop("syncscope.finding.since_ns", now) or now)
        spans = self.segments.get(segment.index)
        if spans is None and segment.index not in self.done:
            spans = self.segments[segment.index] = SegmentSpans(segment)
        if spans is not None:
            spans.findings = True
            spans.findings_end = max(spans.findings_end, now, start + 1)
        attributes.update(_link_attributes(links))
        self.out.append(
            self._plain_span(
                title,
                segment.trace_id,
                span_id(self._rand),
                segment.run_span_id,
                min(start, now),
                max(now, start + 1),
                attributes,
                links,
                title,
            )
        )

    def _op(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, Segment | None],
        links: tuple[tuple[int, int, str], ...],
        keep: bool | str = False,
    ) -> None:
        end = event.time_ns
        waited = event.waited_ns
        start = end - waited if waited else end
        if event.op == "acquire":
            # At least a microsecond, ending as the hold begins: Jaeger keeps microseconds, and
            # an acquire starting in the same one as its hold could be listed after it.
            start = min(start, end - 1000)
        if end <= start:
            end = start + 1  # Jaeger flags a zero-length span as a clock problem
        finding = keep if isinstance(keep, str) else None
        args = (event, span_id, place, links, start, end, finding)
        self._take(self._op_span, args, span_id, place, event, start, end, links)

    def _op_span(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, Segment | None],
        links: tuple[tuple[int, int, str], ...],
        start: int,
        end: int,
        finding: str | None = None,
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
        if finding is not None:
            error = finding
        if links:
            variable.extend(_link_attributes(links).items())
        name = f"{prim.type_name}.{op} {prim.name}"
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, error
        )

    def _hold(
        self, hold: HoldSpan, release: SyncEvent | None, reason: str, keep: bool = False
    ) -> None:
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
        if hold.contended:
            variable.append(("syncscope.made_others_wait", True))
        error = None
        if release is None and hold.contended:
            error = "held at exit while another thread waited for it"
        name = f"{prim.type_name}.hold {prim.name}"
        place = hold.place
        return self._span(
            name, hold.span_id, place, start, end, hold.event, prim, _HOLD_OP, variable, (), error
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
        variable: list[tuple[str, Any]] = [("syncscope.waited_ms", round((end - start) / 1e6, 3))]
        if pending.links:
            variable.extend(_link_attributes(pending.links).items())
        name = f"{prim.type_name}.{event.op} {prim.name}"
        span_id, place, links = pending.span_id, pending.place, pending.links
        error = pending.error or "still waiting when the program ended"
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, error
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
        """Build the span, and count it in its thread's span."""
        segment = place[2]
        if segment is not None:
            thread = self._thread_span(
                segment, place[1], event.thread_id, event.thread_name, start, end
            )
            if thread is not None:
                thread.used = True
        self.out.append(build(*args))

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
            # Each cached blob looked up before its pairs are made: this runs once a span.
            known = encoder.blobs.get
            ident, thread = event.thread_id, event.thread_name
            site = (event.file, event.line, event.function)
            blobs = (
                known((ident, thread))
                or encoder.cached((ident, thread), (("thread.id", ident), ("thread.name", thread))),
                known(site)
                or encoder.cached(
                    site,
                    (
                        ("code.function.name", site[2]),
                        ("code.file.path", site[0]),
                        ("code.line.number", site[1]),
                    ),
                ),
                known(prim)
                or encoder.cached(
                    prim,
                    (
                        ("syncscope.kind", prim.kind),
                        ("syncscope.type", prim.type_name),
                        ("syncscope.name", prim.name),
                        ("syncscope.primitive_id", prim.id),
                        ("syncscope.created_at", prim.created_at),
                    ),
                ),
                known(constant) or encoder.cached(constant, constant),
                otlp_attributes(9, variable),
            )
            return encoder.span(name, trace_id, span_id, parent_id, start, end, blobs, links, error)
        attributes = base_attributes(event, prim)
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

    def _thread_span(
        self, segment: Segment, span_id: int, ident: int, name: str, start: int, end: int
    ) -> _ThreadSpan | None:
        spans = self.segments.get(segment.index)
        if spans is None:
            if segment.index in self.done:
                return None  # a span that outlived its part: its thread span is out already
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
        if not used and not spans.findings:
            return
        for thread in used:
            thread.start, thread.end = _micro_floor(thread.start), _micro_ceil(thread.end)
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
                    max(thread.end, thread.start + 1000),
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
        run_end = max(run_end, spans.findings_end)
        run_start, run_end = _micro_floor(run_start), _micro_ceil(max(run_end, run_start + 1))
        name = f"run {self.sink.options.run_name}"
        if segment.index or segment.end_ns is not None:  # one of several parts: say which
            name += f" part {segment.index + 1} {_clock(run_start)}-{_clock(run_end)}"
        attributes: dict[str, Any] = {
            "process.pid": os.getpid(),
            "syncscope.trace_part": segment.index + 1,
            "syncscope.spans": segment.count,
        }
        startup = getattr(self.sink, "startup_ns", 0)
        if startup and not segment.index:
            attributes["syncscope.startup_ms"] = round(startup / 1e6, 3)
        self.out.append(
            self._plain_span(
                name,
                trace_id,
                segment.run_span_id,
                None,
                run_start,
                run_end,
                attributes,
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
        self.summarize([])  # chooses the kind of spans too
        for index in sorted(self.segments):
            self._finish_segment(self.segments.pop(index))
            self.done.add(index)
        self.ship()
        if self.file_exporter is not None:
            with contextlib.suppress(Exception):
                self.file_exporter.shutdown()
            self.sink.stats.file_dropped = self.file_exporter.dropped
        remote = self.remote
        if remote is not None:
            remote.finish()


def _micro_floor(time_ns: int) -> int:
    return time_ns - time_ns % 1000


def _micro_ceil(time_ns: int) -> int:
    """
    Up to the microsecond. Jaeger keeps microseconds: a thread or run span rounded out to
    them still holds its children there (else Jaeger's UI reports clock skew).
    """
    return -(-time_ns // 1000) * 1000


def _clock(time_ns: int) -> str:
    """Wall-clock time of day, to the millisecond: a part's title says when it was."""
    seconds, ns = divmod(time_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{ns // 1_000_000:03d}"


def _sent_only(
    links: tuple[tuple[int, int, str], ...], given_up: dict[int, None]
) -> tuple[tuple[int, int, str], ...]:
    """``links`` but those to spans given up after they were linked to (see the sink)."""
    if not links or not given_up:
        return links
    return _kept(links, given_up)


def _kept(
    links: tuple[tuple[int, int, str], ...], given_up: dict[int, None]
) -> tuple[tuple[int, int, str], ...]:
    # Apart from _sent_only: a comprehension there makes a cell of given_up every record.
    return tuple(link for link in links if link[1] not in given_up)


def _link_attributes(links: Sequence[tuple[int, int, str]]) -> dict[str, Any]:
    """
    Why each link is there, in the span's own attributes: Jaeger keeps link attributes
    nowhere its UI shows them.
    """
    return {"syncscope.links": ", ".join(f"{why} {target:016x}" for _t, target, why in links)}
