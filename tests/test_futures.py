"""concurrent.futures: waits on Futures observed at the program's line, patched and restored."""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import _base as futures_base
from pathlib import Path
from typing import Any

import pytest

import syncscope

from .conftest import Capture, run_python


ORIGINALS = (
    futures_base.Future.result,
    futures_base.Future.exception,
    ThreadPoolExecutor.submit,
    concurrent.futures.wait,
    concurrent.futures.as_completed,
)


#: Future.result's own code: a thread with it on its stack waits for a Future.
RESULT_CODE = futures_base.Future.result.__code__


def current() -> tuple[object, ...]:
    return (
        futures_base.Future.result,
        futures_base.Future.exception,
        ThreadPoolExecutor.submit,
        concurrent.futures.wait,
        concurrent.futures.as_completed,
    )


class TestPatching:
    def test_patched_and_restored(self) -> None:
        """install() wraps the waits and submit; uninstall() puts the very originals back."""
        syncscope.install(lines=False, detect_deadlocks=True)
        try:
            assert all(a is not b for a, b in zip(current(), ORIGINALS, strict=True))
        finally:
            syncscope.uninstall()
        assert all(a is b for a, b in zip(current(), ORIGINALS, strict=True))

    def test_restored_under_the_span_hooks(self, tmp_path: Path) -> None:
        """With spans on, submit is wrapped twice; uninstall peels both, no warning."""
        syncscope.install(lines=False, detect_deadlocks=True, jaeger_file=str(tmp_path / "t.json"))
        syncscope.uninstall()
        assert all(a is b for a, b in zip(current(), ORIGINALS, strict=True))

    def test_a_wait_is_reported_at_the_programs_line(self) -> None:
        """future.result() that blocks: a waiting event and its end, at the caller's line."""
        release = syncscope.get_original("threading", "Lock")()
        release.acquire()
        with syncscope.record() as rec:
            pool = ThreadPoolExecutor(max_workers=1)
            future = pool.submit(release.acquire, True, 5)
            waiter = threading.Thread(target=release.release)
            waiter.start()
            assert future.result(timeout=5) is True
            waiter.join(timeout=5)
            pool.shutdown()
        assert not waiter.is_alive()
        del rec  # nothing to assert on the recording: the patch must not break the result

    def test_a_wait_that_raises_says_how_it_ended(self, capture: Capture) -> None:
        """
        ``result()`` raising is not a failed wait: its TimeoutError is a timeout, and the
        task's own exception or the Future's cancellation wakes it (the Future is done). A
        ``wait()`` that returns short of what it was asked for timed out.
        """
        capture.install()
        main = threading.get_ident()

        def once_main_waits(then: Any) -> threading.Thread:
            def run() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # until main waits inside result()
                    frame = sys._current_frames().get(main)
                    while frame is not None and frame.f_code is not RESULT_CODE:
                        frame = frame.f_back
                    if frame is not None:
                        then()
                        return
                    time.sleep(0.001)

            thread = threading.Thread(target=run)
            thread.start()
            return thread

        never: concurrent.futures.Future[int] = concurrent.futures.Future()
        with pytest.raises(TimeoutError):
            never.result(timeout=0.01)
        failing: concurrent.futures.Future[int] = concurrent.futures.Future()
        helper = once_main_waits(lambda: failing.set_exception(ValueError("boom")))
        with pytest.raises(ValueError, match="boom"):
            failing.result(timeout=30)
        helper.join(timeout=30)
        cancelled: concurrent.futures.Future[int] = concurrent.futures.Future()
        helper = once_main_waits(cancelled.cancel)
        with pytest.raises(concurrent.futures.CancelledError):
            cancelled.result(timeout=30)
        helper.join(timeout=30)
        with pytest.raises(TimeoutError):
            for _ in concurrent.futures.as_completed([never], timeout=0.01):
                pass
        assert (set(), {never}) == concurrent.futures.wait([never], timeout=0.01)
        syncscope.uninstall()
        ends = [
            (e["primitive_id"], e["outcome"], "error" in e)
            for e in capture.events()
            if e["kind"] == "future" and e["outcome"] != "waiting"
        ]
        assert [
            (ends[0][0], "timeout", False),
            (ends[1][0], "woken", False),
            (ends[2][0], "woken", False),
            (ends[0][0], "timeout", False),  # as_completed's, on the same Future
            (ends[0][0], "timeout", False),  # wait()'s, which returns the Future not done
        ] == ends
        assert 3 == len({end[0] for end in ends})

    def test_the_futures_given_by_keyword(self) -> None:
        """``wait(fs=...)`` and ``as_completed(fs=...)`` work as without syncscope, and
        without any future they fail as python's do."""
        syncscope.install(lines=False, detect_deadlocks=True)
        done: concurrent.futures.Future[int] = concurrent.futures.Future()
        done.set_result(1)
        pending: concurrent.futures.Future[int] = concurrent.futures.Future()
        assert ({done}, {pending}) == concurrent.futures.wait(fs=[done, pending], timeout=0.01)
        assert [done] == list(concurrent.futures.as_completed(fs=[done], timeout=5))
        for call in (concurrent.futures.wait, concurrent.futures.as_completed):
            with pytest.raises(TypeError, match="fs"):
                call()

    def test_patched_in_a_program(self) -> None:
        """Imported after install, Future.result is wrapped (by the post-import hook)."""
        code = (
            "import sys, syncscope\n"
            "syncscope.install(lines=False)\n"
            "assert 'concurrent.futures' not in sys.modules\n"
            "import concurrent.futures._base as base\n"
            "result = vars(base.Future)['result']\n"
            "print(type(result).__name__, result.__qualname__, hasattr(result, '__wrapped__'))\n"
        )
        result = run_python("-c", code)
        assert 0 == result.returncode, result.stderr
        assert "function Future.result True" == result.stdout.strip()


