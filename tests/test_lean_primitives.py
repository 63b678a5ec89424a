"""
Lean statistics for the class-based primitives: Condition, Semaphore, BoundedSemaphore, Event,
Barrier and the queues count the operations that do not wait in place. The figures must be the
event path's, and the primitives must stay drop-ins.
"""

from __future__ import annotations

import _thread
import inspect
import json
import operator
import os
import queue
import signal
import sys
import threading
import time
import traceback
import unittest
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core import leanholds
from syncscope._core.dispatch import hidden
from syncscope._core.state import state
from syncscope._core.tracking import primitive_of, watches
from syncscope._sinks.figures import PrimitiveStats
from syncscope.testing import Recording

from .conftest import Latch, join, run_syncscope, start_thread
from .support.process import script
from .support.programs_own import watch_as_programs_own
from .test_lean import full_recording, lean_recording, wait_until_blocked


lock_tests = pytest.importorskip("test.lock_tests", reason="CPython's test package is missing")
test_queue = pytest.importorskip("test.test_queue", reason="CPython's test package is missing")


@pytest.fixture
def lean() -> Iterator[Recording]:
    with lean_recording() as rec:
        assert state.lean is not None, "the lean path is not on"
        yield rec


#: Every counter the statistics keep for a primitive, but its owner changes (not checked on
#: the lean path) and its times (which differ from run to run).
COUNTERS = (
    "acquisitions",
    "holds",
    "contended",
    "timeouts",
    "failed",
    "waits",
    "wait_timeouts",
    "notifies",
    "woken",
    "sets",
    "broken",
    "puts",
    "gets",
    "max_size",
    "full_waits",
    "empty_waits",
    "rejected",
    "task_done",
    "unfinished",
    "errors",
)


def figures(s: PrimitiveStats) -> dict[str, Any]:
    return {name: getattr(s, name) for name in COUNTERS}


def program() -> dict[str, Any]:
    """Every operation of every class-based primitive, waiting or not, failing or not."""
    sem, bsem = threading.Semaphore(2), threading.BoundedSemaphore(1)
    event, cond, barrier = threading.Event(), threading.Condition(), threading.Barrier(1)
    q, lifo, simple = queue.Queue(2), queue.LifoQueue(), queue.SimpleQueue()

    for _ in range(3):
        with sem:
            assert sem.acquire() is True
            sem.release()
    assert sem.acquire(timeout=5) is True
    sem.release(1)
    sem.release(2)  # with no permit out: a signal, no hold ends
    assert sem.acquire(False) is True
    with pytest.raises(ValueError):
        sem.acquire(False, 1)
    with pytest.raises(ValueError):
        sem.release(0)

    assert bsem.acquire() is True
    assert bsem.acquire(False) is False
    assert bsem.acquire(timeout=0.001) is False  # contended, timed out
    bsem.release()
    with pytest.raises(ValueError):
        bsem.release()
    taken, given = Latch(), Latch()

    def take_and_wait() -> None:
        bsem.acquire()
        taken.set()
        given.wait()

    thread = start_thread(take_and_wait)
    taken.wait()
    bsem.release()  # another thread's permit: its hold ends
    given.set()
    join(thread)

    def give_back_when_blocked() -> None:
        waiting_on(bsem._cond)  # type: ignore[attr-defined]
        bsem.release()

    bsem.acquire()
    thread = start_thread(give_back_when_blocked)
    assert bsem.acquire(timeout=5) is True  # contended, got it
    join(thread)
    bsem.release()

    event.set()
    assert event.wait() is True
    assert event.wait(0) is True
    assert event.is_set()
    event.clear()
    assert event.wait(0.001) is False
    event.set()
    event.set()

    with cond:
        cond.notify()
        cond.notify(3)
        cond.notify_all()
        assert cond.wait(0.001) is False
        assert cond.wait_for(lambda: True) is True
    with pytest.raises(RuntimeError):
        cond.notify()
    with pytest.raises(RuntimeError):
        cond.notify_all()

    assert barrier.wait() == 0
    barrier.reset()
    barrier.abort()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()

    blocking = _blocking_waits()

    q.put(1)
    q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.001)
    assert q.get() == 1
    with pytest.raises(ValueError):
        q.put(3, timeout=-1)  # rejected even with room
    with pytest.raises(ValueError):
        q.get(timeout=-1)  # rejected even with an item in the queue
    assert q.get(timeout=5) == 2
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.001)
    q.task_done()
    q.task_done()
    with pytest.raises(ValueError):
        q.task_done()
    q.join()

    lifo.put(1)
    lifo.put(2, timeout=1)
    assert lifo.get(block=False) == 2
    assert lifo.get(True, 0) == 1

    simple.put(1)
    simple.put_nowait(2)
    simple.put(3, block=False, timeout=-1)  # SimpleQueue.put ignores both
    assert simple.get() == 1
    assert simple.get(timeout=1) == 2
    assert simple.get_nowait() == 3
    with pytest.raises(queue.Empty):
        simple.get_nowait()
    with pytest.raises(queue.Empty):
        simple.get(timeout=0.001)
    simple.put(4)
    with pytest.raises(ValueError):
        simple.get(timeout=-1)
    return {
        "sem": sem,
        "bsem": bsem,
        "event": event,
        "cond": cond,
        "barrier": barrier,
        "queue": q,
        "lifo": lifo,
        "simple": simple,
        **blocking,
    }


def _blocking_waits() -> dict[str, Any]:
    """Barrier, Condition and Event waits that block, pass, time out and break."""
    barrier, timed, aborted = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)
    cond, event = threading.Condition(), threading.Event()

    thread = start_thread(barrier.wait)  # one of the two waits for the other
    assert barrier.wait(timeout=5) in (0, 1)
    join(thread)
    thread = start_thread(barrier.wait, 5)
    waiting_on(barrier._cond)  # type: ignore[attr-defined]
    assert barrier.wait(5) == 1  # the last arriver: it did not wait
    join(thread)

    with pytest.raises(threading.BrokenBarrierError):
        timed.wait(0.001)  # times out: the barrier breaks
    with pytest.raises(threading.BrokenBarrierError):
        timed.wait()  # broken already

    broken: list[BaseException] = []

    def wait_to_be_broken() -> None:
        try:
            aborted.wait(5)
        except threading.BrokenBarrierError as exc:
            broken.append(exc)

    thread = start_thread(wait_to_be_broken)
    waiting_on(aborted._cond)  # type: ignore[attr-defined]
    aborted.abort()
    join(thread)
    assert len(broken) == 1

    ready: list[int] = []

    def notify_when_waiting() -> None:
        waiting_on(cond)
        with cond:
            ready.append(1)
            cond.notify()

    with cond:
        thread = start_thread(notify_when_waiting)
        assert cond.wait(5) is True
        join(thread)
        ready.clear()
        thread = start_thread(notify_when_waiting)
        assert cond.wait_for(lambda: ready, 5) == [1]
        join(thread)
        assert cond.wait_for(lambda: False, 0.001) is False
        assert cond.wait(0) is False

    def set_when_waiting() -> None:
        waiting_on(event._cond)  # type: ignore[attr-defined]
        event.set()

    thread = start_thread(set_when_waiting)
    assert event.wait(5) is True
    join(thread)

    # A put that waits for room, a get that waits for an item: both get there.
    bounded, empty = queue.Queue(1), queue.Queue()
    bounded.put(0)

    def make_room_when_waiting() -> None:
        waiting_on(bounded.not_full)
        assert bounded.get() == 0

    thread = start_thread(make_room_when_waiting)
    bounded.put(1, timeout=5)
    join(thread)

    def put_when_waiting() -> None:
        waiting_on(empty.not_empty)
        empty.put(7)

    thread = start_thread(put_when_waiting)
    assert empty.get() == 7
    join(thread)
    return {
        "barrier2": barrier,
        "timed barrier": timed,
        "aborted barrier": aborted,
        "cond2": cond,
        "event2": event,
        "bounded queue": bounded,
        "empty queue": empty,
    }


#: What a call site counts of the operations that waited, timed out or failed: the lean path
#: looks up the site of those only. (Not ``waits``: a wait that did not block, on a set Event
#: or by a Barrier's last arriver, counts at its site on the event path only.)
SITE_WAITS = (
    "contended",
    "timeouts",
    "failed",
    "wait_timeouts",
    "full_waits",
    "empty_waits",
    "rejected",
)


def site_waits(s: PrimitiveStats) -> dict[int, tuple[Any, ...]]:
    """Per line: the site's counts of what waited, and whether a queue's waits took time."""
    found = {}
    for site in s.sites:
        counts = tuple(getattr(site, name) for name in SITE_WAITS)
        if any(counts):
            found[site.line] = (*counts, site.blocked_full_s > 0, site.blocked_empty_s > 0)
    return found


def waiting_on(cond: Any, timeout: float = 5) -> None:
    """Until a thread waits on ``cond``, a library primitive's own Condition (no event says so)."""
    deadline = time.monotonic() + timeout
    while not cond._waiters:
        assert time.monotonic() < deadline, "no thread waited in time"
        time.sleep(0.001)


