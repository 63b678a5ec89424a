"""
The lines with the checks (the runner's default): the lean path counts each operation in
place and writes its line itself (``_sinks/lines.LeanLines``). The lines must be the event
path's, line for line, and the primitives must stay drop-ins.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sys
import textwrap
import threading
import time
import unittest
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.event import SyncEvent
from syncscope._core.state import state
from syncscope._core.tracking import primitive_of, watches
from syncscope._intercept import queuelean, queues
from syncscope._intercept.locks import PROXY_TYPES

from .conftest import join, run_syncscope, start_thread
from .support.programs_own import watch_as_programs_own


lock_tests = pytest.importorskip("test.lock_tests", reason="CPython's test package is missing")
test_queue = pytest.importorskip("test.test_queue", reason="CPython's test package is missing")


def wait_for_line(path: Path, line: str, timeout: float = 5) -> None:
    """Until ``line`` is in the output: a thread announced its wait, and blocks next."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in path.read_text():  # a console line, or a JSON or logfmt line's event
            return
        time.sleep(0.001)
    raise AssertionError(f"{line!r} was not written in time")


class Seconds(float):
    """A timeout of a type of its own, as numpy's float64 is."""


class Stamped(queue.Queue):  # type: ignore[type-arg]
    """A queue whose own _put calls queue.Queue's (whose _put is hooked too)."""

    def _put(self, item: Any) -> None:
        super()._put(item)


