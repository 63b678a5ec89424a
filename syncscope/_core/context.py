"""
The program's trace context, as syncscope's spans follow it: the program's current span, and
the span that was current where a thread was started or a pool task submitted, so that the
operations of that thread or task become children of the program's own span.

The span sink sets the reader while it runs (OpenTelemetry is its business); the interception
captures parents at ``Thread.start`` and ``ThreadPoolExecutor.submit``; the sink reads them
back. The program's own context is never changed.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable

from .signals import raise_if_a_handlers


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


Parent = tuple[int, int]

_active_threads: dict[int, Any] = threading._active  # type: ignore[attr-defined]


class _TaskParent(threading.local):
    """The pool task running on this thread (set while the task runs)."""

    #: The parent the task carries: the program's span where it was submitted.
    value: Parent | None = None
    #: The span the worker's context held as the task began (see ``_Following.inherited``).
    read: Parent | None = None


task_parent = _TaskParent()
#: Whether a thread runs in a copy of its starter's context (3.14's
#: ``sys.flags.thread_inherit_context``, on by default without the GIL): only then may a
#: thread find a span current that is not its parent (see ``_Following.inherited``).
INHERITS = bool(getattr(sys.flags, "thread_inherit_context", 0))
#: id(Thread) -> (weak reference to it, the span current where it was started (None for a
#: pool's worker, whose tasks carry their own), the span its starter's context held if that
#: was another (see ``_Following.inherited``)).
_thread_parents: dict[int, tuple[weakref.ref[Any], Parent | None, Parent | None]] = {}


class _Following:
    __slots__ = ("inherited", "propagated", "reader")

    def __init__(self) -> None:
        #: Reads the program's current span as (trace id, span id), or None; None when no
        #: span sink runs.
        self.reader: Callable[[], Parent | None] | None = None
        #: Set once a parent was carried into a thread or task: only then are they looked up.
        self.propagated = False
        #: Set once a thread was started whose starter's context held a span that is not its
        #: parent: a pool's worker started under a span, or a thread started by a task. From
        #: 3.14 a thread may run in a copy of its starter's context
        #: (``sys.flags.thread_inherit_context``, on by default without the GIL), and then it
        #: finds that span current, not its parent: such a read is taken for the parent.
        self.inherited = False


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
        current = reader()
        if following.propagated:
            return parent_on(threading.get_ident(), current)
    except Exception as exc:  # a foreign runtime context: no parent rather than a broken program
        raise_if_a_handlers(exc)
        return None
    return current


def parent_on(ident: int, current: Parent | None) -> Parent | None:
    """
    The parent of an operation of this thread (``ident``), whose context holds ``current`` as
    the program's current span: that span, unless it is only what the thread's or task's
    context inherited (see ``_Following.inherited``); else what the thread or task carries.
    """
    if not following.propagated:
        return current
    if current is None:
        return inherited_parent(ident)
    task = task_parent.value
    if task is not None:
        return task if current == task_parent.read else current
    if following.inherited:
        entry = _entry(ident)
        if entry is not None and entry[2] == current:
            return entry[1]
    return current


def inherited_parent(ident: int) -> Parent | None:
    """The parent carried into the task running on this thread, or into thread ``ident``."""
    parent = task_parent.value
    if parent is not None:
        return parent
    entry = _entry(ident)
    return None if entry is None else entry[1]


def _entry(ident: int) -> tuple[weakref.ref[Any], Parent | None, Parent | None] | None:
    thread = _active_threads.get(ident)
    entry = _thread_parents.get(id(thread))
    return entry if entry is not None and entry[0]() is thread else None


def starting(thread: Any, pool_worker: bool) -> None:
    """
    ``thread`` is about to be started by this one: its operations will be the children of
    this thread's parent, or, for a pool's worker, of each task's.
    """
    reader = following.reader
    if reader is None:
        return
    try:
        read = reader()
        parent = None if pool_worker else parent_on(threading.get_ident(), read)
    except Exception as exc:  # a foreign runtime context: nothing carried
        raise_if_a_handlers(exc)
        return
    if read == parent or not INHERITS:
        read = None  # the thread will not find it, or it is its parent anyway
    if parent is None and read is None:
        return
    key = id(thread)

    def forget(_ref: object, key: int = key) -> None:
        _thread_parents.pop(key, None)

    _thread_parents[key] = (weakref.ref(thread, forget), parent, read)
    following.propagated = True
    if read is not None:
        following.inherited = True


def run_under(parent: Parent, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a pool task with ``parent`` as its inherited parent."""
    following.propagated = True
    previous, previous_read = task_parent.value, task_parent.read
    try:  # what the worker's context inherited, as the task begins
        reader = following.reader
        task_parent.read = reader() if INHERITS and reader is not None else None
    except Exception as exc:  # a foreign runtime context
        raise_if_a_handlers(exc)
        task_parent.read = None
    task_parent.value = parent
    try:
        return fn(*args, **kwargs)
    finally:
        task_parent.value, task_parent.read = previous, previous_read
