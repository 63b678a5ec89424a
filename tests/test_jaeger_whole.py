"""
Spans that arrive whole, checked in a real Jaeger through its API: a busy program's trace
(every operation a span or counted in a summary, the exit line's counts what Jaeger holds),
a run cut into parts (no child ends after its parent), ``os._exit`` and ``--deadlock-exit``
(the spans of the operations in progress arrive), and a deadlock as error spans.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import jaeger as jaeger_support
from tests.support.jaeger import JaegerServer, find_or_build_jaeger

from .spans_programs import Interactive, write_program
from .test_spans import span_line


pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    binary = find_or_build_jaeger()
    if binary is None:
        reason = getattr(jaeger_support, "unavailable_reason", None)
        pytest.skip(reason() if reason else jaeger_support.GO_MISSING_REASON)
    with JaegerServer(binary) as server:
        yield server


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def _is_error(span: dict[str, Any]) -> bool:
    tags = _tags(span)
    return tags.get("error") is True or tags.get("otel.status_code") == "ERROR"


def _spans(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [span for trace in traces for span in trace["spans"]]


def _parents_hold_their_children(traces: list[dict[str, Any]]) -> None:
    """Every parent is in the child's trace, and no child starts before or ends after it."""
    for trace in traces:
        by_id = {span["spanID"]: span for span in trace["spans"]}
        for span in trace["spans"]:
            for ref in span["references"]:
                if ref["refType"] != "CHILD_OF":
                    continue
                parent = by_id.get(ref["spanID"])
                assert parent is not None, span["operationName"]
                assert parent["startTime"] <= span["startTime"], span["operationName"]
                end, parent_end = (
                    span["startTime"] + span["duration"],
                    parent["startTime"] + parent["duration"],
                )
                assert end <= parent_end, (span["operationName"], end - parent_end)


def _run(
    jaeger: JaegerServer,
    tmp_path: Path,
    source: str,
    *args: str,
    until: tuple[str, ...] = (),
    quiet: bool = True,
) -> tuple[str, Any]:
    service = f"syncscope-whole-{uuid.uuid4().hex[:10]}"
    script = write_program(tmp_path, source, "prog.py")
    otlp = f"--otlp={jaeger.otlp_grpc_endpoint}"
    quieter = ["-q"] if quiet else []
    process = Interactive([*quieter, otlp, f"--service-name={service}", *args, str(script)])
    try:
        for text in until:  # in any order
            if not any(text in line for line in process.seen["stderr"]):
                process.wait_for("stderr", text, timeout=60)
        if until:
            process.send("go\n")
        run = process.finish(timeout=120)
    finally:
        process.kill()
    return service, run


BUSY = """\
import threading
THREADS, USES = 4, 5_000
lock = threading.Lock()
found_busy = []
def work():
    busy = 0
    for _ in range(USES):
        if not lock.acquire(False):
            busy += 1
            lock.acquire()
        lock.release()
    found_busy.append(busy)
threads = [threading.Thread(target=work) for _ in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("acquired", THREADS * USES + sum(found_busy), "busy", sum(found_busy))
"""


def test_busy_program_arrives_whole(jaeger: JaegerServer, tmp_path: Path) -> None:
    """
    Every operation of a busy program is a span in Jaeger or counted in a summary span; each
    acquire that found the lock taken is there; what Jaeger holds is what the exit line says
    was sent; and the parts of the cut trace are trees, titled with their number.
    """
    service, run = _run(jaeger, tmp_path, BUSY, "--spans-per-trace=2000", "--span-buffer=4000")
    assert 0 == run.returncode, run.stderr
    found = re.fullmatch(r"acquired (\d+) busy (\d+)\n", run.stdout)
    assert found is not None, run.stdout
    acquires, busy = int(found[1]), int(found[2])
    line = span_line(run.stderr)
    assert 0 == line["dropped"], line
    traces = jaeger.wait_for_spans(service, line["sent"], timeout=60)
    spans = _spans(traces)
    assert line["sent"] == len(spans)
    ops = [_tags(span) for span in spans if span["operationName"].startswith("Lock.acquire")]
    single = [tags for tags in ops if tags.get("syncscope.outcome") != "summary"]
    summed = sum(tags.get("syncscope.summary.count", 0) for tags in ops)
    assert acquires == len(single) + summed
    assert line["aggregated"] == summed + sum(
        _tags(span)["syncscope.summary.count"]
        for span in spans
        if span["operationName"].startswith("Lock.hold") and " x " in span["operationName"]
    )
    assert busy == sum(1 for tags in single if tags.get("syncscope.outcome") == "busy")
    runs = [span["operationName"] for span in spans if span["operationName"].startswith("run ")]
    assert len(runs) == len(traces)
    if len(runs) > 1:
        numbers = sorted(int(re.search(r" part (\d+) ", name)[1]) for name in runs)  # type: ignore[index]
        assert list(range(1, len(runs) + 1)) == numbers
    _parents_hold_their_children(traces)
    _links_stay_in_their_part(traces)


