"""
The counters of one primitive and of each of its call sites, and the rules that update them.

They live in the core because two layers write them: the statistics sink, from events, and
the lean paths of the interception, in place, when the statistics are all that listens. The
figures are computed from them only when asked (see ``_sinks.stats``).
"""

from __future__ import annotations


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from .event import Primitive
    from .leanholds import TakenAt
else:
    Protocol = object  # a protocol is for type checkers; importing typing costs start-up


class TallyBook(Protocol):
    """What the lean paths count into: the tally of each primitive, made on first use."""

    def tally(self, primitive: Primitive) -> Tally: ...

    def longest_hold(
        self, primitive: Primitive, held_ns: int, thread: str, site: tuple[str, int, str] | TakenAt
    ) -> None:
        """A hold of ``primitive`` as long as its longest so far: who, and where it was taken."""


_INT_FIELDS = (
    # Locks, rlocks, semaphores, Condition locks.
    "acquisitions",
    "contended",
    "owner_changes",
    "timeouts",
    "failed",
    "wait_total",
    "wait_max",
    "holds",
    "hold_total",
    "hold_max",
    # Condition / Event / Barrier waits, Queue.join.
    "waits",
    "wait_timeouts",
    "waited_total",
    "waited_max",
    "notifies",
    "woken",
    "sets",
    "broken",
    # Queues.
    "puts",
    "gets",
    "max_size",
    "full_waits",
    "full_total",
    "empty_waits",
    "empty_total",
    "rejected",
    "task_done",
    "unfinished",
    "errors",
    "last_owner",
)


_NO_SITE_YET: tuple[object, None] = (None, None)


class Tally:
    """Counters of one primitive, or of one call site of it."""

    __slots__ = (*_INT_FIELDS, "function", "histogram", "last_site", "owner", "sites")

    acquisitions: int
    contended: int
    owner_changes: int
    timeouts: int
    failed: int
    wait_total: int
    wait_max: int
    holds: int
    hold_total: int
    hold_max: int
    waits: int
    wait_timeouts: int
    waited_total: int
    waited_max: int
    notifies: int
    woken: int
    sets: int
    broken: int
    puts: int
    gets: int
    max_size: int
    full_waits: int
    full_total: int
    empty_waits: int
    empty_total: int
    rejected: int
    task_done: int
    unfinished: int
    errors: int
    last_owner: int

    def __init__(self, function: str = "") -> None:
        # Every field of _INT_FIELDS, written out: a loop of setattr() took 1.1 us a tally
        # (one per primitive and per call site, made at its first operation), this 0.3.
        self.acquisitions = self.contended = self.owner_changes = self.timeouts = self.failed = 0
        self.wait_total = self.wait_max = self.holds = self.hold_total = self.hold_max = 0
        self.waits = self.wait_timeouts = self.waited_total = self.waited_max = self.notifies = 0
        self.woken = self.sets = self.broken = self.puts = self.gets = 0
        self.max_size = -1  # no size read yet (one only the queue's own code tells never is)
        self.full_waits = self.full_total = self.empty_waits = self.empty_total = self.rejected = 0
        self.task_done = self.unfinished = self.errors = self.last_owner = 0
        self.function = function
        #: Contention waits by log-scale bucket (see :func:`bucket`); primitives only.
        self.histogram: dict[int, int] | None = None
        #: (file, line) -> Tally of the operations called from there; primitives only.
        self.sites: dict[tuple[str, int], Tally] | None = None
        #: The site ``site_tally`` found last, and the ``call_site()`` tuple it was found for.
        self.last_site: tuple[object, Tally | None] = _NO_SITE_YET
        #: The book it belongs to: a lock proxy keeps its tally and checks this (see lean).
        self.owner: TallyBook | None = None


def bucket(ns: int) -> int:
    """The histogram bucket of a wait: 8 per power of two, in increasing order of time."""
    bits = ns.bit_length()
    if bits <= 4:
        return ns
    return (bits << 3) | ((ns >> (bits - 4)) & 7)


def bucket_ceiling(index: int) -> int:
    """The largest wait, in ns, that falls in bucket ``index``."""
    if index < 16:
        return index
    bits, step = index >> 3, index & 7
    return ((9 + step) << (bits - 4)) - 1


def percentile(histogram: dict[int, int] | None, count: int, fraction: float) -> int:
    """The wait that ``fraction`` of the ``count`` waits did not exceed (a bucket's ceiling)."""
    if not histogram or not count:
        return 0
    rank = max(1, -int(-fraction * count // 1))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_ceiling(index)
    return bucket_ceiling(max(histogram))


def site_tally(tally: Tally, where: tuple[str, int, str]) -> Tally:
    """
    The tally of one call site of ``tally``'s primitive, made on first use; ``where`` is the
    site as ``call_site()`` gives it, one tuple a site, so the site of the last call is known
    by identity (a loop's next call: about 1,700 instructions fewer than the key and lookup).
    """
    last_where, last = tally.last_site
    if last_where is where and last is not None:
        return last
    sites = tally.sites
    if sites is None:
        sites = tally.sites = {}
    file, line, function = where
    site = sites.get((file, line))
    if site is None:
        # setdefault: two threads new to a site at once keep one tally, the one kept below
        # too (a store after a look-up could replace the other's, which it then kept).
        site = sites.setdefault((file, line), Tally(function))
    tally.last_site = (where, site)  # one write: a thread in between reads either, whole
    return site


def count_contended(tally: Tally, site: Tally, waited: int) -> None:
    """Count an acquisition that had to wait ``waited`` ns for another thread."""
    tally.contended += 1
    tally.wait_total += waited
    tally.wait_max = max(tally.wait_max, waited)
    histogram = tally.histogram
    if histogram is None:
        histogram = tally.histogram = {}
    index = bucket(waited)
    histogram[index] = histogram.get(index, 0) + 1
    site.contended += 1
    site.wait_total += waited
    site.wait_max = max(site.wait_max, waited)
