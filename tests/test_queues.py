"""Queue, LifoQueue, PriorityQueue and SimpleQueue under syncscope."""

from __future__ import annotations

import copy
import json
import os
import queue
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import syncscope
from syncscope._intercept.queuehooks import renders_in_c

from .conftest import (
    Capture,
    SignalSink,
    add_sink,
    join,
    run_on_terminal,
    run_python,
    run_syncscope,
    start_thread,
)


class TestQueue:
    def test_put_and_get_in_the_articles_words(self, capture: Capture) -> None:
        """put, get and task_done read as in the article, naming the item."""
        capture.install()
        queue_ = queue.Queue()  # named after its variable
        queue_.put(61)
        assert 61 == queue_.get()
        queue_.task_done()
        queue_.join()
        assert [
            "61 put to queue queue_ by MainThread",
            "61 got from queue queue_ by MainThread",
            "task done on queue queue_ by MainThread (0 unfinished)",
            "queue queue_ joined by MainThread",
        ] == capture.messages()
        put = capture.events()[0]
        assert ("61", 1) == (put["item"], put["qsize"])

    def test_no_inner_lock_traffic(self, capture: Capture) -> None:
        """A queue's own mutex and Conditions are never reported, even with include_library."""
        capture.install(include_library=True)
        q = queue.Queue()
        q.put(1)
        q.get()
        assert {"queue"} == {e["kind"] for e in capture.events()}

    def test_a_get_never_comes_before_its_put(self, capture: Capture) -> None:
        """In the log, every item is put before it is got, whatever the interleaving."""
        capture.install()
        q = queue.Queue(maxsize=3)
        count = 300

        def produce() -> None:
            for number in range(count):
                q.put(number, timeout=5)

        def consume() -> None:
            for _ in range(count):
                q.get(timeout=5)

        threads = [start_thread(produce), start_thread(consume)]
        for thread in threads:
            join(thread, timeout=30)
        seen_put: set[str] = set()
        for event in capture.events():
            if event["outcome"] == "put":
                seen_put.add(event["item"])
            elif event["outcome"] == "got":
                assert event["item"] in seen_put, f"{event['item']} got before it was put"

    @pytest.mark.parametrize(
        "options", [[], ["--report"], ["--format", "json"]], ids=["lean", "event", "json"]
    )
    def test_a_put_let_in_by_a_get_is_said_after_it(
        self, tmp_path: Path, options: list[str]
    ) -> None:
        """
        A producer and a consumer share a Queue(1), their lines on a terminal (whose writes
        give the GIL away): read in order, the lines never show the queue holding more than
        one item, or less than none. The get's line was said once the get had returned: the
        put it let in could be said first (871 of 3,000 times).
        """
        script = tmp_path / "handoff.py"
        script.write_text(
            "import queue, threading\n"
            "q = queue.Queue(1)\n"
            "def produce():\n"
            "    for n in range(2000):\n"
            "        q.put((n, 'job'), timeout=30)\n"
            "def consume():\n"
            "    for _ in range(2000):\n"
            "        q.get(timeout=30)\n"
            "threads = [threading.Thread(target=produce), threading.Thread(target=consume)]\n"
            "for t in threads:\n"
            "    t.start()\n"
            "for t in threads:\n"
            "    t.join(60)\n"
        )
        text = run_on_terminal(["--no-deadlock-detection", *options, str(script)])
        said = re.findall(r"\(\d+, 'job'\) (put to|got from) queue q by", text)
        assert 4000 == len(said), text[-2000:]
        size = 0
        for number, verb in enumerate(said):
            size += 1 if verb == "put to" else -1
            assert 0 <= size <= 1, f"line {number}: the queue holds {size}"

    def test_an_item_of_the_programs_class_is_said_after_its_get(self, capture: Capture) -> None:
        """
        An item whose text could run the program's code (a class of its own, a str subclass,
        a tuple holding one) is not rendered under the queue's lock: its get is said once
        done, as before, and says it.
        """
        capture.install()

        class Job:
            def __repr__(self) -> str:  # the program's code: never called by syncscope
                return "job"

        class Name(str):
            pass

        q = queue.Queue()
        for item in (Job(), Name("x"), (1, Job())):
            q.put(item)
        for _ in range(3):
            q.get()
        got = [e["item"] for e in capture.events() if e["outcome"] == "got"]
        assert ["<Job object>", "'x'", "(1, <Job object>)"] == got

    def test_a_subclass_that_wraps_its_items_says_what_the_get_returns(
        self, capture: Capture
    ) -> None:
        """
        A subclass's _put stores each item wrapped and its _get unwraps it, through the base
        class's: the get is said with the item the program gets, not the stored one.
        """
        capture.install()

        class Wrapping(queue.Queue):  # type: ignore[type-arg]
            def _put(self, item: object) -> None:
                super()._put(("wrapped", item))

            def _get(self) -> object:
                return super()._get()[1]

        q = Wrapping()
        q.put(5)
        assert 5 == q.get()
        got = [e for e in capture.events() if e["outcome"] == "got"]
        assert ["5"] == [e["item"] for e in got]

    def test_a_subclasss_get_is_said_at_the_programs_call(self, tmp_path: Path) -> None:
        """JSON names the program's line that called get, not the subclass's _get."""
        script = tmp_path / "passing.py"
        script.write_text(
            "import queue\n"
            "class Passing(queue.Queue):\n"
            "    def _get(self):\n"
            "        item = super()._get()\n"
            "        return item\n"
            "def main():\n"
            "    q = Passing()\n"
            "    q.put(7)\n"
            "    q.get()\n"
            "main()\n"
        )
        result = run_syncscope("--format", "json", "--no-deadlock-detection", str(script))
        assert 0 == result.returncode, result.stderr
        got = [
            json.loads(line)
            for line in result.stderr.splitlines()
            if line.startswith("{") and '"got"' in line
        ]
        assert [(9, "main")] == [(line["line"], line["function"]) for line in got], got

    @pytest.mark.parametrize("options", [[], ["--report"]], ids=["lean", "event"])
    def test_a_signal_handlers_get_is_not_the_waiting_gets(
        self, tmp_path: Path, options: list[str]
    ) -> None:
        """
        The main thread waits in a get; a signal handler puts and gets an item of its own on
        the same queue (unseen: it runs inside the wait). The wait is said with the item it
        got at last, not with the handler's.
        """
        script = tmp_path / "handler.py"
        script.write_text(
            "import _thread, queue, signal, sys, threading, time\n"
            "q = queue.Queue()\n"
            "handled = _thread.allocate_lock()\n"
            "handled.acquire()\n"
            "ran = []\n"
            "def on_usr1(signum, frame):\n"
            "    if ran:  # a signal sent again (see below)\n"
            "        return\n"
            "    ran.append(True)\n"
            "    q.put_nowait('from-handler')\n"
            "    q.get_nowait()\n"
            "    handled.release()\n"
            "signal.signal(signal.SIGUSR1, on_usr1)\n"
            "main = threading.get_ident()\n"
            "def helper():\n"
            "    deadline = time.monotonic() + 30\n"
            "    # Until the main thread waits, and has let the queue's lock go: before that, the\n"
            "    # handler's put would wait for the lock its own thread holds.\n"
            "    while not (q.not_empty._waiters and not q.mutex.locked()):\n"
            "        if time.monotonic() > deadline:\n"
            "            print('the main thread did not wait in 30 s', file=sys.stderr)\n"
            "            break\n"
            "        time.sleep(0.001)\n"
            "    # A signal that comes as the wait is about to block in C is handled only once it\n"
            "    # ends (CPython's own race: the main thread may have just taken the GIL back):\n"
            "    # sent again until the handler has run.\n"
            "    for _ in range(300):\n"
            "        signal.pthread_kill(main, signal.SIGUSR1)\n"
            "        if handled.acquire(timeout=0.1):\n"
            "            break\n"
            "    else:\n"
            "        print('the handler did not run in 30 s', file=sys.stderr)\n"
            "    q.put('real')\n"
            "t = threading.Thread(target=helper, name='helper')\n"
            "t.start()\n"
            "print(q.get(timeout=60))\n"
            "t.join(60)\n"
        )
        result = run_syncscope("--no-deadlock-detection", *options, str(script))
        assert 0 == result.returncode, result.stderr
        assert "real" == result.stdout.strip(), result.stderr
        said = [line for line in result.stderr.splitlines() if "got from queue q" in line]
        assert ["'real' got from queue q by MainThread"] == [
            line.split(" after ")[0] for line in said
        ], said

    def test_which_items_render_in_c(self) -> None:
        """Numbers, strings, and containers of them; nothing the program defines."""

        class Job:
            pass

        class Count(int):
            pass

        assert renders_in_c(61)
        assert renders_in_c((3, "job", b"x", None, 1.5))
        assert renders_in_c({"a": [1, 2, {3}]})
        assert not renders_in_c(Job())
        assert not renders_in_c(Count(1))
        assert not renders_in_c((1, Job()))
        assert not renders_in_c({"a": Job()})

    def test_blocking_get_reports_the_wait(self, capture: Capture, signals: SignalSink) -> None:
        """A get on an empty queue says it waits, then how long it waited."""
        capture.install()
        add_sink(signals)
        q = queue.Queue()
        waiting = signals.when(lambda e: e.outcome == "waiting")
        thread = start_thread(lambda: q.get(timeout=5), name="Thread-2")
        waiting.wait()
        q.put(6)
        join(thread)
        messages = capture.messages()
        assert "queue q empty, get waits by Thread-2" == messages[0]
        assert messages[2].startswith("6 got from queue q by Thread-2 after ")

    def test_full_empty_and_timeouts(self, capture: Capture) -> None:
        """Full and Empty are raised as without syncscope, and reported."""
        capture.install()
        q = queue.Queue(maxsize=1)
        q.put_nowait("a")
        with pytest.raises(queue.Full):
            q.put_nowait("b")
        with pytest.raises(queue.Full):
            q.put("b", timeout=0.001)
        q.get_nowait()
        with pytest.raises(queue.Empty):
            q.get_nowait()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.001)
        assert ["put", "full", "waiting", "timeout", "got", "empty", "waiting", "timeout"] == [
            e["outcome"] for e in capture.events()
        ]

    def test_negative_timeout_still_raises(self) -> None:
        """get(timeout=-1) raises ValueError even when an item is there, as without syncscope."""
        syncscope.install(output=os.devnull)
        q = queue.Queue()
        q.put(1)
        with pytest.raises(ValueError, match="non-negative"):
            q.get(timeout=-1)
        assert 1 == q.get_nowait()

    def test_task_done_too_many_times(self, capture: Capture) -> None:
        """ValueError as without syncscope, reported as a failure."""
        capture.install()
        q = queue.Queue()
        with pytest.raises(ValueError, match="too many times"):
            q.task_done()
        assert ["error"] == [e["outcome"] for e in capture.events()]

    def test_lifo_and_priority_orders(self, capture: Capture) -> None:
        """LifoQueue and PriorityQueue keep their order and are reported as queues."""
        capture.install()
        lifo, priority = queue.LifoQueue(), queue.PriorityQueue()
        for number in (2, 1, 3):
            lifo.put(number)
            priority.put(number)
        assert [3, 1, 2] == [lifo.get() for _ in range(3)]
        assert [1, 2, 3] == [priority.get() for _ in range(3)]
        types = {e["type"] for e in capture.events()}
        assert {"LifoQueue", "PriorityQueue"} == types

    def test_subclass_with_its_own_storage(self, capture: Capture) -> None:
        """A user subclass overriding _put/_get works and each put is reported once."""
        capture.install()

        class Doubling(queue.Queue):
            def _put(self, item: int) -> None:
                super()._put(item * 2)

        doubling = Doubling()
        doubling.put(3)
        assert 6 == doubling.get()
        assert [
            "3 put to queue doubling by MainThread",
            "6 got from queue doubling by MainThread",
        ] == (capture.messages())

    def test_items_are_shown_without_running_the_programs_code(self, capture: Capture) -> None:
        """A Python __repr__ is never called (it may take a lock the putter holds)."""
        capture.install()
        calls: list[str] = []

        class Job:
            def __init__(self) -> None:
                self.lock = threading.Lock()

            def __repr__(self) -> str:
                calls.append("repr")
                with self.lock:  # deadlocks if called while the putter holds job.lock
                    return "Job()"

        q = queue.Queue()
        job = Job()
        with job.lock:
            q.put(job)
        q.put("x" * 10_000)
        q.get()
        items = [e["item"] for e in capture.events() if e["kind"] == "queue"]
        assert [] == calls
        assert items[0].endswith("Job object>")
        assert len(items[1]) <= 80

    def test_hide_items(self, capture: Capture) -> None:
        """With hide_items, no item value reaches the output."""
        capture.install(hide_items=True)
        q = queue.Queue()
        q.put("secret")
        q.get()
        assert "secret" not in capture.path.read_text()

    def test_copy_behaves_as_the_original(self) -> None:
        """copy.copy of a queue behaves as without syncscope (it shares the storage)."""
        syncscope.install(output=os.devnull)
        q = queue.Queue()
        duplicate = copy.copy(q)
        duplicate.put(1)
        assert 1 == q.get_nowait()
        assert "_put" not in vars(q)

    @pytest.mark.skipif(not hasattr(queue.Queue, "shutdown"), reason="Queue.shutdown is 3.13+")
    def test_shutdown(self, capture: Capture) -> None:
        """shutdown() is reported and puts after it raise ShutDown."""
        capture.install()
        q = queue.Queue()
        q.put(1)
        q.shutdown(immediate=True)
        with pytest.raises(queue.ShutDown):
            q.put(2)
        assert ["put", "shutdown", "shutdown"] == [e["outcome"] for e in capture.events()]

    def test_a_put_inside_a_subclasss_put(self, capture: Capture) -> None:
        """A subclass's _put that puts to another queue: both puts are reported."""
        capture.install()
        log: queue.Queue[object] = queue.Queue()

        class Audited(queue.Queue):  # type: ignore[type-arg]
            def _put(self, item: object) -> None:
                log.put(("audit", item))
                super()._put(item)

        audited = Audited()
        audited.put(1)
        audited.put(2)
        assert [
            "('audit', 1) put to queue log by MainThread",
            "1 put to queue audited by MainThread",
            "('audit', 2) put to queue log by MainThread",
            "2 put to queue audited by MainThread",
        ] == capture.messages()


