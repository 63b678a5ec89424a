"""
OTLP over gRPC with our encoded request bodies: one unary call on HTTP/2 (see ``http2``).

Why not the SDK's gRPC exporter (the default protocol, and Jaeger's): our spans are encoded
already (see ``otlp``), and a gRPC call is one HTTP/2 POST of the request, framed with a
5-byte prefix, answered with a status in the trailers. The exporter would parse our requests
back into protobuf messages only to serialize them again, and loading it costs the program
about 270 ms of CPU on its interpreter (the SDK's trace, metrics, logs and resources modules,
then gRPC, whose import alone is 125 ms, most of it ``asyncio``); worse, its logs module starts
threads at import, so it had to be imported before the program's first line. Our HTTP/2
client costs a few milliseconds, on the sending thread, once there is a span to send.

What is kept of the exporter's behaviour (opentelemetry-exporter-otlp-proto-grpc 1.x), read from
its source: the same variables, ``OTEL_EXPORTER_OTLP_TRACES_*`` first, then
``OTEL_EXPORTER_OTLP_*``: ``HEADERS`` (when ``install()`` is given none; parsed liberally, a
part that does not parse skipped, the others kept), ``TIMEOUT`` (in seconds, 10 by default,
0 meaning the next variable: one export, retries included), ``COMPRESSION`` (gzip or none),
``INSECURE``, ``CERTIFICATE`` with ``CLIENT_CERTIFICATE``/``CLIENT_KEY`` (TLS for ``https``,
or when not insecure; each variable read on its own, where the exporter takes the three from
the traces variables only when the traces certificate is set); its user agent's product
(``OTel-OTLP-Exporter-Python/syncscope``, with no gRPC version); retries of the codes it
retries (or those of ``OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES``) after ``2**n``
seconds (20% jitter) or the server's ``RetryInfo``, at most 6 attempts, never past the
timeout; a connection that fails is made anew; ``shutdown`` cuts a back-off or a handshake
short. HTTP statuses, stream resets and connection errors become gRPC codes as gRPC's own
clients map them (a refused connection is ``UNAVAILABLE``, a refused stream goes again at
once); a header name or value HTTP/2 refuses is not sent.

What it does not do, and when the exporter is used instead (see ``post.needs_the_exporter``):
proxies (gRPC honours ``grpc_proxy``, ``https_proxy`` and friends) and the exporter's
credential provider entry points.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from .transport import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Transport,
    ascii_host,
    describe_os_error,
    tls_context,
    variable,
)
from .urls import Url


TYPE_CHECKING = False
if TYPE_CHECKING:  # http2 is imported by the sending thread, once there is a span to send
    from .http2 import Connection


#: The one method an OTLP trace receiver serves.
EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: gRPC's status codes, by number (the exporter names them so in its variable).
CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
_RETRYABLE = frozenset(
    (
        "CANCELLED",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNAVAILABLE",
        "DATA_LOSS",
    )
)
#: An HTTP status without a gRPC one, as gRPC's clients read it.
_HTTP_TO_CODE = {
    400: "INTERNAL",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "UNIMPLEMENTED",
    429: "UNAVAILABLE",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "UNAVAILABLE",
}
_RETRYABLE_VARIABLE = "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES"


class _CallFailed(Exception):
    """One attempt that failed: its gRPC code, why in one line, the server's delay if any."""

    def __init__(self, code: str, why: str, delay: float | None = None) -> None:
        super().__init__(why)
        self.code = code
        self.delay = delay


