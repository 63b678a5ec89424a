"""
Shared fixtures: every test leaves threading and queue exactly as it found them.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.registry import PATCHED_NAMES, get_original


REPO = Path(__file__).resolve().parent.parent
MODULES = {"threading": threading, "queue": queue}


@pytest.fixture(autouse=True)
def _uninstall_after_each_test() -> Iterator[None]:
    yield
    syncscope.uninstall()
    for module_name, names in PATCHED_NAMES.items():
        for name in names:
            assert getattr(MODULES[module_name], name) is get_original(module_name, name), (
                f"{module_name}.{name} was left patched"
            )


class Capture:
    """Installs syncscope with JSON lines to a file, and reads them back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def install(self, **options: Any) -> None:
        syncscope.install(format="json", output=str(self.path), **options)

    def events(self) -> list[dict[str, Any]]:
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def messages(self) -> list[str]:
        return [event["event"] for event in self.events()]


@pytest.fixture
def capture(tmp_path: Path) -> Capture:
    return Capture(tmp_path / "events.jsonl")


def run_syncscope(
    *args: str,
    input: str | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    merge_stderr: bool = False,
    stderr_to: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """
    Run ``python -m syncscope ARGS`` in a subprocess, as a user would; with ``stderr_to``,
    its standard error is that file (``2> FILE``), read back into the result's ``stderr``.
    """
    if stderr_to is None:
        return run_python(
            "-m",
            "syncscope",
            *args,
            input=input,
            cwd=cwd,
            timeout=timeout,
            env=env,
            merge_stderr=merge_stderr,
        )
    with stderr_to.open("wb") as stderr:
        result = subprocess.run(
            [sys.executable, "-m", "syncscope", *args],
            input=input,
            cwd=tempfile.gettempdir() if cwd is None else cwd,
            env=_test_env(env),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=timeout,
            check=False,
        )
    result.stderr = stderr_to.read_text(errors="replace")
    return result


def _test_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a program the tests run: the installed syncscope, never the checkout."""
    full_env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})
    return full_env


def run_python(
    *args: str,
    input: str | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    merge_stderr: bool = False,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        input=input,
        # Not the checkout: `python -m` puts the working directory first on sys.path, and the
        # tests must run the installed syncscope.
        cwd=tempfile.gettempdir() if cwd is None else cwd,
        env=_test_env(env),
        capture_output=not merge_stderr,
        stdout=subprocess.PIPE if merge_stderr else None,
        stderr=subprocess.STDOUT if merge_stderr else None,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_on_terminal(args: list[str], timeout: float = 60) -> str:
    """
    Run ``python -m syncscope ARGS`` with a terminal (a pty) as its standard output and
    error, as a user at a terminal does; return what it wrote there, once it has ended.
    """
    env = _test_env()
    leader, follower = os.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "syncscope", *args],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            cwd=tempfile.gettempdir(),
            env=env,
        )
    finally:
        os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError(f"syncscope {args} still writing after {timeout} s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child's side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = child.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
            child.wait()
    text = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    assert 0 == status, text[-2000:]
    return text


class Latch:
    """A one-shot signal built on a raw lock: never instrumented, whatever is installed."""

    def __init__(self) -> None:
        self._lock = get_original("threading", "Lock")()
        self._lock.acquire()

    def set(self) -> None:
        if self._lock.locked():
            self._lock.release()

    def wait(self, timeout: float = 5) -> None:
        assert self._lock.acquire(timeout=timeout), "latch not set in time"
        self._lock.release()


class SignalSink:
    """A sink that sets a latch when an event matching a predicate is emitted."""

    def __init__(self) -> None:
        self._watches: list[tuple[Any, Latch]] = []

    def when(self, predicate: Any) -> Latch:
        latch = Latch()
        self._watches.append((predicate, latch))
        return latch

    def handle(self, event: Any) -> None:
        for predicate, latch in self._watches:
            if predicate(event):
                latch.set()

    def close(self) -> None:
        pass


@pytest.fixture
def signals() -> SignalSink:
    """Latches set by events; call ``add_signal_sink`` after installing."""
    return SignalSink()


def add_sink(sink: Any) -> None:
    from syncscope._core.state import config_lock, set_sinks, state

    with config_lock:
        set_sinks((*state.sinks, sink))


def start_thread(target: Any, *args: Any, name: str | None = None) -> Any:
    """A thread that syncscope does not see being created (its internals are library code)."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def join(thread: Any, timeout: float = 5) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), f"{thread.name} did not finish in time"
