"""Statistics per primitive and per call site."""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.records import fields
from syncscope._core.tally import _INT_FIELDS, Tally, bucket, bucket_ceiling, percentile, site_tally
from syncscope._sinks import stats as _stats
from syncscope._sinks.figures import PrimitiveStats, seconds
from syncscope._sinks.recorder import DiagnosisOptions, Recorder

from .conftest import Latch, add_sink, join, run_syncscope, start_thread
from .support.events import acquired, event, primitive, released, waiting
from .support.process import script


MS = 1_000_000


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(DiagnosisOptions(stats=True, detect_deadlocks=False, echo=False))
    yield rec
    rec.close()


def stats_of(rec: Recorder, prim: object) -> PrimitiveStats:
    assert rec.stats is not None
    found = rec.stats.find(prim)  # type: ignore[arg-type]
    assert found is not None
    return found


def test_a_new_tally_has_every_counter_at_zero() -> None:
    """
    A primitive's tally and a call site's: each counter the figures read starts at 0, but a
    queue's largest size, at -1 until a size is read (one never read is not said to be 0).
    """
    for made in (Tally(), Tally("transfer")):
        assert {name: getattr(made, name) for name in _INT_FIELDS} == (
            dict.fromkeys(_INT_FIELDS, 0) | {"max_size": -1}
        )


def test_threads_new_to_a_call_site_at_once_count_in_the_one_tally_kept() -> None:
    """
    Two threads at a primitive's new call site at once, each looking before the other
    stores (as threads that really run at once can, on a free-threaded build): both end up
    with the tally the site keeps, not one the report never reads, which a store after a
    look-up would leave the one it replaced with, and its site cache on.
    """

    class LookedBeforeAnyStore(dict[tuple[str, int], Tally]):
        def get(self, key: tuple[str, int], default: Any = None) -> Any:
            return None  # each look-up made before the other thread's store

    tally, where = Tally(), ("transfers.py", 12, "transfer")
    tally.sites = LookedBeforeAnyStore()
    one = site_tally(tally, where)
    tally.last_site = (None, None)  # the other thread's call: its own look-up, not a cache hit
    other = site_tally(tally, where)
    [kept] = tally.sites.values()
    assert one is other is kept


def test_the_rows_a_report_makes_whole_are_as_made_by_keyword() -> None:
    """
    The report's rows are made from a dict of every field (``records.whole``), not by
    keyword: each holds every field of its class, in order, as the keyword construction
    does, so that it is equal, shown and written the same.
    """
    rows = []
    for events in (0, 10):  # the lean path, and the event path (which places each acquire)
        with syncscope.record(detect_deadlocks=True, events=events, echo=False) as rec:
            lock = threading.Lock()
            jobs: queue.Queue[int] = queue.Queue()
            for _ in range(3):
                with lock:
                    jobs.put(1)
                jobs.get()
            rows += [rec.stats(lock), rec.stats(jobs)]
    made = [m for row in rows for m in (row, row.primitive, *row.sites, *row.longest_holds)]
    assert {type(m).__name__ for m in made} == {"PrimitiveStats", "Ref", "SiteStats", "Holder"}
    for each in made:
        assert list(vars(each)) == [item.name for item in fields(each)]
        by_keyword = type(each)(**vars(each))
        assert by_keyword == each and repr(by_keyword) == repr(each)
        assert vars(by_keyword) == vars(each)


@pytest.mark.parametrize("ns", [0, 1, 999, 1_000_000_007, 123_456_789_012, 2**53 + 1, 10**17 + 3])
def test_seconds_are_rounded_to_the_nanosecond(ns: int) -> None:
    """A count of nanoseconds as seconds, and a mean of them rounded to the nanosecond."""
    assert seconds(ns) == round(ns / 1e9, 9)
    assert seconds(ns + 0.4) == round(ns / 1e9, 9)
    assert seconds(1234.5678) == 1.235e-06