class TestFigures:
    def test_the_same_figures_as_the_event_path(self) -> None:
        """The program gives the same counts either way, primitive by primitive."""
        with lean_recording() as lean:
            assert state.lean is not None
            lean_prims = program()
        with full_recording() as full:
            assert state.lean is None
            full_prims = program()
        lean_figures = {name: figures(lean.stats(p)) for name, p in lean_prims.items()}
        full_figures = {name: figures(full.stats(p)) for name, p in full_prims.items()}
        for name in lean_prims:
            assert lean_figures[name] == full_figures[name], name
        # Where the waits, timeouts and failures were: the same sites, the same counts.
        for name, p in lean_prims.items():
            assert site_waits(lean.stats(p)) == site_waits(full.stats(full_prims[name])), name
        assert (1, 1) == (
            lean_figures["bounded queue"]["full_waits"],
            lean_figures["empty queue"]["empty_waits"],
        )
        # Not an empty comparison: every kind did something.
        assert (8, 7) == (lean_figures["sem"]["acquisitions"], lean_figures["sem"]["holds"])
        assert (4, 2, 1, 1) == tuple(
            lean_figures["bsem"][name]
            for name in ("acquisitions", "contended", "timeouts", "failed")
        )
        assert lean_figures["bsem"]["holds"] == 4
        assert lean_figures["barrier2"]["waits"] == 4
        assert (2, 2) == (
            lean_figures["timed barrier"]["waits"],
            lean_figures["timed barrier"]["broken"],
        )
        assert lean_figures["aborted barrier"]["broken"] == 1
        assert (4, 2) == (lean_figures["cond2"]["waits"], lean_figures["cond2"]["wait_timeouts"])
        assert lean_figures["event2"]["waits"] == 1

    def test_operations_that_do_not_wait_are_counted_in_place(self, lean: Recording) -> None:
        """No call site looked up, no event made: their sites are not counted."""
        sem, event, cond = threading.Semaphore(), threading.Event(), threading.Condition()
        q, simple = queue.Queue(), queue.SimpleQueue()
        with sem:
            pass
        event.set()
        event.wait()
        with cond:
            cond.notify()
        q.put(1)
        q.get()
        q.task_done()
        simple.put(1)
        simple.get()
        for primitive in (sem, event, cond, q, simple):
            assert lean.stats(primitive).sites == (), primitive
        assert (1, 1) == (lean.stats(sem).acquisitions, lean.stats(sem).holds)
        assert (1, 1) == (lean.stats(event).sets, lean.stats(event).waits)
        assert 1 == lean.stats(cond).notifies
        assert (1, 1, 1, 0) == (
            lean.stats(q).puts,
            lean.stats(q).gets,
            lean.stats(q).task_done,
            lean.stats(q).unfinished,
        )

    def test_operations_that_wait_are_counted_at_their_site(self, lean: Recording) -> None:
        """A wait, a timeout, a failure: where it happened is in the figures."""
        sem, event, q = threading.Semaphore(0), threading.Event(), queue.Queue()
        assert sem.acquire(timeout=0.001) is False
        line_sem = _line() - 1
        assert event.wait(0.001) is False
        line_event = _line() - 1
        with pytest.raises(queue.Empty):
            q.get(timeout=0.001)
        line_queue = _line() - 1
        assert [(s.line, s.timeouts) for s in lean.stats(sem).sites] == [(line_sem, 1)]
        assert [(s.line, s.wait_timeouts) for s in lean.stats(event).sites] == [(line_event, 1)]
        assert [(s.line, s.rejected) for s in lean.stats(q).sites] == [(line_queue, 1)]

    def test_a_barriers_last_arriver_did_not_wait(self, lean: Recording) -> None:
        """The thread that lets the others go is counted for the barrier, not at its site."""
        barrier = threading.Barrier(2)

        def first() -> None:
            barrier.wait(5)

        thread = start_thread(first)
        waiting_on(barrier._cond)  # type: ignore[attr-defined]
        assert barrier.wait(5) == 1
        join(thread)
        s = lean.stats(barrier)
        assert s.waits == 2
        assert [(site.function, site.waits) for site in s.sites] == [("first", 1)]
        assert s.max_waited_s > 0

    def test_a_semaphore_hold_covers_the_hold(self, lean: Recording) -> None:
        """A permit held around a known pause is at least that long."""
        sem = threading.Semaphore(3)
        with sem:
            start = time.perf_counter()
            while time.perf_counter() - start < 0.02:
                pass
        s = lean.stats(sem)
        assert 1 == s.holds
        assert s.max_hold_s >= 0.02

    def test_a_release_ends_the_callers_newest_permit(self, lean: Recording) -> None:
        """Nested permits of one thread: the inner release ends the inner, shorter hold."""
        sem = threading.Semaphore(2)
        with sem:
            with sem:
                pass
            start = time.perf_counter()
            while time.perf_counter() - start < 0.02:
                pass
        s = lean.stats(sem)
        assert 2 == s.holds
        assert s.total_hold_s - s.max_hold_s < 0.02, "the inner release ended the outer hold"

    def test_release_of_several_permits(self, lean: Recording) -> None:
        """release(n) ends up to n holds; a release with no permit out ends none."""
        sem = threading.Semaphore(3)
        for _ in range(3):
            sem.acquire()
        sem.release(2)
        assert 2 == lean.stats(sem).holds
        sem.release(2)
        assert 3 == lean.stats(sem).holds
        sem.release()
        assert 3 == lean.stats(sem).holds

    def test_permits_taken_before_the_statistics_began_are_not_theirs(self) -> None:
        sem = None
        with lean_recording():
            sem = threading.Semaphore()
            sem.acquire()
        with lean_recording() as rec:
            assert state.lean is not None
            sem.release()
            with sem:
                pass
            assert (1, 1) == (rec.stats(sem).acquisitions, rec.stats(sem).holds)

    def test_with_the_checks_on_the_hang_check_still_hears_of_them(self) -> None:
        """
        Under -q's checks too, operations that do not wait count in place; the hang check is
        told what happened last to each Event, Condition and queue, and where it was set.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            assert state.diagnosis is not None
            sem, flag, q = threading.Semaphore(), threading.Event(), queue.Queue()
            with sem:
                pass
            flag.set()
            line = sys._getframe().f_lineno - 1
            q.put(1)
            q.get()
            simple: queue.SimpleQueue[int] = queue.SimpleQueue()
            simple.put(1)
            simple.get()
        assert [site.acquisitions for site in rec.stats(sem).sites] == []
        assert [site.sets for site in rec.stats(flag).sites] == []
        assert (rec.stats(simple).puts, rec.stats(simple).gets) == (1, 1)
        assert [site.gets for site in rec.stats(simple).sites] == []
        traces = rec._recorder.traces
        assert traces is not None
        flag_trace, queue_trace = traces.get(primitive_of(flag)), traces.get(primitive_of(q))
        assert flag_trace is not None and flag_trace.was_set is not None
        assert (flag_trace.was_set.op, flag_trace.was_set.line) == ("set", line)
        for trace in (queue_trace, traces.get(primitive_of(simple))):
            assert trace is not None
            assert len(trace.putters) == len(trace.getters) == 1

    def test_with_the_checks_on_waits_for_a_signal_are_announced(self) -> None:
        """
        Under -q, a Barrier, Condition or Event wait counted in place is still one the
        watchdog sees while it lasts, at its call site, and the hang check hears of it.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            assert state.diagnosis is not None
            barrier, cond, event = threading.Barrier(2), threading.Condition(), threading.Event()
            waiting = rec._recorder.holds.waiting
            traces = rec._recorder.traces
            assert traces is not None

            def wait_on_all() -> None:
                barrier.wait(5)
                with cond:
                    cond.wait_for(event.is_set, 5)
                event.wait(5)

            thread = start_thread(wait_on_all)
            seen = []
            for primitive, latch in (
                (barrier, barrier._cond),  # type: ignore[attr-defined]
                (cond, cond),
            ):
                waiting_on(latch)
                wait = waiting[thread.ident]
                seen.append((wait.primitive, wait.op, wait.site[2], wait.timeout))
                assert traces.last_ns(primitive_of(primitive)) is not None
                if primitive is barrier:
                    barrier.wait(5)
                else:
                    with cond:
                        event.set()
                        cond.notify()
            join(thread)
            assert thread.ident not in waiting
        assert seen == [
            (primitive_of(barrier), "wait", "wait_on_all", 5.0),
            (primitive_of(cond), "wait_for", "wait_on_all", 5.0),
        ]
        assert (rec.stats(barrier).waits, rec.stats(cond).waits) == (2, 1)
        assert ident_in(traces.get(primitive_of(barrier)), thread.ident)

    @pytest.mark.parametrize("events", [0, 10], ids=["lean", "event path"])
    def test_a_wait_for_a_signal_is_its_condition_s_latest_use(self, events: int) -> None:
        """
        Under -q, a Condition's wait that begins, and one that ends, is the latest use the
        hang check knows of the Condition (the program still uses it: no waiter on it is
        hung yet), on the lean path as on the event path; the waiter is no operator of it.
        """
        with syncscope.record(detect_deadlocks=True, events=events, echo=False) as rec:
            assert (state.lean is not None) is (events == 0)
            traces = rec._recorder.traces
            assert traces is not None
            cond, woken = threading.Condition(), Latch()
            made = primitive_of(cond)

            def wait() -> None:
                with cond:
                    cond.wait(5)
                woken.set()

            before_wait = time.time_ns()
            thread = start_thread(wait)
            waiting_on(cond)
            began = traces.last_ns(made)
            with cond:
                cond.notify()
                notified = time.time_ns()  # the wait can end only once the lock is let go
            woken.wait()
            ended = traces.last_ns(made)
            join(thread)
        assert began is not None and began >= before_wait
        assert ended is not None and ended >= notified
        assert not ident_in(traces.get(made), thread.ident)

    def test_a_wait_called_from_c_is_counted(self) -> None:
        """
        Under -q, a Condition's wait run as a thread's target, called from C with no caller
        to tell a wait from a wait_for's by, returns as the original does and is counted.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            assert state.lean is not None
            lock = threading.Lock()
            cond = threading.Condition(lock)  # over a Lock: owned while anyone holds it
            # Taken here, and let go and taken back by the thread's wait(0), which times out
            # at once: the thread ends holding the lock (no join for such a thread), let go
            # here once it has ended, so that no hold of an exited thread is left behind.
            lock.acquire()
            _thread.start_new_thread(cond.wait, (0,))
            deadline = time.monotonic() + 5
            while not (holder := lock._syncscope_holder) or not holder.exited:  # type: ignore[attr-defined]
                assert time.monotonic() < deadline, "the wait did not end in time"
                time.sleep(0.001)
            lock.release()
            figures = rec.stats(cond)
        assert (figures.waits, figures.wait_timeouts) == (1, 1)

    @pytest.mark.parametrize("events", [0, 10], ids=["lean", "event path"])
    def test_with_the_checks_on_a_poll_that_finds_nothing_is_heard(self, events: int) -> None:
        """
        Under -q, a put or get asked not to wait that finds the queue full or empty counts as
        rejected at its call site, on the lean path as on the event path, and the hang check
        hears who made it: a thread that polls a queue is one that may still feed it.
        """
        with syncscope.record(detect_deadlocks=True, events=events, echo=False) as rec:
            assert (state.lean is not None) is (events == 0)
            full, empty = queue.Queue(1), queue.Queue()
            simple: queue.SimpleQueue[int] = queue.SimpleQueue()
            full.put(0)
            polled: list[int] = []

            def poll() -> None:
                polled.append(_line() + 2)  # the calls' lines: each lambda's, then call()'s
                for call, raised in (
                    (lambda: full.put_nowait(1), queue.Full),
                    (lambda: full.put(1, block=False), queue.Full),
                    (empty.get_nowait, queue.Empty),  # its get's caller: queue.py, then here
                    (lambda: empty.get(False), queue.Empty),
                    (simple.get_nowait, queue.Empty),
                    (lambda: simple.get(block=False), queue.Empty),
                ):
                    try:
                        call()
                    except raised as exc:
                        assert exc.__context__ is None  # nothing chained to it
                    else:
                        raise AssertionError(f"{raised.__name__} not raised")

            thread = start_thread(poll)
            join(thread)
            traces = rec._recorder.traces
            assert traces is not None
            for q in (full, empty, simple):
                assert traces.operated(thread.ident or 0, primitive_of(q))  # type: ignore[arg-type]
        first = polled[0]
        here = ("poll", first + 8)
        assert {
            name: sorted((s.function, s.line, s.rejected) for s in rec.stats(q).sites if s.rejected)
            for name, q in (("full", full), ("empty", empty), ("simple", simple))
        } == {
            "full": [("<lambda>", first, 1), ("<lambda>", first + 1, 1)],
            "empty": sorted([("<lambda>", first + 3, 1), (*here, 1)]),
            "simple": sorted([("<lambda>", first + 5, 1), (*here, 1)]),
        }
        assert [rec.stats(q).rejected for q in (full, empty, simple)] == [2, 2, 2]

    def test_with_the_checks_on_a_queue_wait_is_announced(self) -> None:
        """
        Under -q, a put that waits for room and a get that waits for an item are counted in
        place too, at their call site, and are waits the watchdog sees while they last; the
        hang check hears who put and who got.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            assert state.diagnosis is not None
            full, empty = queue.Queue(1), queue.Queue()
            full.put(0)
            waiting = rec._recorder.holds.waiting
            traces = rec._recorder.traces
            assert traces is not None
            lines: list[int] = []

            def put_then_get() -> None:
                full.put(1, timeout=5)
                lines.append(_line() - 1)
                empty.get(timeout=5)
                lines.append(_line() - 1)

            thread = start_thread(put_then_get)
            seen = []
            for q, latch in ((full, full.not_full), (empty, empty.not_empty)):
                waiting_on(latch)
                wait = waiting[thread.ident]
                seen.append((wait.primitive, wait.op, wait.site[1:], wait.timeout))
                if q is full:
                    assert full.get() == 0
                else:
                    empty.put(9)
            join(thread)
            assert thread.ident not in waiting
            putters = traces.get(primitive_of(full)).putters.values()  # type: ignore[union-attr]
            getters = traces.get(primitive_of(empty)).getters.values()  # type: ignore[union-attr]
            assert thread.ident in {life.ident for life in putters}
            assert thread.ident in {life.ident for life in getters}
        assert seen == [
            (primitive_of(full), "put", (lines[0], "put_then_get"), 5.0),
            (primitive_of(empty), "get", (lines[1], "put_then_get"), 5.0),
        ]
        put_stats, get_stats = rec.stats(full), rec.stats(empty)
        assert (put_stats.puts, put_stats.full_waits) == (2, 1)
        assert [(s.line, s.puts) for s in put_stats.sites] == [(lines[0], 1)]
        assert (get_stats.gets, get_stats.empty_waits) == (1, 1)
        assert [(s.line, s.gets) for s in get_stats.sites] == [(lines[1], 1)]

    def test_a_notify_keeps_how_many_it_woke(self) -> None:
        """
        Under -q, a notify counted in place still says whether it found a waiter: a hang
        report calls a wake-up lost "(it found no waiter)" only when it found none.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            cond = threading.Condition()
            woke = threading.Event()

            def waiter() -> None:
                with cond:
                    cond.wait(timeout=5)
                woke.set()

            thread = threading.Thread(target=waiter)
            thread.start()
            waiting_on(cond)
            traces = rec._recorder.traces
            assert traces is not None
            with cond:
                cond.notify()
            line = sys._getframe().f_lineno - 1
            assert woke.wait(timeout=5)
            thread.join(timeout=5)
            notified = traces.get(primitive_of(cond)).notified  # type: ignore[union-attr]
            assert notified is not None
            assert (notified.op, notified.waiters, notified.line) == ("notify", 1, line)
            assert notified.thread_name == threading.current_thread().name
            with cond:
                cond.notify_all()
            notified = traces.get(primitive_of(cond)).notified  # type: ignore[union-attr]
            assert notified is not None
            assert (notified.op, notified.waiters) == ("notify_all", 0)

    def test_a_mark_made_through_the_standard_librarys_code_names_the_programs_line(
        self,
    ) -> None:
        """
        Under -q, a set or notify made from code in threading's or queue's files is kept at
        the program's line that called that code, before and after marks made straight from
        the program (which the hang check knows at once, as the last user code it saw).
        """
        # A helper whose code is threading's own, as far as its file name goes.
        helper: dict[str, Any] = {}
        exec(compile("def relay(call):\n    call()\n", threading.__file__, "exec"), helper)
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            flag, cond = threading.Event(), threading.Condition()
            traces = rec._recorder.traces
            assert traces is not None

            def kept(primitive: object, attribute: str) -> tuple[str, int]:
                mark = getattr(traces.get(primitive_of(primitive)), attribute)
                return mark.op, mark.line

            flag.set()
            assert kept(flag, "was_set") == ("set", sys._getframe().f_lineno - 1)
            helper["relay"](flag.clear)
            assert kept(flag, "cleared") == ("clear", sys._getframe().f_lineno - 1)
            with cond:
                helper["relay"](cond.notify)
            assert kept(cond, "notified") == ("notify", sys._getframe().f_lineno - 1)
            with cond:
                cond.notify_all()
            assert kept(cond, "notified") == ("notify_all", sys._getframe().f_lineno - 1)

    def test_a_set_called_from_c_code(self) -> None:
        """
        Under -q an Event's set called with no Python caller (a thread's target, started with
        _thread) happens; the hang check's evidence has no site for it.
        """
        with syncscope.record(detect_deadlocks=True, events=0, echo=False):
            ready = threading.Event()
            _thread.start_new_thread(ready.set, ())
            assert ready.wait(timeout=5)

    @pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
    def test_a_permit_taken_from_c_code(self, kind: str) -> None:
        """
        Under -q a semaphore's acquire called with no Python caller takes its permit: it was
        undone with "call stack is not deep enough" (where it was taken is looked up).
        """
        failed: list[object] = []
        with syncscope.record(detect_deadlocks=True, events=0, echo=False):
            semaphore = getattr(threading, kind)(1)
            done = _thread.allocate_lock()
            done.acquire()
            # list(map(operator.call, ...)) calls each from C: no Python frame on the thread.
            calls = map(operator.call, [semaphore.acquire, done.release])
            hook, sys.unraisablehook = sys.unraisablehook, failed.append
            try:
                _thread.start_new_thread(list, (calls,))
                assert done.acquire(timeout=5)
            finally:
                sys.unraisablehook = hook
            assert not failed
            assert not semaphore.acquire(blocking=False)  # the thread has the only permit

    @pytest.mark.parametrize("lock", ["Lock", "RLock"])
    def test_a_wait_under_the_guard_gives_the_hold_back(self, lock: str) -> None:
        """
        With the library's primitives watched (--all), a Condition's wait inside another
        operation (as an Event's wait is, counted as one) parks its lock's hold as a wait the
        wrapper sees does: the waiter holds nothing after it. The hold was left on the
        waiter's chain while the notifier took the lock, and never came off (false lock-order
        inversions followed, and a chain looping on itself, walked at every acquire).
        """

        def chain() -> list[str]:
            holds = leanholds.threads.get(threading.get_ident())
            found = leanholds.chain_of(holds) if holds is not None else []
            return [proxy._syncscope_primitive.name for proxy in found]

        seen: list[list[str]] = []
        syncscope.install(lines=False, include_library=True)
        try:
            with syncscope.record(detect_deadlocks=True, events=0, echo=False):
                assert state.diagnosis is not None
                cond = threading.Condition(getattr(threading, lock)())
                waiting = threading.Event()

                def notifier() -> None:
                    assert waiting.wait(timeout=5)
                    with cond:
                        seen.append(chain())  # the notifier's: the Condition's lock alone
                        cond.notify()

                thread = start_thread(notifier)
                with cond:
                    waiting.set()
                    assert hidden(cond.wait, 5)  # unseen by the wrapper, as in Event.wait
                    seen.append(chain())
                seen.append(chain())
                join(thread)
                name = cond._lock._syncscope_primitive.name
        finally:
            syncscope.uninstall()
        assert [[name], [name], []] == seen

    def test_an_rlock_hold_is_among_the_longest(self) -> None:
        """Under -q an RLock's outermost hold, like a Lock's, is listed with where it was taken."""
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            rlock = threading.RLock()
            with rlock:
                line = sys._getframe().f_lineno - 1
                with rlock:
                    pass
        [holder] = rec.stats(rlock).longest_holds
        assert (holder.thread, holder.line) == (threading.current_thread().name, line)

    def test_a_queue_item_put_while_a_get_waits(self, lean: Recording) -> None:
        """A get that has to wait is counted with its wait, at its site."""
        q: queue.Queue[int] = queue.Queue()
        got: list[int] = []
        thread = start_thread(lambda: got.append(q.get(timeout=5)))
        waiting_on(q.not_empty)
        q.put(7)
        join(thread)
        s = lean.stats(q)
        assert got == [7]
        assert (1, 1, 1) == (s.puts, s.gets, s.empty_waits)
        assert s.blocked_empty_s > 0


class Touchy:
    """A PriorityQueue item of the program's: its comparisons are Python, and raise if armed."""

    armed = False

    def __lt__(self, other: object) -> bool:
        if Touchy.armed:
            raise ValueError("compared")
        return False


