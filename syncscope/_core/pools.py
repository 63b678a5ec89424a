"""
Which pool each watched Future belongs to, for the pool-starvation check: a pool's every
worker waiting for a Future whose task is queued behind it on the same pool.

Written by the Futures interception (at ``submit``), read by the watchdog. Weak references
only: a Future or an executor the program dropped is forgotten with it.
"""

from __future__ import annotations

import weakref

from .event import Primitive
from .tracking import primitive_of, watch


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Site = tuple[str, int, str]


class Task(weakref.ref):  # type: ignore[type-arg]
    """
    A submitted task: a weak reference to its Future (forgotten with it), its pool (weakly),
    what it runs and where it was submitted (its Primitive, once made, is in :data:`_made`:
    see :func:`primitive_for`). One object per submit, and no Primitive until the Future is waited
    on: a program that submits many small tasks pays the garbage collector for each object
    kept per task (seven of them, made at submit, doubled the cost of the collections).
    """

    __slots__ = ("function", "key", "pool", "site")

    key: int  # the Future's id
    pool: weakref.ref[Any]
    function: str
    site: Site

    def future(self) -> Any:
        """The Future, None once it is gone."""
        return self()

    def queued(self) -> bool:
        """Not started yet (still in its pool's queue)."""
        future = self()
        return future is not None and not future.running() and not future.done()


#: id(Future) -> its task, while the Future lives (its id is not reused before: a weak
#: reference's callback runs before the object's memory is freed).
submitted: dict[int, Task] = {}
#: The Future's Primitive -> its task, once the Primitive is made.
tasks: dict[Primitive, Task] = {}
#: id(Future) -> its Primitive, once made: two threads' first waits on one Future make one
#: (dict.setdefault decides, atomically: a lock here could be held by a signal handler's
#: thread or across a fork).
_made: dict[int, Primitive] = {}


def _forget(task: Task) -> None:
    """A Future died: its task goes."""
    submitted.pop(task.key, None)
    primitive = _made.pop(task.key, None)
    if primitive is not None:
        tasks.pop(primitive, None)


def register(future: Any, pool: Any, function: str, site: Site) -> None:
    """The program's code submitted ``future`` to ``pool``, to run ``function``, at ``site``."""
    task = Task(future, _forget)  # its fields set here: an ``__init__`` is a call more
    task.key = id(future)
    task.pool = weakref.ref(pool)  # without a callback: the pool's one reference, shared
    task.function = function
    task.site = site
    submitted[task.key] = task


def primitive_for(future: Any) -> Primitive | None:
    """
    The Primitive of a Future the program's code submitted, made at its first call (named
    after the function, created where it was submitted) and watched as the Future; None
    for a Future not submitted by the program's code.
    """
    task = submitted.get(id(future))
    if task is None or task() is not future:
        return None
    primitive = _made.get(task.key)
    if primitive is None:
        made = Primitive("future", type(future).__name__, f"{task.function}()", *task.site)
        primitive = _made.setdefault(task.key, made)
    # Finished by whoever finds it unfinished (again, harmlessly: its maker may have been
    # stopped halfway, by a signal handler's exception): its task first, then the Future
    # watched as it, after which the waits find it (primitive_of) and do not come here.
    tasks[primitive] = task
    if primitive_of(future) is not primitive:
        watch(future, primitive)
    return primitive


def workers(pool: Any) -> tuple[int, ...]:
    """The idents of a ThreadPoolExecutor's worker threads (that it started so far)."""
    threads = getattr(pool, "_threads", ())
    return tuple(t.ident for t in list(threads) if t.ident is not None and t.is_alive())


def size(pool: Any) -> int:
    return int(getattr(pool, "_max_workers", 0) or 0)
