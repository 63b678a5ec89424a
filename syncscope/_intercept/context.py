"""
Context propagation: the program's current span is carried into the threads it starts and the
pool tasks it submits (see ``_core.context``), as the OpenTelemetry threading instrumentation
does it: function wrappers on ``Thread.start`` and ``ThreadPoolExecutor.submit``, the latter
put in place by a post-import hook, so that a program that never uses ``concurrent.futures``
never imports it. Only while spans follow the program's context. Both are syncscope's own
(see ``_core.hooks``): wrapt's import alone takes tens of milliseconds.
"""

from __future__ import annotations

import functools
import sys
import threading

from .._core import context
from .._core.hooks import when_imported
from .wrapping import wrap


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_active = False
_hook_registered = False


def _start(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    context.starting(instance, _is_pool_worker(instance))
    return wrapped(*args, **kwargs)


def _submit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    parent = context.current_parent()
    if parent is None or not args or _runs_elsewhere(instance):
        return wrapped(*args, **kwargs)
    fn, *rest = args
    task = functools.wraps(fn)(functools.partial(context.run_under, parent, fn))
    return wrapped(task, *rest, **kwargs)


def _runs_elsewhere(pool: Any) -> bool:
    # 3.14's InterpreterPoolExecutor runs each task in an interpreter of its own, where nothing
    # is watched: a task is sent there as it was submitted (ours would import syncscope there).
    module = sys.modules.get("concurrent.futures.interpreter")
    other = getattr(module, "InterpreterPoolExecutor", None)
    return other is not None and isinstance(pool, other)


def _is_pool_worker(thread: Any) -> bool:
    # A pool's worker threads run many tasks: each task carries its own parent instead.
    module = sys.modules.get("concurrent.futures.thread")
    return module is not None and getattr(thread, "_target", None) is getattr(
        module, "_worker", None
    )


def _hook_pool(module: Any) -> None:
    if _active:  # the hook cannot be taken back: it does nothing once uninstalled
        wrap(module, "ThreadPoolExecutor.submit", _submit)


def install() -> None:
    """Carry the program's span into new threads and pool tasks. Idempotent."""
    global _active, _hook_registered
    if _active:
        return
    _active = True
    wrap(threading, "Thread.start", _start)
    if not _hook_registered:  # runs now if the module is imported already
        _hook_registered = True
        when_imported("concurrent.futures.thread", _hook_pool)
    elif "concurrent.futures.thread" in sys.modules:
        _hook_pool(sys.modules["concurrent.futures.thread"])


def uninstall() -> None:
    """Stop carrying spans: the wrappers come off with the others (see ``wrapping``)."""
    global _active
    _active = False
