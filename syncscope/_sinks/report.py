"""
The report of a run, public as ``syncscope.report`` (see there): the costliest primitives
and the findings, as a terminal table and as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .._core.event import SIGNAL_WAITS
from .._core.output import format_duration
from .._core.records import record, replace
from .figures import PrimitiveStats
from .refs import Ref, short_path


TYPE_CHECKING = False
if TYPE_CHECKING:  # a report of a run that found nothing needs no finding's class
    from typing import Any

    from .findings import Deadlock, Hang, Inversion, SlowSpot


__all__ = ["FORMAT", "Report"]

#: The ``format`` field of the JSON report; changes when a field changes meaning.
FORMAT = "syncscope-report/1"

_LOCK_KINDS = ("lock", "rlock", "semaphore", "condition")
_WAIT_KINDS = ("condition", "event", "barrier", "future")
#: What the waits for a signal are, in the table's title.
_SIGNAL_WAITS = "Condition.wait, Event.wait, Barrier.wait, Future.result"
_PREFIX = "syncscope: "


@record(kw_only=False)
class Report:
    """
    Everything a report shows, frozen at one moment.

    .. versionadded:: 0.1.0
    """

    primitives: tuple[PrimitiveStats, ...]
    inversions: tuple[Inversion, ...]
    deadlocks: tuple[Deadlock, ...]
    hangs: tuple[Hang, ...]
    slow: tuple[SlowSpot, ...]
    slow_dropped: int
    duration_s: float
    #: The findings were written out when found: the text lists each in one line.
    echoed: bool = False
    #: Lock-order checks skipped: locks a profile function or a signal handler of the
    #: program's took while its thread was inside syncscope's own check.
    order_checks_skipped: int = 0

    @classmethod
    def of(cls, source: Any, echoed: bool = False) -> Report:
        """
        The report of a recorder, or of what ``syncscope.record()`` gave; ``echoed``: its
        findings were written out in full when found (the text then lists each in one line).
        """
        recorder = getattr(source, "_recorder", source)
        stats = recorder.stats.summary() if recorder.stats is not None else []
        stats = _with_waits_in_progress(stats, recorder)
        order = getattr(recorder, "lockorder", None)
        return cls(
            tuple(sorted(stats, key=_cost, reverse=True)),
            tuple(recorder.inversions),
            tuple(recorder.deadlocks),
            tuple(recorder.hangs),
            tuple(recorder.slow),
            recorder.slow_dropped,
            recorder.duration_ns / 1e9,
            echoed=echoed,
            order_checks_skipped=order.skipped if order is not None else 0,
        )

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "duration_s": round(self.duration_s, 6),
            "summary": {
                "primitives": len(self.primitives),
                # A lock waited for at exit (a deadlock's) is contended, though no wait ended.
                "contended": sum(1 for p in self.primitives if p.contended or p.in_progress),
                "inversions": sum(1 for i in self.inversions if i.guarded_by is None),
                "guarded_inversions": sum(1 for i in self.inversions if i.guarded_by is not None),
                "deadlocks": len(self.deadlocks),
                "hangs": len(self.hangs),
                "slow": len(self.slow) + self.slow_dropped,
            },
            "primitives": [p.to_dict() for p in self.primitives],
            "inversions": [i.to_dict() for i in self.inversions],
            "deadlocks": [d.to_dict() for d in self.deadlocks],
            "hangs": [h.to_dict() for h in self.hangs],
            "slow": [s.to_dict() for s in self.slow],
            "slow_dropped": self.slow_dropped,
            "order_checks_skipped": self.order_checks_skipped,
        }

    def to_json(self) -> str:
        import json  # only for --report-json: not loaded to write the text

        return json.dumps(self.to_dict(), indent=2) + "\n"

    # -- text ----------------------------------------------------------------------------------

    def headline(self) -> str:
        guarded = sum(1 for i in self.inversions if i.guarded_by is not None)
        found = [
            _count(len(self.inversions) - guarded, "lock-order inversion"),
            _count(len(self.deadlocks), "deadlock"),
            _count(len(self.hangs), "hang") + _over(self.hangs),
        ]
        if guarded:
            found.append(_count(guarded, "guarded lock order"))
        if self.slow or self.slow_dropped:
            found.append(_count(len(self.slow) + self.slow_dropped, "slow spot"))
        if self.order_checks_skipped:
            checks = _count(self.order_checks_skipped, "lock-order check")
            why = "locks taken by a profile function or signal handler inside syncscope's check"
            found.append(f"{checks} skipped ({why})")
        return (
            f"syncscope report: {format_duration(int(self.duration_s * 1e9))}, "
            f"{_count(len(self.primitives), 'primitive')} used; " + ", ".join(found)
        )

    def text(self, top: int = 10) -> str:
        """The report for a terminal: the ``top`` rows of each table, then every finding."""
        lines = [self.headline()]
        lines += self._locks_table(top)
        lines += self._waits_table(top)
        lines += self._queues_table(top)
        for title, findings in (
            ("Lock-order inversions", [i for i in self.inversions if i.guarded_by is None]),
            (
                "Guarded lock orders (both orders, always under one lock)",
                [i for i in self.inversions if i.guarded_by is not None],
            ),
            ("Deadlocks", self.deadlocks),
            ("Hangs", self.hangs),
        ):
            if findings:
                lines += ["", f"{title} ({len(findings)}):"]
                for finding in findings:
                    text = finding.text()
                    text = text[len(_PREFIX) :] if text.startswith(_PREFIX) else text
                    if self.echoed:  # in full above already: its head only
                        lines.append(f"  {text.splitlines()[0]} (written in full when found)")
                    else:
                        lines += ["  " + line for line in text.splitlines()]
                    over = getattr(finding, "over_after_ns", None)
                    if over is not None:
                        lines.append(
                            f"    over: its waits ended after {format_duration(over)} (a wait "
                            "longer than the hang timeout, not blocked for good)"
                        )
        if self.slow:
            total = len(self.slow) + self.slow_dropped
            lines += ["", f"Slow spots ({total}):"]
            lines += ["  " + spot.text() for spot in self.slow[:top]]
            if total > top:
                lines.append(f"  ... and {total - top} more")
        return "\n".join(lines)

    def _locks_table(self, top: int) -> list[str]:
        # Each table reads the kind through the Ref, not the property: a report looks at
        # every primitive three times, 30,000 calls for 10,000 locks.
        rows = [
            p
            for p in self.primitives
            if p.primitive.kind in _LOCK_KINDS
            and (p.acquisitions or p.timeouts or p.failed or p.in_progress)
        ]
        if not rows:
            return []
        table = [
            (
                "name",
                "kind",
                "created at",
                "acquired",
                "contended",
                "total wait",
                "max wait",
                "p99 wait",
                "max hold",
            )
        ]
        notes: dict[int, list[str]] = {}
        for p in rows[:top]:
            table.append(
                (
                    _name(p),
                    p.kind,
                    p.primitive.created_at,
                    f"{p.acquisitions:,}",
                    f"{p.contended_ratio:.1%}",
                    _duration(p.total_wait_s),
                    _duration(p.max_wait_s),
                    _duration(p.p99_wait_s),
                    _duration(p.max_hold_s),
                )
            )
            site = p.top_site()
            row = notes[len(table) - 1] = []
            if site is not None and site.contended:
                row.append(
                    f"    most waited at {short_path(site.file)}:{site.line} in {site.function}: "
                    f"{site.contended:,} of {p.contended:,} waits, "
                    f"{_duration(site.total_wait_s)} in all"
                )
            elif p.holds and (taken := p.top_taken_site()) is not None:
                row.append(
                    f"    mostly taken at {short_path(taken.file)}:{taken.line} in {taken.function}"
                )
            for holder in p.made_wait:
                row.append(
                    f'    made others wait: "{holder.thread}", holding it from '
                    f"{short_path(holder.file)}:{holder.line} in {holder.function}: "
                    f"{_count(holder.waits, 'wait')}, {_duration(holder.total_wait_s)} in all"
                )
            if p.contended and p.longest_holds:
                row.append(
                    "    longest holds: "
                    + ", ".join(
                        f'{_duration(h.max_s)} by "{h.thread}" from {short_path(h.file)}:{h.line}'
                        for h in p.longest_holds
                    )
                )
            if p.in_progress:
                row.append(_still_waiting(p.in_progress, p.in_progress_max_s))
        lines = ["", "Locks, by time spent waiting for them:"]
        lines += _render(table, right=range(3, 9), notes=notes)
        lines += _more(rows, top, lambda p: p.contended > 0 or p.in_progress > 0, "contended")
        return lines

    def _waits_table(self, top: int) -> list[str]:
        rows = [
            p
            for p in self.primitives
            if p.primitive.kind in _WAIT_KINDS
            and (p.waits or p.notifies or p.sets or p.signal_waits_in_progress)
        ]
        if not rows:
            return []
        rows.sort(
            key=lambda p: (p.total_waited_s + p.signal_waits_in_progress_max_s, p.waits),
            reverse=True,
        )
        table = [
            (
                "name",
                "kind",
                "created at",
                "waits",
                "timeouts",
                "total waited",
                "max waited",
                "signals",
            )
        ]
        notes: dict[int, list[str]] = {}
        for p in rows[:top]:
            signals = p.sets if p.kind == "event" else p.notifies
            if p.signal_waits_in_progress:
                notes[len(table)] = [
                    _still_waiting(p.signal_waits_in_progress, p.signal_waits_in_progress_max_s)
                ]
            table.append(
                (
                    _name(p),
                    p.kind,
                    p.primitive.created_at,
                    f"{p.waits:,}",
                    f"{p.wait_timeouts:,}",
                    _duration(p.total_waited_s),
                    _duration(p.max_waited_s),
                    "-" if p.kind in ("barrier", "future") else f"{signals:,}",
                )
            )
        lines = ["", f"Waiting for a signal ({_SIGNAL_WAITS}):"]
        lines += _render(table, right=range(3, 8), notes=notes)
        lines += _more(
            rows, top, lambda p: p.total_waited_s > 0 or p.signal_waits_in_progress, "that waited"
        )
        return lines

    def _queues_table(self, top: int) -> list[str]:
        rows = [
            p
            for p in self.primitives
            if p.primitive.kind == "queue"
            and (p.puts or p.gets or p.rejected or p.in_progress or p.signal_waits_in_progress)
        ]
        if not rows:
            return []
        rows.sort(key=lambda p: (p.blocked_full_s, p.blocked_empty_s, p.puts), reverse=True)
        table = [
            (
                "name",
                "type",
                "created at",
                "puts",
                "gets",
                "max size",
                "blocked full",
                "blocked empty",
                "unfinished",
            )
        ]
        notes: dict[int, list[str]] = {}
        for p in rows[:top]:
            row = notes[len(table)] = []
            if p.in_progress:  # puts into a queue that stayed full
                row.append(_still_waiting(p.in_progress, p.in_progress_max_s, "put"))
            if p.signal_waits_in_progress:  # Queue.join(): tasks never done
                row.append(
                    _still_waiting(
                        p.signal_waits_in_progress, p.signal_waits_in_progress_max_s, "join"
                    )
                )
            table.append(
                (
                    _name(p),
                    p.primitive.type_name,
                    p.primitive.created_at,
                    f"{p.puts:,}",
                    f"{p.gets:,}",
                    "-" if p.max_size is None else f"{p.max_size:,}",
                    _duration(p.blocked_full_s),
                    _duration(p.blocked_empty_s),
                    "-" if p.unfinished is None else f"{p.unfinished:,}",
                )
            )
        lines = ["", "Queues (blocked full: producers waited for room; empty: consumers idle):"]
        lines += _render(table, right=range(3, 9), notes=notes)
        lines += _more(rows, top, lambda p: p.blocked_full_s > 0, "blocked full")
        return lines


def _with_waits_in_progress(stats: list[PrimitiveStats], recorder: Any) -> list[PrimitiveStats]:
    """Count the waits still in progress (the program ended while they waited)."""
    holds = getattr(recorder, "holds", None)
    if holds is None or not holds.waiting:
        return stats
    now = time.time_ns()
    # primitive id -> the primitive, then (count, longest ns) of lock waits and signal waits
    pending: dict[int, tuple[Any, list[int]]] = {}
    for wait in list(holds.waiting.values()):
        if wait.op == "get":  # a queue's idle consumer: no one is kept from going on
            continue
        primitive = wait.primitive
        counts = pending.setdefault(primitive.id, (primitive, [0, 0, 0, 0]))[1]
        at = 2 if wait.op in SIGNAL_WAITS else 0
        counts[at] += 1
        counts[at + 1] = max(counts[at + 1], now - wait.since_ns)
    result = []
    for figures in stats:
        found = pending.pop(figures.primitive.id, None)
        if found is not None:
            figures = replace(figures, **_in_progress(found[1]))  # noqa: PLW2901 (the same row)
        result.append(figures)
    for primitive, counts in pending.values():
        result.append(PrimitiveStats(Ref.of(primitive), **_in_progress(counts)))
    return result


def _in_progress(counts: list[int]) -> dict[str, Any]:
    waits, longest, signal_waits, signal_longest = counts
    return {
        "in_progress": waits,
        "in_progress_max_s": round(longest / 1e9, 9),
        "signal_waits_in_progress": signal_waits,
        "signal_waits_in_progress_max_s": round(signal_longest / 1e9, 9),
    }


def _still_waiting(count: int, longest_s: float, noun: str = "wait") -> str:
    return (
        f"    {count:,} {noun}{'s' if count != 1 else ''} still in progress at exit, the longest "
        f"for {_duration(longest_s)}"
    )


def _cost(p: PrimitiveStats) -> tuple[float, ...]:
    # A wait still in progress (a deadlock's, a put into a queue that stays full) counts for
    # as long as it has waited.
    return (
        p.total_wait_s + p.in_progress_max_s,
        p.blocked_full_s,
        p.max_hold_s,
        p.total_waited_s + p.signal_waits_in_progress_max_s,
        p.acquisitions,
    )


def _count(number: int, noun: str) -> str:
    if number == 0:
        return f"no {noun}"
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _name(p: PrimitiveStats) -> str:
    name = p.name if len(p.name) <= 24 else p.name[:23] + "…"
    return f"{name} (x{p.instances})" if p.instances > 1 else name


def _duration(seconds: float) -> str:
    return format_duration(round(seconds * 1e9)) if seconds > 0 else "-"


def _more(rows: Sequence[PrimitiveStats], top: int, hot: Any, adjective: str) -> list[str]:
    rest = rows[top:]
    if not rest:
        return []
    busy = sum(1 for p in rest if hot(p))
    detail = f"{busy} of them {adjective}" if busy else f"none {adjective}"
    return [f"  ... and {len(rest)} more ({detail})"]


def _render(
    table: Sequence[tuple[str, ...]], right: range, notes: dict[int, list[str]] | None = None
) -> list[str]:
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    lines = []
    for index, row in enumerate(table):
        cells = [
            cell.rjust(widths[column]) if column in right else cell.ljust(widths[column])
            for column, cell in enumerate(row)
        ]
        lines.append(("  " + "  ".join(cells)).rstrip())
        if notes and index in notes:
            lines += notes[index]
    return lines


def _over(hangs: tuple[Any, ...]) -> str:
    """How many of ``hangs`` ended after all, for the headline: "" when none did."""
    over = sum(1 for hang in hangs if hang.over_after_ns is not None)
    return f" ({over} over)" if over else ""
