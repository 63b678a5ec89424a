"""
syncscope's own threads: started raw, so that ``threading.enumerate()`` does not show them to
the program and its shutdown never waits for them; asleep while they have nothing to do; and
out of the way of a single-threaded program's ``os.fork()``.

From 3.12 on, ``os.fork()`` warns "This process is multi-threaded, use of fork() may lead to
deadlocks in the child" when the OS counts more than one thread in the process. A program
with one thread of its own, forked under syncscope, would get that warning for a thread of
ours, at every fork (fasteners' and loguru's suites, through ``multiprocessing``). So before a
fork made by the program's only thread, each thread of ours started here that can steps aside:
it ends, and the fork waits (briefly) until the OS no longer counts it. It comes back after
the fork: in the parent's after-fork hook where CPython counts the threads before those hooks
run (3.12, and 3.14.1 on), or else when it is next needed (3.13 and 3.14.0 count them after
the hooks). A program with threads of its own gets the warning as it would without syncscope.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import sys
import time
import weakref

from .compat import current_frames
from .dispatch import guard
from .fork import reset_after_fork
from .registry import allocate_lock


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


#: Longest a fork waits for the OS to let a thread that stepped aside go, in seconds.
GONE_WITHIN = 0.05
#: Longest a Ticker sleeps when nothing wakes it, in seconds.
BACKSTOP = 5.0

#: The idents of the threads of ours running now (started by :func:`start`).
_ours: set[int] = set()


class Started:
    """One thread of ours: its ident once it runs, and a way to wait for it to be gone."""

    __slots__ = ("_handle", "_native", "done", "finished", "ident")

    def __init__(self) -> None:
        self.ident: int | None = None
        self._native: int | None = None
        self._handle: Any = None
        #: Released as the thread's Python part ends (and taken again by who waits for it).
        self.done = allocate_lock()
        self.done.acquire()
        #: Whether the thread's Python part is over.
        self.finished = False

    def gone(self, timeout: float = GONE_WITHIN) -> None:
        """After ``done``: until the OS thread is gone too, for ``timeout`` seconds at most."""
        deadline = time.monotonic() + timeout
        if self._handle is not None:  # 3.13+: joined, the OS thread has ended
            with contextlib.suppress(Exception):
                self._handle.join(timeout)
        # Ended is not yet uncounted: the kernel lets a thread's task go (and counts one thread
        # less, which is what the fork's warning reads) a moment after a join returns. Before
        # 3.13 a thread of ``_thread`` cannot be joined at all. Linux only; elsewhere, no wait.
        task = f"/proc/self/task/{self._native}"
        while os.path.exists(task) and time.monotonic() < deadline:
            time.sleep(0.0001)


def start(run: Callable[[], None]) -> Started:
    """Run ``run`` on a thread of ours."""
    started = Started()

    def thread() -> None:
        ident = started.ident = _thread.get_ident()
        started._native = _thread.get_native_id()
        _ours.add(ident)
        try:
            run()
        finally:
            _ours.discard(ident)
            started.ident = None  # a thread started from now on may be given the same ident
            started.finished = True
            started.done.release()

    joinable = getattr(_thread, "start_joinable_thread", None)
    if joinable is not None:
        started._handle = joinable(thread, daemon=True)
    else:
        _thread.start_new_thread(thread, ())
    return started


def only_program_thread() -> bool:
    """Whether the calling thread is the program's only one, the threads of ours aside."""
    me = _thread.get_ident()
    return all(ident == me or ident in _ours for ident in current_frames())


# -- stepping aside for a fork ----------------------------------------------------------------

#: The order in which threads of ours step aside: each after what may hand it work as it
#: ends. A watchdog's last look may find something, which the span worker turns into spans
#: for the sending thread; the writers write what any of them says.
LOOKS, BUILDS, SENDS, WRITES = range(4)
#: What may step aside, by that order: objects with a ``step_aside()`` that ends their thread
#: and returns it (None: it had none running, or keeps it), to be started again when next
#: needed, or after the fork by their ``come_back()``, if they have one.
_aside_by_order: tuple[weakref.WeakSet[Any], ...] = tuple(weakref.WeakSet() for _ in range(4))


