"""
The lean path of -q's diagnosis: lock proxies keep their holds as per-thread chains, and the
deadlock watchdog and the lock-order check must find what they find on the event path.
"""

from __future__ import annotations

import _thread
import collections
import functools
import gc
import json
import operator
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import syncscope
from syncscope._core.state import state
from syncscope.testing import Recording

from .conftest import Latch, join, run_syncscope, start_thread


def lean_recording() -> Any:
    """The runner's -q: statistics and checks, no events kept: the lean path."""
    return syncscope.record(detect_deadlocks=True, events=0, echo=False, hang_timeout=0)


def full_recording() -> Any:
    """The same checks through the event path: keeping events rules the lean path out."""
    return syncscope.record(detect_deadlocks=True, events=10, echo=False, hang_timeout=0)


@pytest.fixture
def lean() -> Iterator[Recording]:
    with lean_recording() as rec:
        assert state.diagnosis is not None, "the lean diagnosis is not on"
        yield rec


def held(rec: Recording, thread: threading.Thread | None = None) -> list[str]:
    """The names of what ``thread`` (default: this one) holds, oldest first, per the model."""
    ident = (thread or threading.current_thread()).ident
    snapshot = rec._recorder.holds.snapshot()
    return [hold.primitive.name for hold in snapshot.held.get(ident or 0, ())]


def deadlocks_found(rec: Recording, timeout: float = 5) -> list[Any]:
    """The deadlocks found, once the threads are seen waiting (there is no event to wait for)."""
    deadline = time.monotonic() + timeout
    while True:
        # The watchdog's own look may find it first: check_deadlocks() returns new ones only.
        found = rec.check_deadlocks() or rec.deadlocks
        if found or time.monotonic() > deadline:
            return found
        threading.Event().wait(0.01)


def inversion_sites(rec: Recording) -> list[list[tuple[str, int, str, int]]]:
    return [
        sorted(
            (edge.first.name, edge.first_site[1], edge.then.name, edge.then_site[1])
            for edge in inversion.edges
        )
        for inversion in rec.inversions
    ]


def a_then_b_then_b_then_a() -> None:
    a = threading.Lock()
    b = threading.RLock()

    def one() -> None:
        with a:  # noqa: SIM117 (each lock on its own line: the test reads the lines)
            with b:
                pass

    def two() -> None:
        b.acquire()
        a.acquire()
        a.release()
        b.release()

    join(start_thread(one))
    join(start_thread(two))


