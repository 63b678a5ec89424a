"""
What happened last to each Event, Condition, queue and Barrier: the evidence a hang report
gives for its cause, and what tells a stuck group of threads from one that is still fed.

Locks are not traced here (their hot path stays as it is): their story is the hold model's.
For the others the diagnosis sink calls :meth:`Traces.touch` with every event, on the
program's thread. Each trace keeps the time of the last operation (a waiter's "waiting" event
included), who did anything to it but wait (the threads that could feed its waiters), the last
``set``, ``clear`` and ``notify``, and the threads that took items out of a queue and put
items in (as :class:`~syncscope._core.holds.Life`, so that "they have all exited" can be told
on Linux, where idents are reused).

Bounded: past :data:`MAX_TRACES` primitives the oldest trace is forgotten (its primitive then
counts as never touched), past :data:`MAX_THREADS` a trace's oldest thread is.
"""

from __future__ import annotations

import contextlib
import sys
from _thread import get_ident
from time import time_ns
from types import CodeType, FrameType

from .._core.event import SIGNAL_WAITS, Primitive, SyncEvent, _active_threads
from .._core.holds import Holds, Life
from .._core.leanholds import where
from .._core.sites import _machinery_files, past_machinery


#: A lean mark, as the lean path keeps it: op, code, instruction, thread name, time, waiters.
MarkFacts = tuple[str, CodeType | None, int, str, int, int | None]

_getframe = sys._getframe

#: Primitives traced at once.
MAX_TRACES = 10_000
#: Threads remembered per trace and per role.
MAX_THREADS = 64
#: Kinds a thread waits on for a signal, not for a holder. Not Futures: the thread that will
#: complete one (a pool's worker running its task) does nothing to it a trace would see; a
#: Future is a question for the pool-starvation check.
TRACED_KINDS = frozenset({"event", "condition", "queue", "barrier"})


class Mark:
    """
    A set, clear or notify counted on the lean path: who made it, when, and where, kept as
    the caller's code and instruction (turned into a line only when a report asks). The lean
    path stores it as a plain tuple (:data:`MarkFacts`: building an object there cost three
    times the rest of the operation); :class:`Trace` hands it out as a Mark.
    """

    __slots__ = ("_code", "_lasti", "op", "thread_name", "time_ns", "waiters")

    def __init__(
        self,
        op: str,
        code: CodeType | None,
        lasti: int,
        thread_name: str,
        time_ns: int,
        waiters: int | None,
    ) -> None:
        self.op = op
        self._code = code
        self._lasti = lasti
        self.thread_name = thread_name
        self.time_ns = time_ns
        self.waiters = waiters

    @property
    def file(self) -> str:
        return where(self._code, self._lasti)[0]

    @property
    def line(self) -> int:
        return where(self._code, self._lasti)[1]

    @property
    def function(self) -> str:
        return where(self._code, self._lasti)[2]


def _evidence(kept: SyncEvent | MarkFacts | None) -> SyncEvent | Mark | None:
    return Mark(*kept) if isinstance(kept, tuple) else kept


class Trace:
    """The recent history of one primitive."""

    __slots__ = (
        "_cleared",
        "_notified",
        "_set",
        "getter",
        "getters",
        "last_ns",
        "operators",
        "putter",
        "putters",
    )

    def __init__(self) -> None:
        self.last_ns = 0
        #: Idents of the threads that did anything to it but wait.
        self.operators: dict[int, None] = {}
        # The last set, clear and notify: an event, or a lean mark's facts.
        self._set: SyncEvent | MarkFacts | None = None
        self._cleared: SyncEvent | MarkFacts | None = None
        self._notified: SyncEvent | MarkFacts | None = None
        #: Queues: life serial -> the life, for the threads that got and put items.
        self.getters: dict[int, Life] = {}
        self.putters: dict[int, Life] = {}
        #: The last thread to get and to put: known already when it does so again.
        self.getter: Life | None = None
        self.putter: Life | None = None

    @property
    def was_set(self) -> SyncEvent | Mark | None:
        return _evidence(self._set)

    @property
    def cleared(self) -> SyncEvent | Mark | None:
        return _evidence(self._cleared)

    @property
    def notified(self) -> SyncEvent | Mark | None:
        return _evidence(self._notified)