def compared_on_get(q: queue.PriorityQueue[Any]) -> tuple[str, list[str]]:
    """What a get that compares a Touchy raises: its message, and the frames it went through."""
    Touchy.armed = True
    try:
        q.get()
    except ValueError as exc:
        return str(exc), [f.name for f in traceback.extract_tb(exc.__traceback__)][1:]
    finally:
        Touchy.armed = False
    raise AssertionError("the heap was not compared")


def paused_at_lock(function: Callable[..., Any], at_lock: Latch, go: Latch) -> Any:
    """
    A trace function that stops the thread it traces where ``function`` (one of
    ``ownsteps``') is about to take the queue's lock, until ``go``: a thread switch there.
    """
    lines = Path(inspect.getsourcefile(function) or "").read_text().splitlines()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is not function.__code__:
            return None

        def local(frame: Any, event: str, arg: Any) -> Any:
            line = lines[frame.f_lineno - 1].split("#")[0].strip()
            if event == "line" and line == "with q.mutex:":
                at_lock.set()
                go.wait()
            return local

        return local

    return tracer


def traced(trace: Any, call: Callable[[], Any]) -> Any:
    """``call()`` with ``trace`` on, on this thread."""
    sys.settrace(trace)
    try:
        return call()
    finally:
        sys.settrace(None)


