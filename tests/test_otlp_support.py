"""The loopback OTLP receivers, driven by the OpenTelemetry SDK's own exporters."""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.support.otlp import (
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceivedSpan,
    decode_any_value,
)


SERVICE = "otlp-support-test"
# Short enough to keep failure tests quick, long enough for a loaded machine.
EXPORT_TIMEOUT = 2.0
WAIT = 10.0

Receiver = OtlpGrpcReceiver | OtlpHttpReceiver


@dataclass
class Setup:
    """A running receiver plus a factory for exporters pointed at it."""

    receiver: Receiver
    make_exporter: Callable[..., SpanExporter]


def _grpc_exporter(receiver: Receiver, **kwargs: Any) -> SpanExporter:
    return GrpcSpanExporter(
        endpoint=receiver.endpoint, insecure=True, timeout=EXPORT_TIMEOUT, **kwargs
    )


def _http_exporter(receiver: Receiver, **kwargs: Any) -> SpanExporter:
    assert isinstance(receiver, OtlpHttpReceiver)
    return HttpSpanExporter(endpoint=receiver.traces_endpoint, timeout=EXPORT_TIMEOUT, **kwargs)


@pytest.fixture(params=["grpc", "http"])
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    receiver: Receiver
    if request.param == "grpc":
        receiver = OtlpGrpcReceiver()
        factory = _grpc_exporter
    else:
        receiver = OtlpHttpReceiver()
        factory = _http_exporter
    exporters: list[SpanExporter] = []

    def make_exporter(**kwargs: Any) -> SpanExporter:
        exporter = factory(receiver, **kwargs)
        exporters.append(exporter)
        return exporter

    with receiver:
        yield Setup(receiver, make_exporter)
    for exporter in exporters:
        exporter.shutdown()


@pytest.fixture
def http_receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


def _provider(exporter: SpanExporter) -> TracerProvider:
    resource = Resource.create({"service.name": SERVICE, "deployment.environment": "test"})
    # The fixture shuts the exporters down; an exit hook would do it twice.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _emit_family(exporter: SpanExporter) -> None:
    """Send 'linked', then 'parent' with a 'child' that links to 'linked'."""
    provider = _provider(exporter)
    tracer = provider.get_tracer("syncscope.tests", "1.2.3")
    with tracer.start_as_current_span("linked") as linked:
        pass
    parent = tracer.start_as_current_span(
        "parent",
        kind=SpanKind.CLIENT,
        attributes={
            "text": "hello",
            "flag": True,
            "count": 42,
            "ratio": 0.5,
            "words": ["a", "b"],
            "numbers": [1, 2, 3],
        },
    )
    link = Link(linked.get_span_context(), {"why": "waited-on"})
    with parent, tracer.start_as_current_span("child", links=[link]) as child:
        child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.force_flush()


def _by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans}


