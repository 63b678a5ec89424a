"""
Spans of threads whose idents were another's, and what the span allowance keeps and counts:
a thread that reuses an ended thread's ident is a thread of its own in the trace, a lock the
ended thread left held is still its hold, failed ``*_nowait`` calls are never summed up, and
a trace part is cut after that many spans, not operations. Real programs, a real OTLP
receiver.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpHttpReceiver

from .test_spans import _run, span_line
from .test_spans_whole import COUNTED_PRELUDE, SPANS_ALONE


SPANS = ("-q", "--protocol", "http/protobuf")
ERROR = 2  # the OTLP status code


@pytest.fixture
def receiver() -> Iterator[Any]:
    with OtlpHttpReceiver() as server:
        yield server


def _spans(tmp_path: Path, receiver: Any, source: str, *args: str) -> tuple[str, list[Any]]:
    """Run ``source`` with spans to ``receiver``: its standard output, and every span."""
    result = _run(tmp_path, source, *SPANS, f"--otlp={receiver.endpoint}", *args)
    assert 0 == result.returncode, result.stderr
    line = span_line(result.stderr)
    assert 0 == line["dropped"], line
    spans = receiver.wait_for_spans(line["sent"])
    assert line["sent"] == len(spans)
    return result.stdout, spans


SEQUENTIAL = """\
import threading
lock = threading.Lock()
def work():
    with lock:
        pass
idents = {}
for n in range(20):  # one after the other: an ended thread's ident is free for the next
    thread = threading.Thread(target=work, name=f"worker-{n}")
    thread.start()
    thread.join(timeout=10)
    idents.setdefault(thread.ident, []).append(thread.name)
shared = [names for names in idents.values() if len(names) > 1]
print(" ".join(shared[0]) if shared else "no ident was reused")
"""


def test_a_thread_with_an_ended_threads_ident_is_a_thread_of_its_own(
    tmp_path: Path, receiver: Any
) -> None:
    """Each thread has its own span, named after it, and only its own operations under it."""
    stdout, spans = _spans(tmp_path, receiver, SEQUENTIAL)
    if stdout.startswith("no ident"):
        pytest.skip("this platform gave no thread an ended thread's ident")
    sharing = stdout.split()
    threads = collections.Counter(span.name for span in spans if span.name.startswith("thread "))
    for n in range(20):
        assert 1 == threads[f"thread worker-{n}"], threads
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.name.startswith("Lock."):
            parent = by_id[span.parent_span_id]
            assert f"thread {span.attributes['thread.name']}" == parent.name
    uses = [s for s in spans if s.name == "Lock.acquire lock"]
    assert set(sharing) <= {str(s.attributes["thread.name"]) for s in uses}


LEFT_HELD = """\
import os, sys, threading, time
def task_gone(thread):  # its stack is the next thread's (and so its ident) once it is gone
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/self/task/{thread.native_id}") and time.monotonic() < deadline:
        time.sleep(0.001)
def taker(lock):
    lock.acquire()  # never released: the thread ends holding it
def blocked(lock, go, wait):
    go.wait(timeout=10)
    if wait:
        lock.acquire()  # waits for ever
for attempt in range(50):  # until a thread gets the ident of the one that ended
    lock = threading.Lock()
    first = threading.Thread(target=taker, args=(lock,), name=f"taker-{attempt}")
    first.start()
    first.join(timeout=10)
    task_gone(first)
    go, wait = threading.Event(), []
    second = threading.Thread(
        target=blocked, args=(lock, go, wait), name=f"blocked-{attempt}", daemon=True
    )
    second.start()
    if second.ident == first.ident:
        wait.append(True)
        go.set()
        break
    go.set()
    second.join(timeout=10)
else:
    sys.exit("no thread got an ended thread's ident")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:  # until it waits, its wait begun
    frame = sys._current_frames().get(second.ident)
    if frame is not None and frame.f_code.co_name == "acquire_contended":
        break
    time.sleep(0.001)
else:
    sys.exit("the waiter never blocked")