class TestDropIn:
    def test_a_get_waiting_for_an_item_ended_by_a_signal_handler(self) -> None:
        """
        A signal handler's exception ends a get waiting for an item, as Ctrl-C does: it comes
        out as plain Python raises it, nothing chained to it, counted as an error, and the
        watchdog no longer sees the wait.
        """

        class Interrupted(Exception):
            pass

        def handler(signum: int, frame: object) -> None:
            raise Interrupted

        main = threading.get_ident()
        previous = signal.signal(signal.SIGUSR1, handler)
        try:
            with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
                assert state.diagnosis is not None
                q: queue.Queue[int] = queue.Queue()
                waiting = rec._recorder.holds.waiting

                def interrupt_when_waiting() -> None:
                    waiting_on(q.not_empty)
                    assert main in waiting  # announced to the watchdog
                    signal.pthread_kill(main, signal.SIGUSR1)

                thread = start_thread(interrupt_when_waiting)
                with pytest.raises(Interrupted) as caught:
                    q.get(timeout=10)
                join(thread)
                assert main not in waiting
        finally:
            signal.signal(signal.SIGUSR1, previous)
        assert caught.value.__context__ is None
        assert (rec.stats(q).errors, rec.stats(q).gets) == (1, 0)

    @pytest.mark.skipif(not hasattr(queue, "ShutDown"), reason="Queue.shutdown is 3.13+")
    def test_a_get_waiting_for_an_item_ended_by_shutdown(self) -> None:
        main = threading.get_ident()
        with syncscope.record(detect_deadlocks=True, events=0, echo=False) as rec:
            assert state.diagnosis is not None
            q: queue.Queue[int] = queue.Queue()
            waiting = rec._recorder.holds.waiting

            def shut_down_when_waiting() -> None:
                waiting_on(q.not_empty)
                q.shutdown()  # type: ignore[attr-defined]

            thread = start_thread(shut_down_when_waiting)
            with pytest.raises(queue.ShutDown) as caught:  # type: ignore[attr-defined]
                q.get(timeout=10)
            join(thread)
            assert main not in waiting
        assert caught.value.__context__ is None
        assert rec.stats(q).errors == 1

    @pytest.mark.parametrize(
        ("make", "use"),
        [
            (threading.Event, lambda p: p.set()),
            (threading.Condition, lambda p: p.acquire() and p.release()),
            (threading.BoundedSemaphore, lambda p: p.acquire() and p.release()),
            (lambda: threading.Barrier(1), lambda p: p.wait(timeout=5)),
            (queue.Queue, lambda p: p.put(1) or p.get(timeout=5)),
        ],
        ids=["Event", "Condition", "BoundedSemaphore", "Barrier", "Queue"],
    )
    def test_a_primitive_dropped_is_collected_and_forgotten(
        self, lean: Recording, make: Callable[[], Any], use: Callable[[Any], object]
    ) -> None:
        """
        syncscope keeps no reference to a class-based primitive it watches: one made, used and
        dropped is collected, and its entry goes with it, so that a program that makes one per
        request does not grow; the one made next is a primitive of its own, even where it
        takes the address of the one before.
        """
        before = len(watches)
        seen = []
        for _ in range(200):
            made = make()
            primitive = primitive_of(made)
            assert primitive is not None, "a primitive the program made is watched"
            assert primitive not in seen, "a new primitive, not the one before at its address"
            seen.append(primitive)
            use(made)
            gone = weakref.ref(made)
            del made
            assert gone() is None, "nothing of syncscope's keeps it alive"
        assert len(watches) <= before + 1, "the entries of the dropped ones are gone"

    def test_nested_operations_stay_hidden(self, lean: Recording) -> None:
        """A watched Condition's notify_all calls notify: one notify is counted, not two."""
        cond = threading.Condition()
        with cond:
            cond.notify_all()
        assert (1, 0) == (lean.stats(cond).notifies, lean.stats(cond).woken)

    @pytest.mark.parametrize(
        "kinds", [None, ("event", "queue", "condition")], ids=["every kind", "no lock"]
    )
    def test_internals_of_the_library_are_not_counted(self, kinds: Any) -> None:
        """
        With every primitive watched, an Event's own Condition is not the user's. Without the
        locks among the kinds, a queue's mutex is a plain lock under watched Conditions: its
        put and get, done in place, still wake a waiter through them unseen.
        """
        syncscope.install(lines=False, include_library=True, kinds=kinds)
        with lean_recording() as rec:
            assert state.lean is not None
            event, q = threading.Event(), queue.Queue(1)
            event.set()
            q.put(1)
            q.get()
            # A get that waits for an item, a put that waits for room: their Conditions too.
            thread = start_thread(lambda: (waiting_on(q.not_empty), q.put(2)))
            assert q.get(timeout=5) == 2
            join(thread)
            q.put(3)
            thread = start_thread(lambda: (waiting_on(q.not_full), q.get()))
            q.put(4, timeout=5)
            join(thread)
            conditions = [p for p in rec.primitives() if p.kind == "condition"]
            assert [(p.notifies, p.waits) for p in conditions] == [(0, 0)] * len(conditions)
            assert 1 == rec.stats(event).sets
            assert (1, 1) == (rec.stats(q).empty_waits, rec.stats(q).full_waits)

    def test_a_release_of_one_that_is_no_int_is_the_original_s(self) -> None:
        """
        ``release(1.0)`` is the original's, not a ``release(1)`` done in place: on 3.11 it
        raises TypeError from threading.py (after counting the permit), later the count
        becomes a float. The lean path gives the same outcome and the same count.
        """

        def outcome() -> tuple[str | None, str, list[str]]:
            sem = threading.Semaphore(0)
            try:
                sem.release(1.0)
            except Exception as exc:
                frames = [f.name for f in traceback.extract_tb(exc.__traceback__)][1:]
                return type(exc).__name__, repr(sem._value), frames  # type: ignore[attr-defined]
            return None, repr(sem._value), []  # type: ignore[attr-defined]

        plain = outcome()
        with lean_recording():
            assert state.lean is not None
            assert outcome() == plain

    @pytest.mark.parametrize(
        "options",
        [
            {"lines": False, "stats": True, "detect_deadlocks": True},
            {"format": "console", "output": os.devnull},
            {"format": "json", "output": os.devnull, "spans": True, "exporter": "none"},
        ],
        ids=["-q", "lines", "events"],
    )
    def test_a_release_of_an_own_number_calls_what_the_original_calls(
        self, options: dict[str, Any]
    ) -> None:
        """
        ``release(n)`` with a number of the program's (its comparisons, ``__radd__`` and
        ``__index__`` its own code) calls what ``Semaphore.release`` calls, in that order, and
        no more: which path it takes, and the line that says how many, read nothing of it.
        """

        class Permits:
            def __init__(self, calls: list[str]) -> None:
                self.calls = calls

            def __lt__(self, other: object) -> bool:
                self.calls.append("__lt__")
                return False

            def __radd__(self, other: int) -> int:
                self.calls.append("__radd__")
                return other + 2

            def __index__(self) -> int:
                self.calls.append("__index__")
                return 2

            def __ge__(self, other: object) -> bool:
                self.calls.append("__ge__")
                return True

            def __eq__(self, other: object) -> bool:
                self.calls.append("__eq__")
                return False

            __hash__ = object.__hash__

        def outcome() -> tuple[int, list[str]]:
            calls: list[str] = []
            sem = threading.Semaphore(0)
            sem.release(Permits(calls))  # type: ignore[arg-type]
            return sem._value, calls  # type: ignore[attr-defined]

        plain = outcome()
        syncscope.install(**options)
        assert outcome() == plain

    def test_a_priority_queue_compares_as_the_original_whatever_its_items(self) -> None:
        """
        A PriorityQueue's put and get are done in place only while its heap holds items of
        one kind that orders in C. An item that does not (a str among ints, the program's
        own class, a tuple holding one) goes through the real put, and the heap through the
        real get (until it empties, after a str among ints; for good, after an item of no
        kind): what the comparisons raise, and from where, is the original's, and so is the
        order the items come out in.
        """

        def outcomes() -> list[object]:
            found: list[object] = []

            def step(call: Callable[[], object]) -> None:
                try:
                    found.append(call())
                except Exception as exc:
                    tb = traceback.extract_tb(exc.__traceback__)
                    frames = [f.name for f in tb if f.filename != __file__]
                    found.append((type(exc).__name__, str(exc), frames))

            def put(q: queue.PriorityQueue[Any], *items: object) -> None:
                for item in items:
                    step(lambda item=item: q.put(item))

            def get(q: queue.PriorityQueue[Any], armed: bool = False) -> None:
                Touchy.armed = armed
                try:
                    step(lambda: repr(q.get()).split(" at ")[0])  # no address: not the same
                finally:
                    Touchy.armed = False

            def drain(q: queue.PriorityQueue[Any]) -> None:
                while not q.empty():
                    get(q)

            # Each on a queue of its own: a heap that held an item of no kind is not looked
            # at again (MIXED), and would hide what comes after.
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            put(q, 3, 1, 2, "one")  # the str: TypeError from heappush, and it stays in
            drain(q)  # the str still compares, with what is left
            put(q, 5.5, 4.5)  # empty, one kind again: in order
            drain(q)
            q = queue.PriorityQueue()
            put(q, 2, 1, Touchy())  # Touchy last, below 1: it compares with its parent
            get(q, armed=True)  # 1 out, Touchy sifted down, compared with 2: in _get
            drain(q)
            put(q, 2, 1)  # of one kind, in a queue that held one of none
            drain(q)
            q = queue.PriorityQueue()
            put(q, (1, "b"), (1, "a"), (1, Touchy()))  # compared on their 2nd element
            get(q, armed=True)
            drain(q)
            q = queue.PriorityQueue()
            put(q, (1, "a"), (2, 5), (1, 7))  # (2, 5) compares; 7 and "a" do not
            drain(q)
            q = queue.PriorityQueue()
            put(q, *[(1, Touchy()) for _ in range(3)])  # compare on the program's code alone
            get(q, armed=True)
            drain(q)
            return found

        plain = outcomes()
        raised = [o[0] for o in plain if isinstance(o, tuple) and len(o) == 3]
        assert ["TypeError"] * 3 + ["ValueError"] * 2 + ["TypeError", "ValueError"] == raised
        with lean_recording() as rec:
            assert state.lean is not None
            assert outcomes() == plain
            counted = [(p.puts, p.errors) for p in rec.primitives() if p.kind == "queue"]
        # The puts that did not raise, the puts and gets that did.
        assert [(5, 3), (5, 1), (3, 1), (2, 1), (3, 1)] == counted

    def test_a_priority_queue_put_that_waits_through_an_uninstall_vouches_for_nothing(
        self,
    ) -> None:
        """
        A put done in place that waits for the queue's lock while syncscope is uninstalled
        still puts its item, but what it finds of the heap's kind is not trusted once
        syncscope is installed again: items may have gone in unseen meanwhile.
        """

        def scenario(use: bool) -> tuple[str, list[str]]:
            if use:
                syncscope.install(lines=False, detect_deadlocks=True, output=os.devnull)
                assert state.lean is not None
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            with q.mutex:  # the program holds the queue's lock: the put waits for it
                thread = start_thread(q.put, 1)
                # In the in-place put, or in the original's Condition.__enter__.
                wait_until_blocked(thread, "_put_in_heap" if use else "__enter__")
                if use:
                    syncscope.uninstall()
            join(thread)
            q.put(2)
            q.put(Touchy())  # unseen
            if use:
                syncscope.install(lines=False, detect_deadlocks=True, output=os.devnull)
            return compared_on_get(q)  # Touchy sifted down past 1, compared with 2

        plain = scenario(False)
        try:
            assert scenario(True) == plain
        finally:
            syncscope.uninstall()

    def test_a_priority_queue_put_about_to_lock_through_a_reinstall_trusts_nothing(
        self,
    ) -> None:
        """
        A put done in place that is about to take the queue's lock when syncscope is
        uninstalled, items put unseen and syncscope installed again, judges the heap's kind
        by the install it finds under the lock: its item goes in through the real put,
        whose comparisons raise from where they raise.
        """
        from syncscope._intercept import ownsteps

        def put_5(q: queue.PriorityQueue[Any]) -> object:
            try:
                q.put(5)
            except TypeError as exc:
                return str(exc), [f.name for f in traceback.extract_tb(exc.__traceback__)][1:]
            return "put"

        plain: queue.PriorityQueue[Any] = queue.PriorityQueue()
        for item in (1, Touchy(), Touchy()):
            plain.put(item)
        expected = put_5(plain)
        assert expected != "put"  # int < Touchy: no __gt__, it raises

        at_lock, go = Latch(), Latch()
        tracer = paused_at_lock(ownsteps._put_in_heap, at_lock, go)
        options: dict[str, Any] = {"lines": False, "detect_deadlocks": True, "output": os.devnull}
        syncscope.install(**options)
        try:
            assert state.lean is not None
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            q.put(1)  # in place: a heap of ints
            found: list[object] = []
            thread = start_thread(lambda: found.append(traced(tracer, lambda: put_5(q))))
            at_lock.wait()
            syncscope.uninstall()
            q.put(Touchy())
            q.put(Touchy())  # unseen
            syncscope.install(**options)
            go.set()
            join(thread)
            assert found == [expected]
        finally:
            go.set()
            syncscope.uninstall()

    def test_priority_queue_operations_caught_by_an_uninstall_trust_no_kind(self) -> None:
        """
        While syncscope is uninstalled, a put and a get done in place that were about to
        take the queue's lock when it happened still run, but neither trusts the heap's kind
        (items go in unseen meanwhile): the get compares as the original's.
        """
        from syncscope._intercept import ownsteps

        plain: queue.PriorityQueue[Any] = queue.PriorityQueue()
        for item in (5, Touchy(), Touchy()):
            plain.put(item)
        expected = compared_on_get(plain)

        options: dict[str, Any] = {"lines": False, "detect_deadlocks": True, "output": os.devnull}
        put_at, put_go, get_at, get_go = Latch(), Latch(), Latch(), Latch()
        syncscope.install(**options)
        try:
            assert state.lean is not None
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            q.put(1)
            assert q.get() == 1  # in place: an empty heap of ints
            got: list[object] = []

            def get() -> None:
                try:
                    q.get()
                except ValueError as exc:
                    tb = traceback.extract_tb(exc.__traceback__)
                    got.append((str(exc), [f.name for f in tb][1:]))

            getter = start_thread(
                lambda: traced(paused_at_lock(ownsteps._get_least, get_at, get_go), get)
            )
            get_at.wait()
            putter = start_thread(
                lambda: traced(
                    paused_at_lock(ownsteps._put_in_heap, put_at, put_go), lambda: q.put(5)
                )
            )
            put_at.wait()
            syncscope.uninstall()
            put_go.set()
            join(putter)  # its 5 in, while syncscope is uninstalled
            q.put(Touchy())
            q.put(Touchy())  # unseen
            Touchy.armed = True
            get_go.set()
            join(getter)
            Touchy.armed = False
            assert got == [expected]
        finally:
            Touchy.armed = False
            put_go.set()
            get_go.set()
            syncscope.uninstall()

    def test_a_priority_queue_s_puts_on_the_event_path_keep_its_heap_s_kind(self) -> None:
        """
        A put the event path makes (a recording that keeps events, the lines, spans) goes
        through the real put and its ``_put`` hook, which keeps the kind of the heap's items:
        gets made on the lean path afterwards compare as the original.
        """

        def fill(q: queue.PriorityQueue[Any], *items: object) -> None:
            for item in items:
                q.put(item)

        plain: queue.PriorityQueue[Any] = queue.PriorityQueue()
        fill(plain, 1, 2, 3, Touchy())
        syncscope.install(lines=False, detect_deadlocks=False, output=os.devnull)
        try:
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            with lean_recording():
                assert state.lean is not None
                fill(q, 1, 2, 3)  # in place: a heap of ints
            with full_recording():
                assert state.installed and state.lean is None
                fill(q, Touchy())
            with lean_recording():
                assert state.lean is not None
                assert compared_on_get(q) == compared_on_get(plain)
        finally:
            syncscope.uninstall()

    def test_a_priority_queue_used_while_not_installed_is_compared_as_the_original(
        self,
    ) -> None:
        """
        Items put while syncscope is not installed go in unseen: a heap of one kind when it
        was uninstalled may be mixed when it is installed again, so its gets are the real
        ones.
        """

        plain: queue.PriorityQueue[Any] = queue.PriorityQueue()
        for item in (1, 2, Touchy()):
            plain.put(item)
        try:
            syncscope.install(lines=False, detect_deadlocks=True, output=os.devnull)
            assert state.lean is not None
            q: queue.PriorityQueue[Any] = queue.PriorityQueue()
            q.put(1)
            q.put(2)  # one kind, in place
            syncscope.uninstall()
            q.put(Touchy())  # unseen
            syncscope.install(lines=False, detect_deadlocks=True, output=os.devnull)
            assert state.lean is not None and primitive_of(q) is not None
            assert compared_on_get(q) == compared_on_get(plain)
        finally:
            syncscope.uninstall()

    def test_a_poll_that_finds_nothing_raises_as_the_original(self) -> None:
        """
        A put or get asked not to wait that finds the queue full or empty raises what the
        original raises, from where it raises it, nothing chained to it; the lean path counts
        it without trying again.
        """

        def polls() -> list[tuple[str, list[tuple[str, int]], object]]:
            full, empty = queue.Queue(1), queue.LifoQueue()
            prio, simple = queue.PriorityQueue(), queue.SimpleQueue()  # type: ignore[var-annotated]
            full.put(0)
            found = []
            for call in (
                lambda: full.put_nowait(1),
                lambda: full.put(1, False),
                empty.get_nowait,
                lambda: empty.get(block=False),
                prio.get_nowait,
                simple.get_nowait,
                lambda: simple.get(False),
            ):
                try:
                    call()
                except (queue.Full, queue.Empty) as exc:
                    tb = traceback.extract_tb(exc.__traceback__)
                    frames = [(f.name, f.lineno or 0) for f in tb if f.filename != __file__]
                    found.append((type(exc).__name__, frames, exc.__context__))
            return found

        plain = polls()
        assert len(plain) == 7
        with lean_recording() as rec:
            assert state.lean is not None
            assert polls() == plain
        assert [p.rejected for p in rec.primitives()] == [2, 2, 1, 2]

    def test_a_simple_queue_made_past_its_stand_ins_new_works_unwatched(self) -> None:
        """
        The C type's own ``__new__`` called on the stand-in class makes a queue that never
        went through ours (its entry's slot is empty): it works as the original, uncounted.
        """
        original = syncscope.get_original("queue", "SimpleQueue")
        with lean_recording() as rec:
            assert state.lean is not None
            made = queue.SimpleQueue()
            past = original.__new__(queue.SimpleQueue)
            assert type(past) is not original
            past.put(1)
            past.put_nowait(2)
            assert (1, 2) == (past.get(), past.get_nowait())
            with pytest.raises(queue.Empty):
                past.get(timeout=0)
            for n in (3, 4):  # the first counts through the slow path, the second in place
                made.put(n)
                assert n == made.get()
        assert primitive_of(past) is None
        assert (2, 2) == (rec.stats(made).puts, rec.stats(made).gets)

    def test_a_simple_queue_subclass_s_attribute_hooks_are_left_alone(self) -> None:
        """
        A subclass that refuses new attributes, or hides the ones that begin with ``_``, is
        made and counted as any other: syncscope keeps nothing on it through its hooks.
        """

        with lean_recording() as rec:
            assert state.lean is not None

            class Frozen(queue.SimpleQueue[int]):  # of the stand-in, now installed
                def __setattr__(self, name: str, value: object) -> None:
                    raise AttributeError(f"{type(self).__name__} is frozen")

            class Private(queue.SimpleQueue[int]):
                def __getattribute__(self, name: str) -> Any:
                    if name.startswith("_"):
                        raise AttributeError(name)
                    return super().__getattribute__(name)

            made = [Frozen(), Private()]
            for q in made:
                for n in (1, 2):
                    q.put(n)
                    assert n == q.get()
        assert [(2, 2)] * 2 == [(rec.stats(q).puts, rec.stats(q).gets) for q in made]

    def test_the_library_s_simple_queue_is_not_counted_inside_syncscope_s_own_work(
        self,
    ) -> None:
        """
        With ``--all``, a SimpleQueue the standard library made (a ThreadPoolExecutor's) is
        watched; used by syncscope's own machinery (with its guard up) it is not counted,
        while the program's use of it is.
        """
        from concurrent.futures import ThreadPoolExecutor

        syncscope.install(lines=False, include_library=True)
        try:
            with lean_recording() as rec:
                assert state.lean is not None
                pool = ThreadPoolExecutor(1)  # its workers start at the first submit
                work = pool._work_queue
                hidden(work.put, None)
                assert hidden(work.get) is None
                work.put(None)
                assert work.get() is None
            pool.shutdown(wait=True)  # its own put, after the recording
        finally:
            syncscope.uninstall()
        assert (1, 1) == (rec.stats(work).puts, rec.stats(work).gets)

    def test_a_get_that_waits_inside_another_operation_leaves_its_guard_up(self) -> None:
        """
        A program's SimpleQueue get that has to wait, made while syncscope's guard is up
        (inside another operation, as a lock class of the program's built on a queue is),
        leaves the guard as it found it: what the outer operation does next stays unseen.
        """
        from syncscope._core.dispatch import guard

        def get_then_guard(q: queue.SimpleQueue[int]) -> bool:
            with pytest.raises(queue.Empty):
                q.get(timeout=0.001)
            return guard.busy

        with lean_recording():
            assert state.lean is not None
            assert hidden(get_then_guard, queue.SimpleQueue()) is True

    def test_a_queue_that_cannot_tell_its_size_fails_as_without_syncscope(self) -> None:
        """
        A maxsize that does not compare, a _qsize that raises: the program's error is plain
        Python's, raised from queue.py (not from a check of syncscope's), and counted.
        """

        class Sizeless(queue.Queue[int]):
            def _qsize(self) -> int:
                raise RuntimeError("no size")

        def failures() -> list[tuple[str, str, list[str]]]:
            found = []
            for call in (
                lambda: queue.Queue(maxsize=None).put(1),
                lambda: queue.Queue(maxsize="3").put(1),
                lambda: Sizeless().get(timeout=0.01),
            ):  # type: ignore[arg-type]
                try:
                    call()
                except Exception as exc:
                    frames = [f.name for f in traceback.extract_tb(exc.__traceback__)][1:]
                    found.append((type(exc).__name__, str(exc), frames))
            return found

        plain = failures()
        assert [name for name, _, _ in plain] == ["TypeError", "TypeError", "RuntimeError"]
        with lean_recording() as rec:
            assert state.lean is not None
            assert failures() == plain
            assert [p.errors for p in rec.primitives() if p.kind == "queue"] == [1, 1, 1]

    def test_a_wait_on_a_condition_another_thread_holds(self, lean: Recording) -> None:
        """
        A wait on a Condition whose lock another thread holds raises the original's
        RuntimeError. It is no wait, and the holder's hold goes on: it ends at its release,
        counted once.
        """
        cond = threading.Condition()
        taken, done = threading.Event(), threading.Event()

        def hold() -> None:
            with cond:
                taken.set()
                done.wait(5)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert taken.wait(5)
            with pytest.raises(RuntimeError, match="cannot wait on un-acquired lock"):
                cond.wait(0)
        finally:
            done.set()
            holder.join(5)
        assert not holder.is_alive()
        s = lean.stats(cond)
        assert (0, 0, 1, 1) == (s.waits, s.errors, s.acquisitions, s.holds)

    def test_errors_are_the_originals(self, lean: Recording) -> None:
        sem = threading.BoundedSemaphore()
        with pytest.raises(ValueError, match="can't specify timeout for non-blocking acquire"):
            sem.acquire(False, 1)
        with pytest.raises(ValueError, match="Semaphore released too many times"):
            sem.release()
        q: queue.Queue[int] = queue.Queue(1)
        q.put(1)
        with pytest.raises(queue.Full):
            q.put(2, block=False)
        with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
            q.get(timeout=-1)
        assert q.get(timeout=threading.TIMEOUT_MAX) == 1
        with pytest.raises(ValueError, match="task_done"):
            q.task_done()
            q.task_done()
        cond = threading.Condition()
        with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
            cond.notify()
        s = lean.stats(sem)
        assert (0, 1) == (s.acquisitions, s.errors)


