"""
The public functions: install, uninstall, name. Re-exported from ``syncscope``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from . import _patch
from ._config import ALL_KINDS, Options, config_lock, set_sinks, state
from ._console import FORMATS, ConsoleSink
from ._events import Primitive, Sink
from ._locks import PROXY_TYPES
from ._sites import site_of, unique_name, user_frame
from ._tracking import primitive_of, watch


T = TypeVar("T")


def install(
    *,
    lines: bool = True,
    format: str = "console",
    output: str | None = None,
    kinds: Iterable[str] | None = None,
    include_library: bool = False,
    hide_items: bool = False,
    spans: bool = False,
    exporter: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: str | Mapping[str, str] | None = None,
    service_name: str | None = None,
    jaeger_file: str | None = None,
    span_items: bool = False,
    flush_timeout: float = 5.0,
    min_span_ms: float = 0.0,
    max_trace_spans: int = 10_000,
    span_buffer: int = 65_536,
    run_name: str | None = None,
) -> None:
    """
    Replace threading's and queue's primitives with instrumented ones, and start reporting.

    Only primitives created after this call are watched. Calling it again changes the options
    (with a :class:`SyncscopeWarning`).

    Args:
        lines: write one line per operation.
        format: ``"console"`` (the article's words), ``"json"`` or ``"logfmt"``.
        output: a file to write the lines to; standard error when None.
        kinds: watch only these kinds (``lock``, ``rlock``, ``condition``, ``semaphore``,
            ``event``, ``barrier``, ``queue``); all when None.
        include_library: also watch primitives that the standard library and installed
            packages create (the Event in every Thread, logging's lock...).
        hide_items: keep queue items out of the output.
        spans: also make an OpenTelemetry span of every operation (see ``syncscope._spans``
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

    Raises:
        ValueError: for an unknown format or kind, or a bad span argument.

    .. versionadded:: 0.1.0
    """
    span_settings = None
    if spans:
        from ._spans import span_options

        span_settings = span_options(
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
        )
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    chosen = ALL_KINDS if kinds is None else frozenset(kinds)
    unknown = chosen - ALL_KINDS
    if unknown:
        raise ValueError(
            f"unknown kind {sorted(unknown)[0]!r}: choose from {', '.join(sorted(ALL_KINDS))}"
        )
    options = Options(kinds=chosen, include_library=include_library, hide_items=hide_items)
    sinks: tuple[Sink, ...] = (ConsoleSink(format, output),) if lines else ()
    if span_settings is not None:
        from ._spans import SpanSink

        # First: it sets the trace and span ids that the log lines carry.
        sinks = (SpanSink(span_settings), *sinks)
    _patch.install(options)
    with config_lock:
        old = state.sinks
        set_sinks(sinks)
    for sink in old:
        sink.close()


def uninstall() -> None:
    """
    Stop reporting and put every original back in ``threading`` and ``queue``.

    Primitives created while installed keep working (they just stop reporting).

    .. versionadded:: 0.1.0
    """
    with config_lock:
        old = state.sinks
        set_sinks(())
    for sink in old:
        sink.close()
    _patch.uninstall()


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
        watch(obj, primitive)
    primitive.name = unique_name(new_name, primitive.kind)
    return obj


def describe_primitive(obj: object) -> Primitive | None:
    """What syncscope knows of ``obj``, or None when it does not watch it."""
    if type(obj) in PROXY_TYPES:
        return obj._syncscope_primitive  # type: ignore[attr-defined, no-any-return]
    return primitive_of(obj)


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