class TestSimpleQueue:
    def test_put_and_get(self, capture: Capture) -> None:
        """SimpleQueue's put and get are reported, and its type looks the same."""
        capture.install()
        simple = queue.SimpleQueue()
        simple.put(61)
        assert 61 == simple.get(timeout=5)
        with pytest.raises(queue.Empty):
            simple.get_nowait()
        assert ["put", "got", "empty"] == [e["outcome"] for e in capture.events()]
        assert f"<_queue.SimpleQueue object at {id(simple):#x}>" == repr(simple)

        class Named:
            def __repr__(self) -> str:
                return "named"

        class Sub(queue.SimpleQueue, Named):  # type: ignore[type-arg]
            pass

        class Plain(queue.SimpleQueue):  # type: ignore[type-arg]
            pass

        plain = Plain()
        assert ("named", f"<{__name__}.{Plain.__qualname__} object at {id(plain):#x}>") == (
            repr(Sub()),
            repr(plain),
        )

    def test_isinstance_copy_and_pickle(self) -> None:
        """isinstance holds for ours and the library's; copy and pickle fail as on the original."""
        import pickle

        original = syncscope.get_original("queue", "SimpleQueue")()
        syncscope.install(output=os.devnull)
        ours = queue.SimpleQueue()
        assert isinstance(ours, queue.SimpleQueue)
        assert isinstance(original, queue.SimpleQueue)
        assert not isinstance(queue.Queue(), queue.SimpleQueue)
        for operation in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError) as expected:
                operation(original)
            with pytest.raises(TypeError) as actual:
                operation(ours)
            assert str(expected.value) == str(actual.value)

    def test_library_callers_get_the_original_type(self) -> None:
        """ThreadPoolExecutor's internal SimpleQueue is the untouched C type."""
        from concurrent.futures import ThreadPoolExecutor

        syncscope.install(output=os.devnull)
        original = syncscope.get_original("queue", "SimpleQueue")
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert type(pool._work_queue) is original
            assert 4 == pool.submit(lambda: 2 + 2).result(timeout=5)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["Queue", "LifoQueue", "PriorityQueue"]),
    st.lists(st.one_of(st.integers(0, 9), st.sampled_from(["get", "done"])), max_size=30),
)
def test_queue_equivalence(kind: str, operations: list[object]) -> None:
    """Any single-threaded sequence of operations gives the same results with and without."""

    def play(q: queue.Queue[int]) -> list[object]:
        results: list[object] = []
        for operation in operations:
            try:
                if operation == "get":
                    results.append(q.get_nowait())
                elif operation == "done":
                    results.append(q.task_done())
                else:
                    assert isinstance(operation, int)
                    results.append(q.put_nowait(operation))
            except (queue.Empty, queue.Full, ValueError) as exc:
                results.append(type(exc).__name__)
            results.append(q.qsize())
        return results

    expected = play(getattr(queue, kind)(maxsize=4))
    syncscope.install(output=os.devnull)
    try:
        actual = play(getattr(queue, kind)(maxsize=4))
    finally:
        syncscope.uninstall()
    assert expected == actual


