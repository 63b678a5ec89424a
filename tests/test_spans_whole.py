"""
Spans under pressure and at the edges, against real OTLP receivers: the exit line's counts
are what the receiver got, operations nobody waited on are summed up rather than lost, the
protocol of an endpoint is found when its port does not say, and a fatal signal flushes.
"""

from __future__ import annotations

import _thread
import json
import re
import signal
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpGrpcReceiver, OtlpHttpReceiver
from tests.support.switches import AtCallReturn, each_instruction

from .spans_programs import Interactive, write_program
from .test_spans import _run, span_line


@pytest.fixture(
    params=[
        pytest.param((OtlpGrpcReceiver, "grpc"), id="grpc"),
        pytest.param((OtlpHttpReceiver, "http/protobuf"), id="http"),
    ]
)
def receiver(request: pytest.FixtureRequest) -> Iterator[Any]:
    cls, protocol = request.param
    with cls() as server:
        server.protocol = protocol
        yield server


BUSY = """\
import threading
lock = threading.Lock()
def work():
    for _ in range(3000):
        with lock:
            pass
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


class TestAccounting:
    """The exit line against what a receiver got."""

    def test_small_buffer_sums_up_and_counts_exactly(self, tmp_path: Path, receiver: Any) -> None:
        """
        With a buffer far too small, operations nobody waited on become summary spans; every
        lock use is a span or in a summary, and the receiver got what the line says was sent.
        """
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, BUSY, "-q", *args, "--span-buffer=64")
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        assert 0 == line["dropped"], line
        assert line["aggregated"] > 0, line
        spans = receiver.wait_for_spans(line["sent"])
        assert line["sent"] == len(spans)
        summaries = [
            span for span in spans if span.attributes.get("syncscope.outcome") == "summary"
        ]
        assert line["summaries"] == len(summaries)
        summed = sum(int(span.attributes["syncscope.summary.count"]) for span in summaries)  # type: ignore[call-overload]
        assert line["aggregated"] == summed
        acquires = [span for span in spans if span.name.startswith("Lock.acquire")]
        in_acquires = sum(
            int(span.attributes.get("syncscope.summary.count", 1))  # type: ignore[call-overload]
            for span in acquires
        )
        assert 3 * 3000 == in_acquires
        for span in summaries:
            assert re.fullmatch(
                r"Lock\.(acquire|hold) lock x [\d,]+, nobody waited|"
                r"Lock\.acquire lock x [\d,]+, none waited",
                span.name,
            ), span.name

    def test_min_span_ms_filters_before_the_buffer(self, tmp_path: Path, receiver: Any) -> None:
        """Short spans are left out before they take room, and the line says how many."""
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, BUSY, "-q", *args, "--span-buffer=64", "--min-span-ms=50")
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        assert 0 == line["dropped"], line
        assert line["filtered"] > 0, line
        spans = receiver.wait_for_spans(line["sent"])
        assert line["sent"] == len(spans)


SPANS_ALONE = ("-q", "--no-report", "--no-deadlock-detection")
#: The span names' first words of the waits for a signal.
WAITS_FOR_A_SIGNAL = {"Condition.wait", "Event.wait", "Barrier.wait"}

#: A lock taken and given back by threads whose target is its acquire and its release: no
#: Python frame calls either.
FROM_C = """\
import _thread, threading, time
lock = threading.Lock()
_thread.start_new_thread(lock.acquire, ())
deadline = time.monotonic() + 10
while not lock.locked() and time.monotonic() < deadline:
    pass  # until the thread's acquire has taken it (no sleep: a spin on that)
