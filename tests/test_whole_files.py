"""
The files syncscope writes whole at exit (``--report-json``, ``--timeline``, ``--html``,
``--jaeger-file``) go where their path points: a symbolic link stays a link and its target
gets the content; a FIFO (as ``/dev/stdout`` piped to a reader) gets it written into it. A
rename onto such a path replaced it with a regular file: as root, ``--jaeger-file
/dev/null`` replaced the device, and every later write to /dev/null on the machine went into
a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import _test_env, run_syncscope


PROGRAM = """\
import threading
lock = threading.Lock()
with lock:
    pass
print("done")
"""


def _check_json(text: str) -> None:
    assert isinstance(json.loads(text), dict)


def _check_html(text: str) -> None:
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in text


#: option -> what its content must be.
WHOLE_FILES = {
    "--report-json": _check_json,
    "--timeline": _check_json,
    "--html": _check_html,
    "--jaeger-file": _check_json,
}


def _run(tmp_path: Path, option: str, path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    result = run_syncscope("-q", f"{option}={path}", str(script), timeout=60)
    assert 0 == result.returncode, result.stderr
    assert "done\n" == result.stdout


@pytest.mark.parametrize("option", list(WHOLE_FILES))
def test_a_symbolic_link_stays_and_its_target_gets_the_file(tmp_path: Path, option: str) -> None:
    """The link is not replaced by a file of its own; no temporary file is left behind."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out"
    link = tmp_path / "link"
    link.symlink_to(target)
    _run(tmp_path, option, link)
    assert link.is_symlink()
    WHOLE_FILES[option](target.read_text())
    left = sorted(p.name for p in [*tmp_path.iterdir(), *target.parent.iterdir()])
    assert ["link", "out", "prog.py", "real"] == left


@pytest.mark.parametrize("option", list(WHOLE_FILES))
def test_a_fifo_gets_the_file_written_into_it(tmp_path: Path, option: str) -> None:
    """A reader of the FIFO reads the whole file; the FIFO is still one afterwards."""
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        _run(tmp_path, option, fifo)
    finally:
        # A reader still waiting for a writer (none came) is let go with nothing.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(30)
    assert fifo.is_fifo()
    assert not reader.is_alive()
    WHOLE_FILES[option](read[0].decode())


@pytest.mark.parametrize("option", list(WHOLE_FILES))
def test_standard_output_sent_to_a_file_keeps_the_programs_output(
    tmp_path: Path, option: str
) -> None:
    """``/dev/stdout`` is the program's own output: the file comes after it, nothing emptied."""
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    out = tmp_path / "out.txt"
    with out.open("wb") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "syncscope", "-q", f"{option}=/dev/stdout", str(script)],
            cwd=tmp_path,
            env=_test_env(),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert 0 == result.returncode, result.stderr
    text = out.read_text()
    assert text.startswith("done\n")
    WHOLE_FILES[option](text.removeprefix("done\n"))


@pytest.mark.parametrize("option", ["--report-json", "--jaeger-file"])
def test_a_fifo_nobody_reads_is_given_up_with_a_line(tmp_path: Path, option: str) -> None:
    """The run ends (a few seconds' wait for a reader), says why, and exits as the program did."""
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM + "raise SystemExit(3)\n")
    result = run_syncscope("-q", f"{option}={fifo}", str(script), timeout=60)
    assert 3 == result.returncode
    assert "done\n" == result.stdout
    lines = [line for line in result.stderr.splitlines() if str(fifo) in line]
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("syncscope: cannot write") and "no reader" in lines[0]
    assert "Traceback" not in result.stderr
    assert fifo.is_fifo()


def test_a_socket_is_refused_at_start(tmp_path: Path) -> None:
    """Neither a file nor a stream: a one-line error before the program runs."""
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        result = run_syncscope("-q", f"--report-json={path}", "-c", "print('ran')", timeout=60)
    finally:
        server.close()
    assert 2 == result.returncode
    assert "" == result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"syncscope: error: cannot write to {str(path)!r}: not a file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
@pytest.mark.parametrize("option", list(WHOLE_FILES))
def test_a_character_device_stays_one(tmp_path: Path, option: str) -> None:
    """A device of the null kind, made here: written into, never replaced by a file."""
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _run(tmp_path, option, device)
    assert stat.S_ISCHR(device.lstat().st_mode)
