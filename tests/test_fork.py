"""A forked child: the diagnosis neither waits for the parent's threads nor inherits held locks."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import syncscope

from .conftest import run_syncscope
from .spans_programs import Interactive
from .support.otlp import OtlpGrpcReceiver, OtlpHttpReceiver
from .support.process import script
from .test_spans import span_line


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")


def in_child(check: Callable[[], object]) -> str:
    """Fork; call ``check`` in the child and return the repr of what it returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, and leave without any cleanup
        try:
            answer = repr(check())
        except BaseException as exc:
            answer = f"raised {exc!r}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 10)
        assert ready, "the child did not answer in time"
        return os.read(read, 4096).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)  # it has answered: it exits at once


class TestInProcess:
    def test_child_has_no_watchdog_to_wait_for(self) -> None:
        """In the child the watchdog is stopped, and closing the recorder does not wait for it."""
        with syncscope.record(echo=False) as rec:
            recorder = rec._recorder
            assert recorder.watchdog is not None
            watchdog = recorder.watchdog
            answer = in_child(lambda: (watchdog.stopped, recorder.close(), watchdog.stopped))
        assert "(True, None, True)" == answer

    def test_locks_held_at_the_fork_are_free_in_the_child(self) -> None:
        """A lock of ours held by another thread at the fork is free in the child."""
        with syncscope.record(echo=False) as rec:
            recorder = rec._recorder
            assert recorder.lockorder is not None
            holds, order = recorder.holds, recorder.lockorder
            with recorder._lock, order._lock, holds._permits_lock:
                answer = in_child(
                    lambda: tuple(
                        lock.acquire(timeout=1)
                        for lock in (recorder._lock, order._lock, holds._permits_lock)
                    )
                )
        assert "(True, True, True)" == answer


class TestRunner:
    def test_child_exits_at_once(self, tmp_path: Path) -> None:
        """A child that ends normally is not held up by the diagnosis at its exit."""
        program = script(
            tmp_path,
            """
            import os
            import sys
            import threading
            import time

            lock = threading.Lock()
            with lock:
                pass
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:
                with lock:
                    pass
                sys.exit(0)
            _, status = os.waitpid(pid, 0)
            took = time.monotonic() - started
            print(f"child exit {os.waitstatus_to_exitcode(status)} after {took:.3f} s")
            """,
        )
        result = run_syncscope("-q", str(program), timeout=30)
        assert 0 == result.returncode, result.stderr
        head, seconds = result.stdout.strip().rsplit(" after ", 1)
        assert "child exit 0" == head
        # Closing waited for the parent's watchdog thread: 1.4 s. Now a child ends in a blink.
        assert float(seconds.removesuffix(" s")) < 1.0, result.stdout


#: After the forks: two threads of the program's own, deadlocked.
CROSSED_AFTER_THE_FORKS = """
    first, second = threading.Lock(), threading.Lock()
    both = threading.Barrier(2)

    def cross(a, b):
        with a:
            both.wait()
            with b:
                pass

    threads = [
        threading.Thread(target=cross, args=pair, daemon=True)
        for pair in ((first, second), (second, first))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # for ever: --deadlock-exit ends it
"""

#: A single-threaded program that forks, then deadlocks two threads of its own, in turns.
FORK_THEN_DEADLOCK = (
    """
    import os
    import sys
    import threading
    import warnings

    warnings.simplefilter("always")
    lock = threading.Lock()
    for _ in range(3):
        with lock:
            print("a line from the parent")
        pid = os.fork()
        if pid == 0:
            with lock:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
    print("forked", flush=True)
"""
    + CROSSED_AFTER_THE_FORKS
)

MULTI_THREADED_FORK = """
    import os
    import threading
    import warnings

    warnings.simplefilter("always")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(30,))
    thread.start()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    stop.set()
    thread.join(30)
"""

#: A hang (the lock's holder has ended) during which a signal handler forks: the watchdog
#: must not step aside from the wait it has to look at.
FORK_FROM_A_HANDLER = """
    import os
    import signal
    import threading

    lock = threading.Lock()
    holder = threading.Thread(target=lock.acquire)  # takes the lock and ends
    holder.start()
    holder.join()

    def on_alarm(signum, frame):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("forked from the handler", flush=True)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.2)  # before or during the wait: found either way
    lock.acquire()
"""

