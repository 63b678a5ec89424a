"""
The event record and the dispatcher.

An intercepted operation becomes one :class:`SyncEvent` and is handed to every sink. When no
sink listens the interception code never gets here: it checks ``state.active`` first.
"""

from __future__ import annotations

import _thread
import itertools
import threading
import time
import weakref

from .signals import raise_if_a_handlers
from .timeouts import timeout_number


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, Protocol
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


_active_threads = threading._active  # type: ignore[attr-defined]
get_ident = threading.get_ident
time_ns = time.time_ns
perf_counter_ns = time.perf_counter_ns

_ids = itertools.count(1)


class ThreadLife:
    """
    One thread's life, as its events and records name it (``SyncEvent.life``): made at the
    first event of a thread ``threading`` knows, one per thread (a new thread on an ident
    gets a new one). It refers to the ``threading.Thread`` weakly: events a sink keeps for a
    while (the spans' worker pairs them later) do not keep a thread that has ended alive,
    nor whatever it refers to (an event loop, its tasks).
    """

    __slots__ = ("__weakref__", "ident", "name", "thread")

    def __init__(self, ident: int, thread: threading.Thread) -> None:
        self.ident = ident
        #: Its name at its first event, for when its Thread is gone.
        self.name: str = thread._name  # type: ignore[attr-defined]
        self.thread = weakref.ref(thread)

    def thread_name(self) -> str:
        """Its name now, or as it was last seen."""
        thread = self.thread()
        return thread._name if thread is not None else self.name  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<ThreadLife {self.thread_name()} {self.ident}>"


# The raw C type: threading.local's stand-in, if any, is not syncscope's to use.
_lives = _thread._local()


def thread_life(ident: int, thread: threading.Thread | None) -> ThreadLife | None:
    """The calling thread's life (``ident`` and ``thread`` are its own); None: not known."""
    if thread is None:
        return None
    try:
        return _lives.life  # type: ignore[no-any-return]
    except AttributeError:
        life = _lives.life = ThreadLife(ident, thread)
        return life


class Primitive:
    """
    What syncscope knows of one watched primitive, fixed at its creation.

    Attributes:
        kind: the word printed for it: ``lock``, ``rlock``, ``condition``, ``semaphore``,
            ``event``, ``barrier`` or ``queue``.
        type_name: its class name (``BoundedSemaphore``, ``LifoQueue``, a user subclass...).
        name: a readable name, from the variable it was assigned to where that can be read.
        id: a number unique in this process (not ``id()``, which is reused).
        file, line, function: where it was created.
        column: the column of the call that created it, so that two primitives created on
            one line are two creation sites (0 when unknown).
        lock: for a Condition, the Primitive its acquire/release report under (its own when it
            made its lock, the user lock's when given one); None otherwise.
    """

    __slots__ = (
        "_label",
        "_label_of",
        "column",
        "file",
        "function",
        "id",
        "kind",
        "line",
        "lock",
        "name",
        "type_name",
    )

    def __init__(
        self,
        kind: str,
        type_name: str,
        name: str,
        file: str,
        line: int,
        function: str,
        column: int = 0,
    ) -> None:
        self.kind = kind
        self.type_name = type_name
        self.name = name
        self.id = next(_ids)
        self.file = file
        self.line = line
        self.function = function
        self.column = column
        self.lock: Primitive | None = None
        # Made when first asked for: most primitives a program makes are never reported.
        self._label = ""
        self._label_of: str | None = None  # the name the label was made from: it may be renamed

    @property
    def label(self) -> str:
        if self._label_of is not self.name:
            self._label = label(self.kind, self.name)
            self._label_of = self.name
        return self._label

    @property
    def created_at(self) -> str:
        return f"{self.file}:{self.line}"

    def __repr__(self) -> str:
        return f"<Primitive {self.kind} {self.name!r} #{self.id} at {self.created_at}>"


