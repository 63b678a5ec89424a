"""
OpenTelemetry spans: the sink, and the model of the spans it makes.

The package: ``options`` (what to export where), ``pairing`` (events into span records,
over the one hold model), ``build`` (records into spans), ``send`` (export and its
accounting), ``context`` (the program's current span, carried into threads and tasks),
``otlp`` (OTLP's wire format by hand), ``exporters`` (Jaeger file, console).

Split in two halves so that the traced program never waits for OpenTelemetry:

* On the program's thread, :meth:`SpanSink.handle` reads the program's current span and
  appends the event to a bounded queue; the worker pairs the events up (a wait with its end,
  an acquire with its release), draws random span and trace ids and makes one small record
  per span. When log lines are written too, they carry the span ids, so the pairing happens
  at once on the program's thread instead, under a raw lock. Nothing of OpenTelemetry is
  imported or called on the program's threads, except reading the current span once
  OpenTelemetry is loaded.
* A worker started with ``_thread.start_new_thread`` (invisible to ``threading.enumerate()``)
  imports OpenTelemetry and turns records into spans: written straight to OTLP's wire format
  when syncscope's OTLP exporter is all that takes them (see ``otlp``: a tenth of the SDK's
  cost), else ``ReadableSpan`` objects for the program's TracerProvider, the Jaeger file and
  the console. Remote exports run on a second such thread, so a slow or dead collector only
  ever fills (and overflows) the bounded buffers.

The span model, as it reads in Jaeger:

* ``run lock.py`` is the root of each trace; under it one ``thread <name>`` span per thread;
  under each thread span the spans of the operations that thread did.
* A blocking operation (``Lock.acquire``, ``Condition.wait``, ``Event.wait``, ``Barrier.wait``,
  ``Queue.get``/``put``/``join``...) is a span whose duration is the time it blocked (start =
  end - blocked time; an operation that did not block lasts 1 ns).
* A successful acquire of a lock, rlock, semaphore or condition also opens a *hold* span
  (``Lock.hold lock``) that ends at the matching release: one per thread from the first
  acquire to the last release of an RLock; a Condition's hold is cut while it waits (the
  lock is given up then). Releases are not spans of their own: they end the hold.
* Point operations (``notify``, ``set``, ``clear``, non-blocking ``put``/``get``,
  ``task_done``...) are spans of 1 ns, so that waits can link to them.
* Links: a wait for a lock or semaphore links to the hold spans of the threads that held it
  when the wait began; a ``Condition.wait``/``Event.wait`` links to the last notify/set before
  it woke; a ``Queue.get`` to the put of the same item; a ``Queue.join`` to the last
  ``task_done``.
* When the program has a current OpenTelemetry span (also one carried into a thread it
  started, or into a thread-pool task it submitted), ours are children of that span instead.
* Large runs are cut: after ``max_trace_spans`` spans (10,000 by default) a new trace begins,
  with a new run span and new thread spans, each linked to its counterpart in the previous
  trace.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import random
import sys
import time
from collections import deque
from typing import Any

from ..._core import context as program_context
from ..._core.dispatch import guard
from ..._core.event import SyncEvent
from ..._core.fork import reset_after_fork
from ..._core.registry import allocate_lock
from . import context
from .build import SLICE, Builder
from .options import SpanOptions
from .pairing import SpanPairing
from .send import BATCH_SIZE, Sender, SpanCounts
from .workers import INTERVAL, forget_dummy_thread, give_way, one_line, our_threads


_monotonic = time.monotonic
_time_ns = time.time_ns
#: Events waiting for the worker to pair them, at most.
MAX_UNPAIRED = 4096


class SpanSink:
    """
    Turns events into spans. See the module docstring for the model.

    ``handle`` runs on the program's threads (with the re-entrancy guard set) and must be
    cheap: it pairs events, allocates ids and appends a record. Everything else happens on
    the worker.
    """

    def __init__(self, options: SpanOptions, ids_now: bool = True) -> None:
        self.options = options
        #: Pair events up on the program's threads, as they happen: only needed when log
        #: lines carry the ids. Otherwise events wait in ``_events`` and the worker pairs
        #: them, so the program's threads only append.
        self._ids_now = ids_now
        self._events: deque[tuple[SyncEvent, tuple[int, int] | None]] = deque()
        self._rng = random.Random()
        self._rand = self._rng.getrandbits
        self._lock = allocate_lock()
        self._records: list[tuple[Any, ...]] = []
        self._capacity = max(int(options.buffer_size), 1)
        self._ring_at = min(BATCH_SIZE, self._capacity)
        # Unpaired events are many times a span's size: past this many the program's thread
        # pairs them itself (see handle).
        self._events_capacity = min(MAX_UNPAIRED, self._capacity)
        self._stopped = False
        self._closed = False
        self.stats = SpanCounts()
        # Only touched under self._lock.
        self._pairing = SpanPairing(self._rand, options.max_trace_spans, self._append)
        # Worker hand-over.
        self._doorbell = allocate_lock()
        self._doorbell.acquire()
        self._builder_done = allocate_lock()
        self._builder_done.acquire()
        self._closing = False
        #: Set when the flush timed out: the workers stop.
        self.abandoned = False
        #: When the run ended (time_ns), once it has.
        self.close_ns = 0
        self.remote: Sender | None = None
        self.setup_error: str | None = None
        _preload(options)
        # Read on every event: the program's current span.
        self._current_span_of = context.make_current_span_reader()
        # The builder (and the exporting thread it starts) is made here, not on the worker:
        # a short program can end before the worker gets to it, and from 3.12 on no thread
        # can be started once the interpreter is shutting down.
        self._builder: Builder | None = None
        try:
            self._builder = Builder(self)
            self.remote = self._builder.remote
        except Exception as exc:
            self.setup_error = one_line(exc)
            self._stopped = True
        reset_after_fork(self)
        _thread.start_new_thread(self._worker_main, ())
        program_context.follow(self._current_span_of)
        self._unhook_provider = context.flush_before_provider_shutdown(self.close)

    # -- program side ------------------------------------------------------------------------

    def handle(self, event: SyncEvent) -> None:
        if self._stopped:
            return
        parent = self._current_span_of()
        if parent is None and program_context.following.propagated:
            parent = program_context.inherited_parent(event.thread_id)
        if self._ids_now:
            with self._lock:
                if not self._stopped:
                    self._pairing.pair(event, parent)
            return
        events = self._events
        if len(events) >= self._events_capacity:
            # The worker is behind: pair here, in order, rather than lose an event (the span
            # buffer drops and counts whole spans) or let the queue grow.
            with self._lock:
                if not self._stopped:
                    self._pair_waiting()
                    self._pairing.pair(event, parent)
            return
        events.append((event, parent))  # atomic: no lock needed against the worker's popleft
        if len(events) == self._ring_at:
            with contextlib.suppress(RuntimeError):  # already rung
                self._doorbell.release()

    def _pair_waiting(self, limit: int | None = None) -> None:
        """Pair the events the program's threads left (the worker's part, under the lock)."""
        events = self._events
        pop = events.popleft
        pair = self._pairing.pair
        count = len(events) if limit is None else min(limit, len(events))
        for _ in range(count):
            event, parent = pop()
            pair(event, parent)

    def _append(self, record: tuple[Any, ...]) -> None:
        records = self._records
        if len(records) >= self._capacity:
            self.stats.buffer_dropped += 1
            return
        records.append(record)
        if len(records) == self._ring_at:
            with contextlib.suppress(RuntimeError):  # already rung
                self._doorbell.release()

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop recording, flush within ``flush_timeout`` seconds, and say what was lost."""
        if self._closed:
            return
        self._closed = True
        program_context.unfollow(self._current_span_of)
        self._unhook_provider()
        deadline = _monotonic() + max(self.options.flush_timeout, 0.0)
        with self._lock:
            self._pair_waiting()
            self._stopped = True
            self.close_ns = _time_ns()
            self._capacity = sys.maxsize  # what is still open at exit is never dropped
            self._pairing.finish()
            self._closing = True
        with contextlib.suppress(RuntimeError):
            self._doorbell.release()
        done = self._builder_done.acquire(timeout=max(deadline - _monotonic(), 0.0))
        remote = self.remote
        if remote is not None and done:
            done = remote.wait_done(deadline)
        if not done:
            self.abandoned = True
            self.stats.unsent += len(self._records)
            if remote is not None:
                remote.abandon()
        self._report()

    def _report(self) -> None:
        stats = self.stats
        parts = []
        lost = stats.buffer_dropped + stats.queue_dropped + stats.failed_spans + stats.unsent
        if self.setup_error is not None:
            parts.append(f"spans are off: {self.setup_error}")
        elif lost:
            total = stats.shipped + stats.buffer_dropped
            why = []
            if stats.buffer_dropped or stats.queue_dropped:
                why.append(f"{stats.buffer_dropped + stats.queue_dropped} dropped (buffer full)")
            if stats.failed_exports:
                exports = "export" if stats.failed_exports == 1 else "exports"
                why.append(f"{stats.failed_spans} in {stats.failed_exports} failed {exports}")
            if stats.unsent:
                why.append(
                    f"{stats.unsent} unsent after the {self.options.flush_timeout:g} s "
                    "flush timeout"
                )
            where = f" to {self.remote.target}" if self.remote is not None else ""
            parts.append(f"{lost} of {total} spans not exported{where}: {', '.join(why)}")
        if stats.file_dropped:
            parts.append(
                f"{stats.file_dropped} spans left out of {self.options.jaeger_file} (size limit)"
            )
        if parts:
            with contextlib.suppress(Exception):  # stderr may be closed: nothing left to tell
                stream = sys.stderr if sys.stderr is not None else sys.__stderr__
                assert stream is not None
                stream.write("syncscope: " + "; ".join(parts) + "\n")
                stream.flush()

    # -- worker ------------------------------------------------------------------------------

    def _worker_main(self) -> None:
        guard.busy = True  # nothing this thread does is recorded
        our_threads.add(_thread.get_ident())
        builder = self._builder
        try:
            if builder is None:  # setting up failed: nothing to build, say so at exit
                return
            while not self.abandoned:
                self._doorbell.acquire(timeout=INTERVAL)
                closing = self._closing
                # In slices, giving the GIL back in between (see give_way).
                for _ in range(len(self._events) // SLICE + 1):
                    with self._lock:
                        if self._stopped:
                            break
                        self._pair_waiting(SLICE)
                    give_way()
                with self._lock:
                    records, self._records = self._records, []
                if records:
                    builder.build(records)
                if closing:
                    builder.finish()
                    break
                builder.tick()
        except BaseException as exc:  # the worker must never die silently
            self.setup_error = self.setup_error or f"span worker failed: {one_line(exc)}"
        finally:
            forget_dummy_thread()
            our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            self._builder_done.release()

    def _after_fork_in_child(self) -> None:
        # The worker did not survive the fork: the child records nothing.
        self._lock = allocate_lock()
        self._stopped = True
        self._closed = True
        self._records = []
        self._events = deque()


def _preload(options: SpanOptions) -> None:
    """
    Import what the worker needs, here on the installing thread, before the program runs.

    Importing the SDK and exporters runs ``Resource.create()``, which starts (and joins) a
    thread pool: done during the run, the program could see those threads, and done after
    the program ended (a short program, the worker still importing) it fails, because
    thread pools refuse work once the interpreter shuts down.
    """
    import opentelemetry.sdk.resources
    import opentelemetry.sdk.trace
    import opentelemetry.sdk.trace.export
    import opentelemetry.trace

    if "otlp" in options.exporters:
        if options.protocol == "grpc":
            _import_grpc_exporter()
        else:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    if options.jaeger_file is not None or "console" in options.exporters:
        from . import exporters  # noqa: F401


def _import_grpc_exporter() -> None:
    """
    Import the gRPC exporter with gRPC's C core logging only errors.

    Otherwise it writes an INFO line to standard error whenever a collector goes away. The
    variable is read once, when gRPC starts: it is set only for that moment, only when the
    program has not imported gRPC itself, and only when the user did not set it.
    """
    if "grpc" in sys.modules or "GRPC_VERBOSITY" in os.environ:
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter

        return
    os.environ["GRPC_VERBOSITY"] = "ERROR"
    try:
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401
    finally:
        os.environ.pop("GRPC_VERBOSITY", None)