class Counted(queue.Queue):  # type: ignore[type-arg]
    """A queue whose size is read under a lock of its own: part of each put and get."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.size_lock = threading.Lock()

    def _qsize(self) -> int:
        with self.size_lock:
            return super()._qsize()


class Padded(queue.SimpleQueue):  # type: ignore[type-arg]
    """A SimpleQueue whose qsize() says more than it holds."""

    def qsize(self) -> int:
        return 100 + super().qsize()


def program(path: Path) -> None:
    """Every kind of line the lean path writes, and the queues' around them."""
    lock, rlock = threading.Lock(), threading.RLock()
    cond, sem, jobs = threading.Condition(), threading.Semaphore(1), queue.Queue()
    with lock:
        pass
    with rlock, rlock:
        rlock.acquire()
        rlock.release()
    lock.acquire()
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0.001) is False
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(RuntimeError):
        rlock.release()
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    assert lock.acquire(timeout=Seconds(1.0))  # a timeout a trylock cannot go before
    lock.release()
    # A wait for the lock: announced, then acquired after it.
    lock.acquire()

    def take() -> None:
        with lock:
            pass

    taker = start_thread(take, name="taker")
    wait_for_line(path, f"{lock._syncscope_primitive.label} wait by taker")  # type: ignore[attr-defined]
    lock.release()
    join(taker)
    # A thread renamed between two acquires: the kept line is not reused.
    threading.current_thread().name = "renamed"
    try:
        with lock:
            pass
    finally:
        threading.current_thread().name = "MainThread"

    # A Condition: notified with nobody waiting, a wait that times out, a wait woken.
    with cond:
        cond.notify()
        cond.notify_all()
        assert cond.wait(0) is False
    ready = []

    def wait_ready() -> None:
        with cond:
            assert cond.wait_for(lambda: ready, 5)

    waiter = start_thread(wait_ready, name="waiter")
    wait_for_line(path, "condition cond wait_for by waiter")
    with cond:
        ready.append(1)
        cond.notify_all()
    join(waiter)

    # An Event: set, waited on set, cleared, waited on in vain, waited on and set.
    flag, go = threading.Event(), threading.Event()
    flag.set()
    assert flag.wait()
    flag.clear()
    assert flag.wait(0) is False
    setter = start_thread(lambda: go.wait(5), name="setter")
    wait_for_line(path, "event go wait by setter")
    go.set()
    join(setter)

    # A Semaphore: taken and given back, refused, timed out, two permits, a wait, errors.
    with sem:
        assert sem.acquire(False) is False
        assert sem.acquire(timeout=0.001) is False
    with pytest.raises(ValueError):
        sem.acquire(False, 1)
    with pytest.raises(ValueError):
        threading.BoundedSemaphore(1).release()
    pair = threading.Semaphore(0)
    pair.release(2)
    pair.acquire()
    pair.acquire()
    sem.acquire()
    taker = start_thread(sem.acquire, name="permit_taker")
    wait_for_line(path, "semaphore sem wait by permit_taker")
    sem.release()
    join(taker)
    sem.release()  # the permit the taker kept, given back for it

    # A Barrier: the first waits (its "passed" and the last's may come in either order),
    # then one that breaks alone.
    gate = threading.Barrier(2)
    first = start_thread(lambda: gate.wait(5), name="first")
    wait_for_line(path, "barrier gate wait by first (1 arrived)")
    arrived(gate)  # its line comes just before it arrives: until it has
    gate.wait(5)
    join(first)
    # The same call, made by the same thread last and then first: each says its count.
    turns = threading.Barrier(2)

    def other_turns() -> None:
        turns.wait(5)
        arrived(turns)
        turns.wait(5)

    other = start_thread(other_turns, name="other")
    for turn in range(2):
        if turn == 0:
            arrived(turns)
        turns.wait(5)
    join(other)
    with pytest.raises(threading.BrokenBarrierError):
        threading.Barrier(2).wait(0.001)

    # Queues: at once, refused, timed out, a get woken by a put, a put let in by a get.
    with sem:
        jobs.put(61)
    assert 61 == jobs.get()
    jobs.task_done()
    jobs.join()
    jobs.put(62)
    jobs.put(63)
    jobs.get()
    jobs.get()
    for _ in range(2):  # one call, two counts
        jobs.task_done()
    small = queue.Queue(1)
    small.put_nowait("a")
    with pytest.raises(queue.Full):
        small.put_nowait("b")
    with pytest.raises(queue.Full):
        small.put("b", timeout=0.001)
    assert "a" == small.get_nowait()
    with pytest.raises(queue.Empty):
        small.get_nowait()
    with pytest.raises(queue.Empty):
        small.get(timeout=0.001)
    getter = start_thread(small.get, name="getter")
    wait_for_line(path, "queue small empty, get waits by getter")
    small.put("c")
    join(getter)
    small.put("d")
    putter = start_thread(lambda: small.put("e"), name="putter")
    wait_for_line(path, "queue small full, put of 'e' waits by putter")
    assert "d" == small.get()
    join(putter)
    stack, ranked, simple = queue.LifoQueue(), queue.PriorityQueue(), queue.SimpleQueue()
    stack.put([1, 2])
    stack.get()
    ranked.put((2, "b"))
    ranked.put((1, "a"))
    assert (1, "a") == ranked.get()
    simple.put(None)
    simple.put_nowait(3)
    assert simple.get() is None
    assert 3 == simple.get_nowait()
    with pytest.raises(queue.Empty):
        simple.get(timeout=0.001)
    with pytest.raises(queue.Empty):
        simple.get_nowait()
    waiting = start_thread(simple.get, name="simple_getter")
    wait_for_line(path, "queue simple empty, get waits by simple_getter")
    simple.put(4)
    join(waiting)
    # Queues of the program's own: a _put calling the hooked one, a size read under a lock,
    # a qsize() of its own.
    stamped, counted, padded = Stamped(), Counted(2), Padded()
    stamped.put(5)
    stamped.get()
    counted.put(6)
    counted.get()
    with pytest.raises(queue.Empty):
        counted.get(timeout=0.001)
    padded.put(7)
    padded.get()


def arrived(barrier: threading.Barrier) -> None:
    """Until another thread waits at ``barrier`` (or 5 s have passed)."""
    deadline = time.monotonic() + 5
    while barrier.n_waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.001)


def run(tmp_path: Path, label: str, fmt: str = "console", **options: Any) -> list[str]:
    path = tmp_path / f"{label}.log"
    options.setdefault("detect_deadlocks", True)
    syncscope.install(format=fmt, output=str(path), **options)
    try:
        lean = state.lines is not None
        program(path)
    finally:
        syncscope.uninstall()
    return [str(lean), *(same(line, fmt) for line in path.read_text().splitlines())]


#: What differs between two runs of the same program: times, ids.
_VARYING = ("timestamp", "waited_ms", "primitive_id", "thread_id")


def same(line: str, fmt: str) -> str:
    """``line`` with "?" for what differs between two runs (names made unique per process)."""
    if fmt == "json":
        fields = json.loads(line)
        line = json.dumps({k: "?" if k in _VARYING else v for k, v in fields.items()})
    elif fmt == "logfmt":
        line = re.sub(rf"\b({'|'.join(_VARYING)})=\S+", r"\1=?", line)
    line = re.sub(r" after [\d.]+ [^\s\"]+", " after ?", line)
    return re.sub(r"#\d+\b", "", line)


