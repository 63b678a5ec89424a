"""
Spans under pressure, against real OTLP receivers: links go to spans that are sent, and the
operations of an Event, Condition or queue that neither wait nor let anyone in are counted in
place, each one a span or in a summary's count, while those that wake a thread stay spans.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from .test_spans import _run, span_line
from .test_spans_whole import (
    COUNTED_PRELUDE,
    SPANS_ALONE,
    _counted_run,
    _counts,
    http_receiver,
    receiver,
)


__all__ = ["http_receiver", "receiver"]  # fixtures, used by name


def _dangling(spans: list[Any]) -> list[tuple[str, str]]:
    """(span name, link reason) of every link to a span that did not arrive."""
    ids = {(span.trace_id, span.span_id) for span in spans}
    return [
        (span.name, str(span.attributes.get("syncscope.links", "")))
        for span in spans
        for link in span.links
        if (link.trace_id, link.span_id) not in ids
    ]


class TestLinksUnderPressure:
    """
    A link goes to a span that is sent: under pressure, operations nobody waited on are
    summed up, and what would have linked to them links to nothing instead.
    """

    def test_no_link_to_a_put_summed_up(self, tmp_path: Path, receiver: Any) -> None:
        """
        Puts past the span allowance with nobody waiting are summed up. A get while a putter
        waits for room is kept (it lets the putter in), and does not link to the put of its
        item, which was not sent.
        """
        source = """\
            import queue, sys, threading, time
            q = queue.LifoQueue(5000)
            for item in range(5000):
                q.put(item)
            putter = threading.Thread(target=q.put, args=(-1,), name="putter")
            putter.start()
            deadline = time.monotonic() + 10
            while not q.not_full._waiters:  # until the putter waits for room
                if time.monotonic() > deadline:
                    sys.exit("the putter never waited")
                time.sleep(0.001)
            print(q.get())  # the last put, summed up
            putter.join(10)
        """
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, source, *SPANS_ALONE, *args)
        assert 0 == result.returncode, result.stderr
        assert "4999" == result.stdout.strip()
        line = span_line(result.stderr)
        assert 0 == line["dropped"], line
        assert line["aggregated"] > 0, line
        spans = receiver.wait_for_spans(line["sent"])
        (get,) = [s for s in spans if s.name == "LifoQueue.get q"]
        assert 12 == get.attributes["code.line.number"]
        assert [] == _dangling(spans)

    def test_a_wait_links_to_the_notify_that_woke_it(self, tmp_path: Path, receiver: Any) -> None:
        """
        Notifies after the one that woke the waiter, before it runs again, woke nobody: the
        wait links to the one that woke it, on line 12.
        """
        source = """\
            import threading
            cond = threading.Condition()
            ready = threading.Event()
            def waiter():
                with cond:
                    ready.set()
                    cond.wait(10)
            thread = threading.Thread(target=waiter, name="waiter")
            thread.start()
            ready.wait(10)
            with cond:
                cond.notify()
                cond.notify()
                cond.notify_all()
            thread.join(10)
        """
        args = [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]
        result = _run(tmp_path, source, *SPANS_ALONE, *args)
        assert 0 == result.returncode, result.stderr
        line = span_line(result.stderr)
        spans = receiver.wait_for_spans(line["sent"])
        by_id = {span.span_id: span for span in spans}
        (wait,) = [s for s in spans if s.name == "Condition.wait cond"]
        (link,) = wait.links
        notify = by_id[link.span_id]
        assert ("Condition.notify cond", 12) == (
            notify.name,
            notify.attributes["code.line.number"],
        )


# In a _counted_run body: use the busy lock until the span sink counts in place.
UNTIL_COUNTING = """\
def until_counting():
    global uses
    while not state.records.counting:
        with busy:
            uses += 1
        if uses > 5_000_000:
            sys.exit("never counted in place")
