"""The lock-order graph: inversions found lockdep-style, in runs that did not deadlock."""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import syncscope
from syncscope._core.event import Primitive
from syncscope._sinks.findings import Inversion
from syncscope._sinks.recorder import DiagnosisOptions, Recorder

from .conftest import REPO, join, run_syncscope, start_thread
from .support.events import FILE, acquired, primitive, released, waiting
from .support.process import script


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(DiagnosisOptions(stats=False, detect_deadlocks=True, echo=False))
    yield rec
    rec.close()


def nest(rec: Recorder, outer: object, inner: object, thread: int, line: int) -> None:
    """``thread`` takes ``outer`` at ``line``, then ``inner`` at ``line + 1``, releases both."""
    rec.handle(acquired(outer, thread=thread, line=line))  # type: ignore[arg-type]
    rec.handle(acquired(inner, thread=thread, line=line + 1))  # type: ignore[arg-type]
    rec.handle(released(inner, thread=thread))  # type: ignore[arg-type]
    rec.handle(released(outer, thread=thread))  # type: ignore[arg-type]


class TestClasses:
    def test_two_locks_in_both_orders(self, recorder: Recorder) -> None:
        """a then b in one thread, b then a in another: one inversion, with both places."""
        a, b = primitive("lock", "a", line=1), primitive("lock", "b", line=2)
        nest(recorder, a, b, thread=1, line=10)
        assert [] == recorder.inversions
        nest(recorder, b, a, thread=2, line=20)
        [inversion] = recorder.inversions
        assert not inversion.same_site
        assert ["a", "b"] == [ref.name for ref in inversion.locks]
        first, second = inversion.edges
        assert ("T1", "a", 10, "b", 11) == (
            first.thread,
            first.first.name,
            first.first_site[1],
            first.then.name,
            first.then_site[1],
        )
        assert ("T2", "b", 20, "a", 21) == (
            second.thread,
            second.first.name,
            second.first_site[1],
            second.then.name,
            second.then_site[1],
        )
        text = inversion.text()
        assert "lock-order inversion between lock a and lock b" in text
        assert f"T1 took lock a at {FILE}:10 in work, then lock b at {FILE}:11 in work" in text

    def test_reported_once(self, recorder: Recorder) -> None:
        """The same inversion seen again is not reported again."""
        a, b = primitive("lock", "a", line=1), primitive("lock", "b", line=2)
        for _ in range(3):
            nest(recorder, a, b, thread=1, line=10)
            nest(recorder, b, a, thread=2, line=20)
        assert 1 == len(recorder.inversions)

    def test_three_lock_cycle(self, recorder: Recorder) -> None:
        """a->b, b->c, c->a: a cycle of three edges, each edge's 'then' the next's 'first'."""
        a, b, c = (primitive("lock", name, line=n) for n, name in enumerate("abc", 1))
        nest(recorder, a, b, thread=1, line=10)
        nest(recorder, b, c, thread=2, line=20)
        assert [] == recorder.inversions
        nest(recorder, c, a, thread=3, line=30)
        [inversion] = recorder.inversions
        edges = inversion.edges
        assert 3 == len(edges)
        for edge, following in zip(edges, edges[1:] + edges[:1], strict=True):
            assert edge.then.name == following.first.name

    def test_consistent_order_is_fine(self, recorder: Recorder) -> None:
        """Many threads taking the same locks in the same order: nothing."""
        a, b, c = (primitive("lock", name, line=n) for n, name in enumerate("abc", 1))
        for thread in range(1, 5):
            nest(recorder, a, b, thread=thread, line=10)
            nest(recorder, b, c, thread=thread, line=20)
            nest(recorder, a, c, thread=thread, line=30)
        assert [] == recorder.inversions

    def test_rlock_reentry_adds_no_edge(self, recorder: Recorder) -> None:
        """Taking an RLock again while holding another lock is no new order."""
        r, a = primitive("rlock", "r", line=1), primitive("lock", "a", line=2)
        recorder.handle(acquired(r, depth=1))
        recorder.handle(acquired(a))
        recorder.handle(acquired(r, depth=2))
        recorder.handle(released(r, depth=1))
        recorder.handle(released(a))
        recorder.handle(released(r, depth=0))
        nest(recorder, r, a, thread=2, line=10)
        assert [] == recorder.inversions

    def test_semaphores_take_no_part(self, recorder: Recorder) -> None:
        """Semaphores are often signals: they make no edges."""
        a, sem = primitive("lock", "a", line=1), primitive("semaphore", "s", line=2)
        nest(recorder, a, sem, thread=1, line=10)
        nest(recorder, sem, a, thread=2, line=20)
        assert [] == recorder.inversions

    def test_locks_used_as_signals_take_no_part(self, recorder: Recorder) -> None:
        """A lock once released by another thread than its taker is a signal: no edge from it."""
        signal, a = primitive("lock", "signal", line=1), primitive("lock", "a", line=2)
        recorder.handle(acquired(signal, thread=1))
        recorder.handle(released(signal, thread=2))
        nest(recorder, signal, a, thread=1, line=10)
        nest(recorder, a, signal, thread=2, line=20)
        assert [] == recorder.inversions

    def test_order_counts_when_the_wait_begins(self, recorder: Recorder) -> None:
        """The acquire that blocks (a deadlock in the making) adds its edge already."""
        a, b = primitive("lock", "a", line=1), primitive("lock", "b", line=2)
        recorder.handle(acquired(a, thread=1, line=10))
        recorder.handle(acquired(b, thread=2, line=20))
        recorder.handle(waiting(b, thread=1, line=11))
        recorder.handle(waiting(a, thread=2, line=21))
        [inversion] = recorder.inversions
        assert {"a", "b"} == {ref.name for ref in inversion.locks}


