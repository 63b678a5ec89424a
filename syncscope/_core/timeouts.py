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
import threading
from _operator import index as _index
from _warnings import warn as _warn

from .signals import raise_if_a_handlers


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
    # Its type, as the lock's C checks: not what its __class__ says (a MagicMock(spec=int)).
    if issubclass(cls, float):
        return float.__float__(timeout)  # its own value: a subclass's __float__ is not asked
    if issubclass(cls, int):
        return int.__index__(timeout)
    return None


def as_read(timeout: Any) -> Any:
    """
    A lock's ``timeout`` (neither an int nor a float) as the real acquire reads it: a
    subclass's own value, another type's ``__index__`` (read here, once), or as it is when
    the lock refuses it (no ``__index__``: the lock says so in its own words).
    """
    number = timeout_number(timeout)
    if number is not None or _special(type(timeout), "__index__") is _MISSING:
        return timeout if number is None else number
    return index_once(timeout)


def count_value(n: Any) -> int | None:
    """
    A semaphore's ``release(n)`` as its line says it, read calling nothing of the program's
    (``Semaphore.release`` compares and adds ``n``, never asks its ``__index__``): an int's
    own value (``True`` is 1, a subclass's too), a C type's ``__index__`` (numpy's integers);
    None for anything else.
    """
    cls = type(n)
    if cls is int:
        return n  # type: ignore[no-any-return]
    if issubclass(cls, int):
        return int.__index__(n)
    if type(_special(cls, "__index__")) is not _SLOT_WRAPPER:
        return None  # no __index__, or one in Python: the program's code
    try:
        return _index(n)
    except Exception as exc:  # a C __index__ that fails: no count said
        raise_if_a_handlers(exc)
        return None


class _Gives:
    """An ``__index__`` that gives a value already read: the lock's error for it, in its words."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __index__(self) -> Any:
        return self.value


_MISSING = object()
#: A C type's special method (``int.__index__``, numpy's), as a class's dict holds it.
_SLOT_WRAPPER = type(int.__dict__["__index__"])
#: Py_TPFLAGS_METHOD_DESCRIPTOR: a type whose objects the interpreter calls with the instance
#: first, unbound (a function, a C method or slot wrapper), where others are bound first.
_METHOD_DESCRIPTOR = 1 << 17
_flags = type.__dict__["__flags__"].__get__
_mro = type.__dict__["__mro__"].__get__
_own_dict = type.__dict__["__dict__"].__get__


def _special(cls: type, name: str) -> Any:
    """
    The special method ``name`` of ``cls`` as the interpreter finds it: in the own dicts of
    the class and its bases, never through the metaclass (its ``__getattr__`` included).
    """
    for klass in _mro(cls):
        found = _own_dict(klass).get(name, _MISSING)
        if found is not _MISSING:
            return found
    return _MISSING


_ORD_SAYS = "ord() expected string of length 1, but "


def _c_name(number: int) -> str:
    """
    The C name of the type of ``number`` (an int subclass's), cut to 200 bytes, as the lock's
    warnings say it: in ord's error's words, which ask nothing of ``number`` (no int subclass
    is a str, a bytes or a bytearray). Its ``__name__`` where ord says it otherwise.
    """
    try:
        ord(number)  # type: ignore[arg-type]
    except TypeError as exc:
        said = str(exc)
        if said.startswith(_ORD_SAYS) and said.endswith(" found"):
            return said[len(_ORD_SAYS) : -len(" found")]
    return type.__dict__["__name__"].__get__(type(number))  # type: ignore[no-any-return]


def index_once(value: Any) -> int:
    """
    ``operator.index(value)`` for a lock proxy's ``acquire`` (called from a function it calls
    with the argument), as the lock's own parsing reads it: ``__index__`` called once and
    bound as the interpreter binds it, the same errors, and its DeprecationWarning for an
    int subclass given back said at the program's line, as the lock's is (the C code warns
    at the frame that called it), not at ours, where the default filters would hide it.
    """
    cls = type(value)
    if issubclass(cls, int):
        return int.__index__(value)  # an int subclass: its own value, no method of its asked
    index = _special(cls, "__index__")
    if index is _MISSING:
        return _index(value)  # no __index__: the lock's TypeError
    kind = type(index)
    if _flags(kind) & _METHOD_DESCRIPTOR:  # a function, int.__index__: given the value
        number = index(value)
    else:  # bound as the slot binds it (a staticmethod, a classmethod), or called as it is
        bind = _special(kind, "__get__")
        number = index() if bind is _MISSING else bind(index, value, cls)()
    if type(number) is int:
        return number
    if not issubclass(type(number), int):  # its own type: not what its __class__ may say
        return _index(_Gives(number))  # "__index__ returned non-int": the lock's TypeError
    _warn(
        f"__index__ returned non-int (type {_c_name(number)}).  The ability to return an"
        " instance of a strict subclass of int is deprecated, and may be removed in a future"
        " version of Python.",
        DeprecationWarning,
        4,  # this, its caller, the proxy's acquire, the program
    )
    return int.__index__(number)


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


def attempt_first(blocking: Any, timeout: Any) -> bool:
    """
    Whether one non-blocking attempt may come first without changing behaviour, the whole
    call if it takes the lock (and, for ``acquire(False)``, if it does not): no time limit,
    blocking or not (``acquire(False)``, ``acquire(timeout=-1.0)``), or a blocking call's
    time limit the real acquire accepts. Only for arguments it accepts:
    ``acquire(timeout=-100)`` must still raise ValueError even when the lock is free,
    ``acquire(timeout=Decimal(-1))`` TypeError. The timeout is read once.
    """
    if timeout is NO_TIMEOUT:
        return True
    number = timeout_number(timeout)
    if number is None:
        return False
    if blocking and 0 <= number <= _TIMEOUT_MAX:
        return True
    return no_time_limit(number)
