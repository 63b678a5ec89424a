"""
What the diagnosis finds: lock-order inversions, deadlocks, hangs and slow spots, as frozen
records that read as text (for the terminal) and as plain dicts (for the JSON report).

A record never refers to live objects: primitives are copied into :class:`Ref` and stacks
into ``(file, line, function)`` tuples when the finding is made.
"""

from __future__ import annotations

from .._core.output import format_duration
from .._core.records import field, record
from .refs import (
    STACK_LIMIT,
    Frame,
    Ref,
    Site,
    format_stack,
    rounded_seconds,
    short_path,
    site_dict,
    stack_list,
    stack_of,
    where,
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "STACK_LIMIT",
    "BlockedThread",
    "Deadlock",
    "Frame",
    "Hang",
    "HeldBy",
    "Inversion",
    "Ref",
    "Site",
    "SlowSpot",
    "Taken",
    "format_stack",
    "short_path",
    "stack_of",
    "where",
]


@record(kw_only=False)
class Taken:
    """One edge of the lock-order graph: ``then`` taken while ``first`` was held."""

    thread: str
    first: Ref
    first_site: Site
    then: Ref
    then_site: Site
    #: Where ``then`` was taken, outermost first.
    stack: tuple[Frame, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread": self.thread,
            "held": self.first.to_dict(),
            "held_taken_at": site_dict(self.first_site),
            "acquired": self.then.to_dict(),
            "acquired_at": site_dict(self.then_site),
            "stack": stack_list(self.stack),
        }


@record(kw_only=False)
class Inversion:
    """
    Locks taken in an order that can deadlock: each edge's ``then`` is the next edge's
    ``first``, and the last edge's ``then`` is the first edge's ``first``.

    .. versionadded:: 0.1.0
    """

    edges: tuple[Taken, ...]
    #: Two locks created at the same place (two objects of one class) nested both ways.
    same_site: bool = False
    #: What was running when it was found (the pytest plugin puts the test's id here).
    context: str | None = field(default=None, compare=False)
    #: A lock held at every sighting of every order of the cycle: it cannot deadlock while
    #: every path takes it first.
    guarded_by: Ref | None = None

    @property
    def locks(self) -> tuple[Ref, ...]:
        return tuple(edge.first for edge in self.edges)

    def text(self) -> str:
        locks = self.locks
        if self.guarded_by is not None:
            names = ", ".join(ref.label for ref in locks[:-1]) + f" and {locks[-1].label}"
            gate = self.guarded_by.label
            orders = "in both orders" if len(locks) == 2 else "in orders that form a cycle"
            head = (
                f"syncscope: guarded lock order: {names} are taken {orders}, always "
                f"under {gate} (cannot deadlock while every path takes {gate} first)"
            )
            lines = [head]
            for edge in self.edges:
                lines.append(
                    f"  {edge.thread} took {edge.first.label} at {where(edge.first_site)}, "
                    f"then {edge.then.label} at {where(edge.then_site)}"
                )
            return "\n".join(lines)
        if self.same_site and len(locks) == 2:
            head = (
                f"syncscope: possible deadlock: two {locks[0].kind}s created at "
                f"{locks[0].created_at} are taken in both orders ({locks[0].label}, "
                f"{locks[1].label})"
            )
        elif self.same_site:  # around a ring: the dining philosophers' forks
            head = (
                f"syncscope: possible deadlock: {len(locks)} {locks[0].kind}s created at "
                f"{locks[0].created_at} are taken in orders that form a cycle ("
                + ", ".join(ref.label for ref in locks)
                + ")"
            )
        else:
            names = ", ".join(ref.label for ref in locks[:-1]) + f" and {locks[-1].label}"
            head = f"syncscope: possible deadlock: lock-order inversion between {names}"
        lines = [
            head,
            "  (these orders form a cycle: threads running them at the same time can deadlock)",
        ]
        for edge in self.edges:
            lines.append(
                f"  {edge.thread} took {edge.first.label} at {where(edge.first_site)}, "
                f"then {edge.then.label} at {where(edge.then_site)}"
            )
            lines += format_stack(edge.stack, "      ")
            finalizer = next((f for f in reversed(edge.stack) if f[2] == "__del__"), None)
            if finalizer is not None:
                # A finalizer runs on whichever thread frees its object (the last reference
                # dropped, or the collector), inside whatever that thread holds: an order
                # the program never wrote, often harmless. Said so that a user can weigh it;
                # an edge keeps its first sighting's stack, so "first seen" (later sightings
                # of the order may be on a live object).
                file, line, _ = finalizer
                lines.append(
                    f"      (first seen inside a finalizer, __del__ at {short_path(file)}:"
                    f"{line}: it runs on whichever thread frees its object, under whatever "
                    "that thread holds; a lock only that object reached cannot be held by "
                    "another thread then)"
                )
        if not self.same_site:
            lines.append(
                "  created at: " + ", ".join(f"{ref.label} {ref.created_at}" for ref in locks)
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "locks": [ref.to_dict() for ref in self.locks],
            "same_site": self.same_site,
            "edges": [edge.to_dict() for edge in self.edges],
            "guarded_by": None if self.guarded_by is None else self.guarded_by.to_dict(),
            "context": self.context,
        }