class GrpcSender(Transport):
    """
    Sends encoded ``ExportTraceServiceRequest`` bodies to one OTLP/gRPC endpoint, over one
    kept HTTP/2 connection. Used by one thread at a time; :meth:`shutdown` may come from another.
    Raises ValueError for settings the exporter would refuse, said by the caller once.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        parts = Url(url)
        self.tls = not _insecure(parts.scheme)
        # As gRPC: a target without a port is on 443.
        super().__init__(parts.hostname or "localhost", parts.port or 443)
        self.where = f"{self.host}:{self.port}"
        netloc_host = f"[{self.host}]" if ":" in self.host else self.host
        self.timeout = _timeout()
        compression = (variable("COMPRESSION") or "none").lower()
        if compression not in ("gzip", "none"):
            raise ValueError(f"unsupported OTLP compression {compression!r} for gRPC")
        self.gzip = compression == "gzip"
        if not headers:  # as the exporter: none given (or none at all), the variables'
            headers = _parsed_liberally(variable("HEADERS") or "")
        self.retryable = _retryable_codes()
        self._head = [
            (":method", "POST"),
            (":scheme", "https" if self.tls else "http"),
            (":path", EXPORT_PATH),
            (":authority", f"{netloc_host}:{self.port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", USER_AGENT),
            ("grpc-accept-encoding", "identity,gzip"),
            *((("grpc-encoding", "gzip"),) if self.gzip else ()),
            # gRPC metadata keys are lower case; reserved names are not the caller's, and a
            # name or value HTTP/2 refuses would have the server reset every call.
            *(
                (key.lower(), value)
                for key, value in headers.items()
                if _valid_header(key, value) and key.lower() not in _RESERVED
            ),
        ]
        self._connection: Connection | None = None

    # -- one export ----------------------------------------------------------------------------

    def send(self, body: bytes) -> None:
        """Send one request body; retry as the exporter does; ExportError says why it failed."""
        message = _framed(body, self.gzip)
        deadline = time.monotonic() + self.timeout

        def attempt() -> tuple[str, bool, float | None] | None:
            try:
                self._call(message, deadline)
            except _CallFailed as failed:
                return str(failed), failed.code in self.retryable, failed.delay
            return None

        self.retried(attempt, deadline)

    def _call(self, message: bytes, deadline: float) -> None:
        """One attempt: on the kept connection, then (once, at once) on a new one."""
        from .http2 import NotHttp2

        reused = self._connection is not None
        try:
            self._call_once(message, deadline)
        except NotHttp2 as exc:  # no use asking again: said at once, as gRPC says it
            self._drop()
            raise _CallFailed("INTERNAL", f"{exc} ({self.where})") from None
        except OSError as exc:
            self._drop()
            if not reused or self._closed or deadline - time.monotonic() <= 0:
                raise self._unreachable(exc) from None
            try:
                self._call_once(message, deadline)
            except OSError as again:
                self._drop()
                raise self._unreachable(again) from None

    def _unreachable(self, exc: OSError) -> _CallFailed:
        """A connection that failed, as gRPC codes it: UNAVAILABLE, or DEADLINE_EXCEEDED."""
        code = "DEADLINE_EXCEEDED" if isinstance(exc, TimeoutError) else "UNAVAILABLE"
        return _CallFailed(code, describe_os_error(exc, self.host, self.port))

    def _failed(self, code: str, message: str, delay: float | None = None) -> _CallFailed:
        return _CallFailed(
            code, f"gRPC {code} from {self.where}" + (f": {message}" if message else ""), delay
        )

    def _call_once(self, message: bytes, deadline: float) -> None:
        from .http2 import StreamReset

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {self.timeout:g} s")
        if self._connection is None:
            self._connect(remaining)
        connection = self._connection
        assert connection is not None
        head = [*self._head, ("grpc-timeout", grpc_timeout(remaining))]
        try:
            answer = connection.request(head, message, deadline)
        except StreamReset as exc:
            code = _RESET_TO_CODE.get(exc.code, "INTERNAL")
            # A stream the server refused before it took any of it may go again at once.
            raise self._failed(
                code, str(exc), 0.0 if exc.code == _REFUSED_STREAM else None
            ) from None
        finally:
            if self._connection is not None and not self._connection.usable:
                self._drop()
        failure = _failure(dict(answer))
        if failure is not None:
            raise self._failed(*failure)

    def _connect(self, timeout: float) -> None:
        import socket

        from .http2 import Connection

        sock = socket.create_connection((ascii_host(self.host), self.port), timeout=timeout)
        # Kept at once, so that shutdown() can cut a TLS handshake or the preface short; a
        # shutdown() that came before it did not see it, but is seen here.
        self._sock = sock
        try:
            if self._closed:
                raise ConnectionAbortedError("the sender is shut down")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                context = tls_context()
                context.set_alpn_protocols(["h2"])
                sock = context.wrap_socket(sock, server_hostname=self.host)
                self._sock = sock
                if sock.selected_alpn_protocol() != "h2":
                    raise self._failed("UNAVAILABLE", "the server does not speak HTTP/2 over TLS")
            if self._closed:
                raise ConnectionAbortedError("the sender is shut down")
            self._connection = Connection(sock)
        except BaseException:
            self._sock = None
            sock.close()
            raise

    def _drop(self) -> None:
        self._connection = None
        super()._drop()


#: What gRPC makes of an RST_STREAM's error code (doc/PROTOCOL-HTTP2.md); others: INTERNAL.
_REFUSED_STREAM = 0x7
_RESET_TO_CODE = {
    _REFUSED_STREAM: "UNAVAILABLE",
    0x8: "CANCELLED",  # CANCEL
    0xB: "RESOURCE_EXHAUSTED",  # ENHANCE_YOUR_CALM
    0xC: "PERMISSION_DENIED",  # INADEQUATE_SECURITY
}
#: The characters of an HTTP header name (RFC 9110's token), upper case folded.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
#: Headers that are gRPC's or HTTP/2's own, never taken from the user's.
_RESERVED = frozenset(
    ("content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding", "connection", "host")
)


def _framed(body: bytes, gzip: bool) -> bytes:
    """The gRPC length-prefixed message: a compressed flag, a 4-byte length, the bytes."""
    if gzip:
        import gzip as gzip_module

        body = gzip_module.compress(body, mtime=0)
    return (b"\x01" if gzip else b"\x00") + len(body).to_bytes(4, "big") + body


def _failure(headers: dict[str, str]) -> tuple[str, str, float | None] | None:
    """None when the answer says OK; else its code, message and delay, as gRPC reads them."""
    status = headers.get(":status", "")
    grpc_status = headers.get("grpc-status")
    if grpc_status is None:
        http = int(status) if status.isdigit() else 0
        code = "UNKNOWN" if http == 200 else _HTTP_TO_CODE.get(http, "UNKNOWN")
        return code, f"HTTP {status or '?'} without a gRPC status", None
    number = int(grpc_status) if grpc_status.isdigit() else 2
    code = CODES[number] if number < len(CODES) else "UNKNOWN"
    if code == "OK":
        return None
    message = _percent_decoded(headers.get("grpc-message", "")).strip()
    return code, message.split("\n")[0], _retry_delay(headers)


def _percent_decoded(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote  # only for an error's message

    return unquote(text)


def _retry_delay(headers: dict[str, str]) -> float | None:
    """The server's ``google.rpc.RetryInfo`` delay in seconds, if its trailers carry one."""
    value = headers.get("google.rpc.retryinfo-bin")
    if value is None:
        return None
    import binascii

    try:
        data = binascii.a2b_base64(value + "=" * (-len(value) % 4))
        return _duration_seconds(_field(data, 1) or b"")
    except (ValueError, binascii.Error):
        return None  # not a RetryInfo we can read: the usual back-off


