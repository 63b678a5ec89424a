"""The report: the terminal table and the JSON, from the recorder's figures and findings."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncscope._sinks.findings import Ref, SlowSpot
from syncscope._sinks.recorder import DiagnosisOptions, Recorder
from syncscope.report import FORMAT, Report

from .conftest import REPO, run_syncscope
from .support.events import FILE, acquired, event, primitive, released, waiting
from .support.process import script


MS = 1_000_000


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(DiagnosisOptions(stats=True, detect_deadlocks=True, echo=False))
    yield rec
    rec.close()


def busy_run(rec: Recorder) -> None:
    """A hot lock, two quiet ones, an inversion between the quiet ones, a queue, an event."""
    hot = primitive("lock", "hot_lock", line=3)
    quiet_a, quiet_b = primitive("lock", "quiet_a", line=4), primitive("lock", "quiet_b", line=5)
    clock = 0
    for thread in (1, 2, 3, 4):
        rec.handle(waiting(hot, thread=thread, line=30, at=clock))
        clock += 10 * MS
        rec.handle(acquired(hot, thread=thread, line=30, waited_ns=10 * MS, at=clock))
        rec.handle(released(hot, thread=thread, at=clock + MS))
    for outer, inner, thread in ((quiet_a, quiet_b, 5), (quiet_b, quiet_a, 6)):
        rec.handle(acquired(outer, thread=thread, line=40))
        rec.handle(acquired(inner, thread=thread, line=41))
        rec.handle(released(inner, thread=thread))
        rec.handle(released(outer, thread=thread))
    jobs = primitive("queue", "jobs", line=6)
    rec.handle(event(jobs, "put", "put", qsize=1))
    rec.handle(event(jobs, "get", "got", waited_ns=3 * MS))
    ready = primitive("event", "ready", line=7)
    rec.handle(event(ready, "wait", "woken", waited_ns=2 * MS))
    rec.handle(event(ready, "set", "set"))


class TestText:
    def test_hot_lock_tops_the_table(self, recorder: Recorder) -> None:
        """The most waited-for lock comes first, with its figures and where it was waited on."""
        busy_run(recorder)
        text = Report.of(recorder).text()
        lines = text.splitlines()
        start = lines.index("Locks, by time spent waiting for them:")
        header, first_row, note = lines[start + 1 : start + 4]
        for column in ("name", "kind", "created at", "acquired", "contended", "p99 wait"):
            assert column in header
        assert first_row.split()[:2] == ["hot_lock", "lock"]
        assert "app.py:3" in first_row
        assert "100.0%" in first_row
        assert "40.0 ms" in first_row  # total wait
        assert "most waited at" in note
        assert ":30 in work: 4 of 4 waits" in note

    def test_headline_and_sections(self, recorder: Recorder) -> None:
        """The headline counts the findings; each kind of primitive has its table."""
        busy_run(recorder)
        recorder._slow(
            SlowSpot(
                "hold", Ref.of(primitive("lock", "file_lock")), "T2", (FILE, 12, "f"), 250 * MS
            )
        )
        text = Report.of(recorder).text()
        assert text.startswith("syncscope report: ")
        assert (
            "5 primitives used; 1 lock-order inversion, no deadlock, no hang, 1 slow spot" in text
        )
        assert "Queues (" in text
        assert "Waiting for a signal (" in text
        assert "Lock-order inversions (1):" in text
        assert (
            "  possible deadlock: lock-order inversion between lock quiet_a and lock quiet_b"
            in text
        )
        assert "Slow spots (1):" in text
        assert "lock file_lock held 250.0 ms by T2 (acquired at /src/app.py:12)" in text

    def test_long_tables_are_cut(self, recorder: Recorder) -> None:
        """Past the top rows, a line says how many more there are."""
        for line in range(20):
            lock = primitive("lock", f"lock{line}", line=line + 100)
            recorder.handle(acquired(lock))
            recorder.handle(released(lock))
        text = Report.of(recorder).text(top=5)
        assert "  ... and 15 more (none contended)" in text

    def test_nothing_used(self, recorder: Recorder) -> None:
        """A run that used no primitive says so in one line."""
        assert 1 == len(Report.of(recorder).text().splitlines())
        assert "no primitive used" in Report.of(recorder).text()


class TestJson:
    def test_fields(self, recorder: Recorder) -> None:
        """The JSON has the format, a summary, the primitives (costliest first), the findings."""
        busy_run(recorder)
        data = json.loads(Report.of(recorder).to_json())
        assert FORMAT == data["format"]
        assert {
            "primitives": 5,
            "contended": 1,
            "inversions": 1,
            "guarded_inversions": 0,
            "deadlocks": 0,
            "hangs": 0,
            "slow": 0,
        } == data["summary"]
        hot = data["primitives"][0]
        assert "hot_lock" == hot["name"]
        assert f"{FILE}:3" == hot["created_at"]
        assert 4 == hot["contended"]
        assert 1.0 == hot["contended_ratio"]
        assert 0.04 == pytest.approx(hot["total_wait_s"])
        assert 30 == hot["sites"][0]["line"]
        [inversion] = data["inversions"]
        assert ["quiet_a", "quiet_b"] == [lock["name"] for lock in inversion["locks"]]
        assert 40 == inversion["edges"][0]["held_taken_at"]["line"]
        queue = next(p for p in data["primitives"] if p["name"] == "jobs")
        assert {"puts", "gets", "max_size", "blocked_empty_s", "unfinished"} <= set(queue)

    def test_written_at_close(self, tmp_path: Path) -> None:
        """report_json is created at once (a bad path fails early) and written at close."""
        path = tmp_path / "report.json"
        rec = Recorder(DiagnosisOptions(report_json=str(path), detect_deadlocks=False))
        assert path.exists()
        busy_run(rec)
        rec.close()
        assert 5 == json.loads(path.read_text())["summary"]["primitives"]
        with pytest.raises(OSError):
            Recorder(DiagnosisOptions(report_json=str(tmp_path / "no" / "such.json")))


HOT_LOCK = """
    import threading, time

    hot_lock = threading.Lock()
    quiet_a = threading.Lock()
    quiet_b = threading.RLock()
    start = threading.Barrier(4)

    def work():
        start.wait()
        for _ in range(40):
            with hot_lock:
                time.sleep(0.0005)  # the program's work, done while holding the lock

    with quiet_a:
        pass
    with quiet_b:
        pass
    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
