"""
The originals' own steps, taken by syncscope's wrappers themselves.

Semaphore, Event and the queues but SimpleQueue are Python code in CPython: each operation
runs the original's frame and its Condition's ``__enter__`` and ``__exit__``, and a release, a
set, a put, a get or a ``task_done`` a ``notify`` too (with its ``_is_owned``), which mostly
wakes nobody. Their Conditions and lock are made by the standard library, so unless ``--all``
watches them the lock is a plain ``_thread.lock``. On that lock an operation that does not
wait is a few steps: the lean wrappers (``_conditions``, ``_events``, ``_queues``) take them
themselves, the same steps under the same lock, and call ``notify`` only when someone waits
(the original's does nothing otherwise). That costs less than the frames it saves, and less
than all the counting the wrappers do (``benchmarks/README.md``, tenth round). An operation
that waits or fails, a watched lock, and a queue other than those below call the original,
which also raises what it raises, from where it raises it.

The semaphores' and the Event's steps are written out in their lean wrappers, as the lock
proxies' fast paths are (a call to the functions below costs about 400 instructions, 4-8% of
those operations under the statistics), and are here for the span sink's operations counted
in place (``counted`` for a semaphore's, ``events`` for an Event's), where a call costs less
than the original's frames it saves; the queues' are here, for both. A subclass of Semaphore
or Event takes them too (they are its base class's steps). A queue takes its steps only while
its Conditions are not watched either (:func:`in_place_ok`).

The steps are those of CPython 3.11 to 3.13, which the tests run them against. 3.14 cannot be
run here: its source (3.14.0rc1's ``threading.py`` and ``queue.py``) was read against 3.13's,
and the methods taken here are the same, line for line (PriorityQueue's ``_put`` and ``_get``
too); its ``Condition`` also binds its lock's ``locked``, which the lock proxies have.
"""

from __future__ import annotations

import queue
import threading
from heapq import heappop, heappush
from types import FunctionType

from .._core.compat import QUEUE_HAS_SHUTDOWN
from .._core.state import state
from .barrierwait import condition_wait
from .lockfactories import LOCK_TYPE
from .queuefill import CONTAINERS


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._core.tracking import HeapKind, Watch


class UnwatchedCondition(threading.Condition):
    """
    A Barrier's own Condition while syncscope does not watch it (see :func:`barrier_condition`).
    Its ``notify`` and ``notify_all`` are the originals, taken here before any install, and
    its ``wait`` the original's behind one step of ours (a barrier's arrival is told to the
    watchdog there, see ``barrierwait``): the wrappers on ``threading.Condition`` would only
    hand each to the original, at the cost of their frames (a last arrival notifies twice,
    each ``notify_all`` calling ``notify``: 440 ns of the 1,100 the statistics added to a
    ``Barrier(1).wait``). It is named
    as its base is, and pickles and copies as one. Only the Barrier's: giving any unwatched
    Condition this class once made (``__class__``) made every other primitive's own Condition
    slower to read (4-7% on an Event's, a queue's and a semaphore's operations: the instance's
    attributes are no longer laid out as its class's), and a method patched on
    ``threading.Condition`` after install (``mock.patch.object``) would no longer reach them.
    """

    wait = condition_wait  # the original's, telling the watchdog of a barrier's wait first
    notify = threading.Condition.notify
    notify_all = threading.Condition.notify_all

    def __reduce_ex__(self, protocol: Any) -> Any:
        # By name, pickle would find threading.Condition, not this class, and refuse it
        # before the lock that makes a Condition unpicklable; and it takes __newobj__ only
        # with the object's own class. So: made as the base it stands for, its state after.
        import copyreg  # loaded at interpreter start-up: a dict lookup

        reducer = copyreg.dispatch_table.get(threading.Condition)  # the program's, if any
        if reducer is not None:
            return reducer(self)
        remake = copyreg._reconstructor  # type: ignore[attr-defined]  # what protocols 0 and 1 use
        return (remake, (threading.Condition, object, None), self.__dict__)