class TestHistogram:
    @pytest.mark.parametrize("ns", [0, 1, 7, 15, 16, 17, 1000, 123_456, 10**9, 3 * 10**10])
    def test_bucket_holds_its_value(self, ns: int) -> None:
        """A wait falls in a bucket whose ceiling is at least it and at most 12.5% above."""
        ceiling = bucket_ceiling(bucket(ns))
        assert ns <= ceiling <= max(ns * 1.125, ns + 1)

    def test_buckets_increase_with_the_wait(self) -> None:
        """Bucket numbers grow with the wait, so sorting them sorts the waits."""
        indexes = [bucket(ns) for ns in range(0, 5000, 7)]
        assert indexes == sorted(indexes)

    def test_p99(self) -> None:
        """The 99th percentile of 99 short waits and one long one is the short one's bucket."""
        histogram: dict[int, int] = {}
        for ns in [1000] * 99 + [10**9]:
            histogram[bucket(ns)] = histogram.get(bucket(ns), 0) + 1
        assert 1000 <= percentile(histogram, 100, 0.99) < 1130
        assert 10**9 <= percentile(histogram, 100, 1.0)
        assert 0 == percentile({}, 0, 0.99)


class TestLockFigures:
    def test_acquisitions_contention_and_holds(self, recorder: Recorder) -> None:
        """Acquisitions, contended ones, owner changes, waits and hold times add up."""
        lock = primitive("lock", "db_lock")
        recorder.handle(acquired(lock, thread=1, line=10, at=0))
        recorder.handle(waiting(lock, thread=2, line=20, at=1 * MS))
        recorder.handle(released(lock, thread=1, at=4 * MS))
        recorder.handle(acquired(lock, thread=2, line=20, waited_ns=3 * MS, at=4 * MS))
        recorder.handle(released(lock, thread=2, at=5 * MS))
        recorder.handle(event(lock, "acquire", "busy", thread=3, line=30))
        recorder.handle(event(lock, "acquire", "timeout", thread=3, line=31, waited_ns=2 * MS))
        s = stats_of(recorder, lock)
        assert 2 == s.acquisitions
        assert 2 == s.contended  # the acquire after a wait, and the one that timed out
        assert 1 == s.owner_changes
        assert 1 == s.timeouts
        assert 1 == s.failed
        assert 0.005 == pytest.approx(s.total_wait_s)
        assert 0.003 == pytest.approx(s.max_wait_s)
        assert 0.0025 == pytest.approx(s.mean_wait_s)
        assert 0.003 <= s.p99_wait_s <= 0.003 * 1.125
        assert 2 == s.holds
        assert 0.004 == pytest.approx(s.max_hold_s)
        assert 0.005 == pytest.approx(s.total_hold_s)
        assert 2 / 3 == pytest.approx(s.contended_ratio)

    def test_handle_counts_an_acquire_as_acquired_does(self) -> None:
        """Stats.handle given a successful acquire counts it once, as Stats.acquired would."""
        lock = primitive("lock")
        stats = _stats.Stats()
        stats.handle(acquired(lock, thread=1, line=10))
        stats.handle(acquired(lock, thread=2, line=10, waited_ns=3 * MS))
        s = stats.find(lock)
        assert s is not None
        assert (2, 1, 1, 0) == (s.acquisitions, s.contended, s.owner_changes, s.errors)

    def test_per_call_site(self, recorder: Recorder) -> None:
        """Each call site has its own figures; the top site is where it was waited on most."""
        lock = primitive("lock")
        recorder.handle(acquired(lock, line=10, at=0))
        recorder.handle(released(lock, at=2 * MS))
        recorder.handle(acquired(lock, line=20, waited_ns=7 * MS, at=9 * MS))
        recorder.handle(released(lock, at=10 * MS))
        s = stats_of(recorder, lock)
        sites = {site.line: site for site in s.sites}
        assert {10, 20} == set(sites)
        assert 0.002 == pytest.approx(sites[10].max_hold_s)
        assert 1 == sites[20].contended
        assert "work" == sites[20].function
        top = s.top_site()
        assert top is not None
        assert 20 == top.line

    def test_rlock_reentry(self, recorder: Recorder) -> None:
        """Every acquire of an RLock counts; one hold runs from the first to the last release."""
        rlock = primitive("rlock")
        recorder.handle(acquired(rlock, depth=1, at=0))
        recorder.handle(acquired(rlock, depth=2, at=1 * MS))
        recorder.handle(released(rlock, depth=1, at=2 * MS))
        recorder.handle(released(rlock, depth=0, at=3 * MS))
        s = stats_of(recorder, rlock)
        assert 2 == s.acquisitions
        assert 1 == s.holds
        assert 0.003 == pytest.approx(s.max_hold_s)
        assert 0 == s.owner_changes

    def test_condition_hold_stops_while_waiting(self, recorder: Recorder) -> None:
        """A Condition's hold is cut while it waits; waits, timeouts and notifies count."""
        cond = primitive("condition")
        cond.lock = cond
        recorder.handle(acquired(cond, depth=1, at=0))
        recorder.handle(waiting(cond, "wait", at=1 * MS))
        recorder.handle(event(cond, "wait", "woken", waited_ns=50 * MS, at=51 * MS))
        recorder.handle(released(cond, depth=0, at=53 * MS))
        recorder.handle(waiting(cond, "wait_for", thread=2))
        recorder.handle(event(cond, "wait_for", "timeout", thread=2, waited_ns=MS))
        recorder.handle(event(cond, "notify", "notified", waiters=1))
        s = stats_of(recorder, cond)
        assert 2 == s.holds
        assert 0.002 == pytest.approx(s.max_hold_s)
        assert 2 == s.waits
        assert 1 == s.wait_timeouts
        assert 0.05 == pytest.approx(s.max_waited_s)
        assert 1 == s.notifies
        assert 1 == s.woken

    def test_semaphore_permits(self, recorder: Recorder) -> None:
        """A semaphore's hold time runs per permit, from its acquire to its release."""
        sem = primitive("semaphore")
        recorder.handle(acquired(sem, thread=1, at=0))
        recorder.handle(acquired(sem, thread=2, at=1 * MS))
        recorder.handle(released(sem, thread=2, permits=1, at=3 * MS))
        recorder.handle(released(sem, thread=1, permits=1, at=10 * MS))
        s = stats_of(recorder, sem)
        assert 2 == s.holds
        assert 0.010 == pytest.approx(s.max_hold_s)

    def test_errors(self, recorder: Recorder) -> None:
        """Failed operations are counted as errors."""
        lock = primitive("lock")
        recorder.handle(event(lock, "acquire", "error"))
        assert 1 == stats_of(recorder, lock).errors


