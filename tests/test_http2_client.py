"""
syncscope's gRPC sender on its own HTTP/2 client (``_sinks/spans/grpcsend.py``, ``http2.py``)
against a loopback server scripted frame by frame, for what a real gRPC server does only now
and then: a stream reset (with gRPC's codes for it, and a refused stream tried again at once),
a kept connection the server went away from between two exports, settings that shrink the
stream's window while a request is under way, the ``grpc-timeout`` header of a long timeout,
and a shutdown while the TLS handshake is stalled.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator

import hpack
import pytest

from syncscope._sinks.spans.grpcsend import GrpcSender, grpc_timeout
from syncscope._sinks.spans.transport import ExportError


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 7, 8
END_STREAM, END_HEADERS = 0x1, 0x4
PROTOCOL_ERROR, REFUSED_STREAM = 0x1, 0x7

#: What the server does with one request: the bytes it sends back, and whether it then
#: goes away (GOAWAY and close) from the connection.
Answer = Callable[[int, hpack.Encoder], tuple[bytes, bool]]


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")
    return head + payload


def ok(stream: int, encoder: hpack.Encoder) -> tuple[bytes, bool]:
    headers = encoder.encode([(":status", "200"), ("content-type", "application/grpc")])
    trailers = encoder.encode([("grpc-status", "0")])
    return (
        frame(HEADERS, END_HEADERS, stream, headers)
        + frame(DATA, 0, stream, bytes(5))  # an empty ExportTraceServiceResponse
        + frame(HEADERS, END_HEADERS | END_STREAM, stream, trailers)
    ), False


def reset(code: int) -> Answer:
    def answer(stream: int, encoder: hpack.Encoder) -> tuple[bytes, bool]:
        return frame(RST_STREAM, 0, stream, code.to_bytes(4, "big")), False

    return answer


def ok_then_go_away(stream: int, encoder: hpack.Encoder) -> tuple[bytes, bool]:
    answer, _ = ok(stream, encoder)
    last = stream.to_bytes(4, "big") + bytes(4)  # last stream taken, NO_ERROR
    return answer + frame(GOAWAY, 0, 0, last), True


class ScriptedServer:
    """Answers each gRPC request in turn as its script says; keeps what it was sent."""

    def __init__(self, answers: list[Answer], window: int | None = None) -> None:
        self.answers = answers
        #: With a window: the stream's initial window the server's SETTINGS give, each DATA
        #: frame given back (stream and connection) once read; the most the client ever had
        #: in flight past what it was allowed is kept in ``overrun``.
        self.window = window
        self.overrun = 0
        #: (connection number, request headers, message without its 5-byte prefix)
        self.requests: list[tuple[int, dict[str, str], bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._handle, args=(conn, number), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        decoder, encoder = hpack.Decoder(), hpack.Encoder()
        with conn, conn.makefile("rb") as reader:
            if reader.read(24) != PREFACE:
                return
            settings = (
                b""
                if self.window is None
                else (4).to_bytes(2, "big") + (self.window.to_bytes(4, "big"))
            )
            conn.sendall(frame(SETTINGS, 0, 0, settings))
            headers: dict[str, str] = {}
            body = b""
            stream_window = connection_window = 65_535
            acked = False  # our settings are in force once the client acknowledged them
            while True:
                head = reader.read(9)
                if len(head) < 9:
                    return
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = reader.read(length)
                if kind == HEADERS:
                    headers = {str(k): str(v) for k, v in decoder.decode(payload)}
                elif kind == SETTINGS and flags & 0x1 and self.window is not None:
                    stream_window += self.window - 65_535
                    acked = True
                elif kind == DATA:
                    body += payload
                    stream_window -= length
                    connection_window -= length
                    # Before the acknowledgement the client may go by the default window.
                    over = -min(stream_window if acked else 0, connection_window)
                    self.overrun = max(self.overrun, over)
                    if self.window is not None and length:
                        update = length.to_bytes(4, "big")
                        conn.sendall(
                            frame(WINDOW_UPDATE, 0, 0, update)
                            + frame(WINDOW_UPDATE, 0, stream, update)
                        )
                        stream_window += length
                        connection_window += length
                if kind in (HEADERS, DATA) and flags & END_STREAM:
                    with self.lock:
                        self.requests.append((number, headers, body[5:]))
                        answer = self.answers.pop(0)
                    out, going = answer(stream, encoder)
                    conn.sendall(out)
                    if going:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    headers, body = {}, b""
                    stream_window = 65_535 if self.window is None else self.window

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def script() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(answers: list[Answer], window: int | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(answers, window))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_a_reset_stream_takes_grpcs_code_and_is_not_retried(
    script: Callable[..., ScriptedServer],
) -> None:
    """gRPC reads a PROTOCOL_ERROR reset as INTERNAL, which the exporter does not retry."""
    server = script([reset(PROTOCOL_ERROR), ok])
    sender = GrpcSender(f"http://127.0.0.1:{server.port}")
    try:
        with pytest.raises(ExportError, match=r"^gRPC INTERNAL from 127\.0\.0\.1:\d+: stream"):
            sender.send(b"spans")
    finally:
        sender.shutdown()
    assert [b"spans"] == [body for _n, _h, body in server.requests]


def test_a_refused_stream_goes_again_at_once(
    script: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The usual back-off before a second attempt is 0.8 to 1.2 s: past this timeout.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.75")
    server = script([reset(REFUSED_STREAM), ok])
    sender = GrpcSender(f"http://127.0.0.1:{server.port}")
    try:
        sender.send(b"spans")
    finally:
        sender.shutdown()
    assert [b"spans", b"spans"] == [body for _n, _h, body in server.requests]


def test_a_connection_the_server_left_is_made_anew(
    script: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a GOAWAY on the kept connection, the next export connects again: nothing lost,
    nothing sent twice. The long timeout goes out in a unit that fits gRPC's 8 digits."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200000")
    server = script([ok_then_go_away, ok])
    sender = GrpcSender(f"http://127.0.0.1:{server.port}")
    try:
        sender.send(b"first")
        sender.send(b"second")
    finally:
        sender.shutdown()
    assert [(1, b"first"), (2, b"second")] == [(n, body) for n, _h, body in server.requests]
    timeouts = [headers["grpc-timeout"] for _n, headers, _body in server.requests]
    assert all(value.endswith("S") and len(value) <= 9 for value in timeouts), timeouts


@pytest.mark.parametrize("window", [1_000, 200_000])
def test_a_request_keeps_within_the_servers_windows(
    script: Callable[..., ScriptedServer], window: int
) -> None:
    """
    A server whose SETTINGS shrink (or widen) the stream window after the request began:
    the client never sends past what it is allowed, waits for WINDOW_UPDATE, and the request
    arrives whole, twice on one connection.
    """
    server = script([ok, ok], window=window)
    body = bytes(range(256)) * 800  # 204,800 bytes: past the connection's first 65,535
    sender = GrpcSender(f"http://127.0.0.1:{server.port}")
    try:
        sender.send(body)
        sender.send(body[::-1])
    finally:
        sender.shutdown()
    assert [(1, body), (1, body[::-1])] == [(n, got) for n, _h, got in server.requests]
    # What was sent before the settings were known went by the default (RFC 9113 6.9.2);
    # nothing went past a window after that, nor ever past the connection's.
    assert 0 == server.overrun


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "answers HTTP/1.x"),
        (bytes.fromhex("15030100020246"), "speaks TLS: give the endpoint as https://"),
    ],
    ids=["HTTP/1.1", "TLS"],
)
def test_a_server_that_does_not_speak_http2_is_said_so(answer: bytes, said: str) -> None:
    """What the first bytes of the answer to our preface tell, instead of a bad frame; said
    at once, from the first connection: asking again would not change the answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                accepted.append(1)
                with conn:
                    conn.recv(65_536)
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    sender = GrpcSender(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        with pytest.raises(ExportError, match=re.escape(said)):
            sender.send(b"spans")
    finally:
        sender.shutdown()
        listener.close()
    assert [1] == accepted


def test_grpc_timeout_fits_eight_digits() -> None:
    assert "10000m" == grpc_timeout(10)
    assert "1m" == grpc_timeout(0.0001)
    assert "99999999m" == grpc_timeout(99_999.999)
    assert "200000S" == grpc_timeout(200_000)
    assert "16666666M" == grpc_timeout(1e9)


def test_shutdown_cuts_a_stalled_tls_handshake_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the connection and never answers the TLS hello."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "60")
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    in_handshake = threading.Event()

    def accept() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        in_handshake.set()

    threading.Thread(target=accept, daemon=True).start()
    sender = GrpcSender(f"https://127.0.0.1:{listener.getsockname()[1]}")
    failed: list[BaseException] = []

    def send() -> None:
        try:
            sender.send(b"spans")
        except BaseException as exc:
            failed.append(exc)

    sending = threading.Thread(target=send, daemon=True)
    sending.start()
    try:
        assert in_handshake.wait(timeout=30)
        # The sender has its socket once it is connected; the handshake then waits.
        sender.shutdown()
        sending.join(timeout=30)
        assert not sending.is_alive(), "send() still waits out its 60 s timeout"
        assert [ExportError] == [type(exc) for exc in failed]
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