def untimed(lines: list[str]) -> list[str]:
    """``lines`` without the time waited that some say (whether one waited can vary)."""
    return [line.replace(" after ?", "") for line in lines]


def by_thread(lines: list[str]) -> dict[str, list[str]]:
    """Each thread's lines, in order."""
    threads: dict[str, list[str]] = {}
    for line in lines:
        found = re.search(r" (?:by|for) (\w+)", line)
        assert found is not None, line
        threads.setdefault(found.group(1), []).append(line)
    return threads


@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_json_and_logfmt_lines_are_the_event_paths(tmp_path: Path, fmt: str) -> None:
    """Every field, the call site and the queue's size included, in the same order."""
    lean = run(tmp_path, "lean", fmt)
    full = run(tmp_path, "full", fmt, long_hold_ms=1e9)
    assert ("True", "False") == (lean[0], full[0])
    assert sorted(untimed(full[1:])) == sorted(untimed(lean[1:]))
    assert by_thread(untimed(full[1:])) == by_thread(untimed(lean[1:]))
    # Each operation's call site, looked up where the lean path made it without one.
    assert not [line for line in lean[1:] if '"file": ""' in line or " file= " in line]
    assert any(re.search(r"function\W+program", line) for line in lean[1:])


def test_a_json_lines_time_is_the_same_in_its_field_and_its_words(tmp_path: Path) -> None:
    """The comparison above leaves times out: here each timed line says one time twice."""
    path = tmp_path / "timed.log"
    syncscope.install(format="json", output=str(path), detect_deadlocks=True)
    try:
        assert state.lines is not None  # the lean path
        program(path)
    finally:
        syncscope.uninstall()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    # An error's words, and a refused get's or put's, say no time.
    untold = ("error", "empty", "full")
    timed = [
        fields for fields in lines if fields.get("waited_ms") and fields["outcome"] not in untold
    ]
    # Waits woken, an acquire that waited, the Barrier's, a get woken by a put...
    assert len({(fields["name"], fields["op"]) for fields in timed}) >= 5, timed
    ms = {"\u00b5s": 1e-3, "ms": 1.0, "s": 1e3}
    for fields in timed:
        said = re.search(r" after ([\d.]+) (\u00b5s|ms|s)$", fields["event"])
        assert said is not None, fields
        number, unit = said.groups()
        # Each rounded its own way: to the microsecond, and to the words' last digit.
        slack = 0.0011 if unit == "\u00b5s" else 0.051 * ms[unit]
        assert abs(float(number) * ms[unit] - fields["waited_ms"]) <= slack, fields
        # Rounded to the microsecond, as the event path rounds it.
        assert round(fields["waited_ms"], 3) == fields["waited_ms"], fields


def test_the_lean_lines_are_the_event_paths(tmp_path: Path) -> None:
    lean = run(tmp_path, "lean")
    # A long-hold threshold needs every event: the event path, as before the lean lines.
    full = run(tmp_path, "full", long_hold_ms=1e9)
    assert ("True", "False") == (lean[0], full[0])
    # The same lines, each thread's in the same order: between threads, what the program
    # does not order (the two threads a Barrier lets go, a get and the put it lets in) may
    # be said in either order, on either path; an acquire may have waited in one run only.
    assert sorted(untimed(full[1:])) == sorted(untimed(lean[1:]))
    assert by_thread(untimed(full[1:])) == by_thread(untimed(lean[1:]))
    # The lines alone (install() from the program's code) count in a book of their own.
    alone = run(tmp_path, "alone", detect_deadlocks=False)
    assert "True" == alone[0]
    assert sorted(untimed(full[1:])) == sorted(untimed(alone[1:]))
    # The waits the program orders say their time on either path (below).
    for line in (
        "lock acquired by renamed",
        "lock release failed by MainThread: RuntimeError: release unlocked lock",
        "condition cond notified by MainThread (nobody waiting)",
        "condition cond woken by waiter after ?",
        "event flag wait by MainThread (already set)",
        "event flag cleared by MainThread",
        "semaphore pair released 2 by MainThread",
        "semaphore sem acquired by permit_taker after ?",
        "barrier gate wait by MainThread (2 arrived)",
        "barrier turns wait by MainThread (2 arrived)",
        "barrier turns wait by MainThread (1 arrived)",
        "barrier turns wait by other (1 arrived)",
        "barrier turns wait by other (2 arrived)",
        "task done on queue jobs by MainThread (1 unfinished)",
        "61 put to queue jobs by MainThread",
        "task done on queue jobs by MainThread (0 unfinished)",
        "'b' not put to queue small by MainThread: timed out",
        "nothing got from queue small by MainThread: queue empty",
        "'c' got from queue small by getter after ?",
        "'e' put to queue small by putter after ?",
        "(1, 'a') got from queue ranked by MainThread",
        "4 got from queue simple by simple_getter after ?",
    ):
        assert line in lean, line


