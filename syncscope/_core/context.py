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
#: The same for a pool's worker threads, whose tasks carry their own parents. From 3.14 a
#: thread may run in a copy of its starter's context (``sys.flags.thread_inherit_context``,
#: on by default without the GIL): a worker then reads, in every task it runs, the span that
#: was current where it was started, which is no task's parent.
_worker_parents: dict[int, tuple[weakref.ref[Any], Parent]] = {}


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
        return parent_on(threading.get_ident(), reader())
    except Exception:  # a foreign runtime context: no parent rather than a broken program
        return None


def parent_on(ident: int, current: Parent | None) -> Parent | None:
    """
    The parent of an operation of this thread (``ident``), whose context has ``current`` as
    the program's current span: that span, else the one its thread or task inherited.
    """
    if following.propagated:
        if current is None:
            return inherited_parent(ident)
        if _worker_parents and current == _started_under(ident):
            return task_parent.value  # a pool worker's inherited context: see _worker_parents
    return current


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


def _started_under(ident: int) -> Parent | None:
    """The span current where the pool worker ``ident`` was started, if it is one."""
    thread = _active_threads.get(ident)
    entry = _worker_parents.get(id(thread))
    if entry is not None and entry[0]() is thread:
        return entry[1]
    return None


def remember_thread(thread: Any, parent: Parent, *, pool_worker: bool = False) -> None:
    """
    ``thread`` is started under ``parent``: its operations will be the parent's children;
    a pool worker's are its tasks' instead.
    """
    key = id(thread)
    parents = _worker_parents if pool_worker else _thread_parents

    def forget(_ref: object, key: int = key) -> None:
        parents.pop(key, None)

    parents[key] = (weakref.ref(thread, forget), parent)
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