class TestSignals:
    def test_event(self, recorder: Recorder) -> None:
        """Event waits, the time waited, timeouts and sets."""
        ready = primitive("event", "ready")
        recorder.handle(event(ready, "wait", "set", waited_ns=0))
        recorder.handle(waiting(ready, "wait"))
        recorder.handle(event(ready, "wait", "timeout", waited_ns=20 * MS))
        recorder.handle(event(ready, "set", "set"))
        s = stats_of(recorder, ready)
        assert 2 == s.waits
        assert 1 == s.wait_timeouts
        assert 0.02 == pytest.approx(s.total_waited_s)
        assert 1 == s.sets
        assert {"waits", "wait_timeouts", "total_waited_s", "max_waited_s", "sets"} <= set(
            s.to_dict()
        )
        assert "acquisitions" not in s.to_dict()

    def test_queue(self, recorder: Recorder) -> None:
        """Puts, gets, highest size, time blocked on full and on empty, unfinished tasks."""
        jobs = primitive("queue", "jobs")
        recorder.handle(event(jobs, "put", "put", qsize=1))
        recorder.handle(waiting(jobs, "put"))
        recorder.handle(event(jobs, "put", "put", qsize=2, waited_ns=4 * MS))
        recorder.handle(event(jobs, "put", "full"))
        recorder.handle(event(jobs, "get", "got", qsize=1))
        recorder.handle(event(jobs, "task_done", "done", unfinished=1))
        recorder.handle(event(jobs, "get", "got", qsize=0))
        recorder.handle(event(jobs, "get", "got", qsize=0, waited_ns=6 * MS))
        recorder.handle(event(jobs, "get", "empty"))
        s = stats_of(recorder, jobs)
        assert 2 == s.puts
        assert 3 == s.gets
        assert 2 == s.max_size
        assert 1 == s.full_waits
        assert 0.004 == pytest.approx(s.blocked_full_s)
        assert 0.006 == pytest.approx(s.blocked_empty_s)
        assert 2 == s.rejected
        assert 1 == s.task_done
        assert 1 == s.unfinished

    def test_simple_queue_has_no_unfinished_count(self, recorder: Recorder) -> None:
        """A SimpleQueue has no task_done: its unfinished count is None."""
        simple = primitive("queue", type_name="SimpleQueue")
        recorder.handle(event(simple, "put", "put", qsize=1))
        assert stats_of(recorder, simple).unfinished is None