def test_no_wrapper_makes_a_closure_cell_on_its_calls(lean: Recording) -> None:
    """
    Python makes a closure cell of every argument a nested function or comprehension reads,
    on every call, whichever branch then runs: on a wrapper that made the lean path pay for
    its event path's lambdas (1,700 instructions a Semaphore acquire+release). Each wrapper
    installed on a class-based primitive, and the helpers they call on every operation,
    capture nothing.
    """
    from syncscope._core.holds import Holds
    from syncscope._intercept import queuefill, queuehooks
    from syncscope._sinks.spans import build, otlp, pairing

    classes = (
        threading.Semaphore,
        threading.BoundedSemaphore,
        threading.Event,
        threading.Condition,
        threading.Barrier,
        queue.Queue,
        queue.LifoQueue,
        queue.PriorityQueue,
        queue.SimpleQueue,
    )
    functions = {
        f"{cls.__name__}.{name}": getattr(method, "__func__", method)
        for cls in classes
        for name, method in vars(cls).items()
        if "syncscope" in getattr(getattr(method, "__code__", None), "co_filename", "")
    }
    assert {"Semaphore.acquire", "Event.set", "Queue.get", "Condition.notify"} <= set(functions)
    functions |= {
        "Holds.life": Holds.life,
        "Holds.returned": Holds.returned,
        "is_full": queuefill.is_full,
        "renders_in_c": queuehooks.renders_in_c,
        "SpanPairing.pair": pairing.SpanPairing.pair,
        "SpanEncoder.span": otlp.SpanEncoder.span,
        "_sent_only": build._sent_only,
    }
    assert {} == {
        name: function.__code__.co_cellvars
        for name, function in functions.items()
        if function.__code__.co_cellvars
    }


