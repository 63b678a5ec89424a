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
import threading
from pathlib import Path

import pytest

from .conftest import run_syncscope


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