def test_primitives_past_the_limit_are_pooled_per_site(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the limit, primitives created at one place share one entry."""
    monkeypatch.setattr(_stats, "MAX_PRIMITIVES", 1)
    first = primitive("lock", "first", line=1)
    pooled = [primitive("lock", "many", line=2) for _ in range(3)]
    for prim in [first, *pooled]:
        recorder.handle(acquired(prim))
        recorder.handle(released(prim))
    assert recorder.stats is not None
    summary = {s.name: s for s in recorder.stats.summary()}
    assert 1 == summary["first"].acquisitions
    assert 3 == summary["many"].instances
    assert 3 == summary["many"].acquisitions
    assert 3 == stats_of(recorder, pooled[1]).acquisitions


class TestWithThreads:
    def test_contended_lock(self) -> None:
        """A lock taken while another thread holds it counts as contended, with its wait."""
        with syncscope.record() as rec:
            lock = threading.Lock()
            signals = _Waiting()
            add_sink(signals)
            lock.acquire()
            thread = start_thread(lock_and_release, lock)
            signals.latch.wait()  # the thread is blocked on the lock
            lock.release()
            join(thread)
            quiet = threading.Lock()
            with quiet:
                pass
        assert rec.contended(lock)
        assert not rec.contended(quiet)
        s = rec.stats(lock)
        assert 2 == s.acquisitions
        assert 1 == s.contended
        assert 1 == s.owner_changes
        assert s.max_wait_s > 0

    def test_queue_between_threads(self) -> None:
        """A queue's puts and gets from two threads, and its unfinished count."""
        with syncscope.record() as rec:
            jobs: queue.Queue[int] = queue.Queue()
            for number in range(3):
                jobs.put(number)
            thread = start_thread(get_and_finish, jobs, 2)
            join(thread)
        s = rec.stats("jobs")
        assert (3, 2, 3, 1) == (s.puts, s.gets, s.max_size, s.unfinished)


class _Waiting:
    """A sink whose latch opens at the first "waiting" event."""

    def __init__(self) -> None:
        self.latch = Latch()

    def handle(self, event: object) -> None:
        if getattr(event, "outcome", None) == "waiting":
            self.latch.set()

    def close(self) -> None:
        pass


def lock_and_release(lock: threading.Lock) -> None:
    with lock:
        pass


def get_and_finish(jobs: queue.Queue[int], count: int) -> None:
    for _ in range(count):
        jobs.get(timeout=5)
        jobs.task_done()


class TestRunner:
    def test_long_hold_line(self, tmp_path: Path) -> None:
        """--long-hold-ms: a hold over it is a line naming the lock, the thread and the site."""
        program = script(
            tmp_path,
            """
            import threading, time

            file_lock = threading.Lock()

            def save():
                with file_lock:
                    time.sleep(0.25)  # the program's slow work, under the lock

            worker = threading.Thread(target=save, name="saver")
            worker.start()
            worker.join()
            with file_lock:
                pass
            """,
        )
        result = run_syncscope("--long-hold-ms", "100", str(program))
        assert 0 == result.returncode, result.stderr
        lines = result.stderr.splitlines()
        [slow] = [line for line in lines if " held " in line]
        assert re.fullmatch(
            r"lock file_lock held \d+\.\d ms by saver \(acquired at .*prog\.py:7\)", slow
        ), slow
        # Among the lines, right after the release that ended the hold.
        assert "lock file_lock released by saver" == lines[lines.index(slow) - 1]
        quiet = run_syncscope("-q", "--no-report", "--long-hold-ms", "100", str(program))
        assert quiet.stderr.startswith("syncscope: lock file_lock held ")

    def test_long_wait_line(self, tmp_path: Path) -> None:
        """--long-wait-ms: a wait over it names who held the lock and where they took it."""
        program = script(
            tmp_path,
            """
            import threading, time

            file_lock = threading.Lock()
            taken = threading.Event()

            def hold():
                with file_lock:
                    taken.set()
                    time.sleep(0.25)

            worker = threading.Thread(target=hold, name="holder")
            worker.start()
            taken.wait()
            with file_lock:
                pass
            worker.join()
            """,
        )
        result = run_syncscope("-q", "--long-wait-ms", "100", str(program))
        assert 0 == result.returncode, result.stderr
        [slow] = [line for line in result.stderr.splitlines() if line.startswith("syncscope: ")]
        assert re.fullmatch(
            r"syncscope: lock file_lock waited \d+\.\d ms by MainThread at .*prog\.py:15 "
            r"\(held by holder, acquired at .*prog\.py:8\)",
            slow,
        ), slow
        assert "Slow spots (1):" in result.stderr
