"""
OTLP over gRPC with our encoded request bodies, sent on a bare gRPC channel.

Why not the SDK's gRPC exporter (the default protocol, and Jaeger's): our spans are encoded
already (see ``otlp``), and a gRPC channel takes bytes as they are when it is given no
serializer. The exporter would parse them back into protobuf messages only to serialize them
again, and loading it costs the program about 270 ms of CPU on its interpreter (the SDK's
trace, metrics, logs and resources modules, then gRPC); worse, its logs module starts threads
at import, so it had to be imported before the program's first line (about 95 ms of every
start-up). This module imports nothing but ``grpc`` (about 125 ms, most of it ``asyncio``,
which gRPC's core needs), on the sending thread, once the program runs.

What is kept of the exporter's behaviour (opentelemetry-exporter-otlp-proto-grpc 1.x), read from
its source: the same variables, ``OTEL_EXPORTER_OTLP_TRACES_*`` first, then
``OTEL_EXPORTER_OTLP_*``: ``HEADERS`` (when ``install()`` is given none), ``TIMEOUT`` (in
seconds, 10 by default: one export, retries included), ``COMPRESSION`` (gzip or none),
``INSECURE``, ``CERTIFICATE`` with ``CLIENT_KEY`` and ``CLIENT_CERTIFICATE`` (``https``, or
not insecure: TLS); the channel's user agent; retries of the codes it retries (or those of
``OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES``) after ``2**n`` seconds (20% jitter)
or the server's ``RetryInfo``, at most 6 attempts, never past the timeout; a new channel after
the first ``UNAVAILABLE``; ``shutdown`` cuts a back-off short and closes the channel.

What it does not do, and when the exporter is used instead (see ``post.needs_the_exporter``):
the exporter's credential provider entry points.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import random
import sys
import time
from collections.abc import Mapping

from .options import parse_headers
from .urls import Url


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The one method an OTLP trace receiver serves.
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: The exporter's retryable codes, by name (grpc is imported by the sending thread only).
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
_RETRYABLE_VARIABLE = "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES"
_MAX_ATTEMPTS = 6
_DEFAULT_TIMEOUT = 10.0
_JITTER = 0.2
_USER_AGENT = "OTel-OTLP-Exporter-Python/syncscope"


def _variable(name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``, else None."""
    environ = os.environ
    for full in (f"OTEL_EXPORTER_OTLP_TRACES_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        if full in environ:
            return environ[full]
    return None


def import_grpc() -> Any:
    """
    ``grpc``, imported with gRPC's C core logging only errors.

    Otherwise it writes an INFO line to standard error whenever a collector goes away. The
    variable is read once, when gRPC starts: it is set only for that moment, only when the
    program has not imported gRPC itself, and only when the user did not set it.
    """
    if "grpc" in sys.modules or "GRPC_VERBOSITY" in os.environ:
        import grpc  # type: ignore[import-untyped]  # grpcio ships no type hints

        return grpc
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    try:
        import grpc
    finally:
        os.environ.pop("GRPC_VERBOSITY", None)
    return grpc


class GrpcSender:
    """
    Sends encoded ``ExportTraceServiceRequest`` bodies to one OTLP/gRPC endpoint, over one
    channel. Used by one thread at a time; :meth:`shutdown` may come from another.
    Raises what the channel's options or credentials make of bad settings (ValueError,
    OSError for a certificate file that is not there), said by the caller once.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        from .post import ExportError  # the error HttpSender raises: the caller takes both

        self._error = ExportError
        self.grpc = grpc = import_grpc()
        parts = Url(url)
        self.target = parts.netloc or url
        self.insecure = _insecure(parts.scheme)
        self.credentials = None if self.insecure else _credentials(grpc)
        timeout = _variable("TIMEOUT")
        try:
            self.timeout = float(timeout) if timeout is not None else _DEFAULT_TIMEOUT
        except ValueError:
            self.timeout = _DEFAULT_TIMEOUT
        compression = (_variable("COMPRESSION") or "none").strip().lower()
        if compression not in ("gzip", "none"):
            raise ValueError(f"unsupported OTLP compression {compression!r} for gRPC")
        self.compression = (
            grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        )
        if headers is None:
            with contextlib.suppress(ValueError):  # the exporter skips what it cannot parse
                headers = parse_headers(_variable("HEADERS"))
        # gRPC metadata keys are lower case; the channel refuses others.
        self.metadata = tuple((key.lower(), value) for key, value in (headers or {}).items())
        self.retryable = _retryable_codes(grpc)
        self._channel: Any = None
        self._export: Any = None
        self._open()
        self._closed = False
        # Released by shutdown(): ends a back-off at once.
        self._stop = _thread.allocate_lock()
        self._stop.acquire()

    def _open(self) -> None:
        grpc = self.grpc
        options = [("grpc.primary_user_agent", _USER_AGENT)]
        if self.credentials is None:
            channel = grpc.insecure_channel(
                self.target, options=options, compression=self.compression
            )
        else:
            channel = grpc.secure_channel(
                self.target, self.credentials, options=options, compression=self.compression
            )
        self._channel = channel
        # No serializers: the request goes out as the bytes given, the answer comes as bytes.
        self._export = channel.unary_unary(EXPORT_METHOD)

    # -- one export ----------------------------------------------------------------------------

    def send(self, body: bytes) -> None:
        """Send one request body; retry as the exporter does; ExportError says why it failed."""
        if self._closed:
            raise self._error("the sender is shut down")
        deadline = time.monotonic() + self.timeout
        error = "no attempt made"
        for attempt in range(_MAX_ATTEMPTS):
            backoff = 2**attempt * random.uniform(1 - _JITTER, 1 + _JITTER)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self._export(body, metadata=self.metadata, timeout=remaining)
                return
            except self.grpc.RpcError as exc:
                code = _code_name(exc)
                error = _describe(exc, code, self.target)
                hinted = _retry_delay(exc)
                if hinted is not None:
                    backoff = hinted
                if code == "UNAVAILABLE" and attempt == 0 and not self._closed:
                    self._reopen()  # the exporter's way back to a collector that restarted
                if code not in self.retryable:
                    raise self._error(error) from None
            if self._closed:
                break
            if attempt + 1 == _MAX_ATTEMPTS or backoff > deadline - time.monotonic():
                break
            if self._stop.acquire(timeout=backoff):
                break  # shut down meanwhile
        raise self._error(error)

    def _reopen(self) -> None:
        with contextlib.suppress(Exception):
            self._channel.close()
        self._open()

    def shutdown(self) -> None:
        """No more exports: end a back-off and close the channel (from any thread)."""
        self._closed = True
        with contextlib.suppress(RuntimeError):  # released already
            self._stop.release()
        with contextlib.suppress(Exception):
            self._channel.close()


def _insecure(scheme: str) -> bool:
    """As the exporter decides: https never is; else the variables say; else http is."""
    if scheme == "https":
        return False
    environ = os.environ
    for name in ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"):
        if name in environ:
            return environ[name].strip().lower() == "true"
    return scheme == "http"


def _credentials(grpc: Any) -> Any:
    """
    TLS credentials as the exporter makes them: the CA, client key and certificate of
    ``OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`` and its fellows if it is set, else of
    ``OTEL_EXPORTER_OTLP_CERTIFICATE`` and its fellows, else the system's CAs.
    """
    environ = os.environ
    for prefix in ("OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_"):
        if environ.get(prefix + "CERTIFICATE"):
            return grpc.ssl_channel_credentials(
                root_certificates=_read(environ.get(prefix + "CERTIFICATE")),
                private_key=_read(environ.get(prefix + "CLIENT_KEY")),
                certificate_chain=_read(environ.get(prefix + "CLIENT_CERTIFICATE")),
            )
    return grpc.ssl_channel_credentials()


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as file:
        return file.read()


def _retryable_codes(grpc: Any) -> frozenset[str]:
    value = os.environ.get(_RETRYABLE_VARIABLE, "").strip()
    if not value:
        return _RETRYABLE
    names = frozenset(part.strip().upper() for part in value.split(",") if part.strip())
    unknown = sorted(names.difference(code.name for code in grpc.StatusCode))
    if unknown:
        raise ValueError(f"unknown gRPC status {unknown[0]!r} in {_RETRYABLE_VARIABLE}")
    return names


def _code_name(exc: Any) -> str:
    with contextlib.suppress(Exception):
        return str(exc.code().name)
    return "UNKNOWN"


def _describe(exc: Any, code: str, target: str) -> str:
    details = ""
    with contextlib.suppress(Exception):
        details = (exc.details() or "").strip().splitlines()[0]
    return f"gRPC {code} from {target}" + (f": {details}" if details else "")


def _retry_delay(exc: Any) -> float | None:
    """The server's ``google.rpc.RetryInfo`` delay in seconds, if its trailers carry one."""
    try:
        trailers = exc.trailing_metadata() or ()
    except Exception:
        return None
    for key, value in trailers:
        if key == "google.rpc.retryinfo-bin" and isinstance(value, bytes):
            try:
                return _duration_seconds(_field(value, 1) or b"")
            except ValueError:
                return None  # not a RetryInfo we can read: the usual back-off
    return None


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
