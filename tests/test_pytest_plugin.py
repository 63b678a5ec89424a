"""The pytest plugin, tried on small suites of its own in a separate pytest process."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pytest

from .conftest import run_syncscope


pytest_plugins = ["pytester"]


def _plugin() -> list[str]:
    """Load the plugin by name unless the installed entry point loads it already."""
    installed = importlib.metadata.entry_points(group="pytest11", name="syncscope")
    return [] if installed else ["-p", "syncscope.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin(), "-p", "no:cacheprovider", *args, timeout=110)


INVERSION_SUITE = """
    import threading

    cache_lock = threading.Lock()
    store_lock = threading.Lock()

    def test_reads():
        with cache_lock:
            with store_lock:
                pass

    def test_writes():
        with store_lock:
            with cache_lock:
                pass

    def test_unrelated():
        pass
"""


def test_does_nothing_without_the_option(pytester: pytest.Pytester) -> None:
    """Without --syncscope: nothing patched, no diagnosis imported, no summary."""
    pytester.makepyfile(
        """
        import sys
        import threading

        import syncscope

        def test_untouched():
            assert threading.Lock is syncscope.get_original("threading", "Lock")
            assert "syncscope._sinks.recorder" not in sys.modules
            assert "structlog" not in sys.modules
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "= syncscope =" not in result.stdout.str()


def test_summary(pytester: pytest.Pytester) -> None:
    """--syncscope instruments the test files and summarises contention and findings."""
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, "--syncscope")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*= syncscope =*",
            "syncscope report: *, 2 primitives used; 1 lock-order inversion, no deadlock, no hang",
            "Locks, by time spent waiting for them:",
            "*cache_lock*lock*test_summary.py:3*",
            "Lock-order inversions (1):",
            "*lock-order inversion between lock cache_lock and lock store_lock",
        ]
    )


def test_fail_on_inversion(pytester: pytest.Pytester) -> None:
    """--syncscope-fail-on-inversion fails the test in which the inversion appeared."""
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, "--syncscope-fail-on-inversion")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_writes _*",
            "syncscope: possible deadlock: lock-order inversion between lock cache_lock *",
            "*MainThread took lock store_lock at *test_fail_on_inversion.py:12 in test_writes*",
            "FAILED *::test_writes - syncscope: possible deadlock*",
        ]
    )


DEADLOCK_SUITE = """
    import threading

    def test_deadlocks():
        left = threading.Lock()
        right = threading.Lock()
        both = threading.Barrier(2)

        def cross(first, second):
            with first:
                both.wait(timeout=5)
                with second:
                    pass

        threads = [
            threading.Thread(target=cross, args=(left, right), daemon=True),
            threading.Thread(target=cross, args=(right, left), daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=0.3)  # they deadlock: go on without them

    def test_fine():
        pass
"""


@pytest.mark.parametrize(
    "timeout",
    [
        pytest.param([], id="alone"),
        # Its timer thread waits with a timeout: no thread of the program's, all the same.
        pytest.param(["--timeout=60", "--timeout-method=thread"], id="pytest-timeout-thread"),
    ],
)
def test_fail_on_deadlock(pytester: pytest.Pytester, timeout: list[str]) -> None:
    """--syncscope-fail-on-deadlock fails a test whose threads deadlocked (it got past them)."""
    pytester.makepyfile(DEADLOCK_SUITE)
    result = run(pytester, "--syncscope-fail-on-deadlock", *timeout)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "syncscope: deadlock: 2 threads wait for each other and will never go on",
            "syncscope: found during",
            "  *::test_deadlocks: deadlock: 2 threads wait for each other and will never go on",
            "FAILED *::test_deadlocks - syncscope: deadlock*",
        ]
    )


