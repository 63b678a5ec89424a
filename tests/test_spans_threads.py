"""
What the span allowance keeps and counts: failed ``*_nowait`` calls are never summed up, and
a trace part is cut after that many spans, not operations. Real programs, a real OTLP
receiver.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpHttpReceiver

from .test_spans import _run, span_line


SPANS = ("-q", "--protocol", "http/protobuf")
ERROR = 2  # the OTLP status code


@pytest.fixture
def receiver() -> Iterator[Any]:
    with OtlpHttpReceiver() as server:
        yield server


def _spans(tmp_path: Path, receiver: Any, source: str, *args: str) -> tuple[str, list[Any]]:
    """Run ``source`` with spans to ``receiver``: its standard output, and every span."""
    result = _run(tmp_path, source, *SPANS, f"--otlp={receiver.endpoint}", *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    assert 0 == line["dropped"], line
    spans = receiver.wait_for_spans(line["sent"])
    assert line["sent"] == len(spans)
    return result.stdout, spans


FAILED_ATTEMPTS = """\
import queue, threading
empty = queue.Queue()
full = queue.Queue(maxsize=1)
full.put(0)
found_empty = found_full = 0
for _ in range(3000):  # past the span allowance: what nobody waited on is summed up
    try:
        empty.get_nowait()
    except queue.Empty:
        found_empty += 1
    try:
        full.put_nowait(1)
    except queue.Full:
        found_full += 1
print(found_empty, found_full)
"""


def test_failed_nowait_calls_are_spans_past_the_allowance(tmp_path: Path, receiver: Any) -> None:
    """A get on an empty queue and a put on a full one failed: never summed up, as a busy
    ``acquire(False)`` is not."""
    stdout, spans = _spans(tmp_path, receiver, FAILED_ATTEMPTS)
    assert "3000 3000" == stdout.strip()
    outcomes = collections.Counter(
        (span.name.split()[0], span.attributes.get("syncscope.outcome")) for span in spans
    )
    assert 3000 == outcomes[("Queue.get", "empty")], outcomes
    assert 3000 == outcomes[("Queue.put", "full")], outcomes


MANY_USES = """\
import threading
lock = threading.Lock()
def work():
    for _ in range(30_000):
        with lock:
            pass
thread = threading.Thread(target=work)
thread.start()
thread.join(timeout=60)
"""


def test_a_part_is_cut_after_that_many_spans_not_operations(tmp_path: Path, receiver: Any) -> None:
    """
    Uses summed up count as their summary span, not as the spans they would have been: every
    part but the last has at least ``--spans-per-trace`` spans, as its run span says.
    """
    _, spans = _spans(tmp_path, receiver, MANY_USES, "--spans-per-trace=1000")
    parts: dict[str, list[Any]] = collections.defaultdict(list)
    for span in spans:
        parts[span.trace_id].append(span)
    assert any(s.attributes.get("syncscope.outcome") == "summary" for s in spans)
    runs = sorted(
        (s for s in spans if s.name.startswith("run prog.py")),
        key=lambda s: s.attributes["syncscope.trace_part"],
    )
    assert len(parts) == len(runs)
    for index, run in enumerate(runs):
        made = [s for s in parts[run.trace_id] if not s.name.startswith(("run ", "thread "))]
        assert len(made) == run.attributes["syncscope.spans"]
        if index < len(runs) - 1:
            assert len(made) >= 1000, [len(parts[r.trace_id]) for r in runs]