def _links_stay_in_their_part(traces: list[dict[str, Any]]) -> None:
    """A link from an operation (not a part's run or thread span) stays in its trace part."""
    for trace in traces:
        ids = {span["spanID"] for span in trace["spans"]}
        for span in trace["spans"]:
            if span["operationName"].startswith(("run ", "thread ")):
                continue
            for ref in span["references"]:
                if ref["refType"] == "FOLLOWS_FROM":
                    assert ref["spanID"] in ids, span["operationName"]


DEADLOCK = """\
import os, sys, threading
a = threading.Lock()
b = threading.Lock()
both = threading.Barrier(2)
def one(first, second):
    with first:
        both.wait()
        with second:
            pass
threading.Thread(target=one, args=(a, b), name="ab", daemon=True).start()
threading.Thread(target=one, args=(b, a), name="ba", daemon=True).start()
sys.stdin.readline()
os._exit(7)
"""


def _deadlock_spans(traces: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    spans = _spans(traces)
    blocked = [
        span
        for span in spans
        if span["operationName"] in ("Lock.acquire a", "Lock.acquire b")
        and _tags(span).get("syncscope.outcome") == "still waiting at exit"
    ]
    holds = [span for span in spans if span["operationName"] in ("Lock.hold a", "Lock.hold b")]
    findings = [span for span in spans if _tags(span).get("syncscope.finding") == "deadlock"]
    return blocked, holds, findings


def test_os_exit_flushes_the_operations_in_progress(jaeger: JaegerServer, tmp_path: Path) -> None:
    """
    A deadlocked program that ends itself with ``os._exit``: its run, threads, holds and
    blocked acquires arrive, the acquires and the holds in their way as errors.
    """
    # Not quiet: main exits once both threads are seen blocked.
    waits = ("lock a wait by ba", "lock b wait by ab")
    service, run = _run(jaeger, tmp_path, DEADLOCK, until=waits, quiet=False)
    assert 7 == run.returncode, run.stderr
    line = span_line(run.stderr)
    assert 0 == line["dropped"], line
    traces = jaeger.wait_for_spans(service, line["sent"], timeout=60)
    _parents_hold_their_children(traces)
    blocked, holds, _findings = _deadlock_spans(traces)
    assert 2 == len(blocked)
    assert all(_is_error(span) for span in blocked)
    assert 2 == len(holds)
    assert all(_is_error(span) for span in holds)  # held while another thread waited
    names = {span["operationName"] for span in _spans(traces)}
    assert {"run prog.py", "thread ab", "thread ba"} <= names


def test_deadlock_exit_flushes(jaeger: JaegerServer, tmp_path: Path) -> None:
    """
    ``--deadlock-exit`` ends the program after flushing: the blocked acquires arrive as
    errors, and the deadlock as an error span linked to them and to the holds in their way.
    """
    source = DEADLOCK.replace("sys.stdin.readline()\nos._exit(7)", "threading.Event().wait()")
    service, run = _run(jaeger, tmp_path, source, "--deadlock-exit=9")
    assert 9 == run.returncode, run.stderr
    line = span_line(run.stderr)
    assert 0 == line["dropped"], line
    traces = jaeger.wait_for_spans(service, line["sent"], timeout=60)
    _parents_hold_their_children(traces)
    blocked, holds, findings = _deadlock_spans(traces)
    assert 2 == len(blocked)
    assert all(_is_error(span) for span in blocked)
    (finding,) = findings
    assert _is_error(finding)
    assert finding["operationName"].startswith("deadlock: 2 threads wait for each other")
    linked = {ref["spanID"] for ref in finding["references"] if ref["refType"] == "FOLLOWS_FROM"}
    assert {span["spanID"] for span in blocked + holds} <= linked
    # Jaeger keeps no link attributes: the reasons are in the span's own.
    assert "blocked" in _tags(finding)["syncscope.links"]
