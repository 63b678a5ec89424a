"""
Statistics per primitive and per call site, in the manner of mutrace and the kernel's
lock_stat: plain integer updates on every event, figures computed only when asked.

Two kinds of waiting are kept apart, because they mean different things:

* *contention* (``wait_*``): an acquire of a lock, rlock, semaphore or Condition lock that had
  to wait because another thread held it. This is what costs, and what the report ranks by.
* *waiting for a signal* (``waited_*``): ``Condition.wait``, ``Event.wait``, ``Barrier.wait``,
  ``Queue.join``; and for queues the time blocked on a full queue (``put``) or an empty one
  (``get``). A worker idle on an empty queue is not a problem of the queue.

Mean, max and p99 of contention are over the acquisitions that waited (the 99th percentile
comes from a log-scale histogram with 8 buckets per power of two, so it is exact to 12.5%).

Thread safety: counters are updated without a lock of our own. The updates of a lock's
counters on "acquired" and "released" happen while the program holds that lock, and the rest
are single bytecode-level ``+=`` on ints, which the GIL does not interleave in practice. On a
free-threaded build, counts of concurrent operations may come out a little low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._core.event import Primitive, SyncEvent
from .._core.holds import Hold
from .._core.tally import Tally, count_contended, percentile
from .findings import Ref


#: Primitives with statistics of their own; more are pooled per creation site.
MAX_PRIMITIVES = 10_000
#: Holders (thread and site) that made others wait, remembered per primitive.
MAX_BLOCKERS = 64
#: Holders shown per primitive, and record holds kept.
KEEP_LONGEST = 3


class Stats:
    """Gathers the counters; :meth:`summary` turns them into :class:`PrimitiveStats`."""

    def __init__(self) -> None:
        self._tallies: dict[Primitive, Tally] = {}
        #: Past MAX_PRIMITIVES, one pool per creation site: (kind, file, line) -> _Pool.
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        #: Who made others wait, as lock_stat's contending-with points: per primitive,
        #: (holder's thread, where it took it) -> [waits it caused, their total ns, max ns].
        self._blockers: dict[Primitive, dict[tuple[str, str, int, str], list[int]]] = {}
        #: Per primitive, the last few record holds: (ns, thread, file, line, function).
        self._longest: dict[Primitive, list[tuple[int, str, str, int, str]]] = {}

    def tally(self, primitive: Primitive) -> Tally:
        tally = self._tallies.get(primitive)
        if tally is not None:
            return tally
        if len(self._tallies) < MAX_PRIMITIVES:
            tally = self._tallies[primitive] = Tally()
            tally.sites = {}
            tally.owner = self
            return tally
        return self._pool(primitive).tally

    def operations(self) -> int:
        """How many operations were counted: the watchdog's sign that the program moves."""
        tallies = [*list(self._tallies.values()), *(p.tally for p in list(self._pools.values()))]
        return sum(
            t.acquisitions + t.waits + t.notifies + t.sets + t.puts + t.gets + t.task_done
            for t in tallies
        )

    def _pool(self, primitive: Primitive) -> _Pool:
        key = (primitive.kind, primitive.file, primitive.line)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(primitive)
            pool.tally.owner = self
        if primitive.id > pool.newest:  # ids grow: this counts each primitive once, or less
            pool.newest = primitive.id
            pool.instances += 1
        return pool

    def acquired(self, event: SyncEvent, hold: Hold | None) -> None:
        """Count a successful acquire; point ``hold`` at the tallies its hold time goes to."""
        primitive = event.primitive
        tally = self._tallies.get(primitive)
        if tally is None:
            tally = self.tally(primitive)
        key = (event.file, event.line)
        site = tally.sites.get(key)  # type: ignore[union-attr]
        if site is None:
            site = tally.sites[key] = Tally(event.function)  # type: ignore[index]
        tally.acquisitions += 1
        site.acquisitions += 1
        depth = event.depth
        if depth is None or depth == 1:
            ident = event.thread_id
            if tally.last_owner != ident:
                if tally.last_owner:
                    tally.owner_changes += 1
                tally.last_owner = ident
        waited = event.waited_ns
        if waited is not None:
            count_contended(tally, site, waited)
        if hold is not None:
            hold.tally = tally
            hold.site_tally = site

    def handle(self, event: SyncEvent) -> None:
        """
        Count one event (the "waiting" ones are not counted: their end is). A successful
        acquire is counted by :meth:`acquired`, which the recorder calls with its hold.
        """
        op = event.op
        outcome = event.outcome
        if op == "acquire" and outcome == "acquired":
            self.acquired(event, None)
            return
        tally = self.tally(event.primitive)
        sites = tally.sites
        key = (event.file, event.line)
        site = sites.get(key)  # type: ignore[union-attr]
        if site is None:
            site = sites[key] = Tally(event.function)  # type: ignore[index]
        waited = event.waited_ns
        if op == "acquire":
            if outcome == "timeout":
                tally.timeouts += 1
                site.timeouts += 1
                if waited is not None:
                    count_contended(tally, site, waited)
            elif outcome == "busy":
                tally.failed += 1
                site.failed += 1
            else:
                tally.errors += 1
        elif op == "put":
            if outcome == "put":
                tally.puts += 1
                site.puts += 1
                tally.unfinished += 1
                size = event.qsize
                if size is not None and size > tally.max_size:
                    tally.max_size = size
                if waited is not None:
                    tally.full_waits += 1
                    tally.full_total += waited
                    site.full_waits += 1
                    site.full_total += waited
            elif outcome in ("full", "timeout"):
                tally.rejected += 1
                site.rejected += 1
            else:
                tally.errors += 1
        elif op == "get":
            if outcome == "got":
                tally.gets += 1
                site.gets += 1
            elif outcome in ("empty", "timeout"):
                tally.rejected += 1
                site.rejected += 1
            else:
                tally.errors += 1
            if waited is not None and outcome in ("got", "timeout"):
                tally.empty_waits += 1
                tally.empty_total += waited
                site.empty_waits += 1
                site.empty_total += waited
        elif op in ("wait", "wait_for", "join"):
            tally.waits += 1
            site.waits += 1
            if outcome == "timeout":
                tally.wait_timeouts += 1
                site.wait_timeouts += 1
            elif outcome == "broken":
                tally.broken += 1
            elif outcome == "error":
                tally.errors += 1
            if waited:
                tally.waited_total += waited
                site.waited_total += waited
                tally.waited_max = max(tally.waited_max, waited)
                site.waited_max = max(site.waited_max, waited)
        elif op in ("notify", "notify_all"):
            tally.notifies += 1
            site.notifies += 1
            tally.woken += event.waiters or 0
        elif op == "set":
            tally.sets += 1
            site.sets += 1
        elif op == "task_done":
            if outcome == "done":
                tally.task_done += 1
                site.task_done += 1
                if event.unfinished is not None:
                    tally.unfinished = event.unfinished
            else:
                tally.errors += 1

    def blocked_by(self, primitive: Primitive, holder: Hold, waited_ns: int) -> None:
        """A contended acquire waited ``waited_ns`` for ``holder`` (a rare path: no hurry)."""
        if primitive not in self._blockers and len(self._blockers) >= MAX_PRIMITIVES:
            return
        per = self._blockers.setdefault(primitive, {})
        key = (holder.thread_name, *holder.site)
        counts = per.get(key)
        if counts is None:
            if len(per) >= MAX_BLOCKERS:
                return
            counts = per[key] = [0, 0, 0]
        counts[0] += 1
        counts[1] += waited_ns
        counts[2] = max(counts[2], waited_ns)

    def hold_ended(self, hold: Hold, held_ns: int) -> None:
        tally = hold.tally
        site = hold.site_tally
        if tally is None or site is None:  # taken before these statistics began
            return
        tally.holds += 1
        tally.hold_total += held_ns
        if held_ns >= tally.hold_max and held_ns:  # a record: who held it, and where
            self.longest_hold(hold.primitive, held_ns, hold.thread_name, hold.site)
        tally.hold_max = max(tally.hold_max, held_ns)
        site.holds += 1
        site.hold_total += held_ns
        site.hold_max = max(site.hold_max, held_ns)

    def longest_hold(
        self, primitive: Primitive, held_ns: int, thread: str, site: tuple[str, int, str]
    ) -> None:
        record = (held_ns, thread, *site)
        longest = self._longest.get(primitive)
        if longest is None:
            if len(self._longest) < MAX_PRIMITIVES:
                self._longest[primitive] = [record]
        else:
            longest.append(record)
            del longest[:-KEEP_LONGEST]

    # -- reading ---------------------------------------------------------------------------

    def holders(self, primitive: Primitive) -> tuple[tuple[Holder, ...], tuple[Holder, ...]]:
        """Who made others wait for ``primitive`` (most waiting first), and its longest holds."""
        blockers = sorted(
            (
                Holder(thread, file, line, function, waits=n, total_wait_s=_s(total), max_s=_s(top))
                for (thread, file, line, function), (n, total, top) in list(
                    self._blockers.get(primitive, {}).items()
                )
            ),
            key=lambda h: h.total_wait_s,
            reverse=True,
        )
        longest = tuple(
            Holder(thread, file, line, function, max_s=_s(ns))
            for ns, thread, file, line, function in reversed(self._longest.get(primitive, []))
        )
        return tuple(blockers[:KEEP_LONGEST]), longest

    def find(self, primitive: Primitive) -> PrimitiveStats | None:
        tally = self._tallies.get(primitive)
        if tally is not None:
            return PrimitiveStats.of(primitive, tally, holders=self.holders(primitive))
        pool = self._pools.get((primitive.kind, primitive.file, primitive.line))
        if pool is None:
            return None
        return PrimitiveStats.of(pool.primitive, pool.tally, instances=pool.instances)

    def summary(self) -> list[PrimitiveStats]:
        """Every primitive seen, as frozen figures (a pooled class as one entry)."""
        result = [
            PrimitiveStats.of(p, t, holders=self.holders(p)) for p, t in list(self._tallies.items())
        ]
        for pool in list(self._pools.values()):
            result.append(PrimitiveStats.of(pool.primitive, pool.tally, instances=pool.instances))
        return result