class TestSameSite:
    def test_two_objects_of_one_class_in_both_orders(self, recorder: Recorder) -> None:
        """Two locks created at one line, nested both ways: a same-site inversion."""
        x, y = primitive("lock", "lock", line=5), primitive("lock", "lock#2", line=5)
        nest(recorder, x, y, thread=1, line=10)
        assert [] == recorder.inversions
        nest(recorder, y, x, thread=2, line=20)
        [inversion] = recorder.inversions
        assert inversion.same_site
        assert "two locks created at" in inversion.text()
        assert ":5 are taken in both orders" in inversion.text()

    def test_pairs_keep_places_not_stacks(self, recorder: Recorder) -> None:
        """A remembered pair holds its places only; the report still names both orders."""
        x, y = primitive("lock", "lock", line=5), primitive("lock", "lock#2", line=5)
        nest(recorder, x, y, thread=1, line=10)
        assert recorder.lockorder is not None
        [(_, remembered)] = recorder.lockorder._pairs.items()
        assert not any(isinstance(part, tuple) and len(part) == 8 for part in remembered)
        nest(recorder, y, x, thread=2, line=20)
        [inversion] = recorder.inversions
        earlier, later = inversion.edges
        assert ("T1", "lock", 10, "lock#2", 11) == (
            earlier.thread,
            earlier.first.name,
            earlier.first_site[1],
            earlier.then.name,
            earlier.then_site[1],
        )
        assert () == earlier.stack  # taken when it is reported, for the order that closes it
        assert ("T2", 20, 21) == (later.thread, later.first_site[1], later.then_site[1])
        assert later.stack

    def test_pairs_past_the_limit(
        self, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past MAX_PAIRS new pairs cost nothing, but a remembered one is still checked."""
        monkeypatch.setattr("syncscope._sinks.lockorder.MAX_PAIRS", 2)
        nodes = [primitive("lock", f"node{n}", line=5) for n in range(5)]
        nest(recorder, nodes[0], nodes[1], thread=1, line=10)
        nest(recorder, nodes[1], nodes[2], thread=1, line=10)
        stacks = []
        monkeypatch.setattr(
            "syncscope._sinks.lockorder.stack_of", lambda frame: stacks.append(frame) or ()
        )
        nest(recorder, nodes[2], nodes[3], thread=1, line=10)
        nest(recorder, nodes[3], nodes[4], thread=1, line=10)
        assert recorder.lockorder is not None
        assert 2 == len(recorder.lockorder._pairs)
        assert [] == stacks  # no stack taken, nothing remembered
        nest(recorder, nodes[3], nodes[2], thread=2, line=20)  # its pair was not remembered
        assert [] == recorder.inversions
        nest(recorder, nodes[1], nodes[0], thread=2, line=20)
        assert 1 == len(stacks)  # for the report
        [inversion] = recorder.inversions
        assert ["node0", "node1"] == [ref.name for ref in inversion.locks]

    def test_a_ring_of_one_class(self, recorder: Recorder) -> None:
        """
        Three objects of one class taken around a ring (the dining philosophers' forks, made
        in one list): no pair in both orders, but a cycle, found when its last pair closes it.
        """
        forks = [primitive("lock", f"fork{n}", line=5) for n in range(3)]
        nest(recorder, forks[0], forks[1], thread=1, line=10)
        nest(recorder, forks[1], forks[2], thread=2, line=10)
        assert [] == recorder.inversions
        nest(recorder, forks[2], forks[0], thread=3, line=10)
        [inversion] = recorder.inversions
        assert inversion.same_site and inversion.guarded_by is None
        assert ["fork0", "fork1", "fork2"] == [ref.name for ref in inversion.locks]
        assert ["T1", "T2", "T3"] == [edge.thread for edge in inversion.edges]
        assert inversion.edges[-1].stack  # the order that closed it
        text = inversion.text()
        assert "3 locks created at " in text
        assert (
            ":5 are taken in orders that form a cycle (lock fork0, lock fork1, lock fork2)" in text
        )
        nest(recorder, forks[1], forks[0], thread=4, line=20)
        assert 1 == len(recorder.inversions)  # once per class

    def test_a_ring_one_thread_made_alone(self, recorder: Recorder) -> None:
        """
        One thread walks a list hand over hand, rotates it, and walks it again: its pairs
        form a ring, but no other thread takes them. Not reported; a second thread is.
        """
        nodes = [primitive("lock", f"node{n}", line=5) for n in range(3)]
        for n in range(3):
            nest(recorder, nodes[n], nodes[(n + 1) % 3], thread=1, line=10)
        assert [] == recorder.inversions
        nest(recorder, nodes[1], nodes[0], thread=2, line=20)  # a pair in both orders
        assert 1 == len(recorder.inversions)

    def test_a_ring_in_one_order(self, recorder: Recorder) -> None:
        """The lower-numbered fork first, always: a chain, no cycle."""
        forks = [primitive("lock", f"fork{n}", line=5) for n in range(4)]
        for n in range(4):
            low, high = sorted((n, (n + 1) % 4))
            nest(recorder, forks[low], forks[high], thread=n + 1, line=10)
        assert [] == recorder.inversions

    def test_a_ring_under_a_gate(self, recorder: Recorder) -> None:
        """Each philosopher asks the waiter first: a guarded cycle, named so."""
        waiter = primitive("lock", "waiter", line=2)
        forks = [primitive("lock", f"fork{n}", line=5) for n in range(3)]
        for n in range(3):
            nest_under(recorder, waiter, forks[n], forks[(n + 1) % 3], thread=n + 1)
        [inversion] = recorder.inversions
        assert inversion.same_site
        assert inversion.guarded_by is not None and "waiter" == inversion.guarded_by.name
        assert "are taken in orders that form a cycle, always under lock waiter" in (
            inversion.text()
        )

    def test_a_ring_past_the_search(
        self, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A search for a cycle looks at MAX_SEARCH objects at most: a longer ring is missed."""
        monkeypatch.setattr("syncscope._sinks.lockorder.MAX_SEARCH", 2)
        forks = [primitive("lock", f"fork{n}", line=5) for n in range(4)]
        for n in range(4):
            nest(recorder, forks[n], forks[(n + 1) % 4], thread=n + 1, line=10)
        assert [] == recorder.inversions
        nest(recorder, forks[1], forks[0], thread=9, line=20)  # a pair in both orders: found
        assert 1 == len(recorder.inversions)

    def test_only_the_innermost_holds_count(self, recorder: Recorder) -> None:
        """
        Past MAX_DEPTH holds only the innermost are looked at, as in the kernel's lockdep, so
        that a thread holding thousands of locks does not pay for all of them on each acquire.
        An inversion with an outer lock is still found, through the orders that led inward.
        """
        from syncscope._sinks.lockorder import MAX_DEPTH

        outer = [primitive("lock", f"outer{n}", line=100 + n) for n in range(MAX_DEPTH + 2)]
        last = primitive("lock", "last", line=1)
        for lock in outer:
            recorder.handle(acquired(lock, thread=1, line=10))  # type: ignore[arg-type]
        recorder.handle(acquired(last, thread=1, line=11))  # type: ignore[arg-type]
        for lock in [last, *reversed(outer)]:
            recorder.handle(released(lock, thread=1))  # type: ignore[arg-type]
        assert recorder.lockorder is not None
        taken_after_first = recorder.lockorder._after[
            (outer[0].file, outer[0].line, outer[0].column)
        ]
        assert (last.file, last.line) not in taken_after_first  # too deep to be looked at
        nest(recorder, last, outer[0], thread=2, line=20)
        [inversion] = recorder.inversions
        assert {"last", "outer0"} <= {ref.name for ref in inversion.locks}

    def test_one_class_in_one_order(self, recorder: Recorder) -> None:
        """Objects of one class always nested in the same direction: nothing."""
        nodes = [primitive("lock", f"node{n}", line=5) for n in range(4)]
        for parent, child in itertools.pairwise(nodes):
            nest(recorder, parent, child, thread=1, line=10)
        assert [] == recorder.inversions


class TestWithThreads:
    def test_inversion_without_deadlock(self) -> None:
        """Two threads, run one after the other, in opposite orders: found, with sites."""
        with syncscope.record(echo=False) as rec:
            first_lock = threading.Lock()
            second_lock = threading.Lock()
            join(start_thread(take_both, first_lock, second_lock))
            join(start_thread(take_both, second_lock, first_lock))
        [inversion] = rec.inversions
        assert isinstance(inversion, Inversion)
        assert ["first_lock", "second_lock"] == [ref.name for ref in inversion.locks]
        for edge in inversion.edges:
            assert __file__ == edge.then_site[0]
            assert "take_both" == edge.then_site[2]
            assert edge.stack[-1][2] == "take_both"

    def test_try_lock_out_of_order_is_fine(self) -> None:
        """Taking a lock out of order without blocking (acquire(False)) cannot deadlock."""
        with syncscope.record(echo=False) as rec:
            first_lock = threading.Lock()
            second_lock = threading.Lock()
            join(start_thread(take_both, first_lock, second_lock))
            with second_lock:
                assert first_lock.acquire(False)
                first_lock.release()
        assert [] == rec.inversions

    def test_found_inversions_are_written(self, capfd: pytest.CaptureFixture[str]) -> None:
        """With echo, an inversion is written to standard error when it is found."""
        with syncscope.record() as rec:
            first_lock = threading.Lock()
            second_lock = threading.Lock()
            take_both(first_lock, second_lock)
            take_both(second_lock, first_lock)
        assert 1 == len(rec.inversions)
        err = capfd.readouterr().err
        assert "syncscope: possible deadlock: lock-order inversion" in err
        assert "lock first_lock" in err


def take_both(outer: threading.Lock, inner: threading.Lock) -> None:
    with outer, inner:
        pass


class TestRunner:
    def test_inversion_that_did_not_deadlock(self, tmp_path: Path) -> None:
        """A program whose threads take two locks in opposite orders, one after the other."""
        program = script(
            tmp_path,
            """
            import threading

            class Store:
                def __init__(self):
                    self.index_lock = threading.Lock()
                    self.data_lock = threading.Lock()

                def write(self):
                    with self.index_lock:
                        with self.data_lock:
                            pass

                def compact(self):
                    with self.data_lock:
                        with self.index_lock:
                            pass

            store = Store()
            for job in (store.write, store.compact):
                thread = threading.Thread(target=job)
                thread.start()
                thread.join()
            print("done")
            """,
        )
        result = run_syncscope(str(program))
        assert 0 == result.returncode, result.stderr
        err = result.stderr
        head = "syncscope: possible deadlock: lock-order inversion between lock index_lock and "
        assert head + "lock data_lock" in err
        assert "took lock index_lock at " in err
        assert "prog.py:10 in write, then lock data_lock at " in err
        assert "prog.py:11 in write" in err
        assert "took lock data_lock at " in err
        assert "prog.py:15 in compact, then lock index_lock at " in err
        assert "prog.py:16 in compact" in err
        created = r"created at: lock index_lock \S*prog\.py:6, lock data_lock \S*prog\.py:7"
        assert re.search(created, err)
        assert 1 == err.count("syncscope: possible deadlock")
        assert "deadlock: " not in err.replace("possible deadlock: ", "")

    def test_an_order_taken_in_a_finalizer_says_so(self, tmp_path: Path) -> None:
        """
        An order taken in a ``__del__`` that ran under another lock (filelock's case: a lock
        object released by its finalizer inside the fork gate) is reported, with a word on
        the finalizer under that edge alone, so that a user can weigh it.
        """
        program = script(
            tmp_path,
            """
            import threading

            registry = threading.Lock()

            class Handle:
                def __init__(self):
                    self.lock = threading.Lock()

                def close(self):
                    with self.lock:
                        with registry:
                            pass

                def __del__(self):
                    with self.lock:
                        pass

            handle = Handle()
            handle.close()
            with registry:
                handle = None  # the last reference: __del__ runs here, under registry
            print("done")
            """,
        )
        result = run_syncscope("-q", str(program))
        assert (0, "done\n") == (result.returncode, result.stdout), result.stderr
        err = result.stderr
        assert "lock-order inversion between lock and lock registry" in err
        in_close, in_finalizer = err.split("  MainThread took ")[1:3]
        assert in_close.startswith("lock at ") and "finalizer" not in in_close
        assert in_finalizer.startswith("lock registry at ")
        assert re.search(r"\(first seen inside a finalizer, __del__ at \S*prog\.py:\d+: ", err)

    def test_no_time_limit_however_spelled_is_ordered(self, tmp_path: Path) -> None:
        """
        ``acquire(timeout=-1)`` waits without a limit however the program's number types
        spell -1 (an IntEnum, a float subclass, an ``__index__`` as numpy's ints have), and
        a float a hair above -1, which the lock rounds to -1 s, too. Its lock order is
        checked under -q as a plain acquire's is: each pair taken in both orders is an
        inversion.
        """
        program = script(
            tmp_path,
            """\
            import enum
            import threading

            class Timeout(enum.IntEnum):
                FOREVER = -1

            class Seconds(float):
                pass

            class Index:
                def __index__(self):
                    return -1

            enum_a = threading.Lock()
            enum_b = threading.Lock()
            float_a = threading.Lock()
            float_b = threading.Lock()
            near_a = threading.Lock()
            near_b = threading.Lock()
            index_a = threading.Lock()
            index_b = threading.Lock()

            def both_orders(a, b, forever):
                with a:
                    assert b.acquire(timeout=forever)
                    b.release()
                with b:
                    assert a.acquire(timeout=forever)
                    a.release()

            both_orders(enum_a, enum_b, Timeout.FOREVER)
            both_orders(float_a, float_b, Seconds(-1.0))
            both_orders(near_a, near_b, -0.9999999999)
            both_orders(index_a, index_b, Index())
            print("done")
            """,
        )
        result = run_syncscope("-q", str(program))
        assert (0, "done\n") == (result.returncode, result.stdout), result.stderr
        err = result.stderr
        for name in ("enum", "float", "near", "index"):
            assert f"lock-order inversion between lock {name}_a and lock {name}_b" in err, err
        assert "4 lock-order inversions, no deadlock, no hang" in err, err

    def test_dining_philosophers(self, tmp_path: Path) -> None:
        """
        The dining philosophers, each in turn (nothing deadlocks): their forks, made in one
        list, are taken around a ring. A run under -q names the cycle; the same program with
        the lower-numbered fork taken first is told nothing.
        """
        source = """
            import threading

            forks = [threading.Lock() for _ in range(5)]

            def dine(seat):
                left, right = forks[seat], forks[(seat + 1) % 5]
                ORDER
                with left:
                    with right:
                        pass

            for seat in range(5):
                thread = threading.Thread(target=dine, args=(seat,), name=f"philosopher-{seat}")
                thread.start()
                thread.join(timeout=10)
            print("done")
            """
        ring = script(tmp_path, source.replace("ORDER", "pass"), "ring.py")
        result = run_syncscope("-q", str(ring))
        assert (0, "done\n") == (result.returncode, result.stdout), result.stderr
        err = result.stderr
        assert "syncscope: possible deadlock: 5 locks created at " in err
        assert (
            "ring.py:4 are taken in orders that form a cycle (lock#1, lock#2, lock#3, lock#4, "
            "lock#5)\n"
        ) in err
        assert re.search(
            r"philosopher-4 took lock#5 at \S*ring\.py:9 in dine, then lock#1 at ", err
        )
        assert "1 lock-order inversion, no deadlock, no hang" in err
        ordered = script(
            tmp_path,
            source.replace("ORDER", "left, right = sorted((left, right), key=forks.index)"),
            "ordered.py",
        )
        result = run_syncscope("-q", str(ordered))
        assert (0, "done\n") == (result.returncode, result.stdout), result.stderr
        assert "no lock-order inversion, no deadlock, no hang" in result.stderr

    def test_repository_example(self) -> None:
        """examples/deadlock_order.py: reported by name, in the exit report with -q."""
        result = run_syncscope("-q", str(REPO / "examples" / "deadlock_order.py"))
        assert 0 == result.returncode
        assert "1 lock-order inversion, no deadlock, no hang" in result.stderr
        assert "between lock lock_a and lock lock_b" in result.stderr

    def test_off_with_no_deadlock_detection(self) -> None:
        """--no-deadlock-detection: no lock-order checks either."""
        result = run_syncscope(
            "-q", "--no-deadlock-detection", str(REPO / "examples" / "deadlock_order.py")
        )
        assert "no lock-order inversion" in result.stderr
        assert "syncscope: possible" not in result.stderr

    def test_json_lines_stay_json(self) -> None:
        """With --format json on standard error, an inversion is one JSON line too."""
        result = run_syncscope(
            "--format", "json", "--report", str(REPO / "examples" / "deadlock_order.py")
        )
        assert 0 == result.returncode
        lines = [json.loads(line) for line in result.stderr.splitlines()]
        [inversion] = [line for line in lines if line.get("finding") == "inversion"]
        assert inversion["event"].startswith("possible deadlock: lock-order inversion between")
        assert ["lock_a", "lock_b"] == [lock["name"] for lock in inversion["details"]["locks"]]
        [report] = [line for line in lines if line.get("finding") == "report"]
        assert 1 == report["details"]["summary"]["inversions"]


def nest_under(rec: Recorder, gate: object, outer: object, inner: object, thread: int) -> None:
    """``thread`` takes ``gate``, then nests ``outer`` and ``inner`` under it."""
    rec.handle(acquired(gate, thread=thread, line=5))  # type: ignore[arg-type]
    nest(rec, outer, inner, thread=thread, line=10 * thread)
    rec.handle(released(gate, thread=thread))  # type: ignore[arg-type]


class TestGuarded:
    def test_both_orders_under_one_gate(self, recorder: Recorder) -> None:
        """Every sighting of both orders held the gate: a guarded inversion, named so."""
        gate, a, b = (primitive("lock", name, line=n) for n, name in enumerate("gab", 1))
        for _ in range(3):
            nest_under(recorder, gate, a, b, thread=1)
            nest_under(recorder, gate, b, a, thread=2)
        [inversion] = recorder.inversions
        assert inversion.guarded_by is not None
        assert "g" == inversion.guarded_by.name
        assert "cannot deadlock while every path takes lock g first" in inversion.text()
        assert "g" == inversion.to_dict()["guarded_by"]["name"]

    def test_a_later_sighting_without_the_gate(self, recorder: Recorder) -> None:
        """One sighting of an order without the gate: the inversion is reported, unguarded."""
        gate, a, b = (primitive("lock", name, line=n) for n, name in enumerate("gab", 1))
        nest_under(recorder, gate, a, b, thread=1)
        nest_under(recorder, gate, b, a, thread=2)
        nest(recorder, b, a, thread=3, line=40)
        guarded, unguarded = recorder.inversions
        assert guarded.guarded_by is not None
        assert unguarded.guarded_by is None
        assert "possible deadlock: lock-order inversion between" in unguarded.text()

    def test_two_locks_made_on_one_line_without_the_gate_once(self, recorder: Recorder) -> None:
        """
        ``a, b = Lock(), Lock()``: two classes on one line, whose two orders are two edges
        with guards of their own. ``a`` -> ``b`` without the gate, ``b`` -> ``a`` under it:
        an inversion that can deadlock, not a guarded one (the second order's guards were
        taken for the first's too).
        """
        gate = primitive("lock", "g", line=1)
        a = Primitive("lock", "Lock", "a", FILE, 2, "setup", column=0)
        b = Primitive("lock", "Lock", "b", FILE, 2, "setup", column=22)
        nest(recorder, a, b, thread=1, line=10)
        nest_under(recorder, gate, b, a, thread=2)
        [inversion] = recorder.inversions
        assert inversion.guarded_by is None
        assert "possible deadlock: lock-order inversion between" in inversion.text()

    def test_two_locks_made_on_one_line_under_the_gate(self, recorder: Recorder) -> None:
        """Both orders of two locks made on one line, always under the gate: guarded."""
        gate = primitive("lock", "g", line=1)
        a = Primitive("lock", "Lock", "a", FILE, 2, "setup", column=0)
        b = Primitive("lock", "Lock", "b", FILE, 2, "setup", column=22)
        nest_under(recorder, gate, a, b, thread=1)
        nest_under(recorder, gate, b, a, thread=2)
        [inversion] = recorder.inversions
        assert inversion.guarded_by is not None
        assert "g" == inversion.guarded_by.name

    def test_a_gate_made_on_the_line_of_a_lock_it_guards(self, recorder: Recorder) -> None:
        """``g, a = Lock(), Lock()``: the gate is a class of its own, and still guards."""
        gate = Primitive("lock", "Lock", "g", FILE, 1, "setup", column=0)
        a = Primitive("lock", "Lock", "a", FILE, 1, "setup", column=22)
        b = primitive("lock", "b", line=3)
        nest_under(recorder, gate, a, b, thread=1)
        nest_under(recorder, gate, b, a, thread=2)
        [inversion] = recorder.inversions
        assert inversion.guarded_by is not None
        assert "g" == inversion.guarded_by.name

    def test_locks_made_on_one_line_in_a_program(self, tmp_path: Path) -> None:
        """The same end to end: x -> y in a thread, y -> x in main under a lock it holds."""
        result = run_syncscope(
            "-q",
            str(
                script(
                    tmp_path,
                    """
                import threading
                g = threading.Lock()
                x, y = threading.Lock(), threading.Lock()
                g.acquire()
                def a():
                    with x:
                        with y:
                            pass
                t = threading.Thread(target=a)
                t.start()
                t.join()
                with y:
                    with x:
                        pass
                    """,
                )
            ),
        )
        assert "possible deadlock: lock-order inversion between lock x and lock y" in (
            result.stderr
        ), result.stderr
        assert "guarded lock order" not in result.stderr

    def test_different_gates_guard_nothing(self, recorder: Recorder) -> None:
        """Each order under a gate of its own: no common lock, an ordinary inversion."""
        g1, g2, a, b = (primitive("lock", name, line=n) for n, name in enumerate("xyab", 1))
        nest_under(recorder, g1, a, b, thread=1)
        nest_under(recorder, g2, b, a, thread=2)
        [inversion] = recorder.inversions
        assert inversion.guarded_by is None


def graph_state(rec: Recorder) -> tuple[object, ...]:
    """Everything the lock-order graph remembers, copied."""
    order = rec.lockorder
    assert order is not None
    return (
        dict(order._pairs),
        {key: dict(known) for key, known in order._after.items()},
        {key: dict(guards) for key, guards in order._guards.items()},
        set(order._reported),
        dict(order._guarded),
    )


class TestWants:
    """
    The lean path builds the holds of a new chain only when ``wants`` says the graph has
    something to do with them: where it says no, taking the lock must change nothing.
    """

    @pytest.mark.parametrize("seed", range(6))
    def test_where_it_says_no_taking_changes_nothing(self, recorder: Recorder, seed: int) -> None:
        chooser = random.Random(seed)
        # Objects of one class (accounts made on one line), other classes, and guards.
        locks = [primitive(name=f"account{n}", line=10) for n in range(6)]
        locks += [primitive(name=f"other{n}", line=20 + n) for n in range(4)]
        held: dict[int, list[Primitive]] = {1: [], 2: [], 3: []}
        said_no = changed_anyway = pairs = same_class = 0
        order = recorder.lockorder
        assert order is not None
        for step in range(600):
            thread = chooser.choice(list(held))
            stack = held[thread]
            free = [p for p in locks if not any(p in s for s in held.values())]
            if stack and (not free or chooser.random() < 0.45):
                recorder.handle(released(stack.pop(), thread=thread))
                continue
            if not free:  # the others hold every lock
                continue
            taken = chooser.choice(free)
            wants = order.wants(taken, [*stack, taken])
            if len(stack) == 1:  # the lean path's question for a chain of two
                pairs += 1
                assert wants == (order.wants_pair(stack[0], taken) is not None)
                if stack[0].line == taken.line:  # one class: the lean path asks this instead
                    pair = (stack[0].id, taken.id)
                    assert wants == (order.wants_same_class(stack[0], taken, pair) is True)
                    same_class += 1
            before = graph_state(recorder)
            recorder.handle(acquired(taken, thread=thread, line=100 + step))
            stack.append(taken)
            if not wants:
                said_no += 1
                changed_anyway += graph_state(recorder) != before
        assert said_no > 50, "the sequence never took a lock with nothing new: no test"
        assert pairs > 50, "the sequence never took a lock holding one other: no test"
        assert same_class > 10, "the sequence never took two of one class: no test"
        assert changed_anyway == 0

    def test_a_pair_asked_for_before_its_class_is_reported_is_not_remembered(
        self, recorder: Recorder
    ) -> None:
        """
        The lean path asks ``wants_pair`` without our lock, then hands its answer to
        ``taking_pair``: a class whose inversion another thread reports in between has the
        pair neither remembered nor reported a second time.
        """
        order = recorder.lockorder
        assert order is not None
        x, y, z = (primitive(name=f"account{n}", line=10) for n in range(3))
        site = (FILE, 30, "transfer")
        to_do = order.wants_pair(x, z)
        assert to_do is not None  # a new pair of one class
        nest(recorder, x, y, thread=1, line=20)
        nest(recorder, y, x, thread=2, line=40)  # meanwhile: the class's inversion
        [reported] = recorder.inversions
        pairs = dict(order._pairs)
        order.taking_pair(to_do, x, site, z, "T3", site)
        assert [reported] == recorder.inversions
        assert pairs == order._pairs
        assert order.wants_pair(z, x) is None  # said once: nothing more to look at

    def test_an_edge_made_after_its_pair_was_asked_about_is_narrowed_by_it(
        self, recorder: Recorder
    ) -> None:
        """
        The lean path asks ``wants_pair`` without our lock. When another thread makes the
        edge meanwhile (here under a gate, and then the reverse one: a guarded cycle), the
        answer "a new edge" is out of date; acted on, it is still one more sighting of the
        edge, without the gate: the cycle is reported again, unguarded.
        """
        order = recorder.lockorder
        assert order is not None
        gate, a, b = (primitive("lock", name, line=n) for n, name in enumerate("gab", 1))
        to_do = order.wants_pair(a, b)
        assert to_do is not None  # an edge not seen yet
        nest_under(recorder, gate, a, b, thread=1)
        nest_under(recorder, gate, b, a, thread=2)
        [guarded] = recorder.inversions
        assert guarded.guarded_by is not None and "g" == guarded.guarded_by.name
        site = (FILE, 30, "transfer")
        order.taking_pair(to_do, a, site, b, "T3", site)
        assert [guarded, None] == [
            inversion if inversion.guarded_by else None for inversion in recorder.inversions
        ]
