"""
The lock-order graph, lockdep-style: deadlocks that could happen, found in runs that did not
deadlock.

Every time a thread takes a lock while it holds others, each held lock gets an edge to the new
one. Locks are grouped into *classes* by creation site (file and line), so the per-object locks
of one class count as one, as in the Linux kernel's lockdep: an edge is stored once per pair of
classes, with the first place and stack it was seen at. A new edge that closes a cycle is an
inversion, reported once per set of classes.

Decisions:

* Locks, RLocks and Condition locks take part; semaphores do not (a semaphore is often a
  signal, released by another thread than the one that took it, so "holding" it says little),
  nor do locks seen released by another thread than the one that took them, for the same
  reason (as the held lock of an edge; what was taken before that was seen stays).
* An RLock's re-entry is no acquisition (the hold tracker does not start a hold for it).
* A non-blocking acquire (``acquire(False)``) adds no edge: it cannot wait, so it cannot close a
  deadlock, and trying a lock out of order is the usual way to avoid one. Nor does an acquire
  with a timeout: it can wait, but not for ever, and backing off when it times out is the
  other usual way.
* Two locks of one class (created at the same line) nested in each other add no class edge.
  When *objects* of one class are taken in orders that form a cycle (``a.lock`` then
  ``b.lock`` in one place, ``b.lock`` then ``a.lock`` in another: the classic transfer between
  two accounts; or around a ring, as the dining philosophers take their forks from one list),
  that is reported as a same-site inversion. Object pairs are remembered up to a limit, by
  their places only: the stack is shown for the order that closed the cycle. A cycle is
  looked for past a new pair among at most ``MAX_SEARCH`` objects; a ring of three or more
  whose pairs one thread took alone is not reported (hand over hand down a list whose order
  it changed in between: nobody else walks it).

* **Guarded** inversions: each edge keeps the classes of the other locks held every time it
  was seen (the first time's, narrowed by each later one). When the edges of a cycle were all
  seen under one common lock, the cycle cannot deadlock while every path takes that gate
  first: it is reported as guarded, apart from the others. Should a later occurrence run
  without the gate, the cycle is reported again, unguarded. An object pair keeps the locks
  held the first time it was seen only (a pair seen again costs one lookup, nothing more):
  the dining philosophers who each take the waiter's lock before their forks are a guarded
  cycle.

The hot path (an acquire while holding another lock) costs one dictionary lookup per held lock
once the edge is known; a new edge takes a lock of our own, captures a short stack and searches
the (small) class graph for a path back.
"""

from __future__ import annotations

import sys
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Container
from types import FrameType

from .._core.event import Primitive
from .._core.holds import Hold
from .._core.leanholds import TakenAt, as_site
from .._core.registry import allocate_lock, take_shared


# The findings' records are imported when an order is first seen, not at start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .findings import Inversion, Taken


Key = tuple[str, int, int]

#: Object pairs of one class remembered for same-site inversions (each a few hundred bytes).
#: Past this, pairs are only looked up: one taken in the reverse order of a remembered pair
#: is still found, new pairs are no longer remembered.
MAX_PAIRS = 20_000
#: Objects of one class a search for a cycle through a new pair looks at, at most.
MAX_SEARCH = 1_000
#: Holds of a thread looked at when it takes one more: its innermost ones.
MAX_DEPTH = 48
#: Longest a check waits for the graph's lock, in seconds, before it is skipped (and counted):
#: the thread that holds it may be running the program's code there (a profile function, a
#: signal handler, a finalizer) that waits for a lock the checking thread holds. A change to
#: the graph holds it for microseconds.
ORDER_WAIT = 2.0
#: What a pair of held and taken locks adds to the graph (see LockOrder.wants_pair).
SAME_SITE = "pair of one class"
_NEW_EDGE = "new edge"

