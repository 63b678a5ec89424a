"""
The OpenTelemetry side of following the program's context: a fast reader of its current span
(handed to ``_core.context``), and a hook that flushes syncscope's spans before the program's
own TracerProvider shuts down.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


def make_current_span_reader() -> Callable[[], tuple[int, int] | None]:
    """A fast reader of the program's current span as ``(trace_id, span_id)``, or None."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace

    get_current_span = otel_trace.get_current_span
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY

        runtime = otel_context._RUNTIME_CONTEXT
        if type(runtime) is not ContextVarsRuntimeContext:
            raise TypeError("another runtime context")
        var_get = runtime._current_context.get
        span_key = _SPAN_KEY

        def read() -> tuple[int, int] | None:
            # The context is a dict: an empty one (no span anywhere) costs one lookup.
            span: Any = var_get().get(span_key)
            if span is None:
                return None
            ctx = span.get_span_context()
            if not ctx.is_valid:
                return None
            return ctx.trace_id, ctx.span_id

    except Exception:  # another OpenTelemetry version: the public API, a little slower

        def read() -> tuple[int, int] | None:
            ctx = get_current_span().get_span_context()
            if not ctx.is_valid:
                return None
            return ctx.trace_id, ctx.span_id

    return read


def flush_before_provider_shutdown(close: Callable[[], None]) -> Callable[[], None]:
    """
    Our last spans go to the program's global TracerProvider, if it set one: flush them (call
    ``close``) before it shuts down (at its exit hook, registered after ours, so run before
    ours). Returns what takes the hook back.
    """
    import wrapt
    from opentelemetry import trace as otel_trace

    def shutdown(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if getattr(otel_trace, "_TRACER_PROVIDER", None) is instance:
            close()
        return wrapped(*args, **kwargs)

    target, path = "opentelemetry.sdk.trace", "TracerProvider.shutdown"
    handle = wrapt.wrap_function_wrapper(target, path, shutdown)

    def unhook() -> None:
        # Something that wrapped it after us keeps both in place.
        with contextlib.suppress(Exception):
            wrapt.unwrap_object(target, path, handle)

    return unhook
