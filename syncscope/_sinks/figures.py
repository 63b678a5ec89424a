"""
What a run's statistics come to: the frozen figures of each primitive and call site
(:class:`PrimitiveStats`, :class:`SiteStats`, :class:`Holder`), made from the counters of
:mod:`syncscope._sinks.stats` when asked (a report, ``rec.stats(...)``), never while the
program runs: this module is imported then, not at start-up.
"""

from __future__ import annotations

from .._core.event import Primitive
from .._core.records import field, fields, record, whole
from .._core.tally import Tally, percentile
from .refs import Ref


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def seconds(ns: int | float) -> float:
    """Nanoseconds as seconds, rounded to the nanosecond."""
    if type(ns) is int:
        # The division is correctly rounded: what round() would give, at a tenth of its cost
        # (a report rounded four figures a lock, most of its round() calls).
        return ns / 1e9
    return round(ns / 1e9, 9) if ns else 0.0


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
    "future": _WAIT_FIGURES,  # result(), exception(), wait(), as_completed()
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


@record(kw_only=False)
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


@record(kw_only=False)
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


def _site_row(file: str, line: int, s: Tally) -> SiteStats:
    """The figures of one call site, made whole (see :meth:`PrimitiveStats.of`)."""
    row = _SITE_ROW.copy()
    row["file"], row["line"], row["function"] = file, line, s.function
    for name in _SITE_COUNTS:
        row[name] = getattr(s, name)
    for name, field_name in _TIMES:
        ns = getattr(s, name)
        if ns:
            row[field_name] = seconds(ns)
    return whole(SiteStats, row)


@record(kw_only=False)
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
    #: The most items seen in the queue after a put; None when puts were made and its size
    #: was never read (0 for a queue nothing was put in, and for figures made without a tally).
    max_size: int | None = 0
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
    #: and the longest of them so far: to acquire it, or to put into it (a consumer idle in a
    #: queue's get() keeps no one from going on: not counted).
    in_progress: int = 0
    in_progress_max_s: float = 0.0
    #: The same for waits for a signal (Condition, Event and Barrier waits, ``Queue.join``):
    #: a thread that waits for ever for a notify is a hang, not a wait for the lock.
    signal_waits_in_progress: int = 0
    signal_waits_in_progress_max_s: float = 0.0

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

    def top_taken_site(self) -> SiteStats | None:
        """
        Where it was mostly taken: of the sites that took it, the one it was held longest
        from, else the one that took it most. A wait's site is not one of them (under ``-q``
        the sites of uncontended acquires are not looked up: a Condition's wait was its only
        site, and the report said the lock was mostly taken there).
        """
        taken = [site for site in self.sites if site.acquisitions]
        if not taken:
            return None
        return max(taken, key=lambda s: (s.total_hold_s, s.acquisitions))

    @classmethod
    def of(
        cls,
        primitive: Primitive,
        tally: Tally,
        instances: int = 1,
        holders: tuple[tuple[Holder, ...], tuple[Holder, ...]] = ((), ()),
    ) -> PrimitiveStats:
        # A copy of every field at its default, in order, with the figures put in: a row
        # made whole (see records.whole), which a test checks against the keyword
        # construction. Not a display of its 41 fields, which is built 16 at a time, each
        # merged into the last: a report makes 10,000 rows. A time that is 0 stays the
        # default's 0.0: most are, and a call each cost as much.
        t = tally
        contended = t.contended
        row = _PRIMITIVE_ROW.copy()
        row["primitive"] = Ref.of(primitive)
        row["instances"] = instances
        row["acquisitions"] = t.acquisitions
        row["contended"] = contended
        row["owner_changes"] = t.owner_changes
        row["timeouts"] = t.timeouts
        row["failed"] = t.failed
        row["holds"] = t.holds
        row["waits"] = t.waits
        row["wait_timeouts"] = t.wait_timeouts
        row["notifies"] = t.notifies
        row["woken"] = t.woken
        row["sets"] = t.sets
        row["broken"] = t.broken
        row["puts"] = t.puts
        row["gets"] = t.gets
        # Read after each put: none read after puts is a size only the queue's code tells.
        row["max_size"] = t.max_size if t.max_size >= 0 else None if t.puts else 0
        row["full_waits"] = t.full_waits
        row["empty_waits"] = t.empty_waits
        row["rejected"] = t.rejected
        row["task_done"] = t.task_done
        row["errors"] = t.errors
        wait_total = t.wait_total
        if wait_total:
            row["total_wait_s"] = seconds(wait_total)
            if contended:
                row["mean_wait_s"] = seconds(wait_total / contended)
        if t.wait_max:
            row["max_wait_s"] = seconds(t.wait_max)
        if contended:
            row["p99_wait_s"] = seconds(min(percentile(t.histogram, contended, 0.99), t.wait_max))
        hold_total = t.hold_total
        if hold_total:
            row["total_hold_s"] = seconds(hold_total)
            if t.holds:
                row["mean_hold_s"] = seconds(hold_total / t.holds)
        if t.hold_max:
            row["max_hold_s"] = seconds(t.hold_max)
        if t.waited_total:
            row["total_waited_s"] = seconds(t.waited_total)
        if t.waited_max:
            row["max_waited_s"] = seconds(t.waited_max)
        if t.full_total:
            row["blocked_full_s"] = seconds(t.full_total)
        if t.empty_total:
            row["blocked_empty_s"] = seconds(t.empty_total)
        if primitive.kind == "queue" and primitive.type_name != "SimpleQueue":
            row["unfinished"] = max(t.unfinished, 0)
        found = t.sites
        if found:
            row["sites"] = tuple(
                _site_row(file, line, s) for (file, line), s in list(found.items())
            )
        row["made_wait"], row["longest_holds"] = holders
        return whole(cls, row)

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
        if self.signal_waits_in_progress:
            data["signal_waits_in_progress"] = self.signal_waits_in_progress
            data["signal_waits_in_progress_max_s"] = self.signal_waits_in_progress_max_s
        return data


#: A site's counts, as its tally has them (a site row is made less often than a primitive's,
#: which stores each of its own in a line of its own).
_SITE_COUNTS = (
    "acquisitions",
    "contended",
    "timeouts",
    "failed",
    "holds",
    "waits",
    "wait_timeouts",
    "notifies",
    "sets",
    "puts",
    "gets",
    "full_waits",
    "empty_waits",
    "rejected",
    "task_done",
)
#: A site's times: its tally's nanoseconds, and the row's field in seconds.
_TIMES = (
    ("wait_total", "total_wait_s"),
    ("wait_max", "max_wait_s"),
    ("hold_total", "total_hold_s"),
    ("hold_max", "max_hold_s"),
    ("waited_total", "total_waited_s"),
    ("waited_max", "max_waited_s"),
    ("full_total", "blocked_full_s"),
    ("empty_total", "blocked_empty_s"),
)
#: Every field of a row at its default, in order: each row starts as a copy of these (see
#: PrimitiveStats.of); a required field's mark is always replaced.
_SITE_ROW: dict[str, Any] = {item.name: item.default for item in fields(SiteStats)}
_PRIMITIVE_ROW: dict[str, Any] = {item.name: item.default for item in fields(PrimitiveStats)}
