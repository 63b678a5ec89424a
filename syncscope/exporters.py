"""
Span exporters that need no collector: Jaeger's trace JSON in a file, and one line per span.

Both are ordinary OpenTelemetry ``SpanExporter``\\ s, so they also work with a
``TracerProvider`` of your own::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from syncscope.exporters import JaegerJsonFileExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JaegerJsonFileExporter("trace.json")))

The file is written when the exporter shuts down (or on ``force_flush``, unless the path is a
FIFO, a device or a stream such as ``/dev/stdout``, which get the file once). The Jaeger UI opens
it without a server: *Search*, then *Upload*/*JSON File* (or drop the file on the page).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from ._sinks.spans.exporters import (
    ConsoleSpanExporter,
    JaegerJsonFileExporter,
    jaeger_span,
    jaeger_tags,
)


__all__ = ["ConsoleSpanExporter", "JaegerJsonFileExporter", "jaeger_span", "jaeger_tags"]