class TestManyFutures:
    """as_completed and result() over many futures: syncscope looks at them, never uses them."""

    def test_the_report_counts_only_the_programs_uses(self, tmp_path: Path) -> None:
        """
        With --all, each future's Condition is watched: each is counted for the program's
        own uses of it (three or four, as it finished before as_completed looked or after).
        syncscope's look at the first future not done, at each step of as_completed, was
        counted as a use (41,001 uses of 200 Conditions, 207 of one), and scanned all futures
        from the first at each step: 8,000 futures took 20 times as long as plain python.
        """
        program = tmp_path / "fanout.py"
        program.write_text(
            "import threading\n"
            "from concurrent.futures import ThreadPoolExecutor, as_completed\n"
            "gate = threading.Event()\n"
            "def work(n):\n"
            "    assert gate.wait(30)\n"
            "    return n\n"
            "with ThreadPoolExecutor(max_workers=2) as pool:\n"
            "    futures = [pool.submit(work, n) for n in range(200)]\n"
            "    gate.set()\n"
            "    print(sum(f.result() for f in as_completed(futures)))\n"
        )
        report = tmp_path / "report.json"
        result = run_python(
            "-m", "syncscope", "-q", "--all", "--report-json", str(report), str(program)
        )
        assert 0 == result.returncode, result.stderr
        assert "19900" == result.stdout.strip()
        # Each wait of an Event's Condition gives its lock's hold back: none is left on the
        # waiter's chain of holds for a later lock to be ordered after (3 inversions were
        # reported here, between the executor's locks and Event locks no thread held).
        assert "no lock-order inversion, no deadlock, no hang" in result.stderr
        conditions = [
            p
            for p in json.loads(report.read_text())["primitives"]
            if p["kind"] == "condition"
            and p["created_at"].startswith(os.path.dirname(futures_base.__file__))
        ]
        assert 200 == len(conditions)
        # The program's own uses of each (the worker's, as_completed's): three or four, as it
        # was done before as_completed looked at it or not, on the event path as here; what
        # syncscope's look and result()'s wait take inside are not uses.
        uses = {p["acquisitions"] for p in conditions}
        assert uses <= {3, 4}, sorted(p["acquisitions"] for p in conditions)


AS_COMPLETED_WAITING_ON_EACH = """import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

gates = [threading.Event() for _ in range(5)]


def work(n):
    assert gates[n].wait(30)
    return n


def until(condition):
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)


def open_gates(futures):
    # One future finishes at a time, each while as_completed waits for it, and nothing here
    # takes a lock: the same steps in every run, however the threads are scheduled.
    until(lambda: all(f._waiters for f in futures))
    waiter = futures[-1]._waiters[0]
    for gate, future in zip(gates, futures):
        until(lambda: waiter.event._cond._waiters)
        gate.set()
        until(lambda: not future._waiters)  # as_completed has taken it


with ThreadPoolExecutor(max_workers=1) as pool:
    futures = [pool.submit(work, n) for n in range(5)]
    threading.Thread(target=open_gates, args=(futures,)).start()
    print(sorted(f.result() for f in as_completed(futures)))
"""


