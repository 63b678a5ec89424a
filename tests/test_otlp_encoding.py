"""
Spans written straight to OTLP's wire format (syncscope._sinks.spans.otlp): what the encoder
writes is
what protobuf reads, and a run exports the same spans whichever way they are encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncscope._sinks.spans.otlp import EncodedSpans, SpanEncoder, accept_encoded_spans, varint
from tests.support.otlp import (
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceivedSpan,
    decode_request,
)

from .spans_programs import CONTENTION_TOTAL, run_contention


trace_service_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")


def _decode(data: bytes) -> list[ReceivedSpan]:
    return decode_request(trace_service_pb2.ExportTraceServiceRequest.FromString(data))


class TestEncoder:
    def test_varint_matches_protobuf(self) -> None:
        """Varints, negative int64 values included, are protobuf's."""
        assert b"\x00" == varint(0)
        assert b"\xac\x02" == varint(300)
        assert b"\xff" * 9 + b"\x01" == varint(-1)

    def test_a_span_reads_back_whole(self) -> None:
        """Ids, name, times, every attribute type, links, status, resource and scope."""
        encoder = SpanEncoder({"service.name": "svc", "process.pid": 42}, "syncscope", "1.2")
        trace_id, span_id, parent_id = (1 << 127) | 5, (1 << 63) | 7, 9
        attributes = {
            "s": "é unicode",
            "i": 1 << 40,
            "negative": -3,
            "f": 0.25,
            "b": True,
            "raw": b"\x00\x01",
            "list": ["a", "b"],
        }
        blob = encoder.cached("key", attributes.items())
        span = encoder.span(
            "Lock.acquire lock",
            trace_id,
            span_id,
            parent_id,
            1_000,
            2_000,
            (blob,),
            links=[(trace_id, 11, "holder"), (3, 4, "put")],
            error="RuntimeError: boom",
        )
        root = encoder.span("run x", trace_id, 12, None, 500, 3_000, ())
        (read, read_root) = _decode(encoder.request([span, root]))
        assert "Lock.acquire lock" == read.name
        assert (f"{trace_id:032x}", f"{span_id:016x}") == (read.trace_id, read.span_id)
        assert f"{parent_id:016x}" == read.parent_span_id
        assert read_root.parent_span_id is None
        assert (1_000, 2_000, 1) == (read.start_ns, read.end_ns, read.kind)
        assert {**attributes, "list": ["a", "b"]} == read.attributes
        assert [
            (f"{trace_id:032x}", f"{11:016x}", "holder"),
            (f"{3:032x}", f"{4:016x}", "put"),
        ] == [
            (link.trace_id, link.span_id, link.attributes["syncscope.link"]) for link in read.links
        ]
        assert (2, "RuntimeError: boom") == (read.status_code, read.status_message)
        assert 0 == read_root.status_code
        assert {"service.name": "svc", "process.pid": 42} == read.resource
        assert "syncscope" == read.scope_name

    def test_the_exporters_take_an_encoded_batch_and_nothing_else_changes(self) -> None:
        """encode_spans gives an encoded batch back as its request; other input goes through."""
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_module
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_module

        encoder = SpanEncoder({}, "syncscope", "1")
        data = encoder.request([encoder.span("x", 1, 2, None, 1, 2, ())])
        for module in (grpc_module, http_module):
            accept_encoded_spans(module.__name__)
            accept_encoded_spans(module.__name__)  # twice: wrapped once
            request = module.encode_spans(EncodedSpans(data, 1))
            assert data == request.SerializeToString()
            assert 0 == len(module.encode_spans([]).resource_spans)
            assert module.encode_spans._syncscope_original.__module__.startswith("opentelemetry")


RECEIVERS = [
    pytest.param((OtlpGrpcReceiver, "grpc"), id="grpc"),
    pytest.param((OtlpHttpReceiver, "http/protobuf"), id="http"),
]


#: Attributes of a span that exist only when some thread happened to wait (as links do).
_THERE_WHEN_A_THREAD_WAITED = frozenset({"syncscope.links", "syncscope.made_others_wait"})


def _shape(spans: list[ReceivedSpan]) -> list[tuple[Any, ...]]:
    """
    What a run's spans say, without what differs from run to run: values, and links (a
    "holder" link, and the attributes that name links, exist only when an acquire happened to
    wait). Links are checked on both
    paths elsewhere: in test_spans through OTLP, in test_jaeger through the Jaeger file.
    """

    def value_type(value: object) -> str:
        return type(value).__name__

    return sorted(
        (
            span.name,
            span.kind,
            span.status_code,
            span.scope_name,
            tuple(
                sorted(
                    (key, value_type(value))
                    for key, value in span.attributes.items()
                    if key not in _THERE_WHEN_A_THREAD_WAITED
                )
            ),
            span.parent_span_id is None,
            tuple(sorted(span.resource)),
        )
        for span in spans
    )


@pytest.mark.parametrize("receiver_and_protocol", RECEIVERS)
def test_same_spans_as_the_sdk_encoder(tmp_path: Path, receiver_and_protocol: Any) -> None:
    """
    With only OTLP listening, spans are hand-encoded; with the console exporter too, they are
    SDK ReadableSpans through the SDK's encoder. The collector sees the same spans either way.
    """
    cls, protocol = receiver_and_protocol
    shapes = []
    for extra in ([], ["--console-spans"]):
        with cls() as receiver:
            args = [f"--otlp={receiver.endpoint}", "--protocol", protocol, *extra]
            run_contention(tmp_path, args)
            shapes.append(_shape(receiver.wait_for_spans(CONTENTION_TOTAL)))
    assert shapes[0] == shapes[1]