#: After a fork, the first wait to wake the watchdog comes at interpreter shutdown, where
#: 3.12 starts no thread: the program's acquire must go on all the same.
FORK_THEN_WAIT_AT_EXIT = """
    import atexit
    import os
    import sys
    import threading

    lock = threading.Lock()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)

    def in_at_exit():
        for frame in sys._current_frames().values():
            while frame is not None:
                if frame.f_code is at_exit.__code__:
                    return True
                frame = frame.f_back
        return False

    def holder():
        with lock:
            taken.set()
            while not in_at_exit():  # until the main thread waits for the lock, at exit
                never.wait(0.001)

    taken, never = threading.Event(), threading.Event()

    def at_exit():
        lock.acquire()
        print("acquired at exit", flush=True)

    threading.Thread(target=holder, daemon=True).start()
    assert taken.wait(30)
    atexit.register(at_exit)
"""

#: After a fork, two threads deadlock once the main thread has returned, as the interpreter
#: shuts down (3.12 starts no thread then: the watchdog must be back already).
FORK_THEN_DEADLOCK_AT_EXIT = """
    import os
    import sys
    import threading

    a, b = threading.Lock(), threading.Lock()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    main = threading.main_thread().ident
    both, never = threading.Barrier(2), threading.Event()

    def shutting_down():
        frame = sys._current_frames().get(main)
        while frame is not None:
            if frame.f_code is threading._shutdown.__code__:
                return True
            frame = frame.f_back
        return False

    def cross(x, y):
        with x:
            while not shutting_down():
                never.wait(0.001)
            both.wait()
            with y:
                pass

    threading.Thread(target=cross, args=(a, b)).start()
    threading.Thread(target=cross, args=(b, a)).start()
"""

FORK_WARNS = "is multi-threaded, use of fork() may lead to deadlocks"

#: FORK_THEN_DEADLOCK with spans, each fork made once the spans so far are out (the test says
#: so on standard input) and the span threads are between two rounds of their work: a fork
#: does not wait for them while they import or use the network (see ourthreads.Resumable).
SPANS_FORK_THEN_DEADLOCK = (
    """
    import os
    import sys
    import threading
    import time
    import warnings

    from syncscope._core.state import state

    warnings.simplefilter("always")
    (sink,) = [sink for sink in state.sinks if type(sink).__name__ == "SpanSink"]

    def settled():
        remote = sink.remote
        idle = remote is None or not (remote._busy or remote.batches or remote.in_flight)
        return sink._builder is not None and idle

    lock = threading.Lock()
    for round in range(3):
        with lock:
            print("a line from the parent")
        print("round", round, flush=True)
        sys.stdin.readline()
        deadline = time.monotonic() + 30
        while not settled():
            assert time.monotonic() < deadline, "the span threads never settled"
            time.sleep(0.001)
        pid = os.fork()
        if pid == 0:
            with lock:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
    print("forked", flush=True)
"""
    + CROSSED_AFTER_THE_FORKS
)


#: A fork with spans paired at once (for the lines' ids), the hold just before it maybe left
#: for the span worker to build: it must come back for the next one, not at exit.
SPANS_LEFT_AT_THE_FORK = """
    import os
    import sys
    import threading
    import time

    from syncscope._core.state import state

    (sink,) = [sink for sink in state.sinks if type(sink).__name__ == "SpanSink"]
    deadline = time.monotonic() + 30
    while sink._builder is None:
        assert time.monotonic() < deadline, "the spans were never set up"
        time.sleep(0.001)
    lock = threading.Lock()
    with lock:
        pass
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    with lock:
        pass
    print("forked", flush=True)
    sys.stdin.readline()  # the test waits for both holds' spans, which come before the end
"""


