"""
OpenTelemetry spans: the sink, and the model of the spans it makes.

The package: ``options`` (what to export where), ``pairing`` (events into span records,
over the one hold model; ``light``: what it sums up under pressure), ``build`` (records into
spans), ``send`` (export and its accounting), ``context`` (the program's current span,
carried into threads and tasks), ``otlp`` (OTLP's wire format by hand), ``exporters``
(Jaeger file, console).

Split in two halves so that the traced program never waits for OpenTelemetry:

* On the program's thread, :meth:`SpanSink.handle` reads the program's current span and
  appends the event to a bounded queue; when this sink is all that listens, a Lock or RLock's
  uncontended acquire and release append a compact record to the same queue instead, with
  no event made (see ``lean_records``; the worker makes the event of it, or under pressure
  only counts it), and so do the beginning and the end of a Condition's, an Event's or a
  Barrier's wait (``_intercept/calls.said_wait``); the worker pairs the events up (a wait
  with its end, an acquire with its release), draws random span and trace ids and makes one
  small record per span. When log lines are written too, they carry the span ids, so the
  pairing happens at once on the program's thread instead, under a raw lock. Nothing of
  OpenTelemetry is imported or called on the program's threads, except reading the current
  span once OpenTelemetry is loaded.
* A worker of ours (``_core/ourthreads``: invisible to ``threading.enumerate()``, out of the
  way of a single-threaded program's fork) imports OpenTelemetry and turns records into
  spans: written straight to OTLP's wire format when syncscope's OTLP exporter is all that
  takes them (see ``otlp``: a tenth of the SDK's cost), else ``ReadableSpan`` objects for
  the program's TracerProvider, the Jaeger file and the console. Remote exports run on a
  second such thread, so a slow or dead collector only ever fills (and overflows) the
  bounded buffers.

The span model, as it reads in Jaeger:

* ``run lock.py`` is the root of each trace; under it one ``thread <name>`` span per thread;
  under each thread span the spans of the operations that thread did.
* A blocking operation (``Lock.acquire``, ``Condition.wait``, ``Event.wait``, ``Barrier.wait``,
  ``Queue.get``/``put``/``join``...) is a span whose duration is the time it blocked (start =
  end - blocked time; an operation that did not block lasts 1 ns, an acquire 1 µs, so that
  Jaeger, which keeps microseconds, lists it before its hold).
* A successful acquire of a lock, rlock, semaphore or condition also opens a *hold* span
  (``Lock.hold lock``) that ends at the matching release: one per thread from the first
  acquire to the last release of an RLock; a Condition's hold is cut while it waits (the
  lock is given up then). Releases are not spans of their own: they end the hold.
* Point operations (``notify``, ``set``, ``clear``, non-blocking ``put``/``get``,
  ``task_done``...) are spans of 1 ns, so that waits can link to them.
* Links: a wait for a lock or semaphore links to the hold spans of the threads that held it
  when the wait began; a ``Condition.wait``/``Event.wait`` links to the notify/set that woke
  it; a ``Queue.get`` to the put of the same item; a ``Queue.join`` to the last
  ``task_done``.
* When the program has a current OpenTelemetry span (also one carried into a thread it
  started, or into a thread-pool task it submitted), ours are children of that span instead.
* Large runs are cut: after ``max_trace_spans`` spans (10,000 by default) a new trace begins,
  at a moment when no thread holds anything (see ``pairing``), with a new run
  span, titled with its part number and time range, and new thread spans, each linked to its
  counterpart in the previous trace.
* Under pressure (the worker behind: events or spans piling up for it; the collector behind;
  or past 2,000 of them, more than 500 a second on average), spans that do not matter (an
  operation that neither blocked nor woke a thread, a hold nobody waited for) are folded into
  summary spans, one per thread, primitive and operation per interval (see ``summary``); the
  others are kept. With spans alone, such uses of a Lock or RLock and such Event, Condition
  and queue operations are only counted then, by the program's threads in place
  (``_intercept/lockpaths``, ``_intercept/counted``) or by the pairing (``light``). No span
  links to one that is not sent. ``min_span_ms`` filters before anything is buffered.
* Findings of the diagnosis (deadlock, hang, inversion, slow spot) become error spans under
  the run span, linked to the waits and holds involved; those waits are errors too, and so is
  every wait still blocked at exit.
* ``os._exit`` is wrapped while the sink is open, and a fatal ``SIGTERM``/``SIGHUP`` the
  program leaves alone is caught: both flush (within the flush timeout) before the end.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import random
import sys
import time
from collections import deque

from ..._core import context as program_context
from ..._core import fatal
from ..._core.dispatch import guard
from ..._core.event import SyncEvent, without_error
from ..._core.fork import reset_after_fork
from ..._core.ourthreads import BUILDS, Resumable
from ..._core.registry import allocate_lock, bounded_takes
from ..._core.state import Records, state
from . import context
from .build import SLICE, Builder
from .exitline import exit_line
from .options import SpanOptions
from .pairing import HOLD, SpanPairing, duration, finding_parts, links_of, span_id_of
from .records import drain, sum_counted
from .send import BATCH_SIZE, Sender, SpanCounts, import_before_the_program, preload
from .summary import Summaries
from .workers import (
    INTERVAL,
    SpareThread,
    forget_dummy_thread,
    give_way,
    one_line,
    our_threads,
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn


_monotonic = time.monotonic
#: False on a free-threaded build running without the GIL (3.13+).
_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
_time_ns = time.time_ns
#: Events waiting for the worker to pair them, at most.
MAX_UNPAIRED = 4096
#: Past this many events waiting for the worker, it is behind (see _pressed): well above what
#: waits for it to wake up (BATCH_SIZE), when all goes well.
BACKLOG = MAX_UNPAIRED // 2
#: Spans of operations nobody waited on made at most at once, then a second on average: past
#: that they are summed up. A short program has all of them; a busy one does not pay the GIL
#: to build hundreds of thousands nobody will read one by one.
SPANS_AT_ONCE = 2_000
SPANS_PER_SECOND = 500
#: A Condition's waits, which give its lock up (see handle).
CONDITION_WAITS = frozenset({"wait", "wait_for"})
#: Seconds the exit waits for the export before asking whether the endpoint is still there.
GRACE = 0.3
#: Spans shorter than ``min_span_ms`` kept a while (unbuilt) in case a longer one links to them.
MAX_PARKED = 4096
#: Span ids given up (see SpanSink.given_up) remembered at most.
MAX_GIVEN_UP = 65_536


#: Longest the worker waits for the program to start before it sets up anyway.
GO_TIMEOUT = 5.0


class SpanSink:
    """
    Turns events into spans. See the module docstring for the model.

    ``handle`` runs on the program's threads (with the re-entrancy guard set) and must be
    cheap: it pairs events, allocates ids and appends a record. Everything else happens on
    the worker.
    """

    def __init__(self, options: SpanOptions, ids_now: bool = True) -> None:
        started_ns = _time_ns()
        self.options = options
        #: Pair events up on the program's threads, as they happen: only needed when log
        #: lines carry the ids. Otherwise events wait in ``_events`` and the worker pairs
        #: them, so the program's threads only append.
        self._ids_now = ids_now
        #: Events, as ``(event, parent)``, and the Lock and RLock proxies' records (see
        #: ``lean_records``), in the order they happened.
        self._events: deque[tuple[Any, ...]] = deque()
        #: Where the proxies record, and count uses in place (see ``lean_records``).
        self._lean: Records | None = None
        self._rng = random.Random()
        self._rand = self._rng.getrandbits
        self._lock = allocate_lock()
        self._takes_for_a_while = bounded_takes(self._lock)
        self._records: list[tuple[Any, ...]] = []
        self._capacity = max(int(options.buffer_size), 1)
        #: Past this many records waiting, spans that do not matter become summaries; those that
        #: matter may wait up to ``_hard`` (then they are dropped, and counted).
        self._soft = max(self._capacity // 4, 1)
        #: Spans nobody waited on that may still be made now (see SPANS_PER_SECOND).
        self._allowance = SPANS_AT_ONCE
        self._allowance_at = _monotonic()
        self._hard = 4 * self._capacity
        self._summaries = Summaries()
        self._min_ns = int(options.min_span_ms * 1_000_000)
        self._parked: dict[int, tuple[Any, ...]] = {}
        #: Spans given up after the pairing linked to them (parked too long, summed up at build
        #: time): links to them are left out. Forgotten past MAX_GIVEN_UP (rarely linked to).
        self.given_up: dict[int, None] = {}
        self._ring_at = self._batch = min(BATCH_SIZE, self._capacity)
        # Unpaired events are many times a span's size: past this many the program's thread
        # pairs them itself (see handle).
        self._events_capacity = min(MAX_UNPAIRED, self._capacity)
        self._stopped = False
        self._closed = False
        self.stats = SpanCounts()
        # Only touched under self._lock.
        self._pairing = SpanPairing(
            self._rand,
            options.max_trace_spans,
            self._append,
            # Folding without the records only when nothing needs each span's ids (log lines)
            # nor its length (min_span_ms).
            *(() if ids_now or self._min_ns else (self._summaries, self._pressed, self.stats)),
        )
        # Worker hand-over.
        self._doorbell = allocate_lock()
        self._doorbell.acquire()
        #: The program's threads rang for the events waiting (the worker clears it on waking).
        self._rung = False
        self._builder_done = allocate_lock()
        self._builder_done.acquire()
        self._closing = False
        #: Set when the flush timed out: the workers stop.
        self.abandoned = False
        #: When the run ended (time_ns), once it has.
        self.close_ns = 0
        self.remote: Sender | None = None
        self.setup_error: str | None = None
        # Read on every event: the program's current span (none until OpenTelemetry is
        # loaded, by the program or by the worker: see follow_when_loaded).
        self._current_span_of: context.Reader = context.no_span
        import_before_the_program(options)
        # OpenTelemetry is imported on the worker, after the program has started (see
        # _worker_main): the program's first line does not wait for it.
        self._builder: Builder | None = None
        #: The sending thread, started now, while threads still can be (see SpareThread).
        self.spare_thread: SpareThread | None = SpareThread()
        reset_after_fork(self)
        # The worker imports OpenTelemetry: not before the program's code starts (the runner
        # says when, see program_starts), so that the import is never the program's wait.
        self._go = allocate_lock()
        self._go.acquire()
        # It steps aside for a single-threaded program's fork (see _core/ourthreads).
        self._worker = Resumable(
            self._worker_main, self._doorbell_release, lambda: self._builder is not None
        )
        self._worker.start(BUILDS)
        context.follow_when_loaded(self._follow)
        self._unhook_provider = context.flush_before_provider_shutdown(self.close)
        self._hook_exits()
        self._started_ns = started_ns
        self.startup_ns = 0
        # Until the runner says when the program's code starts (program_starts): now.
        self._pairing.segment.start_ns = _time_ns()

    def program_starts(self) -> None:
        """
        The program's code starts now (the runner calls this just before running it): the run
        span starts here, and syncscope's own start-up before it is said in its attributes.
        """
        now = _time_ns()
        with self._lock:
            self.startup_ns = now - self._started_ns
            self._pairing.segment.start_ns = now
        self._let_go()

    def _let_go(self) -> None:
        """Let the worker set up (once the program runs, or when closing before it did)."""
        with contextlib.suppress(RuntimeError):  # let go already
            self._go.release()

    def _follow(self, reader: context.Reader) -> None:
        """OpenTelemetry is loaded: read the program's current span with ``reader`` now."""
        if self._closed:
            return
        program_context.follow(reader)
        self._current_span_of = reader

    # -- program side ------------------------------------------------------------------------

    def handle(self, event: SyncEvent) -> None:
        if self._stopped:
            return
        if event.error is not None:  # kept until paired, maybe on the worker
            event = without_error(event)
        parent = self._current_span_of()
        if program_context.following.propagated:  # then carried into threads and tasks
            parent = program_context.parent_on(event.thread_id, parent)
        if self._ids_now and self._in_place(self._pairing.pair, event, parent):
            return  # else the worker pairs it, and its line goes without the ids
        events = self._events
        lean = self._lean
        if lean is not None and lean.taken:  # a hold counted in place it concerns goes first
            prim = event.primitive
            lean.claim(prim)
            if prim.lock is not None and event.op in CONDITION_WAITS:
                lean.claim(prim.lock)
        # The worker is behind: pair here, in order, rather than lose an event (the span
        # buffer drops and counts whole spans) or let the queue grow; unless the pairing is
        # busy for too long: then the queue grows.
        if len(events) >= self._events_capacity and self._in_place(
            self._pair_behind, event, parent
        ):
            return
        events.append((event, parent))  # atomic: no lock needed against the worker's popleft
        # Not ``==``: another thread may append between this append and the test, and a ring
        # missed leaves the worker asleep for INTERVAL while the program's threads end up
        # pairing thousands of events themselves, under the lock.
        if len(events) >= self._ring_at and not self._rung:
            self._rung = True
            self._ring()

    def _in_place(self, pair: Callable[..., None], *args: Any) -> bool:
        """
        ``pair(*args)`` here, under the pairing's lock, unless that is busy for too long (see
        bounded_takes; a pairing holds it for a slice of events, milliseconds at most): whether
        it was. Past that the worker pairs the event, in its place among those waiting.
        """
        for got in self._takes_for_a_while:  # see bounded_takes
            if got:
                try:
                    if not self._stopped:
                        pair(*args)
                finally:
                    self._lock.release()
            return bool(got)
        return False

    def _pair_behind(self, event: SyncEvent, parent: Any) -> None:
        # Behind, as the worker would find on waking: what can be counted in place from now
        # on is, rather than made into more events to fold.
        self._count_in_place()
        self._pair_waiting()
        self._pairing.pair(event, parent)

    @property
    def lock(self) -> Any:
        """The lock the pairing runs under (the builder takes it to change a part's count)."""
        return self._lock

    def lean_records(self) -> Records | None:
        """
        Where the Lock and RLock proxies may record what they do, when this sink is all that
        listens (see ``_core/state.set_sinks``): the buffer the worker pairs events from, so
        that records and events keep one order. Not when the pairing happens at once (log
        lines need each event's ids), nor once stopped.
        """
        if self._ids_now or self._stopped:
            return None
        if self._lean is None:
            self._lean = Records(
                self._events,
                self._events_capacity,
                self._ring_at,
                self._ring,
                # Uses are counted in place only where they may be summed up (see folds),
                # and where the GIL orders the owner and a claimer (see lockpaths).
                deque() if self._pairing.folds and _gil_enabled() else None,
            )
            self._lean.budget = self._allowance
        return self._lean

    def _ring(self) -> None:
        """Wake the worker (the buffer has a batch waiting), back from a fork if need be."""
        self._worker.resume()
        self._doorbell_release()

    def _doorbell_release(self) -> None:
        with contextlib.suppress(RuntimeError):  # already rung
            self._doorbell.release()

    def _pair_waiting(self, limit: int | None = None) -> None:
        """Pair the events the program's threads left (the worker's part, under the lock)."""
        events = self._events
        count = len(events) if limit is None else min(limit, len(events))
        drain(self._pairing, events, count)

    def _pressed(self) -> bool:
        """
        Under pressure: the worker is behind (many events wait for it, or many spans for it to
        build), or the allowance of spans nobody waited on is spent (SPANS_PER_SECOND). Spans
        that do not matter become summaries then.

        While the program's threads count in place, the events waiting are no such sign: they
        are mostly the marks of what was counted, quick to go through, behind the events made
        before counting began, which the program has paid for; those are spans as far as the
        allowance goes, as they would have been had the worker paired them sooner.
        """
        if self._allowance <= 0 or len(self._records) >= self._soft:
            return True
        lean = self._lean
        return len(self._events) >= BACKLOG and (lean is None or not lean.counting)

    def _pressed_by_backlog(self) -> bool:
        return len(self._records) >= self._soft or len(self._events) >= BACKLOG

    def _append(self, record: tuple[Any, ...]) -> bool:
        """
        One span record from the pairing (under the lock): filter, fold, keep or drop it.
        False when it will not be a span (summed up or dropped), for the pairing's links.
        """
        keep = record[-1]
        if self._min_ns and record[0] <= HOLD and duration(record) < self._min_ns:
            self._park(record)
            return True  # sent after all if a span links to it (else counted as left out)
        records = self._records
        count = len(records)
        if not keep:
            if self._pressed():
                # A summary, rather than a span that nobody waited on.
                self._summaries.add(record)
                self.stats.aggregated += 1
                return False
            self._allowance -= 1
        if count >= self._hard:
            self.stats.buffer_dropped += 1
            return False
        if self._parked:
            # Short spans that this one links to go out after all.
            for _trace, target, _why in links_of(record):
                parked = self._parked.pop(target, None)
                if parked is not None:
                    records.append(parked)
        records.append(record)
        # Aside for a fork (3.13), the worker may have left records: the next one rings.
        if len(records) == self._ring_at or self._worker.aside:
            self._ring()
        return True

    def _park(self, record: tuple[Any, ...]) -> None:
        """Keep a short span a while, unbuilt, in case a longer one links to it."""
        parked = self._parked
        if len(parked) >= MAX_PARKED:
            self.give_up(next(iter(parked)))
            del parked[next(iter(parked))]
            self.stats.filtered += 1
        parked[span_id_of(record)] = record

    def give_up(self, span_id: int) -> None:
        """The span ``span_id`` will not be sent: leave links to it out (see ``given_up``)."""
        given_up = self.given_up
        if len(given_up) >= MAX_GIVEN_UP:
            given_up.pop(next(iter(given_up), 0), None)  # the oldest (the builder gives up too)
        given_up[span_id] = None

    # -- findings ----------------------------------------------------------------------------

    def on_finding(self, finding: object) -> None:
        """
        A finding of the diagnosis (a listener of the recorder, on the thread that found it):
        an error span linked to the spans involved, and their waits marked as errors.
        """
        if self._stopped:
            return
        parts = finding_parts(finding)
        if self._ids_now and self._in_place(self._pairing.finding, *parts):
            return  # paired at once, as every event is
        # For the worker, after what happened before it (the waits it names). Not paired here
        # under our lock: the program's code may run in the pairing (a profile function, a
        # signal handler) and wait for a lock of the program's, held by a thread that waits
        # for ours to say its release (see _in_place).
        self._events.append(parts)
        self._ring()

    # -- exits that skip atexit ---------------------------------------------------------------

    def _hook_exits(self) -> None:
        """Wrap ``os._exit``, and flush before a fatal signal (see _core.fatal)."""
        self._os_exit = original = os._exit
        sink = self

        def _exit(status: int) -> NoReturn:
            with contextlib.suppress(BaseException):  # the program ends as it asked, whatever
                sink.close()
            original(status)

        _exit.__wrapped__ = original  # type: ignore[attr-defined]
        self._exit_wrapper = _exit
        os._exit = _exit
        fatal.close_on_fatal_signal(self.close, self.options.flush_timeout + GRACE)

    def _unhook_exits(self) -> None:
        if getattr(os, "_exit", None) is getattr(self, "_exit_wrapper", None):
            os._exit = self._os_exit
        fatal.forget(self.close)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop recording, flush within ``flush_timeout`` seconds, and say what was lost."""
        self._let_go()
        if self._closed:
            return
        self._closed = True
        program_context.unfollow(self._current_span_of)
        self._unhook_provider()
        self._unhook_exits()
        deadline = _monotonic() + max(self.options.flush_timeout, 0.0)
        with self._lock:
            self._stopped = True
            self._stop_records()
            self._claim_all()
            self._pair_waiting()
            self._sum_counted()
            self.close_ns = _time_ns()
            # What is still open at exit is never dropped.
            self._capacity = self._soft = self._hard = sys.maxsize
            self._pairing.finish()
            self.stats.filtered += len(self._parked)
            for span_id in self._parked:
                self.give_up(span_id)
            self._parked = {}
            self._closing = True
        # Back, if it stepped aside for a fork; else there is no thread to be had (say, at
        # shutdown), and nothing to wait for.
        back = self._worker.resume(wait=True)
        self._doorbell_release()
        done = back and bool(self._builder_done.acquire(timeout=max(deadline - _monotonic(), 0.0)))
        remote = self.remote
        refused = False
        if remote is not None and done:
            done = remote.wait_done(min(deadline, _monotonic() + GRACE))
            if not done and remote.gone() is not None:
                refused = True  # gone: the exporter's retries would wait out the flush timeout
            elif not done:
                done = remote.wait_done(deadline)
        if not done:
            self.abandoned = True
            self.stats.unbuilt += len(self._records)
            if remote is not None:
                remote.abandon(refused)
        self._report()

    def _report(self) -> None:
        """The exit line (see ``exit_line``), on standard error, when there is one."""
        line = exit_line(self.stats, self.options, self.remote, self.setup_error)
        if line is not None:
            with contextlib.suppress(Exception):  # stderr may be closed: nothing left to tell
                stream = sys.stderr if sys.stderr is not None else sys.__stderr__
                assert stream is not None
                stream.write(line)
                stream.flush()

    # -- worker ------------------------------------------------------------------------------

    def _worker_main(self, leaving: Callable[[], bool]) -> bool:
        """The worker: True when it left for a fork (see _core/ourthreads), False when done."""
        guard.busy = True  # nothing this thread does is recorded
        our_threads.add(_thread.get_ident())
        left = False
        try:
            builder = self._builder
            if builder is None:  # its first start
                self._go.acquire(timeout=GO_TIMEOUT)
                builder = self._builder = self._make_builder()
                if builder is None:  # setting up failed: nothing to build, say so at exit
                    return False
            self._ring_every(self._batch)  # back from a fork (see below)
            left = self._work(builder, leaving)
            if left:
                # Aside for a fork: the next event rings, and the ring brings it back, where
                # the parent's after-fork hook cannot (3.13: see _core/ourthreads).
                self._ring_every(1)
            return left
        except BaseException as exc:  # the worker must never die silently
            self.setup_error = self.setup_error or f"span worker failed: {one_line(exc)}"
            return False
        finally:
            forget_dummy_thread()
            our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            if not left:
                self._builder_done.release()

    def _ring_every(self, count: int) -> None:
        """Ring the worker when ``count`` events or records wait (the program's threads)."""
        self._ring_at = count
        if self._lean is not None:
            self._lean.ring_at = count

    def _work(self, builder: Builder, leaving: Callable[[], bool]) -> bool:
        """Pair, build and hand over, until the end (False) or a fork's step aside (True)."""
        while not self.abandoned:
            self._doorbell.acquire(timeout=INTERVAL)
            self._rung = False  # first: a ring from now on may have to bring it back
            if leaving():  # what waits, waits for it to come back
                return True
            closing = self._closing
            with self._lock:
                self._allow()
                self._count_in_place()
            # In slices, giving the GIL back in between (see give_way).
            for _ in range(len(self._events) // SLICE + 1):
                with self._lock:
                    if self._stopped:
                        break
                    self._pair_waiting(SLICE)
                give_way()
            with self._lock:
                self._count_in_place()  # the drain may have spent the allowance
                self._sum_counted()
                records, self._records = self._records, []
                buckets = self._summaries.take()
                parts = self._pairing.complete_parts()
            if records:
                builder.build(records)
            if buckets or builder.summaries.buckets:
                builder.summarize(buckets)
            if parts:
                builder.finish_parts(parts)
            if closing:
                builder.finish()
                break
            builder.tick()
        return False

    def _count_in_place(self) -> None:
        """
        Whether the program's threads count in place what nobody waits for (see
        ``Records.taken``, ``_intercept/counted``): from when the pressure is on until a
        quarter of a second's allowance is back, less what waits to spend it.
        """
        lean = self._lean
        if lean is None or lean.counted is None:  # not where uses are counted in place
            return
        if lean.counting:
            if self._allowance >= SPANS_PER_SECOND // 4 and not self._pressed_by_backlog():
                budget = self._allowance - self._waiting_spans()
                if budget >= SPANS_PER_SECOND // 4:
                    lean.budget = budget
                    lean.counting = False
        elif self._pressed():
            lean.counting = True
        else:  # what a quiet spell gave back, less what waits to spend it
            lean.budget = max(lean.budget, self._allowance - self._waiting_spans())

    def _waiting_spans(self) -> int:
        """
        The events and records waiting in the buffer, each yet to spend the allowance (a
        wait's, kept, will not: counted all the same), but not the marks of what was counted
        in place (see ``drain``). The events a thread made before it turned counting on are
        there, and a thread's own counting or not says nothing of them.
        """
        events = self._events
        if not events:
            return 0
        # list() copies the deque in one step under the GIL, which no append can come into
        # (without the GIL nothing is counted in place: see lean_records).
        return sum(1 for item in list(events) if len(item) != 3)

    def _sum_counted(self) -> None:
        """Sum up the uses counted in place since last time (under the lock)."""
        lean = self._lean
        if lean is not None and lean.counted:
            sum_counted(self._pairing, lean.counted)

    def _claim_all(self) -> None:
        """The end: the holds counted in place go into the buffer, as held at exit."""
        lean = self._lean
        if lean is not None:
            for prim in list(lean.taken):
                lean.claim(prim)

    def _allow(self) -> None:
        """Spans nobody waited on that may be made: SPANS_PER_SECOND since (under the lock)."""
        now = _monotonic()
        more = int((now - self._allowance_at) * SPANS_PER_SECOND)
        if more > 0:
            # Moved on by what was given, not to now: the fraction left over counts next time
            # (a worker waking every millisecond would otherwise get one span a wake-up).
            self._allowance_at += more / SPANS_PER_SECOND
            self._allowance = min(self._allowance + more, SPANS_AT_ONCE)

    def _make_builder(self) -> Builder | None:
        """Import OpenTelemetry and make the builder (and the exporting thread it starts)."""
        try:
            preload(self.options)
            builder = Builder(self)
        except Exception as exc:
            with self._lock:
                self.setup_error = one_line(exc)
                self._stopped = True
            return None
        finally:
            spare, self.spare_thread = self.spare_thread, None
            if spare is not None:  # not taken by a sender
                spare.cancel()
        self.remote = builder.remote
        return builder

    def _after_fork_in_child(self) -> None:
        # The worker did not survive the fork: the child records nothing.
        self._lock = allocate_lock()
        self._takes_for_a_while = bounded_takes(self._lock)
        self._stopped = True
        self._closed = True
        self._records = []
        self._events.clear()
        if self._lean is not None:
            self._lean.taken.clear()
            if self._lean.counted is not None:
                self._lean.counted.clear()
        self._stop_records()  # the proxies record nothing more for a worker that is gone

    def _stop_records(self) -> None:
        """
        The proxies stop recording into this sink's buffer, which nobody drains any more (a
        close before uninstall: ``os._exit``, a signal, the program's provider shutting down):
        their operations take the event path, which a stopped sink ignores, as before.
        """
        records = state.records
        if records is not None and records.buffer is self._events:
            state.records = None
