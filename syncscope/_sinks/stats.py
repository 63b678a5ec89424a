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

from .._core.event import SIGNAL_WAITS, Primitive, SyncEvent
from .._core.holds import Hold
from .._core.leanholds import TakenAt, as_site
from .._core.records import whole
from .._core.tally import Tally, count_contended


TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    from .figures import Holder, PrimitiveStats


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
        #: Per primitive, the last few record holds: (ns, thread, where it was taken).
        self._longest: dict[Primitive, list[tuple[int, str, tuple[str, int, str] | TakenAt]]] = {}

    def let_go(self) -> None:
        """Forget every count (see ``Recorder.let_go``); a count made later starts afresh."""
        self._tallies, self._pools, self._blockers, self._longest = {}, {}, {}, {}

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
        if site is None:  # one tally for threads new to the site at once (see site_tally)
            site = tally.sites.setdefault(key, Tally(event.function))  # type: ignore[union-attr]
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
        if site is None:  # one tally for threads new to the site at once (see site_tally)
            site = sites.setdefault(key, Tally(event.function))  # type: ignore[union-attr]
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
        elif op in SIGNAL_WAITS:
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
        self, primitive: Primitive, held_ns: int, thread: str, site: tuple[str, int, str] | TakenAt
    ) -> None:
        """
        A hold of ``primitive`` as long as its longest: kept, with its thread and place (a
        lean hold's as :func:`~syncscope._core.leanholds.place_of` gives it).
        """
        record = (held_ns, thread, site)
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
        from . import figures

        return self._holders(primitive, figures)

    def _holders(
        self, primitive: Primitive, figures: ModuleType
    ) -> tuple[tuple[Holder, ...], tuple[Holder, ...]]:
        # ``figures``: the module, imported by the caller (a summary of 10,000 primitives
        # imported it twice each: a fifth of its time).
        found = self._blockers.get(primitive)
        kept = self._longest.get(primitive)
        if not found and not kept:
            return (), ()
        holder = figures.Holder
        s = figures.seconds
        blockers = ()
        if found:
            blockers = tuple(
                sorted(
                    (
                        holder(
                            thread,
                            file,
                            line,
                            function,
                            waits=n,
                            total_wait_s=s(total),
                            max_s=s(top),
                        )
                        for (thread, file, line, function), (n, total, top) in list(found.items())
                    ),
                    key=lambda h: h.total_wait_s,
                    reverse=True,
                )[:KEEP_LONGEST]
            )
        # Made whole (see records.whole): a report of 10,000 primitives makes one each.
        longest = []
        for ns, thread, place in reversed(kept or ()):
            file, line, function = as_site(place)
            row = {
                "thread": thread,
                "file": file,
                "line": line,
                "function": function,
                "waits": 0,
                "total_wait_s": 0.0,
                "max_s": s(ns),
            }
            longest.append(whole(holder, row))
        return blockers, tuple(longest)

    def find(self, primitive: Primitive) -> PrimitiveStats | None:
        from .figures import PrimitiveStats

        tally = self._tallies.get(primitive)
        if tally is not None:
            return PrimitiveStats.of(primitive, tally, holders=self.holders(primitive))
        pool = self._pools.get((primitive.kind, primitive.file, primitive.line))
        if pool is None:
            return None
        return PrimitiveStats.of(pool.primitive, pool.tally, instances=pool.instances)

    def summary(self) -> list[PrimitiveStats]:
        """Every primitive seen, as frozen figures (a pooled class as one entry)."""
        from . import figures

        of = figures.PrimitiveStats.of
        result = [
            of(p, t, holders=self._holders(p, figures)) for p, t in list(self._tallies.items())
        ]
        for pool in list(self._pools.values()):
            result.append(of(pool.primitive, pool.tally, instances=pool.instances))
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
