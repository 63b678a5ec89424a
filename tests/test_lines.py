"""The console wording of each operation, and the dispatch that brings events to the sinks."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from syncscope._core.dispatch import emit, guard
from syncscope._core.state import counters, set_sinks
from syncscope._sinks.lines import ConsoleSink, describe, event_fields

from .support.events import event, primitive


LOCK = primitive("lock", "file_lock")
RLOCK = primitive("rlock")
SEM = primitive("semaphore", "slots")
COND = primitive("condition", "integers_cond")
EVENT = primitive("event", "ready")
BARRIER = primitive("barrier", "start")
QUEUE = primitive("queue", "integers_queue")


def line(prim: Any, op: str, outcome: str, **fields: Any) -> str:
    return describe(event(prim, op, outcome, thread=2, **fields))


class TestWording:
    @pytest.mark.parametrize(
        ("text", "prim", "op", "outcome", "fields"),
        [
            ("lock file_lock acquired by T2", LOCK, "acquire", "acquired", {}),
            ("lock file_lock wait by T2", LOCK, "acquire", "waiting", {}),
            (
                "lock file_lock acquired by T2 after 41 µs",
                LOCK,
                "acquire",
                "acquired",
                {"waited_ns": 41_000},
            ),
            ("lock file_lock busy, acquire failed by T2", LOCK, "acquire", "busy", {}),
            ("lock file_lock released by T2", LOCK, "release", "released", {}),
            ("rlock acquired by T2 (depth 2)", RLOCK, "acquire", "acquired", {"depth": 2}),
            ("rlock released by T2 (depth 1)", RLOCK, "release", "released", {"depth": 1}),
            ("semaphore slots released 3 by T2", SEM, "release", "released", {"permits": 3}),
            ("condition integers_cond notified by T2", COND, "notify", "notified", {"waiters": 1}),
            (
                "condition integers_cond notified by T2 (nobody waiting)",
                COND,
                "notify",
                "notified",
                {"waiters": 0},
            ),
            (
                "condition integers_cond notified all by T2 (2 waiters)",
                COND,
                "notify_all",
                "notified",
                {"waiters": 2},
            ),
            ("condition integers_cond wait by T2", COND, "wait", "waiting", {}),
            (
                "condition integers_cond busy, acquire waits by T2",
                COND,
                "acquire",
                "waiting",
                {},
            ),
            ("event ready wait by T2 (already set)", EVENT, "wait", "set", {}),
            (
                "task done on queue integers_queue by T2 (0 unfinished)",
                QUEUE,
                "task_done",
                "done",
                {"unfinished": 0},
            ),
            (
                "queue integers_queue join waits by T2 (3 unfinished)",
                QUEUE,
                "join",
                "waiting",
                {"unfinished": 3},
            ),
            ("queue integers_queue empty, get waits by T2", QUEUE, "get", "waiting", {}),
        ],
    )
    def test_the_articles_words(
        self, text: str, prim: Any, op: str, outcome: str, fields: dict[str, Any]
    ) -> None:
        """Each operation reads as the article writes it by hand, with its named figures."""
        assert text == line(prim, op, outcome, **fields)

    def test_barrier_arrivals(self) -> None:
        """A Barrier wait says how many have arrived (a field of its own, not a count)."""
        made = event(BARRIER, "wait", "waiting", thread=2)
        made.arrivals = 2
        assert "barrier start wait by T2 (2 arrived)" == describe(made)

    def test_json_keeps_its_count_field(self) -> None:
        """The structured lines keep the one `count` users read: depth, permits or waiters."""
        assert 2 == event_fields(event(RLOCK, "acquire", "acquired", depth=2))["count"]
        assert 3 == event_fields(event(SEM, "release", "released", permits=3))["count"]
        assert "count" not in event_fields(event(LOCK, "acquire", "acquired"))


class _Recording:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def handle(self, item: Any) -> None:
        self.seen.append((item.op, guard.busy))

    def close(self) -> None:
        pass


class _Failing:
    def handle(self, item: Any) -> None:
        raise RuntimeError("disk full")

    def close(self) -> None:
        pass


class TestDispatch:
    def test_every_sink_in_order_with_the_guard_set(self) -> None:
        """Each sink gets the event in turn, with the re-entrancy guard set, then cleared."""
        first, second = _Recording(), _Recording()
        set_sinks((first, second))
        try:
            emit(event(LOCK, "acquire", "acquired"))
        finally:
            set_sinks(())
        assert [("acquire", True)] == first.seen == second.seen
        assert not guard.busy

    def test_a_failing_sink_is_counted_and_the_others_go_on(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A sink that raises loses its events, counted; the program and the others go on."""
        after = _Recording()
        before = counters.sink_errors
        set_sinks((_Failing(), after))
        try:
            emit(event(LOCK, "acquire", "acquired"))
            emit(event(LOCK, "release", "released"))
        finally:
            set_sinks(())
        assert 2 == counters.sink_errors - before
        assert ["acquire", "release"] == [op for op, _busy in after.seen]
        counters.sink_errors = before

    def test_the_guard_is_per_thread(self) -> None:
        """Another thread's operation is reported while this one is inside a sink."""
        seen = []

        class Nested:
            def handle(self, item: Any) -> None:
                seen.append(item.op)
                if item.op == "acquire":
                    other = threading.Thread(
                        target=emit, args=(event(LOCK, "release", "released"),)
                    )
                    other.start()
                    other.join(5)

            def close(self) -> None:
                pass

        set_sinks((Nested(),))
        try:
            emit(event(LOCK, "acquire", "acquired"))
        finally:
            set_sinks(())
        assert ["acquire", "release"] == seen


