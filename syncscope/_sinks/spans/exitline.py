"""
The exit line: what became of the spans, said once on standard error at exit when they went
to an OTLP endpoint or any were lost (how many were made, sent and where, dropped and why,
and how many operations were summed up instead).
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
    otlp = remote is not None and remote.otlp
    local = _local_targets(options)
    # With no endpoint and no file of their own, spans made before the program set its
    # TracerProvider went nowhere.
    nowhere = 0 if otlp or local else stats.exported
    lost = stats.buffer_dropped + stats.queue_dropped + stats.failed_spans + stats.unsent
    lost += stats.unbuilt + refused + nowhere
    if setup_error is not None:
        parts.append(f"spans are off: {setup_error}")
    elif lost or (
        remote is not None and remote.otlp and (stats.exported or not remote.provider_hooked)
    ):
        text = f"spans: {made:,} made, {_sent(stats, remote, local)}, {lost:,} dropped"
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
        if nowhere:
            why.append(f"{nowhere:,} made before the program set its TracerProvider")
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


def _local_targets(options: SpanOptions) -> list[str]:
    """Where every span built goes on syncscope's own thread: the Jaeger file, the console."""
    local = [] if options.jaeger_file is None else [options.jaeger_file]
    if "console" in options.exporters:
        local.append("the console")
    return local


def _sent(stats: SpanCounts, remote: Sender | None, local: list[str]) -> str:
    """
    How many went where: to the endpoint and to the program's provider (once it had one),
    each counted apart; without an endpoint, to the file or console, which take them all.
    """
    provided = f"{stats.provided:,} sent to the program's TracerProvider"
    if remote is not None and remote.otlp:
        if stats.provided and not stats.exported:
            return provided
        sent = f"{stats.exported:,} sent to {remote.target}"
        if stats.provided:
            sent += f" and {stats.provided:,} to the program's TracerProvider"
        return sent
    if not local:
        return provided
    written = f"{stats.exported + stats.provided:,} written to {' and '.join(local)}"
    if stats.provided:
        written += f", {stats.provided:,} of them also sent to the program's TracerProvider"
    return written
