"""
OTLP spans encoded by hand, for syncscope's own OTLP exporter.

The SDK's way (a ``ReadableSpan`` per span, then its OTLP encoder) costs about 35 µs a span
here, on the interpreter the program runs on: at 20,000 spans a second that is most of a
core, and the program's threads wait for the GIL meanwhile. Our spans are few in shape and
repetitive in content (the same primitive, thread and call site again and again), so they are
written straight to protobuf's wire format instead, from byte strings made once per primitive,
thread and call site: about 2 µs a span.

The bytes go through the SDK's own OTLP exporters all the same (HTTP or gRPC: their
endpoints, headers, TLS, compression, timeouts and retries): a batch is an
:class:`EncodedSpans`, which the exporters' ``encode_spans`` hands back as the request it
already is (see :func:`accept_encoded_spans`). Only the program's own calls ever reach the
original ``encode_spans``; they are passed through untouched.

Field numbers are those of ``opentelemetry/proto/trace/v1/trace.proto`` and
``opentelemetry/proto/common/v1/common.proto``.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Mapping, Sequence


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack

# Wire types.
_VARINT, _FIXED64, _LENGTH = 0, 1, 2

#: Caches past this size are cleared (a program may make a lock per task, threads by the
#: thousand): a miss only costs the encoding again.
_MAX_CACHED = 10_000


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    """A protobuf varint; negative numbers as their 64-bit two's complement, as int64 wants."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    value &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def _length_delimited(field: int, data: bytes) -> bytes:
    return _tag(field, _LENGTH) + varint(len(data)) + data


def any_value(value: object) -> bytes:
    """An ``AnyValue``, from the types the SDK accepts as attribute values."""
    if isinstance(value, bool):  # before int: a bool is an int
        return _tag(2, _VARINT) + varint(int(value))
    if isinstance(value, int):
        return _tag(3, _VARINT) + varint(value)
    if isinstance(value, float):
        return _tag(4, _FIXED64) + _pack_double(value)
    if isinstance(value, bytes):
        return _length_delimited(7, value)
    if isinstance(value, (list, tuple)):
        values = b"".join(_length_delimited(1, any_value(item)) for item in value)
        return _length_delimited(5, values)
    return _length_delimited(1, str(value).encode("utf-8", "surrogatepass"))


#: (field, key) -> the encoded ``KeyValue.key`` field, and the whole field's start for a float
#: value (its length is known: a double is always 9 bytes), for the attributes made per span.
_keys: dict[tuple[int, str], tuple[bytes, bytes, bytes]] = {}
#: KeyValue.value, and the AnyValue fields.
_VALUE_FIELD = _tag(2, _LENGTH)
_FLOAT_VALUE = _VALUE_FIELD + varint(9) + _tag(4, _FIXED64)
_STRING_VALUE, _INT_VALUE = _tag(1, _LENGTH), _tag(3, _VARINT)


def _key(field: int, key: str) -> tuple[bytes, bytes, bytes]:
    if len(_keys) >= _MAX_CACHED:
        _keys.clear()
    field_tag = _tag(field, _LENGTH)
    encoded_key = _length_delimited(1, key.encode("utf-8"))
    float_body = len(encoded_key) + len(_FLOAT_VALUE) + 8
    float_start = field_tag + varint(float_body) + encoded_key + _FLOAT_VALUE
    found = _keys[field, key] = (field_tag, encoded_key, float_start)
    return found


def _attribute(field: int, key: str, value: object) -> bytes:
    """One repeated ``KeyValue`` field; floats, ints and strings without the general path."""
    field_tag, encoded_key, float_start = _keys.get((field, key)) or _key(field, key)
    kind = type(value)
    if kind is float:
        return float_start + _pack_double(value)
    if kind is int:
        number = _INT_VALUE + varint(value)  # type: ignore[arg-type]
        body = encoded_key + _VALUE_FIELD + _ONE_BYTE[len(number)] + number
    elif kind is str:
        text = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
        size = len(text)
        string = _STRING_VALUE + (_ONE_BYTE[size] if size < 0x80 else varint(size)) + text
        body = encoded_key + _VALUE_FIELD + varint(len(string)) + string
    else:
        body = encoded_key + _length_delimited(2, any_value(value))
    size = len(body)
    return field_tag + (_ONE_BYTE[size] if size < 0x80 else varint(size)) + body


