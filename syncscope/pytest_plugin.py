"""
The pytest plugin, registered under the ``pytest11`` entry point as ``syncscope``.

``pytest --syncscope`` installs syncscope before the conftest and test files are imported,
watches the primitives the tests and the code under test create (the test files and the
project's code are the user's; pytest, its plugins and installed packages are libraries and are
not watched), and adds a contention summary and every finding to the terminal summary.

pytest may import the project before any plugin runs: reading the ini's ``filterwarnings``
imports the warning classes it names. syncscope then takes over the names those modules took
with ``from threading import Lock`` and the locks they created at module level, and says so in
the header of the run (not as a warning, which ``filterwarnings = error`` would make fatal).

Options (each also switches syncscope on; each has an ini equivalent, the command line wins):

* ``--syncscope`` (ini ``syncscope = true``)
* ``--syncscope-fail-on-inversion`` (ini ``syncscope_fail_on_inversion``): a test during which
  a lock-order inversion is found fails, with the inversion as its failure. An inversion
  guarded by a common lock (every sighting of both orders held it) fails the test only with
  ``--syncscope-fail-on-guarded-inversion`` (ini ``syncscope_fail_on_guarded_inversion``).
* ``--syncscope-fail-on-deadlock`` (ini ``syncscope_fail_on_deadlock``): the same for a
  deadlock. Only a test that gets past the deadlock can fail (its threads deadlocked, and it
  joined them with a timeout); one whose own thread is in the deadlock blocks until a timeout
  plugin stops it, after syncscope has printed the deadlock.
* ``--syncscope-max-wait-ms=MS`` (ini ``syncscope_max_wait_ms``): the same for a wait of MS or
  more for a lock, rlock, semaphore, Condition lock or for room in a full queue.

* ``--syncscope-timeline=FILE`` and ``--syncscope-html=FILE`` (ini ``syncscope_timeline``,
  ``syncscope_html``): the session's timeline and HTML report, written at its end; with
  ``--syncscope-per-test`` (ini ``syncscope_per_test``), one of each per test, the test's id
  put into FILE's name before its extension.

The terminal summary names the test during which each finding was made.

The ``syncscope_recorder`` fixture gives a test a :class:`syncscope.testing.Recording` of what
happened during that test. It works without ``--syncscope`` too: it then installs syncscope
for that test, and only primitives created during the test are watched.

Without any of these options the plugin does nothing and imports nothing of syncscope: it is
loaded into every pytest run of every environment syncscope is installed in.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest


if TYPE_CHECKING:
    from syncscope.testing import Recording


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "syncscope", "syncscope: lock contention, deadlocks and lock-order inversions"
    )
    group.addoption(
        "--syncscope",
        action="store_true",
        default=None,
        help="instrument threading's and queue's primitives for the run and summarise "
        "contention and findings at the end",
    )
    group.addoption(
        "--syncscope-fail-on-inversion",
        action="store_true",
        default=None,
        help="fail a test during which a lock-order inversion is found (implies --syncscope)",
    )
    group.addoption(
        "--syncscope-fail-on-guarded-inversion",
        action="store_true",
        default=None,
        help="with --syncscope-fail-on-inversion, fail on inversions guarded by a common lock too",
    )
    group.addoption(
        "--syncscope-fail-on-deadlock",
        action="store_true",
        default=None,
        help="fail a test during which a deadlock is found (implies --syncscope)",
    )
    group.addoption(
        "--syncscope-max-wait-ms",
        type=float,
        default=None,
        metavar="MS",
        help="fail a test that waits MS or more for a lock or for room in a queue "
        "(implies --syncscope)",
    )
    group.addoption(
        "--syncscope-timeline",
        default=None,
        metavar="FILE",
        help="write a per-thread timeline (Chrome/Perfetto trace JSON, gzipped if FILE ends in "
        ".gz) of the session, or of each test with --syncscope-per-test (implies --syncscope)",
    )
    group.addoption(
        "--syncscope-html",
        default=None,
        metavar="FILE",
        help="write a self-contained HTML report of the session, or of each test with "
        "--syncscope-per-test (implies --syncscope)",
    )
    group.addoption(
        "--syncscope-per-test",
        action="store_true",
        default=None,
        help="one timeline and HTML report per test: FILE's name gets the test's id",
    )
    parser.addini("syncscope", "like --syncscope", type="bool", default=False)
    parser.addini("syncscope_timeline", "like --syncscope-timeline", default="")
    parser.addini("syncscope_html", "like --syncscope-html", default="")
    parser.addini("syncscope_per_test", "like --syncscope-per-test", type="bool")
    parser.addini("syncscope_fail_on_inversion", "like --syncscope-fail-on-inversion", type="bool")
    parser.addini(
        "syncscope_fail_on_guarded_inversion",
        "like --syncscope-fail-on-guarded-inversion",
        type="bool",
    )
    parser.addini("syncscope_fail_on_deadlock", "like --syncscope-fail-on-deadlock", type="bool")
    parser.addini("syncscope_max_wait_ms", "like --syncscope-max-wait-ms", default="")


def _setting(config: pytest.Config, name: str) -> Any:
    # Read from the arguments parsed so far: at pytest_load_initial_conftests, config.option
    # is not filled in yet.
    namespace = getattr(config, "known_args_namespace", None)
    value = getattr(namespace, name, None)
    if value is None:
        value = getattr(config.option, name, None)
    if value is None:
        value = config.getini(name)
    return value


def _max_wait_ms(config: pytest.Config) -> float | None:
    value = _setting(config, "syncscope_max_wait_ms")
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise pytest.UsageError(f"syncscope: max wait must be milliseconds > 0, got {value!r}")
    return number


_SESSION_KEY = pytest.StashKey["_Session"]()


def _start(config: pytest.Config) -> None:
    if _SESSION_KEY in config.stash:
        return
    fail_on_inversion = bool(_setting(config, "syncscope_fail_on_inversion"))
    fail_on_deadlock = bool(_setting(config, "syncscope_fail_on_deadlock"))
    max_wait_ms = _max_wait_ms(config)
    files = _Files(
        _setting(config, "syncscope_timeline") or None,
        _setting(config, "syncscope_html") or None,
        bool(_setting(config, "syncscope_per_test")),
    )
    enabled = bool(_setting(config, "syncscope")) or files.timeline or files.html
    if not (enabled or fail_on_inversion or fail_on_deadlock or max_wait_ms is not None):
        return
    # Each finding is in the summary, in full; written when found too only with -s: else
    # pytest's capture takes it into the test's own output (a test reading its standard
    # error with capfd would fail), shown only if the test fails.
    namespace = getattr(config, "known_args_namespace", None)  # see _setting
    capture = getattr(namespace, "capture", None) or getattr(config.option, "capture", "fd")
    echo = capture == "no"
    session = _Session(fail_on_inversion, fail_on_deadlock, max_wait_ms, files, echo)
    session.fail_on_guarded = bool(_setting(config, "syncscope_fail_on_guarded_inversion"))
    config.stash[_SESSION_KEY] = session
    config.pluginmanager.register(session, "syncscope-session")
    # pytest_unconfigure is not called when start-up fails after this: clean up then too.
    config.add_cleanup(lambda: _stop(config))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # As early as a plugin can: before conftest files import the code under test.
    _start(early_config)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None:  # a pytest-xdist worker
        from syncscope._sinks.harness import find_xdist_receivers

        find_xdist_receivers()  # the runner's threads, left out of the watchdog's checks
    _start(config)  # when loaded too late for the hook above


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop(config)


def _stop(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        del config.stash[_SESSION_KEY]
        session.stop()


@pytest.fixture
def syncscope_recorder(request: pytest.FixtureRequest) -> Iterator[Recording]:
    """What happened during this test, to assert on: see ``syncscope.testing.Recording``."""
    from syncscope.testing import record

    # Under --syncscope the session's recorder already writes each finding once.
    echo = _SESSION_KEY not in request.config.stash
    with record(echo=echo) as recording:
        yield recording


def _distributed(config: pytest.Config, files: _Files) -> _Files:
    """
    The files of this process under pytest-xdist, told at ``pytest_configure``: its workers
    run the tests, each with a session of its own that sends its report to the controller
    (see ``_Session``). Each worker writes its own files, its id before each extension
    (``timeline-gw0.json``), where all would write one; the controller, which runs no test,
    writes none. Not told by the environment (``PYTEST_XDIST_WORKER`` is inherited by a
    pytest that a test runs), nor by ``-n`` (xdist runs the tests itself with ``-n auto
    --pdb``, and in workers with ``--tx`` alone).
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        worker = str(workerinput["workerid"])
        return _Files(
            _with_slug(files.timeline, worker), _with_slug(files.html, worker), files.per_test
        )
    # xdist's own test of a controller: with --dist but no worker (-n, --tx), it runs the
    # tests itself (`addopts = --dist loadgroup`, -n given in CI only).
    if getattr(config.option, "dist", "no") != "no" and getattr(config.option, "tx", None):
        return _Files(None, None, False)
    return files