def test_with_the_statistics_the_event_path(tmp_path: Path) -> None:
    """
    Their report names where each lock was mostly taken, which the lean path does not look
    up: the lines with --report keep the event path.
    """
    syncscope.install(
        format="console", output=str(tmp_path / "x.log"), detect_deadlocks=True, stats=True
    )
    assert state.lines is None
    assert state.lean is None


def per_object_lines(tmp_path: Path, label: str, **options: Any) -> tuple[str, list[str]]:
    """
    Locks, RLocks and semaphores made at one place (``lock#1``, ``lock#2``...), each used by
    a worker and then by the main thread: whether the lean path wrote the lines, and the
    lines with each primitive's label as ``P<its index>``, the same in every run.
    """
    path = tmp_path / f"{label}.log"
    syncscope.install(format="console", output=str(path), detect_deadlocks=True, **options)
    try:
        lean = state.lines is not None
        primitives: list[Any] = [threading.Lock() for _ in range(3)]
        primitives += [threading.RLock() for _ in range(2)]
        primitives += [threading.BoundedSemaphore(2) for _ in range(2)]

        def use() -> None:
            for index, primitive in enumerate(primitives):
                if index < 3:  # a Lock
                    with primitive:
                        pass
                else:  # an RLock taken again inside its hold, a semaphore's two permits
                    with primitive, primitive:
                        pass

        worker = start_thread(use, name="worker")
        join(worker)
        use()
        made = [getattr(p, "_syncscope_primitive", None) or primitive_of(p) for p in primitives]
    finally:
        syncscope.uninstall()
    labels = [primitive.label for primitive in made if primitive is not None]
    assert len(primitives) == len(labels), "a primitive was not watched: the test proves nothing"
    lines = path.read_text().splitlines()
    for index, name in sorted(enumerate(labels), key=lambda pair: -len(pair[1])):
        lines = [re.sub(rf"^{re.escape(name)}\b", f"P{index}", line) for line in lines]
    return str(lean), lines


def test_locks_made_at_one_place_each_say_their_own_label(tmp_path: Path) -> None:
    """
    The lean path keeps a line's words after the primitive's label by kind, thread and
    figures, so that a lock per object does not describe each line anew: every line must
    still name its own primitive, thread and depth, as the event path's lines do.
    """
    lean = per_object_lines(tmp_path, "lean")
    full = per_object_lines(tmp_path, "full", long_hold_ms=1e9)
    assert ("True", "False") == (lean[0], full[0])
    assert full[1] == lean[1]
    assert "P0 acquired by worker" in lean[1]
    assert "P3 acquired by MainThread (depth 2)" in lean[1]
    assert "P6 released by MainThread" in lean[1]
    assert len(lean[1]) == 2 * (3 * 2 + 2 * 4 + 2 * 4), lean[1]


def test_a_timeout_of_another_type_ends_its_hold(tmp_path: Path) -> None:
    """
    A valid timeout a trylock cannot be tried before (a float subclass) is counted and said
    on the lean path: its hold ends at its release, and is under no later lock.
    """
    program = tmp_path / "prog.py"
    program.write_text(
        "import threading\n"
        "class Seconds(float): pass\n"
        "a, b, c = threading.Lock(), threading.Lock(), threading.Lock()\n"
        "a.acquire(timeout=Seconds(1.0))\n"
        "a.release()\n"
        "with b:\n"
        "    with c:\n"
        "        pass\n"
        "def other():\n"
        "    with c:\n"
        "        with a:\n"
        "            pass\n"
        "t = threading.Thread(target=other)\n"
        "t.start()\n"
        "t.join(5)\n"
    )
    result = run_syncscope("-o", str(tmp_path / "lines.log"), str(program))
    assert 0 == result.returncode, result.stderr
    assert "inversion" not in result.stderr, result.stderr
    assert "lock a acquired by MainThread" in (tmp_path / "lines.log").read_text()


