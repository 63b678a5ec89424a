"""
SimpleQueue: a subclass of the C type, handed out only to the user's code.

``queue.SimpleQueue`` is C: its methods cannot be replaced on the class, so the user's code gets
this subclass instead, whose methods count or report as a Queue's wrappers do (``_queues``)
and call the C type's own as functions. The standard library's own callers
(``ThreadPoolExecutor``...) keep the original type, which ``isinstance`` still matches.
"""

from __future__ import annotations

import copyreg
import queue
from functools import partial

from .._core.dispatch import emit, guard
from .._core.event import Primitive, SyncEvent
from .._core.registry import saved
from .._core.sites import NO_SITE, call_site, creator_frame
from .._core.state import state
from .._core.tally import TallyBook
from .._core.tracebacks import hide_frames
from .._core.tracking import Watch, library_owned, new_primitive, should_watch, watch, watches
from .calls import watched
from .counted import may_count
from .lean import adopt_watch
from .lockpaths import count_op
from .queuehooks import item_text
from .queuelean import lean_got, lean_rejected, lean_wait
from .queues import at_once, observed_get
from .standins import look_like, pickled_by_name


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.state import Records


_Empty = queue.Empty


_OriginalSimpleQueue: Any = saved["queue"]["SimpleQueue"]
_simple_put = _OriginalSimpleQueue.put
_simple_put_nowait = _OriginalSimpleQueue.put_nowait
_simple_get = _OriginalSimpleQueue.get
_simple_get_nowait = _OriginalSimpleQueue.get_nowait
_simple_qsize = _OriginalSimpleQueue.qsize


class _SimpleQueueType(type):
    # Library callers get the original C type: isinstance(x, queue.SimpleQueue) must still
    # hold for their queues while queue.SimpleQueue is this subclass.
    def __instancecheck__(cls, obj: object) -> bool:
        if cls is SimpleQueue:
            return isinstance(obj, _OriginalSimpleQueue)
        return super().__instancecheck__(obj)

    def __subclasscheck__(cls, sub: type) -> bool:
        if cls is SimpleQueue:
            return issubclass(sub, _OriginalSimpleQueue)
        return super().__subclasscheck__(sub)

    def __repr__(cls) -> str:
        return repr(_OriginalSimpleQueue) if cls is SimpleQueue else super().__repr__()


