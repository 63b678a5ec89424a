"""
What both of syncscope's own OTLP senders share (``post.HttpSender`` over HTTP/1.1,
``grpcsend.GrpcSender`` over HTTP/2): the exporters' variables, TLS, how a failed connection
is said, and the exporters' retries (``2**n`` seconds with 20% jitter, or the server's hint, at
most 6 attempts, never past the timeout) with a shutdown that cuts a back-off short.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import random
import time


TYPE_CHECKING = False
if TYPE_CHECKING:  # socket and ssl are imported by the sending thread, not at start-up
    import socket
    import ssl
    from collections.abc import Callable
    from typing import Any


MAX_ATTEMPTS = 6
DEFAULT_TIMEOUT = 10.0
JITTER = 0.2
USER_AGENT = "OTel-OTLP-Exporter-Python/syncscope"


def variable(name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``, else None."""
    environ = os.environ
    value = environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(
        f"OTEL_EXPORTER_OTLP_{name}"
    )
    return value.strip() if value and value.strip() else None


def ascii_host(host: str) -> Any:
    """
    The host as bytes when it is ASCII: ``getaddrinfo`` encodes a str with the ``idna`` codec,
    whose import (with ``stringprep`` and ``unicodedata``) would cost the program 6 ms.
    (``Any``: ``getaddrinfo`` takes bytes, though ``create_connection`` is typed for str.)
    """
    return host.encode("ascii") if host.isascii() else host


def tls_context() -> ssl.SSLContext:
    """
    The TLS context for the endpoint, as the exporters make it: the system's CAs, or
    ``OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE``; the client's certificate and key if given.
    """
    import ssl

    context = ssl.create_default_context(cafile=variable("CERTIFICATE"))
    client_cert = variable("CLIENT_CERTIFICATE")
    if client_cert is not None:
        context.load_cert_chain(client_cert, variable("CLIENT_KEY"))
    return context


class ExportError(Exception):
    """An export that did not go through: why, in one line."""


class Transport:
    """
    One endpoint, one connection at a time (``_sock``), used by one thread; :meth:`shutdown`
    may come from another.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._closed = False
        # Released by shutdown(): ends a back-off at once.
        self._stop = _thread.allocate_lock()
        self._stop.acquire()

    def retried(
        self, attempt: Callable[[], tuple[str, bool, float | None] | None], deadline: float
    ) -> None:
        """
        Call ``attempt`` until it returns None (done), as the exporters retry: it returns why
        it failed, whether that may be tried again, and the server's delay if it gave one.
        ExportError says why the last one failed.
        """
        if self._closed:
            raise ExportError("the sender is shut down")
        error = "no attempt made"
        for number in range(MAX_ATTEMPTS):
            backoff = 2**number * random.uniform(1 - JITTER, 1 + JITTER)
            failure = attempt()
            if failure is None:
                return
            error, retryable, delay = failure
            if not retryable:
                raise ExportError(error)
            if delay is not None:
                backoff = delay
            if self._closed:
                break
            if number + 1 == MAX_ATTEMPTS or backoff > deadline - time.monotonic():
                break
            if self._stop.acquire(timeout=backoff):
                break  # shut down meanwhile
        raise ExportError(error)

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def shutdown(self) -> None:
        """No more exports: end a back-off and close the connection (from any thread)."""
        self._closed = True
        with contextlib.suppress(RuntimeError):  # released already
            self._stop.release()
        sock = self._sock
        if sock is not None:
            import socket

            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._drop()


def describe_os_error(exc: OSError, host: str, port: int) -> str:
    import socket

    where = f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} in time"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host}: {exc.strerror or exc}"
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    if type(exc).__module__ == "ssl" or type(exc).__name__.startswith("SSL"):
        return f"TLS with {where} failed: {detail}"
    return f"{type(exc).__name__} from {where}: {detail}"