def ident_in(trace: Any, ident: int | None) -> bool:
    """Whether the thread ``ident`` is among those that did something to a traced primitive."""
    return trace is not None and ident in trace.operators


def _line() -> int:
    return sys._getframe(1).f_lineno


def _lean(cls: type) -> type:
    """A CPython test class run with lean statistics listening, every primitive watched."""

    def setUp(self: Any) -> None:
        syncscope.install(lines=False, include_library=True)
        self._recording = lean_recording()
        self._recording.__enter__()
        assert state.lean is not None
        cls.setUp(self)

    def tearDown(self: Any) -> None:
        cls.tearDown(self)
        self._recording.__exit__(None, None, None)
        syncscope.uninstall()

    return type(f"Lean{cls.__name__}", (cls,), {"setUp": setUp, "tearDown": tearDown})


def _lean_in_place(cls: type) -> type:
    """
    A CPython queue test class run under ``-q`` (the statistics and the checks), its queues
    watched as the program's own rather than with ``--all``: their puts and gets take the
    originals' own steps (``ownsteps``), which ``--all`` turns off.
    """

    def setUp(self: Any) -> None:
        watch_as_programs_own(self, test_queue.__file__)
        syncscope.install(lines=False, stats=True, detect_deadlocks=True)
        self.addCleanup(syncscope.uninstall)  # before forgetting the path: cleanups run last first
        assert state.lean is not None
        assert not state.options.include_library
        cls.setUp(self)

    return type(f"InPlace{cls.__name__}", (cls,), {"setUp": setUp})


