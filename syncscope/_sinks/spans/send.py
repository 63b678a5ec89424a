"""
Sending: finished spans go to the remote exporter (OTLP, or the program's TracerProvider) from
a thread of their own, through a bounded queue, and every span is counted as sent, dropped,
failed or unsent, so the exit line tells the truth.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import sys
import time
from collections import deque

from ..._core.dispatch import guard
from ..._core.ourthreads import SENDS, Resumable
from ..._core.registry import allocate_lock
from .grpcsend import GrpcSender
from .options import SpanOptions
from .otlp import EncodedSpans, SpanEncoder, accept_encoded_spans
from .post import HttpSender, needs_the_exporter
from .probe import PROBE_TIMEOUT, probe
from .transport import ExportError
from .urls import Url
from .workers import INTERVAL, forget_dummy_thread, one_line, our_threads, quiet_loggers


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


_monotonic = time.monotonic
#: Senders of our own, which take encoded request bodies (``send``), not SDK spans.
OWN_SENDERS = (HttpSender, GrpcSender)
#: Spans per OTLP export request.
BATCH_SIZE = 512
#: Seconds between two probes of an endpoint that did not answer.
REPROBE_EVERY = 2.0
#: Seconds without an answer from the endpoint after which it is probed before an export.
QUIET_BEFORE_PROBE = 1.0


class SpanCounts:
    """
    What became of the spans: each is counted once, in one of these.

    Spans made = ``shipped`` (built and handed to the exporters) + ``buffer_dropped`` +
    ``unbuilt``; of the shipped ones, each is ``exported`` (to the endpoint; without one, to
    the file or console alone), ``provided`` (to the program's TracerProvider),
    ``queue_dropped``, failed (``failed_spans``) or ``unsent``. Operations folded into summary
    spans (``aggregated``, into ``summaries`` spans) and spans shorter than ``--min-span-ms``
    (``filtered``) are not spans made: they are said apart.
    """

    __slots__ = (
        "aggregated",
        "aggregated_late",
        "buffer_dropped",
        "exported",
        "failed_exports",
        "failed_first",
        "failed_spans",
        "file_dropped",
        "filtered",
        "provided",
        "queue_dropped",
        "refused_spans",
        "shipped",
        "summaries",
        "unbuilt",
        "unsent",
    )

    def __init__(self) -> None:
        #: Summed up by the sink (under its lock), and by the builder (on its thread).
        self.aggregated = 0
        self.aggregated_late = 0
        self.summaries = 0
        self.filtered = 0
        self.unbuilt = 0
        self.refused_spans = 0
        self.buffer_dropped = 0
        self.shipped = 0
        self.exported = 0
        self.provided = 0
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


def sends_itself(options: SpanOptions, protocol: str | None = None) -> bool:
    """
    Whether our spans are encoded by hand (see Builder: when our OTLP exporter is all that
    takes them) and nothing calls for the SDK's exporter of ``protocol`` (the one chosen by
    default): our own sender sends them then (see ``post`` and ``grpcsend``), and the SDK is
    imported only if the program sets a provider.
    """
    return (
        options.jaeger_file is None
        and "console" not in options.exporters
        and options.endpoint is not None
        and needs_the_exporter(options.endpoint, protocol or options.protocol) is None
    )


def make_otlp_exporter(options: SpanOptions, protocol: str | None = None, own: bool = False) -> Any:
    """
    The exporter for ``protocol``: with ``own`` (the spans come encoded already), our own
    sender (:class:`~.post.HttpSender`, :class:`~.grpcsend.GrpcSender`) unless the SDK's
    exporter is needed for what it alone does (see ``post.needs_the_exporter``); else the
    SDK's OTLP exporter, which takes our encoded batches too.
    """
    protocol, url = protocol or options.protocol, options.endpoint
    assert url is not None
    if protocol != options.protocol:
        url = _url_for(url, protocol)
    headers = dict(options.headers) if options.headers is not None else None
    exporter: Any
    if own and needs_the_exporter(url, protocol) is None:
        sender = GrpcSender if protocol == "grpc" else HttpSender
        exporter = sender(url, headers)
    elif protocol == "grpc":
        import_grpc_exporter()
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
    its span processor), else our own OTLP exporter, else nothing. The OTLP exporter is made
    on this thread after a probe of the endpoint (see ``probe``): a dead or wrong endpoint is
    found once, said once, and its spans are counted as refused without an export that
    waits; it is probed again now and then, and once more at exit, in case it came up.
    """

    def __init__(self, sink: Owner, otlp: bool, encoder: SpanEncoder | None) -> None:
        self.sink = sink
        options = sink.options
        self.otlp = otlp
        self.exporter: Any = None
        self.protocol = options.protocol
        self.encoder = encoder
        self.target = (
            f"{options.endpoint} ({options.protocol})" if otlp else "the program's TracerProvider"
        )
        #: Why the endpoint cannot take spans, while it cannot.
        self.dead: str | None = None
        self._probed_at = 0.0
        self._answered_at = 0.0
        self.lock = allocate_lock()
        self.batches: deque[list[Any]] = deque()
        self.queued = 0
        # Past ``limit`` spans waiting to go out, the builder sums up the spans that do not
        # matter (the export is behind: building them would only cost the program the GIL);
        # spans that matter may queue up to ``hard_limit``, then they are dropped too.
        self.limit = max(options.buffer_size // 8, BATCH_SIZE)
        self.hard_limit = 4 * max(options.buffer_size, BATCH_SIZE)
        self.in_flight = 0
        #: Whether the batch going out is encoded for the endpoint (not the program's provider).
        self.sending_encoded = False
        self.doorbell = allocate_lock()
        self.doorbell.acquire()
        self.done = allocate_lock()
        self.done.acquire()
        self.finishing = False
        self.provider_hooked = False
        #: Whether the batch going out went to the program's provider (see _count).
        self.via_provider = False
        self.post_error = ""
        self._connected = False
        #: Probing or exporting (and making the exporter, which imports): a fork does not
        #: wait for the network, nor for an import (see Resumable).
        self._busy = False
        # The sending thread steps aside for a single-threaded program's fork (see
        # _core/ourthreads). Not this thread: the sender is made on the installing thread, the
        # program's own, whose logging must stay as it was. The sending thread counts itself
        # in. A thread the sink started early, if it has one (see SpareThread).
        self.thread = Resumable(self._main, self._ring_doorbell, lambda: not self._busy)
        spare = getattr(sink, "spare_thread", None)
        if spare is not None:
            sink.spare_thread = None  # type: ignore[attr-defined]
            self.thread.start(SENDS, spare.run)
        else:
            self.thread.start(SENDS)

    def put(self, spans: list[Any]) -> None:
        with self.lock:
            if self.queued + len(spans) > self.hard_limit:
                self.sink.stats.queue_dropped += len(spans)
                return
            self.batches.append(spans)
            self.queued += len(spans)
        self.ring()

    def full(self) -> bool:
        """Past the soft limit: only spans that matter are built (see Builder.build)."""
        return self.queued + self.in_flight >= self.limit

    def ring(self) -> None:
        """Wake the sending thread (back from a fork it stepped aside for, if need be)."""
        self.thread.resume()
        self._ring_doorbell()

    def _ring_doorbell(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.doorbell.release()

    def finish(self) -> None:
        self.finishing = True
        self.ring()

    def wait_done(self, deadline: float) -> bool:
        if not self.thread.resume(wait=True):  # aside, no thread to be had: nothing is sent
            return False
        return bool(self.done.acquire(timeout=max(deadline - _monotonic(), 0.0)))

    def gone(self) -> str | None:
        """
        At exit, with spans still going out: why the endpoint cannot take them, if it cannot
        (asked on the closing thread while the sending one may be stuck in retries).
        Spans that go to the program's TracerProvider do not go to the endpoint: a dead one
        is no reason to cut their export short, unless spans encoded for it (built before the
        program set its provider) are still to go.
        """
        if self.provider_hooked and not self._endpoint_bound():
            return None
        if not self.otlp or (self.exporter is None and self.dead is None):
            return self.dead
        options = self.sink.options
        assert options.endpoint is not None
        with contextlib.suppress(Exception):
            self.dead = probe(options.endpoint, self.protocol, False, PROBE_TIMEOUT / 2)[1]
        return self.dead

    def _endpoint_bound(self) -> bool:
        """Whether spans encoded for the endpoint are waiting or going out."""
        with self.lock:
            return (self.sending_encoded and bool(self.in_flight)) or any(
                bool(batch) and type(batch[0]) is bytes for batch in self.batches
            )

    def abandon(self, refused: bool = False) -> None:
        """
        The flush time is up, or the endpoint is gone: count what is left (as refused, or
        unsent), and cut the export in progress short.
        """
        stats = self.sink.stats
        with self.lock:
            left = self.queued + self.in_flight
            if refused:
                stats.refused_spans += left
                stats.failed_first = stats.failed_first or self.dead
            else:
                stats.unsent += left
            self.batches.clear()
            self.queued = 0
            self.in_flight = 0
        exporter = self.exporter
        if exporter is not None:
            # Interrupts the retry back-off and closes the channel the export is waiting on.
            with contextlib.suppress(Exception):
                exporter.shutdown()

    # -- the endpoint ------------------------------------------------------------------------

    def _connect(self, timeout: float = PROBE_TIMEOUT) -> None:
        """Probe the endpoint: is anyone there, and (when it was guessed) with what protocol."""
        options = self.sink.options
        assert options.endpoint is not None
        self._probed_at = _monotonic()
        try:
            protocol, why = probe(
                options.endpoint, self.protocol, options.protocol_guessed, timeout
            )
        except Exception as exc:
            protocol, why = self.protocol, one_line(exc)
        self.dead = why
        if why is None:
            self._answered_at = self._probed_at
            if self.exporter is None:
                self.protocol = protocol
                self.target = f"{_url_for(options.endpoint, protocol)} ({protocol})"

    def _make_exporter(self) -> None:
        """
        Make the exporter for the protocol the probe found, when there is a first batch to
        send: a run that makes no span does not wait at exit for gRPC to load.
        """
        try:
            self.exporter = make_otlp_exporter(
                self.sink.options, self.protocol, own=self.encoder is not None
            )
            self.target = self.exporter._syncscope_target
        except Exception as exc:
            self.dead = f"cannot make the OTLP exporter: {one_line(exc)}"
        finally:
            quiet_loggers()
            forget_dummy_thread()

    def _main(self, leaving: Callable[[], bool]) -> bool:
        """
        The sending thread: True when it left for a fork (what is queued waits for it to
        come back), False when done.
        """
        guard.busy = True
        our_threads.add(_thread.get_ident())
        left = False
        try:
            first = self.otlp and not self._connected
            while True:
                if not first:
                    self.doorbell.acquire(timeout=INTERVAL * 4)
                if leaving():
                    break
                # On the network (or importing its exporter) from here: a fork does not wait
                # for that (see ``ready``). Busy, then asked; a fork asks, then reads ``_busy``:
                # under the GIL one of them sees the other.
                self._busy = self.otlp
                try:
                    if leaving():
                        break
                    if first:  # before the first wait, as the thread starts
                        first = False
                        self._connected = True
                        self._connect()
                        continue
                    finishing = self.finishing
                    if not self._send_queued(finishing, leaving):
                        return False
                finally:
                    self._busy = False
                if leaving():
                    break
                if finishing:
                    self._shutdown()
                    return False
            left = True
            return True
        finally:
            forget_dummy_thread()
            our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            if not left:
                self.done.release()

    def _send_queued(self, finishing: bool, leaving: Callable[[], bool]) -> bool:
        """Export what is queued, until a fork asks to leave; False once abandoned."""
        if self.otlp and self.dead is not None:
            # Once more at exit, briefly; else now and then.
            if finishing:
                self._connect(timeout=0.25)
            elif _monotonic() - self._probed_at > REPROBE_EVERY:
                self._connect()
        while not leaving():
            with self.lock:
                if not self.batches:
                    break
                batch = self.batches.popleft()
                # Small hand-overs go out together, up to one batch.
                while self.batches and len(batch) + len(self.batches[0]) <= BATCH_SIZE:
                    batch = batch + self.batches.popleft()
                self.queued -= len(batch)
                self.in_flight = len(batch)
                self.sending_encoded = type(batch[0]) is bytes
            ok, error = self._export(batch)
            with self.lock:
                # After abandon() the batch was counted as unsent already.
                if self.in_flight:
                    self._count(batch, ok, error)
                self.in_flight = 0
            if self.sink.abandoned:
                return False
        return True

    def _provider_processor(self) -> Any:
        provider = program_provider()
        if provider is None:
            return None
        processor = provider._active_span_processor
        if not self.provider_hooked:
            self.provider_hooked = True
            self.provider = provider
        return processor

    def _export(self, batch: list[Any]) -> tuple[bool, str | None]:
        self.via_provider = False
        try:
            processor = self._provider_processor()
            if processor is not None and type(batch[0]) is not bytes:
                self.via_provider = True
                for span in batch:
                    processor.on_end(span)
                return True, None
            if not self.otlp:
                return True, None
            if self.dead is None and _monotonic() - self._answered_at > QUIET_BEFORE_PROBE:
                # Quiet a while: is the endpoint still there? Asked now, that costs one
                # connection; found out by the export, its retries until the flush timeout.
                self._connect()
            if self.dead is None and self.exporter is None:
                self._make_exporter()
            if self.dead is not None or self.exporter is None:
                return False, self.dead or "no exporter"
            if type(self.exporter) in OWN_SENDERS:
                if self._send(batch):
                    return True, None
                error = self.post_error
            else:
                from opentelemetry.sdk.trace.export import SpanExportResult

                to_export: Any = batch
                if self.encoder is not None and type(batch[0]) is bytes:
                    to_export = EncodedSpans(self.encoder.request(batch), len(batch))
                result = self.exporter.export(to_export)
                if result is SpanExportResult.SUCCESS:
                    self._answered_at = _monotonic()
                    return True, None
                error = "the collector did not accept them"
        except Exception as exc:
            error = one_line(exc)
        finally:
            quiet_loggers()
            forget_dummy_thread()
        return self._failed(error)

    def _send(self, batch: list[Any]) -> bool:
        """Send an encoded batch with our own sender; else say why in ``post_error``."""
        if self.encoder is None or type(batch[0]) is not bytes:
            self.post_error = "spans not encoded for OTLP"
            return False
        try:
            self.exporter.send(self.encoder.request(batch))
        except ExportError as exc:
            self.post_error = str(exc)
            return False
        self._answered_at = _monotonic()
        return True

    def _failed(self, error: str) -> tuple[bool, str | None]:
        if self.via_provider:  # the program's provider failed: the endpoint has no part
            return False, error
        if self.otlp:  # gone away, or never listened: find out now, not batch after batch
            self._connect()
            if self.dead is not None:
                error = self.dead
        return False, error

    def _count(self, batch: list[Any], ok: bool, error: str | None) -> None:
        stats = self.sink.stats
        if ok and self.via_provider:
            stats.provided += len(batch)
        elif ok:
            stats.exported += len(batch)
        elif self.dead is not None and not self.via_provider:
            # Refused, not answered, wrong protocol: said once.
            stats.refused_spans += len(batch)
            stats.failed_first = stats.failed_first or error
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


def import_before_the_program(options: SpanOptions) -> None:
    """
    Import, on the installing thread, the one part of OpenTelemetry that starts threads at
    import, when the SDK's gRPC exporter may send (our own sender needs none of it): the
    SDK's logs module, which that exporter imports, runs ``Resource.create()`` in a class
    body, on a thread pool. Imported on the worker, its threads would show in the program's
    ``threading.enumerate()``, and once the program has ended (a short program, the worker
    still importing) the pool refuses to start at all.
    """
    if (
        "otlp" in options.exporters
        and (options.protocol == "grpc" or options.protocol_guessed)
        and not sends_itself(options, "grpc")
    ):
        import opentelemetry.sdk._logs  # noqa: F401


def preload(options: SpanOptions) -> None:
    """
    Import what the worker needs, on the worker (see import_before_the_program for the
    exception): the SDK and its exporter for the protocol chosen, only when they are to send
    (our own senders need nothing that costs). With a guessed protocol, the exporter for the
    one the probe finds is made by the sender (``Sender._make_exporter``). The resource is made
    without ``Resource.create()`` (see build), for the same reason as above.
    """
    try:
        _imports(options)
    except SystemError:
        # CPython 3.11 keeps the AST builder's recursion depth in state that threads share: an
        # import here that builds an AST while the program's thread builds one (syncscope
        # naming the program's first lock) can fail with "AST constructor recursion depth
        # mismatch", and the spans were off for the run. Imports can be made again: once more.
        _imports(options)


def _imports(options: SpanOptions) -> None:
    own = sends_itself(options)
    if not own:
        import opentelemetry.sdk.resources
        import opentelemetry.sdk.trace
        import opentelemetry.sdk.trace.export
        import opentelemetry.trace

    if "otlp" in options.exporters and not options.protocol_guessed and not own:
        if options.protocol == "grpc":
            import_grpc_exporter()
        else:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    if options.jaeger_file is not None or "console" in options.exporters:
        from . import exporters  # noqa: F401


def import_grpc_exporter() -> None:
    """
    Import the SDK's gRPC exporter with gRPC's C core logging only errors.

    Otherwise it writes an INFO line to standard error whenever a collector goes away. The
    variable is read once, when gRPC starts: it is set only for that moment, only when the
    program has not imported gRPC itself, and only when the user did not set it.
    """
    if "grpc" in sys.modules or "GRPC_VERBOSITY" in os.environ:
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter

        return
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    try:
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401
    finally:
        os.environ.pop("GRPC_VERBOSITY", None)


def _url_for(url: str, protocol: str) -> str:
    """The URL for ``protocol`` once a probe found it: HTTP posts to ``/v1/traces``."""
    if protocol == "http/protobuf" and Url(url).path in ("", "/"):
        return url.rstrip("/") + "/v1/traces"
    return url
