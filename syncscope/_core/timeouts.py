"""
An acquire's timeout as the real lock reads it. ``_thread.lock.acquire`` and
``RLock.acquire`` read a float's or an int's own value, a subclass's too (an ``IntEnum``,
numpy's floats), without calling its methods, any other type's through its ``__index__``
(numpy's ints), and round it away from zero to whole nanoseconds: -1 s is no time limit.
The lock proxies read it once as they are called (:func:`as_read`) and pass the plain number
on; their paths that try the lock first, count in place, order locks or say what a call may
wait for decide by it, calling nothing of the program's. A timeout the lock refuses
(``Decimal(-1)`` and ``Fraction(-1)``, though equal to -1) goes to it as it was given.
"""

from __future__ import annotations

import math
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
    """The number the real acquire reads from ``timeout``, as an int or a float; else None."""
    cls = type(timeout)
    if cls is int or cls is float:
        return timeout
    if isinstance(timeout, float):
        return float.__float__(timeout)  # its own value: a subclass's __float__ is not asked
    if isinstance(timeout, int):
        return int.__index__(timeout)
    return None


def as_read(timeout: Any) -> Any:
    """
    A lock's ``timeout`` (neither an int nor a float) as the real acquire reads it: a
    subclass's own value, another type's ``__index__`` (read here, once), or as it is when
    the lock refuses it (no ``__index__``: the lock says so in its own words).
    """
    number = timeout_number(timeout)
    if number is not None or getattr(type(timeout), "__index__", None) is None:
        return timeout if number is None else number
    return operator.index(timeout)


def no_time_limit(timeout: Any) -> bool:
    """Whether the real acquire takes ``timeout`` as no time limit."""
    if timeout is NO_TIMEOUT:
        return True
    number = timeout_number(timeout)
    if number == -1:
        return True
    # A float a hair above -1 rounds to -1 s (away from zero, in whole nanoseconds, as
    # CPython's pytime_from_double does): no limit either.
    return (
        type(number) is float
        and -1.0 < number < -0.999_999_99
        and math.floor(math.modf(number)[0] * 1e9) == -1_000_000_000
    )


def trylock_first(blocking: Any, timeout: Any) -> bool:
    """
    Whether a non-blocking attempt may precede a blocking acquire without changing behaviour.

    Only for arguments the real acquire accepts: ``acquire(timeout=-100)`` must still raise
    ValueError even when the lock is free, ``acquire(timeout=Decimal(-1))`` TypeError.
    """
    if not blocking:
        return False
    number = timeout_number(timeout)  # read once: a time limit, the common case, decides here
    if number is None:
        return False
    return 0 <= number <= _TIMEOUT_MAX or no_time_limit(number)


def attempt_first(blocking: Any, timeout: Any) -> bool:
    """
    Whether one non-blocking attempt may come first, the whole call if it takes the lock:
    no time limit, blocking or not (``acquire(False)``, ``acquire(timeout=-1.0)``), or a time
    limit the real acquire accepts (:func:`trylock_first`). The timeout is read once.
    """
    if timeout is NO_TIMEOUT:
        return True
    number = timeout_number(timeout)
    if number is None:
        return False
    if blocking and 0 <= number <= _TIMEOUT_MAX:
        return True
    return no_time_limit(number)