#: A test that finds an inversion and reads its own standard error, expecting nothing there.
READS_ITS_STDERR = """
    import threading

    def test_both_orders(capfd):
        a, b = threading.Lock(), threading.Lock()

        def take(first, second):
            with first:
                with second:
                    pass

        for args in ((a, b), (b, a)):
            thread = threading.Thread(target=take, args=args)
            thread.start()
            thread.join(10)
        assert capfd.readouterr().err == ""
"""


def test_findings_stay_out_of_the_tests_own_output(pytester: pytest.Pytester) -> None:
    """
    A finding is not written into the test's captured output (a test that reads its
    standard error passes as without syncscope); the summary has it in full.
    """
    pytester.makepyfile(READS_ITS_STDERR)
    result = run(pytester, "--syncscope")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "Lock-order inversions (1):",
            "  possible deadlock: lock-order inversion between lock a and lock b",
            "    (these orders form a cycle: *",
        ]
    )


@pytest.mark.parametrize("no_capture", [["-s"], ["--capture=no"]], ids=["-s", "capture-no"])
def test_with_capture_off_findings_are_written_when_found(
    pytester: pytest.Pytester, no_capture: list[str]
) -> None:
    """Nothing captures the tests' output: each finding is also written when found."""
    pytester.makepyfile(READS_ITS_STDERR.replace('assert capfd.readouterr().err == ""', ""))
    result = run(pytester, "--syncscope", *no_capture)
    result.assert_outcomes(passed=1)
    live = "syncscope: possible deadlock: lock-order inversion between lock a and lock b"
    assert live in result.stderr.str()


def test_under_the_runner_a_captured_finding_is_in_the_report_in_full(tmp_path: Path) -> None:
    """
    ``python -m syncscope -q -m pytest``: a finding written when found went into pytest's
    capture of the test; the exit report, written where pytest's capture does not reach,
    has it in full rather than pointing back to it.
    """
    (tmp_path / "test_it.py").write_text(textwrap.dedent(READS_ITS_STDERR))
    result = run_syncscope("-q", "-m", "pytest", "-p", "no:cacheprovider", cwd=tmp_path)
    report = result.stderr[result.stderr.index("syncscope report:") :]
    assert "(written in full when found)" not in report, report
    assert "(these orders form a cycle: threads running them" in report, report


def test_under_the_runner_a_finding_goes_where_the_runner_started_not_into_the_capture(
    tmp_path: Path,
) -> None:
    """
    ``python -m syncscope -q -m pytest 2> FILE``: a finding made while pytest captures the
    test's fd 2 is written to the standard error syncscope started with, when found, not
    into the capture: the test that reads its own standard error passes as without
    syncscope, and the report points back to it.
    """
    (tmp_path / "test_it.py").write_text(textwrap.dedent(READS_ITS_STDERR))
    stderr_file = tmp_path / "stderr.txt"
    result = run_syncscope(
        "-q", "-m", "pytest", "-p", "no:cacheprovider", cwd=tmp_path, stderr_to=stderr_file
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    live = "syncscope: possible deadlock: lock-order inversion between lock a and lock b"
    assert 1 == result.stderr.count(live), result.stderr
    report = result.stderr[result.stderr.index("syncscope report:") :]
    assert live not in report, report  # written once, when found
    assert "(written in full when found)" in report, report


def test_a_deadlock_found_after_the_summary_is_said(pytester: pytest.Pytester) -> None:
    """
    Threads a test left behind deadlock once the summary is written: the session's last
    look finds the cycle, and says it (the summary could not).
    """
    pytester.makeconftest(
        """
        import sys, time
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_unconfigure(config):
            import test_left_behind as suite
            suite.go.set()  # the summary is written: now they deadlock
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                frames = sys._current_frames()
                tops = [frames.get(t.ident) for t in suite.threads]
                inside = [f is not None and "syncscope" in f.f_code.co_filename for f in tops]
                if len(suite.passed) == 2 and all(inside):
                    return  # both past the barrier, blocked in their second acquire
                time.sleep(0.01)
        """
    )
    pytester.makepyfile(
        test_left_behind="""
        import threading

        go = threading.Event()
        both = threading.Barrier(2)
        threads = []
        passed = []

        def one(first, second):
            go.wait()
            with first:
                both.wait()
                passed.append(1)
                with second:
                    pass

        def test_leaves_threads_behind():
            a, b = threading.Lock(), threading.Lock()
            for pair in ((a, b), (b, a)):
                thread = threading.Thread(target=one, args=pair, daemon=True)
                threads.append(thread)
                thread.start()
        """
    )
    result = run(pytester, "--syncscope")
    result.assert_outcomes(passed=1)
    assert "syncscope: deadlock: 2 threads wait for each other" in result.stderr.str()


def test_max_wait(pytester: pytest.Pytester) -> None:
    """--syncscope-max-wait-ms fails a test that waited longer than that for a lock."""
    pytester.makepyfile(
        """
        import threading
        import time

        def test_slow_lock():
            lock = threading.Lock()
            taken = threading.Event()

            def hold():
                with lock:
                    taken.set()
                    time.sleep(0.2)

            thread = threading.Thread(target=hold)
            thread.start()
            taken.wait(timeout=5)
            with lock:
                pass
            thread.join(timeout=5)

        def test_quick_lock():
            with threading.Lock():
                pass
        """
    )
    result = run(pytester, "--syncscope-max-wait-ms=50")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "syncscope: wait over the limit: lock waited * ms by MainThread at "
            "test_max_wait.py:16 (held by Thread-1 (hold), acquired at test_max_wait.py:9)",
            "FAILED *::test_slow_lock - syncscope: wait over the limit*",
        ]
    )