@record(kw_only=False)
class BlockedThread:
    """One thread in a deadlock or a hang: what it waits for, what it holds, its stack."""

    name: str
    ident: int
    #: The watched primitive it waits for; None when it is blocked in something unwatched.
    waits_for: Ref | None
    op: str | None
    wait_site: Site | None
    waiting_ns: int | None
    #: The threads holding what it waits for.
    held_by: tuple[str, ...]
    #: (primitive, where it was taken, for how long in ns).
    holds: tuple[tuple[Ref, Site, int], ...]
    stack: tuple[Frame, ...]
    #: What can be told of why nothing lets it go on (a hang's cause), one line per fact.
    cause: tuple[str, ...] = ()
    #: The holders of what it waits for have exited.
    holders_exited: bool = False

    def lines(self, behind: bool = False) -> list[str]:
        if self.waits_for is None:
            where_now = where(self.stack[-1]) if self.stack else "an unknown place"
            head = f'  "{self.name}" is blocked outside syncscope\'s view, at {where_now}'
        else:
            verb = _WAIT_VERBS.get((self.waits_for.kind, self.op or ""), "waits for")
            head = (
                f'  "{self.name}" {verb} {self.waits_for.label} at {where(self.wait_site)}'
                f" (for {format_duration(self.waiting_ns or 0)})"
            )
            own = next((site for ref, site, _ in self.holds if ref == self.waits_for), None)
            if self.held_by == (self.name,) and own is not None:
                head += f", which it took itself at {where(own)}"
            elif self.held_by:
                holders = ", ".join(f'"{name}"' for name in self.held_by)
                run = self.waits_for.kind in ("future", "thread")
                head += f", run by {holders}" if run else f", held by {holders}"
                if self.holders_exited:
                    head += " (exited)"
            if behind:
                head += " (blocked behind the deadlock)"
        lines = [head]
        lines += [f"    {line}" for line in self.cause]
        for ref, site, held_ns in self.holds:
            lines.append(
                f"    holds {ref.label}, taken at {where(site)} ({format_duration(held_ns)} ago)"
            )
        if self.stack:
            lines.append("    stack (most recent call last):")
            lines += format_stack(self.stack, "      ")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread": self.name,
            "thread_id": self.ident,
            "waits_for": None if self.waits_for is None else self.waits_for.to_dict(),
            "op": self.op,
            "wait_site": site_dict(self.wait_site),
            "waiting_s": None if self.waiting_ns is None else rounded_seconds(self.waiting_ns),
            "held_by": list(self.held_by),
            "holds": [
                {
                    "primitive": ref.to_dict(),
                    "taken_at": site_dict(site),
                    "held_s": rounded_seconds(ns),
                }
                for ref, site, ns in self.holds
            ],
            "stack": stack_list(self.stack),
            "cause": list(self.cause),
        }


_WAIT_VERBS = {
    ("queue", "get"): "waits for an item from",
    ("queue", "put"): "waits for room in",
    ("queue", "join"): "waits for every task of",
    ("event", "wait"): "waits for",
    ("condition", "wait"): "waits for a notify on",
    ("condition", "wait_for"): "waits for a notify on",
    ("barrier", "wait"): "waits at",
    ("future", "wait"): "waits for the result of",
    ("thread", "join"): "waits for the end of",
}


@record(kw_only=False)
class Deadlock:
    """
    Threads that wait for each other and can never go on.

    ``threads[:cycle]`` form the cycle, each waiting for what the next one holds; the rest
    wait for something a thread of the cycle holds.

    .. versionadded:: 0.1.0
    """

    threads: tuple[BlockedThread, ...]
    cycle: int
    context: str | None = field(default=None, compare=False)
    #: ``cycle`` (threads each waiting for what the next holds), ``self`` (a thread waiting
    #: for a Lock it holds), ``held`` (a thread waiting for a signal while holding a lock that
    #: the threads that could give the signal wait for) or ``pool`` (a pool's task waiting for
    #: a task queued behind it).
    kind: str = "cycle"
    #: One more line under the head: why it is a deadlock when it might look like none.
    note: str | None = None

    def text(self) -> str:
        count = self.cycle
        first = self.threads[0]
        if self.kind == "held" and first.waits_for is not None:
            held = ", ".join(ref.label for ref, _, _ in first.holds)
            head = (
                f'syncscope: deadlock: "{first.name}" waits on {first.waits_for.label} while '
                f"holding {held}, which the threads that could wake it wait for"
            )
        elif self.kind == "pool":
            workers = (
                "1 busy worker, waiting" if count == 1 else f"{count} busy workers, each waiting"
            )
            head = (
                f"syncscope: deadlock: pool starvation: {workers} for a task queued behind it "
                "on the same pool"
            )
        elif count == 1:
            head = "syncscope: deadlock: a thread waits for a lock it holds itself"
        else:
            head = f"syncscope: deadlock: {count} threads wait for each other and will never go on"
        lines = [head]
        if self.note:
            lines.append(f"  ({self.note})")
        for index, thread in enumerate(self.threads):
            lines += thread.lines(behind=index >= self.cycle)
        refs: dict[int, Ref] = {}
        for thread in self.threads:
            if thread.waits_for is not None and thread.waits_for.kind != "thread":
                refs.setdefault(thread.waits_for.id, thread.waits_for)
            for ref, _, _ in thread.holds:
                refs.setdefault(ref.id, ref)
        lines.append(
            "  created at: " + ", ".join(f"{ref.label} {ref.created_at}" for ref in refs.values())
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threads": [thread.to_dict() for thread in self.threads],
            "cycle": self.cycle,
            "kind": self.kind,
            "note": self.note,
            "context": self.context,
        }


