"""The timeline (--timeline) and the HTML report (--html), from real runs of python -m syncscope."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._core.event import SyncEvent, ThreadLife
from syncscope._sinks.timeline.model import replay
from syncscope._sinks.timeline.sink import TimelineOptions, trace_events

from .spans_programs import Interactive
from .support.events import acquired, primitive, released, waiting


HERE = Path(__file__).parent
MIXED = HERE / "timeline_programs" / "mixed.py"
EXAMPLES = HERE.parent / "examples"
#: A wait that ended because something let it go, and the arrow that must lead into it.
EXPECTED_FLOWS = {
    ("event-waiter", "Event.wait ready"): "set",
    ("consumer", "Queue.get jobs"): "put",
    ("producer", "Queue.put jobs"): "get made room",
    ("joiner", "Queue.join jobs"): "task_done",
    ("cond-waiter", "Condition.wait cond"): "notify",
    ("contender", "wait for lock"): "release",
}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        [sys.executable, "-m", "syncscope", *map(str, args)],
        check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        return json.load(file)  # type: ignore[no-any-return]


class Trace:
    """A trace-event file, indexed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.events = data["traceEvents"]
        self.threads = {
            e["tid"]: e["args"]["name"] for e in self.events if e.get("name") == "thread_name"
        }
        self.slices = [e for e in self.events if e["ph"] == "X"]
        self.waits = [e for e in self.slices if e["cat"] == "wait"]
        self.woken = [e for e in self.slices if e["cat"] == "woken"]
        self.starts = {e["id"]: e for e in self.events if e["ph"] == "s"}
        self.ends = [e for e in self.events if e["ph"] == "f"]

    def flows_into(self, wait: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            f for f in self.ends
            if f["tid"] == wait["tid"] and wait["ts"] <= f["ts"] <= wait["ts"] + wait["dur"]
        ]  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trace, Path, str]:
    where = tmp_path_factory.mktemp("mixed")
    result = run("-q", "--timeline", "t.json.gz", "--html", "r.html", MIXED, cwd=where)
    assert 0 == result.returncode, result.stderr
    return Trace(load(where / "t.json.gz")), where / "r.html", result.stderr


class TestTrace:
    def test_one_track_per_thread_named_as_the_thread(self, mixed: tuple[Trace, Path, str]) -> None:
        """Every thread that used a primitive has one track, under its name."""
        trace = mixed[0]
        names = sorted(trace.threads.values())
        assert len(names) == len(set(names))
        assert {"MainThread", "consumer", "producer", "joiner", "cond-waiter", "contender",
                "holder", "event-waiter"} == set(names)  # fmt: skip

    def test_every_wait_has_its_arrow(self, mixed: tuple[Trace, Path, str]) -> None:
        """Each wait the program made certain has a slice, and one arrow from its cause."""
        trace = mixed[0]
        for (thread, name), why in EXPECTED_FLOWS.items():
            waits = [
                w for w in trace.waits if trace.threads[w["tid"]] == thread and w["name"] == name
            ]
            assert 1 == len(waits), (thread, name)
            flows = trace.flows_into(waits[0])
            assert [why] == [f["name"] for f in flows], (thread, name)
            start = trace.starts[flows[0]["id"]]
            assert start["ts"] <= flows[0]["ts"]
        released = [w for w in trace.waits if w["args"].get("outcome") not in ("timeout",)]
        for wait in released:
            assert trace.flows_into(wait), wait

    def test_durations_are_the_waited_times(self, mixed: tuple[Trace, Path, str]) -> None:
        """A wait slice lasts what the operation reported as waited; a hold what was held."""
        trace = mixed[0]
        for wait in trace.waits:
            assert abs(wait["dur"] - wait["args"]["waited_ms"] * 1000) < 0.01
        holds = [s for s in trace.slices if s["cat"] == "hold"]
        assert any(trace.threads[h["tid"]] == "holder" for h in holds)
        for hold in holds:
            assert abs(hold["dur"] - hold["args"]["held_ms"] * 1000) < 0.01

    def test_lock_wait_names_its_holder(self, mixed: tuple[Trace, Path, str]) -> None:
        trace = mixed[0]
        (wait,) = [w for w in trace.waits if w["name"] == "wait for lock"]
        assert "holder" == wait["args"]["holder"]
        assert wait["args"]["site"].endswith("in contender")

    def test_counters_and_instants(self, mixed: tuple[Trace, Path, str]) -> None:
        """Queue sizes are a counter track; notify, set and task_done are instants."""
        trace = mixed[0]
        counters = {e["name"] for e in trace.events if e["ph"] == "C"}
        assert "queue jobs size" in counters
        instants = {e["name"] for e in trace.events if e["ph"] == "i"}
        assert {"set event ready", "notify condition cond", "task_done queue jobs"} <= instants
        assert ["complete: nothing aggregated"] == trace.data["metadata"]["notes"]

    def test_findings_are_marked_on_their_threads(self, tmp_path: Path) -> None:
        """The lock-order inversion of the example is an instant on both threads' tracks."""
        result = run("-q", "--timeline", "t.json", EXAMPLES / "deadlock_order.py", cwd=tmp_path)
        assert 0 == result.returncode, result.stderr
        trace = Trace(load(tmp_path / "t.json"))
        marks = [e for e in trace.events if e.get("cat") == "finding"]
        assert {"Thread-1", "Thread-2"} == {trace.threads[m["tid"]] for m in marks}
        assert {"INVERSION"} == {m["name"] for m in marks}