def test_max_wait_after_many_slow_spots(pytester: pytest.Pytester) -> None:
    """A long wait fails its test however many the tests before it had (the report keeps 1000)."""
    pytester.makepyfile(
        """
        import threading

        def timed_out_acquires(count):
            lock = threading.Lock()
            with lock:
                for _ in range(count):
                    assert not lock.acquire(timeout=0.001)  # waits 1 ms, then gives up

        def test_many():
            timed_out_acquires(1100)

        def test_one_more():
            timed_out_acquires(1)

        def test_none():
            pass
        """
    )
    result = run(pytester, "--syncscope-max-wait-ms=0.5")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["FAILED *::test_one_more - syncscope: wai*"])


def test_ini_options(pytester: pytest.Pytester) -> None:
    """The ini options do what the command-line ones do."""
    pytester.makeini("[pytest]\nsyncscope = true\nsyncscope_fail_on_inversion = true\n")
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*= syncscope =*"])


def test_bad_max_wait(pytester: pytest.Pytester) -> None:
    """A bad threshold in the ini file is a usage error."""
    pytester.makeini("[pytest]\nsyncscope_max_wait_ms = soon\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*syncscope: max wait must be milliseconds > 0, got 'soon'*"])


@pytest.mark.parametrize("option", [[], ["--syncscope"]])
def test_recorder_fixture(pytester: pytest.Pytester, option: list[str]) -> None:
    """syncscope_recorder records the test it is used in, with or without --syncscope."""
    pytester.makepyfile(
        """
        import threading

        def test_first(syncscope_recorder):
            lock = threading.Lock()
            for _ in range(3):
                with lock:
                    pass
            assert 3 == syncscope_recorder.stats(lock).acquisitions
            assert not syncscope_recorder.contended(lock)
            assert [] == syncscope_recorder.inversions

        def test_second(syncscope_recorder):
            assert [] == syncscope_recorder.primitives()
        """
    )
    result = run(pytester, *option)
    result.assert_outcomes(passed=2)


