"""Spans in a real Jaeger: what its API stores is what syncscope sent, and what its file says."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import jaeger as jaeger_support
from tests.support.jaeger import JaegerServer, find_or_build_jaeger

from .spans_programs import CONTENTION_SPANS, CONTENTION_TOTAL, run_contention


# The first run on a machine builds Jaeger from source (minutes), which the default timeout
# would cut off.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    binary = find_or_build_jaeger()
    if binary is None:
        reason = getattr(jaeger_support, "unavailable_reason", None)
        pytest.skip(reason() if reason else jaeger_support.GO_MISSING_REASON)
    with JaegerServer(binary) as server:
        yield server


def _refs(span: dict[str, Any], ref_type: str) -> set[str]:
    return {ref["spanID"] for ref in span["references"] if ref["refType"] == ref_type}


def _tags(tags: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {tag["key"]: (tag["type"], tag["value"]) for tag in tags}


def _run(jaeger: JaegerServer, tmp_path: Path, protocol: str) -> tuple[str, dict[str, Any]]:
    service = f"syncscope-test-{uuid.uuid4().hex[:10]}"
    endpoint = jaeger.otlp_grpc_endpoint if protocol == "grpc" else jaeger.otlp_http_endpoint
    trace_file = tmp_path / "trace.json"
    run_contention(
        tmp_path,
        [
            f"--otlp={endpoint}",
            f"--protocol={protocol}",
            f"--service-name={service}",
            f"--jaeger-file={trace_file}",
        ],
    )
    return service, json.loads(trace_file.read_text(encoding="utf-8"))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_jaeger_stores_the_spans_parents_links_and_tags(
    jaeger: JaegerServer, tmp_path: Path, protocol: str
) -> None:
    """Every operation's span is in Jaeger, under its thread, with its links and tags."""
    service, _ = _run(jaeger, tmp_path, protocol)
    (trace,) = jaeger.wait_for_spans(service, CONTENTION_TOTAL)
    spans = trace["spans"]
    assert CONTENTION_SPANS == dict(Counter(span["operationName"] for span in spans))
    assert service == trace["processes"][spans[0]["processID"]]["serviceName"]
    by_id = {span["spanID"]: span for span in spans}
    (run,) = [span for span in spans if span["operationName"] == "run contention.py"]
    assert set() == _refs(run, "CHILD_OF")
    for span in spans:
        if span is run:
            continue
        (parent,) = _refs(span, "CHILD_OF")
        expected = "run " if span["operationName"].startswith("thread ") else "thread "
        assert by_id[parent]["operationName"].startswith(expected)

    def only(name: str, thread: str | None = None) -> dict[str, Any]:
        (span,) = [
            s
            for s in spans
            if s["operationName"] == name
            and (thread is None or _tags(s["tags"])["thread.name"][1] == thread)
        ]
        return span

    hold = only("Lock.hold lock", "MainThread")
    assert {hold["spanID"]} == _refs(only("Lock.acquire lock", "locker"), "FOLLOWS_FROM")
    notify = only("Condition.notify cond")
    assert {notify["spanID"]} == _refs(only("Condition.wait cond"), "FOLLOWS_FROM")
    assert {only("Queue.put q")["spanID"]} == _refs(only("Queue.get q"), "FOLLOWS_FROM")
    assert {only("Event.set fired")["spanID"]} == _refs(only("Event.wait fired"), "FOLLOWS_FROM")

    tags = _tags(only("Lock.acquire lock", "locker")["tags"])
    assert ("string", "locker") == tags["thread.name"]
    assert "int64" == tags["thread.id"][0]
    assert ("string", "locker") == tags["code.function.name"]
    assert "int64" == tags["code.line.number"][0]
    assert tags["code.file.path"][1].endswith("contention.py")
    assert ("string", "acquired") == tags["syncscope.outcome"]
    assert "float64" == tags["syncscope.waited_ms"][0]
    assert ("string", "syncscope") == tags["otel.scope.name"]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_jaeger_file_says_what_jaegers_api_says(
    jaeger: JaegerServer, tmp_path: Path, protocol: str
) -> None:
    """syncscope's Jaeger JSON file matches Jaeger's API for the same run, span by span."""
    service, document = _run(jaeger, tmp_path, protocol)
    (stored,) = jaeger.wait_for_spans(service, CONTENTION_TOTAL)
    (written,) = document["data"]
    assert stored["traceID"] == written["traceID"]
    stored_process = stored["processes"][stored["spans"][0]["processID"]]
    (written_process,) = written["processes"].values()
    assert stored_process["serviceName"] == written_process["serviceName"]
    assert _tags(stored_process["tags"]) == _tags(written_process["tags"])
    ours = {span["spanID"]: span for span in written["spans"]}
    assert sorted(ours) == sorted(span["spanID"] for span in stored["spans"])
    for span in stored["spans"]:
        mine = ours[span["spanID"]]
        assert span["operationName"] == mine["operationName"]
        assert span["traceID"] == mine["traceID"]
        for ref_type in ("CHILD_OF", "FOLLOWS_FROM"):
            assert _refs(span, ref_type) == _refs(mine, ref_type), span["operationName"]
        assert _tags(span["tags"]) == _tags(mine["tags"]), span["operationName"]
        assert span["startTime"] == mine["startTime"]
        assert span["duration"] == mine["duration"]
        assert [] == span["logs"] == mine["logs"]