def test_queues_created_before_install_still_work() -> None:
    """A queue created before install keeps working, unreported, through install and uninstall."""
    before = queue.Queue()
    syncscope.install(output=os.devnull)
    before.put(1)
    thread = threading.Thread(target=lambda: before.put(before.get(timeout=5) + 1))
    thread.start()
    join(thread)
    syncscope.uninstall()
    assert 2 == before.get_nowait()


#: A program that gives a queue a ``_put``, ``_get`` and ``_qsize`` of its own, on the instance,
#: as pebble's ``waitforqueues`` does with ``_put`` to hear of every put: its put and get must
#: run them, however syncscope makes them.
OWN_METHODS_PROGRAM = """\
import queue, sys, threading
from types import MethodType

kind = getattr(queue, sys.argv[1])
heard = threading.Condition(threading.Lock())

def put_heard(self, item):
    self._class_put(item)
    with heard:
        heard.notify_all()

q = kind()
q._class_put = q._put
q._put = MethodType(put_heard, q)  # pebble's waitforqueues
ready = threading.Event()

def producer():
    ready.wait(10)
    q.put(7)

thread = threading.Thread(target=producer)
with heard:
    thread.start()
    ready.set()
    told = heard.wait(10)  # the producer's put tells, once this waits
thread.join(10)
print("told", told)
got = []
q._get = MethodType(lambda self: ("own", kind._get(self)), q)
print("got", q.get_nowait(), q.get(timeout=1) if q.qsize() else "nothing left")
q.put(8)
q._qsize = MethodType(lambda self: 0, q)  # says empty: the get must find nothing
try:
    q.get_nowait()
except queue.Empty:
    print("empty, as its own _qsize says")
del q._get, q._qsize
print("left", q.get_nowait())
"""