def _remember(into: dict[int, object], key: int, value: object) -> None:
    if key in into:
        return
    into[key] = value
    if len(into) > MAX_THREADS:
        with contextlib.suppress(Exception):  # another thread evicted it first
            del into[next(iter(into))]


class Traces:
    """Every traced primitive's :class:`Trace`."""

    def __init__(self, holds: Holds) -> None:
        self._holds = holds
        #: Each traced primitive's trace; read by the lean checks without a call (a wait's
        #: beginning and end only set its time there: see ``LeanChecks.wait_begins``).
        self.by_primitive: dict[Primitive, Trace] = {}
        #: The code of the last mark made from the program's own code (see lean_marked).
        self._user_code: CodeType | None = None

    def get(self, primitive: Primitive) -> Trace | None:
        return self.by_primitive.get(primitive)

    def last_ns(self, primitive: Primitive) -> int | None:
        """When it was last operated on (the events' clock); None when not known."""
        trace = self.by_primitive.get(primitive)
        return None if trace is None else trace.last_ns

    def operated(self, ident: int, primitive: Primitive) -> bool:
        """Whether thread ``ident`` did anything to ``primitive`` but wait on it."""
        trace = self.by_primitive.get(primitive)
        return trace is not None and ident in trace.operators

    def touch(self, event: SyncEvent) -> None:
        """Record ``event`` (of a traced kind), on the thread that made it."""
        self.touched(
            event.primitive,
            event.op,
            event.outcome,
            event.thread_id,
            event.thread_name,
            event.time_ns,
            event,
        )

    def touched(
        self,
        primitive: Primitive,
        op: str,
        outcome: str,
        ident: int,
        thread_name: str | None,
        time_ns: int,
        event: SyncEvent | Mark | None = None,
    ) -> None:
        """
        Record an operation on the thread that made it: ``event`` is kept for a set, clear or
        notify (where it was made is a hang report's evidence). The lean path's waits for a
        signal come here too, with no event and no thread name (looked up only for a thread
        new to a queue); its operations counted in place go to :meth:`lean_touched`, or to
        :meth:`lean_put` and :meth:`lean_got` for a queue's.
        """
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        trace.last_ns = time_ns
        if outcome == "waiting":
            return
        if ident not in trace.operators and (op not in SIGNAL_WAITS or primitive.kind == "barrier"):
            _remember(trace.operators, ident, None)  # type: ignore[arg-type]
        if op == "set":
            trace._set = event  # type: ignore[assignment]
        elif op == "clear":
            trace._cleared = event  # type: ignore[assignment]
        elif op in ("notify", "notify_all"):
            trace._notified = event  # type: ignore[assignment]
        elif op == "get" and outcome == "got":
            life = trace.getter
            if life is None or life.ident != ident or life.exited:  # else: known already
                trace.getter = self._role(trace.getters, ident, thread_name)
        elif op == "put" and outcome == "put":
            life = trace.putter
            if life is None or life.ident != ident or life.exited:
                trace.putter = self._role(trace.putters, ident, thread_name)

    def waited(self, primitive: Primitive, now: int) -> None:
        """
        :meth:`touched` for a wait for a signal that begins or ends, where the waiter is no
        operator (not a Barrier's): its time is all there is to keep. Two arguments and no
        words to compare: about 1,000 instructions fewer on each end of every such wait.
        """
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        trace.last_ns = now

    def lean_touched(self, primitive: Primitive, op: str, outcome: str) -> None:
        """
        :meth:`touched` for an operation the lean path counted in place, made by the calling
        thread, in one call (this is on most lean operations of ``-q``). Not a set, clear or
        notify: those are :meth:`lean_marked`; nor a queue's put or a get that got an item:
        :meth:`lean_put` and :meth:`lean_got`.
        """
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        trace.last_ns = time_ns()
        if op in SIGNAL_WAITS and primitive.kind != "barrier":
            return  # a waiter is no operator (see touched): its time is all there is to keep
        ident = get_ident()
        if ident not in trace.operators:
            _remember(trace.operators, ident, None)  # type: ignore[arg-type]
        if op == "get":
            life = trace.getter
            if outcome == "got" and (life is None or life.ident != ident or life.exited):
                trace.getter = self._role(trace.getters, ident, None)
        elif op == "put":
            life = trace.putter
            if outcome == "put" and (life is None or life.ident != ident or life.exited):
                trace.putter = self._role(trace.putters, ident, None)

    def lean_put(self, primitive: Primitive) -> None:
        """
        :meth:`lean_touched` for a put into a queue, made by the calling thread. An entry of
        its own, with nothing to decide from the operation's words: about 520 instructions
        fewer on every lean put of ``-q`` (callgrind, 3.11).
        """
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        trace.last_ns = time_ns()
        ident = get_ident()
        if ident not in trace.operators:
            _remember(trace.operators, ident, None)  # type: ignore[arg-type]
        life = trace.putter
        if life is None or life.ident != ident or life.exited:
            trace.putter = self._role(trace.putters, ident, None)

    def lean_got(self, primitive: Primitive) -> None:
        """:meth:`lean_put` for a get that got an item."""
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        trace.last_ns = time_ns()
        ident = get_ident()
        if ident not in trace.operators:
            _remember(trace.operators, ident, None)  # type: ignore[arg-type]
        life = trace.getter
        if life is None or life.ident != ident or life.exited:
            trace.getter = self._role(trace.getters, ident, None)

    def lean_marked(self, primitive: Primitive, op: str, waiters: int | None = None) -> None:
        """
        A set, clear or notify (``op``) the lean path counted in place, made by the calling
        thread (``waiters``: how many a notify woke): kept as a :class:`Mark`'s facts, where
        it was made being a hang report's evidence. Called straight from the wrappers, it
        looks up their caller itself, and only what a mark needs: counted with callgrind on
        3.11, 1,200 instructions fewer a mark than ``touched`` given the wrapper's frame, and
        850 to 1,150 fewer again for knowing the last user code it saw (about 4,300 a mark left).
        """
        try:
            frame: FrameType | None = _getframe(2)  # this, the wrapper, its caller
        except ValueError:  # none: the wrapper was called from C (a thread's target)
            frame = None
        trace = self.by_primitive.get(primitive)
        if trace is None:
            trace = self._new(primitive)
        now = trace.last_ns = time_ns()
        ident = get_ident()
        if ident not in trace.operators:
            _remember(trace.operators, ident, None)  # type: ignore[arg-type]
        thread = _active_threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        code: CodeType | None = None
        lasti = 0
        if frame is not None:
            code = frame.f_code
            # The user's line: past the standard library's own callers (a Queue's
            # Conditions). The last code found the user's is known at once.
            if code is not self._user_code:
                if _machinery_files.get(code.co_filename) is False:
                    self._user_code = code  # written on a change only: threads share it
                else:
                    frame = past_machinery(frame)
                    code = None if frame is None else frame.f_code
            if frame is not None:
                lasti = frame.f_lasti
        facts: MarkFacts = (op, code, lasti, name, now, waiters)
        if op == "set":
            trace._set = facts
        elif op == "clear":
            trace._cleared = facts
        else:
            trace._notified = facts

    def _new(self, primitive: Primitive) -> Trace:
        traces = self.by_primitive
        trace = traces[primitive] = Trace()
        if len(traces) > MAX_TRACES:
            with contextlib.suppress(Exception):
                del traces[next(iter(traces))]
        return trace

    def _role(self, into: dict[int, Life], ident: int, thread_name: str | None) -> Life | None:
        life = self._holds.life(ident, thread_name)
        if life is not None:
            _remember(into, life.serial, life)  # type: ignore[arg-type]
        return life