UnwatchedCondition.__module__ = threading.Condition.__module__
UnwatchedCondition.__qualname__ = threading.Condition.__qualname__
UnwatchedCondition.__name__ = threading.Condition.__name__

_condition_init = threading.Condition.__init__


def barrier_condition(cond: Any) -> Any:
    """
    What a Barrier just made keeps as its Condition: ``cond``, its own, made by the original
    ``__init__``, or, while syncscope does not watch it (its lock a plain lock), an
    :class:`UnwatchedCondition` on the same lock, made as one (not given the class afterwards:
    see there) and initialised by the original ``__init__``, as the Barrier's was.
    """
    lock = getattr(cond, "_lock", None)  # read before the type is known (typing narrows)
    if type(cond) is not threading.Condition or type(lock) is not LOCK_TYPE:
        return cond
    own = object.__new__(UnwatchedCondition)
    _condition_init(own, lock)
    return own


def watchable(obj: Any) -> None:
    """``obj`` is to be watched from now on: an :class:`UnwatchedCondition` becomes a Condition."""
    if type(obj) is UnwatchedCondition:
        obj.__class__ = threading.Condition  # type: ignore[assignment]  # reported from now on


#: The Condition a Semaphore, an Event or a Queue makes for itself (its lock's type is
#: ``_lockfactories.LOCK_TYPE`` unless ``--all`` watches it: then it is a proxy).
OwnCondition: type[Any] = threading.Condition

#: The queues whose put and get are done here, each with how: ``put(item, False)``'s steps,
#: which return the queue's size after it, or None, having done nothing, when the real put
#: must do it or say why not (full, shut down, a ``maxsize`` that is no int); and
#: ``get(False)``'s, which return :data:`NO_ITEM` when the real get must. Both also take the
#: queue's entry. A Queue's and a LifoQueue's ``_put``, ``_get`` and ``_qsize`` only call
#: their container's (``queue``) ``append``, ``popleft`` or ``pop``, and ``len``: nothing of
#: the program runs in them and nothing raises. A PriorityQueue's ``heappush`` and ``heappop``
#: compare its items, which may run the program's ``__lt__`` or raise (its traceback keeps the
#: real put's frame): they are done here only while every item in its heap is of one kind that
#: orders in C alone (:func:`heap_kind`), which its entry's ``heap_kind`` keeps, by the real
#: put and get otherwise. Only while the queue's ``_put``, ``_get`` and ``_qsize`` are the
#: standard library's (none set on the instance or the class: :func:`own_put`,
#: :func:`own_get`). Items a program pushes onto a PriorityQueue's ``queue`` list itself, or
#: puts through a ``copy.copy`` of it (which shares its heap, not its entry), are taken to be
#: of its heap's kind. With the lines, each also takes ``say`` and what it says (``what``):
#: called under the queue's lock once the put or get is made, ``say(what, size)`` after a
#: put, ``say(what, item)`` after a get, it says the operation's line there, as the hooks of
#: the real ``_put`` and ``_get`` do (see ``queuelean.say_put``).
IN_PLACE: dict[type, tuple[Callable[..., int | None], Callable[..., Any]]]

#: What a get in place hands back when the real get must do it: the queue is empty (the real
#: get says so), or a PriorityQueue's heap may hold items that do not order in C.
NO_ITEM = object()

#: Types whose instances compare with one another in C and never raise.
_ORDERED_IN_C = frozenset({int, float, str, bytes})


class _Mixed:
    """The kind of a heap that has held an item of no kind: see :data:`MIXED`."""


#: A PriorityQueue's ``heap_kind`` once an item of no kind (the program's class, a tuple
#: holding one) went into it: not known, as None, and its put and get look at no item's
#: kind again (until syncscope is installed again: see ``State.epoch``). Queues of the
#: program's objects, the common case, pay that look (about 3,000 instructions a put+get for
#: a tuple) only once.
MIXED: type = _Mixed


