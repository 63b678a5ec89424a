"""Run ``python -m syncscope`` in the background and read its output as it comes."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def start_syncscope(*args: str) -> subprocess.Popen[bytes]:
    """``python -m syncscope ARGS``, as a user would start it, with stderr to read."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.Popen(
        [sys.executable, "-m", "syncscope", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tempfile.gettempdir(),
        env=env,
    )


def read_until(process: subprocess.Popen[bytes], *needles: str, timeout: float = 10) -> str:
    """Standard error until ``needles`` have all appeared, in that order (or at timeout)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(deadline - time.monotonic(), 0)):
                break
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                break
            data += chunk
            if _in_order(data.decode("utf-8", "replace"), needles):
                break
    return data.decode("utf-8", "replace")


def _in_order(text: str, needles: tuple[str, ...]) -> bool:
    position = 0
    for needle in needles:
        position = text.find(needle, position)
        if position < 0:
            return False
        position += len(needle)
    return True


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill it (it is deadlocked or hung on purpose) and reap it."""
    process.kill()
    process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


def script(tmp_path: Path, source: str, name: str = "prog.py") -> Path:
    """Write a test program (indented source is dedented) and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path
