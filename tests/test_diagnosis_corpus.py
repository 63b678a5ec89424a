"""
Programs with planted bugs, and correct programs that tempt false alarms, run as a user would:
``python -m syncscope -q --deadlock-exit --hang-timeout 2 PROGRAM``.

Each bug must be found and named with its primitives, threads and lines, and end the program
with the ``--deadlock-exit`` status, while unrelated threads keep running (a heartbeat, a
``join(0.5)`` loop). Each correct program must run to its end with no finding.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from syncscope._settings import DEADLOCK_EXIT_STATUS

from .conftest import run_syncscope


PROGRAMS = Path(__file__).resolve().parent / "diagnosis_programs"
#: The checker's arguments.
ARGUMENTS = ("-q", "--deadlock-exit", "--hang-timeout", "2")

#: What each bug's report says: each needle, or one of a tuple of them.
BUGS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "cycle_two_heartbeat": (
        "syncscope: deadlock: 2 threads wait for each other and will never go on",
        # Listed from the thread that began to wait first: which of the two that is, is a race.
        "lock accounts is a plain Lock",
        "lock ledger is a plain Lock",
        "another thread could release it",
        '"transfer" waits for lock ledger at cycle_two_heartbeat.py:19 in transfer',
        'held by "audit"',
        '"audit" waits for lock accounts at cycle_two_heartbeat.py:26 in audit',
        "holds lock accounts, taken at cycle_two_heartbeat.py:17 in transfer",
    ),
    "cycle_three_heartbeat": (
        "syncscope: deadlock: 3 threads wait for each other and will never go on",
        '"one" waits for lock second at cycle_three_heartbeat.py:20 in step',
        '"two" waits for lock third at cycle_three_heartbeat.py:20 in step',
        '"three" waits for lock first at cycle_three_heartbeat.py:20 in step',
    ),
    "self_deadlock": (
        "syncscope: deadlock: a thread waits for a lock it holds itself",
        '"refresher" waits for lock cache_lock at self_deadlock.py:22 in fill',
        "which it took itself at self_deadlock.py:16 in refresh",
    ),
    "condition_deadlock": (
        'syncscope: deadlock: "consumer" waits on condition items_ready while holding lock '
        "state_lock",
        '"consumer" waits for a notify on condition items_ready at condition_deadlock.py:22',
        '"producer" waits for lock state_lock at condition_deadlock.py:27 in producer',
        'held by "consumer"',
    ),
    "held_wait_everyone_blocked": (
        'syncscope: deadlock: "MainThread" waits on event stopped while holding rlock _lock, '
        "which the threads that could wake it wait for",
        '"refresh" waits for rlock _lock at held_wait_everyone_blocked.py:23 in _refresh',
        'held by "MainThread"',
    ),
    "predicate_deadlock": (
        "syncscope: deadlock: 2 threads wait for each other and will never go on",
        '"reporter" waits for lock totals_lock at predicate_deadlock.py:20 in all_counted',
        "holds condition ready, taken at predicate_deadlock.py:26 in reporter",
        '"counter" waits for condition ready at predicate_deadlock.py:34 in counter',
        # Named in the order its two sides were first seen: the two threads race to it.
        (
            "lock-order inversion between condition ready and lock totals_lock",
            "lock-order inversion between lock totals_lock and condition ready",
        ),
    ),
    "queue_worker_died": (
        "syncscope: hang: 1 thread blocked for good",
        '"MainThread" waits for every task of queue jobs at queue_worker_died.py:27',
        'every thread that took from queue jobs has exited: "worker"',
        '"worker" died of ZeroDivisionError',
        "at queue_worker_died.py:18 in worker",
    ),
    "queue_producer_died": (
        "syncscope: hang: 1 thread blocked for good",
        '"consumer" waits for an item from queue items at queue_producer_died.py:23 in consumer',
        'every thread that put into queue items has exited: "producer"',
        '"producer" died of ValueError',
        "at queue_producer_died.py:17 in producer",
    ),
    "simplequeue_producer_died": (
        "syncscope: hang: 1 thread blocked for good",
        '"consumer" waits for an item from queue items at simplequeue_producer_died.py:26 in',
        'every thread that put into queue items has exited: "starter", "producer"',
        '"producer" died of ValueError',
        "at simplequeue_producer_died.py:20 in producer",
    ),
    "lost_notify": (
        "syncscope: hang: 1 thread blocked for good",
        '"waiter" waits for a notify on condition done at lost_notify.py:24 in waiter',
        'the last notify, at lost_notify.py:17 in notifier by "notifier", came before it '
        "waited (it found no waiter)",
    ),
    "event_cleared": (
        "syncscope: hang: 1 thread blocked for good",
        '"runner" waits for event go at event_cleared.py:23 in runner',
        'event go was set at event_cleared.py:16 in pulse by "pulser" and cleared at '
        'event_cleared.py:17 in pulse by "pulser" before it waited',
    ),
    "leaked_permits": (
        "syncscope: hang: 1 thread blocked for good",
        '"job-4" waits for semaphore slots at leaked_permits.py:15 in job',
        'held by "job-1", "job-3" (exited)',
        'its permits are held by threads that have exited: "job-1" at leaked_permits.py:15',
    ),
    "lost_wakeup_join_watchdog": (
        "syncscope: hang: 1 thread blocked for good",
        '"worker" waits for event start_signal at lost_wakeup_join_watchdog.py:15 in worker',
        "nobody has set event start_signal",
    ),
    "future_held_lock": (
        "syncscope: deadlock: 2 threads wait for each other and will never go on",
        '"pool_0" waits for lock cache_lock at future_held_lock.py:17 in fill',
        'held by "MainThread"',
        '"MainThread" waits for the result of future fill() at future_held_lock.py:24 in <module>',
        'run by "pool_0"',
        "holds lock cache_lock, taken at future_held_lock.py:22 in <module>",
    ),
    "queue_join_missed_task_done": (
        "syncscope: hang: 1 thread blocked for good",
        '"MainThread" waits for every task of queue jobs at queue_join_missed_task_done.py:27',
        'every thread that took from queue jobs waits for an item from it ("worker")',
        "a task_done() was missed",
    ),
    "join_holding_lock": (
        "syncscope: deadlock: 2 threads wait for each other and will never go on",
        '"worker" waits for lock stats_lock at join_holding_lock.py:17 in worker',
        'held by "controller"',
        '"controller" waits for the end of thread worker at join_holding_lock.py:24 in controller',
        "holds lock stats_lock, taken at join_holding_lock.py:22 in controller",
    ),
    "join_chain_holding_lock": (
        "syncscope: deadlock: 3 threads wait for each other and will never go on",
        '"C" waits for lock L at join_chain_holding_lock.py:11 in c',
        '"MainThread" waits for the end of thread B at join_chain_holding_lock.py:25',
        '"B" waits for the end of thread C at join_chain_holding_lock.py:18 in b',
    ),
    "semaphore_signal_never_released": (
        "syncscope: hang: 1 thread blocked for good",
        '"consumer" waits for semaphore result_ready at semaphore_signal_never_released.py:21',
        "no thread holds a permit of semaphore result_ready: only a release() lets it go on",
    ),
    "pool_starvation": (
        "syncscope: deadlock: pool starvation: 2 busy workers, each waiting for a task queued "
        "behind it on the same pool",
        "ThreadPoolExecutor with max_workers=2",
        "queued: child() submitted at pool_starvation.py:22 in parent",
        '"ThreadPoolExecutor-0_0" waits for the result of future child() at '
        "pool_starvation.py:23 in parent",
        '"ThreadPoolExecutor-0_1" waits for the result of future child() at '
        "pool_starvation.py:23 in parent",
    ),
}


def found(needle: str | tuple[str, ...], text: str) -> bool:
    """Whether ``needle`` (or one of them) is in ``text``."""
    return any(one in text for one in ((needle,) if isinstance(needle, str) else needle))


CORRECT = sorted(path.stem for path in PROGRAMS.glob("ok_*.py"))


def _run(name: str, *extra: str) -> tuple[int, str]:
    result = run_syncscope(*ARGUMENTS, *extra, f"{name}.py", cwd=PROGRAMS, timeout=60)
    return result.returncode, result.stderr


class TestBugs:
    @pytest.mark.parametrize("name", sorted(BUGS))
    def test_found_and_named(self, name: str) -> None:
        """The bug is reported with its primitives, threads and lines; the program ends."""
        status, err = _run(name)
        assert DEADLOCK_EXIT_STATUS == status, err
        for needle in BUGS[name]:
            assert found(needle, err), f"{needle!r} missing from:\n{err}"
        assert f"syncscope: ending the program with status {DEADLOCK_EXIT_STATUS}" in err
        # Found while it lasts, not at exit: the waits it names are short.
        waited = [float(s) for s in re.findall(r"\(for ([\d.]+) m?s\)", err)]
        assert waited, err

    @pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13 joins at exit in C")
    def test_the_interpreter_s_end_joins_a_thread_blocked_on_its_lock(self) -> None:
        """The end of the program joins a non-daemon thread waiting for a lock main holds."""
        status, err = _run("exit_joins_a_blocked_thread")
        assert DEADLOCK_EXIT_STATUS == status, err
        assert "syncscope: deadlock: 2 threads wait for each other" in err
        assert '"worker" waits for lock db_lock at exit_joins_a_blocked_thread.py:18' in err
        assert '"MainThread" waits for the end of thread worker' in err
        assert "holds lock db_lock, taken at exit_joins_a_blocked_thread.py:24 in <module>" in err

    def test_a_predicate_deadlock_with_the_lines(self) -> None:
        """
        The runner's default, a line per operation: a wait_for's predicate is the program's
        code, its lock's wait is printed, and the deadlock through it is found as with -q.
        """
        result = run_syncscope("--deadlock-exit", "predicate_deadlock.py", cwd=PROGRAMS, timeout=60)
        assert DEADLOCK_EXIT_STATUS == result.returncode, result.stderr
        lines = result.stderr.splitlines()
        assert "condition ready acquired by reporter" in lines
        assert "lock totals_lock wait by reporter" in lines
        for needle in BUGS["predicate_deadlock"]:
            assert found(needle, result.stderr), f"{needle!r} missing from:\n{result.stderr}"

    def test_exit_report_lists_a_live_finding_once(self, tmp_path: Path) -> None:
        """The exit report lists the deadlock printed while running in one line, not again."""
        out = tmp_path / "report.json"
        status, err = _run("cycle_two_heartbeat", "--report-json", str(out))
        assert DEADLOCK_EXIT_STATUS == status, err
        assert 1 == err.count('"transfer" waits for lock ledger'), err
        assert "Deadlocks (1):" in err
        assert "will never go on (written in full when found)" in err
        data = json.loads(out.read_text())
        assert 1 == len(data["deadlocks"])
        assert "cycle" == data["deadlocks"][0]["kind"]

    def test_found_before_os_exit(self, tmp_path: Path) -> None:
        """Without --deadlock-exit: found while it lasts, before the program's os._exit()."""
        out = tmp_path / "report.json"
        result = run_syncscope(
            "-q", "--report-json", str(out), "deadlock_before_os_exit.py", cwd=PROGRAMS
        )
        assert 0 == result.returncode, result.stderr
        assert '"forward" waits for lock second at deadlock_before_os_exit.py:14' in result.stderr
        assert '"backward" waits for lock first at deadlock_before_os_exit.py:21' in result.stderr
        assert 1 == json.loads(out.read_text())["summary"]["deadlocks"]

    def test_a_cycle_in_place_at_exit(self) -> None:
        """The program ends while a cycle is in place: the exit report does not miss it."""
        result = run_syncscope("-q", "deadlock_at_exit.py", cwd=PROGRAMS)
        assert 0 == result.returncode, result.stderr
        assert "no deadlock" not in result.stderr
        assert '"forward" waits for lock second at deadlock_at_exit.py:13' in result.stderr
        assert "Deadlocks (1):" in result.stderr


class TestCorrectPrograms:
    @pytest.mark.parametrize("name", CORRECT)
    def test_no_false_alarm(self, name: str) -> None:
        """The program runs to its end, and nothing is reported."""
        status, err = _run(name)
        assert 0 == status, err
        for word in ("deadlock:", "hang:", "possible deadlock", "inversion between"):
            assert word not in err, err
        assert "no lock-order inversion, no deadlock, no hang" in err

    def test_guarded_inversion_is_named_so(self) -> None:
        """Both orders always under one gate: reported as guarded, not as an inversion."""
        status, err = _run("ok_guarded_inversion")
        assert 0 == status, err
        assert (
            "syncscope: guarded lock order: lock alpha and lock beta are taken in both orders, "
            "always under lock gate (cannot deadlock while every path takes lock gate first)"
        ) in err
        assert "1 guarded lock order" in err
