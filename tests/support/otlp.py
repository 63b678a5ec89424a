"""Real OTLP trace receivers (gRPC and HTTP) on loopback, for tests.

The receivers keep their own bookkeeping on ``_thread`` and ``_queue``
primitives only: the test process may have replaced the ``threading`` and
``queue`` classes with instrumented ones, and a receiver must neither show up
in nor depend on what it is observing. The servers' own machinery (gRPC's
thread pool, ``socketserver``) still uses ``threading``; that is accepted.
"""

from __future__ import annotations

import _queue
import _thread
import base64
import contextlib
import gzip
import json
import random
import socketserver
import threading
import time
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


__all__ = [
    "OtlpGrpcReceiver",
    "OtlpHttpReceiver",
    "ReceivedLink",
    "ReceivedSpan",
    "decode_any_value",
    "decode_attributes",
    "decode_request",
    "parse_json_request",
]

_LOOPBACK = "127.0.0.1"
TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Upper bound on one wait in wait_for_spans: a wake-up consumed by another
# waiter then costs at most this much latency instead of a missed deadline.
_POLL_SECONDS = 0.05


# --------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class ReceivedLink:
    """A span link as received: ids in lowercase hex."""

    trace_id: str
    span_id: str
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived at a receiver, decoded to plain Python values.

    Ids are lowercase hex; ``kind`` and ``status_code`` are the OTLP enum
    numbers (``Span.SpanKind``, ``Status.StatusCode``).
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    links: list[ReceivedLink]
    resource: dict[str, object]
    scope_name: str
    status_code: int
    status_message: str


# Fields whose value is already the Python value we want.
_SCALAR_FIELDS = frozenset(
    {"string_value", "bool_value", "int_value", "double_value", "bytes_value"}
)


def decode_any_value(value: AnyValue) -> object:
    """Convert an OTLP ``AnyValue`` to str/bool/int/float/bytes/list/dict (or None if unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _SCALAR_FIELDS:
        return getattr(value, kind)
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    # e.g. string_value_strindex: an index into a dictionary that only the
    # profiles signal carries, so it cannot be resolved for traces.
    raise ValueError(f"unsupported AnyValue field {kind!r}")


def decode_attributes(attributes: Any) -> dict[str, object]:
    """Convert a repeated ``KeyValue`` field to a dict."""
    pairs = cast("list[KeyValue]", attributes)
    return {pair.key: decode_any_value(pair.value) for pair in pairs}


def _hex_or_none(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def decode_request(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Flatten an export request into its spans, in the order they were sent."""
    decoded: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                links = [
                    ReceivedLink(
                        trace_id=link.trace_id.hex(),
                        span_id=link.span_id.hex(),
                        attributes=decode_attributes(link.attributes),
                    )
                    for link in span.links
                ]
                decoded.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=_hex_or_none(span.parent_span_id),
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=decode_attributes(span.attributes),
                        links=links,
                        # Each span gets its own copy: the dataclass is frozen
                        # but a dict is not, and spans must not alias.
                        resource=dict(resource),
                        scope_name=scope_name,
                        status_code=span.status.code,
                        status_message=span.status.message,
                    )
                )
    return decoded


# OTLP/JSON writes ids as hex, but json_format expects bytes fields as base64.
_ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _hex_ids_to_base64(node: object) -> None:
    if isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    elif isinstance(node, dict):
        for key, item in node.items():
            size = _ID_FIELDS.get(key)
            if size is not None and isinstance(item, str) and len(item) == 2 * size:
                # Not hex: leave it for json_format to judge.
                with contextlib.suppress(ValueError):
                    node[key] = base64.b64encode(bytes.fromhex(item)).decode("ascii")
            else:
                _hex_ids_to_base64(item)


def parse_json_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, camelCase or snake_case names)."""
    document = json.loads(body)
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    json_format.ParseDict(document, request, ignore_unknown_fields=True)
    return request


# --------------------------------------------------------------------------
# Shared receiver base

_StatusT = TypeVar("_StatusT")

#: Where the kernel's ephemeral ports begin when it does not say (Linux's default).
_EPHEMERAL_LOW = 32768
#: The lowest port a receiver takes on its own: above the well-known services' usual ports.
_LOWEST_PORT = 20000


def _ports_below_ephemeral(tries: int = 20) -> list[int]:
    """``tries`` ports at random between 20000 and the ephemeral range (none if it begins lower)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ports:
            low = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux
        low = _EPHEMERAL_LOW
    if low - _LOWEST_PORT < tries:
        return []
    return random.sample(range(_LOWEST_PORT, low), tries)


