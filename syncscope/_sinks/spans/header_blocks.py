"""
HPACK (RFC 7541): decoding the header blocks an HTTP/2 server sends (see ``http2``).

Why by hand: the ``hpack`` library imports ``logging`` and ``typing`` (about 15 ms of the
program's CPU, on a run that makes spans) to decode the three or four headers of a gRPC
answer. A decoder is small: integers with a prefix, strings raw or Huffman-coded, the static
table and the dynamic one the server fills. The two tables of the RFC below are checked against
``hpack``'s in the tests, and what ``hpack``'s encoder writes is decoded back there.
"""

from __future__ import annotations


#: RFC 7541 Appendix A.
STATIC_TABLE = (
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)

#: RFC 7541 Appendix B: the length in bits of the Huffman code of each symbol, 0 to 255 and
#: EOS (256). The code is canonical: codes of one length follow each other in symbol order,
#: each length's first code following on the previous length's last, so lengths are enough.
HUFFMAN_LENGTHS = bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c"
    "060a0a0c0d06080b0a0a080b080606060505050606060606060607080f060c0a"
    "0d06070707070707070707070707070707070707070707070807080d130d0e06"
    "0f05060506050606060507070606060506070605050607070707070f0b0e0d1c"
    "1416141416161617161717171717181718181617181717171715161716171718"
    "1615141616171715171616181516171715151615171617171416161617161617"
    "1a1a1413161716191a1a1a1b1b1a181913151a1b1b1a1b1815151a1a1c1b1b1b"
    "14181415161515171616191918181a171a1b1a1a1b1b1b1b1b1c1b1b1b1b1b1a"
    "1e"
)
EOS = 256
#: The most our SETTINGS let the server's dynamic table hold (HTTP/2's default: we send none).
DEFAULT_TABLE_SIZE = 4096

_huffman_codes: dict[tuple[int, int], int] | None = None


class HeaderBlockError(ValueError):
    """A header block that does not decode: the connection cannot go on."""


class HeaderDecoder:
    """Decodes one connection's header blocks, in order: they share the dynamic table."""

    def __init__(self, limit: int = DEFAULT_TABLE_SIZE) -> None:
        #: Newest first: each header, with the lengths of its name and value in bytes as
        #: they came (what the RFC sizes entries by: a name or value that is not UTF-8 does
        #: not keep its length once decoded).
        self.dynamic: list[tuple[tuple[str, str], int, int]] = []
        self.size = 0
        self.limit = limit
        self.max_size = limit

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        position = 0
        while position < len(block):
            first = block[position]
            if first & 0x80:  # indexed
                index, position = _integer(block, position, 7)
                headers.append(self._entry(index)[0])
            elif first & 0x40:  # literal, added to the table
                entry, position = self._literal(block, position, 6)
                self._add(entry)
                headers.append(entry[0])
            elif first & 0x20:  # dynamic table size update
                size, position = _integer(block, position, 5)
                if size > self.limit:
                    raise HeaderBlockError(f"table size {size} past the {self.limit} allowed")
                self.max_size = size
                self._evict(0)
            else:  # literal without indexing, or never indexed
                entry, position = self._literal(block, position, 4)
                headers.append(entry[0])
        return headers

    def _literal(
        self, block: bytes, position: int, bits: int
    ) -> tuple[tuple[tuple[str, str], int, int], int]:
        """A literal header with its lengths (as in ``dynamic``), and where the block goes on."""
        index, position = _integer(block, position, bits)
        if index:
            (name, _value), name_length, _value_length = self._entry(index)
        else:
            name, position, name_length = _string(block, position)
        value, position, value_length = _string(block, position)
        return ((name, value), name_length, value_length), position

    def _entry(self, index: int) -> tuple[tuple[str, str], int, int]:
        if 0 < index <= len(STATIC_TABLE):
            name, value = STATIC_TABLE[index - 1]
            return (name, value), len(name), len(value)  # ASCII, all of them
        at = index - len(STATIC_TABLE) - 1
        if index == 0 or at >= len(self.dynamic):
            raise HeaderBlockError(f"no header at index {index}")
        return self.dynamic[at]

    def _add(self, entry: tuple[tuple[str, str], int, int]) -> None:
        size = _size(entry)
        self._evict(size)
        if size <= self.max_size:  # a larger entry empties the table and is not added
            self.dynamic.insert(0, entry)
            self.size += size

    def _evict(self, room: int) -> None:
        while self.dynamic and self.size + room > self.max_size:
            self.size -= _size(self.dynamic.pop())


def _size(entry: tuple[tuple[str, str], int, int]) -> int:
    """An entry's size in the table (RFC 7541 4.1): its name's and value's bytes, and 32."""
    return entry[1] + entry[2] + 32


def _integer(block: bytes, position: int, bits: int) -> tuple[int, int]:
    """An integer with an N-bit prefix (RFC 7541 5.1)."""
    if position >= len(block):
        raise HeaderBlockError("the block ends inside an integer")
    limit = (1 << bits) - 1
    value = block[position] & limit
    position += 1
    if value < limit:
        return value, position
    shift = 0
    while True:
        if position >= len(block) or shift > 28:
            raise HeaderBlockError("a bad integer")
        byte = block[position]
        position += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _string(block: bytes, position: int) -> tuple[str, int, int]:
    """A string, where the block goes on, and the string's length in bytes once decoded."""
    if position >= len(block):
        raise HeaderBlockError("the block ends before a string")
    huffman = block[position] & 0x80
    length, position = _integer(block, position, 7)
    end = position + length
    if end > len(block):
        raise HeaderBlockError("a string runs past the block")
    raw = block[position:end]
    data = _huffman_decoded(raw) if huffman else raw
    return data.decode("utf-8", "replace"), end, len(data)


def _huffman_decoded(data: bytes) -> bytes:
    codes = _codes()
    out = bytearray()
    code = length = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code = (code << 1) | ((byte >> shift) & 1)
            length += 1
            symbol = codes.get((length, code))
            if symbol is not None:
                if symbol == EOS:
                    raise HeaderBlockError("EOS inside a Huffman-coded string")
                out.append(symbol)
                code = length = 0
            elif length > 30:
                raise HeaderBlockError("a bad Huffman code")
    # What is left must be padding: fewer than 8 bits, all ones (EOS's first bits).
    if length > 7 or code != (1 << length) - 1:
        raise HeaderBlockError("bad padding after a Huffman-coded string")
    return bytes(out)


def _codes() -> dict[tuple[int, int], int]:
    """(length, code) -> symbol, made from the lengths the first time a string needs it."""
    global _huffman_codes
    if _huffman_codes is None:
        table: dict[tuple[int, int], int] = {}
        code = previous = 0
        for rank, symbol in enumerate(sorted(range(257), key=lambda s: (HUFFMAN_LENGTHS[s], s))):
            length = HUFFMAN_LENGTHS[symbol]
            if rank:
                code = (code + 1) << (length - previous)
            previous = length
            table[(length, code)] = symbol
        _huffman_codes = table
    return _huffman_codes