def _structlog_line(fmt: str, event: Any) -> str:
    """The line structlog's renderer makes of an event's fields: what the sink must write."""
    import structlog

    fields = {**event_fields(event), "event": describe(event)}
    if fmt == "json":
        return str(structlog.processors.JSONRenderer(sort_keys=False)(None, "msg", fields))
    renderer = structlog.processors.LogfmtRenderer(
        key_order=["timestamp", "event"], drop_missing=True
    )
    return str(renderer(None, "msg", fields))


def _written_lines(path: Any) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


AWKWARD = [
    "plain",
    'say "hi"',
    "a b",
    "a=b",
    "back\\slash",
    "back\\slash and space",
    "new\nline",
    "tab\there",
    "naïve ☃",
    "\x00\x1f",
    "emoji 🧵",
    "=",
    '"',
    "",
]


class TestRendering:
    """The sink's lines, built without structlog's processor chain, are structlog's lines."""

    def _events(self) -> list[Any]:
        awkward_lock = primitive("lock", 'db lock="x"\\', file="/src/my app=1.py")
        made = [
            event(LOCK, "acquire", "acquired"),
            event(LOCK, "acquire", "acquired", waited_ns=41_123),
            event(LOCK, "release", "released", thread=3, line=99, function="<lambda>"),
            event(RLOCK, "acquire", "acquired", depth=2),
            event(SEM, "release", "released", permits=3),
            event(COND, "notify_all", "notified", waiters=0),
            event(QUEUE, "get", "got", qsize=4, waited_ns=1_999_999_999),
            event(QUEUE, "task_done", "done", unfinished=0),
            event(awkward_lock, "acquire", "timeout", waited_ns=5, function='f "x"'),
        ]
        for text in AWKWARD:
            put = event(QUEUE, "put", "put", qsize=1)
            put.item = text
            put.thread_name = text or "T"
            made.append(put)
        failed = event(LOCK, "release", "error")
        failed.error = RuntimeError('release unlocked lock "x"\nsecond line')
        made.append(failed)
        traced = event(LOCK, "acquire", "acquired")
        traced.trace_id, traced.span_id = 2**127 + 5, 7
        made.append(traced)
        for immediate in (False, True):  # a shutdown's count is whether it was immediate
            shutdown = event(QUEUE, "shutdown", "shutdown")
            shutdown.immediate = immediate
            made.append(shutdown)
        made.append(event(BARRIER, "wait", "waiting"))
        made[-1].arrivals = 2
        # Timestamps where datetime's rounding to the microsecond matters: on a whole second,
        # just below one, half a microsecond, and ordinary ones.
        for at in (
            1_700_000_000_000_000_000,
            1_700_000_000_999_999_600,
            1_700_000_000_999_999_400,
            1_700_000_000_000_000_500,
            1_700_000_001_000_000_499,
            1_764_543_953_969_961_123,
            1_000_000,
        ):
            made.append(event(LOCK, "acquire", "acquired", at=at))
        return made

    @pytest.mark.parametrize("fmt", ["json", "logfmt"])
    def test_lines_are_what_structlog_renders(self, fmt: str, tmp_path: Any) -> None:
        """Every field and escape, and the timestamp to the microsecond, as structlog writes."""
        made = self._events()
        out = tmp_path / "lines"
        sink = ConsoleSink(fmt, str(out))
        for each in made:
            sink.handle(each)
            sink.handle(each)  # the second time from what the sink kept
        sink.close()
        expected = [_structlog_line(fmt, each) for each in made for _ in range(2)]
        assert expected == _written_lines(out)

    def test_a_renamed_primitive_is_written_with_its_new_name(self, tmp_path: Any) -> None:
        """`syncscope.name()` after some lines: the later lines carry the new name."""
        renamed = primitive("lock")
        out = tmp_path / "lines"
        sink = ConsoleSink("json", str(out))
        sink.handle(event(renamed, "acquire", "acquired"))
        renamed.name = "db_lock"
        sink.handle(event(renamed, "acquire", "acquired"))
        sink.close()
        names = [json.loads(line)["name"] for line in _written_lines(out)]
        assert ["lock", "db_lock"] == names

    def test_console_lines_are_the_descriptions(self, tmp_path: Any) -> None:
        """A console line is the sentence and a newline, non-UTF-8 text escaped, not lost."""
        out = tmp_path / "lines"
        sink = ConsoleSink("console", str(out))
        made = self._events()
        for each in made:
            sink.handle(each)
            sink.handle(each)  # the second time from what the sink kept
        sink.close()
        expected = "".join(describe(each) + "\n" for each in made for _ in range(2))
        assert expected == out.read_text(encoding="utf-8")

    @pytest.mark.parametrize("fmt", ["console", "json", "logfmt"])
    def test_renamed_threads_and_primitives_are_written_anew(self, fmt: str, tmp_path: Any) -> None:
        """A kept line never outlives the names it was made of: the thread's or the lock's."""
        renamed = primitive("lock")
        out = tmp_path / "lines"
        sink = ConsoleSink(fmt, str(out))
        made = []
        for thread_name, lock_name in [("T1", "lock"), ("worker", "lock"), ("worker", "db")]:
            renamed.name = lock_name
            for op, outcome in [("acquire", "acquired"), ("release", "released")]:
                each = event(renamed, op, outcome)
                each.thread_name = thread_name
                sink.handle(each)
                made.append(describe(each))
        sink.close()
        written = _written_lines(out)
        if fmt == "console":
            assert made == written
        elif fmt == "json":
            assert made == [json.loads(line)["event"] for line in written]
        assert "lock db released by worker" == made[-1]

    @pytest.mark.parametrize("fmt", ["json", "logfmt"])
    def test_notes_keep_their_fields(self, fmt: str, tmp_path: Any) -> None:
        """A note (a slow spot, a finding) is written with its own fields, nested ones too."""
        out = tmp_path / "lines"
        sink = ConsoleSink(fmt, str(out))
        sink.note("lock x held for 2 ms", finding="long_hold", details={"a": [1, "b"]})
        sink.close()
        (written,) = _written_lines(out)
        if fmt == "json":
            expected = {"finding": "long_hold", "details": {"a": [1, "b"]}}
            assert {**expected, "event": "lock x held for 2 ms"} == json.loads(written)
        else:
            assert written.startswith('event="lock x held for 2 ms" finding=long_hold')


