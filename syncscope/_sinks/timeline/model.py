"""
The timeline model: the recorded events replayed into tracks, slices, instants, causality
flows and counters, once, at exit.

The replay goes through :class:`syncscope._core.holds.Holds`, the one model of who holds and who
waits for what, so that a hold on the timeline is the hold the report measures:

* a *hold* slice runs from the acquire that starts a hold to the release that ends it (an
  RLock's outermost pair; a Condition's hold is cut while it waits; a semaphore permit runs to
  the release that gives it back);
* a *wait* slice runs from an operation's "waiting" event to its end event: acquires of a lock,
  rlock, semaphore or Condition lock, ``Condition.wait``, ``Event.wait``, ``Barrier.wait``,
  blocked ``Queue.put``/``get`` and ``Queue.join``;
* every other operation is an *instant*;
* a *flow* goes to each wait that something else ended, from what ended it: the hold whose
  release let an acquire through (or the release of a semaphore or of a lock used as a signal),
  the ``notify``/``set`` that woke a wait, the ``put`` of the item a blocked ``get`` got, the
  ``get`` that made room for a blocked ``put``, the last ``task_done`` before a ``join``, the last
  arrival at a barrier.

Nothing here runs on the program's threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..._core.event import SyncEvent, ThreadLife
from ..._core.holds import CONDITION_WAITS, Hold, Holds, Life


#: Operations whose "waiting" event opens a wait slice.
#: Trace events written at most (past it, uncontended operations are aggregated).
DEFAULT_MAX_TRACE_EVENTS = 200_000
#: Events kept in memory at most (about 900 bytes each); later ones are counted, not kept.
DEFAULT_MAX_RECORDED = 500_000


@dataclass(frozen=True)
class TimelineOptions:
    """What the timeline sink writes; see :func:`syncscope.install`."""

    timeline: str | None = None
    html: str | None = None
    max_trace_events: int = DEFAULT_MAX_TRACE_EVENTS
    max_recorded: int = DEFAULT_MAX_RECORDED
    run_name: str = "python"


def finding_threads(finding: object) -> tuple[str, list[str]]:
    """The finding's kind (``deadlock``, ``hang``, ``inversion``, ``long hold``, ``long wait``)
    and the names of the threads it involves."""
    kind = type(finding).__name__.lower()
    if kind in ("deadlock", "hang"):
        return kind, [t.name for t in getattr(finding, "threads", ())]
    if kind == "inversion":
        return kind, sorted({e.thread for e in getattr(finding, "edges", ())})
    if kind == "slowspot":
        return f"long {getattr(finding, 'what', 'spot')}", [getattr(finding, "thread", "")]
    return kind, []


def finding_text(finding: object) -> str:
    text = getattr(finding, "text", None)
    try:
        return str(text()) if callable(text) else repr(finding)
    except Exception:  # a finding that cannot be put into words is still marked
        return repr(finding)


#: Outcomes of a wait that ended because something let it go (not a timeout or an error).
RELEASED_OUTCOMES = frozenset({"acquired", "woken", "set", "got", "put", "joined", "passed"})


def site_text(event: SyncEvent) -> str:
    return f"{event.file}:{event.line} in {event.function}"


@dataclass(eq=False)
class Track:
    """One thread: a track of the timeline."""

    index: int
    ident: int
    name: str
    first_ns: int
    last_ns: int = 0
    #: Holds and waits: (start, end) of the slices, for the busiest window.
    busy: int = 0


@dataclass(eq=False)
class Slice:
    """A hold or a wait. ``end_ns`` is None while open (held or waiting at exit)."""

    track: Track
    start_ns: int
    end_ns: int
    name: str
    cat: str  # "hold" or "wait"
    args: dict[str, Any]
    #: Something waited for this hold, or a flow starts from it: never aggregated.
    contended: bool = False


@dataclass(eq=False)
class Instant:
    track: Track
    ns: int
    name: str
    cat: str  # "op", or "finding"
    args: dict[str, Any]
    #: A flow starts from it: never aggregated.
    cause: bool = False


Node = Slice | Instant


@dataclass(eq=False)
class Flow:
    """An arrow: ``source`` let ``target`` (a wait) go on."""

    source: Node
    target: Node
    why: str


@dataclass
class Timeline:
    """What the replay makes: the input of the trace writer and of the HTML report."""

    tracks: list[Track] = field(default_factory=list)
    slices: list[Slice] = field(default_factory=list)
    instants: list[Instant] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    #: Counter name -> [(ns, value)], in time order.
    counters: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0
    events: int = 0
    dropped_events: int = 0
    notes: list[str] = field(default_factory=list)


def _wait_name(event: SyncEvent) -> str:
    prim = event.primitive
    if event.op == "acquire":
        return f"wait for {prim.label}"
    return f"{prim.type_name}.{event.op} {prim.name}"


def _instant_name(event: SyncEvent) -> str:
    prim = event.primitive
    if event.outcome in ("error", "timeout", "busy", "full", "empty", "shutdown", "broken"):
        return f"{prim.type_name}.{event.op} {prim.name} ({event.outcome})"
    return f"{event.op} {prim.label}"


class _Replay:
    """The replay's state: one pass over the events, in the order they were emitted."""

    def __init__(self, end_ns: int) -> None:
        self.out = Timeline()
        self.end_ns = end_ns
        self.holds = Holds()
        #: The thread's life (``SyncEvent.life``) -> its track, and ident -> the life that
        #: has it now: an ident goes to the next thread once one has ended.
        self.track_of_life: dict[ThreadLife | tuple[int, str], Track] = {}
        self.life_of_ident: dict[int, ThreadLife | tuple[int, str]] = {}
        #: id(Hold) -> (the Hold, its open slice).
        self.open_holds: dict[int, tuple[Hold, Slice]] = {}
        #: thread ident -> (its "waiting" event, the open wait slice, holder names).
        self.open_waits: dict[int, tuple[SyncEvent, Slice]] = {}
        #: primitive -> what its last release was (a hold slice, or a release instant).
        self.last_release: dict[object, Node] = {}
        #: primitive -> its last notify/notify_all/set/task_done instant.
        self.last_signal: dict[object, Instant] = {}
        #: (queue, id of the item) -> the puts of that object not yet got.
        self.puts: dict[tuple[object, int], deque[Node]] = {}
        #: queue -> its last get.
        self.last_get: dict[object, Node] = {}
        #: barrier -> the wait of the last thread to arrive.
        self.last_arrival: dict[object, Node] = {}
        #: semaphore -> (change since the start, lowest change seen) for the free permits.
        self.permits: dict[object, list[int]] = {}
        self.permit_changes: dict[object, list[tuple[int, int]]] = {}

    # -- tracks ------------------------------------------------------------------------------

    def track(self, event: SyncEvent) -> Track:
        """
        The track of the event's thread: by its life, so that a thread with the ident of
        one that ended (and maybe its name too) has a track of its own; by ident and name
        for a thread threading does not know. A new thread on an ident ends the one before.
        """
        ident = event.thread_id
        # A thread threading does not know (started with _thread): its ident and name.
        life = event.life if event.life is not None else (ident, event.thread_name)
        track = self.track_of_life.get(life)
        owner = self.life_of_ident.get(ident)
        if track is not None and owner != life:
            # Another thread took the ident since: this is a late event of a thread that
            # ended; or, for one threading does not know (its ident and name alike, as
            # "Thread-<ident>"), a new such thread, told apart by time alone: made after the
            # first event of the thread it follows.
            owner_track = self.track_of_life.get(owner) if owner is not None else None
            if not (
                isinstance(life, tuple)
                and owner_track is not None
                and event.time_ns >= owner_track.first_ns
            ):
                track.last_ns = max(track.last_ns, event.time_ns)
                return track
            track = None
        if track is None:
            if owner is not None:
                self.ended(ident, owner)
            self.life_of_ident[ident] = life
            track = Track(len(self.out.tracks) + 1, ident, event.thread_name, event.time_ns)
            self.track_of_life[life] = track
            self.out.tracks.append(track)
        track.last_ns = event.time_ns
        return track

    def ended(self, ident: int, life: ThreadLife | tuple[int, str]) -> None:
        """
        Thread ``life`` has ended and its ident is another's now: what it holds stays held,
        by it (a wait for it has it as holder); a wait of its whose end was not seen ends.
        """
        name = life[1] if isinstance(life, tuple) else life.thread_name()
        self.holds.exited(Life(ident, name))
        opened = self.open_waits.pop(ident, None)
        if opened is not None:
            node = opened[1]
            node.end_ns = max(node.track.last_ns, node.start_ns)
            node.args["outcome"] = "unknown"
            self.out.slices.append(node)

    # -- building blocks ---------------------------------------------------------------------

    def instant(self, event: SyncEvent, track: Track, **extra: Any) -> Instant:
        args: dict[str, Any] = {"site": site_text(event)}
        if event.qsize is not None:
            args["qsize"] = event.qsize
        count = event.count
        if count is not None:
            args["count"] = count
        if event.item is not None:
            args["item"] = event.item
        if event.error is not None:
            args["error"] = repr(event.error)[:200]
        args.update(extra)
        node = Instant(track, event.time_ns, _instant_name(event), "op", args)
        self.out.instants.append(node)
        return node

    def flow(self, source: Node | None, target: Node, why: str) -> None:
        if source is None or source is target:
            return
        if isinstance(source, Slice):
            source.contended = True
        else:
            source.cause = True
        self.out.flows.append(Flow(source, target, why))

    def open_hold(self, hold: Hold, event: SyncEvent, track: Track) -> None:
        args = {"site": site_text(event), "thread": event.thread_name}
        node = Slice(track, event.time_ns, 0, f"hold {hold.primitive.label}", "hold", args)
        self.open_holds[id(hold)] = (hold, node)

    def close_hold(self, hold: Hold, end_ns: int, how: str | None = None) -> Slice | None:
        entry = self.open_holds.pop(id(hold), None)
        if entry is None or entry[0] is not hold:
            return None
        node = entry[1]
        node.end_ns = max(end_ns, node.start_ns)
        node.args["held_ms"] = round((node.end_ns - node.start_ns) / 1e6, 6)
        if how is not None:
            node.args["ended"] = how
        self.out.slices.append(node)
        node.track.busy += 1
        return node

    # -- the replay --------------------------------------------------------------------------

    def handle(self, event: SyncEvent) -> None:
        track = self.track(event)
        holds = self.holds
        op = event.op
        outcome = event.outcome
        prim = event.primitive
        if outcome == "waiting":
            wait = holds.begin_wait(event)
            args: dict[str, Any] = {"site": site_text(event)}
            blocker = wait.blocker
            if blocker is not None and (blocker.thread_id != event.thread_id or blocker.exited):
                args["holder"] = blocker.thread_name
                args["holder_site"] = "{}:{} in {}".format(*blocker.site)
            elif op == "acquire" and prim.kind == "semaphore":
                holders = sorted(
                    {h.thread_name for h in holds.permits.get(prim, ()) if h is not None}
                )
                if holders:
                    args["holder"] = ", ".join(holders[:8])
            if op in CONDITION_WAITS and prim.kind == "condition":
                parked = holds.park(event)
                if parked is not None:
                    self.close_hold(parked, event.time_ns, "Condition.wait")
            node = Slice(track, event.time_ns, 0, _wait_name(event), "wait", args)
            self.open_waits[event.thread_id] = (event, node)
            if prim.kind == "barrier":
                self.last_arrival[prim] = node
            return
        holds.waiting.pop(event.thread_id, None)
        opened = self.open_waits.pop(event.thread_id, None)
        wait_node: Slice | None = None
        if opened is not None and opened[0].primitive is prim and opened[0].op == op:
            wait_node = opened[1]
            wait_node.end_ns = max(event.time_ns, wait_node.start_ns)
            wait_node.args["waited_ms"] = round((wait_node.end_ns - wait_node.start_ns) / 1e6, 6)
            wait_node.args["outcome"] = outcome
            self.out.slices.append(wait_node)
            track.busy += 1
        elif opened is not None:  # an end never seen (an error path): close it here
            node = opened[1]
            node.end_ns = max(event.time_ns, node.start_ns)
            node.args["outcome"] = "unknown"
            self.out.slices.append(node)

        if op == "acquire" and outcome == "acquired":
            if wait_node is not None:
                self.flow(self.last_release.get(prim), wait_node, "release")
            hold = holds.acquired(event)
            if hold is not None:
                self.open_hold(hold, event, track)
            if prim.kind == "semaphore":
                self.permit_change(prim, event.time_ns, -1)
            return
        if op == "release" and outcome == "released":
            self.release(event, track)
            return
        if op in CONDITION_WAITS and prim.kind == "condition":
            if wait_node is not None and outcome in RELEASED_OUTCOMES:
                self.flow(self.last_signal.get(prim), wait_node, "notify")
            hold = holds.unpark(event)
            if hold is not None:
                self.open_hold(hold, event, track)
            return
        self.other(event, track, wait_node)

    def release(self, event: SyncEvent, track: Track) -> None:
        prim = event.primitive
        holds = self.holds
        if prim.kind == "semaphore":
            ended = holds.returned(event)
            self.permit_change(prim, event.time_ns, event.permits or 1)
            node: Node | None = None
            for hold in ended:
                closed = self.close_hold(hold, event.time_ns)
                if closed is not None and hold.thread_id == event.thread_id:
                    node = closed
            if node is None:  # a permit given for another thread, or out of nothing: a signal
                node = self.instant(event, track)
            self.last_release[prim] = node
            return
        owned = holds.released(event)
        if owned is None:
            return  # an inner RLock release, or a release of something never seen taken
        closed = self.close_hold(owned, event.time_ns)
        if owned.thread_id != event.thread_id or closed is None:
            # Released by another thread: the lock is a signal, the release its own instant.
            self.last_release[prim] = self.instant(event, track, released_for=owned.thread_name)
        else:
            self.last_release[prim] = closed

    def other(self, event: SyncEvent, track: Track, wait_node: Slice | None) -> None:
        prim = event.primitive
        op = event.op
        outcome = event.outcome
        node: Node = wait_node if wait_node is not None else self.instant(event, track)
        if event.qsize is not None and prim.kind == "queue":
            self.counter(f"queue {prim.name} size", event.time_ns, event.qsize)
        if op in ("notify", "notify_all", "set", "task_done"):
            if isinstance(node, Instant):
                self.last_signal[prim] = node
        elif op == "clear":
            self.last_signal.pop(prim, None)
        elif op == "wait" and prim.kind == "event":
            if wait_node is not None and outcome in RELEASED_OUTCOMES:
                self.flow(self.last_signal.get(prim), wait_node, "set")
        elif op == "wait" and prim.kind == "barrier":
            if wait_node is not None and outcome == "passed":
                self.flow(self.last_arrival.get(prim), wait_node, "last arrival")
        elif op == "join" and outcome == "joined":
            if wait_node is not None:
                self.flow(self.last_signal.get(prim), wait_node, "task_done")
        elif op == "put" and outcome == "put":
            if wait_node is not None:
                self.flow(self.last_get.get(prim), wait_node, "get made room")
            if event.item_id is not None:
                key = (prim, event.item_id)
                waiting = self.puts.get(key)
                if waiting is None:
                    waiting = self.puts[key] = deque()
                waiting.append(node)
        elif op == "get" and outcome == "got":
            self.last_get[prim] = node
            if event.item_id is not None:
                key = (prim, event.item_id)
                waiting = self.puts.get(key)
                if waiting:
                    put = waiting.pop() if prim.type_name == "LifoQueue" else waiting.popleft()
                    if not waiting:
                        del self.puts[key]
                    if wait_node is not None:
                        self.flow(put, wait_node, "put")

    def counter(self, name: str, ns: int, value: float) -> None:
        series = self.out.counters.get(name)
        if series is None:
            series = self.out.counters[name] = []
        series.append((ns, value))

    def permit_change(self, prim: object, ns: int, delta: int) -> None:
        state = self.permits.get(prim)
        if state is None:
            state = self.permits[prim] = [0, 0]
            self.permit_changes[prim] = []
        state[0] += delta
        state[1] = min(state[1], state[0])
        self.permit_changes[prim].append((ns, state[0]))

    # -- the end -----------------------------------------------------------------------------

    def finish(self) -> Timeline:
        out = self.out
        end = self.end_ns
        for _hold, node in list(self.open_holds.values()):
            node.end_ns = max(end, node.start_ns)
            node.args["held_ms"] = round((node.end_ns - node.start_ns) / 1e6, 6)
            node.args["ended"] = "held at exit"
            node.contended = True
            out.slices.append(node)
        for _event, node in self.open_waits.values():
            node.end_ns = max(end, node.start_ns)
            node.args["waited_ms"] = round((node.end_ns - node.start_ns) / 1e6, 6)
            node.args["outcome"] = "still waiting at exit"
            out.slices.append(node)
        # Free permits: the lowest the count fell to says how many there were at the start
        # (a semaphore never has fewer than none free).
        for prim, changes in self.permit_changes.items():
            initial = -self.permits[prim][1]
            name = getattr(prim, "name", "?")
            series = out.counters[f"semaphore {name} free permits"] = [(out.start_ns, initial)]
            series.extend((ns, initial + change) for ns, change in changes)
        out.slices.sort(key=lambda s: (s.start_ns, -s.end_ns))
        return out


def replay(events: Iterable[SyncEvent], start_ns: int, end_ns: int) -> Timeline:
    """Build the timeline of ``events`` (in the order they were emitted)."""
    state = _Replay(end_ns)
    state.out.start_ns = start_ns
    count = 0
    for event in events:
        count += 1
        state.handle(event)
    state.out.events = count
    state.out.end_ns = end_ns
    return state.finish()
