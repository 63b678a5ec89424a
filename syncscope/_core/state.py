"""
Global state department: the one module that holds syncscope's process-wide state.

Everything that changes when syncscope is installed, configured or uninstalled lives in
:data:`state`; the interception modules only read it. Reads are lock-free on purpose (they
happen on every instrumented operation); writes happen under :data:`config_lock`.
"""

from __future__ import annotations

from collections.abc import Callable

from .records import record
from .registry import allocate_lock


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from .event import Op, Outcome, Sink, SyncEvent
    from .leanholds import LeanDiagnosis
    from .tally import TallyBook

    class LeanLines(Protocol):
        """The lines the primitives write on the lean path (``_sinks/leanlines.LeanLines``)."""

        fields: bool
        console: bool

        def line(
            self,
            primitive: Any,
            op: Op,
            outcome: Outcome,
            depth: int | None = None,
            permits: int | None = None,
            waiters: int | None = None,
            waited: int | None = None,
            site: tuple[str, int, str] | None = None,
            arrivals: int | None = None,
            unfinished: int | None = None,
        ) -> None: ...

        def item(
            self,
            primitive: Any,
            op: Op,
            outcome: Outcome,
            text: str | None,
            site: tuple[str, int, str] = ...,
            waited: int | None = None,
            qsize: int | None = None,
        ) -> None: ...

        def acquired(self, proxy: Any) -> None: ...

        def said(self, event: SyncEvent) -> None: ...


#: Every kind syncscope can watch, by the word it prints.
ALL_KINDS: frozenset[str] = frozenset(
    {"lock", "rlock", "condition", "semaphore", "event", "barrier", "queue"}
)


@record
class Options:
    """What to watch. Decided at install; a primitive's fate is decided once, at creation."""

    kinds: frozenset[str] = ALL_KINDS
    #: Also watch primitives created by the standard library and installed packages.
    include_library: bool = False
    #: Keep queue items out of every output (they may be private data).
    hide_items: bool = False
    #: Longest repr of a queue item, in characters.
    item_repr_limit: int = 80


#: A record's operation (see :class:`Records`).
RECORD_ACQUIRED = 0
RECORD_RELEASED = 1
#: A trylock (``acquire(False)``, ``acquire(timeout=0)``) that found the lock taken.
RECORD_BUSY = 2
#: The operation under which such trylocks are counted in place under pressure, and summed up
#: ("Lock.acquire lock x 1,234, found busy"): no wait, no hold, nothing to link to.
BUSY = "busy"


#: In ``Records.taken``: a thread found the lock taken before its holder had put its record
#: there; that holder records its use instead of counting it.
WANTED = ("wanted",)


class Records:
    """
    Where a Lock or RLock proxy records an uncontended acquire or release, when the span sink
    is all that listens (``state.records``): the sink's ordered buffer, shared with the events
    of every other primitive, so that one order holds for all of them.

    A record is a tuple ``(holds, proxy, op, time_ns, where, lasti, depth)``: the thread's
    lean ``ThreadHolds``, the proxy, ``RECORD_ACQUIRED``, ``RECORD_RELEASED`` or
    ``RECORD_BUSY``, the time, the caller's code object and instruction (or, for a caller that
    is not the program's own code, its call site as ``(file, line, function)`` and -1), and an
    RLock's depth after the operation (None for a Lock, and for a busy trylock). The sink's
    worker turns it into the event the event path would have made, or folds it straight into
    a summary.
    """

    __slots__ = (
        "budget",
        "buffer",
        "capacity",
        "counted",
        "counting",
        "ring",
        "ring_at",
        "taken",
    )

    def __init__(
        self,
        buffer: Any,
        capacity: int,
        ring_at: int,
        ring: Callable[[], None],
        counted: Any = None,
    ) -> None:
        #: The ordered buffer (a deque) the sink's worker drains.
        self.buffer = buffer
        #: Past this many waiting in ``buffer``, the proxies take the event path instead (the
        #: worker is behind: the sink pairs on the program's thread, as for any event).
        self.capacity = capacity
        #: When ``buffer`` reaches this length, ``ring()`` wakes the worker.
        self.ring_at = ring_at
        self.ring = ring
        #: Under pressure (the sink sets ``counting``), a use of a lock nobody waits for is
        #: counted in place, recording nothing: its acquire's record waits here, by primitive,
        #: until its owner's release counts the use, or anything else that happens to the lock
        #: (a wait for it, a Condition's wait over it, a release by another thread, the end)
        #: takes the record out first and puts it in the buffer, where it would have been
        #: (``claim``; the owner's side is ``_intercept/lockpaths.counted_release``).
        #: A semaphore's are a list of records, one per permit out (see _intercept/counted).
        self.taken: dict[Any, Any] = {}
        #: The uses and operations counted in place (``_core/leanholds.Uses``, ``OpUses``),
        #: which the sink's worker sums; None where nothing is counted in place.
        self.counted = counted
        self.counting = False
        #: Spans nobody waited on that may still be made before ``counting`` turns itself on:
        #: the sink sets it from its allowance (less the events waiting in ``buffer`` to spend
        #: it), so that counting does not wait for its worker to wake. A lock's recorded use
        #: spends two (its acquire and its hold), a semaphore's permit two, an operation of
        #: another primitive that could be counted in place one (``spent``); a failed trylock,
        #: a span kept, none.
        self.budget = 0

    def spent(self, spans: int = 1) -> bool:
        """
        An operation that would be counted in place under pressure goes as an event for now,
        to make ``spans`` spans nobody waited on (a semaphore's permit two, its acquire and
        its hold): it spends the budget, and whether counting is on with it, turned on by the
        last of the budget, as a lock's recorded use turns it on. Called only once the
        operation is known countable, so what stays a span anyway (a wait, a wake, an
        unwatched primitive) spends nothing; where an error is likely (a notify without the
        lock), only once it did not fail.
        """
        self.budget -= spans  # not exact between threads: it says when, roughly
        if self.budget <= 0 and self.counted is not None:
            self.counting = True
        return self.counting

    def claim(self, primitive: Any, waits: bool = False) -> None:
        """
        A hold of ``primitive`` counted in place (see ``taken``) is wanted after all:
        something else happens to the lock. Its acquire's record goes into the buffer now,
        before what happens, and its release will be recorded. ``waits``: the caller found
        the lock taken, and marks it WANTED if its holder has not put its record there yet.

        Read and deleted with subscripts, the append right after, and no call in between:
        under the GIL no other thread runs there (see ``_intercept/lockpaths``, the owner's
        side). A call would let the owner take the record between the read and the delete,
        and the delete would raise KeyError in the program's thread, or take the record of
        the thread that took the lock next.
        """
        taken = self.taken
        if waits and self.counting and primitive not in taken:
            taken.setdefault(primitive, WANTED)  # unless the holder's record came meanwhile
        if primitive not in taken:
            return
        record = taken[primitive]
        if record.__class__ is list:  # a semaphore's permits out (see _intercept/counted)
            out = taken.pop(primitive, None)
            if type(out) is list:
                # Oldest first, each read, deleted and appended with nothing in between that
                # lets another thread run: its owner gives back no record that is in the
                # buffer, and none that is not comes after its release's event.
                while True:
                    try:
                        permit = out[0]
                    except IndexError:
                        break
                    del out[0]
                    self.buffer.append(permit)
        elif record is not WANTED:
            del taken[primitive]
            self.buffer.append(record)