class _OtlpReceiver(Generic[_StatusT]):
    """Bookkeeping shared by both transports; subclasses bind and serve."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._wakeups: _queue.SimpleQueue[None] = _queue.SimpleQueue()
        self._export_requests: list[ExportTraceServiceRequest] = []
        self._spans: list[ReceivedSpan] = []
        self._rejected = 0
        self._failure: tuple[_StatusT, float | None] | None = None
        self._slow: tuple[str, float] | None = None
        self._port: int | None = None
        self._running = False

    # Lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start serving. After a ``stop()`` this rebinds the same port, so the endpoint holds."""
        if self._running:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._port = self._serve_first() if self._port is None else self._serve(self._port)
        self._running = True
        return self

    def _serve_first(self) -> int:
        """
        Serve on a port below the kernel's ephemeral range: none the kernel hands out by itself
        (to a ``bind`` to port 0 or an outgoing connection), so that the port this receiver
        frees at ``stop()`` is still free at ``start()``. An ephemeral one was once taken
        meanwhile, by another suite's receiver, with both running at once.
        """
        for port in _ports_below_ephemeral():
            with contextlib.suppress(OSError):  # taken: the next
                return self._serve(port)
        return self._serve(0)

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        if not self._running:
            return
        self._running = False
        self._shutdown()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self, port: int) -> int:
        """Bind 127.0.0.1:port (0 for any), start serving, return the bound port."""
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    # Addressing ------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the receiver is currently accepting connections."""
        return self._running

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{_LOOPBACK}:{self.port}"

    # Received data ---------------------------------------------------------

    @property
    def requests(self) -> int:
        """Number of export requests accepted (rejected ones are not counted)."""
        with self._lock:
            return len(self._export_requests)

    @property
    def rejected(self) -> int:
        """Number of export requests refused because of ``set_failing``."""
        with self._lock:
            return self._rejected

    def export_requests(self) -> list[ExportTraceServiceRequest]:
        """The accepted requests as received (do not mutate them)."""
        with self._lock:
            return list(self._export_requests)

    def spans(self) -> list[ReceivedSpan]:
        """Snapshot of every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def clear(self) -> None:
        """Forget everything received and the rejected count."""
        with self._lock:
            self._export_requests.clear()
            self._spans.clear()
            self._rejected = 0

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Block until at least ``count`` spans arrived and return them all.

        Raises ``TimeoutError`` (naming what did arrive) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._spans) >= count:
                    return list(self._spans)
                have = [span.name for span in self._spans]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{type(self).__name__} expected {count} span(s) within {timeout}s, "
                    f"got {len(have)}: {have}"
                )
            with contextlib.suppress(_queue.Empty):
                self._wakeups.get(timeout=min(remaining, _POLL_SECONDS))

    # Failure injection -----------------------------------------------------

    def set_failing(self, status: _StatusT | None, *, retry_after: float | None = None) -> None:
        """Refuse later exports with ``status``; ``None`` accepts them again.

        ``retry_after`` (seconds) is sent as the server's retry hint, which the
        SDK exporters honour instead of their exponential backoff.
        """
        with self._lock:
            self._failure = None if status is None else (status, retry_after)

    def _take_failure(self) -> tuple[_StatusT, float | None] | None:
        """The failure to answer with, counting the rejection; None to accept."""
        with self._lock:
            if self._failure is not None:
                self._rejected += 1
            return self._failure

    def reply_slowly_to(self, span_name: str, seconds: float) -> None:
        """
        A slow collector: hold the answer to an export that holds ``span_name`` for
        ``seconds`` (after its spans are received), as one behind on its work would.
        """
        with self._lock:
            self._slow = (span_name, seconds)

    def _record(self, request: ExportTraceServiceRequest) -> None:
        decoded = decode_request(request)
        with self._lock:
            self._export_requests.append(request)
            self._spans.extend(decoded)
            slow = self._slow
        self._wakeups.put(None)
        if slow is not None and any(span.name == slow[0] for span in decoded):
            time.sleep(slow[1])


# --------------------------------------------------------------------------
# gRPC


def abort_with_retry_info(
    context: grpc.ServicerContext, code: grpc.StatusCode, why: str, retry_after: float | None
) -> None:
    """End the call with ``code``, the server's delay (RetryInfo) in its trailers if given."""
    if retry_after is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(round(retry_after * 1e9))
        context.set_trailing_metadata((("google.rpc.retryinfo-bin", info.SerializeToString()),))
    context.abort(code, why)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpGrpcReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        failure = self._receiver._take_failure()
        if failure is not None:
            code, retry_after = failure
            abort_with_retry_info(context, code, "receiver set to fail", retry_after)
        self._receiver._record(request)
        return ExportTraceServiceResponse()