def test_a_librarys_locks_are_not_said_inside_an_operation(tmp_path: Path) -> None:
    """With --all, what an Event, Semaphore or Queue does to its own locks stays unsaid."""

    def operations() -> None:
        flag, sem, jobs = threading.Event(), threading.Semaphore(), queue.Queue()
        flag.set()
        flag.clear()
        with sem:
            jobs.put(1)
        jobs.get()
        jobs.task_done()

    said = {}
    for label, options in (("lean", {}), ("full", {"long_hold_ms": 1e9})):
        path = tmp_path / f"{label}.log"
        syncscope.install(
            format="console",
            output=str(path),
            detect_deadlocks=True,
            include_library=True,
            **options,  # type: ignore[arg-type]
        )
        try:
            operations()
        finally:
            syncscope.uninstall()
        said[label] = [re.sub(r"#\d+\b", "", line) for line in path.read_text().splitlines()]
    assert said["full"] == said["lean"]
    assert not [line for line in said["lean"] if line.startswith("lock ")], said["lean"]


class Interrupted:
    """A Ctrl-C landing in the writing of the first line that ``which`` picks (simulated)."""

    def __init__(self, which: str) -> None:
        self.which = which
        self.fired = False
        lines = state.lines
        assert lines is not None
        self.lines = lines
        self.writer = lines._console._writer
        self.write = lines._write

    def __enter__(self) -> Interrupted:
        def write(data: bytes) -> None:
            if not self.fired and self.which in data.decode():
                self.fired = True
                raise KeyboardInterrupt
            self.write(data)

        # Both ways a line is written: kept bytes, and an event's line through the console.
        self.lines._write = self.writer.write = write  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.lines._write = self.write  # type: ignore[method-assign]
        del self.writer.write


def test_a_ctrl_c_in_a_line_leaves_no_hold_nor_wait(tmp_path: Path) -> None:
    """The line comes first: an interrupt in it leaves no hold, permit or wait behind."""
    syncscope.install(format="console", output=str(tmp_path / "x.log"), detect_deadlocks=True)
    recorder = state.sinks[-1]
    lock, sem, cond = threading.Lock(), threading.Semaphore(), threading.Condition()
    for primitive in (lock, sem):
        with primitive:  # adopted: the next acquire takes the fast path
            pass
        with Interrupted("acquired"), pytest.raises(KeyboardInterrupt):
            primitive.acquire()
    assert not lock.locked()
    assert sem.acquire(False)  # its permit was given back
    sem.release()
    with cond, Interrupted(" wait by "), pytest.raises(KeyboardInterrupt):
        cond.wait(5)
    snapshot = recorder.holds.snapshot()  # type: ignore[attr-defined]
    assert {} == snapshot.held
    assert {} == snapshot.waiting


def test_a_ctrl_c_in_a_queues_line_comes_once_the_put_or_get_is_made(tmp_path: Path) -> None:
    """
    A put's or get's line is said inside the queue's ``_put`` or ``_get``, under its lock: a
    Ctrl-C there is raised by the put or get once it is made and counted, as in any line
    said after its operation. The item is in the queue (or out of it), and nothing is lost.
    """
    syncscope.install(format="console", output=str(tmp_path / "x.log"), detect_deadlocks=True)
    q: queue.Queue[int] = queue.Queue()
    q.put(0)
    assert 0 == q.get()  # adopted: the next put and get take the fast path
    with Interrupted("61 put to"), pytest.raises(KeyboardInterrupt):
        q.put(61)
    assert 1 == q.qsize()
    q.put(62)  # said, and not interrupted again
    with Interrupted("61 got from"), pytest.raises(KeyboardInterrupt):
        q.get()
    assert 62 == q.get(timeout=5)
    assert q.empty()
    tally = watches[id(q)].tally  # each counted once made, the interrupted ones too
    assert tally is not None
    assert (3, 3) == (tally.puts, tally.gets)
    syncscope.uninstall()
    said = (tmp_path / "x.log").read_text().splitlines()
    # The interrupted lines are not written: the Ctrl-C came in their write.
    assert [line.split(" by ")[0] for line in said if "queue q" in line] == [
        "0 put to queue q",
        "0 got from queue q",
        "62 put to queue q",
        "62 got from queue q",
    ]


