"""
A queue's own ``_put`` and ``_get``, hooked: the line of a put is said from inside ``_put``,
that is while the queue's mutex is held, so that no get of the item is said before it; and a
subclass's own ``_put`` or ``_get`` (or PriorityQueue's, which compare the program's items)
runs as the program's code, though inside a put or get.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from .._core.dispatch import as_program, emit, guard
from .._core.event import SyncEvent, perf_counter_ns
from .._core.registry import save_method, saved_methods
from .._core.sites import is_library_code
from .._core.tracebacks import hide_frames
from .._core.tracking import primitive_of


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.state import LeanLines


class PendingPut:
    """A put in progress on this thread, waiting for ``_put`` to say it happened."""

    __slots__ = ("item", "item_id", "lines", "queue", "site", "start")

    def __init__(
        self,
        q: Any,
        site: tuple[str, int, str],
        text: str | None,
        item_id: int,
        start: int | None,
        lines: LeanLines | None = None,
    ) -> None:
        try:
            self.queue = q
            self.site = site
            self.item = text
            self.item_id = item_id
            self.start = start
            #: A put counted in place, whose line alone is to be said (see LeanLines).
            self.lines = lines
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise


def _make_put_hook(original: Callable[..., Any], programs_own: bool) -> Callable[..., Any]:
    def _put(self: Any, item: Any) -> None:
        try:
            if programs_own:  # run inside put, the program's own code (see _runs_programs)
                as_program(original, self, item)
            else:
                original(self, item)
            pending = getattr(guard, "pending_put", None)
            if pending is None or pending.queue is not self:
                return
            guard.pending_put = None  # a subclass's _put calling super()._put reports once
            primitive = primitive_of(self)
            if primitive is None:
                return
            try:
                waited = None if pending.start is None else perf_counter_ns() - pending.start
                lines = pending.lines
                if lines is not None:  # counted in place: its line only
                    qsize = self._qsize() if lines.fields else None
                    lines.item(primitive, "put", "put", pending.item, pending.site, waited, qsize)
                else:
                    emit(
                        SyncEvent(
                            primitive,
                            "put",
                            "put",
                            pending.site,
                            waited,
                            item=pending.item,
                            item_id=pending.item_id,
                            qsize=self._qsize(),
                        )
                    )
            except BaseException as exc:
                # The item is in the deque: put() must still count it and wake a getter, or the
                # queue is left inconsistent. The exception is raised once put() has returned.
                guard.deferred = exc
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    return _put


def hook_put(cls: type) -> None:
    """
    Report puts from inside ``_put`` of ``cls`` (or of the class it inherits it from); a
    ``_get`` of the program's own, run inside get, runs as the program's code.
    """
    owner = next((c for c in cls.__mro__ if "_put" in vars(c)), None)
    if owner is not None and (owner, "_put") not in saved_methods:
        original = save_method(owner, "_put")
        hook = _make_put_hook(original, _runs_programs(owner, original))
        hook.__qualname__ = f"{owner.__qualname__}._put"
        hook.__wrapped__ = original  # type: ignore[attr-defined]
        type.__setattr__(owner, "_put", hook)
    owner = next((c for c in cls.__mro__ if "_get" in vars(c)), None)
    if owner is not None and (owner, "_get") not in saved_methods:
        original = vars(owner)["_get"]
        if _runs_programs(owner, original):
            save_method(owner, "_get")
            hook = _make_get_hook(original)
            hook.__qualname__ = f"{owner.__qualname__}._get"
            hook.__wrapped__ = original  # type: ignore[attr-defined]
            type.__setattr__(owner, "_get", hook)


def _runs_programs(owner: type, method: object) -> bool:
    """
    Whether ``method`` of ``owner``, called inside a put or a get, under the guard, runs the
    program's code: a subclass's own ``_put`` or ``_get``, or PriorityQueue's, which compare
    the program's items (their ``__lt__``). What that code does is the program's, reported
    (the lines hid it, ``-q`` counted it).
    """
    if owner is queue.PriorityQueue:
        return True
    code = getattr(method, "__code__", None)
    return code is not None and not is_library_code(code)


def _make_get_hook(original: Callable[..., Any]) -> Callable[..., Any]:
    def _get(self: Any) -> Any:
        try:
            return as_program(original, self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    return _get