def _figures(report: Path) -> list[tuple[object, ...]]:
    return sorted(
        (p["kind"], Path(p["created_at"]).name, p.get("acquisitions"), p.get("waits"))
        for p in json.loads(report.read_text())["primitives"]
    )


NAMED_AT_SUBMIT = """import threading
import time
from concurrent.futures import ThreadPoolExecutor

gate = threading.Event()


def work():
    assert gate.wait(30)
    return 7


def submit(pool):
    return pool.submit(work), pool.submit(int)  # line 14


def open_gate(future):
    deadline = time.monotonic() + 30  # once result() below waits for it
    while not future._condition._waiters and time.monotonic() < deadline:
        time.sleep(0.002)
    gate.set()


with ThreadPoolExecutor(max_workers=1) as pool:
    future, other = submit(pool)
    opener = threading.Thread(target=open_gate, args=(future,))
    opener.start()
    print(future.result(timeout=30))
    opener.join(timeout=30)
"""


class TestSubmittedFutures:
    def test_a_future_waited_on_is_named_after_its_task_where_it_was_submitted(
        self, tmp_path: Path
    ) -> None:
        """
        A Future the program submitted is reported, once waited on, as its function, made
        where it was submitted (not where it was waited on); one that nobody waited on is
        not reported. Its name and place are kept at the submit, its Primitive made at the
        first wait.
        """
        program = tmp_path / "named.py"
        program.write_text(NAMED_AT_SUBMIT, encoding="utf-8")
        report = tmp_path / "report.json"
        result = run_python("-m", "syncscope", "-q", "--report-json", str(report), str(program))
        assert (0, "7\n") == (result.returncode, result.stdout), result.stderr
        futures = [p for p in json.loads(report.read_text())["primitives"] if p["kind"] == "future"]
        assert [("work()", "named.py:14", 1)] == [
            (p["name"], Path(p["created_at"]).name, p["waits"]) for p in futures
        ]

    def test_what_is_kept_of_a_submitted_task_goes_with_its_future(self) -> None:
        """
        A long-running program submits without end: what syncscope keeps of each task (its
        name, its pool, where it was submitted) goes when the program drops the Future,
        waited on or not.
        """
        import gc

        from syncscope._core import pools

        with syncscope.record(), ThreadPoolExecutor(max_workers=1) as pool:
            futures = [pool.submit(int, n) for n in range(3)]
            assert [0, 1, 2] == [f.result(timeout=30) for f in futures]
            kept = {id(f) for f in futures} & set(pools.submitted)
            assert len(kept) == 3
            waited_on = futures[0]
            assert syncscope.name(waited_on, "first") is waited_on  # its primitive made now
            assert id(waited_on) in pools._made
            del waited_on
        del futures
        gc.collect()
        assert not kept & set(pools.submitted)
        assert not kept & set(pools._made)
        assert not [t for t in pools.tasks.values() if t.key in kept]

    def test_a_first_wait_stopped_halfway_is_finished_by_the_next(self) -> None:
        """
        A signal handler's exception (a Ctrl-C) may stop the first wait on a Future where
        its primitive is made: the next wait finishes what it began (the Future watched as
        that primitive, its task found by it), rather than making one more each time.
        """
        import dis
        import itertools

        from syncscope._api import describe_primitive
        from syncscope._core import pools
        from syncscope._core.tracking import primitive_of

        from .support.switches import each_instruction

        code = pools.primitive_for.__code__
        instructions = list(dis.get_instructions(code))
        after_setdefault = next(
            later.offset
            for earlier, later in itertools.pairwise(instructions)
            if earlier.opname.startswith("CALL")
            and any(i.argval == "setdefault" and i.offset < earlier.offset for i in instructions)
        )

        class Stopped(Exception):
            pass

        def stop(offset: int) -> None:
            if offset == after_setdefault:
                raise Stopped

        with syncscope.record(), ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(int, 7)
            assert 7 == future.result(timeout=30)
            with pytest.raises(Stopped), each_instruction(code, stop):
                pools.primitive_for(future)
            made = pools._made[id(future)]
            assert primitive_of(future) is None  # stopped before it was watched
            assert describe_primitive(future) is made
            assert primitive_of(future) is made
            assert pools.tasks[made].future() is future


