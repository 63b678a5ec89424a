"""
The span export's exit line, counted from what became of the spans: sent to the endpoint,
handed to the program's own TracerProvider (once it set one), written to a file of its own,
or dropped and why. The runs behind it are in test_spans.py; here, every combination of
targets, from the counts the sender keeps.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from syncscope._sinks.spans.exitline import exit_line
from syncscope._sinks.spans.options import SpanOptions
from syncscope._sinks.spans.send import SpanCounts


URL = "http://127.0.0.1:4318/v1/traces (http/protobuf)"


def _counts(exported: int = 0, provided: int = 0, buffer_full: int = 0) -> SpanCounts:
    counts = SpanCounts()
    counts.shipped = exported + provided
    counts.exported = exported
    counts.provided = provided
    counts.buffer_dropped = buffer_full
    return counts


def _sender(otlp: bool, provider_hooked: bool) -> Any:
    """What the line reads of the sender (which starts a thread of its own when made)."""
    return SimpleNamespace(otlp=otlp, provider_hooked=provider_hooked, target=URL)


OTLP = SpanOptions(exporters=("otlp",), endpoint="http://127.0.0.1:4318")
FILE = SpanOptions(exporters=(), jaeger_file="trace.json")
NOTHING = SpanOptions(exporters=())


@pytest.mark.parametrize(
    ("counts", "options", "sender", "line"),
    [
        pytest.param(
            _counts(exported=5),
            OTLP,
            _sender(otlp=True, provider_hooked=False),
            f"5 made, 5 sent to {URL}, 0 dropped",
            id="endpoint",
        ),
        pytest.param(
            _counts(exported=10, provided=5),
            OTLP,
            _sender(otlp=True, provider_hooked=True),
            f"15 made, 10 sent to {URL} and 5 to the program's TracerProvider, 0 dropped",
            id="endpoint-then-provider",
        ),
        pytest.param(
            _counts(provided=5),
            OTLP,
            _sender(otlp=True, provider_hooked=True),
            None,
            id="provider-from-the-start",
        ),
        pytest.param(
            _counts(provided=5, buffer_full=3),
            OTLP,
            _sender(otlp=True, provider_hooked=True),
            "8 made, 5 sent to the program's TracerProvider, 3 dropped (3 buffer full)",
            id="provider-from-the-start-some-dropped",
        ),
        pytest.param(
            _counts(exported=10, provided=5, buffer_full=3),
            FILE,
            _sender(otlp=False, provider_hooked=True),
            "18 made, 15 written to trace.json, 5 of them also sent to the program's "
            "TracerProvider, 3 dropped (3 buffer full)",
            id="file-and-provider-some-dropped",
        ),
        pytest.param(
            _counts(exported=10),
            FILE,
            _sender(otlp=False, provider_hooked=False),
            None,
            id="file-alone",
        ),
        pytest.param(
            _counts(exported=10, provided=5),
            NOTHING,
            _sender(otlp=False, provider_hooked=True),
            "15 made, 5 sent to the program's TracerProvider, 10 dropped (10 made before the "
            "program set its TracerProvider)",
            id="provider-set-late-nothing-else",
        ),
    ],
)
def test_exit_line_says_where_each_span_went(
    counts: SpanCounts, options: SpanOptions, sender: Any, line: str | None
) -> None:
    said = exit_line(counts, options, sender, None)
    assert (None if line is None else f"syncscope: spans: {line}\n") == said