def steps_aside_for_forks(obj: Any, order: int = LOOKS) -> None:
    _aside_by_order[order].add(obj)


def _before_fork() -> None:
    if not any(_aside_by_order) or not only_program_thread():
        return
    ended = []
    for objects in _aside_by_order:
        for obj in list(objects):
            with contextlib.suppress(Exception):  # a fork must never fail because of us
                started = obj.step_aside()
                if started is not None:
                    ended.append(started)
    for started in ended:
        started.gone()


def _after_fork_in_parent() -> None:
    """Back at once, where the threads were counted before this hook (see below)."""
    for objects in _aside_by_order:
        for obj in list(objects):
            come_back = getattr(obj, "come_back", None)
            if come_back is not None:
                with contextlib.suppress(Exception):
                    come_back()


# The warning came with 3.12: before, a thread of ours has nothing to step aside for. 3.12
# counts the threads before the parent's after-fork hooks run, and starts no thread once the
# interpreter shuts down: a watchdog waiting for the next wait to come back would not come
# back for a deadlock at exit. There it comes back in the hook. 3.13.0 counts them after the
# hooks (measured), and starts threads at exit: there it comes back at the next wait (see
# Ticker.wake). CPython's gh-137109 counts them before the hooks again, from 3.14.1 on (read
# in its source and the 3.14 backport, not run here): there, back in the hook. Its backport
# to 3.13 is not relied on: the next wait is right whichever way a 3.13 counts.
COUNTS_BEFORE_HOOKS = sys.version_info < (3, 13) or sys.version_info >= (3, 14, 1)
if hasattr(os, "register_at_fork") and sys.version_info >= (3, 12):
    if COUNTS_BEFORE_HOOKS:
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)
    else:
        os.register_at_fork(before=_before_fork)


# -- a thread that looks at something at intervals --------------------------------------------


