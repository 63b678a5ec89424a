"""
Event: its methods wrapped on the class, as ``conditions`` wraps Condition's: the lean
statistics first in each wrapper, then the operations counted in place for spans alone (see
``counted``), then the event path.
"""

from __future__ import annotations

import threading
from functools import partial

from .._core.dispatch import emit, guard, hidden
from .._core.event import SyncEvent, wait_limit
from .._core.sites import call_site
from .._core.state import state
from .._core.tracebacks import hide_frames
from .._core.tracking import watch_new, watches
from .calls import blocking_call, said_wait, silent, watched
from .counted import countable
from .lean import adopt_watch, signal_wait
from .lockfactories import LOCK_TYPE
from .lockpaths import count_op
from .ownsteps import OwnCondition, clear_flag, flag_now, set_flag


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .conditions import Wrapper


def wrappers() -> list[Wrapper]:
    cls = threading.Event
    init, set_, clear, wait = cls.__init__, cls.set, cls.clear, cls.wait

    def __init__(self: Any) -> None:
        try:
            watch_new(self, "event")
            init(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def set_wrapper(self: Any) -> None:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return set_(self)
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                lines = state.lines
                if lines is not None:  # before the real set (the waiters say so after), and
                    lines.line(entry.primitive, "set", "set")  # before it is counted (Ctrl-C)
                tally.sets += 1
                diagnosis = state.diagnosis
                if diagnosis is not None:  # the hang check hears of it (see _lean)
                    diagnosis.marked(entry.primitive, "set")
                cond = self._cond
                lock = cond._lock
                if type(lock) is LOCK_TYPE and type(cond) is OwnCondition:
                    with lock:  # Event.set's own steps, written out (see _ownsteps)
                        self._flag = True
                        if cond._waiters:  # notify_all() wakes nobody without
                            cond.notify_all()
                    return None
                if state.options.include_library:  # its Condition is watched too: hide it
                    return hidden(set_, self)  # type: ignore[no-any-return]
                return set_(self)
            records = state.records
            if (
                records is not None
                and not self._cond._waiters
                and len(records.buffer) < records.capacity  # room for its mark (see counted)
            ):
                counted = countable(self)  # nobody to wake: counted in place (see counted)
                if counted is not None and (records.counting or records.spent()):
                    if set_flag(self):  # the original's own steps, where they can
                        pass
                    elif state.options.include_library:  # its Condition is watched: hide it
                        hidden(set_, self)
                    else:
                        set_(self)
                    count_op(counted, "set", records)
                    return None
            primitive = watched(self)
            if primitive is not None:
                # Before the real set: the waiters it wakes report after it.
                emit(SyncEvent(primitive, "set", "set", call_site()))
                silent(set_, self)
                return None
            return set_(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def clear_wrapper(self: Any) -> None:
        try:
            if state.lean is not None:  # the statistics count no clear
                diagnosis, lines = state.diagnosis, state.lines
                if (diagnosis is not None or lines is not None) and not guard.busy:
                    entry = watches.get(id(self))
                    if entry is not None:
                        if lines is not None:  # first: a Ctrl-C in it leaves nothing marked
                            lines.line(entry.primitive, "clear", "cleared")
                        if diagnosis is not None:  # the hang check's evidence counts it
                            diagnosis.marked(entry.primitive, "clear")
                cond = self._cond
                lock = cond._lock
                if type(lock) is LOCK_TYPE and type(cond) is OwnCondition:
                    with lock:  # Event.clear's own steps, written out (see _ownsteps)
                        self._flag = False
                    return None
                if state.options.include_library and not guard.busy:  # its Condition too
                    return hidden(clear, self)  # type: ignore[no-any-return]
                return clear(self)
            records = state.records
            if records is not None and len(records.buffer) < records.capacity:  # its mark's room
                counted = countable(self)  # counted in place (see counted)
                if counted is not None and (records.counting or records.spent()):
                    if clear_flag(self):  # the original's own steps, where they can
                        pass
                    elif state.options.include_library:  # its Condition is watched: hide it
                        hidden(clear, self)
                    else:
                        clear(self)
                    count_op(counted, "clear", records)
                    return None
            primitive = watched(self)
            if primitive is not None:
                emit(SyncEvent(primitive, "clear", "cleared", call_site()))
                silent(clear, self)
                return None
            return clear(self)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    def wait_wrapper(self: Any, timeout: Any = None) -> Any:
        try:
            lean = state.lean
            if lean is not None:
                entry = watches.get(id(self))
                if entry is None or guard.busy:
                    return wait(self, timeout)
                # Set: it returns at once, whatever the timeout. Cleared meanwhile, the attempt
                # fails at once and the event path below waits as asked.
                signaled = False
                if self._flag:
                    cond = self._cond
                    lock = cond._lock
                    if type(lock) is LOCK_TYPE and type(cond) is OwnCondition:
                        with lock:  # Event.wait's own steps, written out (see _ownsteps)
                            signaled = self._flag
                    elif state.options.include_library:  # its Condition is watched: hide it
                        signaled = hidden(wait, self, 0)
                    else:
                        signaled = wait(self, 0)
                if signaled:
                    tally = entry.tally
                    if tally is None or tally.owner is not lean:
                        tally = adopt_watch(entry, lean)
                    tally.waits += 1
                    diagnosis = state.diagnosis
                    if diagnosis is not None:  # the hang check hears of it (see _lean)
                        diagnosis.touched(entry.primitive, "wait", "woken")
                    lines = state.lines
                    if lines is not None:
                        lines.line(entry.primitive, "wait", "set", waited=0)
                    return True
                tally = entry.tally
                if tally is None or tally.owner is not lean:
                    tally = adopt_watch(entry, lean)
                return signal_wait(entry.primitive, tally, "wait", wait, (self, timeout), timeout)
            records = state.records
            if records is not None and self._flag:
                counted = countable(self)  # set: it returns at once, counted in place
                if counted is not None and (records.counting or records.spent()):
                    still = flag_now(self)  # the original's own steps, where they can
                    if still is None:
                        still = (
                            hidden(wait, self, 0)
                            if state.options.include_library
                            else wait(self, 0)
                        )
                    if still:
                        count_op(counted, "wait", records)
                        return True
                # Cleared meanwhile: the event path below waits as asked.
            primitive = watched(self)
            if primitive is None:
                return wait(self, timeout)
            site = call_site()
            if self._flag:  # as the original reads it: a subclass's is_set() is not called
                result = silent(wait, self, timeout)
                said_wait(primitive, "wait", "set" if result else "timeout", site, 0)
                return result
            said_wait(primitive, "wait", "waiting", site, timeout=wait_limit(True, timeout))
            result, waited = blocking_call(primitive, "wait", site, partial(wait, self, timeout))
            said_wait(primitive, "wait", "woken" if result else "timeout", site, waited)
            return result
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise

    set_wrapper.__name__ = set_wrapper.__qualname__ = "set"
    clear_wrapper.__name__ = clear_wrapper.__qualname__ = "clear"
    wait_wrapper.__name__ = wait_wrapper.__qualname__ = "wait"
    return [
        (cls, "__init__", __init__),
        (cls, "set", set_wrapper),
        (cls, "clear", clear_wrapper),
        (cls, "wait", wait_wrapper),
    ]