def wait_for_named(receiver: Any, name: str, count: int, timeout: float = 60) -> None:
    """Until ``receiver`` has ``count`` spans called ``name``."""
    deadline = time.monotonic() + timeout
    while sum(span.name == name for span in receiver.spans()) < count:
        assert time.monotonic() < deadline, [span.name for span in receiver.spans()]
        time.sleep(0.005)


class TestLocksReinitialisedInTheChild:
    """
    logging's fork idiom: a lock taken before the fork, released in the parent, made new by
    ``_at_fork_reinit()`` in the child. The child holds it no more: the locks it takes then
    are not taken under it (a false lock-order inversion), whichever way holds are kept.
    """

    PROGRAM = """
        import os, threading
        a = threading.RLock()
        b = threading.Lock()
        os.register_at_fork(
            before=a.acquire, after_in_parent=a.release, after_in_child=a._at_fork_reinit
        )
        pid = os.fork()
        if pid == 0:
            with b:  # a is free here
                with a:  # b, then a: the only order the program ever takes them in
                    pass
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), a._is_owned())
        """

    @pytest.mark.parametrize("mode", [("-q",), ("--report",)], ids=["lean", "events"])
    def test_no_false_inversion(self, tmp_path: Path, mode: tuple[str, ...]) -> None:
        program = script(tmp_path, self.PROGRAM)
        result = run_syncscope(*mode, str(program), timeout=30)
        assert 0 == result.returncode, result.stderr
        assert "child exit 0 False" == result.stdout.strip()
        assert "inversion between" not in result.stderr, result.stderr
        assert "no lock-order inversion" in result.stderr, result.stderr