@pytest.mark.parametrize("kind", ["Queue", "LifoQueue", "PriorityQueue"])
@pytest.mark.parametrize(
    "mode",
    [["-q"], ["--no-report"], ["--format", "json", "--no-report"], ["-o", "{tmp}/lines"]],
    ids=["-q", "lines", "json", "lines to a file"],
)
def test_a_queues_own_methods_set_on_it_run(kind: str, mode: list[str], tmp_path: Path) -> None:
    """
    A ``_put``, ``_get`` or ``_qsize`` set on a queue runs in its put and get, as without
    syncscope (put and get done in the original's own steps would skip them, and pebble's
    ``waitforqueues`` would wait for ever for a put it never hears of).
    """
    program = tmp_path / "own_methods.py"
    program.write_text(OWN_METHODS_PROGRAM, encoding="utf-8")
    plain = run_python(str(program), kind)
    told = "told True\ngot ('own', 7) nothing left\nempty, as its own _qsize says\nleft 8\n"
    assert (0, told) == (plain.returncode, plain.stdout), plain.stderr
    options = [option.format(tmp=tmp_path) for option in mode]
    result = run_syncscope(*options, str(program), kind)
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr


#: The same methods of the program's, set on the queue's class itself (as a test's
#: ``mock.patch.object(queue.Queue, "_put", ...)`` does), once syncscope is in.
CLASS_METHODS_PROGRAM = """\
import queue, sys, threading

kind = getattr(queue, sys.argv[1])
heard = threading.Condition(threading.Lock())
class_put, class_get, class_qsize = kind._put, kind._get, kind._qsize

def put_heard(self, item):
    class_put(self, item)
    with heard:
        heard.notify_all()

kind._put = put_heard
q = kind()
ready = threading.Event()

def producer():
    ready.wait(10)
    q.put(7)

thread = threading.Thread(target=producer)
with heard:
    thread.start()
    ready.set()
    told = heard.wait(10)  # the producer's put tells, once this waits
thread.join(10)
print("told", told)
kind._get = lambda self: ("own", class_get(self))
print("got", q.get_nowait(), q.get(timeout=1) if q.qsize() else "nothing left")
q.put(8)
kind._qsize = lambda self: 0  # says empty: the get must find nothing
try:
    q.get_nowait()
except queue.Empty:
    print("empty, as its own _qsize says")
kind._put, kind._get, kind._qsize = class_put, class_get, class_qsize
print("left", q.get_nowait())
"""


