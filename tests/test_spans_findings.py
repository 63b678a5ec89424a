"""
Findings in the trace, against a real OTLP receiver: a lock-order inversion is an error span
that links to the holds that made it, the closing thread's and the other order's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpHttpReceiver

from .test_spans import _run, span_line


ERROR = 2  # the OTLP status code

INVERSION = """\
import threading
first = threading.Lock()
second = threading.Lock()
def forward():
    with first:
        with second:
            pass
def backward():
    with second:
        with first:
            pass
for target in (forward, backward):  # one after the other: the orders can deadlock, they do not
    thread = threading.Thread(target=target, name=target.__name__)
    thread.start()
    thread.join(timeout=10)
"""


@pytest.fixture
def receiver() -> Iterator[Any]:
    with OtlpHttpReceiver() as server:
        yield server


def _inversion(
    tmp_path: Path, receiver: Any, source: str, *mode: str
) -> tuple[dict[str, Any], list[Any], Any, dict[str, Any]]:
    """Run ``source`` with spans: the exit line, the spans, the inversion's span, spans by id."""
    args = [*mode, f"--otlp={receiver.endpoint}", "--protocol", "http/protobuf"]
    result = _run(tmp_path, source, *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    spans = receiver.wait_for_spans(line["sent"])
    (finding,) = [s for s in spans if s.attributes.get("syncscope.finding") == "inversion"]
    return line, spans, finding, {span.span_id: span for span in spans}


@pytest.mark.parametrize("mode", [["-q"], []], ids=["quiet", "lines"])
def test_an_inversion_links_to_the_holds_of_both_orders(
    tmp_path: Path, receiver: Any, mode: list[str]
) -> None:
    _, spans, finding, by_id = _inversion(tmp_path, receiver, INVERSION, *mode)
    assert ERROR == finding.status_code
    linked = {
        (by_id[link.span_id].name, by_id[link.span_id].attributes["thread.name"]): link
        for link in finding.links
    }
    assert {
        ("Lock.hold first", "forward"),
        ("Lock.hold second", "forward"),
        ("Lock.hold first", "backward"),
        ("Lock.hold second", "backward"),
    } == set(linked)
    for (_, thread), link in linked.items():
        why = "holds" if thread == "backward" else "held before"
        assert why == link.attributes["syncscope.link"]
    for span in spans:  # nobody waited: no hold says it made anyone wait
        assert "syncscope.made_others_wait" not in span.attributes


UNDER_LOAD = (
    """\
import threading
busy = threading.Lock()
for _ in range(20_000):  # past the span allowance: what nobody waits on is summed up
    with busy:
        pass
"""
    + INVERSION
)


@pytest.mark.parametrize("mode", [["-q"], []], ids=["quiet", "lines"])
def test_an_inversions_links_lead_to_spans_sent_under_load(
    tmp_path: Path, receiver: Any, mode: list[str]
) -> None:
    """Past the allowance the holds it links to, which made nobody wait, are still sent."""
    line, _, finding, by_id = _inversion(tmp_path, receiver, UNDER_LOAD, *mode)
    assert line["aggregated"] > 0, line  # the pressure was on
    assert all(link.span_id in by_id for link in finding.links)
    holds = {
        by_id[link.span_id].name
        for link in finding.links
        if link.attributes["syncscope.link"] == "holds"
    }
    assert {"Lock.hold first", "Lock.hold second"} == holds


PER_OBJECT = """\
import threading
def make_a():
    return threading.Lock()
def make_b():
    return threading.Lock()
a1, b1, a2, b2 = make_a(), make_b(), make_a(), make_b()
def forward():
    with a1:
        with b1:
            pass
def backward():
    with b2:
        with a2:
            pass
for target in (forward, backward):
    thread = threading.Thread(target=target, name=target.__name__)
    thread.start()
    thread.join(timeout=10)
"""


def test_an_inversion_of_locks_made_at_two_places_links_all_four_holds(
    tmp_path: Path, receiver: Any
) -> None:
    """The cycle is of creation sites: each order's two locks are other objects."""
    _, _, finding, by_id = _inversion(tmp_path, receiver, PER_OBJECT, "-q")
    linked = {
        (
            by_id[link.span_id].attributes["syncscope.name"],
            by_id[link.span_id].attributes["thread.name"],
        )
        for link in finding.links
    }
    assert {"forward", "backward"} == {thread for _, thread in linked}
    assert 4 == len(linked), linked