def _duration_seconds(data: bytes) -> float:
    """A ``google.protobuf.Duration`` message: seconds (field 1) and nanos (field 2)."""
    seconds = nanos = 0
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        if key & 7 != 0:
            break  # only varints here: anything else is not a Duration we know
        value, position = _varint(data, position)
        if key >> 3 == 1:
            seconds = value
        elif key >> 3 == 2:
            nanos = value
    return max(seconds + nanos / 1e9, 0.0)


def _field(data: bytes, number: int) -> bytes | None:
    """The bytes of length-delimited field ``number`` of a protobuf message, if there."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        kind = key & 7
        if kind == 2:
            length, position = _varint(data, position)
            if key >> 3 == number:
                return data[position : position + length]
            position += length
        elif kind == 0:
            _value, position = _varint(data, position)
        elif kind == 1:
            position += 8
        elif kind == 5:
            position += 4
        else:
            return None
    return None


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while position < len(data):
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
    raise ValueError("truncated varint")


def _insecure(scheme: str) -> bool:
    """As the exporter decides: https never is; else the variables say; else http is."""
    if scheme == "https":
        return False
    environ = os.environ
    for name in ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"):
        if name in environ:
            return environ[name].strip().lower() == "true"
    return scheme == "http"


def _retryable_codes() -> frozenset[str]:
    value = os.environ.get(_RETRYABLE_VARIABLE, "").strip()
    if not value:
        return _RETRYABLE
    names = frozenset(part.strip().upper() for part in value.split(",") if part.strip())
    unknown = sorted(names.difference(CODES))
    if unknown:
        raise ValueError(f"unknown gRPC status {unknown[0]!r} in {_RETRYABLE_VARIABLE}")
    return names


def grpc_timeout(seconds: float) -> str:
    """
    The ``grpc-timeout`` header: at most 8 digits, in the finest unit they fit (a server
    refuses more: grpc-go answers INTERNAL).
    """
    for unit, per_second in (("m", 1000), ("S", 1), ("M", 1 / 60), ("H", 1 / 3600)):
        value = max(int(seconds * per_second), 1)
        if value < 100_000_000:
            return f"{value}{unit}"
    return "99999999H"


def _timeout() -> float:
    """Seconds for one export, as the exporter reads them: 0 or nothing means the next one."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        try:
            value = float(os.environ.get(name, "") or 0)
        except ValueError:
            continue
        if value > 0:
            return value
    return DEFAULT_TIMEOUT


def _parsed_liberally(value: str) -> dict[str, str]:
    """
    ``k=v,k2=v2`` as the exporter parses its variable: a part it cannot read is skipped, the
    others kept (names in lower case, both percent-decoded).
    """
    headers = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if "%" in part:
            from urllib.parse import unquote

            key, val = unquote(key), unquote(val)
        key, val = key.strip().lower(), val.strip()
        if sep and _valid_header(key, val):
            headers[key] = val
    return headers


def _valid_header(name: str, value: str) -> bool:
    return (
        bool(name)
        and set(name.lower()) <= _TOKEN
        and not any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value)
    )
