"""
Which primitives are watched, decided once at their creation, and their :class:`Primitive`.

Lock and RLock proxies carry their Primitive themselves. Instances of the Python classes
(Condition, Semaphore, Event, Barrier, the queues) are looked up by ``id()`` in a side table
that holds only a weak reference to them: nothing is added to their ``__dict__``, so ``copy``,
``pickle`` and ``vars()`` see exactly what they would see without syncscope, and nothing keeps
them alive. The side table's entry also keeps what the lean statistics count in place for
the instance (its tally, a semaphore's permits: see ``_intercept.lean``), which dies with it.
A SimpleQueue is the one exception: an instance of our stand-in class carries its entry in a
slot as well (a look-up by ``id()`` cost more than the C type's own operations); a program's
subclass's is looked up here, as its attribute hooks are the program's.
"""

from __future__ import annotations

import queue
import threading
import weakref
from types import FrameType

from .event import Primitive
from .sites import (
    assigned_name,
    creation_column,
    creator_frame,
    is_library_code,
    names_taken,
    owner_frame,
    site_of,
    unique_name,
    verdict_caches,
)
from .state import state
from .tally import Tally


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: What :func:`~syncscope._intercept.ownsteps.heap_kind` says of an item: its type, or
    #: its elements' types for a tuple.
    HeapKind = type | tuple[type, ...]


class Watch(weakref.ref):  # type: ignore[type-arg]
    """
    One watched class-based instance (made by :func:`new_watch`): a weak reference to it,
    its Primitive, and what lean statistics keep of it. Calling it gives the instance, or
    None once it is gone; its callback removes it from :data:`watches`. One object for the
    three an instance used to cost (the entry, its weak reference, the callback's closure).
    """

    __slots__ = (
        "heap_epoch",
        "heap_kind",
        "key",
        "library",
        "permits",
        "primitive",
        "tally",
        "waiting_gets",
    )

    # Compared and hashed as itself, not as its instance (a weak reference's way), as the
    # entry it was: a semaphore's is a key of the counts made in place (``Uses``), looked up
    # whether or not the semaphore still lives.
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__

    #: The key of its entry in :data:`watches`: the instance's id.
    key: int
    primitive: Primitive
    #: Made by the standard library or a package (watched with ``--all``), as a lock proxy's
    #: ``_syncscope_library``: read where a wrapper reads the guard only for those.
    library: bool
    #: Its tally in the lean statistics, once it has been counted there (see lean).
    tally: Tally | None
    #: A semaphore's permits taken under lean statistics and not given back, oldest first:
    #: (thread ident, perf_counter_ns() when taken).
    permits: list[tuple[int, int]]
    #: A PriorityQueue's: the kind (``ownsteps.heap_kind``) of every item in its heap, kept
    #: under its mutex; None when not known to be one kind that orders in C alone. Trusted
    #: only under the ``state.epoch`` it was found in (``heap_epoch``).
    heap_kind: HeapKind | None
    heap_epoch: int
    #: A SimpleQueue's: one item for each of the program's gets that may be waiting in it
    #: now (appended and popped, which free-threaded builds do atomically as well); None for
    #: every other kind.
    waiting_gets: list[int] | None

    @property
    def _syncscope_primitive(self) -> Primitive:
        """The primitive, as a record's lock proxy gives it: a semaphore's records carry this."""
        return self.primitive


#: id(instance) -> its Watch. Read on every operation of a class-based primitive.
watches: dict[int, Watch] = {}

#: The standard classes whose ``__init__`` the wrappers watch: made as themselves, no
#: subclass's ``__init__`` stands between their maker and them.
STANDARD_CLASSES = frozenset(
    {
        threading.Condition,
        threading.Semaphore,
        threading.BoundedSemaphore,
        threading.Event,
        threading.Barrier,
        queue.Queue,
        queue.LifoQueue,
        queue.PriorityQueue,
    }
)


def primitive_of(obj: object) -> Primitive | None:
    """The Primitive of a watched class-based instance; None when it is not watched."""
    entry = watches.get(id(obj))
    return None if entry is None else entry.primitive


def should_watch(kind: str, frame: FrameType | None) -> bool:
    """Watch a new primitive of ``kind`` created from ``frame``?"""
    if not state.installed or kind not in state.options.kinds:
        return False
    if state.options.include_library:
        return True
    return not library_owned(frame)


