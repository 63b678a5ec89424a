"""SIGTERM and SIGHUP: every output that asked closes, then the process dies of the signal."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from .spans_programs import Interactive


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def closers_program(tmp_path: Path, closers: str) -> Path:
    """A program that registers ``closers`` as outputs to close on a fatal signal, then waits."""
    program = tmp_path / "closers.py"
    program.write_text(
        "import sys, threading\n"
        "from syncscope._core import fatal\n"
        f"{closers}\n"
        'print("ready", flush=True)\n'
        "threading.Event().wait(60)\n",
        encoding="utf-8",
    )
    return program


def test_an_output_stuck_in_its_close_keeps_no_other_from_closing(tmp_path: Path) -> None:
    """The signal may come while the program's thread holds an output's lock: that output
    cannot close, and the others close all the same, within the longest time given."""
    written = tmp_path / "written"
    program = closers_program(
        tmp_path,
        f"""\
stuck = threading.Lock()
stuck.acquire()  # as if the interrupted thread held the output's lock
def blocked():
    stuck.acquire(timeout=60)
def writes():
    open({str(written)!r}, "w").write("closed")
fatal.close_on_fatal_signal(writes, 5.0)
fatal.close_on_fatal_signal(blocked, 1.0)  # the last to ask: it used to close first, alone
""",
    )
    process = Interactive(["-q", "--no-report", str(program)])
    try:
        process.wait_for("stdout", "ready")
        process.process.send_signal(signal.SIGTERM)
        result = process.finish()
    finally:
        process.kill()
    assert -signal.SIGTERM == result.returncode, result.stderr
    assert "closed" == written.read_text(encoding="utf-8")


def test_a_second_signal_while_closing_does_not_cut_the_close_short(tmp_path: Path) -> None:
    """``timeout`` and process managers may signal again: the first signal's close goes on,
    and the process dies of the signal when it is done."""
    written = tmp_path / "written"
    program = closers_program(
        tmp_path,
        f"""\
started = []
def writes():
    if started:  # closed already, as every output's close() answers a second call
        return
    started.append(True)
    print("closing", flush=True)
    sys.stdin.readline()  # until the test has signalled again
    open({str(written)!r}, "w").write("closed")
fatal.close_on_fatal_signal(writes, 30.0)
""",
    )
    process = Interactive(["-q", "--no-report", str(program)])
    try:
        process.wait_for("stdout", "ready")
        process.process.send_signal(signal.SIGTERM)
        process.wait_for("stdout", "closing")
        process.process.send_signal(signal.SIGTERM)
        result = process.finish()  # closes stdin: the close goes on
    finally:
        process.kill()
    assert -signal.SIGTERM == result.returncode, result.stderr
    assert "closed" == written.read_text(encoding="utf-8")


HUNG_AT_SHUTDOWN = """\
import threading
never = threading.Event()
threading.Thread(target=never.wait, name="stuck").start()  # not a daemon: exit waits for it
guard = threading.Lock()
with guard:
    pass
threading._register_atexit(lambda: print("shutting down", flush=True))
"""


def test_sigterm_at_interpreter_shutdown_writes_the_timeline(tmp_path: Path) -> None:
    """The program's code is over and the interpreter waits for a thread that never ends: no
    new thread can start then (3.12), so the timeline is written on the signalled one."""
    program = tmp_path / "hung_at_exit.py"
    program.write_text(HUNG_AT_SHUTDOWN, encoding="utf-8")
    timeline = tmp_path / "t.json"
    process = Interactive(["-q", "--timeline", str(timeline), str(program)])
    try:
        process.wait_for("stdout", "shutting down")
        process.process.send_signal(signal.SIGTERM)
        result = process.finish()
    finally:
        process.kill()
    assert -signal.SIGTERM == result.returncode, result.stderr
    trace = json.loads(timeline.read_text(encoding="utf-8"))
    names = {event["name"] for event in trace["traceEvents"]}
    assert {"hold lock guard", "Event.wait never"} <= names, sorted(names)