def heap_kind(item: Any) -> HeapKind | None:
    """
    What a PriorityQueue's item is, if items of that kind order among themselves in C alone
    and never raise: an int, a float, a str or bytes (its type), or a tuple of those (their
    types: two such tuples compare element by element, in C). None for any other item.
    """
    cls = type(item)
    if cls in _ORDERED_IN_C:
        return cls
    if cls is tuple:
        kinds = tuple(map(type, item))
        if _ORDERED_IN_C.issuperset(kinds):
            return kinds
    return None


def heap_kind_after(before: HeapKind | None, item: Any, size: int) -> HeapKind | None:
    """A PriorityQueue's ``heap_kind`` once ``item`` is pushed: ``size`` items now."""
    kind = heap_kind(item)
    if kind is None:
        return MIXED
    return kind if size == 1 or kind == before else None


def in_place_ok(q: Any) -> bool:
    """
    Whether a put or get may take the original's own steps (``ownsteps``): the queue's lock
    is a plain lock, and its Conditions are not watched either (``--all`` without the locks
    among the kinds watches them over a plain lock), else the waiter a step wakes through
    one would be seen woken by the library's Condition. (Whether the queue has methods of its
    own, each step asks under the queue's lock: :func:`own_put`, :func:`own_get`.)
    """
    return type(q.mutex) is LOCK_TYPE and not state.options.include_library


#: The methods a standard queue's put and get call, ``_put``, ``_get`` and ``_qsize``, as
#: syncscope left them on its class when installed (its hooks of ``_put`` and ``_get``, which
#: the steps here do the work of, and the original ``_qsize``); a class is left out whose
#: methods were not the standard library's then. See :func:`own_put`.
LEFT_METHODS: dict[type, tuple[Any, Any, Any]] = {}


def note_left_methods() -> None:
    """Fill :data:`LEFT_METHODS`, once syncscope's hooks are in (see ``patch``)."""
    LEFT_METHODS.clear()
    for cls in IN_PLACE:
        put, get, qsize = cls._put, cls._get, cls._qsize  # type: ignore[attr-defined]
        originals = (getattr(put, "__wrapped__", None), getattr(get, "__wrapped__", None), qsize)
        if all(_standard(method) for method in originals):
            LEFT_METHODS[cls] = (put, get, qsize)


def _standard(method: Any) -> bool:
    """
    Whether ``method`` is the standard library's own: a function written in ``queue.py``.
    Not by its names, which a wrapper of the program's copies (``functools.wraps``, wrapt's
    ``FunctionWrapper``, as instrumentations patch).
    """
    return (
        type(method) is FunctionType
        and method.__code__.co_filename == queue.__file__
        and not hasattr(method, "__wrapped__")
    )


# Whether a queue has methods of its own, which its steps here would not run: a program that
# wraps them (pebble's ``waitforqueues`` sets a ``_put`` on the instance to hear of every
# put; a test may patch one onto the class) must have them run, by the original. Asked by
# each step once it holds the queue's lock, as the original looks them up there: pebble
# sets ``_put`` under that lock, and a put already waiting for it must call the new one.
# Asked of the bound methods, not of ``q.__dict__``: before 3.13 that makes a dict of the
# instance's attributes, on which every later look-up of them is slower (270 ns a put+get,
# measured on 3.11). The class's method bound to another queue (``q._put = other._put``) is
# one of its own too; one that is no bound method has no ``__func__`` (a try costs nothing
# until it catches), and a class whose methods are not those syncscope left is not in
# LEFT_METHODS.


def own_put(q: Any) -> bool:
    """
    Whether ``q`` has a ``_put`` or a ``_qsize`` of its own, which a put's steps skip, or a
    container of its own (a deque's or list's subclass set as ``q.queue``), whose length the
    steps would read where the original reads none.
    """
    if type(q.queue) not in CONTAINERS:
        return True
    try:
        left_put, _, left_qsize = LEFT_METHODS[type(q)]
        put, qsize = q._put, q._qsize
        return not (
            put.__func__ is left_put
            and put.__self__ is q
            and qsize.__func__ is left_qsize
            and qsize.__self__ is q
        )
    except (KeyError, AttributeError):
        return True


