"""SIGTERM and SIGHUP: every output that asked closes, then the process dies of the signal."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_syncscope
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
    result = process.signalled_when("stdout", "ready", signal.SIGTERM)
    assert -signal.SIGTERM == result.returncode, result.stderr
    assert "closed" == written.read_text(encoding="utf-8")


def test_one_signal_ends_a_program_running_python_code(tmp_path: Path) -> None:
    """One signal is enough: the outputs close and the process dies of it. (The other tests
    send it again while the process lives, for the race CPython has when the signal comes the
    instant before the main thread blocks; a main thread running Python code has no such race,
    so a handler that closed without ending the process fails here.)"""
    written = tmp_path / "written"
    program = tmp_path / "spins.py"
    program.write_text(
        "from syncscope._core import fatal\n"
        f"fatal.close_on_fatal_signal(lambda: open({str(written)!r}, 'w').write('closed'), 5.0)\n"
        'print("ready", flush=True)\n'
        "while True:  # Python code: the handler runs at the next bytecode\n"
        "    pass\n",
        encoding="utf-8",
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
        process.signal(signal.SIGTERM, until="closing")
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
    result = process.signalled_when("stdout", "shutting down", signal.SIGTERM)
    assert -signal.SIGTERM == result.returncode, result.stderr
    trace = json.loads(timeline.read_text(encoding="utf-8"))
    names = {event["name"] for event in trace["traceEvents"]}
    assert {"hold lock guard", "Event.wait never"} <= names, sorted(names)


def test_a_signal_in_an_import_still_writes_the_timeline(tmp_path: Path) -> None:
    """The signal may come while the program's thread holds the import lock (in an import,
    in a finder): what the timeline's writing imports is imported first, on that thread, so
    that the thread writing it does not wait for the lock for ever."""
    program = tmp_path / "importing.py"
    program.write_text(
        "import _imp, threading\n"
        "guard = threading.Lock()\n"
        "with guard:\n"
        "    pass\n"
        "_imp.acquire_lock()  # as an import in progress holds it\n"
        'print("ready", flush=True)\n'
        "threading.Event().wait(60)\n",
        encoding="utf-8",
    )
    timeline, html = tmp_path / "t.json.gz", tmp_path / "r.html"
    process = Interactive(["-q", "--timeline", str(timeline), "--html", str(html), str(program)])
    result = process.signalled_when("stdout", "ready", signal.SIGTERM)
    assert -signal.SIGTERM == result.returncode, result.stderr
    with gzip.open(timeline, "rt", encoding="utf-8") as file:
        names = {event["name"] for event in json.load(file)["traceEvents"]}
    assert "hold lock guard" in names
    assert "</html>" in html.read_text(encoding="utf-8")


def test_a_child_forked_while_the_outputs_close_dies_of_the_signal(tmp_path: Path) -> None:
    """A child forked by another thread while the parent closes its outputs is not closing
    anything: a signal it leaves alone ends it as it would any process."""
    program = tmp_path / "fork.py"
    program.write_text(
        "import os, signal\n"
        "from syncscope._core import fatal\n"
        "fatal.close_on_fatal_signal(lambda: None, 1.0)\n"
        "fatal._closing.append(signal.SIGTERM)  # the parent is closing its outputs\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    os._exit(0)  # not reached: the child dies of the signal\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == result.returncode, result.stderr
    assert str(-signal.SIGTERM) == result.stdout.strip(), result.stderr


def test_no_thread_to_close_on_leaves_the_outputs_and_dies(tmp_path: Path) -> None:
    """When no thread can start (a thread limit reached) and the interpreter is not shutting
    down, the signalled thread may hold an output's lock: closing there could wait for ever.
    The outputs are left as they are, and the process dies of the signal."""
    program = closers_program(
        tmp_path,
        """\
import _thread
held = threading.Lock()
held.acquire()  # the signalled thread holds the output's lock
def close():
    held.acquire()  # for ever, on the signalled thread
def no_thread(*args, **kwargs):
    raise RuntimeError("can't start new thread")
fatal.close_on_fatal_signal(close, 1.0)
_thread.start_new_thread = no_thread
""",
    )
    process = Interactive(["-q", "--no-report", str(program)])
    result = process.signalled_when("stdout", "ready", signal.SIGTERM)
    assert -signal.SIGTERM == result.returncode, result.stderr


def test_the_program_sees_the_signal_at_its_default(tmp_path: Path) -> None:
    """
    While syncscope catches SIGTERM for its outputs, the program sees it at its default: one
    that installs its own handler only over the default one still does, its handler is the one
    that runs, and ``signal.signal`` gives the default back. The program's handler stays
    after it, and the functions' names and tracebacks are the originals' (as under python).
    """
    program = tmp_path / "graceful.py"
    program.write_text(
        "import os, signal\n"
        "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\n"
        "def graceful(number, frame):\n"
        "    print('graceful')\n"
        "if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:\n"
        "    print(signal.signal(signal.SIGTERM, graceful) is signal.SIG_DFL)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "print(signal.getsignal(signal.SIGTERM) is graceful)\n"
        "print(signal.signal.__name__, signal.getsignal.__module__)\n"
        "try:\n"
        "    signal.signal(signal.SIGTERM, 'no handler')\n"
        "except TypeError as exc:\n"
        "    print(type(exc).__name__, exc.__traceback__.tb_next is None)\n",
        encoding="utf-8",
    )
    plain = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, timeout=60, check=False
    )
    timeline = tmp_path / "t.json"
    result = run_syncscope("-q", "--timeline", str(timeline), str(program))
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr
    assert result.stdout.startswith("True\nTrue\ngraceful\nTrue\n"), result.stdout
    assert timeline.exists()


def test_a_handler_saved_and_put_back_still_writes_the_outputs(tmp_path: Path) -> None:
    """
    ``old = signal.signal(SIGTERM, h)`` then ``signal.signal(SIGTERM, old)``: the program puts
    back the default it was given, and the signal still ends it after the outputs are written.
    """
    program = tmp_path / "save_restore.py"
    program.write_text(
        "import os, signal, threading\n"
        "lock = threading.Lock()\n"
        "with lock:\n"
        "    pass\n"
        "old = signal.signal(signal.SIGTERM, lambda number, frame: None)\n"
        "signal.signal(signal.SIGTERM, old)\n"
        "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Event().wait(30)\n",
        encoding="utf-8",
    )
    timeline = tmp_path / "t.json"
    result = run_syncscope("-q", "--timeline", str(timeline), str(program))
    assert (-signal.SIGTERM, "True\n") == (result.returncode, result.stdout), result.stderr
    trace = json.loads(timeline.read_text(encoding="utf-8"))
    assert "hold lock" in {event["name"] for event in trace["traceEvents"]}
