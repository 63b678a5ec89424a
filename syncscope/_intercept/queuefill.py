"""
How full a queue is, read without its mutex: for a report (the size a line gives) or a hint
(trying at once is no use), never for a decision. ``qsize()`` would take the very lock the
queue's users contend for, once more per operation.
"""

from __future__ import annotations

import queue

from .._core.dispatch import hidden
from .._core.signals import raise_if_a_handlers
from .._core.state import state
from .conditions import silent


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The standard queues' own ``_qsize`` (each ``len(self.queue)``): read without the mutex,
#: it cannot fail and does nothing. A subclass's own (or one set on a queue) may do either.
_FREE_SIZES = frozenset({queue.Queue._qsize, queue.LifoQueue._qsize, queue.PriorityQueue._qsize})


def freely_sized(q: Any) -> bool:
    """Whether ``q``'s ``_qsize`` is a standard queue's, which may be read at any time."""
    return getattr(q._qsize, "__func__", None) in _FREE_SIZES


def queued(q: Any) -> int | None:
    """
    The size, read unseen; None when it cannot be read. (SimpleQueue has no ``_qsize``; its
    ``qsize()`` takes no Python-level lock.)
    """
    try:
        return silent(getattr(q, "_qsize", None) or q.qsize)  # type: ignore[no-any-return]
    except Exception as exc:
        raise_if_a_handlers(exc)
        return None


def is_full(q: Any) -> bool:
    """
    Whether a bounded queue is full, as its put tells; False when a subclass makes it raise
    (the real put then raises as it does).
    """
    try:
        if state.lines is not None:  # read unseen, as the event path reads it (see queued)
            return bool(hidden(_full, q))
        return _full(q)
    except Exception as exc:
        raise_if_a_handlers(exc)
        return False


def _full(q: Any) -> bool:
    # Not a lambda in is_full: that would make a cell of q on every call, lines or not.
    return 0 < q.maxsize <= q._qsize()  # type: ignore[no-any-return]


def is_empty(q: Any) -> bool:
    """Whether a queue is empty, as :func:`is_full` tells fullness."""
    try:
        if state.lines is not None:  # read unseen, as the event path reads it (see queued)
            return not hidden(q._qsize)
        return not q._qsize()
    except Exception as exc:
        raise_if_a_handlers(exc)
        return False