def test_a_get_is_said_once_while_another_thread_changes_its_item(tmp_path: Path) -> None:
    """
    Whether a get's line can be said under the queue's lock depends on its item (a list of
    numbers can, a list holding an object cannot): decided once, a list another thread
    changes meanwhile is said once, never twice nor not at all.
    """
    path = tmp_path / "lines.log"
    count = 3000
    box: list[Any] = [1, 2]
    stop = threading.Event()

    def change() -> None:
        thing = object()
        while not stop.is_set():
            box.append(thing)
            box.pop()

    interval = sys.getswitchinterval()
    syncscope.install(format="console", output=str(path), detect_deadlocks=True)
    try:
        assert state.lines is not None  # the lean path
        q: queue.Queue[list[Any]] = queue.Queue()
        changer = start_thread(change, name="changer")
        sys.setswitchinterval(1e-6)  # the changer runs between any two steps of a get
        try:
            for _ in range(count):
                q.put(box)
                assert q.get() is box
        finally:
            sys.setswitchinterval(interval)
            stop.set()
            join(changer)
    finally:
        syncscope.uninstall()
    lines = path.read_text().splitlines()
    said = [line for line in lines if " got from queue q by " in line]
    assert count == len(said), (len(said), count)
    assert count == len([line for line in lines if " put to queue q by " in line])