"""


def _line_of(program: list[str], mark: str) -> int:
    """The number of the program's line that ends with ``mark``."""
    (number,) = [n for n, text in enumerate(program, 1) if text.endswith(mark)]
    return number


class TestOperationsCountedInPlace:
    """
    Past the allowance, an Event, Condition or queue operation that neither waits nor lets
    anyone in is counted by its thread, with no event: each one is a span or in a summary's
    count, and one that wakes a thread is still a span, linked to.
    """

    def test_each_operation_is_a_span_or_counted(self, tmp_path: Path, http_receiver: Any) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            from syncscope._core.leanholds import local
            event = threading.Event()
            cond = threading.Condition()
            q = queue.Queue()
            until_counting()
            got = []
            for n in range(500):
                event.set()
                got.append(event.wait(5))
                event.clear()
                with cond:
                    cond.notify()
                    cond.notify_all()
                q.put(n)
                got.append(q.get())
            assert got == [x for n in range(500) for x in (True, n)], got
            counted = {key[1] for key in local.holds.uses if isinstance(key, tuple)}
            wanted = {"set", "wait", "clear", "notify", "notify_all", "put", "get"}
            assert counted == wanted, counted  # each kind counted in place at least once
            """
        )
        _line, spans, uses = _counted_run(tmp_path, http_receiver, body)
        for name in (
            "Event.set event",
            "Event.wait event",
            "Event.clear event",
            "Condition.notify cond",
            "Condition.notify_all cond",
            "Queue.put q",
            "Queue.get q",
        ):
            assert {"MainThread": 500} == _counts(spans, name), name
        assert uses == sum(_counts(spans, "Lock.acquire busy").values())

    def test_what_wakes_a_thread_is_a_span_it_links_to(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        """A set, a notify and a put that wake a waiting thread, made while counting."""
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            import queue
            event = threading.Event()
            cond = threading.Condition()
            q = queue.Queue()
            ready = threading.Event()
            def until_waiting(waiters):
                deadline = time.monotonic() + 10
                while not waiters:
                    if time.monotonic() > deadline:
                        sys.exit("the waiter never waited")
                    time.sleep(0.001)
            def waits():
                event.wait(10)
                with cond:
                    ready.set()
                    cond.wait(10)
                q.get(timeout=10)
            waiter = threading.Thread(target=waits, name="waiter")
            waiter.start()
            until_waiting(event._cond._waiters)
            until_counting()
            event.set()  # sets
            ready.wait(10)
            until_counting()
            with cond:
                cond.notify()  # notifies
            until_waiting(q.not_empty._waiters)
            until_counting()
            q.put(1)  # puts
            waiter.join(10)
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        by_id = {span.span_id: span for span in spans}
        program = (COUNTED_PRELUDE + body).splitlines()
        for waited, signal, line in (
            ("Event.wait event", "Event.set event", _line_of(program, "# sets")),
            ("Condition.wait cond", "Condition.notify cond", _line_of(program, "# notifies")),
            ("Queue.get q", "Queue.put q", _line_of(program, "# puts")),
        ):
            (wait,) = [s for s in spans if s.name == waited]
            assert 1 == len(wait.links), waited
            linked = by_id[wait.links[0].span_id]
            assert (signal, line) == (linked.name, linked.attributes["code.line.number"])

    def test_an_error_is_raised_as_without_syncscope_and_is_a_span(
        self, tmp_path: Path, http_receiver: Any
    ) -> None:
        body = UNTIL_COUNTING + textwrap.dedent(
            """\
            cond = threading.Condition()
            until_counting()
            try:
                cond.notify()  # without the lock
            except RuntimeError as exc:
                assert "cannot notify on un-acquired lock" == str(exc), exc
            else:
                sys.exit("notify without the lock did not raise")
            """
        )
        _line, spans, _uses = _counted_run(tmp_path, http_receiver, body)
        (notify,) = [s for s in spans if s.name == "Condition.notify cond"]
        assert "error" == notify.attributes["syncscope.outcome"]