class _Pool:
    """The primitives of one creation site past the limit, counted together."""

    __slots__ = ("instances", "newest", "primitive", "tally")

    def __init__(self, primitive: Primitive) -> None:
        self.primitive = primitive
        self.tally = Tally()
        self.tally.sites = {}
        self.newest = 0
        self.instances = 0


def _s(ns: int | float) -> float:
    return round(ns / 1e9, 9)


#: Figures shown per kind in dicts and tables (the others stay 0 for that kind).
_LOCK_FIGURES = (
    "acquisitions",
    "contended",
    "owner_changes",
    "timeouts",
    "failed",
    "total_wait_s",
    "mean_wait_s",
    "max_wait_s",
    "p99_wait_s",
    "holds",
    "total_hold_s",
    "mean_hold_s",
    "max_hold_s",
)
_WAIT_FIGURES = ("waits", "wait_timeouts", "total_waited_s", "max_waited_s")
_KIND_FIGURES: dict[str, tuple[str, ...]] = {
    "lock": _LOCK_FIGURES,
    "rlock": _LOCK_FIGURES,
    "semaphore": _LOCK_FIGURES,
    "condition": (*_LOCK_FIGURES, *_WAIT_FIGURES, "notifies", "woken"),
    "event": (*_WAIT_FIGURES, "sets"),
    "barrier": (*_WAIT_FIGURES, "broken"),
    "queue": (
        "puts",
        "gets",
        "max_size",
        "full_waits",
        "blocked_full_s",
        "empty_waits",
        "blocked_empty_s",
        "rejected",
        "task_done",
        "unfinished",
        *_WAIT_FIGURES,
    ),
}