class TestSize:
    def test_uncontended_operations_are_aggregated(self, tmp_path: Path) -> None:
        """Past the limit, holds nobody waited for become a per-thread counter, and the
        metadata says so; the trace stays under the limit."""
        with syncscope.record(events=20_000) as rec:
            import threading

            lock = threading.Lock()
            for _ in range(5_000):
                with lock:
                    pass
        events = rec.events
        timeline = replay(events, events[0].time_ns, events[-1].time_ns + 1)
        assert 5_000 == len([s for s in timeline.slices if s.cat == "hold"])
        data = trace_events(timeline, TimelineOptions(max_trace_events=1_000))
        assert len(data["traceEvents"]) <= 1_000
        assert any("aggregated" in note for note in data["metadata"]["notes"])
        counters = {e["name"] for e in data["traceEvents"] if e["ph"] == "C"}
        assert "MainThread: uncontended operations aggregated" in counters
        assert 5_000 == sum(
            e["args"]["value"]
            for e in data["traceEvents"]
            if e["ph"] == "C" and e["name"].startswith("MainThread")
        ) + len([e for e in data["traceEvents"] if e["ph"] == "X"])


class TestOptions:
    def test_bad_path_is_an_error_at_start(self, tmp_path: Path) -> None:
        result = run("--timeline", tmp_path / "no" / "t.json", "-c", "pass", cwd=tmp_path)
        assert 2 == result.returncode
        assert "cannot write" in result.stderr

    def test_record_writes_both(self, tmp_path: Path) -> None:
        """syncscope.record() writes the timeline and the HTML report at the block's end."""
        import threading

        with syncscope.record(timeline=str(tmp_path / "t.json"), html=str(tmp_path / "r.html")):
            ev = threading.Event()
            ev.set()
            ev.wait(timeout=5)
        trace = Trace(load(tmp_path / "t.json"))
        assert "MainThread" in trace.threads.values()
        assert "syncscope-data" in (tmp_path / "r.html").read_text(encoding="utf-8")


SAME_NAME_SAME_IDENT = """\
import os, sys, threading, time
def task_gone(thread):  # its stack is the next thread's (and so its ident) once it is gone
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/self/task/{thread.native_id}") and time.monotonic() < deadline:
        time.sleep(0.001)
lock = threading.Lock()
gate = threading.Lock()
def leave_it_held():
    lock.acquire()  # never released: the thread ends holding it
def wait_for_it():
    with lock:  # the lock the ended thread left held
        pass
for attempt in range(50):  # until a thread gets the ident of the one that ended
    first = threading.Thread(target=leave_it_held, name="worker")
    first.start()
    first.join(timeout=10)
    task_gone(first)
    second = threading.Thread(target=wait_for_it, name="worker")
    second.start()
    if second.ident == first.ident:
        break
    lock.release()  # another ident: let it in, and try again
    second.join(timeout=10)
    lock = threading.Lock()
else:
    sys.exit("no thread got an ended thread's ident")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:  # until it waits
    frame = sys._current_frames().get(second.ident)
    if frame is not None and frame.f_code.co_name == "acquire_contended":
        break
    time.sleep(0.001)
lock.release()  # the main thread lets it in
second.join(timeout=10)
print(attempt)
"""