class TestForkWarning:
    """
    3.12+ warns at a fork when the process has more than one thread: a single-threaded
    program must not be told so because of syncscope's threads (see _core/ourthreads).
    """

    @pytest.mark.parametrize(
        "mode", [["-q"], [], ["-o", "lines.txt"]], ids=["checks", "lines", "lines-to-file"]
    )
    def test_a_single_threaded_program_forks_without_a_warning(
        self, tmp_path: Path, mode: list[str]
    ) -> None:
        """No warning, and the watchdog is back after the forks: the deadlock is found."""
        program = script(tmp_path, FORK_THEN_DEADLOCK)
        args = [arg if arg != "lines.txt" else str(tmp_path / arg) for arg in mode]
        result = run_syncscope("--deadlock-exit", *args, str(program), timeout=60)
        assert FORK_WARNS not in result.stderr
        assert "forked" in result.stdout
        assert 3 == result.returncode, result.stderr  # the deadlock, after the forks
        assert "syncscope: deadlock: 2 threads wait for each other" in result.stderr
        if mode == ["-o", "lines.txt"]:
            lines = (tmp_path / "lines.txt").read_text().splitlines()
            # The parent's three holds and the three children's, each written once.
            assert 6 == lines.count("lock acquired by MainThread"), lines

    @pytest.mark.parametrize(
        ("to", "mode"),
        [
            ("jaeger-file", "-q"),
            ("otlp-http", "-q"),
            ("otlp-grpc", "-q"),
            ("otlp-http", "lines"),  # spans paired at once, for the lines' ids
        ],
    )
    def test_a_single_threaded_program_forks_without_a_warning_with_spans(
        self, tmp_path: Path, to: str, mode: str
    ) -> None:
        """
        The span worker and the sending thread step aside too, and come back: the parent's
        spans before and after the forks, and the deadlock's, all get there.
        """
        program = script(tmp_path, SPANS_FORK_THEN_DEADLOCK)
        receiver: Any = contextlib.nullcontext()
        if to == "otlp-http":
            receiver = OtlpHttpReceiver()
        elif to == "otlp-grpc":
            receiver = OtlpGrpcReceiver()
        lines = ["-q"] if mode == "-q" else ["-o", str(tmp_path / "lines.txt")]
        with receiver:
            if to == "jaeger-file":
                output = ["--jaeger-file", str(tmp_path / "spans.json")]
            else:
                protocol = "grpc" if to == "otlp-grpc" else "http/protobuf"
                output = [f"--otlp={receiver.endpoint}", "--protocol", protocol]
            run = Interactive([*lines, "--deadlock-exit", *output, str(program)])
            try:
                for round in range(3):
                    run.wait_for("stdout", f"round {round}", timeout=60)
                    if to != "jaeger-file":  # this round's hold is out: nothing left to send
                        wait_for_named(receiver, "Lock.hold lock", round + 1)
                    run.send("\n")
                result = run.finish(timeout=60)
            finally:
                run.process.kill()  # no process left behind by a failure (it ended else)
            assert FORK_WARNS not in result.stderr
            assert "forked" in result.stdout
            assert 3 == result.returncode, result.stderr  # the deadlock, after the forks
            assert "syncscope: deadlock: 2 threads wait for each other" in result.stderr
            if to == "jaeger-file":
                data = json.loads((tmp_path / "spans.json").read_text(encoding="utf-8"))
                names = [span["operationName"] for trace in data["data"] for span in trace["spans"]]
            else:
                line = span_line(result.stderr)
                assert line["made"] == line["sent"] and 0 == line["dropped"], line
                names = [span.name for span in receiver.wait_for_spans(line["sent"])]
        assert 3 == names.count("Lock.hold lock"), names  # the parent's: a child sends none
        assert any(name.startswith("deadlock") for name in names), names
        if mode == "lines":
            written = (tmp_path / "lines.txt").read_text().splitlines()
            assert 6 == written.count("lock acquired by MainThread"), written

    def test_span_threads_come_back_before_the_end(self, tmp_path: Path) -> None:
        """
        Where CPython counts threads after the parent's after-fork hooks (3.13), the span
        worker comes back at the program's next span, whatever it left at the fork.
        """
        program = script(tmp_path, SPANS_LEFT_AT_THE_FORK)
        with OtlpHttpReceiver() as receiver:
            run = Interactive(
                [
                    "-o", str(tmp_path / "lines.txt"), f"--otlp={receiver.endpoint}",
                    "--protocol", "http/protobuf", str(program),
                ]
            )  # fmt: skip
            try:
                run.wait_for("stdout", "forked", timeout=60)
                wait_for_named(receiver, "Lock.hold lock", 2, timeout=20)
                run.send("\n")
                result = run.finish(timeout=60)
            finally:
                run.process.kill()  # no process left behind by a failure (it ended else)
        assert 0 == result.returncode, result.stderr

    @pytest.mark.skipif(sys.version_info < (3, 12), reason="the warning is 3.12+")
    def test_a_multi_threaded_program_is_warned_as_without_syncscope(self, tmp_path: Path) -> None:
        program = script(tmp_path, MULTI_THREADED_FORK)
        plain = subprocess.run(
            [sys.executable, str(program)], check=True, capture_output=True, text=True, timeout=60
        )
        assert FORK_WARNS in plain.stderr
        result = run_syncscope("-q", str(program), timeout=60)
        assert 0 == result.returncode, result.stderr
        assert FORK_WARNS in result.stderr

    def test_a_fork_from_a_handler_during_a_wait_hides_no_hang(self, tmp_path: Path) -> None:
        program = script(tmp_path, FORK_FROM_A_HANDLER)
        result = run_syncscope(
            "-q", "--hang-timeout", "1", "--deadlock-exit", str(program), timeout=60
        )
        assert "forked from the handler" in result.stdout
        assert 3 == result.returncode, result.stderr
        assert "syncscope: hang:" in result.stderr

    def test_a_wait_at_exit_after_a_fork_goes_on(self, tmp_path: Path) -> None:
        program = script(tmp_path, FORK_THEN_WAIT_AT_EXIT)
        result = run_syncscope("-q", str(program), timeout=60)
        assert 0 == result.returncode, result.stderr
        assert "acquired at exit" in result.stdout
        assert "Traceback" not in result.stderr

    def test_a_deadlock_at_exit_after_a_fork_is_found(self, tmp_path: Path) -> None:
        program = script(tmp_path, FORK_THEN_DEADLOCK_AT_EXIT)
        result = run_syncscope("-q", "--deadlock-exit", str(program), timeout=60)
        assert 3 == result.returncode, result.stderr
        assert "syncscope: deadlock: 2 threads wait for each other" in result.stderr
