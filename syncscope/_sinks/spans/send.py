"""
Sending: finished spans go to the remote exporter (OTLP, or the program's TracerProvider) from
a thread of their own, through a bounded queue, and every span is counted as sent, dropped,
failed or unsent, so the exit line tells the truth.
"""

from __future__ import annotations

import _thread
import contextlib
import sys
import time
from collections import deque
from typing import Any, Protocol

from ..._core.dispatch import guard
from ..._core.registry import allocate_lock
from .options import SpanOptions
from .otlp import EncodedSpans, SpanEncoder, accept_encoded_spans
from .workers import INTERVAL, forget_dummy_thread, one_line, our_threads, quiet_loggers


_monotonic = time.monotonic
#: Spans per OTLP export request.
BATCH_SIZE = 512


class SpanCounts:
    """What became of the spans: each is counted once, in one of these."""

    __slots__ = (
        "buffer_dropped",
        "exported",
        "failed_exports",
        "failed_first",
        "failed_spans",
        "file_dropped",
        "queue_dropped",
        "shipped",
        "unsent",
    )

    def __init__(self) -> None:
        self.buffer_dropped = 0
        self.shipped = 0
        self.exported = 0
        self.queue_dropped = 0
        self.failed_exports = 0
        self.failed_spans = 0
        self.failed_first: str | None = None
        self.unsent = 0
        self.file_dropped = 0


def program_provider() -> Any:
    """The global SDK TracerProvider, when the program has set one; None otherwise."""
    provider = getattr(sys.modules.get("opentelemetry.trace"), "_TRACER_PROVIDER", None)
    if provider is None or not hasattr(provider, "_active_span_processor"):
        return None
    return provider


class Owner(Protocol):
    """What the sender reads of the sink it sends for."""

    options: SpanOptions
    stats: SpanCounts
    abandoned: bool


def make_otlp_exporter(options: SpanOptions) -> Any:
    protocol, url = options.protocol, options.endpoint
    assert url is not None
    headers = dict(options.headers) if options.headers is not None else None
    exporter: Any
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        accept_encoded_spans("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        exporter = OTLPSpanExporter(endpoint=url, headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        accept_encoded_spans("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        exporter = HttpExporter(endpoint=url, headers=headers)
    exporter._syncscope_target = f"{url} ({protocol})"
    return exporter


class Sender:
    """
    Exports batches on its own thread, from a bounded queue.

    The target is the program's global SDK TracerProvider when it has set one (our spans go to
    its span processor), else our own OTLP exporter, else nothing.
    """

    def __init__(self, sink: Owner, exporter: Any, encoder: SpanEncoder | None) -> None:
        self.sink = sink
        self.exporter = exporter
        self.encoder = encoder
        self.target = getattr(exporter, "_syncscope_target", "the program's TracerProvider")
        self.lock = allocate_lock()
        self.batches: deque[list[Any]] = deque()
        self.queued = 0
        self.limit = max(sink.options.buffer_size, BATCH_SIZE)
        self.in_flight = 0
        self.doorbell = allocate_lock()
        self.doorbell.acquire()
        self.done = allocate_lock()
        self.done.acquire()
        self.finishing = False
        self.provider_hooked = False
        # Not this thread: the sender is made on the installing thread, the program's own, whose
        # logging must stay as it was. The sending thread counts itself in.
        _thread.start_new_thread(self._main, ())

    def put(self, spans: list[Any]) -> None:
        with self.lock:
            if self.queued + len(spans) > self.limit:
                self.sink.stats.queue_dropped += len(spans)
                return
            self.batches.append(spans)
            self.queued += len(spans)
        self.ring()

    def full(self) -> bool:
        return self.queued + self.in_flight >= self.limit

    def ring(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.doorbell.release()

    def finish(self) -> None:
        self.finishing = True
        self.ring()

    def wait_done(self, deadline: float) -> bool:
        return bool(self.done.acquire(timeout=max(deadline - _monotonic(), 0.0)))

    def abandon(self) -> None:
        """The flush time is up: count what is left, and cut the export in progress short."""
        with self.lock:
            self.sink.stats.unsent += self.queued + self.in_flight
            self.batches.clear()
            self.queued = 0
            self.in_flight = 0
        exporter = self.exporter
        if exporter is not None:
            # Interrupts the retry back-off and closes the channel the export is waiting on.
            with contextlib.suppress(Exception):
                exporter.shutdown()

    def _main(self) -> None:
        guard.busy = True
        our_threads.add(_thread.get_ident())
        try:
            while True:
                self.doorbell.acquire(timeout=INTERVAL * 4)
                finishing = self.finishing
                while True:
                    with self.lock:
                        if not self.batches:
                            break
                        batch = self.batches.popleft()
                        # Small hand-overs go out together, up to one batch.
                        while self.batches and len(batch) + len(self.batches[0]) <= BATCH_SIZE:
                            batch = batch + self.batches.popleft()
                        self.queued -= len(batch)
                        self.in_flight = len(batch)
                    ok, error = self._export(batch)
                    with self.lock:
                        # After abandon() the batch was counted as unsent already.
                        if self.in_flight:
                            self._count(batch, ok, error)
                        self.in_flight = 0
                    if self.sink.abandoned:
                        return
                if finishing:
                    self._shutdown()
                    return
        finally:
            forget_dummy_thread()
            our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            self.done.release()

    def _provider_processor(self) -> Any:
        provider = program_provider()
        if provider is None:
            return None
        processor = provider._active_span_processor
        if not self.provider_hooked:
            self.provider_hooked = True
            self.target = "the program's TracerProvider"
            self.provider = provider
        return processor

    def _export(self, batch: list[Any]) -> tuple[bool, str | None]:
        try:
            processor = self._provider_processor()
            if processor is not None and type(batch[0]) is not bytes:
                for span in batch:
                    processor.on_end(span)
                return True, None
            if self.exporter is None:
                return True, None
            from opentelemetry.sdk.trace.export import SpanExportResult

            to_export: Any = batch
            if self.encoder is not None and type(batch[0]) is bytes:
                to_export = EncodedSpans(self.encoder.request(batch), len(batch))
            result = self.exporter.export(to_export)
            if result is SpanExportResult.SUCCESS:
                return True, None
            return False, "the collector did not accept them"
        except Exception as exc:
            return False, one_line(exc)
        finally:
            quiet_loggers()
            forget_dummy_thread()

    def _count(self, batch: list[Any], ok: bool, error: str | None) -> None:
        stats = self.sink.stats
        if ok:
            stats.exported += len(batch)
        else:
            stats.failed_exports += 1
            stats.failed_spans += len(batch)
            stats.failed_first = stats.failed_first or error

    def _shutdown(self) -> None:
        provider = getattr(self, "provider", None)
        if provider is not None:
            with contextlib.suppress(Exception):
                provider.force_flush(max(int(self.sink.options.flush_timeout * 1000), 1))
        if self.exporter is not None:
            with contextlib.suppress(Exception):
                self.exporter.shutdown()