DEADLOCK_SEEN_AT_ONCE = """
    import _thread
    import threading

    from syncscope._core.state import config_lock, set_sinks, state


    class Blocked:
        \"\"\"Opens its latch once two acquires have started to wait.\"\"\"

        def __init__(self):
            self.left = 2
            self.latch = _thread.allocate_lock()  # not watched
            self.latch.acquire()

        def handle(self, event):
            if event.outcome == "waiting" and event.op == "acquire":
                self.left -= 1
                if self.left == 0:
                    self.latch.release()

        def close(self):
            pass


    def test_deadlock_seen_at_once(syncscope_recorder):
        blocked = Blocked()
        with config_lock:
            set_sinks((*state.sinks, blocked))
        left, right = threading.Lock(), threading.Lock()
        both = threading.Barrier(2)

        def cross(first, second):
            first.acquire()
            both.wait(timeout=5)
            second.acquire()  # never: they deadlock

        for pair in ((left, right), (right, left)):
            threading.Thread(target=cross, args=pair, daemon=True).start()
        assert blocked.latch.acquire(timeout=30)
        syncscope_recorder.check_deadlocks()
        assert 1 == len(syncscope_recorder.deadlocks)
"""


@pytest.mark.parametrize(
    "runner",
    [["-n", "2"], ["--timeout=60", "--timeout-method=thread"], []],
    ids=["-n 2", "pytest-timeout", "alone"],
)
def test_runner_threads_left_out(pytester: pytest.Pytester, runner: list[str]) -> None:
    """
    The fixture's check_deadlocks() finds a deadlock through Locks at once beside the test
    runner's own threads, as without them: in a pytest-xdist worker execnet's receiver
    (blocked reading the controller's messages), pytest-timeout's timer. Neither is a thread
    of the test that runs and may still release a Lock (which would earn the grace period).
    """
    if "-n" in runner:
        pytest.importorskip("xdist")
    pytester.makepyfile(DEADLOCK_SEEN_AT_ONCE)
    result = run(pytester, *runner)
    result.assert_outcomes(passed=1)


def test_summary_names_the_test_of_each_finding(pytester: pytest.Pytester) -> None:
    """Without any fail-on option, the summary still says during which test it was found."""
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, "--syncscope")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "syncscope: found during",
            "  test_summary_names_the_test_of_each_finding.py::test_writes: inversion: "
            "*lock-order inversion between lock cache_lock and lock store_lock*",
        ]
    )


def test_timeline_and_html_of_the_session(pytester: pytest.Pytester) -> None:
    """--syncscope-timeline and --syncscope-html write the session's files at its end."""
    import json

    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, "--syncscope-timeline=trace.json", "--syncscope-html=report.html")
    result.assert_outcomes(passed=3)
    trace = json.loads((pytester.path / "trace.json").read_text())
    names = {e["name"] for e in trace["traceEvents"] if e.get("ph") == "X"}
    assert {"hold lock cache_lock", "hold lock store_lock"} <= names
    html = (pytester.path / "report.html").read_text()
    assert "cache_lock" in html and "<html" in html.lower()


def test_timeline_per_test(pytester: pytest.Pytester) -> None:
    """--syncscope-per-test: one file per test, named after its id, with that test's holds."""
    import json

    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, "--syncscope-timeline=out/trace.json", "--syncscope-per-test")
    result.assert_outcomes(passed=3)
    written = sorted(p.name for p in (pytester.path / "out").iterdir())
    assert [
        "trace-test_timeline_per_test.py_test_reads.json",
        "trace-test_timeline_per_test.py_test_unrelated.json",
        "trace-test_timeline_per_test.py_test_writes.json",
    ] == written
    reads = json.loads((pytester.path / "out" / written[0]).read_text())
    holds = [e for e in reads["traceEvents"] if e.get("ph") == "X" and e["name"].startswith("hold")]
    assert 2 == len(holds)


