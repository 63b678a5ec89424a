"""
Which pool each watched Future belongs to, for the pool-starvation check: a pool's every
worker waiting for a Future whose task is queued behind it on the same pool.

Written by the Futures interception (at ``submit``), read by the watchdog. Weak references
only: a Future or an executor the program dropped is forgotten with it.
"""

from __future__ import annotations

import contextlib
import weakref

from .event import Primitive


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Task:
    """A submitted task: its Future (weakly), its pool (weakly), what it runs."""

    __slots__ = ("function", "future", "pool")

    def __init__(self, future: Any, pool: Any, function: str) -> None:
        self.future = weakref.ref(future)
        self.pool = weakref.ref(pool)
        self.function = function

    def queued(self) -> bool:
        """Not started yet (still in its pool's queue)."""
        future = self.future()
        return future is not None and not future.running() and not future.done()


#: The Future's Primitive -> its task, while the Future lives.
tasks: dict[Primitive, Task] = {}


def register(primitive: Primitive, future: Any, pool: Any, function: str) -> None:
    def forget(_ref: object, primitive: Primitive = primitive) -> None:
        with contextlib.suppress(Exception):
            del tasks[primitive]

    task = Task(future, pool, function)
    task.future = weakref.ref(future, forget)
    tasks[primitive] = task


def workers(pool: Any) -> tuple[int, ...]:
    """The idents of a ThreadPoolExecutor's worker threads (that it started so far)."""
    threads = getattr(pool, "_threads", ())
    return tuple(t.ident for t in list(threads) if t.ident is not None and t.is_alive())


def size(pool: Any) -> int:
    return int(getattr(pool, "_max_workers", 0) or 0)