class TestAllAsTheEventPath:
    def test_as_completed_counts_the_same_with_q_and_the_lines(self, tmp_path: Path) -> None:
        """
        With --all, as_completed waiting on five futures at once: the same primitives and
        counts under -q as on the event path. An Event's clear inside as_completed's wait
        let the guard down for what followed (a fifth use of a future's Condition). The
        futures finish one at a time, each while as_completed waits: when two finished
        together, as_completed took its lock once less, in either mode.
        """
        program = tmp_path / "waiting_on_each.py"
        program.write_text(AS_COMPLETED_WAITING_ON_EACH)
        figures = []
        for args in (["-q"], ["-o", os.devnull]):
            report = tmp_path / "report.json"
            result = run_python(
                "-m", "syncscope", *args, "--all", "--report-json", str(report), str(program)
            )
            assert 0 == result.returncode, result.stderr
            assert "[0, 1, 2, 3, 4]" == result.stdout.strip()
            figures.append(_figures(report))
        lean, events = figures
        assert events == lean


#: A Future's exception raised by result() and caught: freed when the Future goes, without a
#: collection (``Future.result()`` lets go of its own ``self`` for that; dramatiq's suite
#: checks it), and its traceback the original's.
RAISED_PROGRAM = """\
import concurrent.futures, gc, threading, traceback, weakref

class Boom(Exception):
    pass

gc.disable()  # freed by its count of references alone, or not at all
refs = []
done = concurrent.futures.Future()
done.set_exception(Boom())
go = threading.Event()

def task():
    go.wait(10)
    raise Boom()

with concurrent.futures.ThreadPoolExecutor(1) as pool:
    waited = pool.submit(task)
    go.set()
    for future in (done, waited):
        try:
            future.result(timeout=10)
        except Boom as exc:
            refs.append(weakref.ref(exc))
            frames = traceback.extract_tb(exc.__traceback__)
            print([frame.name for frame in frames if "syncscope" in frame.filename])
    del done, waited, future
print("alive:", [ref() is not None for ref in refs])
"""


@pytest.mark.parametrize(
    "mode",
    [["-q"], ["--no-report"], ["-q", "--jaeger-file", "{tmp}/spans.json"]],
    ids=["-q", "lines", "spans"],
)
def test_a_raised_exception_is_freed_with_its_future(mode: list[str], tmp_path: Path) -> None:
    """
    The exception a Future's result() raised is freed with the Future, as without syncscope:
    the wrappers' frames, callers of result()'s, let go of the Future; and they are not in
    its traceback.
    """
    from .conftest import run_syncscope

    program = tmp_path / "raised.py"
    program.write_text(RAISED_PROGRAM, encoding="utf-8")
    plain = run_python(str(program))
    assert (0, "[]\n[]\nalive: [False, False]\n") == (plain.returncode, plain.stdout), plain.stderr
    options = [option.format(tmp=tmp_path) for option in mode]
    result = run_syncscope(*options, str(program))
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr


@pytest.mark.parametrize(
    "options", [{"output": os.devnull}, {"lines": False, "report": False}], ids=["lines", "-q"]
)
def test_as_completed_keeps_no_future_it_gave_out(options: dict[str, Any]) -> None:
    """
    A future ``as_completed`` yielded is the program's alone: dropped, it is freed with its
    result while the iteration goes on (CPython's test_free_reference_yielded_future).
    """
    import gc
    import weakref

    gc.disable()  # freed by its count of references alone, or not at all
    syncscope.install(**options)
    try:
        pending: list[concurrent.futures.Future[object]]
        pending = [concurrent.futures.Future() for _ in range(4)]
        done: concurrent.futures.Future[object] = concurrent.futures.Future()
        done.set_result(object())
        futures = [*pending, done]
        del done
        alive = []
        with pytest.raises(concurrent.futures.TimeoutError):
            for future in concurrent.futures.as_completed(futures, timeout=0):
                futures.remove(future)
                ref = weakref.ref(future)
                del future
                alive.append(ref() is not None)
    finally:
        syncscope.uninstall()
        gc.enable()
    assert [False] == alive


def test_a_submitted_future_can_be_named_before_it_is_waited_on() -> None:
    """
    ``syncscope.name()`` renames what syncscope knows of an object: a Future the program
    submitted is known from its submit (as its function, where it was submitted), waited on
    or not yet.
    """
    from syncscope._api import describe_primitive

    release = threading.Event()
    with syncscope.record(), ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(release.wait, 30)
        try:
            assert syncscope.name(future, "slow") is future
            primitive = describe_primitive(future)
        finally:
            release.set()  # a failure here does not keep the pool's shutdown waiting
        assert future.result(timeout=30) is True
    assert primitive is not None
    assert ("future", "slow") == (primitive.kind, primitive.name)
    assert describe_primitive(future) is primitive  # its waits are the named one's