@dataclass(frozen=True)
class Holder:
    """
    A thread and the place it took a primitive at: one that made others wait (``waits``
    acquires waited ``total_wait_s`` for it, ``max_s`` at most), or one of its longest holds
    (``max_s``).

    .. versionadded:: Unreleased
    """

    thread: str
    file: str
    line: int
    function: str
    waits: int = 0
    total_wait_s: float = 0.0
    max_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value or key == "line"}


@dataclass(frozen=True)
class SiteStats:
    """
    The figures of one primitive at one call site (where the operation was called).

    .. versionadded:: 0.1.0
    """

    file: str
    line: int
    function: str
    acquisitions: int = 0
    contended: int = 0
    timeouts: int = 0
    failed: int = 0
    total_wait_s: float = 0.0
    max_wait_s: float = 0.0
    holds: int = 0
    total_hold_s: float = 0.0
    max_hold_s: float = 0.0
    waits: int = 0
    wait_timeouts: int = 0
    total_waited_s: float = 0.0
    max_waited_s: float = 0.0
    notifies: int = 0
    sets: int = 0
    puts: int = 0
    gets: int = 0
    full_waits: int = 0
    blocked_full_s: float = 0.0
    empty_waits: int = 0
    blocked_empty_s: float = 0.0
    rejected: int = 0
    task_done: int = 0

    @property
    def operations(self) -> int:
        return (
            self.acquisitions
            + self.timeouts
            + self.failed
            + self.waits
            + self.notifies
            + self.sets
            + self.puts
            + self.gets
            + self.rejected
            + self.task_done
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self.__dict__.items()
            if key in ("file", "line", "function") or value
        }