def _patched(module: Any, name: str) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(module, name)(*args, **kwargs)

    return staticmethod(create)  # type: ignore[return-value]


LeanEventTests = _lean(
    type("E", (lock_tests.EventTests,), {"eventtype": _patched(threading, "Event")})
)
LeanSemaphoreTests = _lean(
    type("S", (lock_tests.SemaphoreTests,), {"semtype": _patched(threading, "Semaphore")})
)
LeanBoundedSemaphoreTests = _lean(
    type(
        "B",
        (lock_tests.BoundedSemaphoreTests,),
        {"semtype": _patched(threading, "BoundedSemaphore")},
    )
)
LeanConditionTests = _lean(
    type("C", (lock_tests.ConditionTests,), {"condtype": _patched(threading, "Condition")})
)
LeanBarrierTests = _lean(
    type("Ba", (lock_tests.BarrierTests,), {"barriertype": _patched(threading, "Barrier")})
)
LeanQueueTests = _lean(type("Q", (test_queue.QueueTest, unittest.TestCase), {"queue": queue}))
LeanLifoQueueTests = _lean(
    type("LQ", (test_queue.LifoQueueTest, unittest.TestCase), {"queue": queue})
)
LeanPriorityQueueTests = _lean(
    type("PQ", (test_queue.PriorityQueueTest, unittest.TestCase), {"queue": queue})
)
LeanFailingQueueTests = _lean(
    type("FQ", (test_queue.FailingQueueTest, unittest.TestCase), {"queue": queue})
)
InPlaceQueueTests = _lean_in_place(
    type("Q", (test_queue.QueueTest, unittest.TestCase), {"queue": queue})
)
InPlaceLifoQueueTests = _lean_in_place(
    type("LQ", (test_queue.LifoQueueTest, unittest.TestCase), {"queue": queue})
)
InPlacePriorityQueueTests = _lean_in_place(
    type("PQ", (test_queue.PriorityQueueTest, unittest.TestCase), {"queue": queue})
)


def _program_made(
    cls: type, mode: str, attribute: str, make: Callable[..., Any], own_lock: str | None
) -> type:
    """
    A CPython test class whose primitives are the program's own (``make``, a function of this
    file, is the test's ``attribute`` that makes them), with the statistics (``mode``
    "Counted"), ``-q``'s checks too ("Checked") or the lines and the checks ("Said")
    listening. Their own Conditions and lock (``own_lock``) are the standard library's,
    unwatched, so the wrappers take the originals' steps themselves on that plain lock (see
    ``_intercept/ownsteps.py``). A SimpleQueue (``own_lock`` None) has no lock: its wrappers
    count in place when it carries its entry and is not the library's.
    """
    checks = mode != "Counted"

    def setUp(self: Any) -> None:
        if mode == "Said":
            syncscope.install(format="console", output=os.devnull, detect_deadlocks=True)
        else:
            syncscope.install(lines=False, detect_deadlocks=checks)
        self._recording = None if checks else lean_recording()
        if self._recording is not None:
            self._recording.__enter__()
        else:
            # The watchdog's thread running before these tests count threads (one more
            # later would be one left behind); it says who it is once it runs.
            (watchdog,) = [s.watchdog for s in state.sinks if hasattr(s, "watchdog")]
            deadline = time.monotonic() + 5
            while watchdog.ident is None and time.monotonic() < deadline:
                time.sleep(0.001)
        assert state.lean is not None
        assert (state.diagnosis is not None) is checks
        assert (state.lines is not None) is (mode == "Said")
        cls.setUp(self)
        setattr(self, attribute, make)  # after: a queue test's setUp sets its own
        probe = make()
        assert primitive_of(probe) is not None, "the program's primitive is not watched"
        if own_lock is None:
            entry = probe._syncscope_watch
            assert entry is watches[id(probe)] and not entry.library, "it is not the program's"
        else:
            assert type(operator.attrgetter(own_lock)(probe)) is _thread.LockType, "its lock is"

    def tearDown(self: Any) -> None:
        cls.tearDown(self)
        if self._recording is not None:
            self._recording.__exit__(None, None, None)
        syncscope.uninstall()

    return type(mode + cls.__name__, (cls,), {"setUp": setUp, "tearDown": tearDown})


def _made_here(module: Any, name: str) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(module, name)(*args, **kwargs)

    return create


for _mode in ("Counted", "Checked", "Said"):
    for _test, _attribute, _module, _name, _own_lock in (
        (lock_tests.SemaphoreTests, "semtype", threading, "Semaphore", "_cond._lock"),
        (lock_tests.BoundedSemaphoreTests, "semtype", threading, "BoundedSemaphore", "_cond._lock"),
        (lock_tests.EventTests, "eventtype", threading, "Event", "_cond._lock"),
        (test_queue.QueueTest, "type2test", queue, "Queue", "mutex"),
        (test_queue.LifoQueueTest, "type2test", queue, "LifoQueue", "mutex"),
        (test_queue.PriorityQueueTest, "type2test", queue, "PriorityQueue", "mutex"),
    ):
        # With the lines, a queue's put and get go through its _put and _get (see _queues).
        if _mode != "Said" or _module is threading:
            _class = _program_made(
                type(_name + "Tests", (_test, unittest.TestCase), {"queue": queue}),
                _mode,
                _attribute,
                _made_here(_module, _name),
                _own_lock,
            )
            globals()[_class.__name__] = _class


def _simple_queue_setup(self: Any) -> None:
    self.type2test = queue.SimpleQueue
    test_queue.BaseSimpleQueueTest.setUp(self)