print(attempt)
"""


def test_a_lock_left_held_by_an_ended_thread_is_its_hold_whoever_waits(
    tmp_path: Path, receiver: Any
) -> None:
    """
    A thread ends holding a lock, and the thread that gets its ident waits for the lock: the
    wait links to the ended thread's hold, which is an error (it made a thread wait), and the
    waiter is a thread of its own.
    """
    stdout, spans = _spans(tmp_path, receiver, LEFT_HELD)
    attempt = int(stdout)
    (wait,) = [s for s in spans if s.attributes.get("syncscope.outcome") == "still waiting at exit"]
    assert f"blocked-{attempt}" == wait.attributes["thread.name"]
    by_id = {span.span_id: span for span in spans}
    (hold,) = [by_id[link.span_id] for link in wait.links]
    assert hold.name.startswith("Lock.hold lock")  # "lock#2" on a second attempt
    assert f"taker-{attempt}" == hold.attributes["thread.name"]
    assert "held at exit" == hold.attributes["syncscope.outcome"]
    assert hold.attributes["syncscope.made_others_wait"] is True
    assert ERROR == hold.status_code
    assert f"thread blocked-{attempt}" == by_id[wait.parent_span_id].name
    assert f"thread taker-{attempt}" == by_id[hold.parent_span_id].name
    others = [s for s in spans if s.name.startswith("Lock.hold lock") and s is not hold]
    assert attempt == len(others)  # the earlier attempts' locks, held by nobody's wait
    assert all(ERROR != s.status_code for s in others)


FAILED_ATTEMPTS = """\
import queue, threading
empty = queue.Queue()
full = queue.Queue(maxsize=1)
full.put(0)
found_empty = found_full = 0
for _ in range(3000):  # past the span allowance: what nobody waited on is summed up
    try:
        empty.get_nowait()
    except queue.Empty:
        found_empty += 1
    try:
        full.put_nowait(1)
    except queue.Full:
        found_full += 1
print(found_empty, found_full)
"""


def test_failed_nowait_calls_are_spans_past_the_allowance(tmp_path: Path, receiver: Any) -> None:
    """A get on an empty queue and a put on a full one failed: never summed up, as a busy
    ``acquire(False)`` is not."""
    stdout, spans = _spans(tmp_path, receiver, FAILED_ATTEMPTS)
    assert "3000 3000" == stdout.strip()
    outcomes = collections.Counter(
        (span.name.split()[0], span.attributes.get("syncscope.outcome")) for span in spans
    )
    assert 3000 == outcomes[("Queue.get", "empty")], outcomes
    assert 3000 == outcomes[("Queue.put", "full")], outcomes


MANY_USES = """\
import threading
lock = threading.Lock()
def work():
    for _ in range(30_000):
        with lock:
            pass
thread = threading.Thread(target=work)
thread.start()
thread.join(timeout=60)
"""


def test_a_part_is_cut_after_that_many_spans_not_operations(tmp_path: Path, receiver: Any) -> None:
    """
    Uses summed up count as their summary span, not as the spans they would have been: every
    part but the last has at least ``--spans-per-trace`` spans, as its run span says.
    """
    _, spans = _spans(tmp_path, receiver, MANY_USES, "--spans-per-trace=1000")
    parts: dict[str, list[Any]] = collections.defaultdict(list)
    for span in spans:
        parts[span.trace_id].append(span)
    assert any(s.attributes.get("syncscope.outcome") == "summary" for s in spans)
    runs = sorted(
        (s for s in spans if s.name.startswith("run prog.py")),
        key=lambda s: s.attributes["syncscope.trace_part"],
    )
    assert len(parts) == len(runs)
    for index, run in enumerate(runs):
        made = [s for s in parts[run.trace_id] if not s.name.startswith(("run ", "thread "))]
        assert len(made) == run.attributes["syncscope.spans"]
        if index < len(runs) - 1:
            assert len(made) >= 1000, [len(parts[r.trace_id]) for r in runs]


LATE_RECORD = """\
import queue
empty = queue.Queue()

def second(lock):
    for _ in range(3):
        try:
            empty.get_nowait()  # a failed get: a span, whatever the pressure
        except queue.Empty:
            pass
    lock.acquire(False)  # the lock the ended thread left held: its record goes in now
    for _ in range(3):
        try:
            empty.get_nowait()
        except queue.Empty:
            pass

for attempt in range(200):  # until a thread gets the ident of one that left a use counted
    lock = threading.Lock()
    first = threading.Thread(target=take_counted, args=(lock,), name=f"taker-{attempt}")
    first.start()
    first.join(timeout=10)
    if lock._syncscope_primitive not in state.records.taken:
        continue
    then = threading.Thread(target=second, args=(lock,), name=f"second-{attempt}")
    then.start()
    then.join(timeout=10)
    if then.ident == first.ident:
        break
else:
    sys.exit("no thread got the ident of one that left a use counted in place")