def _ts(event: dict[str, Any]) -> float:
    return float(event["ts"])


def _last_wait_and_the_ended_threads_hold(trace: Trace) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    The last attempt's wait for a lock (the earlier attempts' second threads, with other
    idents, waited too), and the hold of the thread that ended holding that lock: on another
    track, across the wait's start.
    """
    wait = max((w for w in trace.waits if w["name"].startswith("wait for lock")), key=_ts)
    (held,) = [
        s for s in trace.slices
        if s["cat"] == "hold" and s["name"] == wait["name"].replace("wait for", "hold")
        and s["tid"] != wait["tid"] and s["ts"] < wait["ts"] < s["ts"] + s["dur"]
    ]  # fmt: skip
    return wait, held


def test_a_thread_with_an_ended_threads_ident_and_name_has_its_own_track(
    tmp_path: Path,
) -> None:
    """
    Two threads named alike, the second with the ident of the first, which ended holding a
    lock the second waits for: two tracks, and the wait names the first as its holder.
    """
    program = tmp_path / "reuse.py"
    program.write_text(SAME_NAME_SAME_IDENT, encoding="utf-8")
    result = run("-q", "--timeline", "t.json", program, cwd=tmp_path)
    assert 0 == result.returncode, result.stderr
    trace = Trace(load(tmp_path / "t.json"))
    attempt = int(result.stdout)
    wait, held = _last_wait_and_the_ended_threads_hold(trace)
    assert "worker" == trace.threads[wait["tid"]] == trace.threads[held["tid"]]
    assert "worker" == wait["args"]["holder"]
    assert 2 + 2 * attempt <= len([t for t in trace.threads.values() if t == "worker"])


DEADLOCK_THEN_OS_EXIT = """\
import os, sys, threading, time
a, b = threading.Lock(), threading.Lock()
both = threading.Barrier(2, timeout=10)
def left():
    with a:
        both.wait()
        with b:
            pass
def right():
    with b:
        both.wait()
        with a:
            pass
threads = [threading.Thread(target=left, name="left", daemon=True),
           threading.Thread(target=right, name="right", daemon=True)]
for thread in threads:
    thread.start()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:  # until both wait for each other
    frames = [sys._current_frames().get(t.ident) for t in threads]
    if all(f is not None and f.f_code.co_name == "acquire_contended" for f in frames):
        break
    time.sleep(0.001)
print("bailing out", flush=True)
os._exit(3)
"""


def test_os_exit_writes_the_timeline_and_the_report(tmp_path: Path) -> None:
    """A program that ends itself with os._exit still gets both files, whole."""
    program = tmp_path / "bail.py"
    program.write_text(DEADLOCK_THEN_OS_EXIT, encoding="utf-8")
    result = run("-q", "--timeline", "t.json", "--html", "r.html", program, cwd=tmp_path)
    assert 3 == result.returncode, result.stderr
    assert "bailing out\n" == result.stdout
    trace = Trace(load(tmp_path / "t.json"))
    waiting = {
        trace.threads[w["tid"]]: w["name"]
        for w in trace.waits
        if w["args"].get("outcome") == "still waiting at exit"
    }
    assert {"left": "wait for lock b", "right": "wait for lock a"} == waiting
    assert "</html>" in (tmp_path / "r.html").read_text(encoding="utf-8")


BUSY_THEN_OS_EXIT = """\
import os, threading
going = threading.Event()
def spin(lock):
    while True:
        with lock:
            going.set()
for n in range(4):
    threading.Thread(target=spin, args=(threading.Lock(),), daemon=True).start()
going.wait(timeout=10)
for _ in range(2000):  # the threads at work
    with threading.Lock():
        pass