@dataclass(frozen=True)
class PrimitiveStats:
    """
    The figures of one primitive (times in seconds). Returned by ``rec.stats(...)``.

    Contention (``contended``, ``*_wait_s``) counts acquisitions that had to wait for another
    thread; mean, max and p99 are over those waits. Hold times run from an acquire to the
    release that frees the primitive (an RLock's outermost pair; a Condition's hold stops while
    it waits). ``waits``/``*_waited_s`` are Condition, Event and Barrier waits and
    ``Queue.join``; ``blocked_full_s``/``blocked_empty_s`` the time queue puts and gets spent
    blocked. ``unfinished`` is ``Queue.unfinished_tasks`` as last seen.

    .. versionadded:: 0.1.0
    """

    primitive: Ref
    #: More than 1 for the primitives of one creation site pooled past the limit.
    instances: int = 1
    acquisitions: int = 0
    contended: int = 0
    owner_changes: int = 0
    timeouts: int = 0
    failed: int = 0
    total_wait_s: float = 0.0
    mean_wait_s: float = 0.0
    max_wait_s: float = 0.0
    p99_wait_s: float = 0.0
    holds: int = 0
    total_hold_s: float = 0.0
    mean_hold_s: float = 0.0
    max_hold_s: float = 0.0
    waits: int = 0
    wait_timeouts: int = 0
    total_waited_s: float = 0.0
    max_waited_s: float = 0.0
    notifies: int = 0
    woken: int = 0
    sets: int = 0
    broken: int = 0
    puts: int = 0
    gets: int = 0
    max_size: int = 0
    full_waits: int = 0
    blocked_full_s: float = 0.0
    empty_waits: int = 0
    blocked_empty_s: float = 0.0
    rejected: int = 0
    task_done: int = 0
    unfinished: int | None = None
    errors: int = 0
    sites: tuple[SiteStats, ...] = field(default=(), repr=False)
    #: Who made others wait for it, most waiting caused first (lock_stat's contending-with).
    made_wait: tuple[Holder, ...] = field(default=(), repr=False)
    #: Its longest holds, longest first.
    longest_holds: tuple[Holder, ...] = field(default=(), repr=False)
    #: Waits for it still in progress when the report was made (Ctrl-C, a deadlock's exit),
    #: and the longest of them so far.
    in_progress: int = 0
    in_progress_max_s: float = 0.0

    @property
    def name(self) -> str:
        return self.primitive.name

    @property
    def kind(self) -> str:
        return self.primitive.kind

    @property
    def attempts(self) -> int:
        """Acquisitions plus acquires that timed out."""
        return self.acquisitions + self.timeouts

    @property
    def contended_ratio(self) -> float:
        """The share of acquire attempts that had to wait, from 0 to 1."""
        return self.contended / self.attempts if self.attempts else 0.0

    @property
    def operations(self) -> int:
        return sum(site.operations for site in self.sites)

    def top_site(self) -> SiteStats | None:
        """Where it cost most: the site with the most contention, else the busiest one."""
        if not self.sites:
            return None
        return max(
            self.sites,
            key=lambda s: (s.total_wait_s, s.total_hold_s, s.blocked_full_s, s.operations),
        )

    @classmethod
    def of(
        cls,
        primitive: Primitive,
        tally: Tally,
        instances: int = 1,
        holders: tuple[tuple[Holder, ...], tuple[Holder, ...]] = ((), ()),
    ) -> PrimitiveStats:
        t = tally
        contended = t.contended
        sites = tuple(
            SiteStats(
                file,
                line,
                s.function,
                acquisitions=s.acquisitions,
                contended=s.contended,
                timeouts=s.timeouts,
                failed=s.failed,
                total_wait_s=_s(s.wait_total),
                max_wait_s=_s(s.wait_max),
                holds=s.holds,
                total_hold_s=_s(s.hold_total),
                max_hold_s=_s(s.hold_max),
                waits=s.waits,
                wait_timeouts=s.wait_timeouts,
                total_waited_s=_s(s.waited_total),
                max_waited_s=_s(s.waited_max),
                notifies=s.notifies,
                sets=s.sets,
                puts=s.puts,
                gets=s.gets,
                full_waits=s.full_waits,
                blocked_full_s=_s(s.full_total),
                empty_waits=s.empty_waits,
                blocked_empty_s=_s(s.empty_total),
                rejected=s.rejected,
                task_done=s.task_done,
            )
            for (file, line), s in list((t.sites or {}).items())
        )
        has_task_done = primitive.kind == "queue" and primitive.type_name != "SimpleQueue"
        return cls(
            Ref.of(primitive),
            instances=instances,
            acquisitions=t.acquisitions,
            contended=contended,
            owner_changes=t.owner_changes,
            timeouts=t.timeouts,
            failed=t.failed,
            total_wait_s=_s(t.wait_total),
            mean_wait_s=_s(t.wait_total / contended) if contended else 0.0,
            max_wait_s=_s(t.wait_max),
            p99_wait_s=_s(min(percentile(t.histogram, contended, 0.99), t.wait_max)),
            holds=t.holds,
            total_hold_s=_s(t.hold_total),
            mean_hold_s=_s(t.hold_total / t.holds) if t.holds else 0.0,
            max_hold_s=_s(t.hold_max),
            waits=t.waits,
            wait_timeouts=t.wait_timeouts,
            total_waited_s=_s(t.waited_total),
            max_waited_s=_s(t.waited_max),
            notifies=t.notifies,
            woken=t.woken,
            sets=t.sets,
            broken=t.broken,
            puts=t.puts,
            gets=t.gets,
            max_size=t.max_size,
            full_waits=t.full_waits,
            blocked_full_s=_s(t.full_total),
            empty_waits=t.empty_waits,
            blocked_empty_s=_s(t.empty_total),
            rejected=t.rejected,
            task_done=t.task_done,
            unfinished=max(t.unfinished, 0) if has_task_done else None,
            errors=t.errors,
            sites=sites,
            made_wait=holders[0],
            longest_holds=holders[1],
        )

    def to_dict(self) -> dict[str, Any]:
        """The figures that apply to its kind, and its call sites, busiest first."""
        data: dict[str, Any] = self.primitive.to_dict()
        if self.instances > 1:
            data["instances"] = self.instances
        for name in _KIND_FIGURES.get(self.kind, ()):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.kind in ("lock", "rlock", "semaphore", "condition"):
            data["contended_ratio"] = round(self.contended_ratio, 4)
        if self.errors:
            data["errors"] = self.errors
        ranked = sorted(
            self.sites,
            key=lambda s: (s.total_wait_s, s.total_hold_s, s.operations),
            reverse=True,
        )
        data["sites"] = [site.to_dict() for site in ranked]
        if self.made_wait:
            data["made_wait"] = [holder.to_dict() for holder in self.made_wait]
        if self.longest_holds:
            data["longest_holds"] = [holder.to_dict() for holder in self.longest_holds]
        if self.in_progress:
            data["in_progress"] = self.in_progress
            data["in_progress_max_s"] = self.in_progress_max_s
        return data
