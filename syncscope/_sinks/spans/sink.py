"""
OpenTelemetry spans: the span model, the links, and the export pipeline.

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
  when syncscope's OTLP exporter is all that takes them (see _otlp: a tenth of the SDK's
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
import math
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..._core.dispatch import guard
from ..._core.event import Primitive, SyncEvent
from ..._core.fork import reset_after_fork
from ..._core.registry import allocate_lock, save_method
from .otlp import EncodedSpans, SpanEncoder, accept_encoded_spans
from .otlp import attributes as otlp_attributes


_active_threads: dict[int, Any] = threading._active  # type: ignore[attr-defined]
_monotonic = time.monotonic
_sleep = time.sleep
_time_ns = time.time_ns

PROTOCOLS = ("grpc", "http/protobuf")
EXPORTERS = ("otlp", "console", "none")

#: Operations that can block: their span lasts as long as they blocked.
_BLOCKING_OPS = frozenset({"acquire", "wait", "wait_for", "get", "put", "join"})
#: Kinds whose successful acquire opens a hold span.
_HOLD_KINDS = frozenset({"lock", "rlock", "semaphore", "condition"})
#: Kinds whose acquire/release carry the recursion depth in ``count``.
_DEPTH_KINDS = frozenset({"rlock", "condition"})
_MAX_LINKS = 8
#: Remembered puts waiting for their get, per process (oldest forgotten first).
_MAX_PUTS = 100_000
#: Primitives whose last hold and last signal are remembered, for links (oldest forgotten
#: first): a program may make a lock or an Event per task, and they are keyed by id, not held.
_MAX_REMEMBERED = 10_000
#: Spans per OTLP export request.
BATCH_SIZE = 512
#: Events waiting for the worker to pair them, at most.
_MAX_UNPAIRED = 4096
#: Events paired or spans built between two offers of the GIL to the program's threads.
_SLICE = 64
#: How often the worker looks at the buffer when the program is quiet, in seconds.
_INTERVAL = 0.25

_HOLD_OP = (("syncscope.op", "hold"),)

# Record types: one record is one span.
_OP = 0
_HOLD = 1
_WAIT_AT_EXIT = 2


@dataclass(frozen=True)
class SpanOptions:
    """Everything about spans, decided at install (see :func:`syncscope.install`)."""

    exporters: tuple[str, ...] = ("otlp",)
    protocol: str = "grpc"
    endpoint: str | None = None
    headers: Mapping[str, str] | None = None
    service_name: str | None = None
    run_name: str = "python"
    jaeger_file: str | None = None
    span_items: bool = False
    flush_timeout: float = 5.0
    min_span_ms: float = 0.0
    max_trace_spans: int = 10_000
    buffer_size: int = 16_384


# --------------------------------------------------------------------------------------------
# Configuration: validated on the installing thread, without importing OpenTelemetry.


def parse_headers(value: str | Mapping[str, str] | None) -> dict[str, str] | None:
    """``"k=v,k2=v2"`` (the ``OTEL_EXPORTER_OTLP_HEADERS`` syntax) or a mapping, as a dict."""
    if value is None:
        return None
    if not isinstance(value, str):
        return {str(k): str(v) for k, v in value.items()}
    from urllib.parse import unquote

    headers = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad OTLP header {part.strip()!r}: expected key=value")
        headers[unquote(key.strip()).lower()] = unquote(val.strip())
    return headers


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"bad {what} {url!r}: expected http://host:port or https://host:port")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"bad {what} {url!r}: the port is not a number") from None
    return url


def resolve_otlp(endpoint: str | None, protocol: str | None) -> tuple[str, str]:
    """
    The protocol and the URL to export to, from the options first, then the environment.

    An endpoint given without a protocol picks ``http/protobuf`` for port 4318 or a
    ``/v1/traces`` path and ``grpc`` otherwise (the Python SDK's default). An HTTP endpoint
    given as an option without a path gets ``/v1/traces`` appended, as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` does; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as is.
    """
    env = os.environ
    chosen = (
        protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or None
    )
    if chosen is not None:
        chosen = chosen.strip().lower()
        if chosen not in PROTOCOLS:
            raise ValueError(
                f"unsupported OTLP protocol {chosen!r}: choose one of {', '.join(PROTOCOLS)}"
            )
    traces_env = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_env = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint:
        url = endpoint if "://" in endpoint else "http://" + endpoint
        _check_url(url, "OTLP endpoint")
        proto = chosen or _guess_protocol(url)
        if proto == "http/protobuf" and urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + "/v1/traces"
        return proto, url
    if traces_env:
        _check_url(traces_env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return chosen or _guess_protocol(traces_env), traces_env
    if base_env:
        _check_url(base_env, "OTEL_EXPORTER_OTLP_ENDPOINT")
        proto = chosen or _guess_protocol(base_env)
        if proto == "http/protobuf":
            return proto, base_env.rstrip("/") + "/v1/traces"
        return proto, base_env
    proto = chosen or "grpc"
    if proto == "grpc":
        return proto, "http://localhost:4317"
    return proto, "http://localhost:4318/v1/traces"


def _guess_protocol(url: str) -> str:
    parts = urlsplit(url)
    if parts.port == 4318 or parts.path.rstrip("/").endswith("/v1/traces"):
        return "http/protobuf"
    return "grpc"


def exporters_from_env(default: tuple[str, ...]) -> tuple[str, ...]:
    """``OTEL_TRACES_EXPORTER`` as a tuple of the exporters syncscope has; ``default`` if unset."""
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not value:
        return default
    return parse_exporters(value)


def parse_exporters(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"unsupported trace exporter {unknown[0]!r}: choose from {', '.join(EXPORTERS)}"
        )
    return tuple(name for name in names if name != "none")


# --------------------------------------------------------------------------------------------
# Program-thread state


class _Segment:
    """One trace of the run: its ids, and the span of each thread in it."""

    __slots__ = (
        "count",
        "end_ns",
        "index",
        "places",
        "previous",
        "previous_places",
        "run_span_id",
        "start_ns",
        "trace_id",
    )

    def __init__(self, index: int, previous: _Segment | None, rand: Callable[[int], int]) -> None:
        self.index = index
        self.trace_id = _trace_id(rand)
        self.run_span_id = _span_id(rand)
        #: thread ident -> (trace id, the thread's span id, this segment): made once per thread,
        #: so that a span costs no allocation for its place.
        self.places: dict[int, tuple[int, int, _Segment | None]] = {}
        self.count = 0
        self.start_ns = _time_ns()
        self.end_ns: int | None = None
        # Only the ids of the trace before: not a chain of every trace of the run.
        self.previous = None if previous is None else (previous.trace_id, previous.run_span_id)
        self.previous_places = {} if previous is None else previous.places


class _Hold:
    """An acquired lock, rlock, semaphore or condition, until its release."""

    __slots__ = ("depth", "event", "ident", "parent_id", "prim", "segment", "span_id", "trace_id")

    def __init__(
        self,
        prim: Primitive,
        event: SyncEvent,
        ident: int,
        depth: int,
        place: tuple[int, int, _Segment | None],
        span_id: int,
    ) -> None:
        self.prim = prim
        self.event = event
        self.ident = ident
        self.depth = depth
        self.trace_id, self.parent_id, self.segment = place
        self.span_id = span_id


class _Pending:
    """A wait in progress on one thread: the span id it got, and what it carries to its end."""

    __slots__ = ("links", "place", "prim", "reopen", "span_id", "start_event")

    def __init__(
        self,
        prim: Primitive,
        span_id: int,
        place: tuple[int, int, _Segment | None],
        links: tuple[tuple[int, int, str], ...],
        reopen: tuple[Primitive, int] | None,
        start_event: SyncEvent,
    ) -> None:
        self.prim = prim
        self.span_id = span_id
        self.place = place
        self.links = links
        self.reopen = reopen
        self.start_event = start_event


def _span_id(rand: Callable[[int], int]) -> int:
    return rand(64) or 1


def _trace_id(rand: Callable[[int], int]) -> int:
    # Keep the high half non-zero: Jaeger shortens such trace ids to 16 digits otherwise.
    return (rand(64) | 1 << 63) << 64 | rand(64)


class _Stats:
    __slots__ = (
        "buffer_dropped",
        "exported",
        "failed_exports",
        "failed_first",
        "failed_spans",
        "file_dropped",
        "queue_dropped",
        "shipped",
        "unsent",
    )

    def __init__(self) -> None:
        self.buffer_dropped = 0
        self.shipped = 0
        self.exported = 0
        self.queue_dropped = 0
        self.failed_exports = 0
        self.failed_spans = 0
        self.failed_first: str | None = None
        self.unsent = 0
        self.file_dropped = 0


#: Thread-local parent for thread-pool tasks submitted under a span (set while the task runs).
class _TaskParent(threading.local):
    value: tuple[int, int] | None = None


_task_parent = _TaskParent()
#: id(Thread) -> (weak reference to it, the span current where it was started).
_thread_parents: dict[int, tuple[weakref.ref[Any], tuple[int, int]]] = {}
#: The sink that reads the program's spans for Thread.start and executor.submit.
_context_sink: SpanSink | None = None


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
        self._events_capacity = min(_MAX_UNPAIRED, self._capacity)
        self._stopped = False
        self._closed = False
        self.stats = _Stats()
        # Pairing state, only touched under self._lock.
        self._segment = _Segment(0, None, self._rand)
        self._pending: dict[int, _Pending] = {}
        self._holds: dict[int, dict[int, _Hold]] = {}
        self._last_hold: dict[int, tuple[int, int]] = {}
        self._signals: dict[int, tuple[int, int, str]] = {}
        self._puts: dict[tuple[int, int], deque[tuple[int, int]]] = {}
        # Read on every event: set by the worker once OpenTelemetry's API is loaded.
        self._current_span_of: Callable[[], tuple[int, int] | None] | None = None
        self._propagated = False
        # Worker hand-over.
        self._doorbell = allocate_lock()
        self._doorbell.acquire()
        self._builder_done = allocate_lock()
        self._builder_done.acquire()
        self._closing = False
        self._abandon = False
        self._close_ns = 0
        self._remote: _Sender | None = None
        self.setup_error: str | None = None
        _preload(options)
        self._current_span_of = _make_current_span_reader()
        # The builder (and the exporting thread it starts) is made here, not on the worker:
        # a short program can end before the worker gets to it, and from 3.12 on no thread
        # can be started once the interpreter is shutting down.
        self._builder: _Builder | None = None
        try:
            self._builder = _Builder(self)
        except Exception as exc:
            self.setup_error = _one_line(exc)
            self._stopped = True
        reset_after_fork(self)
        _thread.start_new_thread(self._worker_main, ())
        _install_context_hooks(self)

    # -- program side ------------------------------------------------------------------------

    def handle(self, event: SyncEvent) -> None:
        if self._stopped:
            return
        current = self._current_span_of
        parent = None
        if current is not None:
            parent = current()
            if parent is None and self._propagated:
                parent = _inherited_parent(event.thread_id)
        if self._ids_now:
            with self._lock:
                if not self._stopped:
                    self._dispatch(event, parent)
            return
        events = self._events
        if len(events) >= self._events_capacity:
            # The worker is behind: pair here, in order, rather than lose an event (the span
            # buffer drops and counts whole spans) or let the queue grow.
            with self._lock:
                if not self._stopped:
                    self._pair_waiting()
                    self._dispatch(event, parent)
            return
        events.append((event, parent))  # atomic: no lock needed against the worker's popleft
        if len(events) == self._ring_at:
            with contextlib.suppress(RuntimeError):  # already rung
                self._doorbell.release()

    def _pair_waiting(self, limit: int | None = None) -> None:
        """Pair the events the program's threads left (the worker's part, under the lock)."""
        events = self._events
        pop = events.popleft
        dispatch = self._dispatch
        count = len(events) if limit is None else min(limit, len(events))
        for _ in range(count):
            event, parent = pop()
            dispatch(event, parent)

    def _place(
        self, ident: int, parent: tuple[int, int] | None
    ) -> tuple[int, int, _Segment | None]:
        """Trace id and parent span id for a new span of thread ``ident``; counts it."""
        if parent is not None:
            return parent[0], parent[1], None
        seg = self._segment
        if seg.count >= self.options.max_trace_spans:
            seg = self._rotate()
        seg.count += 1
        place = seg.places.get(ident)
        if place is None:
            place = seg.places[ident] = (seg.trace_id, _span_id(self._rand), seg)
        return place

    def _rotate(self) -> _Segment:
        old = self._segment
        old.end_ns = _time_ns()
        new = self._segment = _Segment(old.index + 1, old, self._rand)
        return new

    def _append(self, record: tuple[Any, ...]) -> None:
        records = self._records
        if len(records) >= self._capacity:
            self.stats.buffer_dropped += 1
            return
        records.append(record)
        if len(records) == self._ring_at:
            with contextlib.suppress(RuntimeError):  # already rung
                self._doorbell.release()

    def _dispatch(self, event: SyncEvent, parent: tuple[int, int] | None) -> None:
        op = event.op
        outcome = event.outcome
        prim = event.primitive
        ident = event.thread_id
        rand = self._rand

        links: tuple[tuple[int, int, str], ...] = ()
        if outcome == "waiting":
            reopen = None
            if op == "acquire":
                links = self._holder_links(prim.id, ident)
            elif prim.kind == "condition" and op in ("wait", "wait_for") and prim.lock is not None:
                # The lock is given up while waiting: cut the hold, and open a new one after.
                hold = self._close_hold(prim.lock, ident, event, "wait")
                if hold is not None:
                    reopen = (prim.lock, hold.depth)
            place = self._place(ident, parent)
            span_id = _span_id(rand)
            self._pending[ident] = _Pending(prim, span_id, place, links, reopen, event)
            event.trace_id, event.span_id = place[0], span_id
            return

        if op == "release" and outcome == "released":
            hold = self._release(prim, ident, event)
            if hold is not None:
                event.trace_id, event.span_id = hold.trace_id, hold.span_id
                return
            # Nothing to end (acquired before syncscope saw it): a point span.

        pending = self._pending.pop(ident, None) if op in _BLOCKING_OPS else None
        if pending is not None and pending.prim is not prim:
            pending = None
        if pending is not None:
            span_id = pending.span_id
            place = pending.place
            links = pending.links
        else:
            span_id = _span_id(rand)
            place = self._place(ident, parent)

        kind = prim.kind
        if op in ("wait", "wait_for") and outcome in ("woken", "set"):
            signal = self._signals.get(prim.id)
            if signal is not None:
                links = (*links, signal)
        elif op == "get" and outcome == "got":
            put = self._take_put(prim, event.item_id)
            if put is not None:
                links = (*links, (put[0], put[1], "put"))
        elif op == "join" and outcome == "joined":
            signal = self._signals.get(prim.id)
            if signal is not None:
                links = (*links, signal)
        elif op == "acquire" and outcome == "acquired" and pending is not None and not links:
            # The holder acquired the lock just as this wait began: link to the release
            # that let this thread in.
            last = self._last_hold.get(prim.id)
            if last is not None:
                links = ((last[0], last[1], "holder"),)

        self._append((_OP, event, span_id, place, links))
        event.trace_id, event.span_id = place[0], span_id

        if op == "acquire":
            if outcome == "acquired" and kind in _HOLD_KINDS:
                self._open_hold(prim, ident, event, parent, event.depth)
        elif op in ("notify", "notify_all", "set", "task_done"):
            _remember(self._signals, prim.id, (place[0], span_id, op))
        elif op == "clear":
            self._signals.pop(prim.id, None)
        elif op == "put" and outcome == "put":
            self._remember_put(prim, event.item_id, place[0], span_id)
        if pending is not None and pending.reopen is not None:
            lock_prim, depth = pending.reopen
            self._open_hold(lock_prim, ident, event, parent, depth)

    def _holder_links(self, prim_id: int, ident: int) -> tuple[tuple[int, int, str], ...]:
        holders = self._holds.get(prim_id)
        if not holders:
            return ()
        return tuple(
            (hold.trace_id, hold.span_id, "holder")
            for hold in list(holders.values())[:_MAX_LINKS]
            if hold.ident != ident
        )

    def _open_hold(
        self,
        prim: Primitive,
        ident: int,
        event: SyncEvent,
        parent: tuple[int, int] | None,
        depth: int | None,
    ) -> None:
        holders = self._holds.get(prim.id)
        if holders is None:
            holders = self._holds[prim.id] = {}
        hold = holders.get(ident)
        if hold is not None:
            nested = depth is not None and prim.kind in _DEPTH_KINDS
            hold.depth = depth if nested and depth is not None else hold.depth + 1
            return
        place = self._place(ident, parent)
        holders[ident] = _Hold(prim, event, ident, depth or 1, place, _span_id(self._rand))

    def _release(self, prim: Primitive, ident: int, event: SyncEvent) -> _Hold | None:
        """Count a release down; return the hold it belongs to (ended or not), None if none."""
        holders = self._holds.get(prim.id)
        if not holders:
            return None
        hold = holders.get(ident)
        if hold is None:  # released by another thread than the acquirer: the oldest holder's
            hold = next(iter(holders.values()))
        if prim.kind in _DEPTH_KINDS and event.depth is not None:
            depth = event.depth
        elif prim.kind == "semaphore":
            depth = hold.depth - (event.permits or 1)
        else:
            depth = hold.depth - 1
        if depth > 0:
            hold.depth = depth
            return hold
        self._end_hold(holders, hold, event, "released")
        return hold

    def _close_hold(
        self, prim: Primitive, ident: int, event: SyncEvent, reason: str
    ) -> _Hold | None:
        holders = self._holds.get(prim.id)
        hold = holders.get(ident) if holders else None
        if hold is None or holders is None:
            return None
        self._end_hold(holders, hold, event, reason)
        return hold

    def _end_hold(
        self, holders: dict[int, _Hold], hold: _Hold, event: SyncEvent | None, reason: str
    ) -> None:
        del holders[hold.ident]
        if not holders:
            self._holds.pop(hold.prim.id, None)
        _remember(self._last_hold, hold.prim.id, (hold.trace_id, hold.span_id))
        self._append((_HOLD, hold, event, reason))

    def _remember_put(
        self, prim: Primitive, item_id: int | None, trace_id: int, span_id: int
    ) -> None:
        if item_id is None:
            return
        puts = self._puts
        key = (prim.id, item_id)
        queue_of = puts.get(key)
        if queue_of is None:
            if len(puts) >= _MAX_PUTS:
                del puts[next(iter(puts))]
            queue_of = puts[key] = deque()
        queue_of.append((trace_id, span_id))

    def _take_put(self, prim: Primitive, item_id: int | None) -> tuple[int, int] | None:
        if item_id is None:
            return None
        key = (prim.id, item_id)
        queue_of = self._puts.get(key)
        if not queue_of:
            return None
        # The same object put twice (small ints...): a LIFO queue gives back the newest.
        found = queue_of.pop() if prim.type_name == "LifoQueue" else queue_of.popleft()
        if not queue_of:
            del self._puts[key]
        return found

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop recording, flush within ``flush_timeout`` seconds, and say what was lost."""
        if self._closed:
            return
        self._closed = True
        global _context_sink
        if _context_sink is self:
            _context_sink = None
        deadline = _monotonic() + max(self.options.flush_timeout, 0.0)
        with self._lock:
            self._pair_waiting()
            self._stopped = True
            self._close_ns = _time_ns()
            for pending in self._pending.values():
                self._records.append((_WAIT_AT_EXIT, pending))
            self._pending.clear()
            for holders in list(self._holds.values()):
                for hold in list(holders.values()):
                    self._end_hold(holders, hold, None, "held at exit")
            self._closing = True
        with contextlib.suppress(RuntimeError):
            self._doorbell.release()
        done = self._builder_done.acquire(timeout=max(deadline - _monotonic(), 0.0))
        remote = self._remote
        if remote is not None and done:
            done = remote.wait_done(deadline)
        if not done:
            self._abandon = True
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
            where = f" to {self._remote.target}" if self._remote is not None else ""
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
        _our_threads.add(_thread.get_ident())
        builder = self._builder
        try:
            if builder is None:  # setting up failed: nothing to build, say so at exit
                return
            while not self._abandon:
                self._doorbell.acquire(timeout=_INTERVAL)
                closing = self._closing
                # In slices, giving the GIL back in between (see _give_way).
                for _ in range(len(self._events) // _SLICE + 1):
                    with self._lock:
                        if self._stopped:
                            break
                        self._pair_waiting(_SLICE)
                    _give_way()
                with self._lock:
                    records, self._records = self._records, []
                if records:
                    builder.build(records)
                if closing:
                    builder.finish()
                    break
                builder.tick()
        except BaseException as exc:  # the worker must never die silently
            self.setup_error = self.setup_error or f"span worker failed: {_one_line(exc)}"
        finally:
            _forget_dummy_thread()
            _our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            self._builder_done.release()

    def _after_fork_in_child(self) -> None:
        # The worker did not survive the fork: the child records nothing.
        self._lock = allocate_lock()
        self._stopped = True
        self._closed = True
        self._records = []
        self._events = deque()


def _give_way() -> None:
    """
    Let the program's threads have the GIL. A thread that wakes up (a lock handed over, a
    Condition notified) waits for the GIL, and a busy thread keeps it for the whole switch
    interval, 5 ms: the worker giving it up every slice keeps that wait short.
    """
    _sleep(0)


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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _remember(memory: dict[int, Any], key: int, value: Any) -> None:
    """``memory[key] = value``, forgetting the oldest key once there are _MAX_REMEMBERED."""
    if key not in memory and len(memory) >= _MAX_REMEMBERED:
        del memory[next(iter(memory))]
    memory[key] = value


def _forget_dummy_thread() -> None:
    """
    Take back the ``_DummyThread`` that library code (logging, grpc) may have registered for
    this worker by calling ``threading.current_thread()``: the program must not see our threads
    in ``threading.enumerate()``.
    """
    ident = _thread.get_ident()
    thread = _active_threads.get(ident)
    if thread is not None and type(thread).__name__ == "_DummyThread":
        with threading._active_limbo_lock:  # type: ignore[attr-defined]
            _active_threads.pop(ident, None)


# --------------------------------------------------------------------------------------------
# Trace context of the program: its current span, carried into threads and pool tasks.


def _make_current_span_reader() -> Callable[[], tuple[int, int] | None]:
    """A fast reader of the program's current span as ``(trace_id, span_id)``, or None."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace

    get_current_span = otel_trace.get_current_span
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY

        runtime = otel_context._RUNTIME_CONTEXT
        if type(runtime) is not ContextVarsRuntimeContext:
            raise TypeError("another runtime context")
        var_get = runtime._current_context.get
        span_key = _SPAN_KEY

        def read() -> tuple[int, int] | None:
            # The context is a dict: an empty one (no span anywhere) costs one lookup.
            span: Any = var_get().get(span_key)
            if span is None:
                return None
            ctx = span.get_span_context()
            if not ctx.is_valid:
                return None
            return ctx.trace_id, ctx.span_id

    except Exception:  # another OpenTelemetry version: the public API, a little slower

        def read() -> tuple[int, int] | None:
            ctx = get_current_span().get_span_context()
            if not ctx.is_valid:
                return None
            return ctx.trace_id, ctx.span_id

    return read


def _inherited_parent(ident: int) -> tuple[int, int] | None:
    parent = _task_parent.value
    if parent is not None:
        return parent
    thread = _active_threads.get(ident)
    entry = _thread_parents.get(id(thread))
    if entry is not None and entry[0]() is thread:
        return entry[1]
    return None


def _program_span_here() -> tuple[int, int] | None:
    sink = _context_sink
    if sink is None or guard.busy:
        return None
    reader = sink._current_span_of
    if reader is None:
        return None
    try:
        parent = reader()
        if parent is None and sink._propagated:
            parent = _inherited_parent(_thread.get_ident())
    except Exception:
        return None
    if parent is not None:
        sink._propagated = True
    return parent


def _install_context_hooks(sink: SpanSink) -> None:
    """
    Carry the program's current span into threads it starts and pool tasks it submits.

    Only our spans use it: the program's own context is never changed. ``Thread.start`` and
    ``ThreadPoolExecutor.submit`` are wrapped on the class (restored at uninstall); a task is
    wrapped only when it is submitted under a span.
    """
    global _context_sink
    _context_sink = sink
    import functools

    original_start = save_method(threading.Thread, "start")
    if getattr(vars(threading.Thread).get("start"), "_syncscope_hook", False):
        return

    def start(self: Any) -> None:
        parent = _program_span_here()
        if parent is not None and not _is_pool_worker(self):
            key = id(self)

            def forget(_ref: object, key: int = key) -> None:
                _thread_parents.pop(key, None)

            _thread_parents[key] = (weakref.ref(self, forget), parent)
        return original_start(self)  # type: ignore[no-any-return]

    functools.update_wrapper(start, original_start)
    start._syncscope_hook = True  # type: ignore[attr-defined]
    type.__setattr__(threading.Thread, "start", start)

    from concurrent.futures import thread as futures_thread

    pool = futures_thread.ThreadPoolExecutor
    original_submit = save_method(pool, "submit")

    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        parent = _program_span_here()
        if parent is None:
            return original_submit(self, fn, *args, **kwargs)

        @functools.wraps(fn)
        def task(*task_args: Any, **task_kwargs: Any) -> Any:
            previous = _task_parent.value
            _task_parent.value = parent
            try:
                return fn(*task_args, **task_kwargs)
            finally:
                _task_parent.value = previous

        return original_submit(self, task, *args, **kwargs)

    functools.update_wrapper(submit, original_submit)
    submit._syncscope_hook = True  # type: ignore[attr-defined]
    type.__setattr__(pool, "submit", submit)

    # Our last spans go to the program's global TracerProvider, if it set one: flush them
    # before it shuts down (at its exit hook, registered after ours, so run before ours).
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider

    original_shutdown = save_method(TracerProvider, "shutdown")

    def shutdown(self: Any) -> None:
        sink = _context_sink
        if sink is not None and getattr(otel_trace, "_TRACER_PROVIDER", None) is self:
            sink.close()
        return original_shutdown(self)  # type: ignore[no-any-return]

    functools.update_wrapper(shutdown, original_shutdown)
    type.__setattr__(TracerProvider, "shutdown", shutdown)


def _is_pool_worker(thread: Any) -> bool:
    # A pool's worker threads run many tasks: each task carries its own parent instead.
    module = sys.modules.get("concurrent.futures.thread")
    return module is not None and getattr(thread, "_target", None) is getattr(
        module, "_worker", None
    )


# --------------------------------------------------------------------------------------------
# Worker side: records to ReadableSpans


class _ThreadSpan:
    __slots__ = ("end", "ident", "name", "span_id", "start", "used")

    def __init__(self, ident: int, name: str, span_id: int, start: int, end: int) -> None:
        self.ident = ident
        self.name = name
        self.span_id = span_id
        self.start = start
        self.end = end
        self.used = False


class _SegmentSpans:
    __slots__ = ("segment", "threads")

    def __init__(self, segment: _Segment) -> None:
        self.segment = segment
        self.threads: dict[int, _ThreadSpan] = {}


class _Builder:
    """
    Made on the installing thread, then lives on the worker: imports OpenTelemetry, builds
    spans, feeds the exporters.
    """

    def __init__(self, sink: SpanSink) -> None:
        self.sink = sink
        options = sink.options
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
        from opentelemetry.trace.span import TraceFlags

        self.ReadableSpan = ReadableSpan
        self.SpanContext = SpanContext
        self.Link = Link
        self.internal = SpanKind.INTERNAL
        self.sampled = TraceFlags(TraceFlags.SAMPLED)
        self.error_status = Status
        self.ERROR = StatusCode.ERROR
        self.own_resource = self.resource = _resource(options)
        self.scope = InstrumentationScope("syncscope", _version())
        self.span_items = options.span_items
        self.min_ns = int(options.min_span_ms * 1_000_000)
        self.parked: dict[int, Any] = {}
        self.segments: dict[int, _SegmentSpans] = {}
        #: Traces below this index are complete: their run and thread spans went out.
        self.done_below = 0
        self.local: list[Any] = []  # file and console exporters: called on this thread
        self.out: list[Any] = []
        self.file_exporter: Any = None
        if options.jaeger_file is not None:
            from .exporters import JaegerJsonFileExporter

            self.file_exporter = JaegerJsonFileExporter(options.jaeger_file)
            self.local.append(self.file_exporter)
        if "console" in options.exporters:
            from .exporters import ConsoleSpanExporter

            self.local.append(ConsoleSpanExporter())
        otlp = _make_otlp_exporter(options) if "otlp" in options.exporters else None
        #: Spans written straight to OTLP's wire format, when our OTLP exporter is all that
        #: takes them (see _otlp); else SDK ReadableSpans.
        self.encoder: SpanEncoder | None = None
        if otlp is not None and not self.local:
            self.encoder = SpanEncoder(
                self.own_resource.attributes, self.scope.name, self.scope.version or ""
            )
        self.wire = False
        sink._remote = _Sender(sink, otlp, self.encoder)
        _quiet_loggers()
        _forget_dummy_thread()

    # Records -> spans --------------------------------------------------------------------

    def build(self, records: list[tuple[Any, ...]]) -> None:
        # Spans that go to the program's TracerProvider belong to its service.
        provider = _program_provider()
        self.resource = self.own_resource if provider is None else provider.resource
        # The program's provider, once set, takes ReadableSpans from then on.
        self.wire = self.encoder is not None and provider is None
        remote = self.sink._remote
        for index, record in enumerate(records, 1):
            if not index % _SLICE:
                _give_way()
            kind = record[0]
            if remote is not None and remote.full() and kind != _WAIT_AT_EXIT:
                # The collector is behind (or gone): drop now, rather than build to drop.
                self.sink.stats.buffer_dropped += 1
                continue
            if kind == _OP:
                self._op(record[1], record[2], record[3], record[4])
            elif kind == _HOLD:
                self._hold(record[1], record[2], record[3])
            else:
                self._wait_at_exit(record[1])
            if len(self.out) >= BATCH_SIZE:
                self.ship()
        self.ship()

    def _context(self, trace_id: int, span_id: int) -> Any:
        return self.SpanContext(trace_id, span_id, False, self.sampled)

    def _links(self, links: tuple[tuple[int, int, str], ...]) -> list[Any]:
        return [
            self.Link(self._context(trace_id, span_id), {"syncscope.link": why})
            for trace_id, span_id, why in links
        ]

    def _base_attributes(self, event: SyncEvent, prim: Primitive) -> dict[str, Any]:
        return {
            "thread.id": event.thread_id,
            "thread.name": event.thread_name,
            "code.function.name": event.function,
            "code.file.path": event.file,
            "code.line.number": event.line,
            "syncscope.kind": prim.kind,
            "syncscope.type": prim.type_name,
            "syncscope.name": prim.name,
            "syncscope.primitive_id": prim.id,
            "syncscope.created_at": prim.created_at,
        }

    def _op(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, _Segment | None],
        links: tuple[tuple[int, int, str], ...],
    ) -> None:
        end = event.time_ns
        waited = event.waited_ns
        start = end - waited if waited else end
        if end <= start:
            end = start + 1  # Jaeger flags a zero-length span as a clock problem
        args = (event, span_id, place, links, start, end)
        self._take(self._op_span, args, span_id, place, event, start, end, links)

    def _op_span(
        self,
        event: SyncEvent,
        span_id: int,
        place: tuple[int, int, _Segment | None],
        links: tuple[tuple[int, int, str], ...],
        start: int,
        end: int,
    ) -> Any:
        prim = event.primitive
        op = event.op
        constant = (("syncscope.op", op), ("syncscope.outcome", event.outcome))
        variable: list[tuple[str, Any]] = []
        if op in _BLOCKING_OPS:
            variable.append(("syncscope.waited_ms", round((event.waited_ns or 0) / 1e6, 3)))
        if event.count is not None:
            variable.append(("syncscope.count", event.count))
        if event.qsize is not None:
            variable.append(("syncscope.queue.size", event.qsize))
        if self.span_items and event.item is not None:
            variable.append(("syncscope.queue.item", event.item))
        error = None
        if event.error is not None:
            message = event.error_text
            variable.append(("syncscope.error", message))
            if event.outcome in ("error", "broken"):
                error = message
        name = f"{prim.type_name}.{op} {prim.name}"
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, error
        )

    def _hold(self, hold: _Hold, release: SyncEvent | None, reason: str) -> None:
        start = hold.event.time_ns
        end = release.time_ns if release is not None else self.sink._close_ns
        if end <= start:
            end = start + 1
        args = (hold, release, reason, start, end)
        place = _hold_place(hold)
        self._take(self._hold_span, args, hold.span_id, place, hold.event, start, end, ())

    def _hold_span(
        self, hold: _Hold, release: SyncEvent | None, reason: str, start: int, end: int
    ) -> Any:
        prim = hold.prim
        variable: list[tuple[str, Any]] = [("syncscope.held_ms", round((end - start) / 1e6, 3))]
        outcome = reason
        if release is not None:
            variable.append(("syncscope.released_at", f"{release.file}:{release.line}"))
            if release.thread_id != hold.ident:
                outcome = "released by another thread"
                variable.append(("syncscope.released_by", release.thread_name))
        variable.append(("syncscope.outcome", outcome))
        name = f"{prim.type_name}.hold {prim.name}"
        place = _hold_place(hold)
        return self._span(
            name, hold.span_id, place, start, end, hold.event, prim, _HOLD_OP, variable, (), None
        )

    def _wait_at_exit(self, pending: _Pending) -> None:
        event = pending.start_event
        start = event.time_ns
        end = max(self.sink._close_ns, start + 1)
        args = (pending, start, end)
        place = pending.place
        self._take(self._wait_span, args, pending.span_id, place, event, start, end, pending.links)

    def _wait_span(self, pending: _Pending, start: int, end: int) -> Any:
        event = pending.start_event
        prim = pending.prim
        constant = (("syncscope.op", event.op), ("syncscope.outcome", "still waiting at exit"))
        variable = [("syncscope.waited_ms", round((end - start) / 1e6, 3))]
        name = f"{prim.type_name}.{event.op} {prim.name}"
        span_id, place, links = pending.span_id, pending.place, pending.links
        return self._span(
            name, span_id, place, start, end, event, prim, constant, variable, links, None
        )

    def _take(
        self,
        build: Callable[..., Any],
        args: tuple[Any, ...],
        span_id: int,
        place: tuple[int, int, _Segment | None],
        event: SyncEvent,
        start: int,
        end: int,
        links: tuple[tuple[int, int, str], ...],
    ) -> None:
        """Send the span (built now), or park it unbuilt when shorter than ``min_span_ms``."""
        thread = None
        segment = place[2]
        if segment is not None:
            thread = self._thread_span(
                segment, place[1], event.thread_id, event.thread_name, start, end
            )
        if end - start < self.min_ns:
            self._park(span_id, (build, args, thread))
            return
        if thread is not None:
            thread.used = True
        self.out.append(build(*args))
        if links and self.parked:
            # Short spans that this one links to go out after all.
            for _trace, target, _why in links:
                parked = self.parked.pop(target, None)
                if parked is not None:
                    parked_build, parked_args, parked_thread = parked
                    if parked_thread is not None:
                        parked_thread.used = True
                    self.out.append(parked_build(*parked_args))

    def _span(
        self,
        name: str,
        span_id: int,
        place: tuple[int, int, _Segment | None],
        start: int,
        end: int,
        event: SyncEvent,
        prim: Primitive,
        constant: tuple[tuple[str, Any], ...],
        variable: list[tuple[str, Any]],
        links: tuple[tuple[int, int, str], ...],
        error: str | None,
    ) -> Any:
        """
        One span of an operation: its thread's, call site's and primitive's attributes, then
        ``constant`` (few distinct values: encoded once) and ``variable`` ones.
        """
        trace_id, parent_id, _segment = place
        encoder = self.encoder
        if self.wire and encoder is not None:
            ident, thread = event.thread_id, event.thread_name
            file, line, function = event.file, event.line, event.function
            blobs = (
                encoder.cached((ident, thread), (("thread.id", ident), ("thread.name", thread))),
                encoder.cached(
                    (file, line, function),
                    (
                        ("code.function.name", function),
                        ("code.file.path", file),
                        ("code.line.number", line),
                    ),
                ),
                encoder.cached(
                    prim,
                    (
                        ("syncscope.kind", prim.kind),
                        ("syncscope.type", prim.type_name),
                        ("syncscope.name", prim.name),
                        ("syncscope.primitive_id", prim.id),
                        ("syncscope.created_at", prim.created_at),
                    ),
                ),
                encoder.cached(constant, constant),
                otlp_attributes(9, variable),
            )
            return encoder.span(name, trace_id, span_id, parent_id, start, end, blobs, links, error)
        attributes = self._base_attributes(event, prim)
        attributes.update(constant)
        attributes.update(variable)
        return self._plain_span(
            name, trace_id, span_id, parent_id, start, end, attributes, links, error
        )

    def _plain_span(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start: int,
        end: int,
        attributes: dict[str, Any],
        links: Sequence[tuple[int, int, str]],
        error: str | None = None,
    ) -> Any:
        """A span from its attributes as they are: a run or thread span, or an SDK span."""
        encoder = self.encoder
        if self.wire and encoder is not None:
            blob = otlp_attributes(9, attributes)
            return encoder.span(
                name, trace_id, span_id, parent_id, start, end, (blob,), links, error
            )
        kwargs: dict[str, Any] = {}
        if error is not None:
            kwargs["status"] = self.error_status(self.ERROR, error)
        return self.ReadableSpan(
            name,
            context=self._context(trace_id, span_id),
            parent=None if parent_id is None else self._context(trace_id, parent_id),
            resource=self.resource,
            attributes=attributes,
            links=self._links(tuple(links)),
            kind=self.internal,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
            **kwargs,
        )

    def _park(self, span_id: int, entry: tuple[Any, ...]) -> None:
        """Keep a short span (unbuilt) a while, in case a long one links to it."""
        parked = self.parked
        if len(parked) >= 4096:
            del parked[next(iter(parked))]
        parked[span_id] = entry

    def _thread_span(
        self, segment: _Segment, span_id: int, ident: int, name: str, start: int, end: int
    ) -> _ThreadSpan | None:
        spans = self.segments.get(segment.index)
        if spans is None:
            if segment.index < self.done_below:
                return None  # a hold that outlived its trace: its thread span is out already
            # A new trace begins: the earlier ones are complete.
            for index in sorted(self.segments):
                if index < segment.index:
                    self._finish_segment(self.segments.pop(index))
            self.done_below = segment.index
            spans = self.segments[segment.index] = _SegmentSpans(segment)
        thread = spans.threads.get(span_id)
        if thread is None:
            thread = spans.threads[span_id] = _ThreadSpan(ident, name, span_id, start, end)
        else:
            thread.start = min(thread.start, start)
            thread.end = max(thread.end, end)
        return thread

    def _finish_segment(self, spans: _SegmentSpans) -> None:
        segment = spans.segment
        trace_id = segment.trace_id
        previous = segment.previous
        run_start = segment.start_ns
        run_end = segment.end_ns or self.sink._close_ns or _time_ns()
        used = [thread for thread in spans.threads.values() if thread.used]
        if not used:
            return
        for thread in used:
            run_start = min(run_start, thread.start)
            run_end = max(run_end, thread.end)
            links = []
            if previous is not None:
                before = segment.previous_places.get(thread.ident)
                if before is not None:
                    links.append((previous[0], before[1], "previous trace"))
            self.out.append(
                self._plain_span(
                    f"thread {thread.name}",
                    trace_id,
                    thread.span_id,
                    segment.run_span_id,
                    thread.start,
                    max(thread.end, thread.start + 1),
                    {
                        "thread.id": thread.ident,
                        "thread.name": thread.name,
                        "syncscope.trace_part": segment.index + 1,
                    },
                    links,
                )
            )
        run_links = []
        if previous is not None:
            run_links.append((previous[0], previous[1], "previous trace"))
        self.out.append(
            self._plain_span(
                f"run {self.sink.options.run_name}",
                trace_id,
                segment.run_span_id,
                None,
                run_start,
                max(run_end, run_start + 1),
                {
                    "process.pid": os.getpid(),
                    "syncscope.trace_part": segment.index + 1,
                    "syncscope.spans": segment.count,
                },
                run_links,
            )
        )

    # Hand-over to exporters ------------------------------------------------------------------

    def ship(self) -> None:
        out = self.out
        if not out:
            return
        self.out = []
        self.sink.stats.shipped += len(out)
        for exporter in self.local:
            with contextlib.suppress(Exception):
                exporter.export(out)
        remote = self.sink._remote
        if remote is not None:
            remote.put(out)

    def tick(self) -> None:
        remote = self.sink._remote
        if remote is not None:
            remote.ring()

    def finish(self) -> None:
        for index in sorted(self.segments):
            self._finish_segment(self.segments.pop(index))
        self.done_below = sys.maxsize
        self.ship()
        if self.file_exporter is not None:
            with contextlib.suppress(Exception):
                self.file_exporter.shutdown()
            self.sink.stats.file_dropped = self.file_exporter.dropped
        remote = self.sink._remote
        if remote is not None:
            remote.finish()


def _program_provider() -> Any:
    """The global SDK TracerProvider, when the program has set one; None otherwise."""
    provider = getattr(sys.modules.get("opentelemetry.trace"), "_TRACER_PROVIDER", None)
    if provider is None or not hasattr(provider, "_active_span_processor"):
        return None
    return provider


def _hold_place(hold: _Hold) -> tuple[int, int, _Segment | None]:
    return hold.trace_id, hold.parent_id, hold.segment


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("syncscope")
    except Exception:
        return "0"


def _resource(options: SpanOptions) -> Any:
    """
    The SDK's attributes, then ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, then ours.

    Not ``Resource.create()``: it runs the detectors on a thread pool, whose threads the
    program would see (and which refuses to start during interpreter shutdown).
    """
    from opentelemetry.sdk import resources

    from_env = resources.OTELResourceDetector().detect()
    name = options.service_name or os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if not name:
        name = str(from_env.attributes.get("service.name", "") or "")
    if not name:
        name = f"syncscope {options.run_name}"
    ours = resources.Resource(
        {
            "service.name": name,
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": ".".join(map(str, sys.version_info[:3])),
        }
    )
    base = getattr(resources, "_DEFAULT_RESOURCE", None) or resources.Resource.get_empty()
    return base.merge(from_env).merge(ours)


def _make_otlp_exporter(options: SpanOptions) -> Any:
    protocol, url = options.protocol, options.endpoint
    assert url is not None
    headers = dict(options.headers) if options.headers is not None else None
    exporter: Any
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        accept_encoded_spans("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        exporter = OTLPSpanExporter(endpoint=url, headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        accept_encoded_spans("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        exporter = HttpExporter(endpoint=url, headers=headers)
    exporter._syncscope_target = f"{url} ({protocol})"
    return exporter


_QUIET_PREFIXES = ("opentelemetry", "grpc", "urllib3", "requests")


def _quiet_loggers() -> None:
    """
    Silence what OpenTelemetry, grpc and urllib3 log *from syncscope's own threads*.

    A dead collector makes the exporters log a warning per retry and an error per batch, with
    tracebacks at exit: syncscope says it in one line of its own instead. ``isEnabledFor`` is
    shadowed on each logger instance and still answers as before on every other thread, so
    the program's own use of these loggers is unchanged (and no log record is even made on
    ours, which would register a ``_DummyThread`` for it).
    """
    import logging

    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or not name.startswith(_QUIET_PREFIXES):
            continue
        if "isEnabledFor" in vars(logger):
            continue
        original = logger.isEnabledFor

        def is_enabled_for(level: int, _original: Callable[[int], bool] = original) -> bool:
            if _thread.get_ident() in _our_threads:
                return False
            return _original(level)

        logger.isEnabledFor = is_enabled_for  # type: ignore[method-assign]


#: Idents of the worker threads: what they log is ours to silence.
_our_threads: set[int] = set()


class _Sender:
    """
    Exports batches on its own thread, from a bounded queue.

    The target is the program's global SDK TracerProvider when it has set one (our spans go to
    its span processor), else our own OTLP exporter, else nothing.
    """

    def __init__(self, sink: SpanSink, exporter: Any, encoder: SpanEncoder | None) -> None:
        self.sink = sink
        self.exporter = exporter
        self.encoder = encoder
        self.target = getattr(exporter, "_syncscope_target", "the program's TracerProvider")
        self.lock = allocate_lock()
        self.batches: deque[list[Any]] = deque()
        self.queued = 0
        self.limit = max(sink.options.buffer_size, BATCH_SIZE)
        self.in_flight = 0
        self.doorbell = allocate_lock()
        self.doorbell.acquire()
        self.done = allocate_lock()
        self.done.acquire()
        self.finishing = False
        self.provider_hooked = False
        # Not this thread: the sender is made on the installing thread, the program's own, whose
        # logging must stay as it was. The sending thread counts itself in.
        _thread.start_new_thread(self._main, ())

    def put(self, spans: list[Any]) -> None:
        with self.lock:
            if self.queued + len(spans) > self.limit:
                self.sink.stats.queue_dropped += len(spans)
                return
            self.batches.append(spans)
            self.queued += len(spans)
        self.ring()

    def full(self) -> bool:
        return self.queued + self.in_flight >= self.limit

    def ring(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.doorbell.release()

    def finish(self) -> None:
        self.finishing = True
        self.ring()

    def wait_done(self, deadline: float) -> bool:
        return bool(self.done.acquire(timeout=max(deadline - _monotonic(), 0.0)))

    def abandon(self) -> None:
        """The flush time is up: count what is left, and cut the export in progress short."""
        with self.lock:
            self.sink.stats.unsent += self.queued + self.in_flight
            self.batches.clear()
            self.queued = 0
            self.in_flight = 0
        exporter = self.exporter
        if exporter is not None:
            # Interrupts the retry back-off and closes the channel the export is waiting on.
            with contextlib.suppress(Exception):
                exporter.shutdown()

    def _main(self) -> None:
        guard.busy = True
        _our_threads.add(_thread.get_ident())
        try:
            while True:
                self.doorbell.acquire(timeout=_INTERVAL * 4)
                finishing = self.finishing
                while True:
                    with self.lock:
                        if not self.batches:
                            break
                        batch = self.batches.popleft()
                        # Small hand-overs go out together, up to one batch.
                        while self.batches and len(batch) + len(self.batches[0]) <= BATCH_SIZE:
                            batch = batch + self.batches.popleft()
                        self.queued -= len(batch)
                        self.in_flight = len(batch)
                    ok, error = self._export(batch)
                    with self.lock:
                        # After abandon() the batch was counted as unsent already.
                        if self.in_flight:
                            self._count(batch, ok, error)
                        self.in_flight = 0
                    if self.sink._abandon:
                        return
                if finishing:
                    self._shutdown()
                    return
        finally:
            _forget_dummy_thread()
            _our_threads.discard(_thread.get_ident())  # a program's thread may get the ident
            self.done.release()

    def _provider_processor(self) -> Any:
        provider = _program_provider()
        if provider is None:
            return None
        processor = provider._active_span_processor
        if not self.provider_hooked:
            self.provider_hooked = True
            self.target = "the program's TracerProvider"
            self.provider = provider
        return processor

    def _export(self, batch: list[Any]) -> tuple[bool, str | None]:
        try:
            processor = self._provider_processor()
            if processor is not None and type(batch[0]) is not bytes:
                for span in batch:
                    processor.on_end(span)
                return True, None
            if self.exporter is None:
                return True, None
            from opentelemetry.sdk.trace.export import SpanExportResult

            to_export: Any = batch
            if self.encoder is not None and type(batch[0]) is bytes:
                to_export = EncodedSpans(self.encoder.request(batch), len(batch))
            result = self.exporter.export(to_export)
            if result is SpanExportResult.SUCCESS:
                return True, None
            return False, "the collector did not accept them"
        except Exception as exc:
            return False, _one_line(exc)
        finally:
            _quiet_loggers()
            _forget_dummy_thread()

    def _count(self, batch: list[Any], ok: bool, error: str | None) -> None:
        stats = self.sink.stats
        if ok:
            stats.exported += len(batch)
        else:
            stats.failed_exports += 1
            stats.failed_spans += len(batch)
            stats.failed_first = stats.failed_first or error

    def _shutdown(self) -> None:
        provider = getattr(self, "provider", None)
        if provider is not None:
            with contextlib.suppress(Exception):
                provider.force_flush(max(int(self.sink.options.flush_timeout * 1000), 1))
        if self.exporter is not None:
            with contextlib.suppress(Exception):
                self.exporter.shutdown()


def span_options(
    *,
    exporter: str | None,
    endpoint: str | None,
    protocol: str | None,
    headers: str | Mapping[str, str] | None,
    service_name: str | None,
    jaeger_file: str | None,
    span_items: bool,
    flush_timeout: float,
    min_span_ms: float,
    max_trace_spans: int,
    span_buffer: int,
    run_name: str | None,
) -> SpanOptions:
    """Check :func:`syncscope.install`'s span arguments; ValueError names the first bad one."""
    if exporter is None:
        exporters = exporters_from_env(() if jaeger_file else ("otlp",))
    else:
        exporters = parse_exporters(exporter)
    if endpoint is not None and "otlp" not in exporters:
        exporters = (*exporters, "otlp")
    resolved_protocol, url = "grpc", None
    if "otlp" in exporters:
        resolved_protocol, url = resolve_otlp(endpoint, protocol)
    elif protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(
            f"unsupported OTLP protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}"
        )
    parsed_headers = parse_headers(headers)
    for name, value, low in (
        ("flush_timeout", flush_timeout, 0.0),
        ("min_span_ms", min_span_ms, 0.0),
    ):
        if not isinstance(value, (int, float)) or math.isnan(value) or value < low:
            raise ValueError(f"bad {name} {value!r}: expected a number >= {low:g}")
    if flush_timeout > 3600:
        raise ValueError(f"bad flush_timeout {flush_timeout!r}: at most 3600 seconds")
    for name, count in (("max_trace_spans", max_trace_spans), ("span_buffer", span_buffer)):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"bad {name} {count!r}: expected a whole number >= 1")
    if jaeger_file is not None:
        try:
            with open(jaeger_file, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ValueError(
                f"cannot write the Jaeger file {jaeger_file!r}: {exc.strerror or exc}"
            ) from None
    if run_name is None:
        run_name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return SpanOptions(
        exporters=exporters,
        protocol=resolved_protocol,
        endpoint=url,
        headers=parsed_headers,
        service_name=service_name,
        run_name=run_name,
        jaeger_file=jaeger_file,
        span_items=span_items,
        flush_timeout=float(flush_timeout),
        min_span_ms=float(min_span_ms),
        max_trace_spans=max_trace_spans,
        buffer_size=span_buffer,
    )
