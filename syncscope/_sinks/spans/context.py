"""
The OpenTelemetry side of following the program's context: a fast reader of its current span
(handed to ``_core.context``), and a hook that flushes syncscope's spans before the program's
own TracerProvider shuts down.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..._core.hooks import unwrap_function, when_imported, wrap_function


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


Reader = Callable[[], "tuple[int, int] | None"]


def no_span() -> tuple[int, int] | None:
    """The program's current span while OpenTelemetry is not loaded: there is none."""
    return None


def follow_when_loaded(swap: Callable[[Reader], None]) -> None:
    """
    Hand ``swap`` a reader of the program's current span once OpenTelemetry's trace API is
    imported, by the program or by the span worker (at once if it is already). Until then the
    program can have no span, and nothing of OpenTelemetry is imported for asking.
    """

    def loaded(_module: Any) -> None:
        try:
            reader = make_current_span_reader()
        except Exception:  # an OpenTelemetry we cannot read: no parents rather than a failure
            return
        swap(reader)

    when_imported("opentelemetry.trace", loaded)


def make_current_span_reader() -> Reader:
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
    ours). Hooked when the program imports the SDK (at once if it has): a program without it
    never loads it. Returns what takes the hook back.
    """
    hooked: list[tuple[Any, Callable[..., Any]]] = []
    active = True

    def shutdown(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        otel_trace = sys.modules.get("opentelemetry.trace")
        if getattr(otel_trace, "_TRACER_PROVIDER", None) is instance:
            close()
        return wrapped(*args, **kwargs)

    def hook(module: Any) -> None:
        if active:
            provider = module.TracerProvider
            hooked.append((provider, wrap_function(provider, "shutdown", shutdown)))

    when_imported("opentelemetry.sdk.trace", hook)

    def unhook() -> None:
        nonlocal active
        active = False
        # Something that wrapped it after us keeps both in place.
        for provider, stand_in in hooked:
            unwrap_function(provider, "shutdown", stand_in)
        hooked.clear()

    return unhook