assert lock.locked(), "the thread's acquire never took the lock"
_thread.start_new_thread(lock.release, ())
assert lock.acquire(timeout=10), "the thread's release never gave it back"
lock.release()
"""


def _every_span(tmp_path: Path, receiver: Any, source: str) -> list[Any]:
    """``source`` run with spans alone: every span it made, none dropped or summed up."""
    args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
    result = _run(tmp_path, source, *SPANS_ALONE, *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    assert (0, 0) == (line["dropped"], line["aggregated"]), line
    return receiver.wait_for_spans(line["sent"])  # type: ignore[no-any-return]


class TestRecordPath:
    """
    With spans alone, a Lock or RLock's uncontended uses are records that syncscope's worker
    pairs: what arrives is what the events made, and the exit line still counts exactly.
    """

    def test_busy_program_counts_exactly(self, tmp_path: Path, receiver: Any) -> None:
        """Every lock use is a span or in a summary; the receiver got what the line says."""
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, BUSY, *SPANS_ALONE, *args, "--span-buffer=64")
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        assert 0 == line["dropped"], line
        assert line["aggregated"] > 0, line
        spans = receiver.wait_for_spans(line["sent"])
        assert line["sent"] == len(spans)
        summaries = [s for s in spans if s.attributes.get("syncscope.outcome") == "summary"]
        assert line["summaries"] == len(summaries)
        summed = sum(int(s.attributes["syncscope.summary.count"]) for s in summaries)  # type: ignore[call-overload]
        assert line["aggregated"] == summed
        for prefix in ("Lock.acquire", "Lock.hold"):
            counted = sum(
                int(s.attributes.get("syncscope.summary.count", 1))  # type: ignore[call-overload]
                for s in spans
                if s.name.startswith(prefix)
            )
            assert 3 * 3000 == counted, prefix

    def test_holds_waits_links_and_sites(self, tmp_path: Path, receiver: Any) -> None:
        """
        A Condition over a recorded Lock, an RLock re-entered: the holds, the wait's link to
        its notify and each span's call site are what the event path makes.
        """
        source = """\
            import threading
            lock = threading.Lock()
            cond = threading.Condition(lock)
            ready = threading.Event()
            def waiter():
                with cond:
                    ready.set()
                    cond.wait(5)
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(5)
            with cond:
                cond.notify()
            thread.join(5)
            r = threading.RLock()
            with r:
                r.acquire()
                r.release()
        """
        spans = _every_span(tmp_path, receiver, source)
        by_name: dict[str, list[Any]] = {}
        for span in spans:
            by_name.setdefault(span.name, []).append(span)
        (wait,) = by_name["Condition.wait cond"]
        (notify,) = by_name["Condition.notify cond"]
        assert {notify.span_id} == {link.span_id for link in wait.links}
        acquires = by_name["Lock.acquire lock"]
        where = sorted(
            (s.attributes["thread.name"], s.attributes["code.line.number"]) for s in acquires
        )
        assert [("MainThread", 12), ("waiter", 6)] == where
        # The waiter's hold is cut by its wait: one before, one after; the notifier's one.
        holds = by_name["Lock.hold lock"]
        assert 3 == len(holds)
        assert ["waiter", "waiter"] == sorted(
            s.attributes["thread.name"]
            for s in holds
            if s.attributes["thread.name"] != "MainThread"
        )
        rlock_acquires = by_name["RLock.acquire r"]
        assert [16, 17] == sorted(s.attributes["code.line.number"] for s in rlock_acquires)
        (rlock_hold,) = by_name["RLock.hold r"]
        assert 16 == rlock_hold.attributes["code.line.number"]

    def test_waits_for_a_signal_are_records_that_make_the_events_spans(
        self, tmp_path: Path, receiver: Any
    ) -> None:
        """
        A Condition's, an Event's and a Barrier's waits are records too, made into their
        events by the worker: their spans say what the event path's say (with the lines on,
        every operation is an event), a thread's name and the link to an Event's set included.
        """
        source = """\
            import threading
            cond = threading.Condition()
            ev = threading.Event()
            ev.set()
            assert ev.wait(5)
            assert not threading.Event().wait(0)
            with cond:
                assert not cond.wait(0)
            threading.Barrier(1).wait(5)
            pair = threading.Barrier(2)
            def arrive():
                pair.wait(5)
            thread = threading.Thread(target=arrive, name="second")
            thread.start()
            pair.wait(5)
            thread.join(5)
        """
        volatile = {"thread.id", "syncscope.waited_ms", "syncscope.links", "syncscope.count"}

        def waits(spans: list[Any]) -> list[tuple[Any, ...]]:
            found = []
            for span in spans:
                if span.name.split(" ")[0] not in WAITS_FOR_A_SIGNAL:
                    continue
                kept = {k: v for k, v in span.attributes.items() if k not in volatile}
                links = str(span.attributes.get("syncscope.links", "")).split()[::2]
                found.append((span.name, sorted(kept.items()), links))
            return sorted(found)

        by_records = waits(_every_span(tmp_path, receiver, source))
        receiver.clear()
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, source, "-o", str(tmp_path / "lines.log"), *args)
        assert 0 == result.returncode, result.stderr
        by_events = waits(receiver.wait_for_spans(span_line(result.stderr)["sent"]))
        assert by_events == by_records
        lines = sorted(
            (name, dict(attributes)["code.line.number"]) for name, attributes, _ in by_records
        )
        assert [
            ("Barrier.wait barrier#1", 9),
            ("Barrier.wait pair", 12),
            ("Barrier.wait pair", 15),
            ("Condition.wait cond", 8),
            ("Event.wait ev", 5),
            ("Event.wait event#1", 6),
        ] == lines
        assert ["set"] == next(links for name, _, links in by_records if name == "Event.wait ev")
        threads = {dict(attributes)["thread.name"] for name, attributes, _ in by_records}
        assert {"MainThread", "second"} == threads

    def test_trylocks_and_timed_acquires_have_their_sites_and_holds(
        self, tmp_path: Path, receiver: Any
    ) -> None:
        """
        An acquire that takes the lock at its first attempt, non-blocking or with a time
        limit, is a record too: its spans are the acquire and the hold at its line. A trylock
        that finds the lock taken is still a span of its own, "busy".
        """
        source = """\
            import threading
            lock = threading.Lock()
            r = threading.RLock()
            assert lock.acquire(False)
            lock.release()
            assert lock.acquire(timeout=5)
            lock.release()
            assert r.acquire(blocking=False)
            assert r.acquire(timeout=0)
            r.release()
            r.release()
            lock.acquire()
            assert not lock.acquire(False)
            lock.release()
            from decimal import Decimal
            try:
                lock.acquire(False, Decimal(-1))  # equal to -1: the lock refuses it all the same
            except TypeError:
                assert not lock.locked()
            else:
                raise AssertionError("acquire(False, Decimal(-1)) took the lock")
        """
        spans = _every_span(tmp_path, receiver, source)

        def where(name: str) -> list[tuple[Any, Any]]:
            found = [
                (s.attributes["code.line.number"], s.attributes["syncscope.outcome"])
                for s in spans
                if s.name == name
            ]
            return sorted(found)

        acquired = "acquired"
        busy, refused = (13, "busy"), (17, "error")
        assert [(4, acquired), (6, acquired), (12, acquired), busy, refused] == where(
            "Lock.acquire lock"
        )
        assert [4, 6, 12] == [number for number, _ in where("Lock.hold lock")]
        assert [(8, acquired), (9, acquired)] == where("RLock.acquire r")
        assert [8] == [number for number, _ in where("RLock.hold r")]

    def test_an_acquire_and_a_release_called_from_c_at_a_threads_bottom(
        self, tmp_path: Path, receiver: Any
    ) -> None:
        """
        ``_thread.start_new_thread(lock.acquire, ())``: no Python frame calls the acquire, and
        it still takes the lock, as the release made the same way gives it back.
        """
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, FROM_C, *SPANS_ALONE, *args)
        assert 0 == result.returncode, result.stderr
        assert "Exception" not in result.stderr, result.stderr
        line = span_line(result.stderr)
        spans = receiver.wait_for_spans(line["sent"])
        holds = [s for s in spans if s.name == "Lock.hold lock"]
        assert any(s.attributes["thread.name"] != "MainThread" for s in holds), holds


class TestEndpoint:
    """An endpoint's protocol and death, found once."""

    def test_protocol_found_when_the_port_does_not_say(self, tmp_path: Path, receiver: Any) -> None:
        """A custom port and no --protocol: the endpoint's answer decides, and spans arrive."""
        endpoint = f"http://127.0.0.1:{receiver.port}"
        result = _run(
            tmp_path, "import threading\nthreading.Event().set()\n", "-q", f"--otlp={endpoint}"
        )
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        assert (3, 3, 0) == (line["made"], line["sent"], line["dropped"]), line
        assert line["target"].endswith(f"({receiver.protocol})"), line
        assert 3 == len(receiver.wait_for_spans(3))

    def test_protocol_mismatch_is_said(self, tmp_path: Path, receiver: Any) -> None:
        """The wrong --protocol for the endpoint: said once, and the exit does not wait."""
        wrong = "grpc" if receiver.protocol == "http/protobuf" else "http/protobuf"
        endpoint = f"http://127.0.0.1:{receiver.port}"
        result = _run(
            tmp_path,
            "import threading\nthreading.Event().set()\n",
            "-q",
            f"--otlp={endpoint}",
            f"--protocol={wrong}",
        )
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        assert (3, 0, 3) == (line["made"], line["sent"], line["dropped"]), line
        assert "protocol mismatch" in line["why"], line


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_flushes(tmp_path: Path, receiver: Any) -> None:
    """A program killed by SIGTERM, which it leaves alone, sends its spans and writes its
    timeline (one handler for both: neither takes the signal from the other), then dies of it."""
    source = """\
        import sys, threading
        lock = threading.Lock()
        with lock:
            pass
        print("ready", flush=True)
        sys.stdin.readline()
    """
    script = write_program(tmp_path, source, "prog.py")
    process = Interactive(
        [
            "-q", f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol,
            "--timeline", str(tmp_path / "t.json"), str(script),
        ]
    )  # fmt: skip
    run = process.signalled_when("stdout", "ready", signal.SIGTERM)
    assert -signal.SIGTERM == run.returncode, run.stderr
    line = span_line(run.stderr)
    assert (4, 4, 0) == (line["made"], line["sent"], line["dropped"]), line
    names = sorted(span.name for span in receiver.wait_for_spans(4))
    assert ["Lock.acquire lock", "Lock.hold lock", "run prog.py", "thread MainThread"] == names
    timeline = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert "hold lock" in {event["name"] for event in timeline["traceEvents"]}