os._exit(7)
"""


def test_os_exit_while_threads_are_busy_writes_the_run_up_to_it(tmp_path: Path) -> None:
    """The operations after os._exit was called are not the run's: the files come out, and
    no slice begins after the run's end."""
    program = tmp_path / "busy.py"
    program.write_text(BUSY_THEN_OS_EXIT, encoding="utf-8")
    result = run("-q", "--timeline", "t.json", "--html", "r.html", program, cwd=tmp_path)
    assert 7 == result.returncode, result.stderr
    trace = Trace(load(tmp_path / "t.json"))
    end_us = trace.data["metadata"]["duration_ms"] * 1000
    assert trace.slices
    assert all(s["ts"] <= end_us + 1 for s in trace.slices)
    assert "</html>" in (tmp_path / "r.html").read_text(encoding="utf-8")


AT_EXIT_OS_EXIT = """\
import atexit, os, threading
def bail():
    os._exit(4)
atexit.register(bail)  # ends the process at interpreter shutdown
with threading.Lock():
    pass
"""


def test_os_exit_at_interpreter_shutdown_writes_the_files(tmp_path: Path) -> None:
    """No new thread can start then (3.12): the files are written on the calling one."""
    program = tmp_path / "atexit_bail.py"
    program.write_text(AT_EXIT_OS_EXIT, encoding="utf-8")
    result = run("-q", "--timeline", "t.json", program, cwd=tmp_path)
    assert 4 == result.returncode, result.stderr
    trace = Trace(load(tmp_path / "t.json"))
    assert "MainThread" in trace.threads.values()


DEADLOCK_THEN_HANG = """\
import threading
a, b = threading.Lock(), threading.Lock()
both = threading.Barrier(2, timeout=10)
def left():
    with a:
        both.wait()
        with b:
            pass
def right():
    with b:
        both.wait()
        with a:
            pass
threads = [threading.Thread(target=left, name="left"),
           threading.Thread(target=right, name="right")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()  # for ever: the program hangs until someone stops it
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_writes_the_files_then_dies_of_it(tmp_path: Path) -> None:
    """A hung program stopped with SIGTERM (``timeout``, ``kill``, a CI time limit), which it
    leaves alone, still gets both files, whole, showing the waits that hung; then it dies of
    the signal, as it would have."""
    program = tmp_path / "hang.py"
    program.write_text(DEADLOCK_THEN_HANG, encoding="utf-8")
    timeline, html = tmp_path / "t.json", tmp_path / "r.html"
    process = Interactive(["-q", "--timeline", str(timeline), "--html", str(html), str(program)])
    result = process.signalled_when("stderr", "syncscope: deadlock:", signal.SIGTERM)
    assert -signal.SIGTERM == result.returncode, result.stderr
    trace = Trace(load(timeline))
    waiting = {
        trace.threads[w["tid"]]: w["name"]
        for w in trace.waits
        if w["args"].get("outcome") == "still waiting at exit"
    }
    assert {"left": "wait for lock b", "right": "wait for lock a"} == {
        name: wait for name, wait in waiting.items() if name != "MainThread"
    }
    assert "</html>" in html.read_text(encoding="utf-8")


RAW_THREAD_SAME_IDENT = """\
import _thread, os, sys, threading, time
def task_gone(thread):  # its stack is the next thread's (and so its ident) once it is gone
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/self/task/{thread.native_id}") and time.monotonic() < deadline:
        time.sleep(0.001)
lock = threading.Lock()
done = threading.Event()
def leave_it_held():
    lock.acquire()  # never released: the thread ends holding it
def wait_for_it():  # a thread threading does not know
    with lock:
        pass
    done.set()
for attempt in range(50):
    first = threading.Thread(target=leave_it_held, name="worker")
    first.start()
    first.join(timeout=10)
    task_gone(first)
    idents = []
    _thread.start_new_thread(lambda: idents.append(_thread.get_ident()) or wait_for_it(), ())
    deadline = time.monotonic() + 10
    while not idents and time.monotonic() < deadline:
        time.sleep(0.001)
    if idents and idents[0] == first.ident:
        break
    lock.release()  # another ident: let it in, and try again
    done.wait(timeout=10)
    done.clear()
    lock = threading.Lock()
