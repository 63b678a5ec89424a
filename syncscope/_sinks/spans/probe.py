"""
Is anyone there: one TCP connection to the OTLP endpoint, made on the sending thread, says
at once why an export cannot work (connection refused, no answer, TLS, the wrong protocol)
instead of the exporter retrying until the flush timeout, and tells an HTTP endpoint from a
gRPC one when the URL's port does not (any server that answers ``HTTP/1.x`` to a plain
request speaks HTTP; a gRPC server answers with HTTP/2 frames or nothing).
"""

from __future__ import annotations

from .transport import ascii_host
from .urls import Url


# socket and ssl are imported by the sending thread when it probes, not at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket


#: Seconds for the connection, and again for the answer.
PROBE_TIMEOUT = 1.0
_HINT = {"grpc": "--protocol grpc", "http/protobuf": "--protocol http/protobuf"}


def probe(
    url: str, protocol: str, guessed: bool, timeout: float = PROBE_TIMEOUT
) -> tuple[str, str | None]:
    """
    The protocol to use and None, or the protocol and why exporting to ``url`` cannot work.

    With ``guessed`` (the protocol was not given), the answer decides it.
    """
    import socket

    parts = Url(url)
    host = parts.hostname or "localhost"
    tls = parts.scheme == "https"
    # As the senders: gRPC's default port is 443 whatever the scheme (see grpcsend).
    port = parts.port or (443 if tls or protocol == "grpc" else 80)
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((ascii_host(host), port), timeout=timeout)
    except ConnectionRefusedError:
        return protocol, f"connection refused by {where}"
    except TimeoutError:
        return protocol, f"no answer from {where} within {timeout:g} s"
    except socket.gaierror as exc:
        return protocol, f"cannot resolve {host}: {exc.strerror or exc}"
    except OSError as exc:
        return protocol, f"cannot connect to {where}: {exc.strerror or exc}"
    try:
        if tls:
            import ssl

            from .transport import tls_context

            context = tls_context()
            try:
                with context.wrap_socket(sock, server_hostname=host):
                    pass
            except ssl.SSLError as exc:
                return protocol, f"TLS with {where} failed: {exc.reason or exc}"
            except OSError as exc:
                return protocol, f"TLS with {where} failed: {exc.strerror or exc}"
            return protocol, None  # the answer is encrypted: trust the protocol given
        speaks_http1 = _answers_http1(sock, host, timeout)
    finally:
        sock.close()
    if speaks_http1 is None:
        return protocol, None  # no verdict: try as configured
    if speaks_http1 == "tls":
        return protocol, f"{where} speaks TLS: give the endpoint as https://"
    found = "http/protobuf" if speaks_http1 else "grpc"
    if guessed or found == protocol:
        return found, None
    said = "answers HTTP/1.1, not gRPC" if speaks_http1 else "does not answer HTTP/1.1 (gRPC?)"
    return protocol, f"protocol mismatch: {where} {said}; try {_HINT[found]}"


def _answers_http1(sock: socket.socket, host: str, timeout: float) -> bool | str | None:
    """
    True for an HTTP/1 answer, "tls" for a TLS record (a TLS server's alert), False for
    another answer (or the door shut), None for silence.
    """
    try:
        sock.settimeout(timeout)
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = sock.recv(4096)
        if len(answer) > 1 and answer[0] in (0x15, 0x16) and answer[1] == 0x03:
            return "tls"
        # What Go's TLS servers and nginx answer a plain request with.
        if b"an HTTP request to an HTTPS server" in answer or b"sent to HTTPS port" in answer:
            return "tls"
        if answer.startswith(b"HTTP/"):
            # Read the answer to its end: a server whose reply is cut short complains.
            while sock.recv(4096):
                pass
            return True
    except TimeoutError:
        return None
    except OSError:
        return False
    return False