def test_put_on_a_full_queue_links_to_the_get_that_made_room(tmp_path: Path, receiver: Any) -> None:
    """
    A put blocked on a full queue links to the get that made room; an acquire is listed
    before its hold, to the microsecond; the run span says how long syncscope's start took.
    """
    source = """\
        import queue, sys, threading
        q = queue.Queue(1)
        q.put(1)
        t = threading.Thread(target=q.put, args=(2,), name="putter")
        t.start()
        sys.stdin.readline()
        q.get()
        t.join(5)
        lock = threading.Lock()
        with lock:
            pass
    """
    script = write_program(tmp_path, source, "prog.py")
    args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol, "--no-report"]
    process = Interactive([*args, str(script)])
    try:
        process.wait_for("stderr", "put of 2 waits by putter")
        process.send("go\n")
        run = process.finish()
    finally:
        process.kill()
    assert 0 == run.returncode, run.stderr
    line = span_line(run.stderr)
    spans = receiver.wait_for_spans(line["sent"])
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (get,) = by_name["Queue.get q"]
    blocked = [s for s in by_name["Queue.put q"] if s.attributes["thread.name"] == "putter"]
    (put,) = blocked
    assert {get.span_id} == {link.span_id for link in put.links}
    assert f"room {get.span_id}" == put.attributes["syncscope.links"]
    (acquire,) = by_name["Lock.acquire lock"]
    (hold,) = by_name["Lock.hold lock"]
    assert acquire.start_ns // 1000 < hold.start_ns // 1000
    (run_span,) = by_name["run prog.py"]
    assert float(run_span.attributes["syncscope.startup_ms"]) > 0  # type: ignore[arg-type]


def test_the_run_span_starts_when_the_programs_code_does(tmp_path: Path, receiver: Any) -> None:
    """
    The run span covers the program's code from its first line, and what it leaves out (its
    ``syncscope.startup_ms``) is syncscope's own start-up, in this process, before it.
    """
    import time

    source = """\
        import time
        print(time.time_ns())
        import threading
        with threading.Lock():
            pass
    """
    spawned = time.time_ns()
    run = _run(tmp_path, source, f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol)
    assert 0 == run.returncode, run.stderr
    first_line = int(run.stdout.split()[0])
    line = span_line(run.stderr)
    spans = receiver.wait_for_spans(line["sent"])
    (run_span,) = [span for span in spans if span.name == "run prog.py"]
    assert run_span.start_ns <= first_line
    startup_ns = float(run_span.attributes["syncscope.startup_ms"]) * 1e6  # type: ignore[arg-type]
    assert 0 < startup_ns
    assert spawned <= run_span.start_ns - startup_ns + 1000  # rounded to the microsecond


# A program's prelude for the uses counted in place: keeps a lock of its own busy until the
# span sink counts uses in place (past its allowance), then takes ``lock`` on line 15 and
# makes sure that use is one counted in place (it may just have stopped counting: again).
COUNTED_PRELUDE = """\
import sys, threading, time
from syncscope._core.state import state

busy = threading.Lock()
uses = 0

def until_counting():
    global uses
    while not state.records.counting:
        with busy:
            uses += 1
        if uses > 5_000_000:
            sys.exit("never counted in place")

def take_counted(lock):
    for _ in range(1000):
        until_counting()
        lock.acquire()
        if lock._syncscope_primitive in state.records.taken:
            return
        lock.release()
    sys.exit("no use counted in place")

def wait_until_blocked(thread):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and frame.f_code.co_name == "acquire_contended":
            return
        time.sleep(0.001)
    sys.exit("the waiter never blocked")

def counting_for_good():
    # Past the allowance for good: else counting in place stops once a quarter second's
    # allowance is back, which a loaded machine reaches within a test.
    (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
    sink._allowance = -10**15
"""
#: The line of ``lock.acquire()`` in COUNTED_PRELUDE.
COUNTED_LINE = 18


@pytest.fixture
def http_receiver() -> Iterator[Any]:
    with OtlpHttpReceiver() as server:
        yield server