@pytest.mark.parametrize("kind", ["Queue", "LifoQueue", "PriorityQueue"])
@pytest.mark.parametrize(
    "mode",
    [["-q"], ["--no-report"], ["--format", "json", "--no-report"], ["-o", "{tmp}/lines"]],
    ids=["-q", "lines", "json", "lines to a file"],
)
def test_a_queue_classs_own_methods_run(kind: str, mode: list[str], tmp_path: Path) -> None:
    """
    A ``_put``, ``_get`` or ``_qsize`` the program sets on the queue's class runs in its
    put and get, as without syncscope: the original's own steps are taken only while the
    class's methods are those syncscope left there.
    """
    program = tmp_path / "class_methods.py"
    program.write_text(CLASS_METHODS_PROGRAM, encoding="utf-8")
    plain = run_python(str(program), kind)
    told = "told True\ngot ('own', 7) nothing left\nempty, as its own _qsize says\nleft 8\n"
    assert (0, told) == (plain.returncode, plain.stdout), plain.stderr
    options = [option.format(tmp=tmp_path) for option in mode]
    result = run_syncscope(*options, str(program), kind)
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr
    assert "Warning" not in result.stderr  # the program put the class's methods back


#: Queues whose size only their own code may read, and only as the queue reads it: a
#: ``_qsize`` that fails without the queue's mutex, a container of the program's behind the
#: standard ``_qsize``, a ``_qsize`` and a heap's ``__len__`` that take a lock of the
#: program's, which a put's caller holds (an unbounded put reads no size: without syncscope,
#: nothing waits), and a mutex of the program's beside the queue's own lock, held around it.
STRICT_SIZE_PROGRAM = """\
import queue, sys, threading

class Strict(getattr(queue, sys.argv[1])):
    def _qsize(self):
        if not self.mutex.locked():
            raise RuntimeError("_qsize read without the mutex")
        return len(self.queue)

class Store:
    def __init__(self, q):
        self.q, self.items = q, []
    def __len__(self):
        if not self.q.mutex.locked():
            raise RuntimeError("store read without the mutex")
        return len(self.items)

class Stored(queue.Queue):
    def _init(self, maxsize):
        self.queue = Store(self)
    def _put(self, item):
        self.queue.items.append(item)
    def _get(self):
        return self.queue.items.pop(0)

books = threading.Lock()

class Booked(queue.Queue):
    def _qsize(self):
        with books:
            return len(self.queue)

class Ledger(list):  # its length read under the books too
    def __len__(self):
        with books:
            return super().__len__()

class Ranked(queue.PriorityQueue):
    def _init(self, maxsize):
        self.queue = Ledger()

class Other(queue.Queue):  # a mutex of its own, beside the lock its Conditions use
    def __init__(self, maxsize=0):
        super().__init__(maxsize)
        self.mutex = threading.Lock()
    def _qsize(self):
        return len(self.queue)

total = 0
for q in (Strict(), Strict(4), Stored(), Stored(4)):
    for n in range(300):
        q.put(n)
        total += q.get()
    q.put(-1)
    total += q.get(timeout=5) + q.qsize()
booked = Booked()
for n in range(300):
    with books:  # the books and the queue changed together
        booked.put(n)
    total += booked.get(timeout=5)
ranked, other = Ranked(), Other(2)
for n in range(300):
    with books:
        ranked.put(n)
    total += ranked.get(timeout=5)
    with other.mutex:
        other.put(n, timeout=5)
        total += other.get(timeout=5)
print("total", total)
"""


