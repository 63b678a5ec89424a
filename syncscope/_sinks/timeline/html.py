"""
``--html FILE``: one self-contained HTML file (no network at view time): the exit report's
tables (sortable), the findings with their stacks, and a zoomable timeline of the threads with
their holds, waits and causality arrows for the busiest stretch of the run (all of it when
small). The page's script and style are in ``_html_page.py``; this module picks what goes in.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..._core.files import write_whole
from .model import Instant, Slice


if TYPE_CHECKING:
    from ..recorder import Recorder
    from .model import Node, Timeline, TimelineOptions

#: Slices and instants drawn at most; the busiest window that holds them is shown.
MAX_DRAWN = 4000


def _start(node: Node) -> int:
    return node.start_ns if isinstance(node, Slice) else node.ns


def busiest_window(timeline: Timeline, limit: int = MAX_DRAWN) -> tuple[int, int]:
    """
    The stretch of the run to draw: all of it when it has at most ``limit`` slices and
    instants, else the shortest stretch that holds ``limit`` of them, found among those that
    matter (waits, contended holds, findings) when there are enough of those.
    """
    nodes: list[Node] = [*timeline.slices, *timeline.instants]
    if len(nodes) <= limit:
        return timeline.start_ns, timeline.end_ns
    important = [
        n for n in nodes
        if (isinstance(n, Slice) and (n.cat == "wait" or n.contended))
        or (isinstance(n, Instant) and n.cat == "finding")
    ]  # fmt: skip
    pool = important if len(important) >= limit // 4 else nodes
    starts = sorted(_start(n) for n in pool)
    count = min(limit, len(starts)) - 1
    if count <= 0:
        return timeline.start_ns, timeline.end_ns
    best = 0
    for i in range(len(starts) - count):
        if starts[i + count] - starts[i] < starts[best + count] - starts[best]:
            best = i
    return starts[best], max(starts[best + count], starts[best] + 1)


def page_data(timeline: Timeline, recorder: Recorder | None, options: TimelineOptions) -> Any:
    """Everything the page shows, as plain JSON data."""
    low, high = busiest_window(timeline)
    base = timeline.start_ns

    def us(ns: int) -> float:
        return round((ns - base) / 1000, 3)

    def visible(start: int, end: int) -> bool:
        return end >= low and start <= high

    slices: list[list[Any]] = []
    drawn: dict[int, int] = {}
    for s in timeline.slices:
        if visible(s.start_ns, s.end_ns) and len(slices) < MAX_DRAWN * 2:
            drawn[id(s)] = len(slices)
            slices.append(
                [s.track.index, us(s.start_ns), us(s.end_ns), s.name, s.cat, s.args,
                 s.contended]
            )  # fmt: skip
    instants: list[list[Any]] = []
    for i in timeline.instants:
        if (visible(i.ns, i.ns) and len(instants) < MAX_DRAWN) or i.cat == "finding":
            drawn[id(i)] = -1
            instants.append([i.track.index, us(i.ns), i.name, i.cat, i.args])
    flows: list[list[Any]] = []
    for f in timeline.flows:
        if id(f.source) in drawn and id(f.target) in drawn:
            src = f.source
            # The arrow leaves where the cause happened: a hold's release, an instant.
            src_ns = src.end_ns if isinstance(src, Slice) else src.ns
            if isinstance(src, Slice) and src.cat == "wait":
                src_ns = src.end_ns
            dst = f.target
            dst_ns = dst.end_ns if isinstance(dst, Slice) else dst.ns
            flows.append([src.track.index, us(src_ns), dst.track.index, us(dst_ns), f.why])
    tracks = [
        {"id": t.index, "name": t.name} for t in sorted(timeline.tracks, key=lambda t: t.first_ns)
    ]
    report: dict[str, Any] | None = None
    texts: list[dict[str, str]] = []
    if recorder is not None:
        from ..report import Report
        from .model import finding_text, finding_threads

        rep = Report.of(recorder)
        report = rep.to_dict()
        report["text"] = rep.text()
        for group in (rep.deadlocks, rep.hangs, rep.inversions, rep.slow):
            for finding in group:
                kind, threads = finding_threads(finding)
                texts.append(
                    {"kind": kind, "threads": ", ".join(threads), "text": finding_text(finding)}
                )
    return {
        "run": options.run_name,
        "duration_ms": round((timeline.end_ns - timeline.start_ns) / 1e6, 3),
        "operations": timeline.events,
        "window": [us(low), us(high)],
        "whole": low == timeline.start_ns and high == timeline.end_ns,
        "tracks": tracks,
        "slices": slices,
        "instants": instants,
        "flows": flows,
        "notes": timeline.notes,
        "report": report,
        "findings": texts,
    }


def render(data: Any) -> str:
    from .page import PAGE

    # "</" inside a script element would end it: escape it in the embedded JSON.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    title = f"syncscope: {data['run']}"
    return PAGE.replace("__TITLE__", _escape(title)).replace("__DATA__", payload)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_html(
    path: str, timeline: Timeline, recorder: Recorder | None, options: TimelineOptions
) -> None:
    text = render(page_data(timeline, recorder, options))
    write_whole(path, text)