def _counted_run(tmp_path: Path, receiver: Any, body: str) -> tuple[dict[str, Any], list[Any], int]:
    """Run COUNTED_PRELUDE + ``body`` with spans alone: the exit line, the spans, the busy uses."""
    # Then uses in volume, most counted in place: each one in a summary's count or a span.
    more = "for _ in range(20_000):\n    with busy:\n        uses += 1\nprint(uses)\n"
    source = COUNTED_PRELUDE + textwrap.dedent(body) + more
    args = [f"--otlp={receiver.endpoint}", "--protocol", "http/protobuf"]
    result = _run(tmp_path, source, *SPANS_ALONE, *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    assert 0 == line["dropped"], line
    spans = receiver.wait_for_spans(line["sent"])
    assert line["sent"] == len(spans)
    summaries = [s for s in spans if s.attributes.get("syncscope.outcome") == "summary"]
    assert line["summaries"] == len(summaries)
    assert line["aggregated"] == sum(_count(s) for s in summaries)
    return line, spans, int(result.stdout.split()[-1])


def _count(span: Any) -> int:
    """How many operations a span stands for: a summary's count, else one."""
    return int(span.attributes.get("syncscope.summary.count", 1))


def _counts(spans: list[Any], name: str) -> dict[str, int]:
    """Operations per thread in the spans named ``name`` and their summaries."""
    found: dict[str, int] = {}
    for span in spans:
        if span.name == name or span.name.startswith(name + " x "):
            thread = str(span.attributes["thread.name"])
            found[thread] = found.get(thread, 0) + _count(span)
    return found


class TestCountedInPlace:
    """
    Past the allowance, a Lock or RLock use nobody waits for is counted in place, with no
    record: whatever else then happens to the lock still finds its hold, and every use is
    in a span or a summary's count.
    """

    def test_a_counted_hold_that_makes_a_thread_wait_is_a_span(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = """\
            lock = threading.Lock()
            def waiter():
                with lock:
                    pass
            take_counted(lock)
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            wait_until_blocked(thread)
            lock.release()
            thread.join(10)
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        holds = [
            s
            for s in spans
            if s.name == "Lock.hold lock" and s.attributes["thread.name"] == "MainThread"
        ]
        (hold,) = holds
        assert COUNTED_LINE == hold.attributes["code.line.number"]
        (waited,) = [
            s
            for s in spans
            if s.name == "Lock.acquire lock" and s.attributes["thread.name"] == "waiter"
        ]
        assert hold.span_id in {link.span_id for link in waited.links}
        # The wait began while the hold lasted, and ended after it (when the waiter woke).
        assert hold.start_ns <= waited.start_ns < hold.end_ns <= waited.end_ns
        assert {"MainThread": 1, "waiter": 1} == _counts(spans, "Lock.hold lock")
        # The busy lock's uses: each acquire and each hold a span or in a summary's count.
        assert {"MainThread": uses} == _counts(spans, "Lock.acquire busy")
        assert {"MainThread": uses} == _counts(spans, "Lock.hold busy")

    def test_a_condition_wait_cuts_a_counted_hold(self, tmp_path: Path, http_receiver: Any) -> None:
        body = """\
            lock = threading.Lock()
            cond = threading.Condition(lock)
            ready = threading.Event()
            def waiter():
                take_counted(lock)
                ready.set()
                cond.wait(10)
                lock.release()
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(10)
            with cond:
                cond.notify()
            thread.join(10)
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        (wait,) = [s for s in spans if s.name == "Condition.wait cond"]
        (notify,) = [s for s in spans if s.name == "Condition.notify cond"]
        assert {notify.span_id} == {link.span_id for link in wait.links}
        # The waiter's hold is cut in two by its wait; none is lost or counted twice.
        assert {"waiter": 2, "MainThread": 1} == _counts(spans, "Lock.hold lock")
        assert {"waiter": 1, "MainThread": 1} == _counts(spans, "Lock.acquire lock")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_counted_holds_at_exit_reentered_and_released_elsewhere(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = """\
            r = threading.RLock()
            take_counted(r)
            r.acquire()  # re-entered: the hold is recorded first
            r.release()
            r.release()
            signal = threading.Lock()
            take_counted(signal)
            releaser = threading.Thread(target=signal.release, name="releaser")
            releaser.start()
            releaser.join(10)
            held = threading.Lock()
            take_counted(held)  # still held at exit
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 1} == _counts(spans, "RLock.hold r")
        assert {"MainThread": 2} == _counts(spans, "RLock.acquire r")
        assert {"MainThread": 1} == _counts(spans, "Lock.hold signal")
        (at_exit,) = [s for s in spans if s.name == "Lock.hold held"]
        assert COUNTED_LINE == at_exit.attributes["code.line.number"]
        assert "held at exit" == at_exit.attributes["syncscope.outcome"]
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_reentries_inside_a_counted_hold_are_counted_with_it(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = """\
            from syncscope._core.leanholds import local
            r = threading.RLock()
            counting_for_good()
            take_counted(r)
            for _ in range(300):
                with r:
                    r.acquire()
                    assert 3 == r._recursion_count()
                    r.release()
            (use,) = [use for key, use in local.holds.uses.items() if key is r]
            assert 600 == use.reentered, use.reentered  # counted in place, not recorded
            assert 0 == use.count  # the hold itself is not over
            r.release()
            assert not r._is_owned()
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 1} == _counts(spans, "RLock.hold r")
        assert {"MainThread": 601} == _counts(spans, "RLock.acquire r")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_a_reentry_that_raises_is_not_counted(self, tmp_path: Path, http_receiver: Any) -> None:
        """
        A signal handler's exception landing in the re-entry, wherever a call returns in it
        (raised here by a profile function, at each in turn): acquire() raises, the RLock is
        not re-entered, and no re-entry is counted.
        """
        body = """\
            from syncscope._core.leanholds import local
            from syncscope._intercept import lockpaths

            class Interrupt(Exception):
                pass

            armed = 0

            def profile(frame, event, arg):
                global armed
                if armed and event == "c_return" and frame.f_code is reentry:
                    armed -= 1
                    if not armed:
                        raise Interrupt

            def reentered():
                return sum(use.reentered for key, use in local.holds.uses.items() if key is r)

            reentry = lockpaths.counted_reentry.__code__
            r = threading.RLock()
            counting_for_good()
            take_counted(r)
            for n in range(1, 20):  # the n-th call to return in it raises
                armed = n
                sys.setprofile(profile)
                try:
                    r.acquire()
                except Interrupt:
                    sys.setprofile(None)
                    assert 1 == r._recursion_count() and 0 == reentered(), n
                    continue
                sys.setprofile(None)
                assert 2 == r._recursion_count() and 1 == reentered(), n  # past the last
                r.release()
                break
            else:
                sys.exit("the profile function raised every time")
            r.release()
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        assert {"MainThread": 2} == _counts(spans, "RLock.acquire r")
        assert {"MainThread": 1} == _counts(spans, "RLock.hold r")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_a_reentered_counted_hold_that_makes_a_thread_wait_is_a_span(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """The waiter claims the hold while it is re-entered: the inner release is no end."""
        body = """\
            r = threading.RLock()
            def waiter():
                with r:
                    pass
            take_counted(r)
            r.acquire()  # re-entered, counted with the hold
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            wait_until_blocked(thread)
            r.release()  # the inner one, once the hold was claimed: r is still held
            assert r._is_owned() and thread.is_alive()
            r.release()
            thread.join(10)
            assert not thread.is_alive()
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        (hold,) = [
            s
            for s in spans
            if s.name == "RLock.hold r" and s.attributes["thread.name"] == "MainThread"
        ]
        (waited,) = [
            s
            for s in spans
            if s.name == "RLock.acquire r" and s.attributes["thread.name"] == "waiter"
        ]
        assert hold.span_id in {link.span_id for link in waited.links}
        assert hold.start_ns <= waited.start_ns < hold.end_ns <= waited.end_ns
        assert {"MainThread": 1, "waiter": 1} == _counts(spans, "RLock.hold r")
        assert {"MainThread": 2, "waiter": 1} == _counts(spans, "RLock.acquire r")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_a_condition_wait_inside_a_reentered_counted_hold(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = """\
            r = threading.RLock()
            cond = threading.Condition(r)
            ready = threading.Event()
            def waiter():
                take_counted(r)
                r.acquire()  # re-entered, counted with the hold
                ready.set()
                assert cond.wait(10)  # gives up both levels, and takes both back
                assert 2 == r._recursion_count()
                r.release()
                r.release()
                assert not r._is_owned()
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(10)
            with cond:
                cond.notify()
            thread.join(10)
            assert not thread.is_alive()
        """
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        (wait,) = [s for s in spans if s.name == "Condition.wait cond"]
        (notify,) = [s for s in spans if s.name == "Condition.notify cond"]
        assert {notify.span_id} == {link.span_id for link in wait.links}
        assert {"waiter": 2, "MainThread": 1} == _counts(spans, "RLock.hold r")
        assert {"waiter": 2, "MainThread": 1} == _counts(spans, "RLock.acquire r")
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_reentries_counted_exactly_while_threads_switch_all_the_time(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        Threads entering one RLock twice over, switched every microsecond: its holds are
        claimed by waiters, counted in place or recorded by turns; each acquire and hold is a
        span or in a summary's count, once.
        """
        body = """\
            r = threading.RLock()
            take_counted(busy)
            busy.release()
            def worker():
                for _ in range(2000):
                    with r:
                        with r:
                            pass
            sys.setswitchinterval(1e-6)
            threads = [threading.Thread(target=worker, name=f"w{n}") for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            sys.setswitchinterval(0.005)
            assert not any(thread.is_alive() for thread in threads)
        """
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        names = [f"w{n}" for n in range(4)]
        assert dict.fromkeys(names, 2000) == _counts(spans, "RLock.hold r")
        assert dict.fromkeys(names, 4000) == _counts(spans, "RLock.acquire r")

    def test_trylocks_and_timed_acquires_are_counted_in_place_too(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """
        A non-blocking or timed acquire that takes the lock at once is counted in place as a
        blocking one is; a trylock that finds the lock taken is summed up ("found busy").
        Arguments the lock refuses raise as they do on the lock itself, taking nothing (spans
        of their own).
        """
        out = tmp_path / "out.json"
        body = f"""\
            import json
            from decimal import Decimal
            counting_for_good()  # once counting in place, for the rest of the program
            lock = threading.Lock()
            r = threading.RLock()
            taken = {{lock: 0, r: 0}}

            def counted_by(take, lock):
                for _ in range(1000):
                    until_counting()
                    assert take()
                    taken[lock] += 1
                    record = state.records.taken.get(lock._syncscope_primitive)
                    inside = type(record) is tuple and len(record) == 7  # not WANTED
                    lock.release()
                    if inside:
                        return True
                return False

            counted = {{
                "acquire(False)": counted_by(lambda: lock.acquire(False), lock),
                "acquire(False, -1)": counted_by(lambda: lock.acquire(False, -1), lock),
                "acquire(False, -1.0)": counted_by(lambda: lock.acquire(False, -1.0), lock),
                "acquire(timeout=5)": counted_by(lambda: lock.acquire(timeout=5), lock),
                "acquire(True, 0)": counted_by(lambda: lock.acquire(True, 0), lock),
                "RLock acquire(False)": counted_by(lambda: r.acquire(False), r),
            }}
            lock.acquire()
            taken[lock] += 1
            failed = lock.acquire(False)  # counting in place: summed up
            failed_now = lock.acquire(timeout=0)  # a trylock too
            lock.release()
            holding, done = threading.Event(), threading.Event()

            def hold_r():
                with r:
                    holding.set()
                    done.wait(10)

            holder = threading.Thread(target=hold_r, name="holder")
            holder.start()
            assert holding.wait(10)

            def poll():
                return r.acquire(False)  # held by another thread

            failed_r = poll()
            done.set()
            holder.join(10)
            errors = []
            refused = (
                ((False, 5), {{}}),
                ((), {{"timeout": -5}}),
                ((), {{"timeout": 1e300}}),
                ((False, Decimal(-1)), {{}}),  # equal to -1, and no number the lock takes
                ((), {{"timeout": Decimal(-1)}}),  # blocking too
            )
            for args, kwargs in refused:
                try:
                    lock.acquire(*args, **kwargs)
                except Exception as exc:
                    errors.append(f"{{type(exc).__name__}}: {{exc}}")
            with open({str(out)!r}, "w") as file:
                json.dump({{"counted": counted, "failed": [failed, failed_now, failed_r],
                           "errors": errors,
                           "locked": lock.locked(), "taken": taken[lock],
                           "taken r": taken[r]}}, file)
        """
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        found = json.loads(out.read_text())
        assert all(found["counted"].values()), found["counted"]
        assert [False, False, False] == found["failed"]
        assert not found["locked"]
        expected = []
        original = _thread.allocate_lock()
        refused: tuple[tuple[tuple[Any, ...], dict[str, Any]], ...] = (
            ((False, 5), {}),
            ((), {"timeout": -5}),
            ((), {"timeout": 1e300}),
            ((False, Decimal(-1)), {}),
            ((), {"timeout": Decimal(-1)}),
        )
        for args, kwargs in refused:
            with pytest.raises(Exception) as raised:
                original.acquire(*args, **kwargs)
            expected.append(f"{type(raised.value).__name__}: {raised.value}")
        assert expected == found["errors"]
        # Each use a span or in a summary's count, once; the refused calls spans of their own,
        # the failed trylock summed up.
        assert {"MainThread": found["taken"]} == _counts(spans, "Lock.hold lock")
        outcomes: dict[str, int] = {}
        for span in spans:
            if span.name == "Lock.acquire lock" or span.name.startswith("Lock.acquire lock x "):
                outcome = str(span.attributes["syncscope.outcome"])
                if outcome == "summary":
                    outcome = str(span.attributes.get("syncscope.summary.outcome", "acquired"))
                outcomes[outcome] = outcomes.get(outcome, 0) + _count(span)
        assert {"acquired": found["taken"], "busy": 2, "error": 5} == outcomes
        busy_summary, busy_r = sorted(
            (s for s in spans if s.name.endswith(", found busy")), key=lambda s: s.name
        )
        assert "Lock.acquire lock x 2, found busy" == busy_summary.name
        assert "RLock.acquire r x 1, found busy" == busy_r.name
        assert "acquire" == busy_summary.attributes["syncscope.op"]
        body_lines = textwrap.dedent(body).splitlines()

        def line_of(text: str) -> int:
            number = next(n for n, line in enumerate(body_lines, 1) if text in line)
            return COUNTED_PRELUDE.count("\n") + number

        assert line_of("failed = lock") == busy_summary.attributes["code.line.number"]
        assert line_of("return r.acquire(False)") == busy_r.attributes["code.line.number"]
        # The program's frame, not one of syncscope's that runs the same line.
        assert ["<module>", "poll"] == [
            s.attributes["code.function.name"] for s in (busy_summary, busy_r)
        ]
        assert {str(tmp_path / "prog.py")} == {
            s.attributes["code.file.path"] for s in (busy_summary, busy_r)
        }
        held_r = {"MainThread": found["taken r"], "holder": 1}
        assert held_r == _counts(spans, "RLock.hold r")

    def test_an_acquire_called_from_c_at_a_threads_bottom_is_counted(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """Counted in place, an acquire no Python frame calls still takes the lock."""
        body = "take_counted(busy)\nbusy.release()\ncounting_for_good()\n" + FROM_C
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        holds = _counts(spans, "Lock.hold lock")
        assert 2 <= sum(holds.values()), holds
        assert set(holds) - {"MainThread"}, holds


class TestThePermitsRace:
    """
    A semaphore's permit counted in place: its owner's release or whoever else needs its hold
    has its record, exactly one of them, and claimed records go into the buffer oldest first.
    """

    @staticmethod
    def _semaphore() -> tuple[Any, Any, Any, Any]:
        from collections import deque

        from syncscope import get_original
        from syncscope._core.event import Primitive
        from syncscope._core.state import Records
        from syncscope._core.tracking import new_watch

        records = Records(deque(), 1_000, 1_000, lambda: None, deque())
        records.counting = True
        semaphore = get_original("threading", "Semaphore")(2)
        primitive = Primitive("semaphore", "Semaphore", "sem", __file__, 1, "<module>")
        entry = new_watch(semaphore, primitive)
        return records, semaphore, entry, primitive

    @staticmethod
    def _take(semaphore: Any, entry: Any, records: Any) -> bool:
        from syncscope import get_original
        from syncscope._intercept.counted import permit_taken

        original = get_original("threading", "Semaphore")
        return permit_taken(semaphore, entry, original.acquire, original.release, records)

    @staticmethod
    def _give_back(semaphore: Any, records: Any) -> bool:
        from syncscope import get_original
        from syncscope._intercept.counted import permit_returned

        release = get_original("threading", "Semaphore").release
        return permit_returned(semaphore, release, records, False)

    def test_the_owner_counts_when_nothing_else_happened(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from syncscope._core import tracking

        records, semaphore, entry, primitive = self._semaphore()
        monkeypatch.setitem(tracking.watches, id(semaphore), entry)
        assert self._take(semaphore, entry, records)
        assert 1 == semaphore._value
        assert 1 == len(records.taken[primitive])
        assert self._give_back(semaphore, records)
        assert 2 == semaphore._value
        # Nothing left: the list of the permits out goes with the last one.
        assert (0, {}, 1) == (len(records.buffer), records.taken, len(records.counted))
        (use,) = records.counted
        assert 1 == use.count

    def test_a_claim_takes_the_records_oldest_first_and_the_release_is_not_counted(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from syncscope._core import tracking

        records, semaphore, entry, primitive = self._semaphore()
        monkeypatch.setitem(tracking.watches, id(semaphore), entry)
        assert self._take(semaphore, entry, records)
        assert self._take(semaphore, entry, records)
        first, second = records.taken[primitive]
        records.claim(primitive)
        assert [first, second] == list(records.buffer)
        assert primitive not in records.taken
        assert not self._give_back(semaphore, records)  # the usual path records it
        assert 0 == semaphore._value
        assert not records.counted


class TestTheRecordsRace:
    """
    The owner of a use counted in place and whoever else needs its hold race for its record:
    exactly one of them has it, and the buffer has it before anything that came after.
    """

    @staticmethod
    def _lock() -> tuple[Any, Any]:
        from collections import deque

        from syncscope import get_original
        from syncscope._core.event import Primitive
        from syncscope._core.state import Records
        from syncscope._intercept.lockfactories import adopt_lock

        records = Records(deque(), 1_000, 1_000, lambda: None, deque())
        records.counting = True
        proxy = adopt_lock(get_original("threading", "Lock")(), "lock", "Lock", "lock", __file__, 1)
        assert isinstance(proxy._syncscope_primitive, Primitive)
        return records, proxy

    @staticmethod
    def _acquire(proxy: Any, records: Any) -> bool:
        from syncscope._intercept.lockpaths import counted_acquire

        return counted_acquire(proxy, records)  # called as a proxy method would be

    def test_the_owner_counts_when_nothing_else_happened(self) -> None:
        from syncscope._intercept.lockpaths import counted_release

        records, proxy = self._lock()
        assert self._acquire(proxy, records)
        assert proxy._syncscope_primitive in records.taken
        assert counted_release(proxy, records)
        assert not proxy._syncscope_lock.locked()
        assert (0, {}) == (len(records.buffer), records.taken)
        ((use),) = records.counted
        assert 1 == use.count

    def test_a_claim_takes_the_record_and_the_release_is_recorded(self) -> None:
        from syncscope._intercept.lockpaths import counted_release

        records, proxy = self._lock()
        assert self._acquire(proxy, records)
        records.claim(proxy._syncscope_primitive, waits=True)
        assert [proxy] == [record[1] for record in records.buffer]
        assert not counted_release(proxy, records)  # the usual path records it
        assert proxy._syncscope_lock.locked()
        assert not records.counted

    def test_a_wait_before_the_record_was_there_has_the_use_recorded(self) -> None:
        """A thread found the lock taken before its holder's record: the use is recorded."""
        from syncscope._intercept.lockpaths import counted_release

        records, proxy = self._lock()
        records.claim(proxy._syncscope_primitive, waits=True)  # nothing there yet: WANTED
        assert self._acquire(proxy, records)
        assert [proxy] == [record[1] for record in records.buffer]
        assert {} == records.taken
        assert not counted_release(proxy, records)
        assert not records.counted

    def test_a_summary_starts_at_its_first_use_not_at_the_last_summary(self) -> None:
        """A lock used again after a while: its next summary covers that use, not the gap."""
        from syncscope._intercept.lockpaths import counted_release
        from syncscope._sinks.spans.records import sum_counted

        summed: list[tuple[int, int, int]] = []

        class Pairing:
            def counted_uses(self, prim: Any, acquire: Any, count: int, *times: int) -> None:
                summed.append((count, times[1], times[2]))

        records, proxy = self._lock()
        starts = []
        for _ in range(2):
            assert self._acquire(proxy, records)
            starts.append(records.taken[proxy._syncscope_primitive][3])
            assert counted_release(proxy, records)
            sum_counted(Pairing(), records.counted)  # type: ignore[arg-type]
        (first_count, first_start, first_end), (count, start, end) = summed
        assert (1, 1) == (first_count, count)
        assert starts == [first_start, start]
        assert first_end <= start <= end

    def test_a_hold_whose_release_was_never_seen_goes_first(self) -> None:
        records, proxy = self._lock()
        assert self._acquire(proxy, records)
        stale = records.taken[proxy._syncscope_primitive]
        proxy._syncscope_lock.release()  # not through the proxy: syncscope never sees it
        assert self._acquire(proxy, records)
        assert stale is records.buffer[0]
        assert [proxy, proxy] == [record[1] for record in records.buffer]
        assert {} == records.taken

    def test_a_release_by_another_thread_records_the_hold_first(self) -> None:
        import threading

        from syncscope._intercept.lockpaths import counted_release

        records, proxy = self._lock()
        assert self._acquire(proxy, records)
        answers: list[bool] = []
        thread = threading.Thread(target=lambda: answers.append(counted_release(proxy, records)))
        thread.start()
        thread.join(10)
        assert [False] == answers
        assert [proxy] == [record[1] for record in records.buffer]
        assert {} == records.taken
        assert proxy._syncscope_lock.locked()  # the usual path releases it, and records that

    @pytest.mark.parametrize("switch_at", [1, 2, 3])
    def test_a_claim_switched_out_where_a_call_returns_leaves_one_account(
        self, switch_at: int
    ) -> None:
        """
        The interpreter may hand the GIL to another thread where a call returns: the owner
        releasing there, inside the claim of its record (after the claim's first, second or
        third call), finds the record there or gone, never both ways, and the claim raises
        nothing into the waiting thread.
        """
        import threading

        from syncscope._core.state import RECORD_ACQUIRED, Records
        from syncscope._intercept.lockpaths import counted_release

        code = Records.claim.__code__
        records, proxy = self._lock()
        taken, go, done = threading.Event(), threading.Event(), threading.Event()
        counted: list[bool] = []

        def owner() -> None:
            assert self._acquire(proxy, records)
            taken.set()
            go.wait(10)
            counted.append(counted_release(proxy, records))
            if not counted[-1]:  # the usual path would release it, recorded
                proxy._syncscope_lock.release()
            done.set()

        def owner_runs() -> None:  # as another thread would
            go.set()
            done.wait(10)

        thread = threading.Thread(target=owner)
        thread.start()
        assert taken.wait(10)
        with each_instruction(code, AtCallReturn(code, switch_at, owner_runs)):
            records.claim(proxy._syncscope_primitive, waits=True)
        go.set()
        thread.join(10)
        assert not thread.is_alive()
        assert not proxy._syncscope_lock.locked()
        recorded = [r for r in records.buffer if r[1] is proxy and r[2] == RECORD_ACQUIRED]
        # Counted by its owner and not in the buffer, or in the buffer once and not counted.
        assert (counted, len(recorded)) in [([True], 0), ([False], 1)]
        assert {} == records.taken

    @pytest.mark.parametrize("where", ["counted_reentry", "counted_release"])
    @pytest.mark.parametrize("switch_at", [1, 2, 3, 4])
    def test_a_claim_where_a_reentry_or_an_inner_release_calls_leaves_one_account(
        self, where: str, switch_at: int
    ) -> None:
        """
        ``with r: with r: pass`` on an RLock whose hold is counted in place, a waiter
        claiming the hold where a call returns inside the re-entry or the releases: each
        acquire is recorded or counted, once, and the one hold too.
        """
        import threading

        from syncscope import get_original
        from syncscope._core.leanholds import this_thread
        from syncscope._core.state import RECORD_ACQUIRED, WANTED
        from syncscope._intercept import lockpaths
        from syncscope._intercept.lockfactories import adopt_lock

        records, _lock = self._lock()
        proxy = adopt_lock(get_original("threading", "RLock")(), "rlock", "RLock", "r", __file__, 1)
        prim = proxy._syncscope_primitive
        code = getattr(lockpaths, where).__code__

        def waiter_runs() -> None:  # as another thread would
            waiter = threading.Thread(target=records.claim, args=(prim, True))
            waiter.start()
            waiter.join(10)
            assert not waiter.is_alive()

        def acquire() -> None:  # as the proxy's __enter__ does
            if not self._acquire(proxy, records):
                assert lockpaths.recorded_acquire(proxy, records, True, -1)

        def release() -> None:  # as the proxy's __exit__ does
            if not (records.taken and lockpaths.counted_release(proxy, records)):
                lockpaths.recorded_release(proxy, records)

        this_thread()
        at = AtCallReturn(code, switch_at, waiter_runs)
        with each_instruction(code, at):
            acquire()
            acquire()
            release()
            release()
        assert at.seen >= switch_at
        assert not proxy._syncscope_lock._is_owned()
        depths = [r[6] for r in records.buffer if r[1] is proxy and r[2] == RECORD_ACQUIRED]
        uses = [(use.count, use.reentered) for use in records.counted]
        acquires = len(depths) + sum(count + reentered for count, reentered in uses)
        holds = depths.count(1) + sum(count for count, _ in uses)
        assert (2, 1) == (acquires, holds), (depths, uses)
        assert records.taken in ({}, {prim: WANTED})

    @pytest.mark.parametrize("marked", [False, True], ids=["unmarked", "marked"])
    def test_another_thread_where_a_recorded_release_calls_sees_the_hold_end_in_order(
        self, marked: bool
    ) -> None:
        """
        A recorded hold's release (``recorded_release``), another thread stepping in where
        each of the release's calls returns (where the interpreter may hand the GIL over): it
        marks the lock wanted while the lock is held, or takes it and lets go once it is free.
        The hold's release is in the buffer before that thread's acquire, each once, the lock
        ends free, nothing is counted, and at most a waiter's mark is left. ``marked``: a
        waiter's mark was there before the release began, which the release takes out.
        """
        from syncscope._core.state import RECORD_ACQUIRED, RECORD_RELEASED, WANTED

        switch_at = 0
        while True:
            switch_at += 1
            records, proxy, took = self._release_stepped_into(switch_at, marked)
            if took is None:
                break  # past the release's last call: every place was tried
            assert not proxy._syncscope_lock.locked()
            kinds = [record[2] for record in records.buffer if record[1] is proxy]
            expected = [RECORD_ACQUIRED, RECORD_RELEASED] * (2 if took else 1)
            assert expected == kinds, (switch_at, took)
            assert not records.counted
            prim = proxy._syncscope_primitive
            assert records.taken in ({}, {prim: WANTED}), switch_at
            assert not took or records.taken == {}, switch_at  # taken since: nothing wanted
        assert switch_at > 2  # the release made calls, and the other thread stepped in at each

    def _release_stepped_into(self, switch_at: int, marked: bool) -> tuple[Any, Any, bool | None]:
        """
        A recorded hold released, another thread stepping in where the release's
        ``switch_at``-th call returns: the records, the proxy, and whether that thread took
        the lock (None: the release made fewer calls).
        """
        import threading

        from syncscope._core.state import WANTED
        from syncscope._intercept import lockpaths

        code = lockpaths.recorded_release.__code__
        records, proxy = self._lock()
        records.counting = False  # recorded, not counted: this is the release under test
        prim = proxy._syncscope_primitive
        assert lockpaths.recorded_acquire(proxy, records, True, -1)
        if marked:
            records.counting = True  # a waiter marks it only then
            records.claim(prim, waits=True)
            records.counting = False
            assert {prim: WANTED} == records.taken
        took: list[bool] = []

        def other() -> None:
            if proxy._syncscope_lock.locked():  # as a waiter that finds it taken
                records.counting = True
                records.claim(prim, waits=True)
                records.counting = False
                took.append(False)
            else:  # free: taken and let go, recorded
                assert lockpaths.recorded_acquire(proxy, records, True, -1)
                lockpaths.recorded_release(proxy, records)
                took.append(True)

        def other_runs() -> None:
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(10)
            assert not thread.is_alive()

        at = AtCallReturn(code, switch_at, other_runs)
        with each_instruction(code, at):
            lockpaths.recorded_release(proxy, records)
        if at.seen < switch_at:
            return records, proxy, None
        assert len(took) == 1
        return records, proxy, took[0]


def test_no_use_is_counted_in_place_without_the_gil(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    A build running without the GIL gives no order between a use's owner and a thread that
    claims its record: there, uses past the allowance are recorded and summed by the worker.
    """
    import threading

    import syncscope
    from syncscope._core.state import state
    from syncscope._sinks.spans import sink as span_sink

    monkeypatch.setattr(span_sink, "_gil_enabled", lambda: False)
    syncscope.install(
        lines=False,
        report=False,
        detect_deadlocks=False,
        spans=True,
        exporter="none",
        jaeger_file=str(tmp_path / "trace.json"),
    )
    try:
        records = state.records
        assert records is not None and records.counted is None
        (sink,) = state.sinks
        lock = threading.Lock()
        for _ in range(10_000):  # past the buffer and the allowance
            with lock:
                pass
        with sink._lock:  # what the worker decides when it wakes, the allowance spent
            sink._allowance = 0
            sink._count_in_place()
        assert not records.counting
        for _ in range(1_000):
            with lock:
                pass
        assert {} == records.taken
    finally:
        syncscope.uninstall()