def _program_simple_queue_setup(self: Any) -> None:
    self.type2test = _made_here(queue, "SimpleQueue")  # setUp makes its queue with it
    test_queue.BaseSimpleQueueTest.setUp(self)


for _mode in ("Counted", "Checked", "Said"):
    _class = _program_made(
        type(
            "SimpleQueueTests",
            (test_queue.BaseSimpleQueueTest, unittest.TestCase),
            {"queue": queue, "setUp": _program_simple_queue_setup},
        ),
        _mode,
        "type2test",
        _made_here(queue, "SimpleQueue"),
        None,
    )
    globals()[_class.__name__] = _class


LeanSimpleQueueTests = _lean(
    type(
        "SQ",
        (test_queue.BaseSimpleQueueTest, unittest.TestCase),
        {"queue": queue, "setUp": _simple_queue_setup},
    )
)


ALL_OPERATIONS = """
import queue
import threading

event = threading.Event()
event.set()
event.wait()
event.clear()
event.wait(0)
sem = threading.Semaphore(2)
sem.acquire()
sem.release()
sem.acquire(timeout=0.01)
sem.release(2)
with sem:
    pass
bounded = threading.BoundedSemaphore(1)
bounded.acquire()
bounded.release()
try:
    bounded.release()
except ValueError:
    pass
cond = threading.Condition()
with cond:
    cond.notify()
    cond.notify_all()
    cond.wait(0)
    cond.wait_for(lambda: True)
barrier = threading.Barrier(1)
barrier.wait()
barrier.reset()
barrier.abort()
q = queue.Queue(1)
q.put(1)
q.get()
q.task_done()
q.join()
q.put_nowait(2)
q.get_nowait()
q.task_done()
try:
    q.get(timeout=0.001)
except queue.Empty:
    pass
q.put(3)
try:
    q.put(4, timeout=0.001)
except queue.Full:
    pass
lifo = queue.LifoQueue()
lifo.put(1)
lifo.get()
simple = queue.SimpleQueue()
simple.put(1)
simple.get()
"""


class TestAllAsTheEventPath:
    def test_the_librarys_locks_inside_an_operation_are_the_operations(
        self, tmp_path: Path
    ) -> None:
        """
        With --all, the locks inside an Event, Semaphore, Barrier or Queue are watched too;
        what the operation does to them is the operation's, never counted as uses of their
        own: under -q as on the event path (-q counted every one, the lean fast path not
        reading the guard).
        """
        program = script(tmp_path, ALL_OPERATIONS)
        figures = []
        for args in (["-q"], ["-o", os.devnull]):
            out = tmp_path / "report.json"
            result = run_syncscope(*args, "--all", "--report-json", str(out), str(program))
            assert 0 == result.returncode, result.stderr
            figures.append(
                sorted(
                    (p["kind"], Path(p["created_at"]).name, p.get("acquisitions"), p.get("waits"))
                    for p in json.loads(out.read_text())["primitives"]
                )
            )
        lean, events = figures
        assert events == lean
        assert [] == [p for p in lean if p[1].startswith(("threading.py", "queue.py"))]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_barriers_action_is_the_programs_code(self, recording: Callable[[], Any]) -> None:
        """The action the last thread runs inside its wait: its operations are reported."""
        with recording() as rec:
            lock = threading.Lock()

            def action() -> None:
                with lock:
                    pass

            barrier = threading.Barrier(1, action=action)
            assert 0 == barrier.wait(timeout=5)
        assert 1 == rec.stats(lock).acquisitions
        assert 1 == rec.stats(barrier).waits

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_queues_own_code_inside_put_and_get(self, recording: Callable[[], Any]) -> None:
        """
        A subclass's _put and _get, and a PriorityQueue's comparisons of the program's items,
        run inside put and get: what they do is reported in both modes (the lines hid it).
        """

        class Audited(queue.Queue):  # type: ignore[type-arg]
            def _put(self, item: Any) -> None:
                with lock:
                    super()._put(item)

            def _get(self) -> Any:
                with lock:
                    return super()._get()

        class Job:
            def __init__(self, rank: int) -> None:
                self.rank = rank

            def __lt__(self, other: Job) -> bool:
                with lock:
                    return self.rank < other.rank

        with recording() as rec:
            lock = threading.Lock()
            audited = Audited()
            audited.put(1)
            assert 1 == audited.get(timeout=5)
            jobs: queue.PriorityQueue[Job] = queue.PriorityQueue()
            jobs.put(Job(2))
            jobs.put(Job(1))  # compared with Job(2) once to place it; the get compares none
            assert 1 == jobs.get(timeout=5).rank
        assert 3 == rec.stats(lock).acquisitions  # _put, _get, the one comparison


#: The step each in-place put and get blocks in while the queue's mutex is held elsewhere.
_STEPS = {
    ("Queue", "put"): "_put_in_deque",
    ("LifoQueue", "put"): "_put_in_deque",
    ("PriorityQueue", "put"): "_put_in_heap",
    ("Queue", "get"): "_get_first",
    ("LifoQueue", "get"): "_get_last",
    ("PriorityQueue", "get"): "_get_least",
}


@pytest.mark.parametrize("mode", ["-q", "lines"])
@pytest.mark.parametrize(("kind", "op"), sorted(_STEPS))
def test_a_method_set_while_a_put_or_get_waits_for_the_queues_lock_is_run(
    mode: str, kind: str, op: str, tmp_path: Path
) -> None:
    """
    pebble's ``waitforqueues`` sets ``q._put`` under ``q.mutex``; the original put looks its
    ``_put`` up once it holds that lock, so a put already waiting for it calls the new one.
    So must a put or get made in the original's steps (asked before the lock, it missed it).
    """
    if mode == "-q":
        syncscope.install(lines=False, stats=True, detect_deadlocks=True, report=False)
    else:
        syncscope.install(format="console", output=str(tmp_path / "lines.log"))
    try:
        q = getattr(queue, kind)()
        if op == "get":
            q.put(1)
        heard: list[object] = []
        got: list[object] = []
        class_put, class_get = q._put, q._get

        def own_put(item: object) -> None:
            heard.append(item)
            class_put(item)

        def own_get() -> object:
            item = class_get()
            heard.append(item)
            return item

        with q.mutex:
            if op == "put":
                thread = start_thread(q.put, 7)
            else:
                thread = start_thread(lambda: got.append(q.get(timeout=5)))
            wait_until_blocked(thread, _STEPS[kind, op])
            if op == "put":
                q._put = own_put  # type: ignore[method-assign]
            else:
                q._get = own_get  # type: ignore[method-assign]
        join(thread)
        expected = ([7], []) if op == "put" else ([1], [1])
        assert expected == (heard, got)
    finally:
        syncscope.uninstall()


def _given_anothers_methods(cls: type[queue.Queue[int]]) -> list[object]:
    """Puts and gets on a queue given another's ``_put``, then its ``_get``: what each holds."""
    q, other = cls(), cls()
    q._put = other._put  # type: ignore[method-assign]
    q.put(5)
    seen: list[object] = [list(q.queue), list(other.queue)]
    del q._put
    q.put(8)
    other.put(9)
    q._get = other._get  # type: ignore[method-assign]
    seen += [q.get_nowait(), list(q.queue), list(other.queue)]
    return seen


@pytest.mark.parametrize("mode", ["-q", "lines"])
@pytest.mark.parametrize("kind", ["Queue", "LifoQueue", "PriorityQueue"])
def test_a_queue_given_anothers_put_and_get_puts_and_gets_there(
    mode: str, kind: str, tmp_path: Path
) -> None:
    """``q._put = other._put`` is a method of the class, bound to another queue: it runs."""
    cls = getattr(queue, kind)
    expected = _given_anothers_methods(cls)
    assert [[], [5]] == expected[:2]  # the put went to the other queue
    if mode == "-q":
        syncscope.install(lines=False, stats=True, detect_deadlocks=True, report=False)
    else:
        syncscope.install(format="console", output=str(tmp_path / "lines.log"))
    try:
        assert expected == _given_anothers_methods(cls)
    finally:
        syncscope.uninstall()


@pytest.mark.parametrize(
    "inner",
    ["threading.Event().set()", "queue.Queue().put(1)", "threading.Semaphore().acquire()"],
)
def test_a_first_operation_inside_another_ones_first_does_not_hang(
    tmp_path: Path, inner: str
) -> None:
    """
    The first operation on a primitive under ``-q`` points it at its tally, under a lock of
    syncscope's; the program's code may run in there (a profile function, as here, a signal
    handler, or a finalizer as the tally is made) and make another primitive's first
    operation: that waited for the lock its own thread held, for ever.
    """
    program = tmp_path / "first.py"
    program.write_text(
        "import queue, sys, threading\n"
        "def profiler(frame, event, arg):\n"
        # In the making of the first one's tally (its first C call), under syncscope's lock.
        "    if event == 'c_call' and frame.f_code.co_name == 'tally' and (\n"
        "        frame.f_globals.get('__name__') == 'syncscope._sinks.stats'\n"
        "    ):\n"
        "        sys.setprofile(None)\n"
        "        print('inside')\n"
        f"        {inner}\n"
        "first = threading.Event()\n"
        "sys.setprofile(profiler)\n"
        "first.set()\n"
        "sys.setprofile(None)\n"
        "print('finished')\n"
    )
    done = run_syncscope("-q", "--no-report", str(program), timeout=30)
    assert (done.returncode, done.stdout) == (0, "inside\nfinished\n"), done.stderr