@record(kw_only=False)
class HeldBy:
    """A hold named in a hang report."""

    thread: str
    primitive: Ref
    site: Site
    held_ns: int
    finished: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread": self.thread,
            "primitive": self.primitive.to_dict(),
            "taken_at": site_dict(self.site),
            "held_s": rounded_seconds(self.held_ns),
            "thread_finished": self.finished,
        }


@record(kw_only=False)
class Hang:
    """
    No progress for a while, and every thread blocked: who waits on what, who holds what.

    .. versionadded:: 0.1.0
    """

    after_ns: int
    threads: tuple[BlockedThread, ...]
    holds: tuple[HeldBy, ...]
    context: str | None = field(default=None, compare=False)
    #: Other threads of the program still ran (none of them ever fed these waiters).
    others_run: bool = False
    #: The waits it names (``_core.holds.Wait``), followed to see whether they end after all.
    waits: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    #: Set when every wait it names ended after all: how long the longest of them lasted.
    over_after_ns: int | None = field(default=None, compare=False)

    def over_text(self) -> str:
        """What is said when its waits end after all."""
        names = ", ".join(dict.fromkeys(f'"{t.name}"' for t in self.threads if t.waits_for))
        took = format_duration(self.over_after_ns or 0)
        return (
            f"syncscope: hang over: {names} went on after {took}: a wait longer than the hang "
            "timeout, not blocked for good"
        )

    def text(self) -> str:
        took = format_duration(self.after_ns)
        if self.others_run:
            count = sum(1 for thread in self.threads if thread.waits_for is not None)
            head = (
                f"syncscope: hang: {count} thread{'s' if count != 1 else ''} blocked for good: "
                f"nothing has happened to what they wait for in {took} (other threads run, "
                "but none of them ever fed these waits)"
            )
        else:
            head = f"syncscope: hang: no progress for {took}, and every thread is blocked"
        lines = [head]
        for thread in self.threads:
            lines += thread.lines()
        if self.holds:
            lines.append("  held:")
            for held in self.holds:
                gone = " (exited)" if held.finished else ""
                lines.append(
                    f'    {held.primitive.label} by "{held.thread}", taken at {where(held.site)}'
                    f"{gone}"
                )
        else:
            lines.append("  no watched lock or semaphore is held")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "after_s": rounded_seconds(self.after_ns),
            "threads": [thread.to_dict() for thread in self.threads],
            "holds": [held.to_dict() for held in self.holds],
            "others_run": self.others_run,
            "over_after_s": (
                None if self.over_after_ns is None else rounded_seconds(self.over_after_ns)
            ),
            "context": self.context,
        }


@record(kw_only=False)
class SlowSpot:
    """
    A hold or a wait over its threshold.

    ``what`` is ``hold`` (``site`` is where the primitive was taken) or ``wait`` (``site`` is
    where the thread waited; ``holder`` and ``holder_site`` say who held it then).

    .. versionadded:: 0.1.0
    """

    what: str
    primitive: Ref
    thread: str
    site: Site
    duration_ns: int
    holder: str | None = None
    holder_site: Site | None = None
    context: str | None = field(default=None, compare=False)

    @property
    def duration_s(self) -> float:
        return self.duration_ns / 1e9

    def text(self) -> str:
        label = self.primitive.label
        took = format_duration(self.duration_ns)
        if self.what == "hold":
            return f"{label} held {took} by {self.thread} (acquired at {_short_site(self.site)})"
        if self.primitive.kind == "queue":
            return f"{label} full: put waited {took} by {self.thread} at {_short_site(self.site)}"
        text = f"{label} waited {took} by {self.thread} at {_short_site(self.site)}"
        if self.holder is not None:
            text += f" (held by {self.holder}, acquired at {_short_site(self.holder_site)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "primitive": self.primitive.to_dict(),
            "thread": self.thread,
            "site": site_dict(self.site),
            "duration_s": rounded_seconds(self.duration_ns),
            "holder": self.holder,
            "holder_site": site_dict(self.holder_site),
            "context": self.context,
        }


def _short_site(site: Site | None) -> str:
    if site is None:
        return "an unknown place"
    return f"{short_path(site[0])}:{site[1]}"