class Ticker:
    """
    A thread of ours that calls ``look()`` every ``interval`` seconds while ``wanted()``, and
    sleeps otherwise, taking no turn and no CPU, until :meth:`wake` (``arm`` is told where to
    ring: ``arm(self.wake)`` while it sleeps, ``arm(None)`` once woken), or :data:`BACKSTOP`
    seconds. It steps aside for a single-threaded program's fork (see the module's docstring)
    and comes back at :meth:`come_back` or the next :meth:`wake`.
    """

    def __init__(
        self,
        look: Callable[[], None],
        wanted: Callable[[], bool],
        arm: Callable[[Callable[[], None] | None], None],
        interval: float,
    ) -> None:
        self._look = look
        self._wanted = wanted
        self._arm = arm
        self._interval = interval
        #: Sleeps and looks, counted.
        self.idles = 0
        self.looks = 0
        #: Not stopped (``stop``); may be aside for a fork meanwhile.
        self.running = True
        #: Stepped aside for a fork: the next wake() starts the thread again.
        self._aside = False
        #: Serializes starting again, stepping aside and stopping.
        self._turn = allocate_lock()
        self._thread: Started | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread = self._start()
        steps_aside_for_forks(self)

    @property
    def ident(self) -> int | None:
        """The thread's ident while it runs (None before and after)."""
        return self._thread.ident if self._thread is not None else None

    def _start(self) -> Started:
        # Each thread its own pair: one that outlived a step aside (see step_aside) must not
        # take its successor's wake, nor miss its own end. ``stop`` is released to end the
        # thread, ``wake`` (too) to end a sleep.
        stop = allocate_lock()
        stop.acquire()
        wake = allocate_lock()
        wake.acquire()
        self._stop, self._wake = stop, wake
        return start(lambda: self._run(stop, wake))

    def _run(self, stop: Any, wake: Any) -> None:
        guard.busy = True  # nothing this thread does is recorded
        while stop.locked():
            if not self._wanted():
                self._idle(stop, wake)
                continue  # woken: wanted now, or ended, or the backstop (then asleep again)
            if stop.acquire(timeout=self._interval):
                break
            self.looks += 1
            self._look()

    def _idle(self, stop: Any, wake: Any) -> None:
        self.idles += 1
        self._arm(self.wake)
        try:
            if not self._wanted():  # wanted before ``arm``: nobody rang
                # A backstop: a wake lost for whatever reason costs a few seconds, not all.
                wake.acquire(timeout=BACKSTOP)
        finally:
            if stop.locked():  # still this thread's to arm (see step_aside)
                self._arm(None)

    def wake(self) -> None:
        """
        Look again from now on (from any thread), starting the thread again if it stepped
        aside. Never raises: it runs in the program's wait (at interpreter shutdown, 3.12
        starts no thread).
        """
        self._arm(None)  # once is enough
        if self._aside:
            # Not waiting for the turn: whoever has it starts the thread (another wait), or
            # stops it; or this very thread has it, interrupted there by a signal handler.
            if not self._turn.acquire(False):
                return
            try:
                if self._aside and self.running:
                    self._thread = self._start()
                    self._aside = False
            except Exception:  # no thread to be had: the next wait tries again
                self._arm(self.wake)
            finally:
                self._turn.release()
            return
        with contextlib.suppress(RuntimeError):  # released already: another thread woke it
            self._wake.release()

    def come_back(self) -> None:
        """After a fork it stepped aside for: start the thread again now, if it is to run."""
        if self._aside:
            self.wake()

    def _end(self) -> None:
        for lock in (self._stop, self._wake):
            with contextlib.suppress(RuntimeError):  # already released
                lock.release()

    def step_aside(self) -> Started | None:
        """
        Before a fork: end the thread (see the module's docstring); wake() starts it again.
        Not while a wait it must look at is on (a signal handler's fork, during a wait of the
        forking thread): the thread then stays, and so does the fork's warning.
        """
        with self._turn:
            thread = self._thread
            if not self.running or self._aside or thread is None or self._wanted():
                return None
            if thread.ident == _thread.get_ident():
                return None
            self._aside = True
            try:
                self._end()
                thread.done.acquire(timeout=1.0)
            finally:
                self._arm(self.wake)
            if self._wanted():  # begun meanwhile: its wake found the thread ending
                self._arm(None)
                self._thread = self._start()
                self._aside = False
                return None
            return thread

    def after_fork_in_child(self) -> None:
        """In a forked child, where the thread does not exist: stopped, nothing to wait for."""
        self.running = False
        self._aside = False
        self._arm(None)
        self._turn = allocate_lock()
        self._thread = None

    def stop(self) -> None:
        """End the thread and wait (briefly) for it; harmless from the thread itself."""
        with self._turn:
            if not self.running:
                return
            self.running = False
            self._arm(None)
            thread = self._thread
            if self._aside or thread is None:
                return
            self._end()
        if _thread.get_ident() != thread.ident:
            thread.done.acquire(timeout=2 * self._interval + 1)

    @property
    def stopped(self) -> bool:
        """Whether the thread is over, not to start again."""
        thread = self._thread
        return not self.running and (thread is None or thread.finished)


# -- a thread that works until it is done ------------------------------------------------------