def own_get(q: Any) -> bool:
    """Whether ``q`` has a ``_get`` or a ``_qsize`` of its own, which a get's steps skip."""
    try:
        _, left_get, left_qsize = LEFT_METHODS[type(q)]
        get, qsize = q._get, q._qsize
        return not (
            get.__func__ is left_get
            and get.__self__ is q
            and qsize.__func__ is left_qsize
            and qsize.__self__ is q
        )
    except (KeyError, AttributeError):
        return True


def _put_in_deque(
    q: Any, item: Any, _entry: Watch, say: Any = None, what: Any = None
) -> int | None:
    with q.mutex:
        if QUEUE_HAS_SHUTDOWN and q.is_shutdown:
            return None
        maxsize = q.maxsize
        if type(maxsize) is not int:  # one that does not compare: the real put raises
            return None
        if own_put(q):  # the real put runs them
            return None
        size = len(q.queue)
        if 0 < maxsize <= size:
            return None
        q.queue.append(item)
        q.unfinished_tasks += 1
        not_empty = q.not_empty
        if not_empty._waiters:  # notify() wakes nobody without
            not_empty.notify()
        if say is not None:
            say(what, size + 1)
    return size + 1


def _put_in_heap(q: Any, item: Any, entry: Watch, say: Any = None, what: Any = None) -> int | None:
    # _put_in_deque's steps, pushed onto the heap if the item is of the heap's kind: a call
    # for the steps both take cost a tenth of a Queue's put and get.
    if entry.heap_kind is MIXED and entry.heap_epoch == state.epoch:
        return None
    cls = type(item)  # heap_kind's first steps, written out: most items are of a class
    kind: HeapKind | None = cls
    if cls not in _ORDERED_IN_C:
        kind = heap_kind(item) if cls is tuple else None
        if kind is None:
            # Unlocked: MIXED only rules the steps here out. A put in place on the empty
            # heap meanwhile may write its kind over it: right then, and the real put's
            # hook, under the lock, makes it MIXED again.
            entry.heap_kind, entry.heap_epoch = MIXED, state.epoch
            return None
    with q.mutex:
        # Read under the lock, which a put the hook did not see (syncscope uninstalled
        # meanwhile) took too; odd while the hooks are in (see State.epoch).
        epoch = state.epoch
        if not epoch & 1:
            return None
        if QUEUE_HAS_SHUTDOWN and q.is_shutdown:
            return None
        maxsize = q.maxsize
        if type(maxsize) is not int:
            return None
        if own_put(q):  # the real put runs them, and what they push is of no known kind
            entry.heap_kind, entry.heap_epoch = MIXED, epoch
            return None
        size = len(q.queue)
        if 0 < maxsize <= size:
            return None
        if size and (kind != entry.heap_kind or entry.heap_epoch != epoch):
            return None
        # Before the push: a Ctrl-C between the two leaves the heap empty or of this kind.
        entry.heap_kind, entry.heap_epoch = kind, epoch
        heappush(q.queue, item)
        q.unfinished_tasks += 1
        not_empty = q.not_empty
        if not_empty._waiters:
            not_empty.notify()
        if say is not None:
            say(what, size + 1)
    return size + 1


def _get_first(q: Any, _entry: Watch, say: Any = None, what: Any = None) -> Any:
    with q.mutex:
        # Empty: the real get says so; a container or methods of its own: it runs them.
        if type(q.queue) not in CONTAINERS or not len(q.queue) or own_get(q):
            return NO_ITEM
        item = q.queue.popleft()
        not_full = q.not_full
        if not_full._waiters:
            not_full.notify()
        if say is not None:
            say(what, item)
    return item