def label(kind: str, name: str) -> str:
    """``lock`` when the name says nothing more than the kind, else ``lock file_lock``."""
    if name == kind or name.startswith(kind + "#"):
        return name
    return f"{kind} {name}"


if TYPE_CHECKING:
    #: What was called.
    Op = Literal[
        "acquire",
        "release",
        "wait",
        "wait_for",
        "notify",
        "notify_all",
        "set",
        "clear",
        "abort",
        "reset",
        "put",
        "get",
        "task_done",
        "join",
        "shutdown",
    ]
    #: How it went. ``waiting`` is the start of an operation that has to block.
    Outcome = Literal[
        "waiting",
        "acquired",
        "released",
        "busy",
        "timeout",
        "error",
        "notified",
        "woken",
        "passed",
        "broken",
        "set",
        "cleared",
        "aborted",
        "reset",
        "put",
        "got",
        "full",
        "empty",
        "done",
        "joined",
        "shutdown",
    ]
else:
    Op = Outcome = str
#: Operations that may block, and so may begin with a ``waiting`` event.
BLOCKING_OPS: frozenset[str] = frozenset({"acquire", "wait", "wait_for", "get", "put", "join"})
#: Of those, the waits for a signal (Condition, Event, Barrier, ``Queue.join``), as against
#: a wait to acquire, put or get.
SIGNAL_WAITS: frozenset[str] = frozenset({"wait", "wait_for", "join"})


def tries_only(blocking: object, timeout: object) -> bool:
    """
    Whether an acquire with these arguments is a mere attempt: non-blocking, or blocking with
    a timeout of 0, which CPython's Lock, RLock and Semaphore treat as a trylock (it never
    waits). Such an attempt that fails is "busy", not a wait that timed out: it is no
    contention, and no wait begins.
    """
    return not blocking or (type(timeout) in (int, float) and timeout == 0)


def wait_limit(blocking: object, timeout: object) -> float | None:
    """
    How long a call with these arguments may block, in seconds: None for as long as it takes,
    0 for not at all. Arguments the real call rejects count as "for ever": it raises anyway.
    """
    if not blocking:
        return 0.0
    if type(timeout) is bool:
        return None
    number = timeout_number(timeout)  # the program's own number types: none of their methods
    if number is None:
        return None
    return None if number < 0 else float(number)