class Resumable:
    """
    A thread of ours that runs ``run(leaving)`` until its work is done, and steps aside for a
    single-threaded program's fork between two rounds of that work.

    ``run`` returns True when it left because ``leaving()`` said so (it is woken for that
    with ``ring()``), False when it is done for good. The fork waits for it only while
    ``ready()``: not while it imports (a module imported then may register fork hooks, whose
    after-fork half would run without the before half). It comes back after the fork (see
    :meth:`come_back`), or, where CPython counts the threads after the hooks, at the next
    :meth:`resume`: its owner calls that whenever it hands the thread work. Nothing is lost
    while it is aside, only delayed: the work waits where it was left.
    """

    def __init__(
        self,
        run: Callable[[Callable[[], bool]], bool],
        ring: Callable[[], None],
        ready: Callable[[], bool],
    ) -> None:
        self._run = run
        self._ring = ring
        self._ready = ready
        #: Stepped aside for a fork: the next resume() or come_back() starts it again.
        self.aside = False
        #: ``run`` returned False: not to start again.
        self.over = False
        #: Serializes starting again and stepping aside.
        self._turn = allocate_lock()
        #: Held while ``run`` runs: a thread that outlived a step aside (see step_aside) ends
        #: its round before its successor begins one.
        self._running = allocate_lock()
        #: The lock the newest thread leaves by (released: asked to leave).
        self._leave: Any = None
        #: The leave lock of the thread running rounds, while it does: one late for a fork is
        #: asked back rather than followed by another (see resume). Changed under ``_handover``.
        self._inside: Any = None
        self._handover = allocate_lock()
        self._thread: Started | None = None
        reset_after_fork(self)

    def start(
        self, order: int, spawn: Callable[[Callable[[], None]], Started] | None = None
    ) -> None:
        """
        Start the thread (once), with ``spawn`` (a thread started earlier may be handed the
        work: see the spans' SpareThread); a RuntimeError if no thread can be started. It
        steps aside for forks in ``order`` (see LOOKS).
        """
        self._thread = self._start(spawn)
        steps_aside_for_forks(self, order)

    def _start(self, spawn: Callable[[Callable[[], None]], Started] | None = None) -> Started:
        # Each thread its own lock to leave by: one that outlived a step aside must not take
        # its successor's.
        leave = self._leave = allocate_lock()
        leave.acquire()
        return (spawn or start)(lambda: self._main(leave))

    def _main(self, leave: Any) -> None:
        with self._running:
            with self._handover:
                self._inside = leave
            try:
                # Not asked to leave (before it even began), or asked back (see resume).
                while leave.locked() and not self.over:
                    if not self._run(lambda: not leave.locked()):
                        self.over = True
                        return
                    with self._handover:
                        if not leave.locked():  # gone, for the fork
                            return
            finally:
                with self._handover:
                    if self._inside is leave:
                        self._inside = None

    def step_aside(self) -> Started | None:
        """Before a fork: ask the thread to leave, and wait (a second at most) until it has."""
        with self._turn:
            thread = self._thread
            if self.aside or self.over or thread is None or thread.finished:
                return None
            if thread.ident == _thread.get_ident():  # a fork made by this very thread
                return None
            self.aside = True
            self._leave.release()
            self._ring()
            # Asked first, then: ``ready()`` cannot turn false once the request is seen.
            if self._ready() and thread.done.acquire(timeout=1.0):
                return thread
            return None  # busy: it leaves after this round, and the fork keeps its warning

    def resume(self, wait: bool = False) -> bool:
        """
        Start the thread again if it stepped aside (from any thread; never raises). True when
        it runs, or has no more work; False when it is aside still: no thread to be had
        (3.12's shutdown), or (unless ``wait``, a second at most) another caller is starting
        it or stepping it aside right now.
        """
        if not self.aside:
            return True
        if not self._turn.acquire(wait, 1.0 if wait else -1):  # see Ticker.wake
            return False
        try:
            if not self.aside:  # back already: another caller brought it
                return True
            if self.over:  # ended for good as it was asked to leave: nothing to come back to
                self.aside = False
                return True
            with self._handover:
                leave = self._leave
                if self._inside is leave and leave.acquire(False):
                    # Late for the fork, still in its round: asked back, it goes on (a fork
                    # during every slow export would otherwise leave a thread waiting).
                    self.aside = False
                    return True
            self._thread = self._start()
            self.aside = False
        except Exception:
            return False
        finally:
            self._turn.release()
        return True

    def come_back(self) -> None:
        """After a fork it stepped aside for: start the thread again now."""
        self.resume()

    def _after_fork_in_child(self) -> None:
        # The thread does not exist in the child: over, nothing to wait for at its forks.
        self.over = True
        self.aside = False
        self._thread = None
        self._turn = allocate_lock()
        self._running = allocate_lock()
        self._handover = allocate_lock()
        self._inside = None
