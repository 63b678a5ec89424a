"""
The client side of an HTTP/2 connection (RFC 9113), as much as one request at a time needs:
what a gRPC call to an OTLP collector is (see ``grpcsend``).

Why by hand: the ``h2`` library brings ``dataclasses``, ``inspect``, ``typing`` and ``logging``
with it, about 50 ms of the program's CPU more than this module, for a state machine of which
a unary call uses a corner. What a client must do is done: the preface and settings, settings
and pings acknowledged, the server's flow-control windows kept (a request waits for
``WINDOW_UPDATE`` past them) and ours opened again once half used, frames no larger than the
server allows, padding and priority fields skipped, header blocks continued, ``RST_STREAM``
and ``GOAWAY`` said. The server's header blocks are decoded by ``header_blocks``; ours are
encoded as literals without indexing, after a dynamic table size update to 0, so that no
table of ours has to be kept.
"""

from __future__ import annotations

import contextlib
import time

from .header_blocks import HeaderBlockError, HeaderDecoder


TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Sequence


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
_HEADER_TABLE_SIZE, _ENABLE_PUSH, _INITIAL_WINDOW_SIZE, _MAX_FRAME_SIZE = 0x1, 0x2, 0x4, 0x5
_DEFAULT_WINDOW = 65_535
_MAX_WINDOW = 2**31 - 1
#: The largest frame we take (the default for SETTINGS_MAX_FRAME_SIZE, which we do not raise).
_MAX_INBOUND_FRAME = 16_384
#: Stream ids end at 2**31: well before, the connection is made anew.
MAX_STREAM_ID = 1 << 30


class StreamReset(Exception):
    """The server reset the request's stream: the error code it gave."""

    def __init__(self, code: int) -> None:
        super().__init__(f"stream reset by the server (error code {code})")
        self.code = code


class NotHttp2(ConnectionError):
    """The server's first bytes are not HTTP/2: HTTP/1.x, or TLS to a plain connection."""


