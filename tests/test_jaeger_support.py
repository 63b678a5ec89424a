"""The Jaeger test support works end to end: OTLP gRPC/HTTP in, query API out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext

from tests.support.jaeger import JaegerServer, find_or_build_jaeger, unavailable_reason


# The first run on a machine builds Jaeger from source (about 4 minutes on 2
# cores, more on a cold module cache), which the default timeout would cut off.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    binary = find_or_build_jaeger()
    if binary is None:
        pytest.skip(unavailable_reason())
    with JaegerServer(binary) as server:
        yield server


class _CheckedExporter(SpanExporter):
    """Remembers export results: SimpleSpanProcessor only logs failures."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def _provider(service: str, exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _same_id(jaeger_id: str, otel_id: int) -> bool:
    # Compare numerically: Jaeger drops the high half of a trace ID when it is 0.
    return int(jaeger_id, 16) == otel_id


def _refs(span: dict[str, Any], ref_type: str) -> list[dict[str, Any]]:
    return [ref for ref in span["references"] if ref["refType"] == ref_type]


def _assert_ref(ref: dict[str, Any], target: SpanContext) -> None:
    assert _same_id(ref["traceID"], target.trace_id)
    assert _same_id(ref["spanID"], target.span_id)


def _tags(span: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {tag["key"]: (tag["type"], tag["value"]) for tag in span["tags"]}


def test_spans_sent_over_otlp_grpc_and_http_are_queryable(jaeger: JaegerServer) -> None:
    service = f"syncscope-test-{uuid.uuid4().hex[:12]}"

    grpc_exporter = _CheckedExporter(
        GrpcSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True, timeout=10)
    )
    grpc_provider = _provider(service, grpc_exporter)
    tracer = grpc_provider.get_tracer("syncscope.tests.jaeger")
    with tracer.start_as_current_span("grpc-parent", attributes={"transport": "grpc"}) as parent:
        with tracer.start_as_current_span(
            "grpc-child-a", attributes={"child.index": 1, "child.ready": True}
        ) as child_a:
            pass
        with tracer.start_as_current_span(
            "grpc-child-b",
            attributes={"child.index": 2},
            links=[Link(child_a.get_span_context(), {"link.reason": "waited-on"})],
        ):
            pass
    grpc_provider.shutdown()

    http_exporter = _CheckedExporter(
        HttpSpanExporter(endpoint=jaeger.otlp_http_traces_endpoint, timeout=10)
    )
    http_provider = _provider(service, http_exporter)
    tracer = http_provider.get_tracer("syncscope.tests.jaeger")
    with (
        tracer.start_as_current_span(
            "http-parent", attributes={"transport": "http"}
        ) as http_parent,
        tracer.start_as_current_span(
            "http-child",
            attributes={"wait.seconds": 0.25},
            # A link into the other trace, as between a waiter and a notifier.
            links=[Link(parent.get_span_context())],
        ),
    ):
        pass
    http_provider.shutdown()

    assert grpc_exporter.results == [SpanExportResult.SUCCESS] * 3
    assert http_exporter.results == [SpanExportResult.SUCCESS] * 2

    traces = jaeger.wait_for_spans(service, 5)
    assert service in jaeger.services()
    assert len(traces) == 2
    spans = {span["operationName"]: span for trace in traces for span in trace["spans"]}
    assert sorted(spans) == [
        "grpc-child-a",
        "grpc-child-b",
        "grpc-parent",
        "http-child",
        "http-parent",
    ]
    for trace in traces:
        for span in trace["spans"]:
            assert trace["processes"][span["processID"]]["serviceName"] == service

    # Parents: no CHILD_OF; every child points at its parent with CHILD_OF.
    assert _refs(spans["grpc-parent"], "CHILD_OF") == []
    assert _refs(spans["http-parent"], "CHILD_OF") == []
    for child, parent_ctx in (
        ("grpc-child-a", parent.get_span_context()),
        ("grpc-child-b", parent.get_span_context()),
        ("http-child", http_parent.get_span_context()),
    ):
        (ref,) = _refs(spans[child], "CHILD_OF")
        _assert_ref(ref, parent_ctx)

    # Jaeger's v1 JSON has no links: an OTLP link becomes a FOLLOWS_FROM
    # reference (link attributes are dropped), also across traces.
    assert _refs(spans["grpc-child-a"], "FOLLOWS_FROM") == []
    (link,) = _refs(spans["grpc-child-b"], "FOLLOWS_FROM")
    _assert_ref(link, child_a.get_span_context())
    (link,) = _refs(spans["http-child"], "FOLLOWS_FROM")
    _assert_ref(link, parent.get_span_context())
    assert not _same_id(spans["http-child"]["traceID"], parent.get_span_context().trace_id)

    # Attributes arrive as typed tags.
    assert _tags(spans["grpc-parent"])["transport"] == ("string", "grpc")
    assert _tags(spans["grpc-child-a"])["child.index"] == ("int64", 1)
    assert _tags(spans["grpc-child-a"])["child.ready"] == ("bool", True)
    assert _tags(spans["http-parent"])["transport"] == ("string", "http")
    assert _tags(spans["http-child"])["wait.seconds"] == ("float64", 0.25)
