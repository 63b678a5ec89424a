"""
syncscope's HPACK decoder (``_sinks/spans/header_blocks.py``), which reads a gRPC collector's
answers: its tables are RFC 7541's (checked against the ``hpack`` library's), the RFC's own
examples decode, and whatever ``hpack``'s encoder writes (Huffman or not, the dynamic table
filled, evicted and resized across blocks) decodes back to what it was given.
"""

from __future__ import annotations

import hpack
import pytest
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from syncscope._sinks.spans import header_blocks
from syncscope._sinks.spans.header_blocks import HeaderBlockError, HeaderDecoder


def test_the_tables_are_the_rfcs() -> None:
    assert (
        tuple((name.decode(), value.decode()) for name, value in HeaderTable.STATIC_TABLE)
        == header_blocks.STATIC_TABLE
    )
    assert list(REQUEST_CODES_LENGTH) == list(header_blocks.HUFFMAN_LENGTHS)
    # The canonical codes made from the lengths are the RFC's codes.
    codes = header_blocks._codes()
    assert {symbol: (length, code) for (length, code), symbol in codes.items()} == {
        symbol: (REQUEST_CODES_LENGTH[symbol], REQUEST_CODES[symbol]) for symbol in range(257)
    }


def test_the_rfcs_examples() -> None:
    """RFC 7541 C.4 and C.6: requests and responses with Huffman coding, one decoder each."""
    requests = HeaderDecoder()
    assert requests.decode(bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff")) == [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ]
    assert requests.decode(bytes.fromhex("828684be5886a8eb10649cbf")) == [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ]
    responses = HeaderDecoder(limit=256)
    first = bytes.fromhex(
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff"
        "6e919d29ad171863c78f0b97c8e9ae82ae43d3"
    )
    assert responses.decode(first) == [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ]
    # The second response takes three of its four headers from the dynamic table, and
    # evicts one to fit its own.
    assert responses.decode(bytes.fromhex("4883640effc1c0bf")) == [
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ]
    assert 222 == responses.size


_names = st.sampled_from(
    ["grpc-status", "grpc-message", ":status", "content-type", "date", "x-a", "x-b"]
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=30)
_values = st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(_names, _values), min_size=1, max_size=8),
            st.booleans(),
            st.sampled_from([None, 0, 64, 300, 4096]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_what_hpack_encodes_decodes_back(
    blocks: list[tuple[list[tuple[str, str]], bool, int | None]],
) -> None:
    encoder, decoder = hpack.Encoder(), HeaderDecoder()
    for headers, huffman, table_size in blocks:
        if table_size is not None:
            encoder.header_table_size = table_size  # said in the next block
        block = encoder.encode(headers, huffman=huffman)
        assert headers == decoder.decode(block)


@pytest.mark.parametrize(
    "block",
    [
        "80",  # index 0
        "be",  # an empty dynamic table's first entry
        "3fe21f",  # a table size past the 4096 allowed
        "0085",  # a string longer than the block
        "008f",  # a string that ends the block early
        "40ff",  # an integer that never ends
        "0081ff",  # Huffman padding longer than 7 bits
        "0081fe",  # padding that is not EOS's ones (and a code cut short)
    ],
)
def test_bad_blocks_are_refused(block: str) -> None:
    with pytest.raises(HeaderBlockError):
        HeaderDecoder().decode(bytes.fromhex(block))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from([b"x-a", b"x-b", b"grpc-message"]), st.binary(max_size=80)),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_table_is_sized_on_the_bytes_sent(blocks: list[list[tuple[bytes, bytes]]]) -> None:
    """
    Values that are not UTF-8 take the room their bytes take, as in the server's table:
    counted once decoded, entries would go early, and a later block that names one would not
    decode (or decode to another header).
    """
    encoder, ours, theirs = hpack.Encoder(), HeaderDecoder(), hpack.Decoder()
    for headers in blocks:
        block = encoder.encode(headers, huffman=True)
        decoded = ours.decode(block)
        assert [(k.decode(), v.decode("utf-8", "replace")) for k, v in headers] == decoded
        theirs.decode(block, raw=True)
        their_entries = list(theirs.header_table.dynamic_entries)  # (name, value) as bytes
        assert sum(len(name) + len(value) + 32 for name, value in their_entries) == ours.size
        assert len(their_entries) == len(ours.dynamic)
