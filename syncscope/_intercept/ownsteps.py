"""
The originals' own steps, taken by the lean wrappers themselves.

Semaphore, Event, Queue and LifoQueue are Python code in CPython: each operation runs the
original's frame and its Condition's ``__enter__`` and ``__exit__``, and a release, a set, a
put, a get or a ``task_done`` a ``notify`` too (with its ``_is_owned``), which mostly wakes
nobody. Their Conditions and lock are made by the standard library, so unless ``--all``
watches them the lock is a plain ``_thread.lock``. On that lock an operation that does not
wait is a few steps: the lean wrappers (``_conditions``, ``_events``, ``_queues``) take them
themselves, the same steps under the same lock, and call ``notify`` only when someone waits
(the original's does nothing otherwise). That costs less than the frames it saves, and less
than all the counting the wrappers do (``benchmarks/README.md``, tenth round). An operation
that waits or fails, a watched lock, and a queue other than those below call the original,
which also raises what it raises, from where it raises it.

The semaphores' and the Event's steps are written out in their wrappers, as the lock proxies'
fast paths are; the queues' are here. A subclass of Semaphore or Event takes them too (they are
its base class's steps), and so does a PriorityQueue's ``task_done``, which touches no item.

The steps are those of CPython 3.11 to 3.13, which the tests run them against. 3.14 cannot be
run here: its source (3.14.0rc1's ``threading.py`` and ``queue.py``) was read against 3.13's,
and the methods taken here are the same, line for line; its ``Condition`` also binds its lock's
``locked``, which the lock proxies have.
"""

from __future__ import annotations

import queue
import threading

from .._core.compat import QUEUE_HAS_SHUTDOWN


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The Condition a Semaphore, an Event or a Queue makes for itself (its lock's type is
#: ``_lockfactories.LOCK_TYPE`` unless ``--all`` watches it: then it is a proxy).
OwnCondition: type[Any] = threading.Condition

#: The queues whose put and get are done here, each with whether it is last in, first out. A
#: Queue's and a LifoQueue's ``_put``, ``_get`` and ``_qsize`` only call their container's
#: (``queue``) ``append``, ``popleft`` or ``pop``, and ``len``: nothing of the program runs in
#: them and nothing raises. (PriorityQueue's comparisons can: its traceback keeps the real
#: put's frame.) The class's ``_put``, ``_get`` and ``_qsize`` are taken to be the standard
#: library's: one monkeypatched onto ``queue.Queue`` itself is not called here.
LAST_IN_FIRST_OUT: dict[type, bool] = {queue.Queue: False, queue.LifoQueue: True}

#: What :func:`get_in_place` hands back when the queue is empty.
NO_ITEM = object()


def put_in_place(q: Any, item: Any) -> int | None:
    """
    ``put(item, False)``: the queue's size after it, or None, having done nothing, when the
    real put must say why not (full, shut down, a ``maxsize`` that is no int).
    """
    with q.mutex:
        if QUEUE_HAS_SHUTDOWN and q.is_shutdown:
            return None
        maxsize = q.maxsize
        if type(maxsize) is not int:  # one that does not compare: the real put raises
            return None
        size = len(q.queue)
        if 0 < maxsize <= size:
            return None
        q.queue.append(item)
        q.unfinished_tasks += 1
        not_empty = q.not_empty
        if not_empty._waiters:  # notify() wakes nobody without
            not_empty.notify()
    return size + 1


def get_in_place(q: Any, lifo: bool) -> Any:
    """``get(False)`` (``lifo``: the queue's in :data:`LAST_IN_FIRST_OUT`); :data:`NO_ITEM` when
    it is empty."""
    with q.mutex:
        if not len(q.queue):
            return NO_ITEM
        item = q.queue.pop() if lifo else q.queue.popleft()
        not_full = q.not_full
        if not_full._waiters:
            not_full.notify()
    return item


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