class _Files:
    """The timeline and HTML report asked for, of the session or of each test."""

    def __init__(self, timeline: str | None, html: str | None, per_test: bool) -> None:
        self.timeline = timeline
        self.html = html
        self.per_test = per_test

    def of_test(self, nodeid: str) -> tuple[str | None, str | None]:
        """The files of one test: its id, made a file name, before each name's extension."""
        import re

        slug = re.sub(r"[^\w.-]+", "_", nodeid).strip("_")[:150]
        return _with_slug(self.timeline, slug), _with_slug(self.html, slug)


def _with_slug(path: str | None, slug: str) -> str | None:
    if path is None:
        return None
    import os

    directory, name = os.path.split(path)
    if directory:
        os.makedirs(directory, exist_ok=True)  # a folder of files, one a test
    stem, dot, extension = name.partition(".")
    return os.path.join(directory, f"{stem}-{slug}{dot}{extension}")


class _Session:
    """syncscope for a whole pytest run: the recorder, and the findings of each test."""

    def __init__(
        self,
        fail_on_inversion: bool,
        fail_on_deadlock: bool,
        max_wait_ms: float | None,
        files: _Files,
        echo: bool = False,
    ) -> None:
        from syncscope import _api
        from syncscope._core.state import config_lock, set_sinks, state
        from syncscope._intercept.patch import adopt_early_imports
        from syncscope._sinks.recorder import DiagnosisOptions, Recorder

        self._fail_on_inversion = fail_on_inversion
        #: Guarded inversions (a common lock held at every sighting) fail a test only if asked.
        self.fail_on_guarded = False
        self._fail_on_deadlock = fail_on_deadlock
        self._fail_on_wait = max_wait_ms is not None
        self._installed_here = not state.installed
        #: What install() had to say (modules imported before it): shown in the header.
        self.notes: list[str] = []
        if self._installed_here:
            # Caught, not raised: under `filterwarnings = error` a warning here would abort
            # pytest's start-up with the patches installed.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _api.install(lines=False)
            taken = adopt_early_imports()
            self.notes = [
                f"syncscope: {warning.message}"
                for warning in caught
                if not (taken and "imported before syncscope" in str(warning.message))
            ]
            if taken:
                self.notes.append(
                    "syncscope: taken from threading before this plugin could install, "
                    "watched from now on: " + ", ".join(taken) + "; a primitive those "
                    "modules put in an object or a class before then is not watched "
                    "(python -m syncscope -m pytest installs before anything is imported)"
                )
        self.recorder = Recorder(DiagnosisOptions(stats=True, long_wait_ms=max_wait_ms, echo=echo))
        self.files = files
        self._sinks: tuple[Any, ...] = (self.recorder,)
        #: The session's timeline, recording from now on; which files it writes, if any, is
        #: told at pytest_configure (see _distributed).
        self._timeline: Any = None
        if (files.timeline or files.html) and not files.per_test:
            from syncscope._sinks.timeline.sink import timeline_sink

            self._timeline = timeline_sink(None, None, self._sinks, "pytest")
            self._sinks += (self._timeline,)
        #: Test id -> the findings that fail it, as they are found. Not read back from the
        #: recorder's lists: those stop growing (slow spots past 1,000), the session does not.
        self._failures: dict[str, list[Any]] = {}
        #: Under pytest-xdist, in the controller: each worker's report and findings (None for
        #: a worker that ended without sending them), by the worker's id.
        self._workers: dict[str, dict[str, Any] | None] = {}
        #: Set once the terminal summary is written.
        self._summarized = False
        self.recorder.listeners.append(self._heard)
        with config_lock:
            set_sinks((*state.sinks, *self._sinks))

    def pytest_configure(self, config: pytest.Config) -> None:
        self.files = files = _distributed(config, self.files)
        if self._timeline is not None:
            try:  # the files are made now: a bad path is said before any test, in one line
                self._timeline.write_to(files.timeline, files.html)
            except OSError as exc:
                message = f"syncscope: cannot write to {exc.filename!r}: {exc.strerror}"
                raise pytest.UsageError(message) from None

    def stop(self) -> None:
        from syncscope import _api
        from syncscope._core.dispatch import close_sinks, let_go
        from syncscope._core.state import config_lock, set_sinks, state

        with config_lock:
            set_sinks(tuple(sink for sink in state.sinks if sink not in self._sinks))
        close_sinks(self._sinks)
        let_go(self._sinks)  # the summary is written: nothing reads them any more
        if self._installed_here:
            _api.uninstall()

    def pytest_report_header(self) -> list[str]:
        return self.notes

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        self.recorder.context = item.nodeid
        try:
            if self.files.per_test and (self.files.timeline or self.files.html):
                from syncscope.testing import record

                # The session's recorder finds and reports; this one only draws the test.
                timeline, html = self.files.of_test(item.nodeid)
                with record(detect_deadlocks=False, echo=False, timeline=timeline, html=html):
                    yield
            else:
                yield
        finally:
            self.recorder.context = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        if call.when == "call":
            # A deadlock that formed during the test, not yet seen twice by the watchdog.
            self.recorder.check_now()
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        problems = self._problems(item.nodeid)
        if not problems:
            return
        text = "\n\n".join(problems)
        if report.outcome == "failed":
            report.sections.append(("syncscope", text))
        else:
            report.outcome = "failed"
            report.longrepr = text

    def _heard(self, finding: object) -> None:
        """A listener of the recorder: keep a finding that fails the test it was found in."""
        from syncscope._sinks.findings import Deadlock, Inversion, SlowSpot

        if self._summarized and not self.recorder.options.echo:
            # Found after the summary (the last look, at the end of the session): said now.
            kind = type(finding).__name__.lower()
            text, data = getattr(finding, "text", None), getattr(finding, "to_dict", None)
            if text is not None and data is not None:
                self.recorder._write_finding(kind, text, data)
        context = getattr(finding, "context", None)
        if context is None:
            return
        if (
            (
                isinstance(finding, Inversion)
                and self._fail_on_inversion
                and (finding.guarded_by is None or self.fail_on_guarded)
            )
            or (isinstance(finding, Deadlock) and self._fail_on_deadlock)
            or (isinstance(finding, SlowSpot) and self._fail_on_wait and finding.what == "wait")
        ):
            self._failures.setdefault(context, []).append(finding)

    def _problems(self, nodeid: str) -> list[str]:
        from syncscope._sinks.findings import SlowSpot

        problems = []
        for finding in self._failures.pop(nodeid, ()):
            if isinstance(finding, SlowSpot):
                problems.append(f"syncscope: wait over the limit: {finding.text()}")
            else:
                problems.append(finding.text())
        return problems

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """In a pytest-xdist worker: hand the report to the controller, which prints it."""
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            from syncscope.report import Report

            workeroutput["syncscope"] = {
                "report": Report.of(self.recorder).text(),
                "found_in": _found_in(self.recorder),
            }

    @pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """In the pytest-xdist controller: a worker's report, kept for the summary."""
        worker = str(node.workerinput["workerid"])
        self._workers[worker] = getattr(node, "workeroutput", {}).get("syncscope")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from syncscope.report import Report

        self._summarized = True  # what is found from now on is not in it: see _heard
        terminalreporter.section("syncscope")
        if self._workers:  # the tests ran there: this process's report would be empty
            found_in = []
            for worker in sorted(self._workers, key=lambda name: (len(name), name)):
                output = self._workers[worker]
                if output is None:
                    terminalreporter.write_line(
                        f"syncscope: worker {worker} ended without sending its report"
                    )
                    continue
                terminalreporter.write_line(f"syncscope, worker {worker}:")
                for line in output["report"].splitlines():
                    terminalreporter.write_line(line)
                terminalreporter.write_line("")
                found_in += output["found_in"]
        else:
            for line in Report.of(self.recorder).text().splitlines():
                terminalreporter.write_line(line)
            found_in = _found_in(self.recorder)
        if found_in:
            terminalreporter.write_line("")
            terminalreporter.write_line("syncscope: found during")
            for line in found_in:
                terminalreporter.write_line(f"  {line}")


def _found_in(recorder: Any) -> list[str]:
    """One line per finding made during a test: the test's id, and the finding's first line."""
    lines = []
    for kind, findings in (
        ("deadlock", recorder.deadlocks),
        ("hang", recorder.hangs),
        ("inversion", recorder.inversions),
        ("slow", recorder.slow),
    ):
        for finding in list(findings):
            context = getattr(finding, "context", None)
            if context is not None:
                headline = finding.text().split("\n", 1)[0].removeprefix("syncscope: ")
                if not headline.startswith(f"{kind}:"):  # "deadlock: ..." says so itself
                    headline = f"{kind}: {headline}"
                lines.append(f"{context}: {headline}")
    return lines