class TestSameFindingsAsTheEventPath:
    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_an_inversion_with_where_each_lock_was_taken(
        self, recording: Callable[[], Any]
    ) -> None:
        with recording() as rec:
            a_then_b_then_b_then_a()
        lines = a_then_b_then_b_then_a.__code__.co_firstlineno
        assert inversion_sites(rec) == [
            sorted([("a", lines + 5, "b", lines + 6), ("b", lines + 10, "a", lines + 11)])
        ]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_two_locks_of_one_class_taken_in_both_orders(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        The transfer between two accounts, each with a lock made at one line: a same-site
        inversion, each pair placed where its thread took each lock (the lean path checks a
        chain of two locks as a pair, without the holds its other chains make).
        """

        def new_lock() -> Any:
            return threading.Lock()

        def transfer(first: Any, second: Any) -> None:
            with first:  # noqa: SIM117 (each lock on its own line: the test reads them)
                with second:
                    pass

        with recording() as rec:
            x, y = new_lock(), new_lock()
            join(start_thread(transfer, x, y, name="payer"))
            assert rec.inversions == []
            join(start_thread(transfer, y, x, name="payee"))
        [inversion] = rec.inversions
        assert inversion.same_site and inversion.guarded_by is None
        at = transfer.__code__.co_firstlineno
        edges = sorted(
            (edge.thread, edge.first.id, edge.first_site, edge.then.id, edge.then_site)
            for edge in inversion.edges
        )
        x_id, y_id = x._syncscope_primitive.id, y._syncscope_primitive.id
        first, then = (__file__, at + 1, "transfer"), (__file__, at + 2, "transfer")
        assert edges == [("payee", y_id, first, x_id, then), ("payer", x_id, first, y_id, then)]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_past_the_pairs_remembered_only_a_remembered_pair_taken_reversed_is_found(
        self, recording: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        Once the check remembers as many pairs of a lock per object as it keeps, a new pair
        is looked up and not kept: taken reversed later, it is no inversion. The reverse of
        a pair kept before is still found.
        """
        monkeypatch.setattr("syncscope._sinks.lockorder.MAX_PAIRS", 2)
        with recording() as rec:
            assert (state.diagnosis is not None) == (recording is lean_recording)
            nodes = [Account() for _ in range(5)]
            for first, then in ((0, 1), (1, 2), (2, 3), (3, 4)):  # kept, kept, then not
                join(start_thread(nest_with, nodes[first], nodes[then], name="one"))
            order = rec._recorder.lockorder
            assert order is not None and order.full_pairs is not None, "the memory is not full"
            join(start_thread(nest_with, nodes[3], nodes[2], name="two"))
            assert rec.inversions == []
            join(start_thread(nest_with, nodes[1], nodes[0], name="two"))
        number = {node.lock._syncscope_primitive.id: n for n, node in enumerate(nodes)}
        [inversion] = rec.inversions
        assert inversion.same_site
        edges = sorted((e.thread, number[e.first.id], number[e.then.id]) for e in inversion.edges)
        assert edges == [("one", 0, 1), ("two", 1, 0)]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_pair_is_ordered_again_once_its_lock_is_no_longer_a_hand_off(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A Lock released by another thread than its taker is a signal, not a mutex: its pairs
        are not ordered. Once the check has forgotten it as one (past MAX_HANDOFF hand-offs of
        other locks), they are again. The lean path keeps the pairs it has answered for good
        among the chains seen: not this one, turned down only for now.
        """
        from syncscope._core.holds import MAX_HANDOFF

        def new_lock() -> Any:
            return threading.Lock()

        def transfer(first: Any, second: Any) -> None:
            with first, second:
                pass

        with recording() as rec:
            signal, other = new_lock(), new_lock()
            signal.acquire()
            join(start_thread(signal.release, name="releaser"))  # a hand-off
            join(start_thread(transfer, signal, other, name="early"))
            handed = [threading.Lock() for _ in range(MAX_HANDOFF + 1)]
            for lock in handed:  # trylocks, whose order is not remembered (it would fill up)
                assert lock.acquire(blocking=False)
            # Given back in the order taken, each from below the others on the taker's chain,
            # which the lean path walks down to it: 10,000 locks took 3 s alone, more than
            # the usual 5 s with both cores busy. (Newest first, the event path's list of
            # holds is searched as long.) A timeout for a thread that ends, not a hang.
            releasers = start_thread(lambda: [lock.release() for lock in handed], name="releasers")
            join(releasers, timeout=60)
            join(start_thread(transfer, signal, other, name="payer"))
            assert rec.inversions == []
            join(start_thread(transfer, other, signal, name="payee"))
        [inversion] = rec.inversions
        assert inversion.same_site
        assert sorted(edge.thread for edge in inversion.edges) == ["payee", "payer"]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_the_same_code_at_two_places_is_placed_at_each(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        Two copies of one function, the same instructions at other lines (as a generated or
        copied module has): each hold is placed at its own copy's line, however often the
        lines are asked for (the lean path remembers them per code).
        """
        source = "def nest(outer, inner):\n    with outer:\n        with inner:\n            pass\n"
        copies: list[Any] = []
        for blank_lines in (10, 30):
            namespace: dict[str, Any] = {}
            exec(compile("\n" * blank_lines + source, __file__, "exec"), namespace)
            copies.append(namespace["nest"])
        here, there = copies
        assert here.__code__.co_code == there.__code__.co_code
        with recording() as rec:
            a = threading.Lock()
            b = threading.Lock()
            for _ in range(2):  # lines asked for again, the second time round
                join(start_thread(here, a, b))
                join(start_thread(there, b, a))
        assert inversion_sites(rec) == [sorted([("a", 12, "b", 13), ("b", 32, "a", 33)])]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_condition_taken_with_with_is_placed_at_the_with(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A Condition taken with `with cond:` is placed at the user's line, not in threading's
        Condition.__enter__ (as under -q it was, both when first taken and after).
        """

        def program() -> None:
            cond = threading.Condition()
            lock = threading.Lock()

            def one() -> None:
                with cond:  # noqa: SIM117 (each on its own line: the test reads the lines)
                    with lock:
                        pass

            def two() -> None:
                with lock:  # noqa: SIM117
                    with cond:
                        pass

            for target in (one, two, one, two):
                join(start_thread(target))

        with recording() as rec:
            program()
        first = program.__code__.co_firstlineno
        assert inversion_sites(rec) == [
            sorted(
                [("cond", first + 5, "lock", first + 6), ("lock", first + 10, "cond", first + 11)]
            )
        ]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_first_acquire_made_by_threadings_own_code_is_placed_past_it(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A lock first taken by threading's own code, a Thread's target or a Barrier's action
        (run by syncscope's wrapper of the wait), is placed where the program is, past
        threading's frames and syncscope's: at the barrier's wait, and nowhere for a thread
        that is the acquire alone. Not at a line of threading.py or of syncscope.
        """
        with recording() as rec:
            by_thread, by_action = threading.Lock(), threading.Lock()
            taker = threading.Thread(target=by_thread.acquire)
            taker.start()
            join(taker)
            threading.Barrier(1, action=by_action.acquire).wait(5)
            wait_line = sys._getframe().f_lineno - 1
            owners = rec._recorder.holds.snapshot().owner
            sites = [owners[lock._syncscope_primitive].site for lock in (by_thread, by_action)]
            by_thread.release()
            by_action.release()
        here = sys._getframe().f_code.co_name
        assert sites == [("<unknown>", 0, "<unknown>"), (__file__, wait_line, here)]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_lock_threadings_code_takes_holding_another_is_placed_past_it(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A lock a Barrier's action takes while the waiting thread holds another: the order's
        second lock is placed at the barrier's wait, past threading's frames and syncscope's,
        also when the acquire takes the fast path (its tally adopted at an earlier wait),
        whose noted caller is syncscope's wrapper of the action.
        """

        def program() -> None:
            outer = threading.Lock()
            inner = threading.Lock()
            barrier = threading.Barrier(1, action=inner.acquire)
            barrier.wait(5)  # the action's first acquire, holding nothing
            inner.release()
            with outer:
                barrier.wait(5)
            inner.release()

            def other() -> None:
                with inner:  # noqa: SIM117 (each on its own line: the test reads the lines)
                    with outer:
                        pass

            join(start_thread(other))

        with recording() as rec:
            program()
        at = program.__code__.co_firstlineno
        [inversion] = rec.inversions
        sites = sorted(
            (edge.first.name, edge.first_site, edge.then.name, edge.then_site)
            for edge in inversion.edges
        )
        assert sites == [
            ("inner", (__file__, at + 11, "other"), "outer", (__file__, at + 12, "other")),
            ("outer", (__file__, at + 6, "program"), "inner", (__file__, at + 7, "program")),
        ]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_lock_taken_with_no_frame_of_the_programs_is_placed_nowhere(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A thread whose stack is threading's alone (its target a C callable calling the
        locks) takes one lock holding another: both are placed nowhere, on either path, not
        where the lock was taken last by another thread (the lean path's slow acquire kept
        the place its lock had noted then).
        """
        with recording() as rec:
            a, b = threading.Lock(), threading.Lock()
            with a:  # the place a notes, which the other thread's take must not inherit
                pass
            # acquire(True, -1.0): a timeout that is not the default takes the slow path.
            calls = [functools.partial(a.acquire, True, -1.0), b.acquire, b.release, a.release]
            run_all = functools.partial(collections.deque, map(operator.call, calls), 0)
            join(start_thread(run_all, name="from C"))

            def other() -> None:
                with b:  # noqa: SIM117 (each on its own line)
                    with a:
                        pass

            join(start_thread(other, name="other"))
        [inversion] = rec.inversions
        [from_c] = [edge for edge in inversion.edges if edge.thread == "from C"]
        nowhere = ("<unknown>", 0, "<unknown>")
        assert (from_c.first.name, from_c.first_site) == ("a", nowhere)
        assert (from_c.then.name, from_c.then_site) == ("b", nowhere)

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_first_acquire_is_placed_at_its_call_whichever_way_it_was_asked(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        A lock's first acquire (its tally adopted on the slow path, which finds its caller a
        fixed number of frames up) is placed at its call: by `acquire()`, by `with`, and with
        a timeout of a type the trylock cannot be tried before (a float subclass: one frame
        more of ours). Each lock here is first taken as the outer one of a pair.
        """

        class Seconds(float):
            pass

        def program() -> None:
            a = threading.Lock()
            b = threading.Lock()
            c = threading.Lock()
            x = threading.Lock()

            def one() -> None:
                a.acquire(timeout=Seconds(5))
                with x:
                    pass
                a.release()

            def two() -> None:
                b.acquire()
                with x:
                    pass
                b.release()

            def three() -> None:
                with c:  # noqa: SIM117 (each on its own line: the test reads the lines)
                    with x:
                        pass

            def four() -> None:
                for inner in (a, b, c):
                    with x:  # noqa: SIM117
                        with inner:
                            pass

            for target in (one, two, three, four):
                join(start_thread(target))

        with recording() as rec:
            program()
        first = program.__code__.co_firstlineno
        assert sorted(inversion_sites(rec)) == [
            sorted(
                [(name, first + line, "x", first + line + 1), ("x", first + 25, name, first + 26)]
            )
            for name, line in (("a", 7), ("b", 13), ("c", 19))
        ]

    @pytest.mark.parametrize("recording", [lean_recording, full_recording])
    def test_a_hold_across_a_wait_stays_where_it_was_taken(
        self, recording: Callable[[], Any]
    ) -> None:
        """
        The waiter's hold goes on after its wait where the waiter took it, not where the
        notifier took the lock meanwhile (under -q, the notifier's line, in the waiter's
        inversion and in who made others wait).
        """

        def program() -> None:
            cond = threading.Condition()
            lock = threading.Lock()
            waiting = threading.Event()
            ready: list[int] = []

            def waiter() -> None:
                with cond:
                    waiting.set()
                    while not ready:
                        cond.wait(5)
                    with lock:
                        pass

            def notifier() -> None:
                waiting.wait(5)
                with cond:
                    ready.append(1)
                    cond.notify()

            def two() -> None:
                with lock:  # noqa: SIM117 (each on its own line: the test reads the lines)
                    with cond:
                        pass

            thread = start_thread(waiter)
            join(start_thread(notifier))
            join(thread)
            join(start_thread(two))

        with recording() as rec:
            program()
        first = program.__code__.co_firstlineno
        assert inversion_sites(rec) == [
            sorted(
                [("cond", first + 7, "lock", first + 11), ("lock", first + 21, "cond", first + 22)]
            )
        ]

    @pytest.mark.parametrize("kind", ["Lock", "RLock"])
    def test_a_lock_taken_from_c_code(self, kind: str, lean: Recording) -> None:
        """
        A lock already counted, acquired with no Python caller (a thread's target): taken.
        Where it was taken was looked up with sys._getframe(1), which raised there.
        """
        lock = getattr(threading, kind)()
        with lock:
            pass
        done = _thread.allocate_lock()
        done.acquire()
        failed: list[object] = []
        hook, sys.unraisablehook = sys.unraisablehook, failed.append
        try:
            # list(map(operator.call, ...)) calls each from C: no Python frame on the thread.
            _thread.start_new_thread(list, (map(operator.call, [lock.acquire, done.release]),))
            assert done.acquire(timeout=5), failed
        finally:
            sys.unraisablehook = hook
        assert not failed
        assert not lock.acquire(blocking=False)  # the other thread has it

    def test_lean_and_event_paths_agree(self) -> None:
        with lean_recording() as lean:
            a_then_b_then_b_then_a()
        with full_recording() as full:
            a_then_b_then_b_then_a()
        assert inversion_sites(lean) == inversion_sites(full) != []

    def test_a_known_chain_is_checked_once_and_still_reported_once(self, lean: Recording) -> None:
        a, b = threading.Lock(), threading.Lock()
        for _ in range(100):
            with a, b:
                pass
        with b, a:
            pass
        assert len(lean.inversions) == 1

    def test_a_lock_left_held_by_an_earlier_recording_is_not_held_in_the_next(self) -> None:
        """
        Each recording's model starts empty, as the event path's does: a lock or a permit a
        test left held is not under every lock the next test takes (its inversions, its
        deadlocks).
        """
        with lean_recording() as first:
            left, left_permit = threading.Lock(), threading.Semaphore()
            left.acquire()
            left_permit.acquire()
            assert ["left", "left_permit"] == held(first)
        try:
            with lean_recording() as second:
                inner = threading.Lock()
                with inner:
                    assert ["inner"] == held(second)
                assert [] == held(second)
        finally:
            left.release()
            left_permit.release()

    def test_a_trylock_adds_no_order(self, lean: Recording) -> None:
        a, b = threading.Lock(), threading.Lock()
        with a:
            assert b.acquire(False)
            b.release()
        with b, a:
            pass
        assert lean.inversions == []


class TestDeadlock:
    def test_found_with_holders_and_where_they_took_their_locks(self, lean: Recording) -> None:
        a, b = threading.Lock(), threading.Lock()
        both = threading.Barrier(2, timeout=5)
        stuck = [Latch(), Latch()]

        def one() -> None:
            a.acquire()  # left held: the test breaks the deadlock by releasing it
            both.wait()
            stuck[0].set()
            with b:
                pass

        def two() -> None:
            with b:
                both.wait()
                stuck[1].set()
                with a:
                    pass

        t1, t2 = start_thread(one), start_thread(two)
        for latch in stuck:
            latch.wait(5)
        try:
            found = deadlocks_found(lean)
            assert len(found) == 1
            text = found[0].text()
            here = "tests/test_lean_diagnosis.py"
            assert f"holds lock a, taken at {here}:{one.__code__.co_firstlineno + 1}" in text
            assert f"holds lock b, taken at {here}:{two.__code__.co_firstlineno + 1}" in text
        finally:
            a.release()  # a plain Lock: any thread may release it, and end the deadlock
            join(t2)
            join(t1)


def waiting_at(rec: Recording, thread: threading.Thread, timeout: float = 5) -> Any:
    """The watchdog's record of ``thread``'s wait, once it has one (None if it has none)."""
    deadline = time.monotonic() + timeout
    while True:
        found = rec._recorder.holds.snapshot().waiting.get(thread.ident or 0)
        if found is not None or time.monotonic() > deadline:
            return found
        threading.Event().wait(0.01)


class TestBarrierWaits:
    def test_an_arrival_that_waits_is_seen_where_it_waits(self, lean: Recording) -> None:
        """
        A thread blocked at a barrier is told to the watchdog, at the program's line, with
        the barrier's time limit; once the barrier lets it through, it waits no more.
        """
        both = threading.Barrier(2, timeout=30)

        def arrive() -> None:
            both.wait()

        first = start_thread(arrive)
        try:
            wait = waiting_at(lean, first)
            assert wait is not None, "the first arrival's wait was not told to the watchdog"
            assert ("both", "wait", 30) == (wait.primitive.name, wait.op, wait.timeout)
            here = ("tests/test_lean_diagnosis.py", arrive.__code__.co_firstlineno + 1)
            assert here == (wait.site[0][-len(here[0]) :], wait.site[1])
        finally:
            assert 1 == both.wait(5)  # the last arriver: let it through
            join(first)
        assert first.ident not in lean._recorder.holds.snapshot().waiting

    def test_an_arrival_waiting_for_the_barriers_lock_is_seen(self, lean: Recording) -> None:
        """
        A thread that arrives while another holds the barrier's lock (the program's code,
        here the test itself) may wait for it, outside the barrier's Condition: it is told to
        the watchdog before it arrives.
        """
        both = threading.Barrier(2, timeout=30)

        def arrive() -> None:
            both.wait()

        with both._cond:  # type: ignore[attr-defined]
            first = start_thread(arrive)
            wait = waiting_at(lean, first)
        try:
            assert wait is not None, "an arrival blocked on the barrier's lock was not seen"
            assert ("both", "wait") == (wait.primitive.name, wait.op)
        finally:
            both.wait(5)  # first or last: the lock is free now
            join(first)

    def test_the_last_arriver_running_the_action_is_seen_waiting(self, lean: Recording) -> None:
        """
        A barrier's action is the program's code, run by the last arriver under the
        barrier's lock, and may block: that arrival is told to the watchdog before it is
        made, as every arrival of a barrier with an action.
        """
        seen: list[Any] = []
        me = threading.current_thread()

        def action() -> None:
            seen.append(lean._recorder.holds.snapshot().waiting.get(me.ident or 0))

        gate = threading.Barrier(1, action=action)
        gate.wait(5)
        [wait] = seen
        assert wait is not None, "the arrival running the action was not seen waiting"
        assert ("gate", "wait") == (wait.primitive.name, wait.op)

    def test_a_subclass_s_own_steps_are_run_seen_waiting(self, lean: Recording) -> None:
        """A subclass's own steps run under the barrier's lock as an action does: the same."""
        seen: list[Any] = []
        me = threading.current_thread()

        class Checked(threading.Barrier):
            def _release(self) -> None:
                seen.append(lean._recorder.holds.snapshot().waiting.get(me.ident or 0))
                super()._release()  # type: ignore[misc]

        gate = Checked(1)
        gate.wait(5)
        [wait] = seen
        assert wait is not None, "the arrival running the subclass's steps was not seen waiting"
        assert ("gate", "wait") == (wait.primitive.name, wait.op)


class TestChains:
    def test_out_of_order_releases(self, lean: Recording) -> None:
        a = threading.Lock()
        b = threading.Lock()
        c = threading.Lock()
        d = threading.Lock()
        a.acquire()
        b.acquire()
        c.acquire()
        assert held(lean) == ["a", "b", "c"]
        b.release()  # from the middle
        assert held(lean) == ["a", "c"]
        d.acquire()
        a.release()  # from the bottom
        assert held(lean) == ["c", "d"]
        c.release()
        d.release()
        assert held(lean) == []

    def test_a_chain_left_by_a_release_below_is_checked_as_it_is(self, lean: Recording) -> None:
        """
        x then y under z and the gate g, y then x under g: guarded by g. Then g is given back
        from between z and x, and y taken: the chain is z, x, y, without g, and must be
        checked as such (x's key still named g until recomputed): the inversion is unguarded.
        """
        z = threading.Lock()
        g = threading.Lock()
        x = threading.Lock()
        y = threading.Lock()
        with z, g, x, y:
            pass
        with g, y, x:
            pass
        assert (len(lean.inversions), len(lean.guarded_inversions)) == (0, 1)
        z.acquire()
        g.acquire()
        x.acquire()
        g.release()  # from the middle of the chain
        with y:
            pass
        x.release()
        z.release()
        assert len(lean.inversions) == 1

    def test_a_guard_held_far_out_still_guards(self, lean: Recording) -> None:
        """
        x then y, and y then x, each under g with 50 locks taken between: guarded by g, held
        further out than the innermost holds the order check reads whole.
        """
        g = threading.Lock()
        x = threading.Lock()
        y = threading.Lock()
        one = [threading.Lock() for _ in range(50)]
        two = [threading.Lock() for _ in range(50)]  # another line: no guard of their own
        for first, second, fillers in ((x, y, one), (y, x, two)):
            with g:
                for filler in fillers:
                    filler.acquire()
                with first, second:
                    pass
                for filler in reversed(fillers):
                    filler.release()
        assert (len(lean.inversions), len(lean.guarded_inversions)) == (0, 1)

    def test_a_wait_for_whose_predicate_takes_the_lock_again(self, lean: Recording) -> None:
        """
        The predicate of a wait_for takes the Condition's RLock again: the hold is one, on
        the chain once. It was pushed a second time, below itself: the next release walked
        the chain for ever (the program hung under -q).
        """
        lock = threading.RLock()
        cond = threading.Condition(lock)
        other = threading.Lock()

        def ready() -> bool:
            with lock:
                return True

        other.acquire()
        with cond:
            assert cond.wait_for(ready, timeout=5)
            assert held(lean) == ["other", "lock"]
            other.release()  # out of order: walks the chain
            assert held(lean) == ["lock"]
        assert held(lean) == []

    def test_a_wait_for_true_at_once_on_a_lock_not_held(self, lean: Recording) -> None:
        """
        CPython's wait_for returns a predicate true at once without the lock held: nothing
        is held after it. A hold was pushed for the lock nobody had taken.
        """
        cond = threading.Condition(threading.Lock())
        assert cond.wait_for(lambda: True)
        assert held(lean) == []
        with cond:
            assert held(lean) == ["cond"]
        assert held(lean) == []

    def test_random_sequences_match_a_plain_list(self, lean: Recording) -> None:
        """Whatever the order of acquires and releases, the chain is what is held."""
        rng = random.Random(7)
        locks = [threading.Lock() if i % 2 else threading.RLock() for i in range(6)]
        expected: list[Any] = []
        for _ in range(400):
            free = [lock for lock in locks if lock not in expected]
            if free and (not expected or rng.random() < 0.55):
                lock = rng.choice(free)
                lock.acquire()
                expected.append(lock)
            else:
                lock = rng.choice(expected)
                lock.release()
                expected.remove(lock)
            assert held(lean) == [lean.stats(lock).name for lock in expected]
        for lock in expected:
            lock.release()

    def test_rlock_reentry_is_one_hold(self, lean: Recording) -> None:
        r = threading.RLock()
        with r, r, r:
            assert held(lean) == ["r"]
        assert held(lean) == []

    def test_a_lock_released_by_another_thread_is_a_signal(self, lean: Recording) -> None:
        signal = threading.Lock()
        signal.acquire()
        join(start_thread(signal.release))
        snapshot = lean._recorder.holds.snapshot()
        assert [p.name for p in snapshot.handoff] == ["signal"]
        assert held(lean) == []

    def test_a_condition_wait_gives_its_lock_up(self, lean: Recording) -> None:
        cond = threading.Condition()
        waiting, go = Latch(), Latch()

        def waiter() -> None:
            with cond:
                waiting.set()
                cond.wait(5)

        thread = start_thread(waiter)
        waiting.wait(5)
        with cond:  # the waiter is in wait(): it gave the lock up
            assert held(lean, thread) == []
            assert held(lean) == ["cond"]
            cond.notify()
        join(thread)
        go.set()

    def test_a_thread_that_ends_holding_a_lock(self, lean: Recording) -> None:
        kept = threading.Lock()
        join(start_thread(kept.acquire))
        snapshot = lean._recorder.holds.snapshot()
        (hold,) = [h for p, h in snapshot.owner.items() if p.name == "kept"]
        assert hold.exited
        kept.release()


class TestSemaphores:
    def test_a_deadlock_through_a_semaphores_permit(self, lean: Recording) -> None:
        sem = threading.Semaphore(1)
        lock = threading.Lock()
        both = threading.Barrier(2, timeout=5)

        def one() -> None:
            sem.acquire()  # left held: the test ends the deadlock by releasing it
            both.wait()
            with lock:
                pass

        def two() -> None:
            with lock:
                both.wait()
                with sem:
                    pass

        t1, t2 = start_thread(one), start_thread(two)
        try:
            found = deadlocks_found(lean)
            assert len(found) == 1
            here = "tests/test_lean_diagnosis.py"
            text = found[0].text()
            assert f"holds semaphore sem, taken at {here}:{one.__code__.co_firstlineno + 1}" in text
            assert f"holds lock, taken at {here}:{two.__code__.co_firstlineno + 1}" in text
        finally:
            sem.release()  # any thread may give a permit back
            join(t2)
            join(t1)

    def test_a_release_with_no_permit_out_is_a_signal(self, lean: Recording) -> None:
        ready = threading.Semaphore(0)
        ready.release()
        assert ready.acquire(timeout=5)
        snapshot = lean._recorder.holds.snapshot()
        assert [p.name for p in snapshot.handoff] == ["ready"]

    def test_permits_held_are_holds_of_their_takers(self, lean: Recording) -> None:
        pool = threading.BoundedSemaphore(3)
        pool.acquire()
        pool.acquire()
        snapshot = lean._recorder.holds.snapshot()
        (permits,) = snapshot.permits.values()
        me = threading.get_ident()
        assert [hold.thread_id for hold in permits] == [me, me]
        pool.release()
        pool.release()
        assert lean._recorder.holds.snapshot().permits == {}


class TestThreadsThatEndHolding:
    def test_the_oldest_is_forgotten_whichever_thread_ends_meanwhile(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        Past ``MAX_LINGERING`` threads that ended holding something, the oldest is forgotten
        as the next one ends. Another thread ending meanwhile (here, at each instruction of
        the eviction in turn) neither raises in the ending thread ("dictionary changed size
        during iteration", printed as the thread ended) nor lets the oldest stay.
        """
        import dis

        from syncscope._core import leanholds

        from .support.switches import each_instruction

        monkeypatch.setattr(leanholds, "MAX_LINGERING", 4)
        code = leanholds.linger.__code__
        switched_at = []
        for instruction in dis.get_instructions(code):
            lingering: dict[int, Any] = {}
            monkeypatch.setattr(leanholds, "lingering", lingering)
            oldest, *others = [object() for _ in range(4)]
            for holds in (oldest, *others):
                lingering[id(holds)] = holds
            ending, meanwhile = object(), object()
            switched: list[int] = []

            def another_thread_ends(
                offset: int,
                at: int = instruction.offset,
                switched: list[int] = switched,
                meanwhile: object = meanwhile,
            ) -> None:
                if offset == at and not switched:
                    switched.append(offset)
                    leanholds.lingering[id(meanwhile)] = meanwhile  # its linger(), first step

            with each_instruction(code, another_thread_ends):
                leanholds.linger(ending)  # type: ignore[arg-type]
            switched_at += switched
            kept = list(lingering.values())
            assert ending in kept and oldest not in kept, instruction
            assert len(kept) <= 5, instruction  # the other thread's own call trims its own
        assert len(switched_at) >= 5  # the instructions run on the way: not only the first


def test_at_exit_the_runner_leaves_nothing_it_counted_to_the_collector() -> None:
    """
    What the statistics and the lock-order check kept refers to itself (each tally to its
    book, the graph to its recorder): the runner's last step lets go of it, so that it goes
    as it is dropped, not with the interpreter's last collection, which walks all of it first
    (a program with 100,000 per-object locks paired in transfers waited a tenth of a second
    more for its exit).
    """
    from syncscope import _api
    from syncscope._core.event import Primitive
    from syncscope._core.tally import Tally

    gc.collect()
    syncscope.install(lines=False, stats=True, detect_deadlocks=True, report=False)
    own = _api.installed_sinks()
    locks = [threading.Lock() for _ in range(200)]
    for first, then in zip(locks[::2], locks[1::2], strict=True):
        with first, then:
            pass
    collecting = gc.isenabled()
    gc.disable()  # no collection before the look below
    try:
        _api.uninstall_at_exit(own)
        del locks, first, then
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = collections.Counter(
            type(o).__name__ for o in gc.garbage if isinstance(o, (Tally, Primitive))
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if collecting:
            gc.enable()
    assert left == {}


class Account:
    """An object with a lock of its own, made at one line: a lock per object."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rlock = threading.RLock()
        self.cond = threading.Condition(self.lock)


def nest_with(p: Account, q: Account) -> None:
    with p.lock:  # noqa: SIM117 (each lock on its own line)
        with q.lock:
            pass


def nest_acquire(p: Account, q: Account) -> None:
    p.lock.acquire()
    q.lock.acquire()
    q.lock.release()
    p.lock.release()


def nest_conditions(p: Account, q: Account) -> None:
    with p.cond:  # noqa: SIM117
        with q.cond:
            pass


def nest_after_a_wait(p: Account, q: Account) -> None:
    with p.cond:
        p.cond.wait(0)  # gives the lock up and takes it back: placed where it was first taken
        with q.lock:
            pass


def nest_rlocks(p: Account, q: Account) -> None:
    with p.rlock:  # noqa: SIM117
        with p.rlock:
            q.rlock.acquire()
            q.rlock.release()


_generated: dict[str, Any] = {}
exec(
    compile(
        "def nest(p, q):\n    with p.lock:\n        with q.lock:\n            pass\n", "<x>", "exec"
    ),
    _generated,
)


def taken_alone(p: Account) -> None:
    with p.lock:
        pass


@pytest.mark.parametrize(
    "nest",
    [nest_with, nest_acquire, nest_conditions, nest_after_a_wait, nest_rlocks, _generated["nest"]],
)
def test_a_pair_of_one_class_is_placed_as_the_event_path_places_it(nest: Any) -> None:
    """
    The lean path keeps where each lock of a pair of one class was taken as the proxies keep
    it, and makes it a site only when the inversion is reported, after both locks were taken
    again elsewhere: the inversion says what the event path says, each edge at the lines of
    the pair's first sighting.
    """
    found = []
    for recording in (lean_recording, full_recording):
        with recording() as rec:
            a, b = Account(), Account()
            join(start_thread(nest, a, b, name="one"))
            for _ in range(2):  # both taken again, at another line, by another thread
                join(start_thread(taken_alone, a, name="other"))
                join(start_thread(taken_alone, b, name="other"))
            assert rec.inversions == []
            join(start_thread(nest, b, a, name="two"))
        names = {
            proxy._syncscope_primitive.id: name
            for name, account in (("a", a), ("b", b))
            for proxy in (account.lock, account.rlock)
        }
        [inversion] = rec.inversions
        found.append(
            sorted(
                (e.thread, names[e.first.id], e.first_site, names[e.then.id], e.then_site)
                for e in inversion.edges
            )
        )
    lean, full = found
    assert lean == full
    # At the pair's first sighting, in each order: not where the locks were taken again.
    assert [(edge[0], edge[2][2], edge[4][2]) for edge in lean] == [
        ("one", nest.__name__, nest.__name__),
        ("two", nest.__name__, nest.__name__),
    ]


def test_a_profile_function_taking_library_locks_in_the_check_does_not_hang_it(
    tmp_path: Any,
) -> None:
    """
    A profile function of the program's runs while a thread remembers a new pair of one class
    (under the graph's own lock): the locks of the library's it takes there (``--all``) are
    part of that check, not checked in turn, which waited for the graph's lock for ever.
    """
    program = tmp_path / "profiled.py"
    program.write_text(
        "import queue, sys, threading\n"
        "def profiler(frame, event, arg):\n"
        # Inside the check of a new pair, with the graph's lock taken (its first C call).
        "    if event == 'c_call' and frame.f_code.co_name == 'same_site_pair':\n"
        "        sys.setprofile(None)\n"
        "        print('in the check')\n"
        "        a, b = queue.Queue(), queue.Queue()\n"
        "        with a.mutex:\n"
        "            with b.mutex:\n"
        "                pass\n"
        "class Node:\n"
        "    def __init__(self):\n"
        "        self.lock = threading.Lock()\n"
        "def worker():\n"
        "    first, second = Node(), Node()\n"
        "    sys.setprofile(profiler)\n"
        "    with first.lock:\n"
        "        with second.lock:\n"
        "            pass\n"
        "    sys.setprofile(None)\n"
        "thread = threading.Thread(target=worker, daemon=True)\n"
        "thread.start()\n"
        "thread.join(20)\n"
        "print('stuck' if thread.is_alive() else 'finished')\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "syncscope", "-q", "--all", "--no-report", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == "in the check\nfinished\n", done.stderr


#: Two locks taken in both orders: an inversion the check finds once its lock is free again.
_AN_INVERSION = (
    "a, b = threading.Lock(), threading.Lock()\n"
    "with a:\n"
    "    with b:\n"
    "        pass\n"
    "with b:\n"
    "    with a:\n"
    "        pass\n"
)


@pytest.mark.parametrize("taker", ["profile function", "signal handler"])
def test_the_programs_locks_taken_inside_the_check_do_not_hang_it(
    tmp_path: Any, taker: str
) -> None:
    """
    The same with locks of the program's own, which the lean path checks whatever the guard
    says, taken in the check of a new pair (under the graph's lock) by a profile function or
    by a signal handler that runs there: their own check waited for that lock for ever. It is
    skipped, said in the report, and the graph's lock is free again afterwards: an inversion
    the thread makes next is found. On the main thread, where signal handlers run.
    """
    take = "take_two()" if taker == "profile function" else "signal.raise_signal(signal.SIGUSR1)"
    program = tmp_path / "profiled.py"
    program.write_text(
        "import signal, sys, threading\n"
        "class Node:\n"
        "    def __init__(self):\n"
        "        self.lock = threading.Lock()\n"
        "def take_two():\n"
        "    third, fourth = Node(), Node()\n"
        "    with third.lock:\n"
        "        with fourth.lock:\n"
        "            pass\n"
        "signal.signal(signal.SIGUSR1, lambda signum, frame: take_two())\n"
        "def profiler(frame, event, arg):\n"
        # Inside the check of a new pair, with the graph's lock taken (its first C call).
        "    if event == 'c_call' and frame.f_code.co_name == 'same_site_pair':\n"
        "        sys.setprofile(None)\n"
        "        print('in the check')\n"
        f"        {take}\n"
        "first, second = Node(), Node()\n"
        "sys.setprofile(profiler)\n"
        "with first.lock:\n"
        "    with second.lock:\n"
        "        pass\n"
        "sys.setprofile(None)\n" + _AN_INVERSION + "print('finished')\n"
    )
    report = tmp_path / "report.json"
    done = run_syncscope("-q", "--report-json", str(report), str(program), timeout=30)
    assert (done.returncode, done.stdout) == (0, "in the check\nfinished\n"), done.stderr
    found = json.loads(report.read_text())
    assert found["summary"]["inversions"] == 1
    skipped = found["order_checks_skipped"]
    assert skipped >= 1
    checks = "check" if skipped == 1 else "checks"
    headline = (
        f"1 lock-order inversion, no deadlock, no hang, {skipped} lock-order {checks} skipped "
        "(locks taken by a profile function or signal handler inside syncscope's check)"
    )
    assert headline in done.stderr, done.stderr


def test_at_exit_the_runner_leaves_a_recording_of_the_programs_whole() -> None:
    """
    The runner lets go of its own recording only: one the program made (``record()``) is
    the program's to read to its end, a daemon thread's included.
    """
    from syncscope import _api

    syncscope.install(lines=False, stats=True, detect_deadlocks=True, report=False)
    own = _api.installed_sinks()
    lock = threading.Lock()
    with syncscope.record(echo=False) as rec:
        with lock:
            pass
        _api.uninstall_at_exit(own)
        assert rec.stats(lock).acquisitions == 1
    assert rec.stats(lock).acquisitions == 1


def test_a_check_waiting_on_a_handler_of_another_thread_is_skipped(tmp_path: Any) -> None:
    """
    The same across two threads: one's profile function, run in the check of a new pair
    (under the graph's lock), waits for a lock of the program's that the other holds as it
    takes one more lock, whose check waits for the graph's lock. Both waited for ever; the
    second check is skipped after ORDER_WAIT, said in the report, and the graph's lock is
    free again afterwards: an inversion made next is found.
    """
    program = tmp_path / "profiled.py"
    program.write_text(
        "import sys, threading\n"
        "class Node:\n"
        "    def __init__(self):\n"
        "        self.lock = threading.Lock()\n"
        "shared = threading.Lock()\n"
        "armed, inside = threading.Event(), threading.Event()\n"
        "def profiler(frame, event, arg):\n"
        # Inside the check of a new pair, with the graph's lock taken (its first C call).
        "    if event == 'c_call' and frame.f_code.co_name == 'same_site_pair':\n"
        "        sys.setprofile(None)\n"
        "        inside.set()\n"
        "        with shared:\n"
        "            pass\n"
        "def holder():\n"
        "    with shared:\n"
        "        armed.set()\n"
        "        inside.wait(20)\n"
        "        with Node().lock:\n"  # a new edge from shared: its check waits
        "            pass\n"
        "def checker():\n"
        "    armed.wait(20)\n"
        "    first, second = Node(), Node()\n"
        "    sys.setprofile(profiler)\n"
        "    with first.lock:\n"
        "        with second.lock:\n"
        "            pass\n"
        "    sys.setprofile(None)\n"
        "threads = [threading.Thread(target=f, daemon=True) for f in (holder, checker)]\n"
        "for thread in threads:\n"
        "    thread.start()\n"
        "for thread in threads:\n"
        "    thread.join(20)\n"
        "print('inside' if inside.is_set() else 'not inside')\n"
        "print('stuck' if any(t.is_alive() for t in threads) else 'finished')\n" + _AN_INVERSION
    )
    report = tmp_path / "report.json"
    done = run_syncscope("-q", "--report-json", str(report), str(program), timeout=60)
    assert (done.returncode, done.stdout) == (0, "inside\nfinished\n"), done.stderr
    found = json.loads(report.read_text())
    assert found["summary"]["inversions"] == 1
    assert found["order_checks_skipped"] >= 1
    assert "lock-order check" in done.stderr and "skipped" in done.stderr, done.stderr
