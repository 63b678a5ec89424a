"""
Which primitives are watched, decided once at their creation, and their :class:`Primitive`.

Lock and RLock proxies carry their Primitive themselves. Instances of the Python classes
(Condition, Semaphore, Event, Barrier, the queues) are looked up by ``id()`` in a side table
that holds only a weak reference to them: nothing is added to their ``__dict__``, so ``copy``,
``pickle`` and ``vars()`` see exactly what they would see without syncscope, and nothing keeps
them alive.
"""

from __future__ import annotations

import weakref
from types import FrameType
from typing import Any

from .event import Primitive
from .sites import (
    assigned_name,
    creation_column,
    creator_frame,
    is_library_code,
    owner_frame,
    site_of,
    unique_name,
)
from .state import state


#: id(instance) -> (its Primitive, a weak reference that removes the entry when it dies).
_watched: dict[int, tuple[Primitive, weakref.ref[Any]]] = {}


def primitive_of(obj: object) -> Primitive | None:
    """The Primitive of a watched class-based instance; None when it is not watched."""
    entry = _watched.get(id(obj))
    return None if entry is None else entry[0]


def should_watch(kind: str, frame: FrameType | None) -> bool:
    """Watch a new primitive of ``kind`` created from ``frame``?"""
    if not state.installed or kind not in state.options.kinds:
        return False
    if state.options.include_library:
        return True
    frame = owner_frame(frame)
    return frame is not None and not is_library_code(frame.f_code)


def new_primitive(kind: str, type_name: str, frame: FrameType | None) -> Primitive:
    # Named from the creating statement, even generated; placed where its owner created it.
    name = unique_name(assigned_name(frame), kind)
    owner = owner_frame(frame)
    file, line, function = site_of(owner)
    return Primitive(kind, type_name, name, file, line, function, creation_column(owner))


def watch(obj: object, primitive: Primitive) -> None:
    key = id(obj)

    def forget(_ref: object, key: int = key) -> None:
        _watched.pop(key, None)

    _watched[key] = (primitive, weakref.ref(obj, forget))


def watch_new(obj: object, kind: str, depth: int = 3) -> Primitive | None:
    """
    Decide whether a class-based primitive being initialised is watched, and register it.

    Called at the start of a wrapped ``__init__``. A nested ``__init__`` (``BoundedSemaphore``
    calling ``Semaphore.__init__``, a user subclass calling ``super().__init__``) finds the
    object already registered and leaves it as it is.
    """
    if id(obj) in _watched:
        return None
    frame = creator_frame(depth)
    if not should_watch(kind, frame):
        return None
    # A user subclass's __init__ calling super().__init__(): name it where it is created.
    while (
        frame is not None
        and frame.f_code.co_name == "__init__"
        and frame.f_back is not None
        and frame.f_locals.get("self") is obj
    ):
        frame = frame.f_back
    primitive = new_primitive(kind, type(obj).__name__, frame)
    watch(obj, primitive)
    return primitive
