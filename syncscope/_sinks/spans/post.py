"""
OTLP over HTTP/1.1 with protobuf bodies, sent with nothing but a socket.

Why not the SDK's HTTP exporter: our spans are encoded already (see ``otlp``), so the exporter
would only be a transport, and it is an expensive one to load on the program's interpreter:
importing it takes about 250 ms of CPU (``requests`` and ``urllib3`` most of it, then the SDK's
trace, metrics and resources modules), and making it another 100 ms, all while the program
runs and wants the GIL. On a program of a third of a second that is most of what spans cost.
``http.client`` would still pull in the ``email`` package (about 50 ms): an OTLP export is one
POST with a length and one answer, which a socket does.

What is kept of the exporter's behaviour (opentelemetry-exporter-otlp-proto-http 1.x), read from
its source: the same variables, ``OTEL_EXPORTER_OTLP_TRACES_*`` first, then
``OTEL_EXPORTER_OTLP_*``: ``HEADERS`` (added to those given to ``install()``, which win),
``TIMEOUT`` (in seconds, 10 by default: one export, retries included), ``COMPRESSION`` (gzip,
deflate or none),
``CERTIFICATE`` (the CA for https), ``CLIENT_CERTIFICATE``/``CLIENT_KEY``; its headers
(``Content-Type: application/x-protobuf``, its ``User-Agent``); a kept-alive connection retried
once at once when it went stale; retries of 429, 502, 503 and 504 and of connection errors,
after ``2**n`` seconds (20% jitter) or the server's ``Retry-After`` in seconds, at most 6
attempts, never past the timeout; ``shutdown`` cuts a back-off short.

What it does not do, and when the exporter is used instead (see :func:`needs_the_exporter`):
proxies (``requests`` honours ``HTTPS_PROXY`` and friends) and the exporter's credential
provider entry points.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Mapping

from .options import parse_headers
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
if TYPE_CHECKING:  # socket and ssl are imported by the sending thread, not at start-up
    import socket
    import ssl


_RETRYABLE = frozenset((429, 502, 503, 504))
#: Where each protocol's exporter finds a proxy (``requests``; gRPC's core), and who goes
#: around it.
_PROXY_VARIABLES = {
    "http/protobuf": ("http_proxy", "https_proxy", "all_proxy"),
    "grpc": ("grpc_proxy", "https_proxy", "http_proxy"),
}
_NO_PROXY_VARIABLES = {"http/protobuf": ("no_proxy",), "grpc": ("no_grpc_proxy", "no_proxy")}
_CREDENTIAL_VARIABLES = {
    protocol: (
        f"OTEL_PYTHON_EXPORTER_OTLP_{kind}_CREDENTIAL_PROVIDER",
        f"OTEL_PYTHON_EXPORTER_OTLP_{kind}_TRACES_CREDENTIAL_PROVIDER",
    )
    for protocol, kind in (("http/protobuf", "HTTP"), ("grpc", "GRPC"))
}


def needs_the_exporter(url: str, protocol: str = "http/protobuf") -> str | None:
    """
    Why the SDK's exporter for ``protocol`` must send to ``url`` rather than our own sender
    (:class:`HttpSender`, ``grpcsend.GrpcSender``), if so: a credential provider, or a proxy.
    """
    environ = os.environ
    for name in _CREDENTIAL_VARIABLES.get(protocol, ()):
        if environ.get(name, "").strip():
            return f"{name} is set"
    host = (Url(url).hostname or "").lower()
    # The first of the no-proxy variables that is set is the one that counts (for gRPC,
    # no_grpc_proxy, then no_proxy).
    no_proxy = next(
        (value for name in _NO_PROXY_VARIABLES.get(protocol, ()) if (value := _either(name))), ""
    )
    bypassed = no_proxy == "*" or any(
        host == entry or host.endswith("." + entry.lstrip("."))
        for entry in (part.strip().lower() for part in no_proxy.split(","))
        if entry
    )
    if bypassed:
        return None
    for name in _PROXY_VARIABLES.get(protocol, ()):
        if _either(name):
            return f"a proxy is set ({name})"
    return None


def _either(name: str) -> str:
    """A proxy variable, in lower case or upper, stripped; "" when unset."""
    environ = os.environ
    return (environ.get(name) or environ.get(name.upper()) or "").strip()


class HttpSender(Transport):
    """
    POSTs encoded ``ExportTraceServiceRequest`` bodies to one OTLP/HTTP endpoint, over one
    kept-alive connection. Used by one thread at a time; :meth:`shutdown` may come from another.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        parts = Url(url)
        self.url = url
        self.tls = parts.scheme == "https"
        super().__init__(parts.hostname or "localhost", parts.port or (443 if self.tls else 80))
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc_host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = self.port == (443 if self.tls else 80)
        host_header = netloc_host if default_port else f"{netloc_host}:{self.port}"
        timeout = variable("TIMEOUT")
        try:
            self.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
        except ValueError:
            self.timeout = DEFAULT_TIMEOUT
        compression = (variable("COMPRESSION") or "none").lower()
        self.compression = compression if compression in ("gzip", "deflate") else None
        merged = {"content-type": "application/x-protobuf", "user-agent": USER_AGENT}
        with contextlib.suppress(ValueError):  # the exporter skips what it cannot parse too
            merged.update(parse_headers(variable("HEADERS")) or {})
        merged.update({key.lower(): value for key, value in (headers or {}).items()})
        if self.compression is not None:
            merged.setdefault("content-encoding", self.compression)
        merged.pop("content-length", None)
        merged.pop("host", None)
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host_header}"]
        lines += [f"{key}: {value}" for key, value in merged.items()]
        self._head = "\r\n".join(lines).encode("latin-1", "replace")
        self._context: ssl.SSLContext | None = None

    # -- one export ----------------------------------------------------------------------------

    def send(self, body: bytes) -> None:
        """Send one request body; retry as the exporter does; ExportError says why it failed."""
        data = self._compress(body)
        deadline = time.monotonic() + self.timeout

        def attempt() -> tuple[str, bool, float | None] | None:
            try:
                status, reason, retry_after = self._post(data, deadline)
            except OSError as exc:
                return describe_os_error(exc, self.host, self.port), True, None
            if 200 <= status < 400:
                return None
            return f"HTTP {status} {reason}".strip(), status in _RETRYABLE, retry_after

        self.retried(attempt, deadline)

    def _compress(self, body: bytes) -> bytes:
        if self.compression == "gzip":
            import gzip

            return gzip.compress(body, mtime=0)
        if self.compression == "deflate":
            import zlib

            return zlib.compress(body)
        return body

    def _post(self, data: bytes, deadline: float) -> tuple[int, str, float | None]:
        """One POST: on a kept-alive connection, then (once, at once) on a new one."""
        reused = self._sock is not None
        try:
            return self._post_once(data, deadline)
        except OSError:
            self._drop()
            if not reused or self._closed or deadline - time.monotonic() <= 0:
                raise
        return self._post_once(data, deadline)

    def _post_once(self, data: bytes, deadline: float) -> tuple[int, str, float | None]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {self.timeout:g} s")
        sock = self._sock
        if sock is None:
            sock = self._sock = self._connect(remaining)
        sock.settimeout(remaining)
        sock.sendall(self._head + f"\r\ncontent-length: {len(data)}\r\n\r\n".encode("ascii") + data)
        reader = sock.makefile("rb")
        try:
            while True:
                status, reason, headers, http10 = _read_head(reader)
                if not 100 <= status < 200:
                    break
            keep = _read_body(reader, status, headers)
        finally:
            reader.close()
        connection = headers.get("connection", "").lower()
        if not keep or connection == "close" or (http10 and connection != "keep-alive"):
            self._drop()  # an HTTP/1.0 server closes after its answer unless it says otherwise
        return status, reason, _retry_after(headers.get("retry-after"))

    def _connect(self, timeout: float) -> socket.socket:
        import socket

        sock = socket.create_connection((ascii_host(self.host), self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.tls:
            return sock
        try:
            return self._tls_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = tls_context()
        return self._context


def _read_head(reader: object) -> tuple[int, str, dict[str, str], bool]:
    """The status, the reason, the headers (lower-cased names) and whether it is HTTP/1.0."""
    readline = reader.readline  # type: ignore[attr-defined]
    line = readline(65537)
    if not line:
        raise ConnectionResetError("the server closed the connection without an answer")
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP/1.x answer: {line[:40]!r}")
    status, reason = int(parts[1]), parts[2].strip() if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for _ in range(200):
        line = readline(65537)
        if line in (b"\r\n", b"\n", b""):
            return status, reason, headers, parts[0] == "HTTP/1.0"
        name, _sep, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ConnectionError("too many headers in the answer")


def _read_body(reader: object, status: int, headers: dict[str, str]) -> bool:
    """Read (and drop) the answer's body; whether the connection may be used again."""
    read, readline = reader.read, reader.readline  # type: ignore[attr-defined]
    if status in (204, 304):
        return True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = readline(65537)
            if not size_line:
                raise ConnectionResetError("the answer ended mid-chunk")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return True
            if len(read(size + 2)) < size + 2:
                raise ConnectionResetError("the answer ended mid-chunk")
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if len(read(int(length))) < int(length):
            raise ConnectionResetError("the answer ended early")
        return True
    read()  # to the end: the server closes
    return False


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; an HTTP date is left to the usual back-off."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None
