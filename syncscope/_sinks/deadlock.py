"""
Deadlocks that happen, and hangs: a watchdog thread that reads the hold tracker's state.

The watchdog is a thread of ours (see _core/ourthreads): ``threading.enumerate()`` does not
see it and the program's shutdown never waits for it. Every :data:`INTERVAL` seconds while
a thread waits without a timeout it looks at who waits for what (and sleeps while none does):

* **Deadlock**: the threads blocked in an acquire (lock, rlock, semaphore, Condition lock)
  whose every holder is itself such a thread. They can never go on. Left out: waits with a
  timeout (the waiting event's ``timeout``; they end by themselves), a Lock taken a second
  time by its own holder (see the self-deadlock below) and locks or semaphores that were ever
  released by another thread than the one that took them (those are signals: another thread
  may release them), and semaphores nobody else holds. A cycle through RLocks only (and
  Conditions over one) is reported at its second sighting, within half a second: only their
  holders can release them. A cycle through a plain Lock or a semaphore, which any thread may
  release, is reported at its second sighting when every other thread is blocked too, and
  otherwise once it has lasted the grace period (``grace``, 1 s by default) with none of its
  waits ended, whatever the other threads do (as the JVM's, go-deadlock's and lockdep's
  detectors do); its report says in one line that another thread could have released it.
* **Self-deadlock**, **held while waiting** and **hangs while other threads run**: see
  ``hangs``, whose rules this watchdog applies after the grace period (the first two, as
  deadlocks) or the hang timeout (the last).
* **Hang**: no event at all for ``hang_timeout`` seconds, at least one thread waiting in a
  watched operation without a timeout, and every other thread also blocked (in a watched
  wait, or somewhere inside ``threading``, ``queue`` or ``concurrent.futures``, such as
  ``Thread.join``), and none of them with a timeout; seen alike at two checks in a row (a
  thread just woken may not have run yet).

When the program ends (the sink is closed) one last look reports any cycle still in place,
grace or not, so that the exit report never says "no deadlock" while one is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterator
from types import FrameType

from .._core.compat import current_frames
from .._core.event import Primitive
from .._core.holds import Holds, Snapshot, Wait
from .._core.ourthreads import Ticker
from .._core.output import say
from .._core.pools import size as pool_size
from .._core.sites import SYNCSCOPE_DIR
from .blocked import (
    blocked_thread,
    created,
    held_by,
    loose_note,
    outside_thread,
)
from .cycles import cycle_length, cycles, stuck_threads
from .hangs import (
    causes,
    could_feed,
    future_runner,
    hang_subjects,
    held_while_waiting,
    self_deadlocks,
    signal_fed,
    starved_pools,
)
from .harness import harness_thread
from .joins import THREADLIKE, Joins, run_by, with_joins
from .standing import (
    OUTSIDE,
    RUNNING,
    WAITING,
    in_machinery,
    long_timed,
    standing,
)
from .traces import Traces


# The findings' records are imported when a finding is made, not at start-up (see findings).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .findings import Deadlock, Hang


#: Seconds between two checks.
INTERVAL = 0.2
#: The default hang timeout (``--hang-timeout``), in ns: half of it is how long a signal
#: awaited under a lock its signallers wait for must last, when hangs are not checked.
HANG_TIMEOUT_NS = 10_000_000_000

_perf_counter_ns = time.perf_counter_ns
_time_ns = time.time_ns


def ownerless(primitive: Primitive, snapshot: Snapshot) -> bool:
    """
    Whether any thread may release ``primitive`` (a Lock, a Condition's Lock, a semaphore), so
    that the thread seen holding it need not be the one to let its waiters through.
    """
    if primitive.kind == "semaphore":
        return True
    if primitive.kind in THREADLIKE:
        return False  # only the worker running its task completes it; only a thread ends
    hold = snapshot.owner.get(primitive)
    # An RLock's acquire reports its depth, a Lock's none (a Condition's lock is either).
    return hold is None or hold.event.depth is None


class Watchdog:
    """The thread that checks for deadlocks and hangs; reports through the callbacks."""

    def __init__(
        self,
        holds: Holds,
        progress: Callable[[], int],
        on_deadlock: Callable[[Deadlock], None] | None,
        on_hang: Callable[[Hang], None] | None,
        hang_timeout: float = 0.0,
        interval: float = INTERVAL,
        grace: float = 1.0,
        traces: Traces | None = None,
        on_hang_over: Callable[[Hang, int], None] | None = None,
    ) -> None:
        self._holds = holds
        self._grace_ns = int(grace * 1e9)
        self._traces = traces
        self._progress = progress
        self._on_deadlock = on_deadlock
        self._on_hang = on_hang
        self._hang_timeout_ns = int(hang_timeout * 1e9)
        #: How long a signal awaited under a lock its signallers wait for must last, with
        #: none of the running threads seen to feed it: half the hang timeout, the grace if
        #: longer (the default's half when hangs are not checked). A running thread may give
        #: the signal without naming it (a callback fired by a reply it waits for on a
        #: socket): a second of it is no deadlock.
        self._held_ns = max(self._grace_ns, (self._hang_timeout_ns or HANG_TIMEOUT_NS) // 2)
        self._suspects: set[Wait] = set()
        self._joins = Joins()  # threads blocked in Thread.join() for good, seen as waits
        self._last_progress = -1
        self._progress_since = _perf_counter_ns()
        self._hang_reported = False
        #: Hangs reported whose waits are followed, and who hears when they all end after all
        #: (with how long the longest lasted): a wait longer than the hang timeout.
        self._following: list[Hang] = []
        self._on_hang_over = on_hang_over
        #: What the threads of a hang seen at the last check were blocked in (see _sighting).
        self._hang_sighting: tuple[Any, ...] | None = None
        #: Tells threads that are not the program's (a test runner's): they neither release
        #: its locks nor feed its waiters, so they are left out of the checks.
        self.bystander: Callable[[int], bool] | None = harness_thread
        self.errors = 0
        #: Sleeps seen by the last look (see _look).
        self._idles_seen = 0
        self._ticker = Ticker(self._look, self._wanted, self._arm, interval)
        self._ticker.start()

    @property
    def ident(self) -> int | None:
        """The watchdog's thread while it runs."""
        return self._ticker.ident

    @property
    def idles(self) -> int:
        """
        How often the thread slept: no thread waited without a timeout, so there was nothing
        to report (every finding needs such a wait, see the module's docstring and ``hangs``).
        Rather than wake five times a second for nothing, it sleeps until such a wait begins
        (``holds.wake``): a program that waits for nothing or only with timeouts (a monitor
        thread's ``Event.wait(10)``) while it measures its own CPU time shares its process
        with a thread that takes none.
        """
        return self._ticker.idles

    def _arm(self, wake: Callable[[], None] | None) -> None:
        self._holds.wake = wake

    def _look(self) -> None:
        if self._idles_seen != self._ticker.idles:  # the first look since a sleep
            self._idles_seen = self._ticker.idles
            # The program went on while this thread slept: quiet since now, at the most.
            self._suspects = set()
            self._hang_sighting = None
            self._last_progress = self._progress()
            self._progress_since = _perf_counter_ns()
        try:
            self.check()
        except Exception as exc:  # a detector must never take the program down
            self.errors += 1
            if self.errors == 1:
                say(f"the deadlock watchdog failed: {exc!r}")

    def after_fork_in_child(self) -> None:
        """In a forked child, where the thread does not exist: stopped, and nothing to wait for."""
        self._ticker.after_fork_in_child()

    def stop(self) -> None:
        """Stop the thread and wait (briefly) for it; harmless from the watchdog itself."""
        self._ticker.stop()

    @property
    def stopped(self) -> bool:
        return self._ticker.stopped

    # -- the checks --------------------------------------------------------------------------

    def _wanted(self) -> bool:
        """Whether to look at intervals: a wait without a timeout, or a hang to follow."""
        return bool(self._following) or self._holds.waits_for_good()

    def _follow(self) -> None:
        """
        Say of each reported hang whose waits all went on that it is over. One that ended
        otherwise (a Ctrl-C, a thread's end, an end not seen) is only no longer followed. A
        hang of every thread lets the next be reported once any of its waits has ended (the
        waits still on stay reported: the same hang is not reported again).
        """
        waiting = self._holds.waiting
        still = []
        for hang in self._following:
            on = [waiting.get(wait.thread_id) is wait for wait in hang.waits]
            if self._hang_reported and not hang.others_run and not all(on):
                self._hang_reported = False
                self._hang_sighting = None
                self._progress_since = _perf_counter_ns()
            if any(on):
                still.append(hang)
                continue
            ends = [wait.ended_ns for wait in hang.waits]
            if self._on_hang_over is not None and all(end > 0 for end in ends):
                over_ns = max(ends) - min(wait.since_ns for wait in hang.waits)
                self._on_hang_over(hang, over_ns)
        self._following = still

    def check(self, confirm: bool = True, final: bool = False) -> list[Deadlock]:
        """
        One look; returns (and reports) new deadlocks. ``confirm=False`` reports one at once
        instead of at its second sighting; ``final`` (the last look, at exit) does not wait
        for the grace period either.
        """
        found: list[Deadlock] = []
        if self._following:
            self._follow()
        mono = _perf_counter_ns()
        progress = self._progress()
        if progress != self._last_progress:
            self._last_progress = progress
            self._progress_since = mono
        if not self._holds.waiting:
            self._suspects = set()
            return found
        snapshot = self._holds.snapshot()
        now = _time_ns()  # the events' clock, for how long things have been held and waited
        # Every thread's frame, read from sys._current_frames() when needed. Emptied before
        # returning: the dict holds this very frame, which holds the dict, and the cycle kept
        # every thread's frames and their locals alive until the next collection (a socket
        # a test had closed warned unclosed, a finalizer ran late and on another thread).
        frames: dict[int, FrameType] = {}
        frames_now: dict[int, FrameType] = {}
        try:
            if self._on_deadlock is not None:
                found = self._check_deadlocks(snapshot, now, confirm, frames, final)
            if self._traces is not None and not final and self._on_deadlock is not None:
                found += self._check_running(snapshot, now, frames)
            quiet_ns = mono - self._progress_since
            sighting = None
            if (
                self._on_hang is not None
                and self._hang_timeout_ns
                and not self._hang_reported
                and quiet_ns >= self._hang_timeout_ns
            ):
                frames_now.update(current_frames())
                hang = self._check_hang(snapshot, frames_now, now, quiet_ns)
                sighting = None if hang is None else _sighting(hang, snapshot, frames_now)
                # Seen twice alike, a check apart: a thread just woken that the OS has not run
                # yet (a busy machine) looks blocked where it was, for one look.
                confirmed = final or not confirm or sighting == self._hang_sighting
                if hang is not None and confirmed:
                    sighting = None
                    self._hang_reported = True
                    for wait in snapshot.waiting.values():
                        wait.reported = True
                    self._on_hang(hang)
                    if hang.waits:
                        self._following.append(hang)
            self._hang_sighting = sighting
            if (
                self._on_hang is not None
                and self._traces is not None
                and self._hang_timeout_ns
                and not final
                and sighting is None  # every thread blocked, seen once: the rule above's
            ):
                hang = self._check_hang_running(snapshot, now, frames)
                if hang is not None:
                    self._on_hang(hang)
                    self._following.append(hang)
        finally:
            frames.clear()
            frames_now.clear()
        return found

    def _check_deadlocks(
        self,
        snapshot: Snapshot,
        now: int,
        confirm: bool,
        frames: dict[int, FrameType],
        final: bool = False,
    ) -> list[Deadlock]:
        original = snapshot
        joins = self._joins.seen(snapshot, frames, self.ident)
        # The cycle checks see each join as a wait on the joined thread, which goes on only
        # when that thread ends; the other checks do not (they know no such wait).
        snapshot = with_joins(snapshot, joins)
        waiting = snapshot.waiting

        def bounded(ident: int) -> bool:
            if not frames:  # only read when a cycle is suspected: most checks find none
                frames.update(current_frames())
            if ident not in frames:
                return True  # gone: not blocked any more
            return waiting[ident].timeout is not None

        def runner(wait: Wait) -> int | None:
            joined = joins.get(wait.thread_id)
            if joined is not None and joined[0] is wait:
                return joined[1]
            if not frames:
                frames.update(current_frames())
            return future_runner(wait, frames)

        stuck = stuck_threads(snapshot, bounded, runner)
        suspects = {waiting[ident] for ident in stuck}
        confirmed = suspects if not confirm else suspects & self._suspects
        self._suspects = suspects
        found = []
        for whole in cycles(stuck, lambda ident: waiting[ident].since_ns):
            length = cycle_length(whole, stuck)
            # A join behind the deadlock (the main thread joining one of its threads) is no
            # news: said only when it is part of the cycle.
            group = whole[:length] + [
                ident for ident in whole[length:] if waiting[ident].op != "join"
            ]
            waits = [waiting[ident] for ident in group]
            if any(wait not in confirmed for wait in waits) or all(w.reported for w in waits):
                continue
            loose = [w for w in waits[:length] if ownerless(w.primitive, snapshot)]
            note = None
            if loose and not final and not self._all_blocked(frames, waiting, stuck):
                # A Lock or a semaphore is held by whoever took it last, but any thread may
                # release it: while others run, the cycle is a deadlock once it has lasted the
                # grace period with none of its waits ended.
                newest = max(w.since_ns for w in waits[:length])
                if now - newest < self._grace_ns:
                    continue
                if self._releasable(snapshot, frames, group, waits, loose):
                    continue  # a running thread that names the Lock may release it yet
                note = loose_note(loose, now - newest)
            deadlock = self._report(snapshot, now, group, frames, length, note=note)
            if deadlock is not None:
                found.append(deadlock)
        if not frames:
            frames.update(current_frames())
        snapshot = original
        grace = 0 if final else self._grace_ns
        for ident in self_deadlocks(snapshot, frames, now, grace):
            deadlock = self._report(snapshot, now, [ident], frames, 1, kind="self")
            if deadlock is not None:
                found.append(deadlock)
        for pool, starved in starved_pools(snapshot, now, grace):
            from .refs import where

            group = [worker for worker, _ in starved]
            queued = ", ".join(
                dict.fromkeys(
                    f"{task.function}() submitted at {where(created(snapshot.waiting[worker]))}"
                    for worker, task in starved
                )
            )
            note = (
                f"{type(pool).__name__} with max_workers={pool_size(pool)}: each of its "
                f"workers runs a task that waits for a task still queued behind it on the "
                f"same pool; queued: {queued}"
            )
            deadlock = self._report(snapshot, now, group, frames, len(group), "pool", note)
            if deadlock is not None:
                found.append(deadlock)
        return found

    def _report(
        self,
        snapshot: Snapshot,
        now: int,
        group: list[int],
        frames: dict[int, FrameType],
        cycle: int,
        kind: str = "cycle",
        note: str | None = None,
    ) -> Deadlock | None:
        """Build and report a deadlock of the threads ``group`` (None if gone meanwhile)."""
        from .findings import Deadlock

        waits = [snapshot.waiting[ident] for ident in group]
        for wait in waits:
            wait.reported = True  # at once: check_deadlocks() may be looking too
        try:
            threads = tuple(
                blocked_thread(ident, snapshot, frames.get(ident), now, itself=kind == "self")
                for ident in group
            )
        except BaseException:
            for wait in waits:  # not reported after all: the next look tries again
                wait.reported = False
            raise
        if kind == "cycle":
            threads = run_by(threads, waits, cycle)
        deadlock = Deadlock(threads, cycle, kind=kind, note=note)
        if self._on_deadlock is not None:
            self._on_deadlock(deadlock)
        return deadlock

    def _releasable(
        self,
        snapshot: Snapshot,
        frames: dict[int, FrameType],
        group: list[int],
        cycle: list[Wait],
        loose: list[Wait],
    ) -> bool:
        """
        Whether a cycle of waits through a join or a Future, whose ``loose`` waits are for
        primitives any thread may release, may still be fed by a running thread.
        """
        if self._traces is None or not any(w.primitive.kind in THREADLIKE for w in cycle):
            return False
        ties = {w.primitive for w in loose}
        return self._unrelated_run(snapshot, frames, set(group), ties, self._grace_ns) is False

    def _unrelated_run(
        self,
        snapshot: Snapshot,
        frames: dict[int, FrameType],
        skip: set[int],
        primitives: set[Primitive],
        within_ns: int,
    ) -> bool | None:
        """
        Whether no running thread but those in ``skip`` could feed waits on ``primitives``;
        None when no other thread runs at all (the hang check for a still program applies).
        A thread in a wait that ends by itself after ``within_ns`` or later (a
        ``threading.Timer``) may feed them then: a short one (a ``join(0.5)`` loop, a
        heartbeat) is a thread that keeps running.
        """
        assert self._traces is not None
        running = False
        for ident, frame, wait in self._running_others(snapshot, frames, skip):
            running = True
            if long_timed(frame, wait, within_ns) or could_feed(
                ident, frame, snapshot, self._traces, primitives, in_machinery(frame, wait)
            ):
                return False
        return True if running else None

    def _running_others(
        self, snapshot: Snapshot, frames: dict[int, FrameType], skip: set[int]
    ) -> Iterator[tuple[int, FrameType, Wait | None]]:
        """The program's running threads besides ``skip``: ident, frame, wait (if any)."""
        bystander = self.bystander
        for ident, frame in frames.items():
            if ident in skip or ident == self.ident or (bystander is not None and bystander(ident)):
                continue
            wait = snapshot.waiting.get(ident)
            if standing(frame, wait) == RUNNING:
                yield ident, frame, wait

    def _check_running(
        self, snapshot: Snapshot, now: int, frames: dict[int, FrameType]
    ) -> list[Deadlock]:
        """Threads waiting for a signal, holding a lock those who could give it wait for."""
        assert self._traces is not None
        found: list[Deadlock] = []
        candidates = held_while_waiting(snapshot, self._traces, now, self._held_ns)
        if not candidates:
            return found
        if not frames:
            frames.update(current_frames())
        fed = signal_fed({snapshot.waiting[ident].primitive for ident, _ in candidates})
        for ident, blocked in candidates:
            group = [ident, *blocked]
            primitive = snapshot.waiting[ident].primitive
            # None: nothing else runs, so nothing else could give the signal either: the
            # same deadlock, not a hang to report at the full hang timeout.
            if (
                primitive in fed
                or self._unrelated_run(snapshot, frames, set(group), {primitive}, self._held_ns)
                is False
            ):
                continue
            deadlock = self._report(snapshot, now, group, frames, len(group), kind="held")
            if deadlock is not None:
                found.append(deadlock)
        return found

    def _check_hang_running(
        self, snapshot: Snapshot, now: int, frames: dict[int, FrameType]
    ) -> Hang | None:
        """Threads blocked for good on signals nothing touches, while unrelated threads run."""
        from .._core.records import replace
        from .findings import Hang

        assert self._traces is not None
        subjects = hang_subjects(snapshot, self._traces, now, self._hang_timeout_ns)
        if not subjects:
            return None
        if not frames:
            frames.update(current_frames())
        fed = signal_fed({snapshot.waiting[ident].primitive for ident in subjects})
        subjects = [
            ident
            for ident in subjects
            if ident in frames and snapshot.waiting[ident].primitive not in fed
        ]
        primitives = {snapshot.waiting[ident].primitive for ident in subjects}
        if not subjects or not self._unrelated_run(
            snapshot, frames, set(subjects), primitives, self._hang_timeout_ns
        ):
            return None  # fed, maybe, or nothing runs: then it is the other hang check's
        for ident in subjects:
            snapshot.waiting[ident].reported = True
        threads = []
        for ident in subjects:
            thread = blocked_thread(ident, snapshot, frames.get(ident), now)
            wait = snapshot.waiting[ident]
            threads.append(replace(thread, cause=causes(wait, snapshot, self._traces)))
        threads.sort(key=lambda thread: -(thread.waiting_ns or 0))
        oldest = max(thread.waiting_ns or 0 for thread in threads)
        waits = tuple(snapshot.waiting[ident] for ident in subjects)
        holds = held_by(snapshot, frames, now)
        return Hang(oldest, tuple(threads), holds, others_run=True, waits=waits)

    def _all_blocked(
        self, frames: dict[int, FrameType], waiting: dict[int, Wait], stuck: Container[int]
    ) -> bool:
        """Whether every thread of the program but the ``stuck`` ones is blocked for good."""
        if not frames:
            frames.update(current_frames())
        bystander = self.bystander
        return not any(
            ident != self.ident
            and ident not in stuck
            and standing(frame, waiting.get(ident)) == RUNNING
            and not (bystander is not None and bystander(ident))
            for ident, frame in frames.items()
        )

    def _check_hang(
        self, snapshot: Snapshot, frames: dict[int, FrameType], now: int, quiet_ns: int
    ) -> Hang | None:
        from .._core.records import replace
        from .findings import Hang

        waiting = snapshot.waiting
        subjects = []
        others = []
        bystander = self.bystander
        for ident, frame in frames.items():
            if ident == self.ident or (bystander is not None and bystander(ident)):
                continue
            state = standing(frame, waiting.get(ident))
            if state == RUNNING:
                return None  # it may still feed the waiters (or wakes up by itself)
            if state == WAITING:
                subjects.append(ident)
            elif state == OUTSIDE and not frame.f_code.co_filename.startswith(SYNCSCOPE_DIR):
                others.append(ident)  # not one inside syncscope (check_deadlocks()'s caller)
        if not subjects or all(waiting[ident].reported for ident in subjects):
            return None  # nobody waits, or a deadlock report already named them
        fed = signal_fed({waiting[ident].primitive for ident in subjects})
        if fed and any(waiting[ident].primitive in fed for ident in subjects):
            return None  # a signal may end it: the program waits for one, maybe
        threads = [blocked_thread(ident, snapshot, frames.get(ident), now) for ident in subjects]
        threads.sort(key=lambda thread: -(thread.waiting_ns or 0))
        threads += [outside_thread(ident, snapshot, frames[ident], now) for ident in others]
        holds = held_by(snapshot, frames, now)
        threads = [
            replace(thread, cause=causes(snapshot.waiting[thread.ident], snapshot, self._traces))
            if self._traces is not None and thread.ident in snapshot.waiting
            else thread
            for thread in threads
        ]
        return Hang(quiet_ns, tuple(threads), holds, waits=tuple(waiting[i] for i in subjects))


def _sighting(hang: Hang, snapshot: Snapshot, frames: dict[int, FrameType]) -> tuple[Any, ...]:
    """
    A hang's threads and what each is blocked in: its wait, and where each frame of its stack
    stands (an unwatched wait that ended and one begun elsewhere differ by their callers).
    """
    seen = []
    for thread in hang.threads:
        frame: FrameType | None = frames.get(thread.ident)
        stack = []
        while frame is not None:
            stack.append((frame.f_code, frame.f_lasti))
            frame = frame.f_back
        seen.append((thread.ident, snapshot.waiting.get(thread.ident), tuple(stack)))
    return tuple(seen)
