"""
The runner's lines to a file of their own (``-o FILE``) are buffered and written by a thread of
syncscope's (see _core/output): every line still arrives, once, in order, whatever way the
program ends, and soon enough to be read while the program runs. Output the program writes to
as well is written a line at a time, as before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from syncscope._core.gil_write import (
    LOCAL_FILESYSTEMS,
    UNSUPPORTED,
    _c_call,
    filesystem_of,
    gil_writer,
)
from syncscope._core.output import FdWriter

from .conftest import run_python, run_syncscope


def _lock_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("lock ")]


def _program(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "program.py"
    script.write_text(
        "import os, sys, threading\n"
        "lock = threading.Lock()\n"
        "def work(n):\n"
        "    for _ in range(n):\n"
        "        with lock:\n"
        "            pass\n" + body
    )
    return script


class TestEveryLineArrives:
    def test_os_exit_from_a_thread(self, tmp_path: Path) -> None:
        """os._exit skips every clean-up, but not the lines buffered before it."""
        out = tmp_path / "lines.log"
        script = _program(
            tmp_path,
            "work(500)\n"
            "def end():\n"
            "    work(3)\n"
            "    os._exit(7)\n"
            "t = threading.Thread(target=end)\n"
            "t.start()\n"
            "t.join(30)\n"
            "raise SystemExit('not reached')\n",
        )
        result = run_syncscope("-o", str(out), str(script))
        assert 7 == result.returncode, result.stderr
        assert 2 * 503 == len(_lock_lines(out))

    def test_a_fork_writes_each_line_once(self, tmp_path: Path) -> None:
        """The parent's buffered lines are not written again by the child, and come first."""
        out = tmp_path / "lines.log"
        script = _program(
            tmp_path,
            "work(300)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    lock.acquire(); lock.release()\n"
            "    os._exit(0)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "work(2)\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n",
        )
        result = run_syncscope("-o", str(out), str(script))
        assert 0 == result.returncode, result.stderr
        lines = _lock_lines(out)
        assert 2 * 303 == len(lines)
        # The 600 lines made before the fork are the file's first 600.
        assert all("MainThread" in line for line in lines[:600])

    def test_an_exception_and_its_exit_status(self, tmp_path: Path) -> None:
        out = tmp_path / "lines.log"
        script = _program(tmp_path, "work(250)\nraise KeyError('boom')\n")
        result = run_syncscope("-o", str(out), str(script))
        assert 1 == result.returncode
        assert "KeyError: 'boom'" in result.stderr
        assert 500 == len(_lock_lines(out))

    def test_lines_are_in_the_file_while_the_program_waits(self, tmp_path: Path) -> None:
        """A program stuck (here on its standard input) has its last lines on disk already."""
        out = tmp_path / "lines.log"
        script = _program(
            tmp_path,
            "work(40)\nprint('ready', flush=True)\nsys.stdin.readline()\n",
        )
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        env.pop("PYTHONPATH", None)
        with subprocess.Popen(
            [sys.executable, "-m", "syncscope", "-o", str(out), str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
            env=env,
        ) as process:
            try:
                assert process.stdout is not None and process.stdin is not None
                assert "ready\n" == process.stdout.readline()
                # Written within the flush interval (0.05 s); allow a loaded machine 30 s.
                deadline = time.monotonic() + 30
                while len(_lock_lines(out)) < 80 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert 80 == len(_lock_lines(out))
                process.stdin.write("\n")
                process.stdin.close()
                assert 0 == process.wait(timeout=30)
            finally:
                process.kill()

    def test_a_line_appended_as_a_flush_writes_is_written_soon(self, tmp_path: Path) -> None:
        """
        A line appended while the flusher writes the buffer out (after it took the lines
        there, before it cut them off) finds the buffer not empty and rings nothing: the
        flusher writes it in its next round all the same. Once, nothing more was written
        until the writer closed.
        """
        out = tmp_path / "lines.log"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        writer = FdWriter(fd, owns_fd=True, buffered=True)

        class Gap(list[bytes]):
            """Appends, as another thread can, once the flush has taken its lines."""

            late = True

            def __getitem__(self, index: Any) -> Any:
                taken = super().__getitem__(index)
                if isinstance(index, slice) and self.late:
                    self.late = False
                    writer.write(b"late\n")
                return taken

        writer._pending = Gap()
        try:
            writer.write(b"first\n")
            # Written within two flush intervals (0.05 s each); allow a loaded machine 30 s.
            deadline = time.monotonic() + 30
            while out.read_bytes() != b"first\nlate\n" and time.monotonic() < deadline:
                time.sleep(0.01)
            assert b"first\nlate\n" == out.read_bytes()
            assert not writer._pending
        finally:
            writer.close()

    def test_lines_after_the_flusher_stepped_aside_for_a_fork(self, tmp_path: Path) -> None:
        """
        Before a single-threaded program's fork the flusher ends (see _core/ourthreads): a
        line buffered just before is written then, and the lines after it by the next
        flusher, soon, not when the writer closes.
        """
        out = tmp_path / "lines.log"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        writer = FdWriter(fd, owns_fd=True, buffered=True)
        try:
            writer.write(b"before\n")  # rings the flusher, which lets lines gather a while
            assert writer.step_aside() is not None
            assert b"before\n" == out.read_bytes()
            expected = b"before\n" + b"".join(b"after %d\n" % n for n in range(100))
            for n in range(100):
                writer.write(b"after %d\n" % n)
            deadline = time.monotonic() + 30  # within a flush interval; a loaded machine: 30 s
            while out.read_bytes() != expected and time.monotonic() < deadline:
                time.sleep(0.01)
            assert expected == out.read_bytes()
        finally:
            writer.close()

    def test_the_api_without_uninstall(self, tmp_path: Path) -> None:
        """install(buffer_output=True) and nothing else: the lines are written at exit."""
        out = tmp_path / "lines.log"
        script = tmp_path / "program.py"
        script.write_text(
            "import sys, threading, syncscope\n"
            "syncscope.install(output=sys.argv[1], buffer_output=True)\n"
            "lock = threading.Lock()\n"
            "for _ in range(100):\n"
            "    with lock:\n"
            "        pass\n"
        )
        result = run_python(str(script), str(out))
        assert 0 == result.returncode, result.stderr
        assert 200 == len(_lock_lines(out))


class TestSharedOutputIsNotBuffered:
    def test_lines_stay_in_order_with_the_programs_own(self, tmp_path: Path) -> None:
        """``-o /dev/stderr`` is the program's standard error: each line is written at once."""
        script = _program(
            tmp_path,
            "for i in range(3):\n"
            "    work(1)\n"
            "    print(f'program {i}', file=sys.stderr, flush=True)\n",
        )
        result = run_syncscope("-o", "/dev/stderr", str(script), merge_stderr=True)
        assert 0 == result.returncode, result.stdout
        lines = [
            line for line in result.stdout.splitlines() if line.startswith(("lock ", "program"))
        ]
        expected = []
        for i in range(3):
            expected += ["acquired", "released", f"program {i}"]
        assert expected == [
            line if line.startswith("program") else line.split()[-3] for line in lines
        ]

    def test_a_terminal_or_standard_error_is_written_at_once(self, tmp_path: Path) -> None:
        """The writer decides by the file itself: a file of its own is buffered, stderr not."""
        own = os.open(tmp_path / "own.log", os.O_WRONLY | os.O_CREAT)
        try:
            assert FdWriter(own, owns_fd=False, buffered=True).buffered
        finally:
            os.close(own)
        assert not FdWriter(2, owns_fd=False, buffered=True).buffered
        assert not FdWriter(os.open(os.devnull, os.O_WRONLY), owns_fd=True, buffered=True).buffered


#: fcntl's F_SETPIPE_SZ (Linux): a pipe of one page fills after a few lines.
_SET_PIPE_SIZE = 1031

#: The program's standard error, drained by a thread of its own: a one-page pipe, or a
#: terminal (a pty), made before its workers start.
_OWN_STDERR = {
    "pipe": (f"read_end, write_end = os.pipe()\nfcntl.fcntl(write_end, {_SET_PIPE_SIZE}, 4096)\n"),
    "terminal": "read_end, write_end = os.openpty()\n",
}


class TestWrittenAtOnceWhileThreadsRun:
    """
    While the program runs threads, a line written at once keeps the GIL when the kernel can
    write it without waiting (see _core/gil_write); it must never wait with the GIL held.
    """

    @pytest.mark.parametrize(
        ("stderr", "program_writes", "started_on"),
        [
            ("pipe", False, "pipe"),
            ("pipe", True, "pipe"),
            ("terminal", False, "pipe"),
            ("terminal", True, "pipe"),
            ("pipe", False, "file"),
            ("terminal", False, "file"),
        ],
    )
    def test_output_the_program_drains_itself(
        self, tmp_path: Path, stderr: str, program_writes: bool, started_on: str
    ) -> None:
        """
        The program's standard error is a pipe or a terminal a thread of its own drains, as
        output-capturing libraries do, and with ``program_writes`` a thread of the program
        writes 4 KiB blocks (what a pipe takes whole) to it too: it can fill the pipe at any
        moment, between a look at the room left and a write. A write that waited for room
        holding the GIL would keep the reader from running for ever. Every line arrives, whole.
        The program may start with its standard error a file (``2> log``), which is written
        keeping the GIL without asking the kernel not to wait: once the pipe is put in its
        place, a write so would wait for the reader for ever.
        """
        long_name = "a_lock_with_a_name_long_enough_to_fill_a_pipe_quickly_" + "x" * 100
        script = tmp_path / "program.py"
        script.write_text(
            "import fcntl, os, re, threading\n" + _OWN_STDERR[stderr] + "saved = os.dup(2)\n"
            "os.dup2(write_end, 2)\n"
            "os.close(write_end)\n"
            "chunks = []\n"
            "def drain():\n"
            "    while True:\n"
            "        try:\n"
            "            chunk = os.read(read_end, 65536)\n"
            "        except OSError:  # a terminal's end: EIO\n"
            "            return\n"
            "        if not chunk:\n"
            "            return\n"
            "        chunks.append(chunk)\n"
            "reader = threading.Thread(target=drain)\n"
            "reader.start()\n"
            f"{long_name} = threading.Lock()\n"
            "def work():\n"
            "    for _ in range(2000):\n"
            f"        with {long_name}:\n"
            "            pass\n"
            "def write_blocks():\n"
            "    for _ in range(100):\n"
            "        os.write(2, b'-' * 4095 + b'\\n')\n"
            "workers = [threading.Thread(target=work) for _ in range(2)]\n"
            f"if {program_writes}:\n"
            "    workers.append(threading.Thread(target=write_blocks))\n"
            "for w in workers:\n"
            "    w.start()\n"
            "for w in workers:\n"
            "    w.join(60)\n"
            "os.dup2(saved, 2)  # the last write end closes: the reader sees its end\n"
            "reader.join(60)\n"
            "text = b''.join(chunks).decode().replace('\\r', '')\n"
            "lines = [l for l in text.splitlines() if not l.startswith('-')]\n"
            "whole = r'lock a_lock_\\w+ (acquired|released|wait) by Thread-\\d+ \\(work\\)'\n"
            "whole += r'( after .+)?'\n"
            "print(sum(' acquired by Thread-' in l for l in lines),\n"
            "      sum(' released by Thread-' in l for l in lines),\n"
            "      [l for l in lines if not re.fullmatch(whole, l)][:3],\n"
            "      text.count('-' * 4095))\n"
        )
        first = tmp_path / "stderr.log" if started_on == "file" else None
        result = run_syncscope("--no-deadlock-detection", str(script), timeout=120, stderr_to=first)
        assert 0 == result.returncode, result.stderr
        blocks = 100 if program_writes else 0
        assert f"4000 4000 [] {blocks}" == result.stdout.strip()

    def test_standard_error_redirected_to_a_file(self, tmp_path: Path) -> None:
        """
        ``2> log``: while two threads take a lock, the main thread writes lines of its own to
        the same file between its own lock uses; every line arrives whole, and the main
        thread's in the order it wrote them and said its lock uses.
        """
        script = _program(
            tmp_path,
            "workers = [threading.Thread(target=work, args=(2000,)) for _ in range(2)]\n"
            "for w in workers:\n"
            "    w.start()\n"
            "for i in range(50):\n"
            "    work(1)\n"
            # One write: print() to standard error writes the text and its newline apart.
            "    os.write(2, f'program {i}\\n'.encode())\n"
            "for w in workers:\n"
            "    w.join(60)\n",
        )
        log = tmp_path / "stderr.log"
        result = run_syncscope("--no-deadlock-detection", str(script), timeout=120, stderr_to=log)
        text = result.stderr
        assert 0 == result.returncode, text[-2000:]
        lines = text.splitlines()
        # A contended acquire says it waits too: only the acquired and released are counted.
        ops = [line.split()[1] for line in lines if line.startswith("lock ") and "(work)" in line]
        assert (4000, 4000) == (ops.count("acquired"), ops.count("released")), lines[:5]
        main = [
            line
            for line in lines
            if line.startswith("program")
            or ("MainThread" in line and line.split()[1] in ("acquired", "released"))
        ]
        expected = []
        for i in range(50):
            expected += ["acquired", "released", f"program {i}"]
        assert expected == [
            line if line.startswith("program") else line.split()[1] for line in main
        ]

    def test_a_local_file_is_written_keeping_the_gil(self, tmp_path: Path) -> None:
        """
        A regular file on a local filesystem is written at its position, shared with the
        program's own writes to it, and at its end when it was opened to append.
        """
        if filesystem_of(os.stat(tmp_path).st_dev) not in LOCAL_FILESYSTEMS:
            pytest.skip(f"{tmp_path} is not on a filesystem known to be local")
        if _c_call() is None:
            pytest.skip("no pwritev2 through ctypes here: os.write writes every line")
        path = tmp_path / "log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            write = gil_writer(fd)
            assert write is not None
            assert 5 == write(b"one.\n")
            os.write(fd, b"the program's\n")
            assert 5 == write(b"two.\n")
        finally:
            os.close(fd)
        assert "one.\nthe program's\ntwo.\n" == path.read_text()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            write = gil_writer(fd)
            assert write is not None
            assert 7 == write(b"three.\n")
        finally:
            os.close(fd)
        assert path.read_text().endswith("two.\nthree.\n")
        # The lines' writer takes it so (standard error redirected to a file, unbuffered).
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            assert FdWriter(fd, owns_fd=False, keep_gil=True)._keeping_gil is not None
            write = gil_writer(fd)
            assert write is not None
            assert 6 == write(b"four.\n")
            # Pointed at a pipe: not written so any more (a reader of the program's may drain it).
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            assert -errno.EOPNOTSUPP == write(b"five.\n")
            os.close(read_end)
            os.close(write_end)
        finally:
            os.close(fd)

    def test_which_filesystem_a_file_is_on(self, tmp_path: Path) -> None:
        """Read from mountinfo by the file's device, optional fields or not."""
        mountinfo = tmp_path / "mountinfo"
        mountinfo.write_text(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
            "40 22 0:45 / /net rw,relatime shared:20 master:3 - nfs4 server:/ rw,vers=4.2\n"
            "41 22 0:46 / /mnt/fuse rw,nosuid - fuse.sshfs host: rw,user_id=0\n"
        )
        assert "ext4" == filesystem_of(os.makedev(8, 1), str(mountinfo))
        assert "nfs4" == filesystem_of(os.makedev(0, 45), str(mountinfo))
        assert "fuse.sshfs" == filesystem_of(os.makedev(0, 46), str(mountinfo))
        assert filesystem_of(os.makedev(8, 2), str(mountinfo)) is None
        assert filesystem_of(os.makedev(8, 1), str(tmp_path / "missing")) is None
        assert not {"nfs4", "fuse.sshfs", "cifs", "9p"} & LOCAL_FILESYSTEMS

    def test_a_pipe_that_cannot_take_a_line_now(self) -> None:
        """
        Full, the pipe is not written and not waited on; a terminal or a socket is never
        written so.
        """
        read_end, write_end = os.pipe()
        try:
            write = gil_writer(write_end)
            if write is None:
                pytest.skip("no pwritev2 through ctypes here: os.write writes every line")
            first = write(b"line\n")
            if -first in UNSUPPORTED:
                pytest.skip("this kernel cannot write a pipe without waiting (Linux 6.4+)")
            assert 5 == first
            os.set_blocking(write_end, False)
            with contextlib.suppress(BlockingIOError):
                while True:  # fill it
                    os.write(write_end, b"x" * 4096)
            os.set_blocking(write_end, True)
            assert -errno.EAGAIN == write(b"line\n")  # full: not written, and at once
            assert os.read(read_end, 1 << 20)  # all it holds: room for a line again
            assert 5 == write(b"line\n")
            # Only a bytes is written so (the call reads its contents at their address).
            assert -errno.EAGAIN == write(bytearray(b"line\n"))  # type: ignore[arg-type]
            assert b"line\n" == os.read(read_end, 1 << 20)
            os.close(read_end)
            read_end = -1
            assert -errno.EPIPE == write(b"line\n")  # nobody reads: os.write says so
        finally:
            os.close(write_end)
            if read_end != -1:
                os.close(read_end)
        leader, follower = os.openpty()
        try:
            assert gil_writer(follower) is None  # a terminal may keep a write waiting
        finally:
            os.close(leader)
            os.close(follower)
        one, other = socket.socketpair()
        with one, other:
            assert gil_writer(one.fileno()) is None  # a socket may take part of a line


#: A program that takes two locks in both orders: a finding, written when found.
BOTH_ORDERS = """
import threading
a, b = threading.Lock(), threading.Lock()
with a:
    with b:
        pass
with b:
    with a:
        pass
"""
LIVE = "syncscope: possible deadlock: lock-order inversion between lock a and lock b"


class TestFindingsToTheStartingStderr:
    """
    A finding goes to the standard error ``python -m syncscope`` started with when another
    file was put on fd 2 (a test runner's capture), as long as that one is still open where
    syncscope kept it; else to fd 2, as before.
    """

    def test_fd2_swapped_the_finding_goes_where_syncscope_started(self, tmp_path: Path) -> None:
        body = f"""
import os, tempfile
capture = tempfile.TemporaryFile()  # a capture's file, as pytest's: no name
os.dup2(capture.fileno(), 2)
{BOTH_ORDERS}
capture.seek(0)
print("captured:", repr(capture.read().decode()))
"""
        stderr = tmp_path / "stderr.txt"
        result = run_syncscope("-q", str(_program(tmp_path, body)), stderr_to=stderr)
        assert 0 == result.returncode, result.stderr
        assert 1 == result.stderr.count(LIVE), result.stderr
        assert "syncscope report:" in result.stderr
        assert "captured: ''" in result.stdout, result.stdout

    def test_a_program_s_own_log_on_fd2_keeps_its_findings(self, tmp_path: Path) -> None:
        """
        A daemon puts its own log on fd 2 and forks: the finding goes to that log, not to
        the standard error syncscope started with, which the child does not hold open.
        """
        log, stderr = tmp_path / "daemon.log", tmp_path / "stderr.txt"
        body = f"""
import os
def holding(path):
    start = os.stat(path)
    found = []
    for number in range(3, 1024):
        try:
            info = os.fstat(number)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (start.st_dev, start.st_ino):
            found.append(number)
    return found
log = os.open({str(log)!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(log, 2)
pid = os.fork()
if pid:
    os.waitpid(pid, 0)
    raise SystemExit(0)
print("child holds:", holding({str(stderr)!r}), flush=True)
{BOTH_ORDERS}
os._exit(0)
"""
        result = run_syncscope("-q", "--no-report", str(_program(tmp_path, body)), stderr_to=stderr)
        assert 0 == result.returncode, result.stderr
        assert "child holds: []" in result.stdout, result.stdout
        assert LIVE in log.read_text()
        assert LIVE not in result.stderr

    def test_a_program_that_closed_it_and_reused_its_number_gets_nothing(
        self, tmp_path: Path
    ) -> None:
        """
        The program closes every fd past 2 and puts a file of its own at each number up to
        127 (among them the one syncscope kept), then a capture's file on fd 2: the finding
        goes to fd 2, nothing into the program's files.
        """
        body = f"""
import os, tempfile
os.closerange(3, 128)
capture = tempfile.TemporaryFile()  # a capture's file, as pytest's: no name
mine = os.open({str(tmp_path / "mine.txt")!r}, os.O_WRONLY | os.O_CREAT, 0o644)
for number in range(3, 128):
    if number not in (mine, capture.fileno()):
        os.dup2(mine, number)
os.dup2(capture.fileno(), 2)
{BOTH_ORDERS}
capture.seek(0)
print("captured:", repr(capture.read().decode()))
"""
        stderr = tmp_path / "stderr.txt"
        result = run_syncscope("-q", "--no-report", str(_program(tmp_path, body)), stderr_to=stderr)
        assert 0 == result.returncode, result.stderr
        assert "" == (tmp_path / "mine.txt").read_text()
        assert LIVE in result.stdout, result.stdout  # in the capture, where fd 2 pointed
        assert LIVE not in result.stderr


#: Where the profile function of the program below takes the program's lock (by module,
#: function and profile event), and the options. Each was a lock of
#: syncscope's held there, which the holder thread waited for; each is now taken for moments,
#: waited for a second at most, or not at all (see registry.bounded_takes):
_INSIDE: dict[str, tuple[set[tuple[str, str, str]], list[str]]] = {
    # The write of a finding's line (at its os.write): no lock now.
    "findings on standard error": ({("syncscope._core.output", "write", "c_call")}, ["-q"]),
    # The write of a line to a file of syncscope's own, written at once (its writer's lock).
    "lines to -o /dev/stderr": (
        {
            ("syncscope._core.output", "_write", "c_call"),
            ("syncscope._core.output", "_write_keeping_gil", "c_call"),
        },
        ["-o", "/dev/stderr"],
    ),
    # The spans' part of a finding: paired by the worker now (or as the sink is done with it).
    "findings as spans": (
        {
            ("syncscope._sinks.spans.pairing", "finding", "c_call"),
            ("syncscope._sinks.spans.sink", "on_finding", "return"),
        },
        ["-q", "--jaeger-file", "{trace}"],
    ),
    # The pairing of an event on its thread (lines carry the ids), under the sink's lock.
    "spans beside the lines": (
        {("syncscope._sinks.spans.pairing", "pair", "c_call")},
        ["--jaeger-file", "{trace}"],
    ),
    # A finding's record (the recorder's lock).
    "a finding's record": ({("syncscope._sinks.recorder", "_slow", "c_call")}, ["-q"]),
}


@pytest.mark.parametrize("where", sorted(_INSIDE))
def test_the_programs_code_run_inside_syncscope_does_not_hang_it(
    tmp_path: Path, where: str
) -> None:
    """
    Every hold is a finding here (``--long-hold-ms`` of a nanosecond). One thread holds the
    program's lock; another's profile function, run inside syncscope's handling of an
    operation, a finding or a line, waits for that lock; the first then lets it go, and what
    syncscope makes of that is handled before the lock is given back (so that the lines keep
    their order). Both waited for ever while syncscope held a lock of its own there.
    """
    spots, options = _INSIDE[where]
    trace = tmp_path / "trace.json"
    args = ["--long-hold-ms", "0.000001"]
    args += [option.format(trace=trace) for option in options]
    body = f"""
import sys, threading
shared = threading.Lock()
armed, inside = threading.Event(), threading.Event()
def profiler(frame, event, arg):
    if (frame.f_globals.get("__name__"), frame.f_code.co_name, event) in {spots!r}:
        sys.setprofile(None)
        inside.set()
        with shared:
            pass
def holder():
    with shared:
        armed.set()
        inside.wait(20)
def finder():
    armed.wait(20)
    sys.setprofile(profiler)
    with threading.Lock():
        pass
    sys.setprofile(None)
threads = [threading.Thread(target=f, daemon=True) for f in (holder, finder)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(20)
print("inside" if inside.is_set() else "not inside")
print("stuck" if any(thread.is_alive() for thread in threads) else "finished")
"""
    program = _program(tmp_path, body)
    result = run_syncscope(*args, "--no-report", str(program), timeout=60)
    assert (result.returncode, result.stdout) == (0, "inside\nfinished\n"), result.stderr
    if trace.exists():  # the findings' spans are all there
        said = result.stderr.count("syncscope: " if "-q" in args else " held ")
        assert trace.read_text().count('"syncscope.finding.text"') == said >= 2, result.stderr