class Connection:
    """
    One HTTP/2 client connection on a connected socket (TLS already negotiated to ``h2``).
    ``OSError`` (``ConnectionError`` for what the server did wrong, ``TimeoutError``) means
    the connection is done with; :class:`StreamReset` leaves it usable.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = HeaderDecoder()
        self.next_stream = 1
        #: What the server lets us send: on the connection, and per stream from its settings.
        self.window = _DEFAULT_WINDOW
        self.initial_window = _DEFAULT_WINDOW
        self.max_frame = 16_384
        #: The open stream's window, while a request is under way.
        self.stream_window = 0
        self.stream = 0
        #: Set by GOAWAY: no new request on this connection.
        self.going_away = False
        self._buffer = bytearray()
        self._first_block = True
        #: Whether the server has sent anything yet (its first bytes tell what it speaks),
        #: and why it does not speak HTTP/2, when they say so.
        self._spoke = False
        self._spoke_not_http2 = ""
        #: Bytes the server sent that our windows have not been opened again for.
        self._consumed = 0
        self._stream_consumed = 0
        settings = _setting(_ENABLE_PUSH, 0)
        sock.sendall(PREFACE + _frame(SETTINGS, 0, 0, settings))

    @property
    def usable(self) -> bool:
        return not self.going_away and self.next_stream < MAX_STREAM_ID

    def request(
        self, headers: Sequence[tuple[str, str]], body: bytes, deadline: float
    ) -> list[tuple[str, str]]:
        """Send one request, return the answer's headers and trailers (its body is dropped)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no time left for the request")
        self.sock.settimeout(remaining)  # for the sends; each read sets its own
        stream = self.stream = self.next_stream
        self.next_stream += 2
        self.stream_window = self.initial_window
        self._stream_consumed = 0
        answer: list[tuple[str, str]] = []
        try:
            sent, ended = self._send(stream, headers, body, answer, deadline)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._explained(exc) from None
        if sent < len(body):  # answered before the whole request went: the rest is not needed
            self._control(_frame(RST_STREAM, 0, stream, bytes(4)))  # NO_ERROR
        while not ended:
            ended = self._read(stream, answer, deadline)
        self.stream = 0
        return answer

    # -- frames out ----------------------------------------------------------------------------

    def _send(
        self,
        stream: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        answer: list[tuple[str, str]],
        deadline: float,
    ) -> tuple[int, bool]:
        """The request's frames, within the windows; how much of the body went, and whether
        the server answered (and ended the stream) before all of it did."""
        self._send_headers(stream, self._encode(headers), end_stream=not body)
        ended = False
        view = memoryview(body)
        sent = 0
        while sent < len(body) and not ended:
            room = min(self.window, self.stream_window, self.max_frame, len(body) - sent)
            if room <= 0:  # the server's windows are shut: wait for it to open them
                ended = self._read(stream, answer, deadline)
                continue
            last = sent + room == len(body)
            self.window -= room
            self.stream_window -= room
            self.sock.sendall(
                _frame(DATA, END_STREAM if last else 0, stream, bytes(view[sent : sent + room]))
            )
            sent += room
        return sent, ended

    def _explained(self, exc: OSError) -> OSError:
        """
        The server closed while we were sending: what it said first, if it said anything,
        tells whether it speaks HTTP/2 at all (a TLS server sends an alert and closes).
        """
        if not self._spoke:
            with contextlib.suppress(OSError):
                self.sock.settimeout(0.2)
                while len(self._buffer) < 9:
                    data = self.sock.recv(65_536)
                    if not data:
                        break
                    self._buffer += data
            with contextlib.suppress(NotHttp2):
                self._first_words(bytes(self._buffer[:9]))
            if self._spoke_not_http2:
                return NotHttp2(self._spoke_not_http2)
        return exc

    def _encode(self, headers: Sequence[tuple[str, str]]) -> bytes:
        out = bytearray()
        if self._first_block:  # no dynamic table of ours: size 0, once per connection
            out.append(0x20)
            self._first_block = False
        for name, value in headers:
            raw_name, raw_value = name.encode("ascii"), value.encode("utf-8")
            out.append(0x00)  # literal without indexing, new name
            out += _integer(len(raw_name), 7) + raw_name
            out += _integer(len(raw_value), 7) + raw_value
        return bytes(out)

    def _send_headers(self, stream: int, block: bytes, end_stream: bool) -> None:
        first, rest = block[: self.max_frame], block[self.max_frame :]
        flags = (END_STREAM if end_stream else 0) | (0 if rest else END_HEADERS)
        frames = [_frame(HEADERS, flags, stream, first)]
        while rest:
            chunk, rest = rest[: self.max_frame], rest[self.max_frame :]
            frames.append(_frame(CONTINUATION, 0 if rest else END_HEADERS, stream, chunk))
        self.sock.sendall(b"".join(frames))

    # -- frames in -----------------------------------------------------------------------------

    def _read(self, stream: int, answer: list[tuple[str, str]], deadline: float) -> bool:
        """Take one frame from the server; whether ``stream`` has ended."""
        kind, flags, on, payload = self._frame_in(deadline)
        if kind == DATA:
            ended = on == stream and bool(flags & END_STREAM)
            self._give_back(len(payload), on == stream and not ended)
            return ended
        if kind == HEADERS:
            ended = on == stream and bool(flags & END_STREAM)  # on HEADERS, not CONTINUATION
            block = _unpadded(payload, flags)
            if flags & PRIORITY_FLAG:
                block = block[5:]
            while not flags & END_HEADERS:
                kind, flags, continued, more = self._frame_in(deadline)
                if kind != CONTINUATION or continued != on:
                    raise ConnectionError("HTTP/2: a header block was not continued")
                block += more
            decoded = self._decode(block)  # every block, ours or not: the table is shared
            if on == stream:
                answer.extend(decoded)
            return ended
        if kind == SETTINGS:
            if not flags & ACK:
                self._apply_settings(payload)
                self._control(_frame(SETTINGS, ACK, 0, b""))
            return False
        if kind == PING:
            if not flags & ACK:
                self._control(_frame(PING, ACK, 0, payload[:8]))
            return False
        if kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & _MAX_WINDOW
            if on == 0:
                self.window += increment
            elif on == stream:
                self.stream_window += increment
            return False
        if kind == RST_STREAM and on == stream:
            raise StreamReset(int.from_bytes(payload[:4], "big"))
        if kind == GOAWAY:
            self.going_away = True
            last = int.from_bytes(payload[:4], "big") & _MAX_WINDOW
            if stream > last:  # ours was not taken: it may go again, on a new connection
                raise ConnectionResetError("the server went away (GOAWAY) before the request")
            return False
        if kind == PUSH_PROMISE:
            raise ConnectionError("HTTP/2: a push promise, though pushes were turned off")
        return False  # PRIORITY, RST_STREAM of another stream, unknown kinds: ignored

    def _frame_in(self, deadline: float) -> tuple[int, int, int, bytes]:
        head = self._take(9, deadline)
        if not self._spoke:
            self._first_words(head)
        length = int.from_bytes(head[:3], "big")
        if length > _MAX_INBOUND_FRAME:
            raise ConnectionError(f"HTTP/2: a frame of {length} bytes, past the size allowed")
        kind, flags = head[3], head[4]
        on = int.from_bytes(head[5:9], "big") & _MAX_WINDOW
        return kind, flags, on, self._take(length, deadline)

    def _first_words(self, head: bytes) -> None:
        """The server's first bytes: raise NotHttp2 if they are not HTTP/2 at all."""
        if len(head) < 2:
            return
        self._spoke = True
        if head.startswith(b"HTTP/"):
            self._spoke_not_http2 = "the server answers HTTP/1.x, not HTTP/2 (gRPC)"
        elif head[0] in (0x15, 0x16) and head[1] == 0x03:  # a TLS record: alert, handshake
            self._spoke_not_http2 = "the server speaks TLS: give the endpoint as https://"
        else:
            return
        raise NotHttp2(self._spoke_not_http2)

    def _last_words(self) -> None:
        """
        The server closed before a whole frame came: what it sent, if anything, may say it
        does not speak HTTP/2 (a TLS alert is 7 bytes, shorter than a frame's head).
        """
        if not self._spoke:
            self._first_words(bytes(self._buffer[:9]))

    def _take(self, size: int, deadline: float) -> bytes:
        buffer = self._buffer
        while len(buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65_536)
            except ConnectionResetError:
                self._last_words()
                raise
            if not data:
                self._last_words()
                raise ConnectionResetError("the server closed the connection")
            buffer += data
        taken = bytes(buffer[:size])
        del buffer[:size]
        return taken

    def _decode(self, block: bytes) -> list[tuple[str, str]]:
        try:
            return self.decoder.decode(block)
        except HeaderBlockError as exc:
            raise ConnectionError(f"HTTP/2: bad header block ({exc})") from None

    def _apply_settings(self, payload: bytes) -> None:
        for at in range(0, len(payload) - len(payload) % 6, 6):
            name = int.from_bytes(payload[at : at + 2], "big")
            value = int.from_bytes(payload[at + 2 : at + 6], "big")
            if name == _INITIAL_WINDOW_SIZE:
                if value > _MAX_WINDOW:
                    raise ConnectionError("HTTP/2: a window past 2**31 - 1")
                if self.stream:
                    self.stream_window += value - self.initial_window
                self.initial_window = value
            elif name == _MAX_FRAME_SIZE:
                self.max_frame = max(16_384, min(value, 16_777_215))
            # HEADER_TABLE_SIZE is for an encoder's dynamic table, which ours never uses.

    def _give_back(self, length: int, on_stream: bool) -> None:
        """
        What the server sent counts against our windows: open them again once half is used
        (the connection's, and the open stream's): a gRPC answer of a few bytes costs no write.
        """
        self._consumed += length
        if on_stream:
            self._stream_consumed += length
        frames = b""
        if self._consumed >= _DEFAULT_WINDOW // 2:
            frames += _frame(WINDOW_UPDATE, 0, 0, self._consumed.to_bytes(4, "big"))
            self._consumed = 0
        if on_stream and self._stream_consumed >= _DEFAULT_WINDOW // 2:
            update = self._stream_consumed.to_bytes(4, "big")
            frames += _frame(WINDOW_UPDATE, 0, self.stream, update)
            self._stream_consumed = 0
        if frames:
            self._control(frames)

    def _control(self, frames: bytes) -> None:
        """
        Acknowledgements and window updates, written while an answer is read: a server that
        closed after its answer (and a GOAWAY) refuses them, and the answer is still to be read
        from our side of the socket. The connection is not used again.
        """
        try:
            self.sock.sendall(frames)
        except OSError:
            self.going_away = True


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload
    )


def _setting(name: int, value: int) -> bytes:
    return name.to_bytes(2, "big") + value.to_bytes(4, "big")


def _unpadded(payload: bytes, flags: int) -> bytes:
    if not flags & PADDED:
        return payload
    padding = payload[0]
    if padding >= len(payload):
        raise ConnectionError("HTTP/2: more padding than frame")
    return payload[1 : len(payload) - padding]


def _integer(value: int, prefix_bits: int) -> bytes:
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1), the prefix's other bits 0."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