def test_timestamps_are_datetimes_to_the_microsecond() -> None:
    """
    The kept second and the fraction give datetime's text of the time to the microsecond,
    rounded down as ``datetime.now()`` reads the clock; a line gets the same text after its
    start.
    """
    import datetime
    import random

    from syncscope._sinks.lines import _Timestamps

    stamps = _Timestamps(b'{"timestamp": "')
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    pick = random.Random(13)
    base = 1_764_543_953_000_000_000
    times = [base + pick.randrange(3_000_000_000) for _ in range(20_000)]
    # Near whole microseconds and whole seconds.
    times += [
        base + s * 1_000_000_000 + us * 1000 + d
        for s in range(3)
        for us in (0, 1, 999_999)
        for d in range(-600, 601, 50)
    ]
    times += [0, 1, 999, 1_000_000, 5 * 10**17, -1, -1_500_000_000, -1_500_000_000_400]
    times.sort()
    shuffled = times[:]  # threads stamp out of order: a line of the second before the last
    pick.shuffle(shuffled)
    for ns in times + shuffled:
        expected = (epoch + datetime.timedelta(microseconds=ns // 1000)).isoformat()
        # The line first: it reads the second the last line rendered, which text() would reset.
        assert f'{{"timestamp": "{expected}", "x": 1}}'.encode() == stamps.line(ns, b'", "x": 1}')
        assert expected == stamps.text(ns), ns
    now = datetime.datetime.now(datetime.UTC)
    assert now.isoformat() == stamps.text(int(now.timestamp()) * 10**9 + now.microsecond * 1000)