print(attempt)
"""


def test_a_late_record_of_an_ended_thread_stays_its_own(tmp_path: Path, receiver: Any) -> None:
    """
    A thread ends holding a lock whose use was counted in place; the thread that gets its
    ident takes the lock, which brings the ended thread's record in only then: that hold is
    the ended thread's, and the new thread's operations stay under one thread span.
    """
    stdout, spans = _spans(tmp_path, receiver, COUNTED_PRELUDE + LATE_RECORD, *SPANS_ALONE)
    attempt = int(stdout.split()[-1])
    by_id = {span.span_id: span for span in spans}
    threads = collections.Counter(span.name for span in spans if span.name.startswith("thread "))
    assert 1 == threads[f"thread second-{attempt}"], threads
    (hold,) = [
        s
        for s in spans
        if s.name.startswith("Lock.hold lock")
        and s.attributes.get("thread.name") == f"taker-{attempt}"
    ]
    assert "held at exit" == hold.attributes["syncscope.outcome"]
    assert f"thread taker-{attempt}" == by_id[hold.parent_span_id].name
    mine = [
        s
        for s in spans
        if s.attributes.get("thread.name") == f"second-{attempt}" and "syncscope.op" in s.attributes
    ]
    assert 7 == len(mine)  # six failed gets and the failed acquire
    assert {f"thread second-{attempt}"} == {by_id[s.parent_span_id].name for s in mine}


LATE_RECORD_WHILE_WAITING = """\
gate = threading.Lock()
gate.acquire()  # held for ever: the second thread waits for it until the end

def through_the_gate():
    with gate:  # let through only when an attempt failed (and then gives it back)
        pass

# Counting on first: the taker leaves nothing in the buffer before its counted hold, which
# comes in only when claimed at the end, after the waiter that got its ident began waiting.
take_counted(threading.Lock())
for attempt in range(200):
    lock = threading.Lock()
    first = threading.Thread(target=take_counted, args=(lock,), name=f"taker-{attempt}")
    first.start()
    first.join(timeout=10)
    if lock._syncscope_primitive not in state.records.taken:
        continue
    then = threading.Thread(target=through_the_gate, name=f"blocked-{attempt}", daemon=True)
    then.start()
    if then.ident == first.ident:
        break
    gate.release()  # another ident: let it go, and try again
    then.join(timeout=10)
    gate.acquire()
else:
    sys.exit("no thread got the ident of one that left a use counted in place")
wait_until_blocked(then)
print(attempt)
"""


def test_a_late_record_at_the_end_leaves_the_new_threads_wait(
    tmp_path: Path, receiver: Any
) -> None:
    """The ended thread's counted use comes in at the end, while the thread that has its
    ident waits: that wait is still a wait at exit, under its own thread span."""
    source = COUNTED_PRELUDE + LATE_RECORD_WHILE_WAITING
    stdout, spans = _spans(tmp_path, receiver, source, *SPANS_ALONE)
    attempt = int(stdout.split()[-1])
    by_id = {span.span_id: span for span in spans}
    (wait,) = [s for s in spans if s.attributes.get("syncscope.outcome") == "still waiting at exit"]
    assert f"blocked-{attempt}" == wait.attributes["thread.name"]
    assert f"thread blocked-{attempt}" == by_id[wait.parent_span_id].name
    (hold,) = [
        s
        for s in spans
        if s.name.startswith("Lock.hold lock")
        and s.attributes.get("thread.name") == f"taker-{attempt}"
    ]
    assert f"thread taker-{attempt}" == by_id[hold.parent_span_id].name


SUMMED_AFTER_THE_END = """\
import queue
empty = queue.Queue()
mine = threading.Lock()

def work():
    try:
        empty.get_nowait()  # a span: the thread is placed before its uses are summed
    except queue.Empty:
        pass
    for _ in range(2000):  # counted in place (the pressure is on), summed up after its end
        with mine:
            pass

take_counted(threading.Lock())  # the pressure on
idents = {}
for n in range(30):
    thread = threading.Thread(target=work, name=f"w-{n}")
    thread.start()
    thread.join(timeout=10)
    idents.setdefault(thread.ident, []).append(n)
print(sum(len(names) > 1 for names in idents.values()))
"""


def test_uses_summed_after_a_threads_end_go_under_its_span(tmp_path: Path, receiver: Any) -> None:
    """Each thread's counted uses are in summaries under its own thread span, even when the
    worker sums them up after the thread ended and its ident went to the next one."""
    source = COUNTED_PRELUDE + SUMMED_AFTER_THE_END
    stdout, spans = _spans(tmp_path, receiver, source, *SPANS_ALONE)
    if int(stdout.split()[-1]) == 0:
        pytest.skip("this platform gave no thread an ended thread's ident")
    by_id = {span.span_id: span for span in spans}
    mine = [s for s in spans if s.attributes.get("syncscope.name") == "mine"]
    assert 30 * 2000 * 2 == sum(int(s.attributes.get("syncscope.summary.count", 1)) for s in mine)
    for span in mine:
        assert f"thread {span.attributes['thread.name']}" == by_id[span.parent_span_id].name