class SimpleQueue(_OriginalSimpleQueue, metaclass=_SimpleQueueType):  # type: ignore[misc]
    """
    Instrumented stand-in for ``queue.SimpleQueue``.

    The standard library's own callers (``ThreadPoolExecutor``...) get the original C type.
    """

    # Its entry in the side table (``_core.tracking``), kept by an instance of this class
    # itself, not of a subclass (see _entry): read on every operation, where a look-up by
    # id() cost 540 instructions (callgrind, 3.11) and the C type's own operations about 400.
    __slots__ = ("_syncscope_watch",)
    _syncscope_public = "queue:SimpleQueue"  # see standins.look_like

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            frame = creator_frame(2)
            if not should_watch("queue", frame):
                if cls is SimpleQueue:
                    return _OriginalSimpleQueue(*args, **kwargs)
                return super().__new__(cls, *args, **kwargs)
            obj = super().__new__(cls, *args, **kwargs)
            library = state.options.include_library and library_owned(frame)
            entry = watch(obj, new_primitive("queue", cls.__name__, frame), library)
            entry.waiting_gets = []  # see _counted_put
            if cls is SimpleQueue:  # no __setattr__ of the program's to go through
                obj._syncscope_watch = entry
            return obj
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    # The original's methods are called as functions rather than through super(): a
    # SimpleQueue's own operations are as cheap as a lock's, and super() cost more than they.

    def put(self, item: Any, block: Any = True, timeout: Any = None) -> None:
        try:
            lean = state.lean
            if lean is not None:
                if type(self) is SimpleQueue:  # _entry, written out
                    try:
                        entry = self._syncscope_watch
                    except AttributeError:
                        entry = None
                else:
                    entry = watches.get(id(self))
                if entry is not None:
                    tally = entry.tally
                    if (  # the statistics alone, on the program's queue: _lean_simple_put's
                        state.lines is None  # steps, written out (a call cost as much)
                        and not entry.library
                        and tally is not None
                        and tally.owner is lean
                    ):
                        tally.puts += 1
                        tally.unfinished += 1
                        size = _simple_qsize(self) + 1
                        if size > tally.max_size:  # noqa: PLR1730 (no call: the hot path)
                            tally.max_size = size
                        diagnosis = state.diagnosis
                        if diagnosis is not None:
                            diagnosis.put(entry.primitive)
                    elif not (_guarded(entry) and guard.busy):
                        _lean_simple_put(self, entry, lean, item)
                return _simple_put(self, item, block, timeout)  # type: ignore[no-any-return]
            counted = _counted_put(self, item)
            if counted is not None:  # count_op here: it names the wrapper's caller
                count_op(counted[1], "put", counted[0])
                return None
            primitive = watched(self)
            if primitive is not None:
                _report_simple_put(self, primitive, item)
            return _simple_put(self, item, block, timeout)  # type: ignore[no-any-return]
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def put_nowait(self, item: Any) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = _entry(self)
                if entry is not None and not (_guarded(entry) and guard.busy):
                    _lean_simple_put(self, entry, lean, item)
                return _simple_put_nowait(self, item)  # type: ignore[no-any-return]
            counted = _counted_put(self, item)
            if counted is not None:
                count_op(counted[1], "put", counted[0])
                return None
            primitive = watched(self)
            if primitive is not None:
                _report_simple_put(self, primitive, item)
            return _simple_put_nowait(self, item)  # type: ignore[no-any-return]
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def get(self, block: Any = True, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None and (not block or timeout is None or at_once(block, timeout)):
                if type(self) is SimpleQueue:  # _entry, written out
                    try:
                        entry = self._syncscope_watch
                    except AttributeError:
                        entry = None
                else:
                    entry = watches.get(id(self))
                lines = state.lines
                if entry is None or ((entry.library or lines is not None) and guard.busy):
                    return _simple_get(self, block, timeout)
                if not block or _simple_qsize(self):  # else empty: as for a Queue's get
                    try:
                        item = _simple_get(self, False)
                    except _Empty:
                        if not block and lines is None:  # counted here, raised as it is
                            lean_rejected(entry, lean, "get", "empty")
                            raise
                        # Below, as for a Queue's get.
                    else:
                        tally = entry.tally
                        if tally is None or tally.owner is not lean or lines is not None:
                            lean_got(self, entry, lean, item)
                        else:  # the statistics alone: lean_got's steps, written out
                            tally.gets += 1
                            diagnosis = state.diagnosis
                            if diagnosis is not None:
                                diagnosis.got(entry.primitive)
                        return item
                if block:  # it waits, or times out: counted at its site
                    if guard.busy:  # inside another operation's: as it is (lean_wait's
                        return _simple_get(self, block, timeout)  # guard is its own)
                    return lean_wait(
                        self, entry, lean, "get", _simple_get, (self, block, timeout), timeout
                    )
                # A get that fails: the event path says so.
            if not block or timeout is None or at_once(block, timeout):
                counted = _counted_get(self)
                if counted is not None:
                    count_op(counted[1], "get", counted[0], id(counted[2]))
                    return counted[2]
            primitive = watched(self)
            if primitive is None:
                return _simple_get(self, block, timeout)
            get = partial(_simple_get, self, block, timeout)
            entry = _entry(self) if block else None
            waiting = entry.waiting_gets if entry is not None else None
            if waiting is None:
                return observed_get(self, primitive, get, block, timeout)
            waiting.append(0)  # its puts are not counted meanwhile (see _counted_put)
            try:
                return observed_get(self, primitive, get, block, timeout)
            finally:
                waiting.pop()
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def get_nowait(self) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = _entry(self)
                if entry is None or (_guarded(entry) and guard.busy):
                    return _simple_get_nowait(self)
                try:
                    item = _simple_get_nowait(self)
                except _Empty:
                    if state.lines is None:  # counted here, raised as it is
                        lean_rejected(entry, lean, "get", "empty")
                        raise
                    # The event path says so.
                else:
                    lean_got(self, entry, lean, item)
                    return item
            counted = _counted_get(self)
            if counted is not None:
                count_op(counted[1], "get", counted[0], id(counted[2]))
                return counted[2]
            primitive = watched(self)
            if primitive is None:
                return _simple_get_nowait(self)
            return observed_get(self, primitive, partial(_simple_get_nowait, self), False, None)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def __repr__(self) -> str:
        # The original's: its class is named where it is found (see standins.look_like).
        if type(self) is SimpleQueue:
            return f"<{_ORIGINAL_NAME} object at {id(self):#x}>"
        # A subclass's: what follows in its order (a mixin's), as it returns it.
        return super().__repr__()  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: Any) -> Any:
        # The original's own refusal, word for word (the subclass would name itself).
        try:
            raise TypeError(f"cannot pickle '{_ORIGINAL_NAME}' object")
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise


_ORIGINAL_NAME = f"{_OriginalSimpleQueue.__module__}.{_OriginalSimpleQueue.__qualname__}"
look_like(SimpleQueue, _OriginalSimpleQueue)  # queue.SimpleQueue: found where it stands
copyreg.pickle(_SimpleQueueType, pickled_by_name)


def _entry(q: SimpleQueue) -> Watch | None:
    """
    Its entry; None when not watched. In its slot for an instance of the stand-in class, by
    id() for a subclass's: reading the slot would run the program's attribute hooks (a
    ``__getattribute__`` or ``__getattr__`` of the subclass's), and writing it its
    ``__setattr__``. Not in the slot either for a queue made by the C type's own ``__new__``
    called on the stand-in class, which is not watched.
    """
    if type(q) is SimpleQueue:
        try:
            return q._syncscope_watch  # type: ignore[no-any-return]
        except AttributeError:
            return None
    return watches.get(id(q))


def _guarded(entry: Watch) -> bool:
    """
    Whether an operation on it is left out while the guard is up: as a lock proxy's, when it
    is the library's own (inside the operation that uses it) or with the lines (which the
    event path leaves out there). The guard, a thread-local, is read only then.
    """
    return entry.library or state.lines is not None


def _counted_put(q: Any, item: Any) -> tuple[Records, Primitive] | None:
    """
    With the span sink alone, under pressure, a put into a queue that has items, as many at
    least as the program's gets that may wait in it, is counted in place (see ``counted``):
    made here, and the wrapper counts it (the records and the queue's primitive). The queue
    tells no waiters, hence the gets' own count (``Watch.waiting_gets``): each waiting get
    takes one of the items there or to come, in turn; before 3.13 a put lets a getter go
    without handing it the item, and a second put finds items while another getter still
    waits for its own. A put whose item may go to a getter that waits stays an event (None:
    not made), its span the one the getter's links to.
    """
    records = state.records
    if records is None or not may_count():
        return None
    entry = _entry(q)
    if entry is None:
        return None
    size = _simple_qsize(q)
    if not size or entry.waiting_gets is None or len(entry.waiting_gets) > size:
        return None
    if not (records.counting or records.spent()):
        return None
    _simple_put(q, item)  # never blocks, never fails
    return records, entry.primitive


def _counted_get(q: Any) -> tuple[Records, Primitive, Any] | None:
    """
    With the span sink alone, under pressure, a get that takes an item at once is counted
    in place with its mark (see ``counted``; nothing waits for room in a SimpleQueue): made
    here, with its item, and the wrapper counts it. None: not made (not counting, empty, not
    watched): the event path does as asked.
    """
    records = state.records
    if (
        records is None
        or not _simple_qsize(q)
        or len(records.buffer) >= records.capacity  # no room for its mark
        or not may_count()
    ):
        return None
    entry = _entry(q)
    if entry is None or not (records.counting or records.spent()):
        return None
    try:
        item = _simple_get_nowait(q)
    except _Empty:  # taken meanwhile
        return None
    return records, entry.primitive, item


def _lean_simple_put(q: Any, entry: Watch, lean: TallyBook, item: Any) -> None:
    # Said and counted before the put, as the event path reports it: it never blocks. Said
    # first: a Ctrl-C in it leaves nothing counted.
    lines = state.lines
    if lines is not None:
        qsize = _simple_qsize(q) + 1 if lines.fields else None  # the C one: not a subclass's
        text = item_text(item)
        lines.item(entry.primitive, "put", "put", text, NO_SITE, None, qsize)
    tally = entry.tally
    if tally is None or tally.owner is not lean:
        tally = adopt_watch(entry, lean)
    tally.puts += 1
    tally.unfinished += 1
    size = _simple_qsize(q) + 1
    if size > tally.max_size:  # noqa: PLR1730 (no call: the hot path)
        tally.max_size = size
    diagnosis = state.diagnosis
    if diagnosis is not None:  # the hang check hears of it (see _lean)
        diagnosis.put(entry.primitive)


def _report_simple_put(q: Any, primitive: Primitive, item: Any) -> None:
    # SimpleQueue.put never blocks nor fails: report before it, so the get comes after.
    emit(
        SyncEvent(
            primitive,
            "put",
            "put",
            call_site(),
            None,
            item=item_text(item),
            item_id=id(item),
            qsize=_simple_qsize(q) + 1,
        )
    )
