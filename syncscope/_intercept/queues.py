"""
Queue, LifoQueue, PriorityQueue: their methods wrapped on the class; and what SimpleQueue (a
subclass of the C type, in ``_simplequeue``) shares with them.

A queue reports queue operations ("61 put to queue by Thread-1"), never the traffic of the
mutex and Conditions inside it. A successful put is reported while the queue's mutex is held
(from inside ``_put``, or in the original's own steps), so that no consumer can report getting
an item before the producer has reported putting it.

With lean statistics (``state.lean``), a put or get that can be done at once is done without
blocking (``block=False``) and counted in place in the queue's tally; one that has to wait is
made as asked and counted at its call site, and a poll (``block=False``) that finds the queue
full or empty is counted there and raises as it is (``_queuelean``); one that fails otherwise
goes on to the event path as before (see ``_lean``). With the lines (``state.lines``), each
says its line as the event path does: a put's and a get's under the queue's lock, in the
original's own steps (``queuelean.say_put``, ``say_got``) or, where those are not taken, from
inside ``_put`` and ``_get`` (``guard.pending_put``, ``pending_get``).
With spans alone under pressure, a put with no getter waiting and a get with no putter
waiting are counted in place (see ``counted``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial

from .._core.compat import QUEUE_HAS_SHUTDOWN
from .._core.dispatch import emit, guard, hidden
from .._core.event import Op, Primitive, SyncEvent, perf_counter_ns, wait_limit
from .._core.sites import NO_SITE, PAST_OUR_CALLER, call_site
from .._core.state import state
from .._core.tracebacks import hide_frames
from .._core.tracking import (
    watch_new,
    watches,
)
from .calls import blocking_call, silent, watched
from .counted import countable
from .lean import adopt_watch
from .lockfactories import LOCK_TYPE
from .lockpaths import count_op
from .ownsteps import IN_PLACE, NO_ITEM, in_place_ok, task_done_in_place
from .queuefill import empty_now, full_now, is_empty, is_full, queued
from .queuehooks import hook_put, item_text
from .queuelean import (
    STANDARD,
    failed_outcome,
    lean_failed,
    lean_rejected,
    lean_tally,
    lean_wait,
    raise_deferred,
    said_got,
    said_put,
    say_got,
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .conditions import Wrapper


_Full, _Empty = queue.Full, queue.Empty
_ShutDown = getattr(queue, "ShutDown", None)
_TIMEOUT_MAX = threading.TIMEOUT_MAX


def at_once(block: Any, timeout: Any) -> bool:
    """
    Whether a put or get with these arguments may first be tried with ``block=False``: when it
    can be done at once, the real call does it whatever the timeout, unless it rejects the
    timeout (``get(timeout=-1)`` raises ValueError on a queue with items, as SimpleQueue's get
    does on a timeout too large). The wrappers test ``not block or timeout is None`` first.
    """
    if not block or timeout is None:
        return True
    return type(timeout) in (int, float) and 0 <= timeout <= _TIMEOUT_MAX


#: What :func:`_counted_attempt` returns when the attempt found the queue full or empty.
_NOTHING = object()


def _counted_attempt(
    q: Any, primitive: Primitive, call: Callable[..., Any], args: tuple[Any, ...]
) -> Any:
    """
    A put or get that is to be counted in place, made without blocking: its result (None for
    a put, the item for a get), or _NOTHING when the queue was full or empty after all (the
    event path then does as asked). An error is the event path's error event, and raised.
    The original's own steps (``ownsteps``) make it where they can, as on the lean path: a
    Queue's put and get cost three times as much through the original's frames.
    """
    try:
        steps = IN_PLACE.get(type(q))
        if steps is not None and in_place_ok(q):
            entry = watches.get(id(q))
            if entry is not None:
                if args:
                    if steps[0](q, args[0], entry) is not None:
                        return None
                else:
                    item = steps[1](q, entry)
                    if item is not NO_ITEM:
                        return item
            # Full, empty, or not for these steps: the original says which, or does it.
        if state.options.include_library:  # its Conditions are watched too: hide them
            result = hidden(call, q, *args, False)
        else:
            result = call(q, *args, False)
    except (_Full, _Empty):
        return _NOTHING  # the event path's own attempt raises afresh, unchained to this one
    except BaseException as exc:
        op: Op = "put" if args else "get"
        item = item_text(args[0]) if args else None
        outcome = failed_outcome(op, exc, False, None)
        emit(SyncEvent(primitive, op, outcome, call_site(PAST_OUR_CALLER), item=item, error=exc))
        raise
    return result


def wrappers() -> list[Wrapper]:
    cls = queue.Queue
    init, put, get, task_done, join = cls.__init__, cls.put, cls.get, cls.task_done, cls.join

    def __init__(self: Any, maxsize: Any = 0) -> None:
        try:
            if watch_new(self, "queue") is not None:
                hook_put(type(self))  # no-op unless a user subclass brings its own _put
            init(self, maxsize)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def put_wrapper(self: Any, item: Any, block: Any = True, timeout: Any = None) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return put(self, item, block, timeout)
                if not block or timeout is None or at_once(block, timeout):
                    lines = state.lines
                    in_place = (  # in_place_ok(), written out: a call costs more
                        lines is None
                        and type(self) in IN_PLACE
                        and type(self.mutex) is LOCK_TYPE
                        and not state.options.include_library
                    )
                    # Full, as the event path tells (unlocked): no attempt, which would raise
                    # and catch a Full for nothing. (A put in place finds that out itself.)
                    if in_place or not (block and self.maxsize and is_full(self)):
                        if lines is not None:  # the same, said: see said_put
                            if said_put(self, entry, lean, lines, put, item, block, timeout):
                                return None
                        else:
                            try:
                                size = (
                                    IN_PLACE[type(self)][0](self, item, entry) if in_place else None
                                )
                                if size is None:  # the real put does it, or says why not
                                    if state.options.include_library:  # its Conditions too
                                        hidden(put, self, item, False)
                                    else:
                                        put(self, item, False)
                            except _Full:
                                if not block:  # counted here, raised as it is
                                    lean_rejected(entry, lean, "put", "full")
                                    raise
                                # Below, outside this block: what it raises next must not
                                # be chained to this Full.
                            except BaseException as exc:
                                lean_failed(entry, "put", exc, block, timeout, item)
                                raise
                            else:
                                tally = entry.tally
                                if tally is None or tally.owner is not lean:
                                    tally = adopt_watch(entry, lean)
                                tally.puts += 1
                                tally.unfinished += 1
                                if size is None:  # just after the put, not under its lock
                                    size = queued(self)  # None: not known (see queuefill)
                                if size is not None and size > tally.max_size:
                                    tally.max_size = size
                                diagnosis = state.diagnosis
                                if diagnosis is not None:  # the hang check hears (see _lean)
                                    diagnosis.put(entry.primitive)
                                return None
                    if block:  # it waits, or times out: counted at its site
                        return lean_wait(  # type: ignore[no-any-return]
                            self, entry, lean, "put", put, (self, item, block, timeout), timeout
                        )
                    # A put that fails: the event path says so.
            records = state.records
            if (
                records is not None
                # Else the real put checks the timeout: its error.
                and (not block or timeout is None or at_once(block, timeout))
                and not self.not_empty._waiters
                # A size only its own code tells is not read: unknown, tried under pressure.
                and not (self.maxsize and is_full(self, not records.counting))
            ):
                counted = countable(self)  # no getter to wake: counted in place (see counted)
                if (
                    counted is not None
                    and (records.counting or records.spent())
                    and _counted_attempt(self, counted, put, (item,)) is not _NOTHING
                ):
                    count_op(counted, "put", records)
                    return None
                # Full after all (filled meanwhile): the event path below does as asked.
            primitive = watched(self)
            if primitive is None:
                return put(self, item, block, timeout)
            site = call_site()
            text = item_text(item)
            try:
                blocks = bool(block) and full_now(self, timeout)
            except BaseException as exc:  # a Ctrl-C while it waits for the queue's lock
                outcome = failed_outcome("put", exc, block, timeout)
                emit(SyncEvent(primitive, "put", outcome, site, item=text, error=exc))
                raise
            if blocks:
                limit = wait_limit(block, timeout)
                emit(SyncEvent(primitive, "put", "waiting", site, timeout=limit, item=text))
            start = perf_counter_ns() if blocks else None
            # A put made inside a subclass's _put (the program's code) has one of its own:
            # the outer one is put back for its own _put to report.
            outer = guard.pending_put
            guard.pending_put = (self, primitive, site, text, id(item), start, None)
            guard.busy = True
            try:
                put(self, item, block, timeout)
            except BaseException as exc:
                guard.busy = False
                guard.pending_put = outer
                outcome = failed_outcome("put", exc, block, timeout)
                emit(SyncEvent(primitive, "put", outcome, site, item=text, error=exc))
                raise
            guard.busy = False
            guard.pending_put = outer
            raise_deferred()
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def get_wrapper(self: Any, block: Any = True, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return unseen_get(get, self, block, timeout)
                if not block or timeout is None or at_once(block, timeout):
                    # Empty: as for a put above; only for a get with a time limit (a poll),
                    # where the raise would cost more than the get itself: a get without one
                    # mostly finds an item, or waits anyway.
                    if not block or timeout is None or not is_empty(self):
                        lines = state.lines
                        pending: object = None
                        in_place = IN_PLACE.get(type(self))
                        if in_place is not None and (
                            type(self.mutex) is not LOCK_TYPE or state.options.include_library
                        ):
                            in_place = None  # not in_place_ok(), written out
                        try:
                            # Unseen inside, as a put's (see put_wrapper).
                            if lines is not None:
                                item = NO_ITEM
                                if in_place is not None:
                                    # The original's own steps, the line said in them if it
                                    # can be (see queuelean.say_got), else once done; what a
                                    # signal handler does inside is unseen, as in the real get.
                                    said = [lines, entry.primitive, self, False]
                                    guard.busy = True  # down: tested above
                                    try:
                                        item = in_place[1](self, entry, say_got, said)
                                    finally:
                                        guard.busy = False
                                    pending = said
                                    unsaid = not said[3]
                                if item is NO_ITEM:  # said by _get if it can be (see queuehooks)
                                    outer = guard.pending_get
                                    pending = (self, entry.primitive, lines, NO_SITE, None, outer)
                                    guard.pending_get = pending
                                    standard = type(self) in STANDARD
                                    try:
                                        if standard and not state.options.include_library:
                                            guard.busy = True  # down: tested above
                                            try:
                                                item = get(self, False)
                                            finally:
                                                guard.busy = False
                                        else:
                                            item = hidden(get, self, False)
                                    finally:
                                        unsaid = guard.pending_get is pending
                                        guard.pending_get = outer
                            elif in_place is not None:
                                item = in_place[1](self, entry)
                                if item is NO_ITEM:  # Empty, ShutDown, or a heap's
                                    item = get(self, False)  # items unknown
                            elif state.options.include_library:  # its Conditions: watched
                                item = hidden(get, self, False)
                            else:
                                item = get(self, False)
                        except _Empty:
                            if not block and lines is None:  # counted here, raised as it is
                                lean_rejected(entry, lean, "get", "empty")
                                raise
                            # Below, as for a put.
                        except BaseException as exc:
                            lean_failed(entry, "get", exc, block, timeout, None)
                            raise
                        else:  # lean_got, written out: a call costs more than it does
                            tally = entry.tally
                            if tally is None or tally.owner is not lean:
                                tally = adopt_watch(entry, lean)
                            tally.gets += 1
                            diagnosis = state.diagnosis
                            if diagnosis is not None:  # the hang check hears of it (see _lean)
                                diagnosis.got(entry.primitive)
                            if pending is not None and lines is not None:
                                if unsaid:
                                    said_got(lines, self, entry, item)
                                if guard.deferred is not None:  # see said_put
                                    raise_deferred()
                            return item
                    if block:  # it waits, or times out: counted at its site
                        return lean_wait(
                            self, entry, lean, "get", get, (self, block, timeout), timeout
                        )
                    # A get that fails: the event path says so.
            records = state.records
            if (
                records is not None
                # Else the real get checks the timeout: its error.
                and (not block or timeout is None or at_once(block, timeout))
                and not self.not_full._waiters
                # A size only its own code tells is not read: unknown, tried under pressure.
                and not is_empty(self, not records.counting)
                and len(records.buffer) < records.capacity  # room for its mark (see counted)
            ):
                counted = countable(self)  # no putter to let in: counted in place
                if counted is not None and (records.counting or records.spent()):
                    got = _counted_attempt(self, counted, get, ())
                    if got is not _NOTHING:
                        count_op(counted, "get", records, id(got))
                        return got
                    # Empty after all: the event path below does as asked.
            primitive = watched(self)
            if primitive is None:
                return unseen_get(get, self, block, timeout)
            return observed_get(self, primitive, partial(get, self, block, timeout), block, timeout)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def task_done_wrapper(self: Any) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return task_done(self)
                unfinished = self.unfinished_tasks - 1
                if unfinished >= 0:  # else the real one raises ValueError: the event path
                    lines = state.lines
                    if lines is not None:  # before: a join it lets go says so after
                        lines.line(entry.primitive, "task_done", "done", unfinished=unfinished)
                    if lines is not None or state.options.include_library:  # see put
                        hidden(task_done, self)
                    elif type(self) not in STANDARD or type(self.mutex) is not LOCK_TYPE:
                        task_done(self)
                    elif not task_done_in_place(self):
                        task_done(self)  # one too many: it raises
                    tally = lean_tally(entry, lean)
                    tally.task_done += 1
                    tally.unfinished = unfinished
                    diagnosis = state.diagnosis
                    if diagnosis is not None:  # the hang check hears of it (see _lean)
                        diagnosis.touched(entry.primitive, "task_done", "done")
                    return None
            primitive = watched(self)
            if primitive is None:
                return task_done(self)
            site = call_site()
            if self.unfinished_tasks <= 0:  # the real one raises ValueError: report that
                try:
                    silent(task_done, self)
                except BaseException as exc:
                    emit(SyncEvent(primitive, "task_done", "error", site, error=exc))
                    raise
                return None
            # Before the real call: a join() it releases reports after it.
            emit(
                SyncEvent(
                    primitive, "task_done", "done", site, unfinished=self.unfinished_tasks - 1
                )
            )
            silent(task_done, self)
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def join_wrapper(self: Any) -> None:
        try:
            primitive = watched(self)
            if primitive is None:
                return join(self)
            site = call_site()
            blocks = self.unfinished_tasks > 0
            if blocks:
                emit(
                    SyncEvent(primitive, "join", "waiting", site, unfinished=self.unfinished_tasks)
                )
            _, waited = blocking_call(primitive, "join", site, partial(join, self))
            emit(SyncEvent(primitive, "join", "joined", site, waited if blocks else None))
            return None
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    result: list[Wrapper] = [
        (cls, "__init__", __init__),
        (cls, "put", put_wrapper),
        (cls, "get", get_wrapper),
        (cls, "task_done", task_done_wrapper),
        (cls, "join", join_wrapper),
    ]
    if QUEUE_HAS_SHUTDOWN:
        shutdown = cls.shutdown  # type: ignore[attr-defined, unused-ignore]  # 3.13+

        def shutdown_wrapper(self: Any, immediate: Any = False) -> None:
            try:
                primitive = watched(self)
                if primitive is None:
                    return shutdown(self, immediate)  # type: ignore[no-any-return, unused-ignore]
                site = call_site()
                silent(shutdown, self, immediate)
                emit(SyncEvent(primitive, "shutdown", "shutdown", site, immediate=bool(immediate)))
                return None
            except BaseException as exc:
                hide_frames(exc)  # the program's traceback, not ours
                raise

        result.append((cls, "shutdown", shutdown_wrapper))
    return result


def observed_get(
    q: Any, primitive: Primitive, call: Callable[[], Any], block: Any, timeout: Any
) -> Any:
    """Run a get (``call``) of any queue kind, and report it: waiting, got, or why not."""
    site = call_site()
    try:
        blocks = bool(block) and empty_now(q, timeout)
    except BaseException as exc:  # a Ctrl-C while it waits for the queue's lock
        emit(
            SyncEvent(primitive, "get", failed_outcome("get", exc, block, timeout), site, error=exc)
        )
        raise
    if blocks:
        emit(SyncEvent(primitive, "get", "waiting", site, timeout=wait_limit(block, timeout)))
    start = perf_counter_ns()  # before the guard goes up: a Ctrl-C at a call left it up
    # Its event emitted by _get, under the queue's lock, if it can be (see queuehooks).
    outer = guard.pending_get
    pending = (q, primitive, None, site, start if blocks else None, outer)
    guard.pending_get = pending
    guard.busy = True  # the queue's own mutex and Conditions are not the user's business
    try:
        item = call()
    except BaseException as exc:
        guard.busy = False
        guard.pending_get = outer
        outcome = failed_outcome("get", exc, block, timeout)
        emit(SyncEvent(primitive, "get", outcome, site, perf_counter_ns() - start, error=exc))
        raise
    guard.busy = False
    unsaid = guard.pending_get is pending
    guard.pending_get = outer
    if unsaid:
        waited_ns = perf_counter_ns() - start if blocks else None
        text = item_text(item)
        emit(
            SyncEvent(
                primitive,
                "get",
                "got",
                site,
                waited_ns,
                item=text,
                item_id=id(item),
                qsize=queued(q),
            )
        )
    raise_deferred()
    return item


def unseen_get(get: Callable[..., Any], q: Any, block: Any, timeout: Any) -> Any:
    """
    A get not reported (a library's queue, or one made inside an operation: a signal handler's
    while this thread waits in a get of its own): the get in progress is not its to say.
    """
    pending = guard.pending_get
    if pending is None:
        return get(q, block, timeout)
    guard.pending_get = None
    try:
        return get(q, block, timeout)
    finally:
        guard.pending_get = pending
