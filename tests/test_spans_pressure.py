"""
Spans under pressure, against real OTLP receivers: links go to spans that are sent, and the
operations of an Event, Condition or queue that neither wait nor let anyone in are counted in
place, each one a span or in a summary's count, while those that wake a thread stay spans.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .test_spans import SPAN_LINE, _run, span_line
from .test_spans_whole import (
    COUNTED_PRELUDE,
    SPANS_ALONE,
    _count,
    _counted_run,
    _counts,
    http_receiver,
    receiver,
)


__all__ = ["http_receiver", "receiver"]  # fixtures, used by name


def _dangling(spans: list[Any]) -> list[tuple[str, str]]:
    """(span name, link reason) of every link to a span that did not arrive."""
    ids = {(span.trace_id, span.span_id) for span in spans}
    return [
        (span.name, str(span.attributes.get("syncscope.links", "")))
        for span in spans
        for link in span.links
        if (link.trace_id, link.span_id) not in ids
    ]


#: A test run on both paths to the spans under pressure.
BOTH_PATHS = pytest.mark.parametrize(
    "mode",
    [
        pytest.param(("-q",), id="events"),  # summed up by the pairing
        pytest.param(SPANS_ALONE, id="spans-alone"),  # counted in place by the thread
    ],
)


def _run_under_pressure(
    tmp_path: Path, receiver: Any, source: str, mode: tuple[str, ...], output: str
) -> tuple[dict[str, Any], list[Any]]:
    """Run ``source`` with spans to ``receiver``: its exit line and spans, nothing dropped."""
    args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
    result = _run(tmp_path, source, *mode, *args)
    assert 0 == result.returncode, result.stderr
    assert output == result.stdout.strip()
    line = span_line(result.stderr)
    assert 0 == line["dropped"], line
    return line, receiver.wait_for_spans(line["sent"])


class TestLinksUnderPressure:
    """
    A link goes to a span that is sent: under pressure, operations nobody waited on are
    summed up, and what would have linked to them links to nothing instead.
    """

    @BOTH_PATHS
    def test_no_link_to_a_put_summed_up(
        self, tmp_path: Path, receiver: Any, mode: tuple[str, ...]
    ) -> None:
        """
        Puts past the span allowance with nobody waiting are summed up. A get while a putter
        waits for room is kept (it lets the putter in), and does not link to the put of its
        item, which was not sent.
        """
        source = """\
            import queue, sys, threading, time
            q = queue.LifoQueue(5000)
            for item in range(5000):
                q.put(item)
            putter = threading.Thread(target=q.put, args=(-1, True, 10), name="putter")
            putter.daemon = True
            putter.start()
            deadline = time.monotonic() + 10
            while not q.not_full._waiters:  # until the putter waits for room
                if time.monotonic() > deadline:
                    sys.exit("the putter never waited")
                time.sleep(0.001)
            print(q.get())  # the last put, summed up
            putter.join(10)
        """
        line, spans = _run_under_pressure(tmp_path, receiver, source, mode, "4999")
        assert line["aggregated"] > 0, line
        (get,) = [s for s in spans if s.name == "LifoQueue.get q"]
        assert 13 == get.attributes["code.line.number"]
        assert [] == _dangling(spans)

    @BOTH_PATHS
    def test_a_lock_per_object_is_summed_up_by_where_they_were_made(
        self, tmp_path: Path, receiver: Any, mode: tuple[str, ...]
    ) -> None:
        """
        Four hundred objects with a lock each, used three times: past a few locks made at one
        line, a thread's summaries of the others made there are one per operation, which
        says how many locks it stands for; every use is still a span or in a count.
        """
        source = textwrap.dedent(
            """\
            import threading
            from syncscope._core.state import state
            (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
            sink._allowance = -10**15  # past the allowance: what nobody waits on is summed up
            class Account:
                def __init__(self):
                    self.lock = threading.Lock()  # made here
            accounts = [Account() for _ in range(400)]
            uses = 0
            for _ in range(3):
                for account in accounts:
                    with account.lock:
                        uses += 1
            print(uses)
            """
        )
        made = _line_of(source.splitlines(), "# made here")
        _line, spans = _run_under_pressure(tmp_path, receiver, source, mode, "1200")
        accounts = [
            s for s in spans if str(s.attributes.get("syncscope.created_at")).endswith(f":{made}")
        ]
        for op in ("acquire", "hold"):
            named = [s for s in accounts if s.name.startswith(f"Lock.{op} ")]
            assert 1200 == sum(int(s.attributes.get("syncscope.summary.count", 1)) for s in named)
            together = [s for s in named if "syncscope.summary.primitives" in s.attributes]
            assert together, [s.name for s in named]
            for summary in together:
                count = int(summary.attributes["syncscope.summary.primitives"])
                assert re.fullmatch(
                    rf"Lock\.{op} {count:,} made at prog\.py:{made} x [\d,]+, nobody waited"
                    if op == "hold"
                    else rf"Lock\.{op} {count:,} made at prog\.py:{made} x [\d,]+, none waited",
                    summary.name,
                ), summary.name
                assert "syncscope.primitive_id" not in summary.attributes
            summaries = [s for s in named if s.attributes.get("syncscope.outcome") == "summary"]
            assert len(summaries) < 100, f"{len(summaries)} summaries of {op}s: one per lock?"

    def test_a_wait_links_to_the_notify_that_woke_it(self, tmp_path: Path, receiver: Any) -> None:
        """
        Notifies after the one that woke the waiter, before it runs again, woke nobody: the
        wait links to the one that woke it, on line 12.
        """
        source = """\
            import threading
            cond = threading.Condition()
            ready = threading.Event()
            def waiter():
                with cond:
                    ready.set()
                    cond.wait(10)
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(10)
            with cond:
                cond.notify()
                cond.notify()
                cond.notify_all()
            thread.join(10)
        """
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, source, *SPANS_ALONE, *args)
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        spans = receiver.wait_for_spans(line["sent"])
        by_id = {span.span_id: span for span in spans}
        (wait,) = [s for s in spans if s.name == "Condition.wait cond"]
        (link,) = wait.links
        notify = by_id[link.span_id]
        assert ("Condition.notify cond", 12) == (
            notify.name,
            notify.attributes["code.line.number"],
        )


# In a _counted_run body: put the span sink past its allowance for good (else it stops
# counting in place once a quarter second's allowance is back, which a loaded machine reaches
# within a test), then use the busy lock until it counts in place.
UNTIL_COUNTING = """\
def until_counting():
    global uses
    (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
    sink._allowance = -10**15
    while not state.records.counting:
        with busy:
            uses += 1
        if uses > 5_000_000:
            sys.exit("never counted in place")
"""


def _line_of(program: list[str], mark: str) -> int:
    """The number of the program's line that ends with ``mark``."""
    (number,) = [n for n, text in enumerate(program, 1) if text.endswith(mark)]
    return number


class TestOperationsCountedInPlace:
    """
    Past the allowance, an Event, Condition or queue operation that neither waits nor lets
    anyone in is counted by its thread, with no event: each one is a span or in a summary's
    count, and one that wakes a thread is still a span, linked to.
    """

    def test_each_operation_is_a_span_or_counted(self, tmp_path: Path, http_receiver: Any) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            from syncscope._core.leanholds import local
            event = threading.Event()
            cond = threading.Condition()
            q = queue.Queue()
            until_counting()
            got = []
            for n in range(500):
                event.set()
                got.append(event.wait(5))
                event.clear()
                with cond:
                    cond.notify()
                    cond.notify_all()
                q.put(n)
                got.append(q.get())
            assert got == [x for n in range(500) for x in (True, n)], got
            counted = {key[1] for key in local.holds.uses if isinstance(key, tuple)}
            wanted = {"set", "wait", "clear", "notify", "notify_all", "put", "get"}
            assert counted == wanted, counted  # each kind counted in place at least once
            """
        )
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        for name in (
            "Event.set event",
            "Event.wait event",
            "Event.clear event",
            "Condition.notify cond",
            "Condition.notify_all cond",
            "Queue.put q",
            "Queue.get q",
        ):
            assert {"MainThread": 500} == _counts(spans, name), name
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_a_simplequeue_with_items_counts_its_puts_and_gets(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        A SimpleQueue tells no waiters: a put into one that has items (no getter can be
        waiting) and a get that takes one at once are counted where the program made them,
        each in a summary's count or a span; the items come out in order.
        """
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            from syncscope._core.leanholds import local
            q = queue.SimpleQueue()
            q.put(-1)
            until_counting()
            got = []
            for n in range(500):
                q.put(n)
                got.append(q.get_nowait() if n % 2 else q.get())
            assert got == list(range(-1, 499)), got
            ops = {key[1]: use for key, use in local.holds.uses.items() if isinstance(key, tuple)}
            # Counted in place, at the program's line (not in syncscope's wrapper).
            assert {"put", "get"} <= set(ops), ops
            for op in ("put", "get"):
                assert ops[op].first[4].co_filename == __file__, ops[op].first
            """
        )
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 501} == _counts(spans, "SimpleQueue.put q")
        assert {"MainThread": 500} == _counts(spans, "SimpleQueue.get q")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_puts_while_getters_wait_on_a_simplequeue_are_spans_they_link_to(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        Two getters wait on a SimpleQueue, then two puts: before 3.13 the first lets a
        getter go without handing it the item, and the second finds it still there. Each
        put is a span, and each get links to the put of its item: a put is counted in place
        only while none of the program's gets waits in the queue.
        """
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            q = queue.SimpleQueue()
            got = {}
            def getter():
                got[threading.current_thread().name] = q.get(timeout=10)
            getters = [threading.Thread(target=getter, name=f"getter-{n}") for n in (1, 2)]
            for thread in getters:
                thread.start()
            deadline = time.monotonic() + 10
            while len(q._syncscope_watch.waiting_gets) < 2:  # both getters in their get
                if time.monotonic() > deadline:
                    sys.exit("the getters never got to wait")
                time.sleep(0.001)
            until_counting()
            q.put("first")  # puts first
            q.put("second")  # puts second
            for thread in getters:
                thread.join(10)
            assert sorted(got.values()) == ["first", "second"], got
            print(*(got[f"getter-{n}"] for n in (1, 2)))
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        by_id = {span.span_id: span for span in spans}
        program = (COUNTED_PRELUDE + body).splitlines()
        puts = {
            _line_of(program, "# puts first"): "first",
            _line_of(program, "# puts second"): "second",
        }
        put_spans = [s for s in spans if s.name.startswith("SimpleQueue.put q")]
        assert sorted(puts) == sorted(s.attributes["code.line.number"] for s in put_spans)
        gets = [s for s in spans if s.name == "SimpleQueue.get q"]
        assert ["getter-1", "getter-2"] == sorted(str(s.attributes["thread.name"]) for s in gets)
        for get in gets:
            (link,) = get.links
            put = by_id[link.span_id]
            assert put.attributes["code.line.number"] in puts
        linked = {by_id[get.links[0].span_id].attributes["code.line.number"] for get in gets}
        assert sorted(puts) == sorted(linked)  # each get links to its own item's put
        assert [] == _dangling(spans)

    def test_an_operation_called_from_c_code(self, tmp_path: Path, http_receiver: Any) -> None:
        """
        A set counted in place with no Python caller (a thread's target, started with
        _thread) happens and is counted: it raised "call stack is not deep enough".
        """
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import _thread, operator
            event = threading.Event()
            until_counting()
            done = _thread.allocate_lock()
            done.acquire()
            failed = []
            sys.unraisablehook = failed.append
            # list(map(operator.call, ...)) calls each from C: no Python frame on the thread.
            _thread.start_new_thread(list, (map(operator.call, [event.set, done.release]),))
            assert done.acquire(timeout=10), failed
            assert event.is_set() and not failed, failed
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        assert [1] == list(_counts(spans, "Event.set event").values())

    def test_what_wakes_a_thread_is_a_span_it_links_to(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """A set, a notify and a put that wake a waiting thread, made while counting."""
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            event = threading.Event()
            cond = threading.Condition()
            q = queue.Queue()
            ready = threading.Event()
            def until_waiting(waiters):
                deadline = time.monotonic() + 10
                while not waiters:
                    if time.monotonic() > deadline:
                        sys.exit("the waiter never waited")
                    time.sleep(0.001)
            def waits():
                event.wait(10)
                with cond:
                    ready.set()
                    cond.wait(10)
                q.get(timeout=10)
            waiter = threading.Thread(target=waits, name="waiter")
            waiter.start()
            until_waiting(event._cond._waiters)
            on = []  # counting in place as each of them happened
            until_counting()
            on.append(state.records.counting)
            event.set()  # sets
            ready.wait(10)
            until_counting()
            with cond:
                on.append(state.records.counting)
                cond.notify()  # notifies
            until_waiting(q.not_empty._waiters)
            until_counting()
            on.append(state.records.counting)
            q.put(1)  # puts
            waiter.join(10)
            assert [True, True, True] == on, on
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        by_id = {span.span_id: span for span in spans}
        program = (COUNTED_PRELUDE + body).splitlines()
        for waited, signal, line in (
            ("Event.wait event", "Event.set event", _line_of(program, "# sets")),
            ("Condition.wait cond", "Condition.notify cond", _line_of(program, "# notifies")),
            ("Queue.get q", "Queue.put q", _line_of(program, "# puts")),
        ):
            (wait,) = [s for s in spans if s.name == waited]
            assert 1 == len(wait.links), waited
            linked = by_id[wait.links[0].span_id]
            assert (signal, line) == (linked.name, linked.attributes["code.line.number"])

    def test_an_error_is_raised_as_without_syncscope_and_is_a_span(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            cond = threading.Condition()
            until_counting()
            try:
                cond.notify()  # without the lock
            except RuntimeError as exc:
                assert "cannot notify on un-acquired lock" == str(exc), exc
            else:
                sys.exit("notify without the lock did not raise")
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        (notify,) = [s for s in spans if s.name == "Condition.notify cond"]
        assert "error" == notify.attributes["syncscope.outcome"]

    def test_a_thread_that_finds_the_worker_behind_counts_in_place_from_then_on(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        A program whose threads make events faster than syncscope's worker pairs them (a
        loaded machine): the thread that finds the buffer full pairs what waits there itself,
        and from then on what can be counted in place is, as the worker would have it on
        waking; before, each operation went on as an event until the worker next woke. The
        program keeps the GIL (a switch interval of 1,000 s: the worker runs at most once, if
        it was already waiting for the GIL), and the allowance is out of play. Every
        operation is still a span or in a summary's count.
        """
        body = textwrap.dedent(
            """\
            import queue
            event = threading.Event()
            q = queue.Queue()
            made = 0
            state.records.budget = 10**9  # the allowance out of play: the buffer fills first
            sys.setswitchinterval(1000)
            try:
                while not state.records.counting:
                    event.set()
                    q.put(made)
                    made += 1
                    if made > 3 * state.records.capacity:  # two events each
                        sys.exit("never counted in place")
            finally:
                sys.setswitchinterval(0.005)
            for _ in range(500):
                event.set()
                q.put(made)
                made += 1
            assert q.qsize() == made
            with open("made", "w") as out:  # in the test's directory
                out.write(str(made))
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        made = int((tmp_path / "made").read_text())
        assert made > 500
        assert {"MainThread": made} == _counts(spans, "Event.set event")
        assert {"MainThread": made} == _counts(spans, "Queue.put q")

    def test_the_allowance_spent_on_the_programs_thread_turns_counting_on(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        The operations a busy program makes before counting in place begins are as many as
        the spans allowed at once, each sent as a span: the thread turns counting on itself
        when its allowance is spent, without waiting for the worker (which runs at most once
        here: the program keeps the GIL), and the marks of what it counts after, which wait
        in the buffer behind those events, do not make the worker sum them up.
        """
        body = textwrap.dedent(
            """\
            event = threading.Event()
            made = 0
            sys.setswitchinterval(1000)
            try:
                while not state.records.counting:
                    event.set()
                    made += 1
                    if made > state.records.capacity:
                        sys.exit("never counted in place")
                for _ in range(6_000):  # counted, each leaving a mark in the buffer
                    event.set()
            finally:
                sys.setswitchinterval(0.005)
            with open("made", "w") as out:  # in the test's directory
                out.write(str(made))
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        made = int((tmp_path / "made").read_text())
        # Every set made before counting began is a span of its own. The one that spent the
        # last of the allowance was counted in place; summed up alone, it is one too.
        alone = sum(1 for s in spans if s.name == "Event.set event")
        assert made - 1 <= alone <= made, (made, alone)
        assert {"MainThread": made + 6_000} == _counts(spans, "Event.set event")


# A program run with and without syncscope: until_counting() does nothing without it.
AS_WITHOUT = """\
import queue, sys, threading
from syncscope._core.state import state
busy = threading.Lock()
def until_counting():
    if state.records is None:
        return
    spun = 0
    while not state.records.counting:
        with busy:
            spun += 1
        if spun > 5_000_000:
            sys.exit("never counted in place")
def attempt(what, call):
    until_counting()
    try:
        print(what, "->", call())
    except Exception as exc:
        print(what, "->", type(exc).__name__, exc)
"""


def test_counted_operations_behave_as_without_syncscope(tmp_path: Path, http_receiver: Any) -> None:
    """
    While counting in place, a put or get with a timeout it rejects raises its error, and a
    put on a queue that filled after syncscope looked (its size read without the mutex says
    room) waits or raises Full as asked: the item is not lost. A LifoQueue's and a
    PriorityQueue's puts and gets, done by the original's own steps where they can, give the
    same items in the same order and fail where and as the originals do (items that do not
    compare, a full queue, an empty one).
    """
    body = """\
        class Filling(queue.Queue):
            def _qsize(self):  # room, when asked without the queue's mutex
                return len(self.queue) if self.mutex.locked() else 0
        q = queue.Queue(5)
        attempt("put timeout=-1", lambda: q.put(1, timeout=-1))
        attempt("put timeout='soon'", lambda: q.put(1, timeout="soon"))
        q.put(2)
        attempt("get timeout=-1", lambda: q.get(timeout=-1))
        attempt("get timeout='soon'", lambda: q.get(timeout="soon"))
        attempt("get", q.get)
        full = Filling(1)
        full.put("b")
        attempt("put, filled meanwhile", lambda: full.put("a", timeout=0.01))
        attempt("put_nowait, filled meanwhile", lambda: full.put_nowait("a"))
        attempt("get", full.get)
        attempt("get, emptied", lambda: full.get(timeout=0.01))
        lifo = queue.LifoQueue(2)
        for n in (3, 1, 2):
            attempt(f"lifo put {n}", lambda n=n: lifo.put_nowait(n))
        for _ in range(3):
            attempt("lifo get", lifo.get_nowait)
        class Job:
            def __init__(self, n):
                self.n = n
            def __lt__(self, other):
                return self.n < other.n
            def __repr__(self):
                return f"Job({self.n})"
        heap = queue.PriorityQueue()
        for item in (5, 1, 3, (0, "a tuple among ints"), 4, Job(2), 0):
            attempt(f"priority put {item!r}", lambda item=item: heap.put(item))
        for _ in range(8):
            attempt("priority get", heap.get_nowait)
        jobs = queue.PriorityQueue()
        for item in (Job(2), Job(0), (1, "a tuple among jobs"), Job(1)):
            attempt(f"jobs put {item!r}", lambda item=item: jobs.put(item))
        for _ in range(5):
            attempt("jobs get", jobs.get_nowait)
        sem = threading.BoundedSemaphore(2)
        attempt("acquire", sem.acquire)
        attempt("acquire timeout=1", lambda: sem.acquire(timeout=1))
        attempt("acquire, none left, timeout=0.01", lambda: sem.acquire(timeout=0.01))
        attempt("acquire, none left, blocking=False", lambda: sem.acquire(False))
        attempt("acquire blocking=False timeout=1", lambda: sem.acquire(False, 1))
        attempt("release", sem.release)
        attempt("release", sem.release)
        attempt("release, one too many", sem.release)
        attempt("acquire timeout=-1", lambda: sem.acquire(timeout=-1))
        attempt("release 2, one too many", lambda: sem.release(2))
    """
    source = AS_WITHOUT + textwrap.dedent(body)
    args = [f"--otlp={http_receiver.endpoint}", "--protocol", "http/protobuf"]
    result = _run(tmp_path, source, *SPANS_ALONE, *args)
    assert 0 == result.returncode, result.stderr
    script = tmp_path / "prog.py"
    plain = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == plain.returncode, plain.stderr
    assert plain.stdout == result.stdout
    assert "put, filled meanwhile -> Full" in result.stdout
    assert "release, one too many -> ValueError" in result.stdout
    assert "lifo get -> 1" in result.stdout and "lifo put 2 -> Full" in result.stdout
    assert "priority put (0, 'a tuple among ints') -> TypeError" in result.stdout


class TestPermitsCountedInPlace:
    """
    Past the allowance, a semaphore's permit taken at once while nobody waits is counted in
    place, as a lock's use is: whatever else then happens to the semaphore still finds the
    permit's hold, and every acquire and hold is a span or in a summary's count.
    """

    def test_each_acquire_and_hold_is_a_span_or_counted(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            from syncscope._core.leanholds import local
            sem = threading.BoundedSemaphore(2)
            until_counting()
            for _ in range(500):
                with sem:
                    sem.acquire()
                    sem.release()
            counted = [key for key in local.holds.uses if type(key).__name__ == "Watch"]
            assert counted, "no permit counted in place"
            """
        )
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 1000} == _counts(spans, "BoundedSemaphore.acquire sem")
        assert {"MainThread": 1000} == _counts(spans, "BoundedSemaphore.hold sem")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_trylocks_and_timed_acquires_of_a_permit_are_counted_too(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        A permit taken at once by ``acquire(False)`` or with a timeout is counted as well. A
        trylock that finds none left is summed up, as a lock's is ("found busy").
        """
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            from syncscope._core.tracking import watches
            sem = threading.Semaphore(1)
            until_counting()
            counted = []
            for take in (lambda: sem.acquire(False), lambda: sem.acquire(timeout=5)):
                assert take()
                counted.append(bool(state.records.taken.get(watches[id(sem)].primitive)))
                sem.release()
            assert all(counted), counted
            sem.acquire()
            assert not sem.acquire(False)  # none left
            assert not sem.acquire(timeout=0)  # none left, and it never waits
            try:
                sem.acquire(False, 5)
            except ValueError as exc:
                print("refused:", exc)
            sem.release()
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 3} == _counts(spans, "Semaphore.hold sem")
        outcomes = sorted(
            str(s.attributes["syncscope.outcome"])
            for s in spans
            if s.name == "Semaphore.acquire sem"
        )
        busy = [s for s in spans if s.name.endswith(", found busy")]
        assert ["Semaphore.acquire sem x 2, found busy"] == [s.name for s in busy]
        assert "busy" == busy[0].attributes["syncscope.summary.outcome"]
        program = (COUNTED_PRELUDE + body).splitlines()
        assert _line_of(program, "# none left") == busy[0].attributes["code.line.number"]
        summed = sum(
            _count(s)
            for s in spans
            if s.name.startswith("Semaphore.acquire sem x ") and s not in busy
        )
        assert 3 == summed + outcomes.count("acquired"), (summed, outcomes)
        # Arguments the semaphore refuses: an error span.
        assert ["error"] == [o for o in outcomes if o != "acquired"]

    def test_a_counted_permit_that_makes_a_thread_wait_is_a_span(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            from syncscope._core.tracking import watches
            sem = threading.Semaphore(1)
            until_counting()
            sem.acquire()  # counted: its record waits
            assert state.records.taken.get(watches[id(sem)].primitive), "not counted in place"
            def waiter():
                with sem:
                    pass
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            deadline = time.monotonic() + 10
            while not sem._cond._waiters:  # until the waiter waits
                if time.monotonic() > deadline:
                    sys.exit("the waiter never waited")
                time.sleep(0.001)
            sem.release()
            thread.join(10)
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        (hold,) = [
            s
            for s in spans
            if s.name == "Semaphore.hold sem" and s.attributes["thread.name"] == "MainThread"
        ]
        (waited,) = [
            s
            for s in spans
            if s.name == "Semaphore.acquire sem" and s.attributes["thread.name"] == "waiter"
        ]
        assert hold.span_id in {link.span_id for link in waited.links}
        assert hold.start_ns <= waited.start_ns < hold.end_ns <= waited.end_ns
        assert {"MainThread": 1, "waiter": 1} == _counts(spans, "Semaphore.hold sem")
        assert {"MainThread": 1, "waiter": 1} == _counts(spans, "Semaphore.acquire sem")

    def test_a_permit_taken_from_c_code(self, tmp_path: Path, http_receiver: Any) -> None:
        """An acquire with no Python caller (a thread's target) takes its permit, counted."""
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import _thread, operator
            sem = threading.Semaphore(1)
            until_counting()
            done = _thread.allocate_lock()
            done.acquire()
            failed = []
            sys.unraisablehook = failed.append
            # list(map(operator.call, ...)) calls each from C: no Python frame on the thread.
            _thread.start_new_thread(list, (map(operator.call, [sem.acquire, done.release]),))
            assert done.acquire(timeout=10), failed
            assert not failed and not sem.acquire(False), failed  # that thread has it
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        counts = _counts(spans, "Semaphore.acquire sem")
        assert 1 == counts.pop("MainThread")  # its attempt, which failed
        assert [1] == list(counts.values())  # the permit that thread took

    def test_counts_exact_while_threads_switch_all_the_time(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        Threads taking and giving back permits, some attempts failing (each an event, which
        claims the permits out), switched every microsecond: each acquire and hold is a span
        or in a summary's count, once.
        """
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import json
            sem = threading.BoundedSemaphore(3)
            until_counting()
            taken = {}
            def worker():
                got = 0
                for i in range(2000):
                    if sem.acquire(blocking=bool(i % 3)):
                        got += 1
                        sem.release()
                taken[threading.current_thread().name] = got
            sys.setswitchinterval(1e-6)
            threads = [threading.Thread(target=worker, name=f"w{n}") for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            sys.setswitchinterval(0.005)
            assert 3 == sem._value and 4 == len(taken), (sem._value, taken)
            with open(__file__ + ".json", "w") as file:
                json.dump(taken, file)
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        taken = json.loads((tmp_path / "prog.py.json").read_text())
        assert taken == _counts(spans, "BoundedSemaphore.hold sem")
        assert dict.fromkeys(taken, 2000) == _counts(spans, "BoundedSemaphore.acquire sem")

    def test_permits_held_at_exit_and_given_back_by_another_thread(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            from syncscope._core.tracking import watches
            kept = threading.Semaphore(2)
            handed = threading.Semaphore(1)
            until_counting()
            kept.acquire()
            kept.acquire()
            handed.acquire()
            for sem in (kept, handed):
                assert state.records.taken.get(watches[id(sem)].primitive), "not counted"
            thread = threading.Thread(target=handed.release, name="releaser")
            thread.start()
            thread.join(10)
            assert handed.acquire(timeout=10)  # the permit it gave back
            handed.release()
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        kept = [s for s in spans if s.name == "Semaphore.hold kept"]
        assert 2 == len(kept)
        assert {"held at exit"} == {s.attributes["syncscope.outcome"] for s in kept}
        assert {"MainThread": 2} == _counts(spans, "Semaphore.hold handed")
        assert {"MainThread": 2} == _counts(spans, "Semaphore.acquire handed")
        # The releaser's release ended the permit it gave back: a hold, not a span of its own.
        assert not [s for s in spans if s.attributes.get("thread.name") == "releaser"]


class TestMarksInOrder:
    """What a counted get, set or clear changes for later links, in order with the events."""

    def test_a_counted_get_takes_its_put(self, tmp_path: Path, http_receiver: Any) -> None:
        """The same object put again: the get it wakes links to the later put, not the first."""
        body = """\
            q = queue.Queue()
            q.put(7)  # first
            until_counting()
            assert 7 == q.get()
            def getter():
                q.get(timeout=10)
            thread = threading.Thread(target=getter, name="getter")
            thread.start()
            deadline = time.monotonic() + 10
            while not q.not_empty._waiters:
                if time.monotonic() > deadline:
                    sys.exit("the getter never waited")
                time.sleep(0.001)
            q.put(7)  # wakes
            thread.join(10)
        """
        body = UNTIL_COUNTING + "import queue\n" + textwrap.dedent(body)
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        program = (COUNTED_PRELUDE + body).splitlines()
        (get,) = [s for s in spans if s.name == "Queue.get q" and s.links]
        (link,) = get.links
        (put,) = [s for s in spans if s.span_id == link.span_id]
        assert _line_of(program, "# wakes") == put.attributes["code.line.number"]

    def test_a_counted_clear_comes_before_the_set_after_it(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        A clear counted in place, then a set that wakes a waiter: the worker sums the clear
        after it has paired the set, and the wait still links to the set.
        """
        body = """\
            sink = next(s for s in state.sinks if type(s).__name__ == "SpanSink")
            event = threading.Event()
            cleared = threading.Event()
            def waiter():
                until_counting()
                event.clear()
                cleared.set()
                event.wait(10)
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            cleared.wait(10)
            deadline = time.monotonic() + 10
            while not event._cond._waiters:
                if time.monotonic() > deadline:
                    sys.exit("the waiter never waited")
                time.sleep(0.001)
            sys.setswitchinterval(100)  # the woken waiter waits for the GIL until we block
            event.set()  # wakes
            with event._cond:  # and then for its lock
                with sink._lock:  # as the worker would: pair what came, then sum the counts
                    sink._pair_waiting()
                    sink._sum_counted()
            sys.setswitchinterval(0.005)
            thread.join(10)
        """
        body = UNTIL_COUNTING + textwrap.dedent(body)
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        program = (COUNTED_PRELUDE + body).splitlines()
        (wait,) = [s for s in spans if s.name == "Event.wait event"]
        (link,) = wait.links
        (set_,) = [s for s in spans if s.span_id == link.span_id]
        assert _line_of(program, "# wakes") == set_.attributes["code.line.number"]

    def test_a_failed_notify_is_no_signal(self, tmp_path: Path, http_receiver: Any) -> None:
        """A notify that raised woke nobody: the wait links to the one that woke it."""
        body = """\
            cond = threading.Condition()
            ready = threading.Event()
            def waiter():
                with cond:
                    ready.set()
                    cond.wait(10)
            def notify_unowned():
                try:
                    cond.notify()
                except RuntimeError:
                    pass
                else:
                    sys.exit("notify without the lock did not raise")
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(10)
            with cond:
                cond.notify()  # wakes
                other = threading.Thread(target=notify_unowned)
                other.start()
                other.join(10)
            thread.join(10)
        """
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, textwrap.dedent(body))
        program = (COUNTED_PRELUDE + textwrap.dedent(body)).splitlines()
        (wait,) = [s for s in spans if s.name == "Condition.wait cond"]
        (link,) = wait.links
        (notify,) = [s for s in spans if s.span_id == link.span_id]
        assert _line_of(program, "# wakes") == notify.attributes["code.line.number"]


def test_counts_in_place_after_installing_again(tmp_path: Path, http_receiver: Any) -> None:
    """
    syncscope installed, uninstalled and installed again in one process (as a test suite
    does): what the threads count in place the second time is summed up too, for a lock
    made before and an Event, not lost in the counters of the first installation.
    """
    source = f"""\
        import sys, threading, time
        import syncscope
        from syncscope._core.state import state
        lock = None
        for _ in range(2):
            syncscope.install(
                lines=False, report=False, detect_deadlocks=False, spans=True,
                endpoint="{http_receiver.endpoint}", protocol="http/protobuf",
            )
            lock = lock or threading.Lock()  # the first installation's, used again
            event = threading.Event()
            (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
            sink._allowance = -10**15  # past the allowance for good: counting in place
            sets = 0
            deadline = time.monotonic() + 10
            while not state.records.counting:
                if time.monotonic() > deadline:
                    sys.exit("never counted in place")
                event.set()
                sets += 1
            for _ in range(3000):
                event.set()
                lock.acquire()
                lock.release()
            print(sets + 3000 + 2 * 3000)  # sets, then each lock use's acquire and hold
            sys.stdout.flush()
            syncscope.uninstall()
    """
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == result.returncode, result.stderr
    lines = [SPAN_LINE.fullmatch(x) for x in result.stderr.splitlines() if "spans:" in x]
    aggregated = [int(match["aggregated"].replace(",", "")) for match in lines if match]
    assert [int(x) for x in result.stdout.split()] == aggregated


def test_with_the_library_watched_its_hidden_locks_are_not_counted(
    tmp_path: Path, http_receiver: Any
) -> None:
    """
    With ``--all`` (the standard library's primitives watched too), an Event's or a queue's
    own Condition and lock, hidden inside the operation that is reported, are neither spans
    nor counted in place while counting is on: each operation is reported once.
    """
    source = """\
        import queue, sys, threading
        from syncscope._core.state import state
        (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
        sink._allowance = -10**15  # past the allowance for good: counting in place
        busy = threading.Lock()
        while not state.records.counting:
            with busy:
                pass
        event = threading.Event()
        q = queue.Queue()
        for n in range(100):
            event.set()
            event.wait()
            q.put(n)
            q.get()
    """
    args = [f"--otlp={http_receiver.endpoint}", "--protocol", "http/protobuf"]
    result = _run(tmp_path, source, "--all", *SPANS_ALONE, *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    spans = http_receiver.wait_for_spans(line["sent"])
    counted: dict[str, int] = {}
    for span in spans:
        name = span.name.split(" x ")[0]
        counted[name] = counted.get(name, 0) + int(
            span.attributes.get("syncscope.summary.count", 1)
        )  # type: ignore[call-overload]
    operations = {
        name: n
        for name, n in counted.items()
        if not name.startswith(("run ", "thread ", "Lock.acquire busy", "Lock.hold busy"))
    }
    assert {
        "Event.set event": 100,
        "Event.wait event": 100,
        "Queue.put q": 100,
        "Queue.get q": 100,
    } == operations