class OtlpGrpcReceiver(_OtlpReceiver[grpc.StatusCode]):
    """OTLP/gRPC trace receiver on 127.0.0.1.

    Give ``endpoint`` to the gRPC ``OTLPSpanExporter`` (with ``insecure=True``).
    """

    def __init__(self, max_workers: int = 4) -> None:
        super().__init__()
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None

    def _serve(self, port: int) -> int:
        executor = futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="otlp-grpc-receiver"
        )
        server = grpc.server(
            executor,
            # Without this, a rebind after stop() could share the port with
            # whoever took it meanwhile instead of failing.
            options=[("grpc.so_reuseport", 0)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        try:
            bound = server.add_insecure_port(f"{_LOOPBACK}:{port}")
        except RuntimeError as error:
            raise OSError(f"cannot bind {_LOOPBACK}:{port}: {error}") from error
        if bound == 0:  # older grpc reports a failed bind this way
            raise OSError(f"cannot bind {_LOOPBACK}:{port}")
        server.start()
        self._server, self._executor = server, executor
        return int(bound)

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # grace=None aborts in-flight calls; wait until the listener is closed.
            server.stop(grace=None).wait(timeout=10)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)  # grpc leaves its worker pool to the caller

    def set_failing(
        self,
        status: grpc.StatusCode | None = grpc.StatusCode.UNAVAILABLE,
        *,
        retry_after: float | None = None,
    ) -> None:
        """Answer later exports with ``status`` (default UNAVAILABLE); ``None`` to accept again."""
        super().set_failing(status, retry_after=retry_after)


# --------------------------------------------------------------------------
# HTTP


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: OtlpHttpReceiver

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a reverse DNS lookup
        # that can stall for seconds where DNS is unreachable; a name is not needed.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _TraceHandler(BaseHTTPRequestHandler):
    # HTTP/1.0 closes every connection after its response, so no kept-alive
    # connection outlives stop() and keeps being served.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self._reply(HTTPStatus.NOT_FOUND, b"not found\n")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_found

    def do_POST(self) -> None:
        if urlsplit(self.path).path != TRACES_PATH:
            self._not_found()
            return
        try:
            request, content_type = self._read_request()
        except _BadRequest as error:
            self._reply(error.status, f"{error}\n".encode())
            return

        receiver = cast(_HttpServer, self.server).receiver
        failure = receiver._take_failure()
        if failure is not None:
            status, retry_after = failure
            # The OTLP spec puts a google.rpc.Status in failure bodies.
            unavailable = status == HTTPStatus.SERVICE_UNAVAILABLE
            error_body = status_pb2.Status(
                code=code_pb2.UNAVAILABLE if unavailable else code_pb2.UNKNOWN,
                message="receiver set to fail",
            )
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            self._reply(status, self._encode(error_body, content_type), content_type, headers)
            return

        receiver._record(request)
        response = self._encode(ExportTraceServiceResponse(), content_type)
        self._reply(HTTPStatus.OK, response, content_type)

    def _read_request(self) -> tuple[ExportTraceServiceRequest, str]:
        """Read, decompress and decode the body; returns it with its content type."""
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "a valid Content-Length is required")
        body = self.rfile.read(int(length))

        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("identity", "none"):
                raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"encoding {encoding!r}")
        except (OSError, EOFError, zlib.error) as error:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"cannot decompress: {error}") from error

        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == PROTOBUF:
                return ExportTraceServiceRequest.FromString(body), content_type
            if content_type == JSON:
                return parse_json_request(body), content_type
        except (DecodeError, ValueError, json_format.ParseError) as error:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"cannot decode: {error}") from error
        raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"content type {content_type!r}")

    @staticmethod
    def _encode(message: Any, content_type: str) -> bytes:
        if content_type == JSON:
            return str(json_format.MessageToJson(message)).encode()
        return cast(bytes, message.SerializeToString())


class OtlpHttpReceiver(_OtlpReceiver[int]):
    """OTLP/HTTP trace receiver on 127.0.0.1, serving POST /v1/traces.

    Give ``traces_endpoint`` to the HTTP ``OTLPSpanExporter``, or ``endpoint``
    to anything that appends ``/v1/traces`` itself (``OTEL_EXPORTER_OTLP_ENDPOINT``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def traces_endpoint(self) -> str:
        """Full URL of the traces path, ``http://127.0.0.1:PORT/v1/traces``."""
        return self.endpoint + TRACES_PATH

    def _serve(self, port: int) -> int:
        server = _HttpServer((_LOOPBACK, port), _TraceHandler)
        server.receiver = self
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"otlp-http-receiver-{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()  # closes the listening socket
        if thread is not None:
            thread.join(timeout=10)

    def set_failing(
        self,
        status: int | None = HTTPStatus.SERVICE_UNAVAILABLE,
        *,
        retry_after: float | None = None,
    ) -> None:
        """Answer later exports with HTTP ``status`` (default 503); ``None`` to accept again."""
        super().set_failing(status, retry_after=retry_after)