else:
    sys.exit("no thread got an ended thread's ident")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:  # until it waits
    frame = sys._current_frames().get(idents[0])
    if frame is not None and frame.f_code.co_name == "acquire_contended":
        break
    time.sleep(0.001)
lock.release()
done.wait(timeout=10)
print(attempt)
"""


def test_raw_threads_alike_on_one_ident_are_told_apart_by_time() -> None:
    """
    Threads started with ``_thread`` are known by ident and name alone, and the name is made
    of the ident ("Thread-<ident>"): a second one on an ident is told from the first by
    coming after the thread that took the ident between them. The first program run that
    needed two attempts to get an ident reused took the second for the first, come late:
    the Thread between them was never ended, and the wait lost its holder.
    """
    first_lock, lock = primitive("lock", "first"), primitive("lock", "lock")
    worker = ThreadLife(5, threading.Thread(name="worker"))  # a Thread's life

    def on(event: SyncEvent, thread_id: int, name: str, life: object) -> SyncEvent:
        event.thread_id, event.thread_name, event.life = thread_id, name, life
        return event

    events = [
        on(acquired(first_lock, at=1_000), 5, "Thread-5", None),  # the first raw thread
        on(released(first_lock, at=2_000), 5, "Thread-5", None),
        on(acquired(lock, at=3_000), 5, "worker", worker),  # ends holding it
        on(waiting(lock, at=4_000), 5, "Thread-5", None),  # a second raw thread
    ]
    timeline = replay(events, 0, 10_000)
    assert ["Thread-5", "worker", "Thread-5"] == [t.name for t in timeline.tracks]
    [wait] = [s for s in timeline.slices if s.cat == "wait"]
    assert timeline.tracks[2] is wait.track
    assert "worker" == wait.args["holder"]


def test_a_raw_thread_with_an_ended_threads_ident_has_its_own_track(tmp_path: Path) -> None:
    program = tmp_path / "raw.py"
    program.write_text(RAW_THREAD_SAME_IDENT, encoding="utf-8")
    result = run("-q", "--timeline", "t.json", program, cwd=tmp_path)
    assert 0 == result.returncode, result.stderr
    trace = Trace(load(tmp_path / "t.json"))
    wait, held = _last_wait_and_the_ended_threads_hold(trace)
    assert "worker" == trace.threads[held["tid"]] == wait["args"]["holder"]
    assert "worker" != trace.threads[wait["tid"]]


#: Polls that time out, each in a call with a local: their ``Empty``'s traceback holds that
#: call's frame, and the local with it, for as long as the exception is kept.
POLLS_PROGRAM = """\
import gc, queue, weakref
gc.disable()  # freed by its count of references alone, or not at all
q = queue.Queue()

class Big:
    pass

refs = []

def poll():
    big = Big()
    refs.append(weakref.ref(big))
    try:
        q.get(timeout=0.001)
    except queue.Empty:
        pass

for _ in range(3):
    poll()
print("alive after the polls:", sum(ref() is not None for ref in refs))
"""


@pytest.mark.parametrize(
    "mode",
    [
        ["-q", "--timeline", "{tmp}/t.json"],
        ["--no-report", "--timeline", "{tmp}/t.json"],
        ["-q", "--jaeger-file", "{tmp}/spans.json"],
    ],
    ids=["timeline, -q", "timeline, lines", "spans"],
)
def test_kept_events_keep_no_error_alive(mode: list[str], tmp_path: Path) -> None:
    """
    The timeline keeps each operation until the run ends, the spans until paired (on their
    worker), and of an error its text only: the exception would keep the frames it went
    through alive, and their locals, freed later and on another thread.
    """
    from .conftest import run_python, run_syncscope

    program = tmp_path / "polls.py"
    program.write_text(POLLS_PROGRAM, encoding="utf-8")
    plain = run_python(str(program))
    assert (0, "alive after the polls: 0\n") == (plain.returncode, plain.stdout), plain.stderr
    options = [option.format(tmp=tmp_path) for option in mode]
    result = run_syncscope(*options, str(program))
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr
