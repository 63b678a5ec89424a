"""
A queue's own ``_put`` and ``_get``, hooked: the line of a put is said from inside ``_put``,
that is while the queue's mutex is held, so that no get of the item is said before it; the
line of a get from inside ``_get``, so that no put the get let in is said before it (when its
item's text can be made there, see :func:`renders_in_c`); and a subclass's own ``_put`` or
``_get`` (or PriorityQueue's, which compare the program's items) runs as the program's code,
though inside a put or get. PriorityQueue's ``_put`` also keeps the kind of the items in its
heap, which its put and get done in place need (see ``ownsteps.IN_PLACE``). A put or get
made in the original's own steps says its line there, under the same lock (see
``queuelean.say_put``).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from itertools import islice

from .._core.dispatch import as_program, emit, guard
from .._core.event import Primitive, SyncEvent, perf_counter_ns
from .._core.registry import save_method, saved_methods
from .._core.reprs import safe_repr
from .._core.signals import raise_if_a_handlers
from .._core.sites import NO_SITE, is_library_code
from .._core.state import state
from .._core.tracebacks import hide_frames
from .._core.tracking import watches
from .ownsteps import MIXED, heap_kind_after
from .queuefill import queued


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.state import LeanLines

    #: A get in progress on this thread whose line or event ``_get`` says under the queue's
    #: lock if its item renders in C (see :func:`renders_in_c`), else the get once done: the
    #: queue, its primitive, the lean path's lines (None: the event path's event), the call
    #: site (the event path's), when a get that waits began (else None), and the get in
    #: progress it came inside, back in ``guard.pending_get`` once it is said.
    PendingGet = tuple[Any, Primitive, LeanLines | None, tuple[str, int, str], int | None, object]

    #: A put in progress on this thread, for ``_put`` to say once the item is in: the queue,
    #: its primitive, the call site, the item's text and id, when a put that waits began
    #: (else None), and the lean path's lines, whose line alone is said (None: the event
    #: path's event). A tuple: an object of a class took 2,500 instructions to make.
    PendingPut = tuple[
        Any, Primitive, tuple[str, int, str], str | None, int, int | None, LeanLines | None
    ]


def item_text(item: Any) -> str | None:
    """A queue item as the lines say it (see ``_core/reprs``), or None if items are hidden."""
    options = state.options
    if options.hide_items:
        return None
    limit = options.item_repr_limit
    cls = type(item)
    # safe_repr's text without its two calls, for most items: a number, or a string short
    # enough that safe_repr would not cut it before rendering it.
    if cls in _NUMBERS or (cls in _TEXTS and len(item) <= limit):
        try:
            text = repr(item)
        except Exception as exc:  # an int too long to print: safe_repr says so
            raise_if_a_handlers(exc)
        else:
            if len(text) <= limit:
                return text
    return safe_repr(item, limit)


_NUMBERS = frozenset({int, float, complex, bool, type(None)})
_TEXTS = frozenset({str, bytes, bytearray})
#: Types whose text ``safe_repr`` makes without a call the program could have written.
PLAIN = _NUMBERS | _TEXTS
_PLAIN_CONTAINERS = frozenset({tuple, list, set, frozenset})


def renders_in_c(item: Any, depth: int = 3) -> bool:
    """
    Whether ``item``'s text (``safe_repr``'s, to its depth and length) is made by C code
    alone: numbers, strings, and tuples, lists, sets and dicts of them. Only such an item is
    said under the queue's lock: anything else (a dataclass's fields, an object whose class
    answers ``isinstance`` in Python) could run the program's code, which may want the lock.
    """
    cls = type(item)
    if cls in PLAIN:
        return True
    if depth <= 0:
        return True  # not rendered past its depth ("\u2026")
    # Loops, not generators: those would make a cell of depth on every call.
    if cls in _PLAIN_CONTAINERS:  # the parts safe_repr shows, not a copy of them all
        for part in islice(item, 7):  # noqa: SIM110 (see above)
            if not renders_in_c(part, depth - 1):
                return False
        return True
    if cls is dict:
        for key, value in islice(item.items(), 6):
            if not (renders_in_c(key, depth - 1) and renders_in_c(value, depth - 1)):
                return False
        return True
    return False


def said_in_get(pending: PendingGet, item: Any) -> None:
    """
    The line (lean path) or event (event path) of the get ``pending`` describes, with the
    ``item`` it got, said by ``_get`` under the queue's lock.
    """
    q, primitive, lines, site, start, _ = pending
    waited = None if start is None else perf_counter_ns() - start
    if lines is not None:
        qsize = queued(q) if lines.fields else None
        lines.item(primitive, "get", "got", item_text(item), NO_SITE, waited, qsize)
        return
    text = item_text(item)
    emit(
        SyncEvent(
            primitive, "get", "got", site, waited, item=text, item_id=id(item), qsize=queued(q)
        )
    )


def _make_put_hook(
    original: Callable[..., Any], programs_own: bool, heap: bool
) -> Callable[..., Any]:
    def _put(self: Any, item: Any) -> None:
        try:
            # A PriorityQueue's (``heap``): the kind of its items kept, under its mutex, for
            # the gets in place (see ownsteps.IN_PLACE).
            entry = watches.get(id(self)) if heap else None
            if entry is not None:
                epoch = state.epoch  # see ownsteps._put_in_heap
                before = entry.heap_kind if entry.heap_epoch == epoch else None
                # A container of the program's: its length is its own code, not read here.
                if (
                    type(self.queue) is not list
                    or before is MIXED
                    or (before is None and len(self.queue))
                ):
                    entry = None  # not known, and so it stays: nothing to keep
                else:
                    entry.heap_kind = None  # unknown if the push raises: its item is in
            if programs_own:  # run inside put, the program's own code (see _runs_programs)
                as_program(original, self, item)
            else:
                original(self, item)
            if entry is not None:
                after = heap_kind_after(before, item, len(self.queue))
                entry.heap_kind, entry.heap_epoch = after, epoch
            pending: PendingPut | None = guard.pending_put  # type: ignore[assignment]
            if pending is None or pending[0] is not self:
                return
            guard.pending_put = None  # a subclass's _put calling super()._put reports once
            _, primitive, site, text, item_id, start, lines = pending
            try:
                waited = None if start is None else perf_counter_ns() - start
                if lines is not None:  # counted in place: its line only
                    qsize = queued(self) if lines.fields else None
                    lines.item(primitive, "put", "put", text, site, waited, qsize)
                else:
                    emit(
                        SyncEvent(
                            primitive,
                            "put",
                            "put",
                            site,
                            waited,
                            item=text,
                            item_id=item_id,
                            qsize=queued(self),
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
        hook = _make_put_hook(
            original, _runs_programs(owner, original), owner is queue.PriorityQueue
        )
        hook.__qualname__ = f"{owner.__qualname__}._put"
        hook.__wrapped__ = original  # type: ignore[attr-defined]
        type.__setattr__(owner, "_put", hook)
    owner = next((c for c in cls.__mro__ if "_get" in vars(c)), None)
    if owner is not None and (owner, "_get") not in saved_methods:
        original = save_method(owner, "_get")
        hook = _make_get_hook(original, _runs_programs(owner, original))
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


def _make_get_hook(original: Callable[..., Any], programs_own: bool) -> Callable[..., Any]:
    def _get(self: Any) -> Any:
        try:
            pending: PendingGet | None = guard.pending_get  # type: ignore[assignment]
            if pending is None or pending[0] is not self:
                # Run inside get, the program's own code (see _runs_programs).
                return as_program(original, self) if programs_own else original(self)
            # Taken by the outermost _get: a subclass's calling super()._get() returns what
            # the subclass's returns, which is what the get gets.
            guard.pending_get = pending[5]
            item = as_program(original, self) if programs_own else original(self)
            try:
                if type(item) in PLAIN or renders_in_c(item):
                    said_in_get(pending, item)
                else:
                    guard.pending_get = pending  # said by the get once done
            except BaseException as exc:
                # The item is out of the deque: get() must still return and wake a putter.
                # The exception is raised once get() has returned (see raise_deferred).
                guard.deferred = exc
            return item
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    return _get