def watched_new(kind: str, type_name: str, frame: FrameType | None) -> Primitive | None:
    """
    The Primitive of a new primitive of ``kind`` created from ``frame``, or None when it is not
    watched: :func:`should_watch`, then :func:`new_primitive`, in one call (a program that
    makes a lock per object or an Event per request pays this each time).
    """
    options = state.options
    if not state.installed or kind not in options.kinds:
        return None
    if frame is not None:
        # new_primitive(), its common case written out: a creating call in a file, seen
        # before (generated code has no entry), whose entry says whose it is.
        code = frame.f_code
        known = _creations.get((id(code), frame.f_lasti))
        if known is not None and known[0] is code:
            _code, library, wanted, (file, line, function), column = known
            if library and not options.include_library:  # forgotten when verdicts change
                return None
            if wanted is None:
                name = unique_name(wanted, kind)
            else:  # unique_name(), its common case written out
                taken = names_taken[wanted] = names_taken[wanted] + 1
                name = wanted if taken == 1 else f"{wanted}#{taken}"
            return Primitive(kind, type_name, name, file, line, function, column)
    if not options.include_library and library_owned(frame):
        return None
    return new_primitive(kind, type_name, frame)


def library_owned(frame: FrameType | None) -> bool:
    """Whether what ``frame`` creates is the standard library's or a package's own."""
    if frame is not None and not frame.f_code.co_filename.startswith("<"):
        return is_library_code(frame.f_code)  # a file's code is its own owner
    frame = owner_frame(frame)
    return frame is None or is_library_code(frame.f_code)


#: (id of the code, instruction) of a creating call in a file -> the code, whether the file is
#: the library's, the name read there, where the call is and its column: a program that makes
#: an object with a lock of its own per request reads them once (each read again cost a third
#: of the creation). By the code's id, the code kept to check it: equal code in two files (the
#: same class in each) compares equal, whatever its file.
_creations: dict[tuple[int, int], tuple[Any, bool, str | None, tuple[str, int, str], int]] = {}
verdict_caches.append(_creations)  # its entries say whether their file is the library's


def new_primitive(kind: str, type_name: str, frame: FrameType | None) -> Primitive:
    # Named from the creating statement, even generated; placed where its owner created it.
    if frame is not None and not frame.f_code.co_filename.startswith("<"):
        code = frame.f_code
        key = (id(code), frame.f_lasti)
        known = _creations.get(key)
        if known is None or known[0] is not code:  # a file's code is its own owner
            known = _creations[key] = (
                code,
                is_library_code(code),
                assigned_name(frame),
                site_of(frame),
                creation_column(frame),
            )
        _code, _library, wanted, (file, line, function), column = known
    else:  # generated code belongs to whoever called it: looked at each time
        wanted = assigned_name(frame)
        owner = owner_frame(frame)
        file, line, function = site_of(owner)
        column = creation_column(owner)
    name = unique_name(wanted, kind)
    return Primitive(kind, type_name, name, file, line, function, column)


def watch(obj: object, primitive: Primitive, library: bool = False) -> Watch:
    """Watch ``obj`` as ``primitive``: its entry in :data:`watches`, until it dies."""
    entry = watches[id(obj)] = new_watch(obj, primitive, library)
    return entry


def new_watch(obj: object, primitive: Primitive, library: bool = False) -> Watch:
    """A :class:`Watch` of ``obj`` (its fields set here: an ``__init__`` is a call more)."""
    entry = Watch(obj, _forget)
    entry.key = id(obj)
    entry.primitive = primitive
    entry.library = library
    entry.tally = None
    entry.permits = []
    entry.heap_kind = None
    entry.heap_epoch = 0
    entry.waiting_gets = None
    return entry


def _forget(entry: Watch) -> None:
    """A watched instance died: its entry goes (its id may be another's from now on)."""
    watches.pop(entry.key, None)


def watch_new(obj: object, kind: str, depth: int = 3) -> Primitive | None:
    """
    Decide whether a class-based primitive being initialised is watched, and register it.

    Called at the start of a wrapped ``__init__`` (``depth`` 3: its caller made it). A nested
    ``__init__`` (``BoundedSemaphore`` calling ``Semaphore.__init__``, a user subclass calling
    ``super().__init__``) finds the object already registered and leaves it as it is.
    """
    if id(obj) in watches:
        return None
    made = type(obj)
    if made in STANDARD_CLASSES:  # no subclass's __init__ to look past: decided in one call
        primitive = watched_new(kind, made.__name__, creator_frame(depth))
        if primitive is None:
            return None
    else:
        frame = creator_frame(depth)
        if not should_watch(kind, frame):
            return None
        # A user subclass's __init__ calling super().__init__(): name it where it is created
        # (``f_locals`` makes a dict of the frame's locals before 3.13: subclasses only).
        while (
            frame is not None
            and frame.f_code.co_name == "__init__"
            and frame.f_back is not None
            and frame.f_locals.get("self") is obj
        ):
            frame = frame.f_back
        primitive = new_primitive(kind, made.__name__, frame)
    watch(obj, primitive)
    return primitive
