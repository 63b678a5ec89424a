"""
The program's trace context, as syncscope's spans follow it: the program's current span, and
the span that was current where a thread was started or a pool task submitted, so that the
operations of that thread or task become children of the program's own span.

The span sink sets the reader while it runs (OpenTelemetry is its business); the interception
captures parents at ``Thread.start`` and ``ThreadPoolExecutor.submit``; the sink reads them
back. The program's own context is never changed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


Parent = tuple[int, int]

_active_threads: dict[int, Any] = threading._active  # type: ignore[attr-defined]


class _TaskParent(threading.local):
    """The parent of the pool task running on this thread (set while the task runs)."""

    value: Parent | None = None


task_parent = _TaskParent()
#: id(Thread) -> (weak reference to it, the span current where it was started).
_thread_parents: dict[int, tuple[weakref.ref[Any], Parent]] = {}


class _Following:
    __slots__ = ("propagated", "reader")

    def __init__(self) -> None:
        #: Reads the program's current span as (trace id, span id), or None; None when no
        #: span sink runs.
        self.reader: Callable[[], Parent | None] | None = None
        #: Set once a parent was carried into a thread or task: only then are they looked up.
        self.propagated = False


following = _Following()


def follow(reader: Callable[[], Parent | None]) -> None:
    """A span sink starts: read the program's current span with ``reader``."""
    following.reader = reader


def unfollow(reader: Callable[[], Parent | None]) -> None:
    """That sink closes: threads and tasks started from now on carry nothing for it."""
    if following.reader is reader:
        following.reader = None


def current_parent() -> Parent | None:
    """The program's current span on this thread, or the one its thread or task inherited."""
    reader = following.reader
    if reader is None:
        return None
    try:
        parent = reader()
        if parent is None and following.propagated:
            parent = inherited_parent(threading.get_ident())
    except Exception:  # a foreign runtime context: no parent rather than a broken program
        return None
    return parent


def inherited_parent(ident: int) -> Parent | None:
    """The parent carried into the task running on this thread, or into thread ``ident``."""
    parent = task_parent.value
    if parent is not None:
        return parent
    thread = _active_threads.get(ident)
    entry = _thread_parents.get(id(thread))
    if entry is not None and entry[0]() is thread:
        return entry[1]
    return None


def remember_thread(thread: Any, parent: Parent) -> None:
    """``thread`` is started under ``parent``: its operations will be the parent's children."""
    key = id(thread)

    def forget(_ref: object, key: int = key) -> None:
        _thread_parents.pop(key, None)

    _thread_parents[key] = (weakref.ref(thread, forget), parent)
    following.propagated = True


def run_under(parent: Parent, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a pool task with ``parent`` as its inherited parent."""
    following.propagated = True
    previous = task_parent.value
    task_parent.value = parent
    try:
        return fn(*args, **kwargs)
    finally:
        task_parent.value = previous
