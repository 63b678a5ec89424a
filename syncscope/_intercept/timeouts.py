"""
An acquire's timeout as the real lock reads it. ``_thread.lock.acquire`` and
``RLock.acquire`` read a float's or an int's own value, a subclass's too (an ``IntEnum``,
numpy's floats), without calling its methods, and what ``__index__`` gives for any other type
(numpy's ints); they refuse the rest with TypeError, ``Decimal(-1)`` and ``Fraction(-1)``
among them, though those compare equal to -1. -1 is no time limit. The proxies' paths that
try the lock first, count in place or order locks ask here which timeout they may take as
what; any other goes to the real acquire as it was given.
"""

from __future__ import annotations

import operator
import threading


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: An acquire's timeout when it has no time limit, compared with ``is`` on the hot paths,
#: where every int -1 is this one object (CPython caches small ints); :func:`no_time_limit`
#: for any other.
NO_TIMEOUT = -1

_TIMEOUT_MAX = threading.TIMEOUT_MAX


def timeout_number(timeout: Any) -> Any:
    """The number the real acquire reads from ``timeout``; None for one it refuses."""
    cls = type(timeout)
    if cls is int or cls is float:
        return timeout
    if isinstance(timeout, float):
        return float.__float__(timeout)  # its own value: a subclass's __float__ is not asked
    if isinstance(timeout, int):
        return int.__index__(timeout)
    if getattr(cls, "__index__", None) is None:
        return None
    try:
        return operator.index(timeout)
    except Exception:  # the real acquire raises it in its turn
        return None


def no_time_limit(timeout: Any) -> bool:
    """Whether the real acquire takes ``timeout`` as no time limit."""
    return timeout is NO_TIMEOUT or timeout_number(timeout) == -1


def trylock_first(blocking: Any, timeout: Any) -> bool:
    """
    Whether a non-blocking attempt may precede a blocking acquire without changing behaviour.

    Only for arguments the real acquire accepts: ``acquire(timeout=-100)`` must still raise
    ValueError even when the lock is free, ``acquire(timeout=Decimal(-1))`` TypeError.
    """
    if not blocking:
        return False
    number = timeout_number(timeout)
    return number is not None and (number == -1 or 0 <= number <= _TIMEOUT_MAX)