"""


UNIQUE_QUEUE = """
    import queue

    class Unique(queue.Queue):
        def _init(self, maxsize):
            self.queue = set()

        def _qsize(self):
            return len(self.queue)

        def _put(self, item):
            self.queue.add(item)

        def _get(self):
            return self.queue.pop()

    jobs = queue.Queue()
    unique = Unique()
    for number in (1, 2, 3):
        jobs.put(number)
        unique.put(number)
    for _ in range(3):
        jobs.get()
        unique.get()
    idle = queue.Queue()
    try:
        idle.get_nowait()
    except queue.Empty:
        pass
"""


class TestRunner:
    def test_hot_lock_tops_the_exit_report(self, tmp_path: Path) -> None:
        """-q: the report is on by default, and the one hot lock among quiet ones tops it."""
        program = script(tmp_path, HOT_LOCK)
        result = run_syncscope("-q", str(program))
        assert 0 == result.returncode, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0].startswith("syncscope report: ")
        assert "no lock-order inversion, no deadlock, no hang" in lines[0]
        start = lines.index("Locks, by time spent waiting for them:")
        first_row = lines[start + 2]
        assert ["hot_lock", "lock"] == first_row.split()[:2]
        assert "prog.py:4" in first_row
        assert "160" in first_row  # acquisitions
        assert "most waited at" in lines[start + 3]
        assert "prog.py:12 in work" in lines[start + 3]
        rows = [line.split()[0] for line in lines[start + 2 :] if line.startswith("  q")]
        assert {"quiet_a", "quiet_b"} == set(rows)

    def test_futures_waited_for_are_in_both_reports(self, tmp_path: Path) -> None:
        """
        A Future's waits are listed under the waits for a signal, in the text as in the
        JSON: one that timed out (counted as a timeout, not a failure), and one still in
        progress at exit (a daemon thread in ``result()``), which the text used to leave out.
        A Future made by the program itself is named ``future``, at its first wait.
        """
        program = script(
            tmp_path,
            """
            import concurrent.futures, sys, threading, time
            never = concurrent.futures.Future()
            try:
                never.result(timeout=0.01)
            except TimeoutError:
                pass
            waiter = threading.Thread(target=never.result, daemon=True)
            waiter.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until it waits inside result()
                frame = sys._current_frames().get(waiter.ident)
                names = set()
                while frame is not None:
                    names.add(frame.f_code.co_name)
                    frame = frame.f_back
                if "wait" in names:
                    break
                time.sleep(0.001)
            print("waiting" if "wait" in names else "never waited")
            """,
        )
        out = tmp_path / "report.json"
        result = run_syncscope("-q", "--report-json", str(out), str(program))
        assert (0, "waiting\n") == (result.returncode, result.stdout), result.stderr
        lines = result.stderr.splitlines()
        start = lines.index(
            "Waiting for a signal (Condition.wait, Event.wait, Barrier.wait, Future.result):"
        )
        row = lines[start + 2].split()
        assert ["future", "future", "1", "1"] == [row[0], row[1], row[3], row[4]], result.stderr
        assert row[2].endswith("prog.py:5"), result.stderr
        assert lines[start + 3].startswith("    1 wait still in progress at exit"), result.stderr
        (figures,) = [p for p in json.loads(out.read_text())["primitives"] if p["kind"] == "future"]
        assert (1, 1, 1) == (
            figures["waits"],
            figures["wait_timeouts"],
            figures["signal_waits_in_progress"],
        )
        assert figures["total_waited_s"] > 0

    def test_a_wait_is_not_where_a_lock_was_taken(self, tmp_path: Path) -> None:
        """
        A Condition held across its wait: "mostly taken at" names a with, or, under -q
        (which does not look up an uncontended acquire's site), nothing; never the wait.
        """
        program = script(
            tmp_path,
            """
            import threading
            cond = threading.Condition()
            waiting = threading.Event()
            ready = []
            def notifier():
                waiting.wait(5)
                with cond:
                    ready.append(1)
                    cond.notify()
            thread = threading.Thread(target=notifier)
            thread.start()
            with cond:  # line 13
                waiting.set()
                while not ready:
                    cond.wait(5)  # line 16
            thread.join(5)
            """,
        )
        for args in (["-q"], ["-o", os.devnull, "--report"]):
            result = run_syncscope(*args, str(program))
            assert 0 == result.returncode, result.stderr
            taken = [line for line in result.stderr.splitlines() if "mostly taken at" in line]
            assert "prog.py:16" not in "".join(taken), result.stderr
            if "-q" not in args:
                # One of the two withs, whichever held it longer (the timing decides).
                assert 1 == len(taken), result.stderr
                assert taken[0].endswith(("prog.py:13 in <module>", "prog.py:8 in notifier")), (
                    result.stderr
                )

    def test_report_switches(self, tmp_path: Path) -> None:
        """No report with lines (unless --report); none with -q --no-report."""
        program = script(tmp_path, "import threading\nwith threading.Lock():\n    pass\n")
        assert "syncscope report" not in run_syncscope(str(program)).stderr
        assert "syncscope report" in run_syncscope("--report", str(program)).stderr
        assert "" == run_syncscope("-q", "--no-report", str(program)).stderr

    def test_report_json(self, tmp_path: Path) -> None:
        """--report-json writes the JSON report at exit."""
        program = script(tmp_path, HOT_LOCK)
        out = tmp_path / "report.json"
        result = run_syncscope("-q", "--no-report", "--report-json", str(out), str(program))
        assert 0 == result.returncode, result.stderr
        data = json.loads(out.read_text())
        assert "hot_lock" == data["primitives"][0]["name"]
        assert data["primitives"][0]["contended"] > 0
        assert str(program) + ":4" == data["primitives"][0]["created_at"]

    def test_a_size_never_read_is_not_said_to_be_zero(self, tmp_path: Path) -> None:
        """
        A queue whose size only its own code tells (a ``_qsize`` of its own, which syncscope
        does not run) has no largest size to report: "-" in the table, none in the JSON,
        where a standard queue beside it says how full it got.
        """
        program = script(tmp_path, UNIQUE_QUEUE)
        out = tmp_path / "report.json"
        result = run_syncscope("-q", "--report-json", str(out), str(program))
        assert 0 == result.returncode, result.stderr
        queues = {p["name"]: p for p in json.loads(out.read_text())["primitives"]}
        assert 3 == queues["jobs"]["max_size"]
        assert 3 == queues["unique"]["puts"]
        assert "max_size" not in queues["unique"]
        assert 0 == queues["idle"]["max_size"]  # nothing put: empty, as made
        lines = result.stderr.splitlines()
        start = lines.index(next(line for line in lines if line.startswith("Queues ")))
        assert ["name", "type", "created", "at", "puts", "gets", "max", "size"] == (
            lines[start + 1].split()[:8]
        )
        rows = {}
        for line in lines[start + 2 :]:
            if not line.startswith("  "):
                break
            rows[line.split()[0]] = line.split()[3:6]  # puts, gets, max size
        assert {"jobs": ["3", "3", "3"], "unique": ["3", "3", "-"], "idle": ["0", "0", "0"]} == rows

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--deadlock-exit=0"], "expected an exit status from 1 to 255, got '0'"),
            (["--deadlock-exit=x"], "expected an exit status from 1 to 255"),
            (["--hang-timeout", "-1"], "expected seconds from 0 to 3600"),
            (["--long-hold-ms", "0"], "expected milliseconds > 0, got '0'"),
            (["--long-wait-ms", "soon"], "expected milliseconds > 0, got 'soon'"),
            (["--report-json", "/nonexistent/dir/r.json"], "cannot write to '/nonexistent/dir"),
            (["--no-deadlock-detection", "--deadlock-exit"], "cannot be used with"),
            (["--no-deadlock-detection", "--hang-timeout", "2"], "cannot be used with"),
        ],
    )
    def test_bad_values(self, args: list[str], message: str) -> None:
        """Every bad diagnosis value is a one-line error with exit status 2."""
        result = run_syncscope(*args, "-c", "pass")
        assert 2 == result.returncode
        assert 1 == len(result.stderr.splitlines()), result.stderr
        assert message in result.stderr

    def test_help_has_the_diagnosis_group(self) -> None:
        """--help lists the diagnosis options."""
        out = run_syncscope("--help").stdout
        for option in (
            "--report",
            "--report-json",
            "--deadlock-exit",
            "--hang-timeout",
            "--long-hold-ms",
            "--long-wait-ms",
            "--no-deadlock-detection",
        ):
            assert option in out


POOL_PIPELINE = """
    import concurrent.futures, queue, threading

    results = queue.Queue(maxsize=4)
    cache_lock = threading.RLock()
    total_lock = threading.Lock()
    cache = {}
    done = threading.Event()
    changed = threading.Condition()
    totals = [0, 0]

    def square(n):
        with cache_lock:
            with cache_lock:
                cache[n] = n * n
        with total_lock:
            totals[0] += 1
        return n * n

    def consume():
        while True:
            item = results.get()
            if item is None:
                results.task_done()
                break
            with changed:
                totals[1] += item
                changed.notify_all()
            results.task_done()
        done.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for value in pool.map(square, range(300)):
            with cache_lock:
                with total_lock:
                    pass
            results.put(value)
    results.put(None)
    results.join()
    done.wait()
    consumer.join()
    print(totals)
"""


def test_nothing_false_on_clean_programs(tmp_path: Path) -> None:
    """The examples and a thread-pool pipeline: no inversion, deadlock, hang or error."""
    programs = sorted(
        str(path)
        for path in (REPO / "examples").glob("*.py")
        # Their inversion and deadlock are the point (see test_lockorder and test_readme).
        if path.name not in {"deadlock_order.py", "deadlock.py"}
    )
    programs.append(str(script(tmp_path, POOL_PIPELINE)))
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    env.pop("PYTHONPATH", None)
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "syncscope", "-q", "--hang-timeout", "1", program],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
            env=env,
        )
        for program in programs
    ]
    for program, process in zip(programs, running, strict=True):
        _, err = process.communicate(timeout=60)
        assert 0 == process.returncode, (program, err)
        lines = err.splitlines()
        assert lines[0].startswith("syncscope report: "), (program, err)
        assert lines[0].endswith("; no lock-order inversion, no deadlock, no hang"), (program, err)
        assert not [line for line in lines if line.startswith("syncscope: ")], (program, err)


class TestWhoMadeOthersWait:
    def test_holders_and_longest_holds(self, recorder: Recorder) -> None:
        """Each lock names the holders its waits waited for, and its longest holds."""
        lock = primitive("lock", "db_lock", line=3)
        recorder.handle(acquired(lock, thread=1, line=40, at=1_000_000_000))
        recorder.handle(waiting(lock, thread=2, line=50, at=1_100_000_000))
        recorder.handle(released(lock, thread=1, at=3_000_000_000))
        recorder.handle(
            acquired(lock, thread=2, line=50, waited_ns=1_900_000_000, at=3_000_000_000)
        )
        recorder.handle(released(lock, thread=2, at=3_001_000_000))
        [figures] = Report.of(recorder).primitives
        [holder] = figures.made_wait
        assert ("T1", 40, 1, 1.9) == (holder.thread, holder.line, holder.waits, holder.total_wait_s)
        assert "T1" == figures.longest_holds[0].thread
        assert 2.0 == figures.longest_holds[0].max_s
        text = Report.of(recorder).text()
        assert 'made others wait: "T1", holding it from ' in text
        assert f"{FILE}:40 in work: 1 wait, 1.90 s in all" in text
        assert 'longest holds: 2.00 s by "T1"' in text
        assert "T1" == Report.of(recorder).to_dict()["primitives"][0]["made_wait"][0]["thread"]

    def test_waits_in_progress_are_counted(self, recorder: Recorder) -> None:
        """Waits still blocked when the report is made (a deadlock's exit) are counted."""
        lock = primitive("lock", "stuck_lock", line=3)
        recorder.handle(acquired(lock, thread=1, line=40))
        recorder.handle(waiting(lock, thread=2, line=50))
        [figures] = Report.of(recorder).primitives
        assert 1 == figures.in_progress
        assert "1 wait still in progress at exit, the longest for " in Report.of(recorder).text()

    def test_a_deadlocked_lock_tops_the_table(self, recorder: Recorder) -> None:
        """Locks come by time spent waiting for them, and a wait still in progress (a
        deadlock's) has waited so far: its lock comes before one whose waits all ended
        sooner, and a table cut short keeps it."""
        busy_run(recorder)  # hot_lock: 40 ms waited, all the waits over
        contended = Report.of(recorder).to_dict()["summary"]["contended"]
        stuck = primitive("lock", "stuck_lock", line=8)
        now = time.time_ns()
        recorder.handle(acquired(stuck, thread=7, line=60, at=now - 200 * MS))
        recorder.handle(waiting(stuck, thread=8, line=61, at=now - 100 * MS))
        text = Report.of(recorder).text(top=1)
        lines = text.splitlines()
        start = lines.index("Locks, by time spent waiting for them:")
        row, note = lines[start + 2 : start + 4]
        assert row.split()[:2] == ["stuck_lock", "lock"], text
        assert note.startswith("    1 wait still in progress at exit, the longest for "), text
        assert "hot_lock" not in text.split("Waiting for a signal")[0], text
        data = Report.of(recorder).to_dict()
        assert ["stuck_lock", "hot_lock"] == [p["name"] for p in data["primitives"][:2]]
        assert contended + 1 == data["summary"]["contended"]  # waited for, though no wait ended

    def test_signal_waits_in_progress_are_not_lock_waits(self, recorder: Recorder) -> None:
        """A thread still waiting for a notify or a set at exit (a hang) is said under the
        waits for a signal, not as a wait for the Condition's lock; an Event that no wait
        ever ended is listed there too."""
        cond = primitive("condition", "cond", line=3)
        ready = primitive("event", "ready", line=4)
        now = time.time_ns()
        recorder.handle(acquired(cond, thread=1, line=20, at=now - 50 * MS))
        recorder.handle(waiting(cond, "wait", thread=1, line=21, at=now - 40 * MS))
        recorder.handle(waiting(ready, "wait", thread=2, line=30, at=now - 30 * MS))
        report = Report.of(recorder)
        text = report.text()
        locks, signals = text.split(
            "Waiting for a signal (Condition.wait, Event.wait, Barrier.wait, Future.result):"
        )
        assert "cond" in locks and "still in progress" not in locks, text
        rows = signals.strip().splitlines()
        assert [rows[1].split()[0], rows[3].split()[0]] == ["cond", "ready"], text
        for note in (rows[2], rows[4]):
            assert note.startswith("    1 wait still in progress at exit, the longest for "), text
        figures = {p.name: p for p in report.primitives}
        assert (0, 1) == (figures["cond"].in_progress, figures["cond"].signal_waits_in_progress)
        assert figures["cond"].signal_waits_in_progress_max_s >= 0.04
        assert 1 == report.to_dict()["primitives"][0]["signal_waits_in_progress"]

    def test_an_idle_consumer_is_no_contention_but_a_stuck_producer_is(
        self, recorder: Recorder
    ) -> None:
        """A worker blocked in get() at exit is idle: its queue neither ranks first nor counts
        as contended. A producer blocked in put() on a queue that stays full is stuck, as a
        deadlocked lock's waiter is: it does both. A Queue.join() still waiting is said too."""
        busy_run(recorder)
        before = Report.of(recorder).to_dict()["summary"]["contended"]
        idle = primitive("queue", "idle_jobs", line=9)
        full = primitive("queue", "full_pipe", line=10)
        tasks = primitive("queue", "tasks", line=11)
        now = time.time_ns()
        recorder.handle(waiting(idle, "get", thread=7, line=70, at=now - 900 * MS))
        recorder.handle(event(full, "put", "put", qsize=1, at=now - 800 * MS))
        recorder.handle(waiting(full, "put", thread=8, line=71, at=now - 700 * MS))
        recorder.handle(event(tasks, "put", "put", qsize=1, at=now - 400 * MS))
        recorder.handle(waiting(tasks, "join", thread=9, line=72, at=now - 300 * MS))
        report = Report.of(recorder)
        data = report.to_dict()
        assert before + 1 == data["summary"]["contended"]
        assert ["full_pipe", "hot_lock"] == [p["name"] for p in data["primitives"][:2]]
        queues = report.text().split("Queues (")[1].splitlines()
        notes = {
            line.split()[0]: queues[i + 1]
            for i, line in enumerate(queues[:-1])
            if line.startswith("  ") and not line.startswith("    ")
        }
        assert notes["full_pipe"].startswith("    1 put still in progress at exit"), queues
        assert notes["tasks"].startswith("    1 join still in progress at exit"), queues
        assert "still in progress" not in notes.get("idle_jobs", ""), queues


class TestCollectorAtExit:
    """
    The exit report sums up every primitive with the cyclic collector off (a burst of
    allocations in a big heap starts full collections); the program's setting comes back.
    """

    @pytest.mark.parametrize("collecting", [True, False])
    def test_the_programs_setting_is_kept(self, tmp_path: Path, collecting: bool) -> None:
        out = tmp_path / "report.json"
        rec = Recorder(DiagnosisOptions(report_json=str(out), echo=False))
        was = gc.isenabled()
        try:
            busy_run(rec)
            if not collecting:
                gc.disable()
            rec.close()
            assert collecting == gc.isenabled()
        finally:
            if was:
                gc.enable()
        assert 5 == json.loads(out.read_text())["summary"]["primitives"]


class TestJsonAlwaysWritten:
    def test_program_ending_with_os_exit(self, tmp_path: Path) -> None:
        """--report-json: a valid report even when the program ends with os._exit()."""
        program = script(
            tmp_path,
            """
            import os, threading
            lock = threading.Lock()
            with lock:
                pass
            os._exit(0)
            """,
        )
        out = tmp_path / "report.json"
        result = run_syncscope("-q", "--report-json", str(out), str(program))
        assert 0 == result.returncode, result.stderr
        data = json.loads(out.read_text())
        assert 0 == data["summary"]["deadlocks"]
