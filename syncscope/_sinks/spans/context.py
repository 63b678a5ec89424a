"""
The program's trace context: its current span, and the span current where it started a thread
or submitted a pool task, so that syncscope's spans become children of the program's own.

Only syncscope's spans use it: the program's own context is never changed.
"""

from __future__ import annotations

import _thread
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ..._core.dispatch import guard
from ..._core.registry import save_method


_active_threads: dict[int, Any] = threading._active  # type: ignore[attr-defined]


class Reader(Protocol):
    """The sink whose spans follow the program's context."""

    #: Reads the program's current span, once OpenTelemetry is loaded.
    _current_span_of: Callable[[], tuple[int, int] | None] | None
    #: Set once a span was carried into a thread or task: only then are they looked up.
    _propagated: bool

    def close(self) -> None: ...


#: Thread-local parent for thread-pool tasks submitted under a span (set while the task runs).
class _TaskParent(threading.local):
    value: tuple[int, int] | None = None


_task_parent = _TaskParent()
#: id(Thread) -> (weak reference to it, the span current where it was started).
_thread_parents: dict[int, tuple[weakref.ref[Any], tuple[int, int]]] = {}
#: The sink that reads the program's spans for Thread.start and executor.submit.
_context_sink: Reader | None = None


def forget(sink: Reader) -> None:
    """``sink`` closes: threads and tasks started from now on carry nothing for it."""
    global _context_sink
    if _context_sink is sink:
        _context_sink = None


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


def inherited_parent(ident: int) -> tuple[int, int] | None:
    parent = _task_parent.value
    if parent is not None:
        return parent
    thread = _active_threads.get(ident)
    entry = _thread_parents.get(id(thread))
    if entry is not None and entry[0]() is thread:
        return entry[1]
    return None


def _program_span_here() -> tuple[int, int] | None:
    sink = _context_sink
    if sink is None or guard.busy:
        return None
    reader = sink._current_span_of
    if reader is None:
        return None
    try:
        parent = reader()
        if parent is None and sink._propagated:
            parent = inherited_parent(_thread.get_ident())
    except Exception:
        return None
    if parent is not None:
        sink._propagated = True
    return parent


def install_context_hooks(sink: Reader) -> None:
    """
    Carry the program's current span into threads it starts and pool tasks it submits.

    Only our spans use it: the program's own context is never changed. ``Thread.start`` and
    ``ThreadPoolExecutor.submit`` are wrapped on the class (restored at uninstall); a task is
    wrapped only when it is submitted under a span.
    """
    global _context_sink
    _context_sink = sink
    import functools

    original_start = save_method(threading.Thread, "start")
    if getattr(vars(threading.Thread).get("start"), "_syncscope_hook", False):
        return

    def start(self: Any) -> None:
        parent = _program_span_here()
        if parent is not None and not _is_pool_worker(self):
            key = id(self)

            def forget(_ref: object, key: int = key) -> None:
                _thread_parents.pop(key, None)

            _thread_parents[key] = (weakref.ref(self, forget), parent)
        return original_start(self)  # type: ignore[no-any-return]

    functools.update_wrapper(start, original_start)
    start._syncscope_hook = True  # type: ignore[attr-defined]
    type.__setattr__(threading.Thread, "start", start)

    from concurrent.futures import thread as futures_thread

    pool = futures_thread.ThreadPoolExecutor
    original_submit = save_method(pool, "submit")

    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        parent = _program_span_here()
        if parent is None:
            return original_submit(self, fn, *args, **kwargs)

        @functools.wraps(fn)
        def task(*task_args: Any, **task_kwargs: Any) -> Any:
            previous = _task_parent.value
            _task_parent.value = parent
            try:
                return fn(*task_args, **task_kwargs)
            finally:
                _task_parent.value = previous

        return original_submit(self, task, *args, **kwargs)

    functools.update_wrapper(submit, original_submit)
    submit._syncscope_hook = True  # type: ignore[attr-defined]
    type.__setattr__(pool, "submit", submit)

    # Our last spans go to the program's global TracerProvider, if it set one: flush them
    # before it shuts down (at its exit hook, registered after ours, so run before ours).
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider

    original_shutdown = save_method(TracerProvider, "shutdown")

    def shutdown(self: Any) -> None:
        sink = _context_sink
        if sink is not None and getattr(otel_trace, "_TRACER_PROVIDER", None) is self:
            sink.close()
        return original_shutdown(self)  # type: ignore[no-any-return]

    functools.update_wrapper(shutdown, original_shutdown)
    type.__setattr__(TracerProvider, "shutdown", shutdown)


def _is_pool_worker(thread: Any) -> bool:
    # A pool's worker threads run many tasks: each task carries its own parent instead.
    module = sys.modules.get("concurrent.futures.thread")
    return module is not None and getattr(thread, "_target", None) is getattr(
        module, "_worker", None
    )
