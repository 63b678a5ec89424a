"""
How full a queue is, read without its mutex: for a report (the size a line gives) or a hint
(trying at once is no use), never for a decision. ``qsize()`` would take the very lock the
queue's users contend for, once more per operation.

Only what runs none of the program's code is read so: a standard queue's own ``_qsize`` over
its own deque or list, and a SimpleQueue's (C). A subclass's ``_qsize`` (or container) may
need the mutex, fail without it, or take a lock of the program's, which the caller may hold
(an unbounded put never asks for the size): syncscope does not call it, and its size is not
known. Whether a put or get is about to wait is read for such a queue under the lock the
original takes next, where it reads it next (:func:`full_now`, :func:`empty_now`).
"""

from __future__ import annotations

import queue
from _queue import SimpleQueue as _CSimpleQueue
from collections import deque

from .._core.dispatch import hidden
from .._core.signals import raise_if_a_handlers


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The standard queues' own ``_qsize`` (each ``len(self.queue)``), and what their ``queue`` is.
_FREE_SIZES = frozenset({queue.Queue._qsize, queue.LifoQueue._qsize, queue.PriorityQueue._qsize})
CONTAINERS = frozenset({deque, list})
_c_qsize = _CSimpleQueue.qsize


def freely_sized(q: Any) -> bool:
    """
    Whether ``q``'s size can be read at any time: its ``_qsize`` is a standard queue's (its
    class's, and none set on the queue itself) over a deque or list of its own. The class is
    asked first, so that a property of the program's named ``_qsize`` does not run here; not
    ``q.__dict__``, which before 3.13 makes a dict of the queue's attributes, and every one of
    them slower to read from then on (5,400 instructions more a put+get under ``-q``).
    """
    return (
        getattr(type(q), "_qsize", None) in _FREE_SIZES
        and getattr(q._qsize, "__func__", None) in _FREE_SIZES
        and type(q.queue) in CONTAINERS
    )


def queued(q: Any) -> int | None:
    """The size, when it can be read without running the program's code (see above); else None."""
    if isinstance(q, _CSimpleQueue):
        return _c_qsize(q)
    if freely_sized(q):
        return len(q.queue)
    return None


def is_full(q: Any, unknown: bool = False) -> bool:
    """
    Whether a bounded queue is full, as its put tells; ``unknown`` when that is not known
    without the program's code (see above); False when a subclass makes it raise: the put
    then tries.
    """
    size = queued(q)
    if size is None:
        return unknown
    try:
        return 0 < q.maxsize <= size  # type: ignore[no-any-return]
    except Exception as exc:  # a maxsize that does not compare: the real put raises
        raise_if_a_handlers(exc)
        return False


def is_empty(q: Any, unknown: bool = False) -> bool:
    """Whether a queue is empty, as :func:`is_full` tells fullness."""
    size = queued(q)
    return unknown if size is None else size == 0


def full_now(q: Any, timeout: Any) -> bool:
    """
    Whether a blocking put into ``q`` (with ``timeout``) would wait now: :func:`is_full`, or
    for a queue whose size only its own ``_qsize`` tells, that read unseen as the put reads
    it next: under ``not_full``, and not if it reads none (unbounded, shut down, a negative
    timeout). False when it cannot tell (the put then says what happened).
    """
    try:
        if not q.maxsize > 0:  # unbounded: the put reads no size, nor does this
            return False
        size = queued(q)
        if size is None:
            size = hidden(_size_for_put, q, timeout)
        return size is not None and q.maxsize <= size
    except Exception as exc:  # a maxsize or timeout that does not compare: the put raises
        raise_if_a_handlers(exc)
        return False


def empty_now(q: Any, timeout: Any) -> bool:
    """Whether a blocking get from ``q`` would wait now, as :func:`full_now` tells a put."""
    try:
        size = queued(q)
        if size is None:
            size = hidden(_size_for_get, q, timeout)
        return size == 0
    except Exception as exc:
        raise_if_a_handlers(exc)
        return False


# Queue.put's and Queue.get's own first steps (3.13's shutdown included), up to the size.
def _size_for_put(q: Any, timeout: Any) -> int | None:
    with q.not_full:
        if getattr(q, "is_shutdown", False) or (timeout is not None and timeout < 0):
            return None
        return q._qsize()  # type: ignore[no-any-return]


def _size_for_get(q: Any, timeout: Any) -> int | None:
    with q.not_empty:
        if timeout is not None and timeout < 0 and not getattr(q, "is_shutdown", False):
            return None  # it raises ValueError first
        return q._qsize()  # type: ignore[no-any-return]
