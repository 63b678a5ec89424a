"""
The timeline sink: ``--timeline FILE`` (a Chrome/Perfetto trace-event JSON file, gzipped when
the name ends in ``.gz``) and ``--html FILE`` (a self-contained report, see ``html``).

On the program's threads :meth:`TimelineSink.handle` appends the event to a list, nothing
more (a list append is atomic under the GIL and costs tens of nanoseconds). At close, the
events are replayed into a timeline (_timeline_model), the findings of the diagnosis sink are
placed on it, it is cut down to size (:func:`bound`) and written.

Why the JSON trace-event format and not Perfetto's protobuf: it opens unchanged in the Perfetto
UI, in ``chrome://tracing`` and in Catapult-based viewers, Python writes it without a
dependency, and a person can read it. Flows use the v1 events (``s``/``f`` with ``bp: "e"``)
bound to the enclosing slice: v2's ``bind_id`` allows one arrow per slice end, and a
``notify_all`` wakes several waits. The Perfetto UI binds an arrow only to a slice that begins
after the arrow's source slice began, and a wait begins before what ends it: so each arrow
ends on a short ``woken: <why>`` slice (category ``woken``, at most 1 µs) nested at the end of
the wait it ended.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import time
from typing import TYPE_CHECKING, Any, NoReturn

from ..._core import fatal
from ..._core.dispatch import guard
from ..._core.event import SyncEvent, without_error
from ..._core.files import check_writable, write_whole
from .model import DEFAULT_MAX_TRACE_EVENTS, TimelineOptions, finding_text, finding_threads


if TYPE_CHECKING:
    from ..recorder import Recorder
    from .model import Node, Timeline

_time_ns = time.time_ns

#: Buckets of the aggregated counters over the run.
BUCKETS = 1000
#: Seconds ``os._exit`` waits for the files (written whole or not at all: see write_trace).
EXIT_WRITE_SECONDS = 10.0


def check_path(path: str | None) -> None:
    """A bad path is an error at start, not at exit when nothing can be done about it."""
    if path:
        check_writable(path)


def _after_the_end(event: SyncEvent) -> None:
    """What a sink that closed does with an event: nothing (it is not the run's)."""


class TimelineSink:
    """Keeps the events for the timeline; builds and writes the files at close."""

    def __init__(self, options: TimelineOptions, recorder: Recorder | None = None) -> None:
        check_path(options.timeline)
        check_path(options.html)
        self.options = options
        self.recorder = recorder
        self.events: list[SyncEvent] = []
        self.dropped = 0
        self.start_ns = _time_ns()
        self.pid = os.getpid()
        #: (when, finding) as the recorder finds them: findings carry no time of their own.
        self.findings: list[tuple[int, object]] = []
        self._closed = False
        if recorder is not None:
            recorder.listeners.append(self._heard)
        self._append = self.events.append
        self._max = options.max_recorded
        self._hook_exit()

    def write_to(self, timeline: str | None, html: str | None) -> None:
        """
        Write these files at close instead (a pytest-xdist worker's own, or none in its
        controller, told once the sink records: see ``pytest_plugin``).
        """
        from dataclasses import replace

        check_path(timeline)
        check_path(html)
        self.options = replace(self.options, timeline=timeline, html=html)

    def _hook_exit(self) -> None:
        """
        Wrap ``os._exit`` while open, and write before a fatal signal (see _core.fatal): a
        program that ends with either still gets its files.
        """
        self._os_exit = original = os._exit
        sink = self

        def _exit(status: int) -> NoReturn:
            with contextlib.suppress(BaseException):  # the program ends as it asked, whatever
                sink.close_within(EXIT_WRITE_SECONDS)
            original(status)

        _exit.__wrapped__ = original  # type: ignore[attr-defined]
        self._exit_wrapper = _exit
        os._exit = _exit
        fatal.close_on_fatal_signal(self.close, EXIT_WRITE_SECONDS, self._imports)

    def _imports(self) -> None:
        """Import what writing the files needs (see _core.fatal): not before, for start-up."""
        import json  # noqa: F401

        if (self.options.timeline or "").endswith(".gz"):
            import gzip  # noqa: F401
        if self.options.html:
            from .. import report  # noqa: F401
            from . import html, page  # noqa: F401

    def _unhook_exit(self) -> None:
        if getattr(os, "_exit", None) is self._exit_wrapper:
            os._exit = self._os_exit
        fatal.forget(self.close)

    def close_within(self, seconds: float) -> None:
        """
        :meth:`close`, waited for ``seconds`` at most, on a thread of its own: ``os._exit``
        may be called from a thread interrupted anywhere, and must not wait for ever.
        """
        done = _thread.allocate_lock()
        done.acquire()

        def write() -> None:
            try:
                self.close()
            finally:
                done.release()

        try:
            _thread.start_new_thread(write, ())
        except RuntimeError:  # at interpreter shutdown (3.12): on this thread, then
            self.close()
            return
        done.acquire(timeout=seconds)

    def _heard(self, finding: object) -> None:
        self.findings.append((_time_ns(), finding))

    def handle(self, event: SyncEvent) -> None:
        if len(self.events) < self._max:
            if event.error is not None:
                event = without_error(event)
            self._append(event)
        else:
            self.dropped += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._append = _after_the_end  # the events to replay stop here, whatever comes
        self._unhook_exit()
        end_ns = _time_ns()
        if os.getpid() != self.pid:
            return  # a forked child: the parent writes the files
        was_busy = guard.busy
        guard.busy = True
        try:
            self._write(end_ns)
        finally:
            guard.busy = was_busy
            self.events = []

    def _write(self, end_ns: int) -> None:
        from .model import replay

        events = self.events
        start = min(self.start_ns, events[0].time_ns) if events else self.start_ns
        timeline = replay(events, start, end_ns)
        timeline.dropped_events = self.dropped
        if self.dropped:
            timeline.notes.append(
                f"{self.dropped} operations after the first {len(events)} were not recorded"
            )
        place_findings(timeline, self._all_findings())
        options = self.options
        if options.timeline:
            write_trace(options.timeline, timeline, options)
        if options.html:
            from .html import write_html

            write_html(options.html, timeline, self.recorder, options)

    def _all_findings(self) -> list[tuple[int, object]]:
        """Those heard, and any the recorder has that were not (found before we listened)."""
        found = list(self.findings)
        recorder = self.recorder
        if recorder is not None:
            heard = {id(f) for _, f in found}
            end = _time_ns()
            for name in ("deadlocks", "hangs", "inversions", "slow"):
                for finding in getattr(recorder, name, ()):
                    if id(finding) not in heard:
                        found.append((end, finding))
        return found


# -- findings on the tracks --------------------------------------------------------------------


def place_findings(timeline: Timeline, findings: list[tuple[int, object]]) -> None:
    """Each finding as a marked instant on the track of every thread it involves."""
    from .model import Instant

    by_name = {track.name: track for track in timeline.tracks}  # the latest of each name
    for when, finding in findings:
        kind, names = finding_threads(finding)
        text = finding_text(finding)
        ns = min(max(when, timeline.start_ns), timeline.end_ns)
        duration = getattr(finding, "duration_ns", None)
        if kind.startswith("long") and isinstance(duration, int):
            ns = max(timeline.start_ns, ns - duration)  # where the hold or wait began
        for name in names:
            track = by_name.get(name)
            if track is None:
                continue
            args = {"finding": kind, "text": text[:4000]}
            timeline.instants.append(Instant(track, ns, kind.upper(), "finding", args, True))


# -- size ---------------------------------------------------------------------------------------


def bound(timeline: Timeline, limit: int) -> None:
    """
    Keep the trace under ``limit`` events. Past it, holds nobody waited for and operations
    that caused no wait are aggregated: replaced by one counter per thread of how many there
    were in each of :data:`BUCKETS` slices of the run. The longest of them are kept as long as
    they fit. If waits, contended holds and arrows alone are over the limit, only the busiest
    window of the run that fits is kept. Long counters are thinned to their lowest and highest
    value per bucket. What was done is said in the notes (the trace's metadata).
    """
    from .model import Instant, Slice

    span = max(timeline.end_ns - timeline.start_ns, 1)
    width = max(span // BUCKETS, 1)
    for name, series in list(timeline.counters.items()):
        if len(series) > 2 * BUCKETS:
            timeline.counters[name] = _thin(series, timeline.start_ns, width)
            timeline.notes.append(f"counter {name!r}: lowest and highest value per bucket")
    fixed = sum(len(series) for series in timeline.counters.values()) + 4 * len(timeline.tracks)
    essential_slices = [s for s in timeline.slices if s.cat == "wait" or s.contended]
    optional_slices = [s for s in timeline.slices if not (s.cat == "wait" or s.contended)]
    essential_instants = [i for i in timeline.instants if i.cause or i.cat == "finding"]
    optional_instants = [i for i in timeline.instants if not (i.cause or i.cat == "finding")]
    essential = len(essential_slices) + len(essential_instants) + 2 * len(timeline.flows)
    optional = len(optional_slices) + len(optional_instants)
    if optional <= limit - fixed - essential:
        return
    # The counters of what is aggregated take room too: a quarter of it at most.
    buckets = max(1, min(BUCKETS, (limit // 4) // max(len(timeline.tracks), 1)))
    width = max(span // buckets + 1, 1)
    keep = max(limit - fixed - essential - buckets * len(timeline.tracks), 0)
    ranked: list[Slice | Instant] = sorted(
        [*optional_slices, *optional_instants],
        key=lambda n: n.end_ns - n.start_ns if isinstance(n, Slice) else 0,
        reverse=True,
    )
    kept, dropped = ranked[:keep], ranked[keep:]
    counts: dict[str, dict[int, int]] = {}
    for node in dropped:
        ns = node.start_ns if isinstance(node, Slice) else node.ns
        per = counts.setdefault(node.track.name, {})
        bucket = (ns - timeline.start_ns) // width
        per[bucket] = per.get(bucket, 0) + 1
    for thread, per in counts.items():
        series = [(timeline.start_ns + b * width, float(n)) for b, n in sorted(per.items())]
        timeline.counters[f"{thread}: uncontended operations aggregated"] = series
    kept_ids = {id(n) for n in kept}
    timeline.slices = [
        s for s in timeline.slices if s.cat == "wait" or s.contended or id(s) in kept_ids
    ]
    timeline.instants = [
        i for i in timeline.instants if i.cause or i.cat == "finding" or id(i) in kept_ids
    ]
    timeline.notes.append(
        f"aggregated: {len(dropped)} uncontended holds and operations that made nobody wait "
        f"are counted per thread in buckets of {width / 1e6:.3f} ms "
        f"(counters '<thread>: uncontended operations aggregated'); the {len(kept)} longest "
        "are kept as slices"
    )
    if essential > limit - fixed:
        _busiest_window(timeline, max(limit - fixed, 1000))


def _thin(series: list[tuple[int, float]], start: int, width: int) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    bucket: list[tuple[int, float]] = []
    current = None
    for point in series:
        index = (point[0] - start) // width
        if index != current and bucket:
            out.extend(_extremes(bucket))
            bucket = []
        current = index
        bucket.append(point)
    if bucket:
        out.extend(_extremes(bucket))
    return out


def _extremes(bucket: list[tuple[int, float]]) -> list[tuple[int, float]]:
    low = min(bucket, key=lambda p: p[1])
    high = max(bucket, key=lambda p: p[1])
    last = bucket[-1]
    return sorted({low, high, last})


def _busiest_window(timeline: Timeline, room: int) -> None:
    """Keep the shortest stretch of the run that holds ``room`` slices and instants."""
    from .model import Instant, Slice

    nodes: list[Slice | Instant] = [*timeline.slices, *timeline.instants]
    if len(nodes) <= room:
        return
    starts = sorted(n.start_ns if isinstance(n, Slice) else n.ns for n in nodes)
    best = 0
    count = max(room - 1, 1)
    for i in range(len(starts) - count):
        if starts[i + count] - starts[i] < starts[best + count] - starts[best]:
            best = i
    low, high = starts[best], starts[best + count]

    def inside(node: Slice | Instant) -> bool:
        ns = node.start_ns if isinstance(node, Slice) else node.ns
        return low <= ns <= high or (isinstance(node, Instant) and node.cat == "finding")

    timeline.slices = [s for s in timeline.slices if inside(s)]
    timeline.instants = [i for i in timeline.instants if inside(i)]
    kept = {id(n) for n in (*timeline.slices, *timeline.instants)}
    timeline.flows = [f for f in timeline.flows if id(f.source) in kept and id(f.target) in kept]
    timeline.notes.append(
        f"cut: only the busiest {(high - low) / 1e6:.3f} ms of the run are in the trace "
        "(waits and contended holds alone were over the size limit)"
    )


# -- the trace-event file ----------------------------------------------------------------------


def trace_events(timeline: Timeline, options: TimelineOptions) -> dict[str, Any]:
    """The timeline as a Chrome trace-event JSON object."""
    from .model import Slice

    bound(timeline, options.max_trace_events)
    base = timeline.start_ns
    pid = os.getpid()

    def us(ns: int) -> float:
        return round((ns - base) / 1000, 3)

    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": options.run_name}}
    ]
    for order, track in enumerate(sorted(timeline.tracks, key=lambda t: t.first_ns)):
        events.append(
            {"ph": "M", "name": "thread_name", "pid": pid, "tid": track.index,
             "args": {"name": track.name}}
        )  # fmt: skip
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": track.index,
             "args": {"sort_index": order}}
        )  # fmt: skip
    timed: list[tuple[int, int, dict[str, Any]]] = []
    for s in timeline.slices:
        entry = {
            "ph": "X", "name": s.name, "cat": s.cat, "pid": pid, "tid": s.track.index,
            "ts": us(s.start_ns), "dur": round((s.end_ns - s.start_ns) / 1000, 3),
            "args": s.args,
        }  # fmt: skip
        timed.append((s.start_ns, 0, entry))
    for i in timeline.instants:
        entry = {
            "ph": "i", "s": "t", "name": i.name, "cat": i.cat, "pid": pid,
            "tid": i.track.index, "ts": us(i.ns), "args": i.args,
        }  # fmt: skip
        timed.append((i.ns, 0, entry))
    woken: set[int] = set()
    for number, flow in enumerate(timeline.flows, 1):
        src, dst = flow.source, flow.target
        src_ns = _bind_start(src)
        if isinstance(dst, Slice):
            # The arrow ends on a short "woken" slice at the end of the wait, inside it: the
            # Perfetto UI binds an arrow only to a slice that begins after the arrow's source.
            length = max(1, min(1000, (dst.end_ns - dst.start_ns) // 4))
            dst_ns = dst.end_ns - length // 2 if length >= 2 else dst.end_ns - length
            if id(dst) not in woken:
                woken.add(id(dst))
                entry = {
                    "ph": "X", "name": f"woken: {flow.why}", "cat": "woken", "pid": pid,
                    "tid": dst.track.index, "ts": us(dst.end_ns - length),
                    "dur": round(length / 1000, 3), "args": {"by": flow.why},
                }  # fmt: skip
                timed.append((dst.end_ns - length, 0, entry))
        else:
            dst_ns = dst.ns
        common = {"cat": "flow", "name": flow.why, "id": number, "pid": pid}
        timed.append((src_ns, 1, {"ph": "s", "tid": src.track.index, "ts": us(src_ns), **common}))
        timed.append(
            (dst_ns, 1, {"ph": "f", "bp": "e", "tid": dst.track.index, "ts": us(dst_ns), **common})
        )
    for name, series in timeline.counters.items():
        for ns, value in series:
            timed.append((ns, 0, {"ph": "C", "name": name, "pid": pid, "ts": us(ns),
                                  "args": {"value": value}}))  # fmt: skip
    # In time order, a flow's end after the slice it binds to (a stable sort keeps the rest).
    timed.sort(key=lambda entry: (entry[0], entry[1]))
    events.extend(entry for _, _, entry in timed)
    metadata = {
        "tool": "syncscope",
        "run": options.run_name,
        "start_time_unix_ns": timeline.start_ns,
        "duration_ms": round((timeline.end_ns - timeline.start_ns) / 1e6, 3),
        "threads": len(timeline.tracks),
        "operations": timeline.events,
        "slices": len(timeline.slices),
        "flows": len(timeline.flows),
        "notes": timeline.notes or ["complete: nothing aggregated"],
    }
    return {"traceEvents": events, "displayTimeUnit": "ns", "metadata": metadata}


def _bind_start(node: Node) -> int:
    """Where a flow leaves ``node``: just inside a slice (the enclosing slice then), or the
    instant itself."""
    from .model import Slice

    if isinstance(node, Slice):
        return node.start_ns + 1 if node.end_ns - node.start_ns >= 2 else node.start_ns
    return node.ns


def write_trace(path: str, timeline: Timeline, options: TimelineOptions) -> None:
    import json

    data = json.dumps(trace_events(timeline, options), separators=(",", ":"))
    write_whole(path, data, compress=path.endswith(".gz"))


def timeline_sink(
    timeline: str | None,
    html: str | None,
    sinks: tuple[Any, ...],
    run_name: str | None,
    max_trace_events: int = DEFAULT_MAX_TRACE_EVENTS,
) -> TimelineSink:
    """The sink for ``install(timeline=..., html=...)``, fed the findings of the recorder
    among ``sinks`` (if any)."""
    from ..recorder import Recorder

    recorder = next((s for s in sinks if isinstance(s, Recorder)), None)
    if run_name is None:
        import sys

        run_name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    options = TimelineOptions(timeline, html, max_trace_events, run_name=run_name)
    return TimelineSink(options, recorder)