#: Where a lock was taken: file, line, function (findings.Site).
Site = tuple[str, int, str]
#: A remembered pair: the thread, the held lock and where it was taken, the lock taken and
#: where, the other locks held then; the stack is taken only when an inversion is reported.
Pair = tuple[str, Primitive, Site | TakenAt, Primitive, Site | TakenAt, tuple[Primitive, ...]]
#: A pair that closes a cycle of pairs, to report (see LockOrder._report_pair): the earlier
#: pairs, then the new one's held lock and its place, the lock taken, the thread, the place,
#: and the other locks held.
Closing = tuple[
    list[Pair], Primitive, Site | TakenAt, Primitive, str, Site | TakenAt, tuple[Primitive, ...]
]
#: What taking a lock holding another asks of the graph (see LockOrder.wants_pair).
ToDo = tuple[Key, Key, dict[Key, Primitive] | None, object]


def stack_of(frame: FrameType) -> tuple[tuple[str, int, str], ...]:
    """refs.stack_of, imported when first needed."""
    from .refs import stack_of

    return stack_of(frame)


class LockOrder:
    """The class graph and the inversions found in it."""

    def __init__(
        self, found: Callable[[Inversion], None], handoff: Container[Primitive] = ()
    ) -> None:
        self._found = found
        #: Locks known to be released by other threads than their takers: signals, not mutexes.
        self._handoff = handoff
        #: class -> classes taken while holding it -> the first time that was seen.
        self._after: dict[Key, dict[Key, Taken]] = {}
        #: (id of the held object, id of the taken object) -> first time, for one-class pairs.
        self._pairs: dict[tuple[int, int], Pair] = {}
        #: The pairs once MAX_PAIRS are remembered, None before: then only a pair remembered
        #: or whose reverse is has anything to ask, which the lean path reads here without a
        #: call (see ``_intercept/lean.nested``).
        self.full_pairs: dict[tuple[int, int], Pair] | None = None
        #: id of a held object -> the objects of its class taken while holding it.
        self._pairs_after: dict[int, list[int]] = {}
        self._reported: set[frozenset[Key]] = set()
        #: (held class, taken class) -> the classes (and a lock of each) held at every sighting.
        #: By class, as the graph's edges are: two locks made on one line (``a, b = Lock(),
        #: Lock()``) are two classes, and the guards of ``a`` -> ``b`` are not those of
        #: ``b`` -> ``a``.
        self._guards: dict[tuple[Key, Key], dict[Key, Primitive]] = {}
        #: id of an edge's record (kept in ``_after`` for good) -> its (held, taken) classes.
        self._edge_keys: dict[int, tuple[Key, Key]] = {}
        #: Cycles reported as guarded -> their edges, to report again should the guard fail.
        self._guarded: dict[frozenset[Key], tuple[Taken, ...]] = {}
        self._lock = allocate_lock()
        #: The threads in a section under our lock, or about to take it (see :meth:`_enter`).
        self._inside: set[int] = set()
        #: Checks skipped for a thread inside such a section already, or for our lock held
        #: past ORDER_WAIT: said by the report.
        self.skipped = 0

    def let_go(self) -> None:
        """
        Forget the graph and the pairs (see ``Recorder.let_go``). Under our lock, as every
        change to them is made: a check of a daemon thread's in progress there reads them
        whole, old or new, never half of each. Not past a second: a check held up in a
        handler of the program's must not hold its exit up too (the collector frees them).
        """
        for got in map(self._lock.acquire, (True,), (1.0,)):  # noqa: B007 (see _interrupts)
            break
        if not got:
            return
        try:
            self.full_pairs = None  # first: the lean path reads it without our lock
            self._after, self._pairs, self._pairs_after = {}, {}, {}
            self._guards, self._edge_keys, self._guarded = {}, {}, {}
        finally:
            self._lock.release()

    def after_fork_in_child(self) -> None:
        """A fork while another thread updated the graph leaves our lock held in the child."""
        self._lock = allocate_lock()
        self._inside = set()

    def _enter(self) -> bool:
        """
        Take our lock for a change to the graph; False, with nothing taken, when the calling
        thread is in such a change already: a profile function or a signal handler of the
        program's ran there (a profile function runs at each call and return of ours), and
        a lock of the program's it took is checked in turn. Taking our lock again, that
        check would wait for its own thread for ever: it is skipped, and counted; so is one
        that waited ORDER_WAIT for another thread's. Said before the lock is taken, and
        unsaid after it is given back (see :meth:`_leave`), so that no moment of either is
        left open to such a handler.
        """
        me = get_ident()
        inside = self._inside
        if me in inside:
            self.skipped += 1
            return False
        inside.add(me)
        try:
            got = take_shared(self._lock, ORDER_WAIT)
        except BaseException:
            inside.discard(me)
            raise
        if not got:  # held for too long, by such a handler of another thread (see ORDER_WAIT)
            inside.discard(me)
            self.skipped += 1
        return got

    def _leave(self) -> None:
        """The end of :meth:`_enter`'s change: our lock given back, then the thread let out."""
        self._lock.release()
        self._inside.discard(get_ident())

    def taking(
        self,
        primitive: Primitive,
        thread: str,
        site: Site,
        held: list[Hold],
        outer: Callable[[], list[Primitive]] | None = None,
    ) -> None:
        """
        A thread holding ``held`` takes ``primitive`` at ``site``: called when a blocking
        acquire starts to wait (so a deadlock's own order counts too) and when one succeeds.
        A non-blocking attempt (a trylock) is no order: it cannot deadlock, as in lockdep.
        ``outer``: the primitives held further out than ``held`` (the lean path gives the
        innermost holds whole, and these only if a guard is to be worked out: a thread that
        holds thousands at once would make each acquire cost as much as all of them).
        """
        if primitive.kind == "semaphore":
            return
        if outer is not None:
            outer = _once(outer)

        def held_now() -> list[Primitive]:
            return _primitives(held, outer)

        # The innermost holds only, as the kernel's lockdep does (MAX_LOCK_DEPTH): a thread that
        # holds thousands (as_completed() takes every future's Condition at once) would make
        # each acquire cost as much as all of them.
        for hold in held[-MAX_DEPTH:]:
            before = hold.primitive
            to_do = self.wants_pair(before, primitive)
            if to_do is not None:
                self._add(to_do, before, hold.site, primitive, thread, site, held_now)

    def taking_pair(
        self,
        to_do: ToDo,
        other: Primitive,
        other_site: Site,
        primitive: Primitive,
        thread: str,
        site: Site,
    ) -> None:
        """
        :meth:`taking` for ``primitive`` taken holding ``other`` alone (taken at
        ``other_site``), the commonest chain: a lock per object makes one at almost every
        pair, and the lean path need not make the holds :meth:`taking` reads. ``to_do``:
        what :meth:`wants_pair` said, without our lock: what it leads to is checked again
        under it (a pair remembered meanwhile, a class reported, an edge made, whose guards
        this sighting then narrows).
        """
        _other_key, key, guards, new = to_do
        if new is SAME_SITE and not guards:  # the commonest: a new pair of a lock per object
            self.same_site_pair(other, other_site, primitive, thread, site, key, ())
            return
        held = [other, primitive]
        self._add(to_do, other, other_site, primitive, thread, site, lambda: held)

    def _add(
        self,
        to_do: ToDo,
        before: Primitive,
        before_site: Site,
        primitive: Primitive,
        thread: str,
        site: Site,
        held_now: Callable[[], list[Primitive]],
    ) -> None:
        """
        Do what ``wants_pair`` asked of the graph for ``primitive`` taken holding ``before``,
        taken at ``before_site``; ``held_now()``: every primitive held.
        """
        other_key, key, guards, new = to_do
        if guards:
            self._narrow(guards, held_now, other_key, key)
        if new is SAME_SITE:
            others = tuple(
                p
                for p in held_now()
                if p is not primitive
                and p is not before
                and p.kind != "semaphore"
                and (p.file, p.line, p.column) != key
            )
            self.same_site_pair(before, before_site, primitive, thread, site, key, others)
        elif new is _NEW_EDGE and not self._new_edge(
            before, before_site, primitive, thread, site, other_key, key, held_now
        ):
            # Another thread made the edge since ``to_do`` was worked out (the lean path asks
            # without our lock): this is one more sighting of it, whose guards it narrows.
            made = self._guards.get((other_key, key))
            if made:
                self._narrow(made, held_now, other_key, key)

    def wants(self, primitive: Primitive, held: list[Primitive]) -> bool:
        """
        Whether :meth:`taking` would do anything for ``primitive`` taken holding ``held``
        (primitives, oldest first, ``primitive`` last): the lean path makes the holds it
        passes only then. Per-object locks make a new chain at almost every pair, most of
        them pairs known already or no longer remembered (see MAX_PAIRS).
        """
        if primitive.kind == "semaphore":
            return False
        return any(self.wants_pair(other, primitive) is not None for other in held[-MAX_DEPTH:])

    def wants_same_class(
        self, other: Primitive, primitive: Primitive, pair: tuple[int, int]
    ) -> bool | None:
        """
        :meth:`wants_pair` for two locks of one class (made at one place), ``pair`` their ids,
        asked without a class made (most often a lock per object, whose pairs are new at every
        transfer). True: :meth:`same_site_pair` would remember the pair or find a cycle.
        False: nothing to do, for good (the pair is remembered already, or its class's
        inversion was said), so the lean path keeps it among the chains seen. None: nothing to
        do now (the same lock; a lock handed between threads, which may be forgotten as one;
        once MAX_PAIRS are remembered, a pair whose reverse is not, most often never seen
        again), asked again next time.
        """
        if other is primitive or other in self._handoff:
            return None
        pairs = self._pairs
        if pair in pairs:
            return False
        # Full: only the reverse of a pair remembered closes a cycle.
        if len(pairs) >= MAX_PAIRS and (pair[1], pair[0]) not in pairs:
            return None
        reported = self._reported
        # Its own inversion: said once (most programs have none to make a set for).
        return not (
            reported
            and frozenset(((primitive.file, primitive.line, primitive.column),)) in reported
        )

    def wants_pair(self, other: Primitive, primitive: Primitive) -> ToDo | None:
        """
        What taking ``primitive`` while holding ``other`` asks of the graph (what the lean
        path gives :meth:`taking_pair` for the commonest chain, two locks): None for nothing;
        else the two classes, the guards of the pair's edge to narrow (or None), and whether
        it is a pair of one class to look at (SAME_SITE), an edge not seen yet (_NEW_EDGE),
        or neither (None).
        """
        if (
            other is primitive
            or primitive.kind == "semaphore"
            or other.kind == "semaphore"
            or other in self._handoff
        ):
            return None
        if (
            other.line == primitive.line
            and other.file == primitive.file
            and other.column == primitive.column
        ):
            # One class: no edge of the graph, so no guards either.
            if self.wants_same_class(other, primitive, (other.id, primitive.id)) is not True:
                return None
            key = (primitive.file, primitive.line, primitive.column)
            return key, key, None, SAME_SITE
        key = (primitive.file, primitive.line, primitive.column)
        other_key = (other.file, other.line, other.column)
        guards = self._guards.get((other_key, key)) if self._guards else None
        known = self._after.get(other_key)
        new = _NEW_EDGE if known is None or key not in known else None
        if new is None and not guards:
            return None
        return other_key, key, guards, new

    def _taken(
        self, before: Primitive, before_site: Site, primitive: Primitive, thread: str, site: Site
    ) -> Taken:
        from .findings import Ref, Taken

        return Taken(
            thread,
            Ref.of(before),
            before_site,
            Ref.of(primitive),
            site,
            stack_of(sys._getframe(1)),
        )

    def _new_edge(
        self,
        before: Primitive,
        before_site: Site,
        primitive: Primitive,
        thread: str,
        site: Site,
        before_key: Key,
        key: Key,
        held_now: Callable[[], list[Primitive]],
    ) -> bool:
        """Add the edge ``before_key`` -> ``key``; False if it was there already."""
        # Before our lock is taken: an import never waits under it.
        from .findings import Inversion, Ref

        if not self._enter():
            return True  # not to be narrowed either (see _enter)
        try:
            known = self._after.setdefault(before_key, {})
            if key in known:
                return False
            edge = known[key] = self._taken(before, before_site, primitive, thread, site)
            self._edge_keys[id(edge)] = (before_key, key)
            guards = {
                (p.file, p.line, p.column): p
                for p in held_now()
                if p is not primitive and p is not before and p.kind != "semaphore"
            }
            guards.pop(before_key, None)
            guards.pop(key, None)
            self._guards[(before_key, key)] = guards
            found = self._path(key, before_key)
            if found is None:
                return True
            path, keys = found
            cycle = frozenset((before_key, key, *keys))
            if cycle in self._reported:
                return True
            self._reported.add(cycle)
            edges = (*path, edge)
            gate = self._gate(edges)
            if gate is not None:
                self._guarded[cycle] = edges
        finally:
            self._leave()
        self._found(Inversion(edges, guarded_by=None if gate is None else Ref.of(gate)))
        return True

    def _gate(self, edges: tuple[Taken, ...]) -> Primitive | None:
        """A lock held at every sighting of every edge, if there is one."""
        common: dict[Key, Primitive] | None = None
        for taken in edges:
            empty: dict[Key, Primitive] = {}
            keys = self._edge_keys.get(id(taken))
            guards = empty if keys is None else self._guards.get(keys, empty)
            common = (
                dict(guards) if common is None else {k: p for k, p in common.items() if k in guards}
            )
            if not common:
                return None
        return None if not common else next(iter(common.values()))

    def _narrow(
        self,
        guards: dict[Key, Primitive],
        held_now: Callable[[], list[Primitive]],
        first: Key,
        then: Key,
    ) -> None:
        """Another sighting of the edge ``first`` -> ``then`` holding ``held_now()``: narrow it."""
        now = {(p.file, p.line, p.column) for p in held_now()}
        # Its keys copied first: another thread may narrow it meanwhile, under our lock.
        gone = [k for k in list(guards) if k not in now]
        if not gone:
            return
        lost = []
        if not self._enter():
            return
        try:
            for k in gone:
                guards.pop(k, None)
            for cycle, edges in list(self._guarded.items()):
                if (
                    any(self._edge_keys.get(id(e)) == (first, then) for e in edges)
                    and self._gate(edges) is None
                ):
                    del self._guarded[cycle]
                    lost.append(edges)
        finally:
            self._leave()
        if lost:
            from .findings import Inversion

        for edges in lost:  # unguarded after all
            self._found(Inversion(edges))

    def _path(self, start: Key, goal: Key) -> tuple[list[Taken], list[Key]] | None:
        """The shortest chain of edges from ``start`` to ``goal``, and the classes it visits."""
        came_from: dict[Key, tuple[Key, Taken] | None] = {start: None}
        todo = deque([start])
        while todo:
            node = todo.popleft()
            for following, edge in self._after.get(node, {}).items():
                if following in came_from:
                    continue
                came_from[following] = (node, edge)
                if following == goal:
                    path, keys = [], [following]
                    step = came_from[following]
                    while step is not None:
                        previous, taken = step
                        path.append(taken)
                        keys.append(previous)
                        step = came_from[previous]
                    path.reverse()
                    return path, keys
                todo.append(following)
        return None

    def same_site_pair(
        self,
        before: Primitive,
        before_site: Site | TakenAt,
        primitive: Primitive,
        thread: str,
        site: Site | TakenAt,
        key: Key,
        guards: tuple[Primitive, ...],
    ) -> None:
        """
        ``primitive`` taken holding ``before``, both of class ``key``, with ``guards`` (the
        other locks held, of other classes) also held: a pair to remember, and the
        inversion it closes to report. Nothing but that report imports or makes a site: the
        lean path remembers a pair of a lock per object with the places its proxies keep (see
        ``TakenAt``), read only if reported.
        """
        first, then = before.id, primitive.id
        reported = self._reported
        if not self._enter():  # each new pair of a class of locks comes here
            return
        try:
            if reported and frozenset((key,)) in reported:
                return  # reported once per class: its further pairs need not be remembered
            pairs = self._pairs
            if (first, then) in pairs:
                return
            reverse = pairs.get((then, first))
            if reverse is not None:
                path = [reverse]
            else:
                if len(pairs) >= MAX_PAIRS:
                    return
                pairs[(first, then)] = (thread, before, before_site, primitive, site, guards)
                if len(pairs) >= MAX_PAIRS:
                    self.full_pairs = pairs
                after = self._pairs_after.get(first)
                if after is None:
                    self._pairs_after[first] = [then]
                else:
                    after.append(then)
                if then not in self._pairs_after:
                    return  # it led nowhere yet: most objects taken after one of their class
                found = self._pair_path(then, first)
                if found is None or all(pair[0] == thread for pair in found):
                    return  # a ring one thread made alone: a list walked in two orders
                path = found
            reported.add(frozenset((key,)))
        finally:
            self._leave()
        self._report_pair((path, before, before_site, primitive, thread, site, guards))

    def _report_pair(self, closing: Closing) -> None:
        """
        Report the same-site inversion :meth:`same_site_pair` found. Apart from it: the
        comprehensions here would make a closure cell of ``path`` at every pair remembered
        (about 650 instructions each, counted with callgrind on 3.11).
        """
        from .findings import Inversion, Ref, Taken

        path, before, before_site, primitive, thread, site, guards = closing
        edge = self._taken(before, as_site(before_site), primitive, thread, as_site(site))
        earlier = tuple(
            Taken(p[0], Ref.of(p[1]), as_site(p[2]), Ref.of(p[3]), as_site(p[4]), ()) for p in path
        )
        gate = next((p for p in guards if all(p in pair[5] for pair in path)), None)
        self._found(
            Inversion(
                (*earlier, edge),
                same_site=True,
                guarded_by=None if gate is None else Ref.of(gate),
            )
        )

    def _pair_path(self, start: int, goal: int) -> list[Pair] | None:
        """
        The shortest chain of remembered pairs from the object ``start`` to ``goal``, looking
        at ``MAX_SEARCH`` objects at most. Called under our lock, for a ``start`` that leads
        somewhere (see :meth:`same_site_pair`).
        """
        after = self._pairs_after
        came_from: dict[int, int | None] = {start: None}
        todo = deque([start])
        while todo and len(came_from) <= MAX_SEARCH:
            node = todo.popleft()
            for following in after.get(node, ()):
                if following in came_from:
                    continue
                came_from[following] = node
                if following == goal:
                    path = []
                    step: int | None = following
                    while step is not None:
                        previous = came_from[step]
                        if previous is not None:
                            path.append(self._pairs[(previous, step)])
                        step = previous
                    path.reverse()
                    return path
                todo.append(following)
        return None


def _primitives(held: list[Hold], outer: Callable[[], list[Primitive]] | None) -> list[Primitive]:
    """What is held: ``held``'s primitives and those further out."""
    found = [hold.primitive for hold in held]
    return found if outer is None else [*outer(), *found]


def _once(call: Callable[[], list[Primitive]]) -> Callable[[], list[Primitive]]:
    """``call``, called once at most: each edge of one acquire may ask."""
    kept: list[list[Primitive]] = []

    def once() -> list[Primitive]:
        if not kept:
            kept.append(call())
        return kept[0]

    return once
