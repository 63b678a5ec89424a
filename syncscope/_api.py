"""
The public functions: install, uninstall, name. Re-exported from ``syncscope``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Mapping

from ._core.dispatch import close_sinks, let_go, sink_failed
from ._core.event import Primitive, Sink
from ._core.pools import primitive_for
from ._core.sites import site_of, unique_name, user_frame
from ._core.state import Options, config_lock, counters, set_sinks, state
from ._core.tracking import primitive_of, watch
from ._intercept import patch as _patch
from ._intercept.locks import PROXY_TYPES
from ._intercept.ownsteps import watchable
from ._settings import Settings


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


def install(
    *,
    lines: bool = Settings.lines,
    format: str = Settings.format,
    output: str | None = Settings.output,
    buffer_output: bool = Settings.buffer_output,
    kinds: Iterable[str] | None = Settings.kinds,
    include_library: bool = Settings.include_library,
    hide_items: bool = Settings.hide_items,
    spans: bool = Settings.spans,
    exporter: str | None = Settings.exporter,
    endpoint: str | None = Settings.endpoint,
    protocol: str | None = Settings.protocol,
    headers: str | Mapping[str, str] | None = Settings.headers,
    service_name: str | None = Settings.service_name,
    jaeger_file: str | None = Settings.jaeger_file,
    span_items: bool = Settings.span_items,
    flush_timeout: float = Settings.flush_timeout,
    min_span_ms: float = Settings.min_span_ms,
    max_trace_spans: int = Settings.max_trace_spans,
    span_buffer: int = Settings.span_buffer,
    run_name: str | None = Settings.run_name,
    stats: bool = Settings.stats,
    report: bool = Settings.report,
    report_json: str | None = Settings.report_json,
    detect_deadlocks: bool = Settings.detect_deadlocks,
    deadlock_exit: int | None = Settings.deadlock_exit,
    hang_timeout: float = Settings.hang_timeout,
    deadlock_grace: float = Settings.deadlock_grace,
    long_hold_ms: float | None = Settings.long_hold_ms,
    long_wait_ms: float | None = Settings.long_wait_ms,
    timeline: str | None = Settings.timeline,
    html: str | None = Settings.html,
) -> None:
    """
    Replace threading's and queue's primitives with instrumented ones, and start reporting.

    Only primitives created after this call are watched. Calling it again changes the options
    (with a :class:`SyncscopeWarning`).

    Args:
        lines: write one line per operation.
        format: ``"console"`` (the article's words), ``"json"`` or ``"logfmt"``.
        output: a file to write the lines to; standard error when None.
        buffer_output: buffer the lines written to ``output`` and write them from a thread
            of syncscope's, at most 0.05 s later and at the latest when syncscope is
            uninstalled, the process forks or calls ``os._exit`` (the runner's way: one
            write a line made a short threaded program twice as slow). A file that is also
            the program's standard output or error, or a terminal, is written a line at a
            time regardless.
        kinds: watch only these kinds (``lock``, ``rlock``, ``condition``, ``semaphore``,
            ``event``, ``barrier``, ``queue``); all when None.
        include_library: also watch primitives that the standard library and installed
            packages create (the Event in every Thread, logging's lock...).
        hide_items: keep queue items out of the output.
        spans: also make an OpenTelemetry span of every operation (see ``syncscope._sinks.spans``
            for the span model). OpenTelemetry is imported only then, on a thread of
            syncscope's own. The arguments below apply only with ``spans=True``.
        exporter: where spans go, comma-separated: ``otlp``, ``console``, ``none``; None
            reads ``OTEL_TRACES_EXPORTER`` (default ``otlp``, or ``none`` when
            ``jaeger_file`` is given). A global SDK TracerProvider set by the program takes
            the place of ``otlp`` and ``console``.
        endpoint: the OTLP endpoint (``http://host:4317``); None reads
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``/``OTEL_EXPORTER_OTLP_ENDPOINT``.
        protocol: ``grpc`` or ``http/protobuf``; None reads ``OTEL_EXPORTER_OTLP_PROTOCOL``,
            else guesses from the endpoint (port 4318 means HTTP), else ``grpc``.
        headers: OTLP headers, as a mapping or ``"k=v,k2=v2"``; None reads
            ``OTEL_EXPORTER_OTLP_HEADERS``.
        service_name: the ``service.name``; None reads ``OTEL_SERVICE_NAME``, then
            ``OTEL_RESOURCE_ATTRIBUTES``, else ``syncscope <run_name>``.
        jaeger_file: also write the spans to this file as Jaeger's trace JSON, which the
            Jaeger UI opens without a server.
        span_items: put queue items (their repr) into the spans.
        flush_timeout: at exit, wait at most this many seconds for the last spans to go out.
        min_span_ms: send only spans at least this long (waits, holds), and the spans they
            link to; 0 sends all.
        max_trace_spans: start a new trace after this many spans.
        span_buffer: how many spans may wait for export; more are dropped and counted.
        run_name: what the run span and the default service name call the program; the
            script's name by default.
        stats: gather statistics per primitive and per call site (see ``syncscope.report``).
        report: write the report (statistics and findings) to standard error when syncscope
            is uninstalled (the runner does that at exit). Implies ``stats``.
        report_json: also write the report as JSON to this file (at exit, and at once when a
            deadlock or a hang is found). Implies ``stats``.
        detect_deadlocks: watch for deadlocks (threads blocked in a cycle, reported within a
            second) and for lock-order inversions (reported when first seen).
        deadlock_exit: after reporting a deadlock, end the process with this exit status
            (``os._exit``, after closing every output). Needs ``detect_deadlocks``.
        hang_timeout: with ``detect_deadlocks``, report a hang when nothing happened for this
            many seconds while every thread is blocked, or when threads waiting without a
            timeout saw nothing happen to what they wait for for as long (default 10); 0 never.
        deadlock_grace: with ``detect_deadlocks``, how long a cycle through a plain Lock or
            a semaphore must last while other threads run before it is reported (also a
            thread waiting for a Lock it holds), in seconds; one waiting for a signal while
            holding the lock the signallers wait for must last half the hang timeout (5 s
            when hangs are not checked), or this if longer.
        long_hold_ms: report every hold of a lock, rlock, semaphore or Condition lock that
            lasts at least this long.
        long_wait_ms: report every wait for a lock, rlock, semaphore, Condition lock or for
            room in a full queue that lasts at least this long.
        timeline: at exit, write a per-thread timeline of holds, waits and what let each
            wait go on to this file, in the Chrome/Perfetto trace-event format (gzipped when
            the name ends in ``.gz``); see ``syncscope._sinks.timeline``.
        html: at exit, write a self-contained HTML report (the report's tables, the
            findings and a timeline) to this file. Implies ``stats``.

    Raises:
        ValueError: for an unknown format or kind, or a bad span or diagnosis argument.
        OSError: when ``output`` or ``report_json`` cannot be written.

    .. versionadded:: 0.1.0
    """
    install_settings(
        Settings(
            lines=lines,
            format=format,
            output=output,
            buffer_output=buffer_output,
            kinds=kinds,
            include_library=include_library,
            hide_items=hide_items,
            spans=spans,
            exporter=exporter,
            endpoint=endpoint,
            protocol=protocol,
            headers=headers,
            service_name=service_name,
            jaeger_file=jaeger_file,
            span_items=span_items,
            flush_timeout=flush_timeout,
            min_span_ms=min_span_ms,
            max_trace_spans=max_trace_spans,
            span_buffer=span_buffer,
            run_name=run_name,
            stats=stats,
            report=report,
            report_json=report_json,
            detect_deadlocks=detect_deadlocks,
            deadlock_exit=deadlock_exit,
            hang_timeout=hang_timeout,
            deadlock_grace=deadlock_grace,
            long_hold_ms=long_hold_ms,
            long_wait_ms=long_wait_ms,
            timeline=timeline,
            html=html,
        )
    )
    # Called from the program's own code: its code is running already.
    program_starts()


def install_settings(settings: Settings) -> None:
    """:func:`install` with its arguments as one record (the runner's way in)."""
    settings = settings.checked()
    span_settings = settings.spans_options()
    diagnosis = settings.diagnosis()
    # Rendering items costs time on the program's threads: only when an output shows them.
    show_items = not settings.hide_items and (settings.lines or settings.span_items)
    options = Options(
        kinds=settings.watched_kinds,
        include_library=settings.include_library,
        hide_items=not show_items,
    )
    console = None
    if settings.lines:
        from ._sinks.lines import ConsoleSink  # not needed by -q: not loaded then

        console = ConsoleSink(settings.format, settings.output, settings.buffer_output)
    sinks: tuple[Sink, ...] = (console,) if console is not None else ()
    if diagnosis is not None:
        from ._sinks.recorder import Recorder

        # Last: a slow spot's line comes after the line of the operation that was slow.
        sinks = (*sinks, Recorder(diagnosis, console))
    if settings.timeline or settings.html:  # last: it takes the recorder's findings at close
        from ._sinks.timeline.sink import timeline_sink

        sinks = (
            *sinks,
            timeline_sink(settings.timeline, settings.html, sinks, settings.run_name),
        )
    if span_settings is not None:
        from ._sinks.spans.sink import SpanSink

        # First: it sets the trace and span ids that the log lines carry.
        span_sink = SpanSink(span_settings, ids_now=console is not None)
        if diagnosis is not None:  # findings become error spans
            for sink in sinks:
                if isinstance(sink, Recorder):
                    sink.listeners.append(span_sink.on_finding)
        sinks = (span_sink, *sinks)
        from ._intercept import context as _context

        _context.install()  # the program's span, carried into its threads and pool tasks
    _patch.install(options)
    with config_lock:
        old = state.sinks
        set_sinks(sinks)
    close_sinks(old)


def program_starts() -> None:
    """
    The runner is about to run the program's code: outputs that time the run (the run span)
    start it now, leaving syncscope's own start-up out.
    """
    for sink in state.sinks:
        starts = getattr(sink, "program_starts", None)
        if starts is not None:
            try:
                starts()
            except Exception as exc:  # a sink must never break the program it watches
                sink_failed(sink, exc)


def uninstall() -> None:
    """
    Stop reporting and put every original back in ``threading`` and ``queue``.

    Primitives created while installed keep working (they just stop reporting).

    .. versionadded:: 0.1.0
    """
    with config_lock:
        old = state.sinks
        set_sinks(())
    try:
        close_sinks(old)
        _say_lost_events()
    finally:
        _context = sys.modules.get("syncscope._intercept.context")  # loaded only for spans
        if _context is not None:
            _context.uninstall()
        _patch.uninstall()


def installed_sinks() -> tuple[Any, ...]:
    """The outputs installed now (the runner's, once it has installed its settings)."""
    return tuple(state.sinks)


def uninstall_at_exit(own: tuple[Any, ...]) -> None:
    """
    :func:`uninstall`, as the runner does it last at exit: then its own outputs (``own``)
    let go of what they kept (``let_go``), which nothing reads any more, rather than leave
    it to the collector's pass at the interpreter's end. A recording the program made
    (``record()``, ``install()``) is the program's to read to its end: left as it is.
    """
    uninstall()
    let_go(own)


def _say_lost_events() -> None:
    """An output that failed lost events (its first error was said then): say how many."""
    lost, counters.sink_errors = counters.sink_errors, 0
    if lost:
        with contextlib.suppress(Exception):  # stderr may be closed: nothing left to tell
            sys.__stderr__.write(  # type: ignore[union-attr]
                f"syncscope: {lost} operations were lost to an output that failed "
                f"(the first: {counters.first_sink_error})\n"
            )


def is_installed() -> bool:
    """
    Whether syncscope's stand-ins are in ``threading`` and ``queue`` now.

    .. versionadded:: 0.1.0
    """
    return state.installed


def name(obj: T, new_name: str) -> T:
    """
    Give a primitive the name syncscope reports it under; returns the primitive.

    A Condition, Semaphore, Event, Barrier or queue that was not watched (created by library
    code) is watched from now on.

    Raises:
        TypeError: for a Lock or RLock that syncscope does not watch (created before install
            or by library code): it cannot be wrapped after the fact.

    .. versionadded:: 0.1.0
    """
    primitive = describe_primitive(obj)
    if primitive is None:
        kind = _kind_of(obj)
        if kind is None:
            raise TypeError(
                f"syncscope cannot watch {type(obj).__name__!r} objects: create them with "
                "threading.Lock()/RLock() after syncscope is installed"
            )
        file, line, function = site_of(user_frame(2))
        primitive = Primitive(kind, type(obj).__name__, new_name, file, line, function)
        watchable(obj)  # a Barrier's own Condition goes through the wrappers again
        watch(obj, primitive)
    primitive.name = unique_name(new_name, primitive.kind)
    return obj


def describe_primitive(obj: object) -> Primitive | None:
    """What syncscope knows of ``obj``, or None when it does not watch it."""
    if type(obj) in PROXY_TYPES:
        return obj._syncscope_primitive  # type: ignore[attr-defined, no-any-return]
    return primitive_of(obj) or primitive_for(obj)  # a submitted Future's, made when asked


def _kind_of(obj: Any) -> str | None:
    import queue
    import threading

    for cls, kind in (
        (threading.Condition, "condition"),
        (threading.Semaphore, "semaphore"),
        (threading.Event, "event"),
        (threading.Barrier, "barrier"),
        (queue.Queue, "queue"),
        (queue.SimpleQueue, "queue"),
    ):
        if isinstance(obj, cls):
            return kind
    return None