class _State:
    __slots__ = (
        "active",
        "diagnosis",
        "epoch",
        "installed",
        "lean",
        "lines",
        "options",
        "records",
        "sinks",
    )

    def __init__(self) -> None:
        #: True while at least one sink listens: the hot path reads only this.
        self.active = False
        self.installed = False
        #: Counts installs and uninstalls: what is kept of a primitive while the hooks are in
        #: (a PriorityQueue heap's kind) is not trusted under another count, as items may have
        #: gone in unseen meanwhile. Moved on after an install's hooks go in and before an
        #: uninstall's come out: odd while they are in.
        self.epoch = 0
        self.options = Options()
        self.sinks: tuple[Sink, ...] = ()
        #: The statistics, when they are all that listens: lock proxies then count in place
        #: of reporting events (see _lean).
        self.lean: TallyBook | None = None
        #: With ``lean``, the log lines of the operations counted in place: the primitives
        #: write them from the lean paths (see ``_sinks/leanlines.LeanLines``).
        self.lines: LeanLines | None = None
        #: With ``lean``, when ``-q``'s deadlock and lock-order checks listen too: what the
        #: lock proxies tell of waits and new chains of held locks (see _core/leanholds).
        self.diagnosis: LeanDiagnosis | None = None
        #: With the span sink alone (no log lines, nothing else that needs each event), where
        #: Lock and RLock proxies record what they do instead of reporting events.
        self.records: Records | None = None


state = _State()

#: Serialises install, uninstall and sink changes (never taken on the hot path).
config_lock = allocate_lock()


class _Counters:
    __slots__ = ("first_sink_error", "sink_errors")

    def __init__(self) -> None:
        self.sink_errors = 0
        self.first_sink_error: str | None = None


counters = _Counters()


def set_sinks(sinks: tuple[Sink, ...]) -> None:
    # Lean first off, last on: a proxy that sees it set can rely on the sinks it goes with.
    state.lean = None
    state.lines = None
    state.diagnosis = None
    state.records = None
    state.sinks = sinks
    state.active = bool(sinks)
    sink: object = sinks[0] if len(sinks) == 1 else None
    lines = None
    # The lines, alone or with the diagnosis: lean if the lines can be said there (LeanLines),
    # counted in the diagnosis' book or in one the lines keep and nobody reads.
    lean_lines = getattr(sinks[0], "lean_lines", None) if 0 < len(sinks) <= 2 else None
    if lean_lines is not None:
        lines = lean_lines()
        if lines is not None:
            sink = sinks[1] if len(sinks) == 2 else lines
    lean_stats = getattr(sink, "lean_stats", None)
    stats = lean_stats(lines is not None) if lean_stats is not None else None
    if stats is not None:
        lean_diagnosis = getattr(sink, "lean_diagnosis", None)
        state.diagnosis = lean_diagnosis() if lean_diagnosis is not None else None
        state.lines = lines
    state.lean = stats
    lean_records = getattr(sink, "lean_records", None)
    state.records = lean_records() if lean_records is not None else None