@pytest.mark.parametrize("kind", ["Queue", "LifoQueue", "PriorityQueue"])
@pytest.mark.parametrize(
    "mode",
    [
        ["-q"],
        ["-o", "{tmp}/lines"],
        ["--format", "json", "-o", "{tmp}/lines"],
        ["-q", "--no-report", "--no-deadlock-detection", "--jaeger-file", "{tmp}/spans.json"],
    ],
    ids=["-q", "lines", "json", "spans"],
)
def test_a_queue_size_only_its_own_code_reads_is_not_read(
    kind: str, mode: list[str], tmp_path: Path
) -> None:
    """
    What syncscope reads of a queue's size (the largest size a report shows, the size a line
    gives, whether a put would wait) must not make the program's put fail or hang: a
    subclass's own ``_qsize``, or its own container, may raise without the queue's mutex, or
    take a lock the caller holds. Syncscope does not call them; such a size is not known.
    """
    program = tmp_path / "strict_size.py"
    program.write_text(STRICT_SIZE_PROGRAM, encoding="utf-8")
    plain = run_python(str(program), kind)
    assert (0, "total 313946\n") == (plain.returncode, plain.stdout), plain.stderr
    options = [option.format(tmp=tmp_path) for option in mode]
    result = run_syncscope(*options, str(program), kind, timeout=30)
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr
    if mode == ["-q"]:  # every put and get counted; the books taken only by the program
        rows = re.findall(r"\b(Strict|Stored|Booked)\s+\S+\s+(\d+)\s+(\d+)\s", result.stderr)
        assert sorted(rows) == [
            ("Booked", "300", "300"),
            *[("Stored", "301", "301")] * 2,
            *[("Strict", "301", "301")] * 2,
        ], result.stderr
        # 600 times by the program; in the gets, 300 by Booked._qsize and 300 by the Ledger's
        # length (as without syncscope: an unbounded put reads no size).
        assert re.search(r"\bbooks\s+lock\s+\S+\s+1,200\s", result.stderr), result.stderr


