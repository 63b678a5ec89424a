"""
The pytest plugin, registered under the ``pytest11`` entry point as ``syncscope``.

``pytest --syncscope`` installs syncscope before the test files are imported, watches the
primitives the tests and the code under test create (the test files and the project's code
are the user's; pytest, its plugins and installed packages are libraries and are not watched),
and adds a contention summary and every finding to the terminal summary.

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

The ``syncscope_recorder`` fixture gives a test a :class:`syncscope.testing.Recording` of what
happened during that test (it installs syncscope for the test when ``--syncscope`` is not
given; then only primitives created during the test are watched).

Without any of these options the plugin does nothing and imports nothing of syncscope: it is
loaded into every pytest run of every environment syncscope is installed in.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

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
    parser.addini("syncscope", "like --syncscope", type="bool", default=False)
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
    enabled = bool(_setting(config, "syncscope"))
    if not (enabled or fail_on_inversion or fail_on_deadlock or max_wait_ms is not None):
        return
    session = _Session(fail_on_inversion, fail_on_deadlock, max_wait_ms)
    session.fail_on_guarded = bool(_setting(config, "syncscope_fail_on_guarded_inversion"))
    config.stash[_SESSION_KEY] = session
    config.pluginmanager.register(session, "syncscope-session")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # As early as a plugin can: before conftest files import the code under test.
    _start(early_config)


def pytest_configure(config: pytest.Config) -> None:
    _start(config)  # when loaded too late for the hook above


def pytest_unconfigure(config: pytest.Config) -> None:
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
        watchdog = recording._recorder.watchdog
        if watchdog is not None:
            watchdog.bystander = _timeout_timer
        yield recording


def _timeout_timer(ident: int) -> bool:
    """
    Whether a thread is pytest-timeout's timer (its ``thread`` method): it waits with a
    timeout, so it would count as a thread that runs, and no deadlock through a Lock would be
    reported while it is there; but all it will ever do is end the run.
    """
    import threading

    thread = getattr(threading, "_active", {}).get(ident)
    return thread is not None and thread.name.startswith("pytest_timeout ")


class _Session:
    """syncscope for a whole pytest run: the recorder, and the findings of each test."""

    def __init__(
        self, fail_on_inversion: bool, fail_on_deadlock: bool, max_wait_ms: float | None
    ) -> None:
        from syncscope import _api
        from syncscope._core.state import config_lock, set_sinks, state
        from syncscope._sinks.recorder import DiagnosisOptions, Recorder

        self._fail_on_inversion = fail_on_inversion
        #: Guarded inversions (a common lock held at every sighting) fail a test only if asked.
        self.fail_on_guarded = False
        self._fail_on_deadlock = fail_on_deadlock
        self._fail_on_wait = max_wait_ms is not None
        self._installed_here = not state.installed
        if self._installed_here:
            _api.install(lines=False)
        self.recorder = Recorder(DiagnosisOptions(stats=True, long_wait_ms=max_wait_ms))
        if self.recorder.watchdog is not None:
            self.recorder.watchdog.bystander = _timeout_timer
        #: Test id -> the findings that fail it, as they are found. Not read back from the
        #: recorder's lists: those stop growing (slow spots past 1,000), the session does not.
        self._failures: dict[str, list[Any]] = {}
        self.recorder.listeners.append(self._heard)
        with config_lock:
            set_sinks((*state.sinks, self.recorder))

    def stop(self) -> None:
        from syncscope import _api
        from syncscope._core.state import config_lock, set_sinks, state

        with config_lock:
            set_sinks(tuple(sink for sink in state.sinks if sink is not self.recorder))
        self.recorder.close()
        if self._installed_here:
            _api.uninstall()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        self.recorder.context = item.nodeid
        try:
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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from syncscope.report import Report

        terminalreporter.section("syncscope")
        for line in Report.of(self.recorder).text().splitlines():
            terminalreporter.write_line(line)
