"""
The event record and the dispatcher.

An intercepted operation becomes one :class:`SyncEvent` and is handed to every sink. When no
sink listens the interception code never gets here: it checks ``state.active`` first.
"""

from __future__ import annotations

import _thread
import contextlib
import itertools
import sys
import threading
import time
from typing import Protocol

from ._config import counters, state


_active_threads = threading._active  # type: ignore[attr-defined]
get_ident = threading.get_ident
time_ns = time.time_ns
perf_counter_ns = time.perf_counter_ns

_ids = itertools.count(1)


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

    __slots__ = ("column", "file", "function", "id", "kind", "line", "lock", "name", "type_name")

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

    @property
    def label(self) -> str:
        return label(self.kind, self.name)

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


class SyncEvent:
    """
    One observed operation.

    ``op`` is what was called (``acquire``, ``release``, ``wait``, ``wait_for``, ``notify``,
    ``notify_all``, ``set``, ``clear``, ``abort``, ``reset``, ``put``, ``get``,
    ``task_done``, ``join``, ``shutdown``) and ``outcome`` how it went. A blocking operation
    that has to wait is reported twice: once with outcome ``waiting`` when it starts to
    block, and once at its end with ``waited_ns`` set.
    """

    __slots__ = (
        "count",
        "error",
        "file",
        "function",
        "item",
        "item_id",
        "line",
        "op",
        "outcome",
        "primitive",
        "qsize",
        "span_id",
        "thread_id",
        "thread_name",
        "time_ns",
        "trace_id",
        "waited_ns",
    )

    def __init__(
        self,
        primitive: Primitive,
        op: str,
        outcome: str,
        site: tuple[str, int, str],
        waited_ns: int | None = None,
        *,
        count: int | None = None,
        item: str | None = None,
        item_id: int | None = None,
        qsize: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.primitive = primitive
        self.op = op
        self.outcome = outcome
        self.file, self.line, self.function = site
        self.waited_ns = waited_ns
        self.count = count
        self.item = item
        self.item_id = item_id
        self.qsize = qsize
        self.error = error
        self.thread_id = ident = get_ident()
        thread = _active_threads.get(ident)  # thread_name(), written out
        self.thread_name = thread._name if thread is not None else f"Thread-{ident}"
        self.time_ns = time_ns()
        # Set by the span sink, which runs before the others, so log lines can name their span.
        self.trace_id: int | None = None
        self.span_id: int | None = None

    @property
    def blocking_begin(self) -> bool:
        return self.outcome == "waiting"

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


class _Guard(threading.local):
    """Per-thread re-entrancy flag: set while an instrumented operation or a sink runs."""

    busy = False
    #: A Queue.put in progress, for the hook in ``_put`` to report (see _queues).
    pending_put: object = None
    #: An exception to raise once the operation in progress is complete (see _queues).
    deferred: BaseException | None = None


# A raw ``_thread._local`` subclass would do too; ``threading.local`` is the same C type.
guard = _Guard()


def emit(event: SyncEvent) -> None:
    """Hand ``event`` to every sink. Nothing a sink does is recorded, and no sink error escapes."""
    was_busy = guard.busy
    guard.busy = True
    try:
        for sink in state.sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # a sink must never break the program it watches
                sink_failed(sink, exc)
    except KeyboardInterrupt:
        # Ctrl-C landed in our code, most often between the real operation and the program
        # getting its result. Raised here, it would leave a lock held or an item lost. Deliver
        # it again instead, as a fresh SIGINT: it is raised as soon as the operation returns.
        if get_ident() != threading.main_thread().ident:
            raise
        _thread.interrupt_main()
    finally:
        guard.busy = was_busy


def sink_failed(sink: object, exc: Exception) -> None:
    counters.sink_errors += 1
    if counters.first_sink_error is None:
        counters.first_sink_error = f"{type(sink).__name__}: {exc!r}"
        with contextlib.suppress(Exception):  # stderr may be closed: nothing left to tell
            sys.__stderr__.write(  # type: ignore[union-attr]
                f"syncscope: an output failed and its events are lost: {exc!r}\n"
            )