XDIST_SUITE = """
    import threading

    cache_lock = threading.Lock()
    store_lock = threading.Lock()

    def test_both_orders():
        with cache_lock:
            with store_lock:
                pass
        with store_lock:
            with cache_lock:
                pass

    def test_one():
        with cache_lock:
            pass

    def test_two():
        with store_lock:
            pass

    def test_three():
        pass
"""


@pytest.mark.parametrize(
    "workers",
    [
        ["-n", "2"],
        ["--dist", "load", "--tx", "2*popen"],
        ["-p", "syncscope.pytest_plugin", "-p", "xdist.plugin", "-n", "2"],
    ],
    ids=["-n 2", "--tx", "plugins by module"],
)
def test_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """
    Under pytest-xdist the tests run in its workers: each sends its report to the controller,
    which prints them all and the tests' findings; a finding fails its test in the worker;
    each worker writes its own session timeline, and the controller none. Told by xdist, not
    by the environment a test's pytest inherits (this suite may run in a worker).
    """
    import json

    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")  # as in a worker of an outer run
    if "xdist.plugin" in workers:  # loaded by their modules' names: xdist is "xdist.plugin"
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(XDIST_SUITE)
    result = pytester.runpytest_subprocess(
        *([] if "xdist.plugin" in workers else _plugin()),
        *("-p", "no:cacheprovider"),
        *workers,
        *("--syncscope", "--syncscope-fail-on-inversion"),
        "--syncscope-timeline=out/trace.json",
        timeout=110,
    )
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert 2 == out.count("syncscope report: ")
    result.stdout.fnmatch_lines(
        [
            "*= syncscope =*",
            "syncscope, worker gw0:",
            "syncscope report: *",
            "syncscope, worker gw1:",
            "syncscope report: *",
            "syncscope: found during",
            "  *::test_both_orders: inversion: possible deadlock: lock-order inversion between *",
            "FAILED *::test_both_orders - syncscope: possible deadlock*",
        ]
    )
    written = sorted(p.name for p in (pytester.path / "out").iterdir())
    assert ["trace-gw0.json", "trace-gw1.json"] == written
    holds = set()
    for name in written:
        trace = json.loads((pytester.path / "out" / name).read_text())
        holds |= {e["name"] for e in trace["traceEvents"] if e.get("ph") == "X"}
    assert {"hold lock cache_lock", "hold lock store_lock"} <= holds


@pytest.mark.parametrize(
    "itself", [["-n", "auto"], ["--dist", "loadgroup"], []], ids=["-n auto", "--dist", "no -n"]
)
def test_xdist_running_the_tests_itself(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, itself: list[str]
) -> None:
    """
    xdist installed, running the tests itself (``-n auto`` that makes no worker, ``--dist``
    in ``addopts`` without ``-n``, no option): the session's file, as without xdist, with
    what the conftest did at import, before pytest configured.
    """
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "0")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")  # as in a worker of an outer run
    pytester.makeconftest(
        """
        import threading

        conf_lock = threading.Lock()
        with conf_lock:
            pass
        """
    )
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, *itself, "--syncscope-timeline=trace.json")
    result.assert_outcomes(passed=3)
    assert ["trace.json"] == sorted(p.name for p in pytester.path.glob("trace*"))
    trace = (pytester.path / "trace.json").read_text()
    assert "hold lock cache_lock" in trace and "hold lock conf_lock" in trace
    assert "syncscope, worker" not in result.stdout.str()


@pytest.mark.parametrize("xdist", [[], ["-p", "no:xdist"]], ids=["xdist loaded", "no xdist"])
def test_a_timeline_that_cannot_be_written(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """A timeline in a folder that does not exist: one line at start, and a usage error."""
    pytester.makepyfile(INVERSION_SUITE)
    result = run(pytester, *xdist, "--syncscope-timeline=missing/trace.json")
    assert pytest.ExitCode.USAGE_ERROR == result.ret
    result.stderr.fnmatch_lines(
        ["ERROR: syncscope: cannot write to 'missing/trace.json': No such file or directory"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