@pytest.mark.parametrize("kind", [queue.Queue, queue.LifoQueue, queue.PriorityQueue])
@pytest.mark.parametrize(
    "options",
    [{"lines": False, "report": False}, {"output": os.devnull}, {"lines": False, "stats": True}],
    ids=["diagnosis", "lines", "statistics"],
)
@pytest.mark.parametrize("wrapped", ["function", "functools.wraps", "wrapt"])
def test_a_put_the_class_had_before_install_runs(
    kind: type[queue.Queue[int]], options: dict[str, Any], wrapped: str
) -> None:
    """
    A ``_put`` the program set on the class before syncscope was installed (a test patching
    it, then a fixture installing syncscope; an instrumentation wrapping it, which copies
    the original's names) runs in every put, as the original's would.
    """
    import functools

    import wrapt

    heard: list[int] = []
    class_put = kind._put

    def put_heard(self: queue.Queue[int], item: int) -> None:
        heard.append(item)
        class_put(self, item)  # type: ignore[arg-type]

    def heard_put(wrapped_put: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        heard.append(args[-1])  # (item,) called on the queue, (queue, item) on the class
        return wrapped_put(*args, **kwargs)

    if wrapped == "functools.wraps":
        put_heard = functools.wraps(class_put)(put_heard)
    elif wrapped == "wrapt":
        put_heard = wrapt.FunctionWrapper(class_put, heard_put)
    kind._put = put_heard  # type: ignore[method-assign]
    try:
        syncscope.install(**options)
        try:
            q = kind()
            q.put(1)
            q.put_nowait(2)
            items = sorted([q.get_nowait(), q.get(timeout=5)])
        finally:
            syncscope.uninstall()
    finally:
        kind._put = class_put  # type: ignore[method-assign]
    assert ([1, 2], [1, 2]) == (heard, items)


def test_simple_queue_itself_pickles_by_its_name() -> None:
    """``queue.SimpleQueue`` itself pickles while replaced, as itself, and as the original."""
    import pickle

    syncscope.install(output=os.devnull)
    try:
        data = pickle.dumps(queue.SimpleQueue)
        assert queue.SimpleQueue is pickle.loads(data)
    finally:
        syncscope.uninstall()
    assert syncscope.get_original("queue", "SimpleQueue") is pickle.loads(data)


#: A Manager of a spawned context: its registry, which holds ``threading.Lock``,
#: ``threading.RLock`` and the queues, is pickled for its server process.
MANAGER_PROGRAM = """import multiprocessing

if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Manager() as manager:
        lock, items = manager.Lock(), manager.Queue()
        with lock:
            items.put(61)
        print("got", items.get(timeout=10))
"""


def test_a_spawned_manager_starts(tmp_path: Path) -> None:
    """A spawned ``Manager()`` starts under syncscope as under python (its pickle refused)."""
    program = tmp_path / "manager.py"
    program.write_text(MANAGER_PROGRAM, encoding="utf-8")
    plain = run_python(str(program))
    assert (0, "got 61\n") == (plain.returncode, plain.stdout), plain.stderr
    result = run_syncscope("-q", "--no-report", str(program))
    assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr
