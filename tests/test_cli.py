"""python -m syncscope runs a program exactly as python does, and reports its primitives."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import REPO, run_python, run_syncscope


def _script(tmp_path: Path, source: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


class TestRunsLikePython:
    def test_argv_name_path_and_stdin(self, tmp_path: Path) -> None:
        """sys.argv, __name__, __file__, sys.path[0] and stdin are what python gives."""
        script = _script(
            tmp_path,
            """
            import os, sys
            print(sys.argv)
            print(__name__)
            print(os.path.basename(__file__), os.path.isabs(__file__))
            print(sys.path[0])
            print(sys.stdin.read().upper())
            """,
        )
        expected = run_python(str(script), "a", "--b", input="hello", cwd=tmp_path)
        actual = run_syncscope(str(script), "a", "--b", input="hello", cwd=tmp_path)
        assert expected.returncode == actual.returncode == 0
        assert expected.stdout == actual.stdout

    @pytest.mark.parametrize(
        ("code", "status"), [("sys.exit(3)", 3), ("sys.exit('bye')", 1), ("pass", 0)]
    )
    def test_exit_status(self, tmp_path: Path, code: str, status: int) -> None:
        """The program's exit status and exit message pass through."""
        script = _script(tmp_path, f"import sys\n{code}\n")
        expected = run_python(str(script))
        actual = run_syncscope(str(script))
        assert status == expected.returncode == actual.returncode
        assert expected.stderr == actual.stderr

    def test_uncaught_exception(self, tmp_path: Path) -> None:
        """An uncaught exception prints python's traceback, without syncscope frames, status 1."""
        script = _script(
            tmp_path,
            """
            def fail():
                raise ValueError("boom")
            fail()
            """,
        )
        expected = run_python(str(script))
        actual = run_syncscope(str(script))
        assert 1 == expected.returncode == actual.returncode
        assert expected.stderr == actual.stderr
        assert "syncscope" not in actual.stderr

    def test_keyboard_interrupt_dies_by_sigint(self, tmp_path: Path) -> None:
        """An uncaught KeyboardInterrupt ends the process by SIGINT, as python does."""
        script = _script(tmp_path, "raise KeyboardInterrupt\n")
        expected = run_python(str(script))
        actual = run_syncscope(str(script))
        assert -signal.SIGINT == expected.returncode == actual.returncode
        assert expected.stderr == actual.stderr

    def test_syntax_error(self, tmp_path: Path) -> None:
        """A script that does not compile fails as under python."""
        script = _script(tmp_path, "def broken(:\n")
        expected = run_python(str(script))
        actual = run_syncscope(str(script))
        assert expected.returncode == actual.returncode == 1
        assert "SyntaxError" in actual.stderr

    def test_dash_m_and_dash_c(self, tmp_path: Path) -> None:
        """-m module and -c code run as under python, with their arguments."""
        (tmp_path / "pkg").mkdir()
        (tmp_path / "pkg" / "__init__.py").write_text("")
        _script(
            tmp_path / "pkg",
            "import sys\nprint(__name__, sys.argv[1:], sys.path[0] == __import__('os').getcwd())\n",
            name="tool.py",
        )
        expected = run_python("-m", "pkg.tool", "x", cwd=tmp_path)
        actual = run_syncscope("-m", "pkg.tool", "x", cwd=tmp_path)
        assert expected.stdout == actual.stdout == "__main__ ['x'] True\n"
        code = "import sys; print(__name__, sys.argv, repr(sys.path[0]))"
        expected = run_python("-c", code, "y", cwd=tmp_path)
        actual = run_syncscope("-c", code, "y", cwd=tmp_path)
        assert expected.stdout == actual.stdout

    def test_program_options_are_not_syncscopes(self, tmp_path: Path) -> None:
        """Options after the script belong to the script, even ones syncscope also has."""
        script = _script(tmp_path, "import sys; print(sys.argv[1:])\n")
        actual = run_syncscope("--format", "json", str(script), "--format", "-q", "--help")
        assert "['--format', '-q', '--help']\n" == actual.stdout


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["missing.py"], "can't open file 'missing.py'"),
            (["--bogus", "x.py"], "unrecognized arguments: --bogus"),
            (["--format", "xml", "x.py"], "invalid choice: 'xml'"),
            (["--kinds", "lock,mutex", "x.py"], "unknown kind 'mutex'"),
            ([], "no program given"),
            (["-m"], "expected a module name"),
            (["-o", "/nonexistent/dir/out.log", "-c", "pass"], "cannot write to"),
        ],
    )
    def test_one_line_error_and_status_2(self, args: list[str], message: str) -> None:
        """Bad input gets one line on stderr and exit status 2, never a traceback."""
        result = run_syncscope(*args)
        assert 2 == result.returncode
        assert 1 == len(result.stderr.splitlines()), result.stderr
        assert message in result.stderr
        assert result.stderr.startswith("syncscope: error: ")

    def test_help_lists_the_options(self) -> None:
        """--help documents the options and the way to name the program."""
        result = run_syncscope("--help")
        assert 0 == result.returncode
        for option in ("--format", "--output", "--kinds", "--all", "--no-lines", "-m module"):
            assert option in result.stdout


class TestArticleOutput:
    def test_lock_example(self) -> None:
        """examples/lock.py prints the article's lock lines, in a mutually exclusive order."""
        result = run_syncscope(str(REPO / "examples" / "lock.py"), merge_stderr=True)
        assert 0 == result.returncode
        lines = result.stdout.splitlines()
        acquired = [line for line in lines if line.startswith("lock acquired by Thread-")]
        assert 4 == len(acquired)
        holder = None
        for line in lines:
            if line.startswith("lock acquired by "):
                assert holder is None
                holder = line.split(" by ")[1].split()[0]
            elif line.startswith("lock released by "):
                assert holder == line.split(" by ")[1]
                holder = None
            elif line.startswith("write done by "):
                assert holder == line.split(" by ")[1], "a write outside the lock"

    def test_queue_example(self) -> None:
        """examples/queue_example.py prints '<n> put to queue ...' before '<n> got from ...'."""
        result = run_syncscope(str(REPO / "examples" / "queue_example.py"), merge_stderr=True)
        assert 0 == result.returncode
        lines = result.stdout.splitlines()
        puts = [line for line in lines if " put to queue integers_queue by Thread-1" in line]
        assert len(puts) >= 5
        for put in puts:
            item = put.split()[0]
            got = next(i for i, line in enumerate(lines) if line.startswith(f"{item} got from"))
            assert lines.index(put) < got

    def test_condition_example(self) -> None:
        """examples/condition.py shows the article's condition lines."""
        result = run_syncscope(str(REPO / "examples" / "condition.py"), merge_stderr=True)
        assert 0 == result.returncode
        lines = result.stdout.splitlines()
        for line in (
            "condition acquired by Thread-1",
            "condition released by Thread-1",
            "condition acquired by Thread-2",
            "condition released by Thread-2",
        ):
            assert line in lines
        # Whether the consumer ever has to wait depends on the schedule: on a loaded machine
        # it may find an integer every time. Then every notify finds nobody waiting; when it
        # does wait, a notify finds it waiting and wakes it. A consumer blocked taking the
        # condition while the producer holds it is not waiting on it: its line says so
        # ("condition busy, acquire waits by Thread-2"), and the notify finds nobody.
        notified = "condition notified by Thread-1"
        assert notified in lines or f"{notified} (nobody waiting)" in lines
        if "condition wait by Thread-2" in lines:
            assert notified in lines
            assert any(line.startswith("condition woken by Thread-2") for line in lines)
        else:
            assert notified not in lines

    def test_output_file_json_and_logfmt(self, tmp_path: Path) -> None:
        """-o writes the lines to a file; json and logfmt carry the structured fields."""
        out = tmp_path / "sync.jsonl"
        result = run_syncscope(
            "--format", "json", "-o", str(out), str(REPO / "examples" / "event.py")
        )
        assert 0 == result.returncode
        assert "event set by" not in result.stderr
        import json

        first = json.loads(out.read_text().splitlines()[0])
        for key in ("event", "kind", "name", "thread", "thread_id", "timestamp", "file", "line"):
            assert key in first
        logfmt = run_syncscope("--format", "logfmt", str(REPO / "examples" / "lock.py"))
        assert 'event="lock acquired by Thread-' in logfmt.stderr

    def test_no_lines_and_kinds(self) -> None:
        """-q writes no lines; --kinds limits what is reported."""
        example = str(REPO / "examples" / "semaphore.py")
        assert "acquired by" not in run_syncscope("-q", example).stderr
        only_locks = run_syncscope("--kinds", "lock", example).stderr
        assert "semaphore" not in only_locks

    def test_all_includes_library_primitives(self, tmp_path: Path) -> None:
        """--all reports the Event inside every Thread; the default does not."""
        script = _script(
            tmp_path, "import threading\nt = threading.Thread(target=print)\nt.start()\nt.join()\n"
        )
        assert "event" not in run_syncscope(str(script)).stderr
        assert "event" in run_syncscope("--all", str(script)).stderr


def test_lines_stay_in_order_with_the_programs_output(tmp_path: Path) -> None:
    """On a shared pipe, the program's lines and ours come out in the order they happened."""
    script = _script(
        tmp_path,
        """
        import threading
        lock = threading.Lock()
        for number in range(50):
            print(f"before {number}")
            with lock:
                print(f"inside {number}")
        """,
    )
    result = run_syncscope(str(script), merge_stderr=True)
    lines = result.stdout.splitlines()
    expected = []
    for number in range(50):
        expected += [
            f"before {number}",
            "lock acquired by MainThread",
            f"inside {number}",
            "lock released by MainThread",
        ]
    assert expected == lines
    assert sys.executable


def test_dash_m_package_in_site_packages_is_the_users(tmp_path: Path) -> None:
    """A package run with -m is reported even when it lives where installed packages live."""
    site = tmp_path / "lib" / "site-packages"
    (site / "app").mkdir(parents=True)
    (site / "app" / "__init__.py").write_text("")
    (site / "app" / "main.py").write_text(
        "import threading\nlock = threading.Lock()\nwith lock:\n    pass\n"
    )
    result = run_syncscope("-m", "app.main", env={"PYTHONPATH": str(site)})
    assert "lock acquired by MainThread" in result.stderr


def test_hide_items_keeps_items_out_of_the_lines(tmp_path: Path) -> None:
    """--hide-items: the queue lines do not show the items."""
    script = _script(tmp_path, "import queue\nq = queue.Queue()\nq.put('SECRET')\nq.get()\n")
    shown = run_syncscope(str(script)).stderr
    hidden = run_syncscope("--hide-items", str(script)).stderr
    assert "'SECRET' put to queue q by MainThread" in shown
    assert "SECRET" not in hidden
    assert "item put to queue q by MainThread" in hidden


def test_ctrl_c_never_leaves_a_lock_held(tmp_path: Path) -> None:
    """A KeyboardInterrupt landing in syncscope's own code does not leave the lock held."""
    script = _script(
        tmp_path,
        """
        import _thread, os, signal, threading
        # Ctrl-C as a terminal gives it, even when the suite runs in the background (whose
        # children start with SIGINT ignored, and python leaves it so).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        lock = threading.Lock()
        started = _thread.allocate_lock()
        started.acquire()
        def interrupt():
            started.acquire(timeout=10)
            os.kill(os.getpid(), signal.SIGINT)
        _thread.start_new_thread(interrupt, ())
        try:
            for n in range(10_000_000):
                with lock:
                    pass
                if n == 100:
                    started.release()
        except KeyboardInterrupt:
            print("locked after interrupt:", lock.locked())
        """,
    )
    for _ in range(3):
        result = run_syncscope("-o", os.devnull, str(script), timeout=60)
        assert "locked after interrupt: False\n" == result.stdout, result.stderr