def _lone_span(name: str = "lone") -> ReadableSpan:
    """A finished SDK span, for calling an exporter's export() directly."""
    resource = Resource.create({"service.name": SERVICE})
    tracer = TracerProvider(resource=resource, shutdown_on_exit=False).get_tracer("t")
    span = tracer.start_span(name)
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def _assert_refused(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_endpoint_is_loopback_with_bound_port(setup: Setup) -> None:
    """The endpoint names 127.0.0.1 and the port actually bound."""
    receiver = setup.receiver
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", receiver.endpoint)
    assert receiver.port > 0
    assert receiver.endpoint.endswith(f":{receiver.port}")
    socket.create_connection(("127.0.0.1", receiver.port), timeout=2).close()


def test_exported_spans_arrive_decoded(setup: Setup) -> None:
    """Names, ids, parentage, attributes, links, status, scope and resource survive the trip."""
    _emit_family(setup.make_exporter())
    spans = _by_name(setup.receiver.wait_for_spans(3, timeout=WAIT))
    assert set(spans) == {"linked", "parent", "child"}
    linked, parent, child = spans["linked"], spans["parent"], spans["child"]

    for span in spans.values():
        assert re.fullmatch(r"[0-9a-f]{32}", span.trace_id)
        assert re.fullmatch(r"[0-9a-f]{16}", span.span_id)
        assert span.resource["service.name"] == SERVICE
        assert span.resource["deployment.environment"] == "test"
        assert "telemetry.sdk.language" in span.resource
        assert span.scope_name == "syncscope.tests"
        assert 0 < span.start_ns <= span.end_ns

    assert parent.parent_span_id is None
    assert child.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id
    assert parent.kind == ProtoSpan.SPAN_KIND_CLIENT
    assert child.kind == ProtoSpan.SPAN_KIND_INTERNAL
    assert parent.attributes == {
        "text": "hello",
        "flag": True,
        "count": 42,
        "ratio": 0.5,
        "words": ["a", "b"],
        "numbers": [1, 2, 3],
    }
    assert [(link.trace_id, link.span_id) for link in child.links] == [
        (linked.trace_id, linked.span_id)
    ]
    assert child.links[0].attributes == {"why": "waited-on"}
    assert child.status_code == ProtoStatus.STATUS_CODE_ERROR
    assert child.status_message == "boom"
    assert parent.status_code == ProtoStatus.STATUS_CODE_UNSET
    assert setup.receiver.requests == 3  # SimpleSpanProcessor sends one request per span
    assert len(setup.receiver.export_requests()) == 3


def test_gzip_compressed_exports_are_decoded(setup: Setup) -> None:
    """Exports compressed with gzip arrive decoded."""
    if isinstance(setup.receiver, OtlpGrpcReceiver):
        exporter = setup.make_exporter(compression=grpc.Compression.Gzip)
    else:
        exporter = setup.make_exporter(compression=HttpCompression.Gzip)
    assert exporter.export([_lone_span("zipped")]) is SpanExportResult.SUCCESS
    assert [span.name for span in setup.receiver.wait_for_spans(1, timeout=WAIT)] == ["zipped"]


def test_stop_makes_exports_fail(setup: Setup) -> None:
    """After stop() the port refuses connections and an export fails within its timeout."""
    exporter = setup.make_exporter()
    assert exporter.export([_lone_span("before")]) is SpanExportResult.SUCCESS
    setup.receiver.wait_for_spans(1, timeout=WAIT)

    setup.receiver.stop()
    _assert_refused(setup.receiver.port)
    started = time.monotonic()
    assert exporter.export([_lone_span("after")]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < EXPORT_TIMEOUT + 1
    assert [span.name for span in setup.receiver.spans()] == ["before"]


def test_restart_serves_the_same_endpoint(setup: Setup) -> None:
    """start() after stop() rebinds the same port, and the same exporter gets through again."""
    exporter = setup.make_exporter()
    endpoint = setup.receiver.endpoint
    setup.receiver.stop()
    assert exporter.export([_lone_span("lost")]) is SpanExportResult.FAILURE

    setup.receiver.start()
    assert setup.receiver.endpoint == endpoint
    assert exporter.export([_lone_span("found")]) is SpanExportResult.SUCCESS
    assert [span.name for span in setup.receiver.wait_for_spans(1, timeout=WAIT)] == ["found"]


def test_set_failing_rejects_until_cleared(setup: Setup) -> None:
    """set_failing() makes the exporter retry and give up; set_failing(None) lets spans in."""
    receiver = setup.receiver
    exporter = setup.make_exporter()
    receiver.set_failing(retry_after=0.01)
    assert exporter.export([_lone_span("dropped")]) is SpanExportResult.FAILURE
    # The retry hint was honoured: several quick attempts fitted in the timeout.
    assert receiver.rejected > 1
    assert receiver.requests == 0
    assert receiver.spans() == []

    receiver.set_failing(None)
    assert exporter.export([_lone_span("kept")]) is SpanExportResult.SUCCESS
    assert [span.name for span in receiver.wait_for_spans(1, timeout=WAIT)] == ["kept"]


def test_set_failing_with_non_retryable_status(setup: Setup) -> None:
    """A non-retryable failure status is answered once and not retried."""
    receiver = setup.receiver
    if isinstance(receiver, OtlpGrpcReceiver):
        receiver.set_failing(grpc.StatusCode.INVALID_ARGUMENT)
    else:
        receiver.set_failing(400)
    exporter = setup.make_exporter()
    assert exporter.export([_lone_span("bad")]) is SpanExportResult.FAILURE
    assert receiver.rejected == 1


def test_wait_for_spans_times_out(setup: Setup) -> None:
    """wait_for_spans raises TimeoutError when too few spans arrive."""
    with pytest.raises(TimeoutError, match="expected 1 span"):
        setup.receiver.wait_for_spans(1, timeout=0.2)


def test_bookkeeping_does_not_use_threading_primitives(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and waiting work with threading's and queue's primitives made unusable."""
    assert setup.make_exporter().export([_lone_span("seen")]) is SpanExportResult.SUCCESS
    setup.receiver.wait_for_spans(1, timeout=WAIT)

    def unusable(*args: object, **kwargs: object) -> None:
        raise AssertionError("the receiver used an instrumentable primitive")

    for name in ("Lock", "RLock", "Condition", "Event", "Semaphore", "BoundedSemaphore"):
        monkeypatch.setattr(threading, name, unusable)
    for name in ("Queue", "SimpleQueue", "LifoQueue", "PriorityQueue"):
        monkeypatch.setattr(queue, name, unusable)

    receiver = setup.receiver
    assert [span.name for span in receiver.wait_for_spans(1, timeout=WAIT)] == ["seen"]
    assert (receiver.requests, receiver.rejected) == (1, 0)
    with pytest.raises(TimeoutError):
        receiver.wait_for_spans(2, timeout=0.1)
    receiver.set_failing(None)
    receiver.clear()
    assert receiver.spans() == []
    type(receiver)()  # a new receiver can be built too


def _post(url: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_http_accepts_otlp_json(http_receiver: OtlpHttpReceiver) -> None:
    """An OTLP/JSON body (hex ids) is decoded and answered with a JSON response."""
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    span_id, parent_id = "b7ad6b7169203331", "00f067aa0ba902b7"
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "json-scope"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": parent_id,
                                "name": "from-json",
                                "kind": 2,
                                "startTimeUnixNano": "1000",
                                "endTimeUnixNano": "2000",
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "7"}},
                                    {"key": "d", "value": {"doubleValue": 1.5}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, content_type, body = _post(
        http_receiver.traces_endpoint, json.dumps(document).encode(), "application/json"
    )
    assert (status, content_type, json.loads(body)) == (200, "application/json", {})
    [span] = http_receiver.wait_for_spans(1, timeout=WAIT)
    assert (span.trace_id, span.span_id, span.parent_span_id) == (trace_id, span_id, parent_id)
    assert (span.name, span.kind, span.start_ns, span.end_ns) == ("from-json", 2, 1000, 2000)
    assert span.attributes == {"n": 7, "d": 1.5}
    assert span.resource == {"service.name": SERVICE}
    assert span.scope_name == "json-scope"


def test_http_answers_protobuf_with_protobuf(http_receiver: OtlpHttpReceiver) -> None:
    """A protobuf POST gets 200 and an empty protobuf response."""
    status, content_type, body = _post(
        http_receiver.traces_endpoint,
        ExportTraceServiceRequest().SerializeToString(),
        "application/x-protobuf",
    )
    assert (status, content_type, body) == (200, "application/x-protobuf", b"")
    assert http_receiver.requests == 1


def test_http_rejects_unknown_paths_and_types(http_receiver: OtlpHttpReceiver) -> None:
    """Unknown paths get 404, unknown content types 415, undecodable bodies 400."""
    base = http_receiver.endpoint
    assert _post(base + "/v1/metrics", b"", "application/x-protobuf")[0] == 404
    assert _post(base + "/", b"", "application/x-protobuf")[0] == 404
    try:
        urllib.request.urlopen(base + "/v1/traces", timeout=5)
    except urllib.error.HTTPError as error:
        assert error.code == 404
    else:
        pytest.fail("GET was accepted")
    assert _post(http_receiver.traces_endpoint, b"x", "text/plain")[0] == 415
    assert _post(http_receiver.traces_endpoint, b"\xff\xff", "application/x-protobuf")[0] == 400
    assert _post(http_receiver.traces_endpoint, b"{", "application/json")[0] == 400
    assert http_receiver.requests == 0


def test_decode_any_value_handles_every_kind() -> None:
    """decode_any_value maps each AnyValue kind, nested ones included, to Python."""
    nested = AnyValue()
    nested.kvlist_value.values.extend(
        [
            KeyValue(key="s", value=AnyValue(string_value="x")),
            KeyValue(key="b", value=AnyValue(bool_value=False)),
            KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\x01")),
        ]
    )
    value = AnyValue()
    value.array_value.values.extend(
        [AnyValue(int_value=-3), AnyValue(double_value=2.25), nested, AnyValue()]
    )
    assert decode_any_value(value) == [-3, 2.25, {"s": "x", "b": False, "raw": b"\x00\x01"}, None]