def attributes(field: int, mapping: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Each pair as one repeated ``KeyValue`` field ``field`` (9 in a Span, 4 in a Link)."""
    items: Iterable[tuple[str, object]]
    if isinstance(mapping, list | tuple):  # the attributes made per span: first, and fast
        items = mapping
    elif isinstance(mapping, Mapping):
        items = mapping.items()
    else:
        items = mapping
    return b"".join([_attribute(field, key, value) for key, value in items])


# Span fields.
_TRACE_ID = _tag(1, _LENGTH) + varint(16)
_SPAN_ID = _tag(2, _LENGTH) + varint(8)
_PARENT_ID = _tag(4, _LENGTH) + varint(8)
# The kind (INTERNAL), the start and the end, packed in one call: each tag is one byte.
_KIND_INTERNAL_TAG, _START_TAG, _END_TAG = 6 << 3 | _VARINT, 7 << 3 | _FIXED64, 8 << 3 | _FIXED64
_pack_kind_start_end = struct.Struct("<BBBQBQ").pack
#: Span.flags: the parent's is-remote bit is known (and false), as the SDK's encoder says.
_FLAGS = _tag(16, 5) + (0x100).to_bytes(4, "little")
_STATUS_ERROR_CODE = _tag(3, _VARINT) + varint(2)
# Link fields.
_LINK_TRACE_ID = _tag(1, _LENGTH) + varint(16)
_LINK_SPAN_ID = _tag(2, _LENGTH) + varint(8)


class SpanEncoder:
    """Writes spans as ``ScopeSpans.spans`` entries, and batches of them as requests."""

    def __init__(self, resource: Mapping[str, object], scope_name: str, scope_version: str) -> None:
        scope = _length_delimited(1, scope_name.encode()) + _length_delimited(
            2, scope_version.encode()
        )
        self._resource = _length_delimited(1, attributes(1, resource))
        self._scope = _length_delimited(1, scope)
        #: Cached attribute blobs by key (see :meth:`cached`), for a look-up without a call.
        self.blobs: dict[Any, bytes] = {}
        self._names: dict[str, bytes] = {}
        self._link_reasons: dict[str, tuple[bytes, bytes]] = {}

    # -- cached pieces ---------------------------------------------------------------------

    def cached(self, key: Any, pairs: Iterable[tuple[str, object]]) -> bytes:
        """The attributes ``pairs`` as Span attributes, encoded once per ``key``."""
        blob = self.blobs.get(key)
        if blob is None:
            if len(self.blobs) >= _MAX_CACHED:
                self.blobs.clear()
            blob = self.blobs[key] = attributes(9, pairs)
        return blob

    def _name(self, name: str) -> bytes:
        encoded = self._names.get(name)
        if encoded is None:
            if len(self._names) >= _MAX_CACHED:
                self._names.clear()
            encoded = self._names[name] = _length_delimited(5, name.encode("utf-8"))
        return encoded

    def _link(self, trace_id: int, span_id: int, why: str) -> bytes:
        # A link's length depends only on its reason: the field's start is made once a reason.
        start_and_reason = self._link_reasons.get(why)
        if start_and_reason is None:
            reason = attributes(4, (("syncscope.link", why),))
            size = len(_LINK_TRACE_ID) + 16 + len(_LINK_SPAN_ID) + 8 + len(reason)
            start = _tag(13, _LENGTH) + varint(size) + _LINK_TRACE_ID
            start_and_reason = self._link_reasons[why] = (start, reason)
        start, reason = start_and_reason
        return b"".join(
            (start, trace_id.to_bytes(16, "big"), _LINK_SPAN_ID, span_id.to_bytes(8, "big"), reason)
        )

    # -- spans -----------------------------------------------------------------------------

    def span(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start: int,
        end: int,
        attribute_blobs: tuple[bytes, ...],
        links: Sequence[tuple[int, int, str]] = (),
        error: str | None = None,
    ) -> bytes:
        """One span, as a ``ScopeSpans.spans`` entry (field 2, length-delimited)."""
        parts = [
            _TRACE_ID,
            trace_id.to_bytes(16, "big"),
            _SPAN_ID,
            span_id.to_bytes(8, "big"),
            _PARENT_ID + parent_id.to_bytes(8, "big") if parent_id else b"",
            self._names.get(name) or self._name(name),
            _pack_kind_start_end(_KIND_INTERNAL_TAG, 1, _START_TAG, start, _END_TAG, end),
            *attribute_blobs,
        ]
        if links:  # a loop, not a comprehension: that would make a cell of self every span
            link_of = self._link
            for link in links:
                parts.append(link_of(*link))
        if error is not None:
            status = _length_delimited(2, error.encode("utf-8", "surrogatepass"))
            parts.append(_length_delimited(15, status + _STATUS_ERROR_CODE))
        parts.append(_FLAGS)
        body = b"".join(parts)
        size = len(body)
        return b"\x12" + (_ONE_BYTE[size] if size < 0x80 else varint(size)) + body

    def request(self, spans: list[bytes]) -> bytes:
        """An ``ExportTraceServiceRequest`` carrying ``spans``."""
        scope_spans = _length_delimited(2, self._scope + b"".join(spans))
        return _length_delimited(1, self._resource + scope_spans)


class EncodedSpans:
    """
    A batch already encoded, in place of a list of spans: the exporters only take its length
    and hand it to ``encode_spans``, which gives back the request it carries.
    """

    __slots__ = ("count", "data")

    def __init__(self, data: bytes, count: int) -> None:
        self.data = data
        self.count = count

    def __len__(self) -> int:
        return self.count


class _Serialized:
    """What ``encode_spans`` returns for the HTTP exporter, which only serializes it."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializePartialToString(self) -> bytes:  # protobuf's name
        return self.data

    SerializeToString = SerializePartialToString


def accept_encoded_spans(exporter_module: str) -> None:
    """
    Let the OTLP trace exporter of ``exporter_module`` take :class:`EncodedSpans`: its
    ``encode_spans`` gives such a batch back as the request it carries (parsed into the real
    message for gRPC, whose stub serializes it with protobuf's own method), and hands
    anything else to the original.
    """
    module = sys.modules[exporter_module]
    original = module.encode_spans
    if getattr(original, "_syncscope_original", None) is not None:
        return
    if exporter_module.endswith(".grpc.trace_exporter"):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        parse = ExportTraceServiceRequest.FromString

        def encode_spans(spans: Any) -> Any:
            if type(spans) is EncodedSpans:
                return parse(spans.data)
            return original(spans)

    else:

        def encode_spans(spans: Any) -> Any:
            if type(spans) is EncodedSpans:
                return _Serialized(spans.data)
            return original(spans)

    encode_spans._syncscope_original = original  # type: ignore[attr-defined]
    module.encode_spans = encode_spans  # type: ignore[attr-defined]