class SyncEvent:
    """
    One observed operation.

    ``op`` is what was called and ``outcome`` how it went (both checked by mypy against
    :data:`Op` and :data:`Outcome`). A blocking operation that has to wait is reported twice:
    once with outcome ``waiting`` when it starts to block, and once at its end with
    ``waited_ns`` set.

    Attributes:
        timeout: for an operation that may block, how long it may (:func:`wait_limit`):
            None for ever, 0 for a non-blocking attempt.
        depth: an RLock's (or a Condition's RLock's) depth after the acquire or release.
        permits: the permits a semaphore's ``release(n)`` gives back.
        waiters: the waiters a ``notify`` woke, or a ``notify_all`` found.
        arrivals: a Barrier's threads arrived with this one (``waiting``), or the index it
            got (``passed``).
        unfinished: a queue's unfinished tasks after ``task_done``, or when ``join`` began.
        immediate: a queue's ``shutdown(immediate=True)``.
        trace_id, span_id: the span the operation belongs to, when spans are made with ids
            that log lines must carry: set by the span pairing, which sees the event first.
        life: the thread's :class:`ThreadLife` when ``threading`` knows it, else None: a
            thread ident is reused once its thread has ended, and this tells the two apart.
    """

    __slots__ = (
        "arrivals",
        "depth",
        "error",
        "file",
        "function",
        "immediate",
        "item",
        "item_id",
        "life",
        "line",
        "op",
        "outcome",
        "permits",
        "primitive",
        "qsize",
        "span_id",
        "thread_id",
        "thread_name",
        "time_ns",
        "timeout",
        "trace_id",
        "unfinished",
        "waited_ns",
        "waiters",
    )

    def __init__(
        self,
        primitive: Primitive,
        op: Op,
        outcome: Outcome,
        site: tuple[str, int, str],
        waited_ns: int | None = None,
        # Not keyword-only: a keyword-only parameter's default is looked up in a dict on every
        # call, a positional one's is not (and the lock paths pass these three positionally).
        timeout: float | None = None,
        depth: int | None = None,
        permits: int | None = None,
        waiters: int | None = None,
        arrivals: int | None = None,
        unfinished: int | None = None,
        immediate: bool = False,
        item: str | None = None,
        item_id: int | None = None,
        qsize: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.primitive = primitive
        self.op: Op = op
        self.outcome: Outcome = outcome
        self.file, self.line, self.function = site
        self.waited_ns = waited_ns
        self.timeout = timeout
        self.depth = depth
        self.permits = permits
        self.waiters = waiters
        self.arrivals = arrivals
        self.unfinished = unfinished
        self.immediate = immediate
        self.item = item
        self.item_id = item_id
        self.qsize = qsize
        self.error = error
        self.thread_id = ident = get_ident()
        thread = _active_threads.get(ident)  # thread_name(), written out
        self.thread_name = thread._name if thread is not None else f"Thread-{ident}"
        self.life = thread_life(ident, thread)
        self.time_ns = time_ns()
        self.trace_id: int | None = None
        self.span_id: int | None = None

    @property
    def count(self) -> int | None:
        """The one number the json and logfmt lines show as ``count`` (whichever applies)."""
        for value in (self.depth, self.permits, self.waiters, self.arrivals, self.unfinished):
            if value is not None:
                return value
        return int(self.immediate) if self.op == "shutdown" else None

    @property
    def error_text(self) -> str:
        """The error an operation raised, as a line shows it (its outcome if none)."""
        error = self.error
        if error is None:
            return self.outcome
        if isinstance(error, ErrorText):  # kept by a sink (see without_error)
            return error.line
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__

    def __repr__(self) -> str:
        return (
            f"<SyncEvent {self.primitive.kind} {self.primitive.name!r} {self.op} "
            f"{self.outcome} by {self.thread_name}>"
        )


class Sink(Protocol):
    """Anything that consumes events. It must not raise and must not block for long."""

    def handle(self, event: SyncEvent) -> None: ...

    def close(self) -> None: ...


def thread_name(ident: int) -> str:
    """
    The name of thread ``ident``, without ``threading.current_thread()``.

    ``current_thread()`` inside an instrumented operation can create a ``_DummyThread`` whose
    creation sets an Event, which recurses. Threads started with ``_thread.start_new_thread``
    and threads still starting up are not in ``threading._active``.
    """
    thread = _active_threads.get(ident)
    if thread is not None:
        return thread._name  # type: ignore[no-any-return]
    return f"Thread-{ident}"


class ErrorText:
    """
    An operation's error as a sink that keeps the event shows it (see :func:`without_error`):
    its ``repr`` and its line (``SyncEvent.error_text``).
    """

    __slots__ = ("line", "text")

    def __init__(self, text: str, line: str) -> None:
        self.text = text
        self.line = line

    def __repr__(self) -> str:
        return self.text


def without_error(event: SyncEvent) -> SyncEvent:
    """
    A copy of ``event`` that keeps its error's text, not the error, for a sink that keeps it
    past the operation (the timeline until the end, the spans until paired): the exception's
    traceback would keep the frames it went through alive, and their locals (a poll's
    ``Empty``), and free them later, on another thread, as the program would not.
    """
    import copy

    error = event.error
    try:
        text, line = repr(error)[:200], event.error_text
    except Exception as exc:  # the program's __repr__ or __str__ raised: its type, then
        raise_if_a_handlers(exc)
        text = line = type(error).__name__
    kept = copy.copy(event)
    kept.error = ErrorText(text, line)  # type: ignore[assignment]
    return kept