def test_a_ctrl_c_as_a_get_decides_where_to_say_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A Ctrl-C landing while a get made in place looks at its item (to say its line under the
    queue's lock or after it) comes once the get is made and counted, its line said: the
    item is not lost, and no failed get is said.
    """
    real = queuelean.renders_in_c
    armed = [False]

    def interrupted(item: Any, depth: int = 3) -> bool:
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt
        return real(item, depth)

    path = tmp_path / "lines.log"
    syncscope.install(format="console", output=str(path), detect_deadlocks=True)
    try:
        monkeypatch.setattr(queuelean, "renders_in_c", interrupted)
        q: queue.Queue[list[int]] = queue.Queue()
        q.put([1, 2])
        q.put([3, 4])
        armed[0] = True
        with pytest.raises(KeyboardInterrupt):
            q.get()
        assert not armed[0], "the interrupt was not simulated: the test proves nothing"
        assert [3, 4] == q.get(timeout=5)
        tally = watches[id(q)].tally
        assert tally is not None
        assert (2, 2) == (tally.puts, tally.gets)
    finally:
        syncscope.uninstall()
    said = [re.sub(r"#\d+\b", "", line) for line in path.read_text().splitlines()]
    assert [
        "[1, 2] put to queue q by MainThread",
        "[3, 4] put to queue q by MainThread",
        "[1, 2] got from queue q by MainThread",
        "[3, 4] got from queue q by MainThread",
    ] == said


@pytest.mark.parametrize("op", ["put", "get"])
def test_a_handler_inside_a_put_or_get_made_in_place_is_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    """
    What a signal handler or a finalizer does while a put or get made in place runs, under
    the queue's lock, is the operation's, unseen, as inside the real put and get (and on the
    event path): here a handler that takes a lock runs as the line is said (simulated).
    """
    ran = []

    def with_handler(say: Any) -> Any:
        def say_with_handler(what: Any, done: Any) -> None:
            with handlers_lock:  # the handler, landing here
                ran.append(1)
            say(what, done)

        return say_with_handler

    path = tmp_path / "lines.log"
    syncscope.install(format="console", output=str(path), detect_deadlocks=True)
    try:
        handlers_lock = threading.Lock()
        with handlers_lock:  # adopted: the handler's takes the lean path
            pass
        if op == "put":
            monkeypatch.setattr(queuelean, "say_put", with_handler(queuelean.say_put))
        else:
            monkeypatch.setattr(queues, "say_got", with_handler(queues.say_got))
        q: queue.Queue[int] = queue.Queue()
        q.put(61)
        assert 61 == q.get(timeout=5)
        with handlers_lock:  # outside any put or get: said
            pass
    finally:
        syncscope.uninstall()
    assert [1] == ran, "the handler did not run inside the operation: the test proves nothing"
    said = [re.sub(r"#\d+\b", "", line) for line in path.read_text().splitlines()]
    assert [
        "lock handlers_lock acquired by MainThread",
        "lock handlers_lock released by MainThread",
        "61 put to queue q by MainThread",
        "61 got from queue q by MainThread",
        "lock handlers_lock acquired by MainThread",
        "lock handlers_lock released by MainThread",
    ] == said


def _with_lean_lines(cls: type) -> type:
    """A CPython test class run with the lines and the checks listening."""

    def setUp(self: Any) -> None:
        # Every primitive watched: these tests make theirs inside the standard library.
        syncscope.install(
            format="console", output=os.devnull, detect_deadlocks=True, include_library=True
        )
        # The watchdog's thread running before these tests count threads (one more later
        # would be one left behind); it says who it is once it runs.
        watchdog = state.sinks[-1].watchdog  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while watchdog.ident is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert state.lines is not None
        assert type(threading.Lock()) in PROXY_TYPES
        cls.setUp(self)

    def tearDown(self: Any) -> None:
        cls.tearDown(self)
        syncscope.uninstall()

    return type(f"Lines{cls.__name__}", (cls,), {"setUp": setUp, "tearDown": tearDown})


def _with_lean_queue_lines(cls: type) -> type:
    """
    A CPython queue test class run with the lines and the checks listening, its queues watched
    as the program's own rather than with ``--all``: their puts and gets take the lean path,
    in the originals' own steps (``ownsteps``), which ``--all`` turns off.
    """

    def setUp(self: Any) -> None:
        watch_as_programs_own(self, test_queue.__file__)
        syncscope.install(format="console", output=os.devnull, detect_deadlocks=True)
        self.addCleanup(syncscope.uninstall)  # before forgetting the path: cleanups run last first
        watchdog = state.sinks[-1].watchdog  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while watchdog.ident is None and time.monotonic() < deadline:
            time.sleep(0.001)  # see _with_lean_lines
        assert state.lines is not None
        assert not state.options.include_library
        cls.setUp(self)

    return type(f"Lines{cls.__name__}", (cls,), {"setUp": setUp})


def _patched(name: str) -> Any:
    def create(*args: Any, **kwargs: Any) -> Any:
        return getattr(threading, name)(*args, **kwargs)

    return staticmethod(create)


LinesLockTests = _with_lean_lines(
    type("L", (lock_tests.LockTests,), {"locktype": _patched("Lock")})
)
LinesRLockTests = _with_lean_lines(
    type("R", (lock_tests.RLockTests,), {"locktype": _patched("RLock")})
)
LinesConditionTests = _with_lean_lines(
    type("C", (lock_tests.ConditionTests,), {"condtype": _patched("Condition")})
)
LinesEventTests = _with_lean_lines(
    type("E", (lock_tests.EventTests,), {"eventtype": _patched("Event")})
)
LinesSemaphoreTests = _with_lean_lines(
    type("S", (lock_tests.SemaphoreTests,), {"semtype": _patched("Semaphore")})
)
LinesBoundedSemaphoreTests = _with_lean_lines(
    type("B", (lock_tests.BoundedSemaphoreTests,), {"semtype": _patched("BoundedSemaphore")})
)
LinesBarrierTests = _with_lean_lines(
    type("Ba", (lock_tests.BarrierTests,), {"barriertype": _patched("Barrier")})
)
LinesQueueTests = _with_lean_queue_lines(
    type("Q", (test_queue.QueueTest, unittest.TestCase), {"queue": queue})
)
LinesLifoQueueTests = _with_lean_queue_lines(
    type("LQ", (test_queue.LifoQueueTest, unittest.TestCase), {"queue": queue})
)
LinesPriorityQueueTests = _with_lean_queue_lines(
    type("PQ", (test_queue.PriorityQueueTest, unittest.TestCase), {"queue": queue})
)


@pytest.mark.parametrize("path", ["lean", "event"])
def test_a_release_of_true_permits_writes_a_json_number(tmp_path: Path, path: str) -> None:
    """
    ``Semaphore.release(True)`` releases one permit, as does an int subclass with its own repr
    (numpy's integers): the JSON line says a number, not the Python repr of what was passed.
    """
    program = tmp_path / "program.py"
    program.write_text(
        "import threading\n"
        "class Two(int):\n"
        "    def __repr__(self):\n"
        "        return 'Two(2)'\n"
        "sem = threading.Semaphore(0)\n"
        "sem.release(True)\n"
        "sem.release(Two(2))\n"
        "for _ in range(3):\n"
        "    sem.acquire()\n"
        "try:\n"
        "    sem.release('x')\n"
        "except TypeError:\n"
        "    pass\n"
    )
    output = tmp_path / "lines.json"
    report = ["--report"] if path == "event" else []  # the report keeps the event path
    result = run_syncscope("--format", "json", "-o", str(output), *report, str(program))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    releases = [line for line in lines if line["op"] == "release"]
    assert [(line["outcome"], line.get("count")) for line in releases] == [
        ("released", 1),
        ("released", 2),
        ("error", None),
    ]
    assert type(releases[0]["count"]) is int


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize(("fmt", "to_file"), [("console", False), ("json", False), ("json", True)])
def test_a_signal_handler_that_takes_a_lock_while_a_line_is_written(
    tmp_path: Path, fmt: str, to_file: bool
) -> None:
    """
    A signal handler runs where CPython checks for one (at calls, in loops), so also while a
    line is written, under the writer's lock: a watched lock taken there says its line through
    the same writer, which must not wait for itself (it did: the program hung writing to
    standard error). Every kind of line is written, each one once, while a timer interrupts
    the program every 100 us.
    """
    program = tmp_path / "program.py"
    program.write_text(
        textwrap.dedent(
            """
            import queue, signal, threading
            handlers_lock = threading.Lock()
            running = []
            def handler(signum, frame):
                if running:  # a signal during the handler: not into its own lock again
                    return
                running.append(1)
                try:
                    with handlers_lock:
                        pass
                finally:
                    running.clear()
            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
            jobs = queue.Queue()
            totals = threading.Lock()
            flag = threading.Event()
            for i in range(4000):
                jobs.put_nowait(i)
                jobs.get_nowait()
                with totals:
                    pass
                flag.wait(0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            print("done")
            """
        )
    )
    output = tmp_path / "lines.log"
    to = ["-o", str(output)] if to_file else []
    # Within pytest-timeout's limit: a hang fails this test, its program killed, not the run.
    result = run_syncscope("--format", fmt, *to, str(program), timeout=60)
    assert (0, "done\n") == (result.returncode, result.stdout), result.stderr[-2000:]
    written = output.read_text() if to_file else result.stderr
    lines = written.splitlines()
    if fmt == "json":  # every line whole
        lines = [json.loads(line)["event"] for line in lines if line.startswith("{")]
    for words in (
        "put to queue jobs by MainThread",
        "got from queue jobs by MainThread",
        "lock totals acquired by MainThread",
        "event flag wait timed out by MainThread",
    ):
        assert 4000 == sum(words in line for line in lines), words


class RenamedMidLine(threading.Thread):
    """
    A thread that another renames while its lines are being kept (simulated): while armed,
    each read of its name for an operation's event says ``intruder``, and is counted.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.armed = False
        self.renames = 0
        super().__init__(*args, **kwargs)

    @property
    def _name(self) -> str:
        if self.armed and sys._getframe(1).f_code is SyncEvent.__init__.__code__:
            self.renames += 1
            return "intruder"
        return self._real_name

    @_name.setter
    def _name(self, name: str) -> None:
        self._real_name = name


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_kept_line_says_the_thread_name_it_is_kept_for(tmp_path: Path, fmt: str) -> None:
    """
    A kept line is keyed by the thread's name and says it: a rename between two reads of the
    name must not keep the new name's line under the old one, said to every later operation.
    """
    path = tmp_path / "lines.log"
    syncscope.install(format=fmt, output=str(path), detect_deadlocks=True)
    try:
        assert state.lines is not None  # the lean path
        lock, jobs = threading.Lock(), queue.Queue[int]()

        def operations() -> None:
            for _ in range(2):  # adopted: the next ones take the fast path
                with lock:
                    jobs.put(61)
                jobs.get()
            thread = threading.current_thread()
            assert isinstance(thread, RenamedMidLine)
            thread.name = "worker"  # lines not kept yet: the next ones read the name
            for armed in (True, False):  # renamed while the lines are kept, then not
                thread.armed = armed
                with lock:
                    jobs.put(62)
                jobs.get()

        worker = RenamedMidLine(target=operations, name="warmup", daemon=True)
        worker.start()
        join(worker)
    finally:
        syncscope.uninstall()
    # An acquire's, a release's, a put's and a get's: each line kept once, the rename in it.
    assert 4 == worker.renames, "the rename was not simulated as meant: the test proves nothing"
    lines = path.read_text().splitlines()
    if fmt == "json":
        fields = [json.loads(line) for line in lines]
        lines = [f"{line['event']} [{line['thread']}]" for line in fields]
    said = [line for line in lines if "by warmup" not in line]
    assert 8 == len(said), lines
    assert not [line for line in said if "intruder" in line], said
    assert all("by worker" in line for line in said), said
    if fmt == "json":  # the field too
        assert all(line.endswith("[worker]") for line in said), said
