"""
The exit line: what became of the spans, said once on standard error at exit when they went
to an OTLP endpoint or any were lost (how many were made, sent, dropped and why, and how many
operations were summed up instead).
"""

from __future__ import annotations

from .options import SpanOptions
from .send import Sender, SpanCounts


def exit_line(
    stats: SpanCounts, options: SpanOptions, remote: Sender | None, setup_error: str | None
) -> str | None:
    """The line (ending in a newline), or None when there is nothing to say."""
    parts = []
    made = stats.shipped + stats.buffer_dropped + stats.unbuilt
    refused = stats.refused_spans
    lost = stats.buffer_dropped + stats.queue_dropped + stats.failed_spans + stats.unsent
    lost += stats.unbuilt + refused
    if setup_error is not None:
        parts.append(f"spans are off: {setup_error}")
    elif lost or (
        remote is not None and remote.otlp and (stats.exported or not remote.provider_hooked)
    ):
        text = f"spans: {made:,} made, {_sent(stats, remote)}, {lost:,} dropped"
        why = []
        if stats.buffer_dropped or stats.queue_dropped:
            why.append(f"{stats.buffer_dropped + stats.queue_dropped:,} buffer full")
        if refused:
            why.append(f"{refused:,} endpoint refused: {stats.failed_first}")
        if stats.failed_spans:
            exports = "export" if stats.failed_exports == 1 else "exports"
            why.append(
                f"{stats.failed_spans:,} in {stats.failed_exports} failed {exports}: "
                f"{stats.failed_first}"
            )
        if stats.unsent or stats.unbuilt:
            why.append(
                f"{stats.unsent + stats.unbuilt:,} timed out after the "
                f"{options.flush_timeout:g} s flush timeout"
            )
        if why:
            text += f" ({'; '.join(why)})"
        aggregated = stats.aggregated + stats.aggregated_late
        if aggregated:
            text += (
                f"; {aggregated:,} operations nobody waited on summed up in "
                f"{stats.summaries:,} summary spans"
            )
        if stats.filtered:
            text += f"; {stats.filtered:,} spans under {options.min_span_ms:g} ms left out"
        parts.append(text)
    if stats.file_dropped:
        parts.append(f"{stats.file_dropped} spans left out of {options.jaeger_file} (size limit)")
    if not parts:
        return None
    return "syncscope: " + "; ".join(parts) + "\n"


def _sent(stats: SpanCounts, remote: Sender | None) -> str:
    """How many went where: to the endpoint, and to the program's provider once it had one."""
    if remote is None or not remote.otlp:
        sent = f"{stats.exported + stats.provided:,} sent"
        return sent + " to the program's TracerProvider" if stats.provided else sent
    sent = f"{stats.exported:,} sent to {remote.target}"
    if stats.provided:
        sent += f" and {stats.provided:,} to the program's TracerProvider"
    return sent
