"""
Threaded programs for the span tests, and how to run them under syncscope.

Shared by test_spans.py (OTLP receivers) and test_jaeger.py (a real Jaeger). The programs
coordinate without sleeping: where a thread must be seen blocked, the test waits for
syncscope's own "... wait by ..." line on standard error and only then writes the line the
program reads from standard input.
"""

from __future__ import annotations

import _queue
import _thread
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path


#: Every kind of operation, each once or twice, with the waits made certain:
#: ``locker`` blocks on ``lock`` until the test answers; ``consumer`` waits on ``cond`` until
#: main (which can only take ``cond`` once consumer waits) notifies it.
CONTENTION = """\
import sys
import threading
import queue

lock = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
ready = threading.Event()
fired = threading.Event()
barrier = threading.Barrier(2)
q = queue.Queue()
items = []


def locker():
    with lock:
        pass
    fired.wait(5)


def consumer():
    with cond:
        ready.set()
        while not items:
            cond.wait(5)
    q.put("payload")
    barrier.wait(5)


lock.acquire()
t1 = threading.Thread(target=locker, name="locker")
t1.start()
sys.stdin.readline()
lock.release()
t2 = threading.Thread(target=consumer, name="consumer")
t2.start()
ready.wait(5)
with cond:
    items.append(1)
    cond.notify()
with rlock:
    with rlock:
        pass
fired.set()
print(q.get(timeout=5))
q.task_done()
q.join()
barrier.wait(5)
t1.join(5)
t2.join(5)
print("done")
"""

#: The line of CONTENTION that locker waits on.
LOCKER_LINE = CONTENTION.splitlines().index("    with lock:") + 1

#: Spans CONTENTION makes, by name.
CONTENTION_SPANS = {
    "Lock.acquire lock": 2,
    "Lock.hold lock": 2,
    "RLock.acquire rlock": 2,
    "RLock.hold rlock": 1,
    "Condition.acquire cond": 2,
    # consumer's hold is cut by its wait: one before, one after; and main's
    "Condition.hold cond": 3,
    "Condition.wait cond": 1,
    "Condition.notify cond": 1,
    "Event.set ready": 1,
    "Event.wait ready": 1,
    "Event.set fired": 1,
    "Event.wait fired": 1,
    "Barrier.wait barrier": 2,
    "Queue.put q": 1,
    "Queue.get q": 1,
    "Queue.task_done q": 1,
    "Queue.join q": 1,
    "thread MainThread": 1,
    "thread locker": 1,
    "thread consumer": 1,
    "run contention.py": 1,
}
CONTENTION_TOTAL = sum(CONTENTION_SPANS.values())


def write_program(directory: Path, source: str, name: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "SYNCSCOPE_")) and key != "PYTHONPATH"
    }
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra or {})
    return env


class NotYet(AssertionError):
    """:meth:`Interactive.wait_for` timed out, the stream still open."""


#: How many times, and every how many seconds, :meth:`Interactive.signal` sends its signal.
SIGNALS = 6
SIGNAL_EVERY = 5.0


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


class Interactive:
    """A ``python -m syncscope`` process whose stderr/stdout are read line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "syncscope", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(env),
            cwd=tempfile.gettempdir(),
        )
        self.lines: _queue.SimpleQueue[tuple[str, str | None]] = _queue.SimpleQueue()
        self.seen = {"stdout": [], "stderr": []}  # type: dict[str, list[str]]
        #: The streams whose end has been read.
        self.ended: set[str] = set()
        for name in ("stdout", "stderr"):
            _thread.start_new_thread(self._read, (name,))

    def _read(self, name: str) -> None:
        stream = getattr(self.process, name)
        with stream:
            for line in stream:
                self.lines.put((name, line))
        self.lines.put((name, None))

    def wait_for(self, stream: str, text: str, timeout: float = 20) -> None:
        """Read lines until one on ``stream`` contains ``text``."""
        while True:
            if stream in self.ended:
                raise AssertionError(f"{stream} ended without {text!r}: {self.seen}")
            try:
                name, line = self.lines.get(timeout=timeout)
            except _queue.Empty:
                raise NotYet(f"no {text!r} on {stream} in {timeout} s: {self.seen}") from None
            if line is None:
                self.ended.add(name)
                continue
            self.seen[name].append(line)
            if name == stream and text in line:
                return

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line)
        self.process.stdin.flush()

    def finish(self, timeout: float = 30) -> Run:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout)
        while len(self.ended) < 2:
            name, line = self.lines.get(timeout=timeout)
            if line is None:
                self.ended.add(name)
            else:
                self.seen[name].append(line)
        return Run(
            self.process.returncode, "".join(self.seen["stdout"]), "".join(self.seen["stderr"])
        )

    def signal(self, number: int, until: str | None = None) -> None:
        """
        Send signal ``number``, and again every few seconds until the process has ended (with
        ``until``: until it has said that on stdout). CPython runs a Python signal handler on
        the main thread, between two bytecodes: a signal that comes just before that thread
        blocks in a lock's wait is handled when the wait ends (a race every Python handler
        has, ``timeout`` and ``kill`` see it too), and a second signal wakes the wait. A
        handler already at work ignores the second (that a first signal alone ends the
        process is ``test_fatal.test_one_signal_ends_a_program_running_python_code``'s).
        """
        for _ in range(SIGNALS):
            self.process.send_signal(number)
            try:
                if until is None:
                    self.process.wait(SIGNAL_EVERY)
                else:
                    self.wait_for("stdout", until, timeout=SIGNAL_EVERY)
                return
            except (subprocess.TimeoutExpired, NotYet):
                continue
        waited = SIGNALS * SIGNAL_EVERY
        said = f"no {until!r} on stdout" if until is not None else "still running"
        raise AssertionError(f"{said} {waited:.0f} s after {SIGNALS} signals: {self.seen}")

    def signalled_when(self, stream: str, text: str, number: int) -> Run:
        """Once ``text`` is on ``stream``, send signal ``number``; how the run ended."""
        try:
            self.wait_for(stream, text)
            self.signal(number)
            return self.finish()
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


def run_contention(directory: Path, args: list[str]) -> Run:
    """Run CONTENTION under syncscope with ``args``; answer once ``locker`` is seen waiting."""
    script = write_program(directory, CONTENTION, "contention.py")
    process = Interactive([*args, str(script)])
    try:
        process.wait_for("stderr", "lock wait by locker")
        process.send("go\n")
        run = process.finish()
    finally:
        process.kill()
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("done\n"), run.stdout
    return run