def _get_last(q: Any, _entry: Watch, say: Any = None, what: Any = None) -> Any:
    with q.mutex:  # _get_first's steps, from the other end
        if type(q.queue) not in CONTAINERS or not len(q.queue) or own_get(q):
            return NO_ITEM
        item = q.queue.pop()
        not_full = q.not_full
        if not_full._waiters:
            not_full.notify()
        if say is not None:
            say(what, item)
    return item


def _get_least(q: Any, entry: Watch, say: Any = None, what: Any = None) -> Any:
    kind = entry.heap_kind  # checked again under the lock: not taken for nothing
    if kind is None or kind is MIXED or entry.heap_epoch != state.epoch:
        return NO_ITEM
    with q.mutex:  # _get_first's steps, from a heap of one kind (see _put_in_heap)
        kind, epoch = entry.heap_kind, state.epoch
        if kind is None or kind is MIXED or entry.heap_epoch != epoch or not epoch & 1:
            return NO_ITEM
        if type(q.queue) not in CONTAINERS or not len(q.queue) or own_get(q):
            return NO_ITEM
        item = heappop(q.queue)
        not_full = q.not_full
        if not_full._waiters:
            not_full.notify()
        if say is not None:
            say(what, item)
    return item


IN_PLACE = {
    queue.Queue: (_put_in_deque, _get_first),
    queue.LifoQueue: (_put_in_deque, _get_last),
    queue.PriorityQueue: (_put_in_heap, _get_least),
}


def task_done_in_place(q: Any) -> bool:
    """``task_done()``; False, having done nothing, when it is one too many (the real raises)."""
    with q.mutex:
        unfinished = q.unfinished_tasks - 1
        if unfinished < 0:
            return False
        if unfinished == 0:
            all_tasks_done = q.all_tasks_done
            if all_tasks_done._waiters:  # notify_all() wakes nobody without
                all_tasks_done.notify_all()
        q.unfinished_tasks = unfinished
    return True


def take_permit(sem: Any) -> bool | None:
    """
    ``acquire(False)``'s steps: whether it took a permit; None, having done nothing, where
    the semaphore's Condition or lock is not its own plain one (``--all`` watches it, or the
    program gave it another): the original must.
    """
    cond = sem._cond
    lock = cond._lock
    if type(lock) is not LOCK_TYPE or type(cond) is not OwnCondition:
        return None
    with lock:
        if sem._value != 0:
            sem._value -= 1
            return True
    return False


def give_permit(sem: Any, bounded: bool) -> bool:
    """
    ``release(1)``'s steps; False, having done nothing, where the original must: not its own
    plain lock (see :func:`take_permit`), or one permit too many for a bounded one (it raises).
    """
    cond = sem._cond
    lock = cond._lock
    if type(lock) is not LOCK_TYPE or type(cond) is not OwnCondition:
        return False
    with lock:
        if bounded and sem._value + 1 > sem._initial_value:
            return False
        sem._value += 1
        if cond._waiters:  # notify() wakes nobody without
            cond.notify()
    return True


def set_flag(event: Any) -> bool:
    """``Event.set``'s steps; False, having done nothing, where the original must."""
    cond = event._cond
    lock = cond._lock
    if type(lock) is not LOCK_TYPE or type(cond) is not OwnCondition:
        return False
    with lock:
        event._flag = True
        if cond._waiters:  # notify_all() wakes nobody without
            cond.notify_all()
    return True


def clear_flag(event: Any) -> bool:
    """``Event.clear``'s steps; False, having done nothing, where the original must."""
    cond = event._cond
    lock = cond._lock
    if type(lock) is not LOCK_TYPE or type(cond) is not OwnCondition:
        return False
    with lock:
        event._flag = False
    return True


def flag_now(event: Any) -> bool | None:
    """
    ``wait(0)``'s steps on an Event found set: whether it still is (cleared meanwhile, the
    caller waits as asked); None, having done nothing, where the original must.
    """
    cond = event._cond
    lock = cond._lock
    if type(lock) is not LOCK_TYPE or type(cond) is not OwnCondition:
        return None
    with lock:
        return bool(event._flag)
