"""Spans: real programs under python -m syncscope, exported to real OTLP receivers."""

from __future__ import annotations

import collections
import itertools
import json
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from syncscope._sinks.spans import options as span_opts
from syncscope._sinks.spans import pairing as span_pairing
from syncscope._sinks.spans import sink as _spans
from syncscope._sinks.spans import workers as span_workers
from tests.support.otlp import OtlpGrpcReceiver, OtlpHttpReceiver, ReceivedSpan

from .spans_programs import (
    CONTENTION_SPANS,
    CONTENTION_TOTAL,
    LOCKER_LINE,
    Interactive,
    environment,
    run_contention,
    write_program,
)


RECEIVERS = [
    pytest.param((OtlpGrpcReceiver, "grpc"), id="grpc"),
    pytest.param((OtlpHttpReceiver, "http/protobuf"), id="http"),
]


@pytest.fixture(params=RECEIVERS)
def receiver(request: pytest.FixtureRequest) -> Any:
    cls, protocol = request.param
    with cls() as server:
        server.protocol = protocol
        yield server


def _otlp_args(receiver: Any) -> list[str]:
    return [f"--otlp={receiver.endpoint}", "--protocol", receiver.protocol]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(tmp_path: Path, source: str, *args: str, name: str = "prog.py", **env: str) -> Any:
    import subprocess

    script = write_program(tmp_path, source, name)
    return subprocess.run(
        [sys.executable, "-m", "syncscope", *args, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(env),
        cwd=tmp_path,
        check=False,
    )


def _span_lines(stderr: str) -> list[str]:
    """What the span export said at exit (other parts of syncscope may report too)."""
    return [line for line in stderr.splitlines() if line.startswith("syncscope: spans: ")]


SPAN_LINE = re.compile(
    r"syncscope: spans: (?P<made>[\d,]+) made, (?P<sent>[\d,]+) sent to (?P<target>.*?)"
    r"(?: and (?P<provided>[\d,]+) to the program's TracerProvider)?, "
    r"(?P<dropped>[\d,]+) dropped(?: \((?P<why>[^)]*(?:\)[^)]*)*)\))?"
    r"(?:; (?P<aggregated>[\d,]+) operations nobody waited on summed up in "
    r"(?P<summaries>[\d,]+) summary spans)?(?:; (?P<filtered>[\d,]+) spans under .* left out)?"
)


def span_line(stderr: str) -> dict[str, Any]:
    """The exit line of the span export, as numbers (``why`` as text)."""
    (line,) = _span_lines(stderr)
    match = SPAN_LINE.fullmatch(line)
    assert match is not None, line
    found: dict[str, Any] = {}
    for key, value in match.groupdict().items():
        if key in ("why", "target"):
            found[key] = value or ""
        else:
            found[key] = int((value or "0").replace(",", ""))
    assert found["made"] == found["sent"] + found["provided"] + found["dropped"], line
    return found


def _by_name(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    found: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def _links(span: ReceivedSpan) -> set[str]:
    return {link.span_id for link in span.links}


class TestBusy:
    """A program far busier than spans are worth: most uses are summed up, none lost."""

    def test_uncontended_uses_are_summed_up_and_counted(
        self, tmp_path: Path, receiver: Any
    ) -> None:
        """
        20,000 lock uses nobody waits on: not a span each, but every one is in a summary
        span's count, and the exit line's counts are what the receiver got.
        """
        source = """
            import threading
            lock = threading.Lock()
            for _ in range(20000):
                with lock:
                    pass
            print("done")
        """
        run = _run(tmp_path, source, "-q", *_otlp_args(receiver))
        assert 0 == run.returncode, run.stderr
        assert "done\n" == run.stdout
        line = span_line(run.stderr)
        assert 0 == line["dropped"]
        spans = receiver.wait_for_spans(line["made"])
        assert line["made"] == len(spans)
        summaries = [s for s in spans if s.attributes.get("syncscope.outcome") == "summary"]
        assert line["summaries"] == len(summaries)
        assert line["aggregated"] == sum(s.attributes["syncscope.summary.count"] for s in summaries)
        single = [s for s in spans if s.name in ("Lock.acquire lock", "Lock.hold lock")]
        # Acquire and hold per use: each a span or counted in a summary; most summed up.
        assert 2 * 20000 == len(single) + line["aggregated"]
        # Past the allowance (2,000 then 2,000 a second), uses nobody waited on are summed up:
        # some of the 40,000 are unless the run took 19 s.
        assert line["aggregated"] > 0


class TestContention:
    """The CONTENTION program: every kind of operation, with certain waits."""

    def test_counts_names_and_parents(self, tmp_path: Path, receiver: Any) -> None:
        """Each operation arrives as its span, under its thread's span, under the run span."""
        run_contention(tmp_path, _otlp_args(receiver))
        spans = receiver.wait_for_spans(CONTENTION_TOTAL)
        assert CONTENTION_SPANS == dict(Counter(span.name for span in spans))
        assert len({span.trace_id for span in spans}) == 1
        assert len({span.span_id for span in spans}) == CONTENTION_TOTAL
        by_name = _by_name(spans)
        (run,) = by_name["run contention.py"]
        assert run.parent_span_id is None
        threads = {span.span_id: span for span in spans if span.name.startswith("thread ")}
        for thread in threads.values():
            assert run.span_id == thread.parent_span_id
        for span in spans:
            if span.name.startswith(("thread ", "run ")):
                continue
            thread = threads[span.parent_span_id or ""]
            assert thread.attributes["thread.name"] == span.attributes["thread.name"]
            assert thread.start_ns <= span.start_ns
            assert "syncscope" == span.scope_name
            assert "syncscope contention.py" == span.resource["service.name"]

    def test_attributes(self, tmp_path: Path, receiver: Any) -> None:
        """Semantic-convention and syncscope.* attributes describe the operation."""
        run_contention(tmp_path, _otlp_args(receiver))
        spans = receiver.wait_for_spans(CONTENTION_TOTAL)
        by_name = _by_name(spans)
        (blocked,) = [
            s for s in by_name["Lock.acquire lock"] if s.attributes["thread.name"] == "locker"
        ]
        attributes = blocked.attributes
        assert attributes["code.file.path"].endswith("contention.py")
        assert LOCKER_LINE == attributes["code.line.number"]
        assert "locker" == attributes["code.function.name"]
        assert isinstance(attributes["thread.id"], int)
        assert "lock" == attributes["syncscope.kind"]
        assert "lock" == attributes["syncscope.name"]
        assert isinstance(attributes["syncscope.primitive_id"], int)
        assert re.fullmatch(r".*contention\.py:\d+", attributes["syncscope.created_at"])
        assert "acquired" == attributes["syncscope.outcome"]
        assert attributes["syncscope.waited_ms"] > 0
        # The span lasts exactly as long as the acquire blocked.
        assert blocked.end_ns - blocked.start_ns == pytest.approx(
            attributes["syncscope.waited_ms"] * 1e6, abs=1000
        )
        (get,) = by_name["Queue.get q"]
        assert 0 == get.attributes["syncscope.queue.size"]
        assert "syncscope.queue.item" not in get.attributes  # items only when asked for
        (hold,) = by_name["RLock.hold rlock"]
        assert "released" == hold.attributes["syncscope.outcome"]
        assert hold.attributes["syncscope.held_ms"] >= 0

    def test_links(self, tmp_path: Path, receiver: Any) -> None:
        """Waits link to the hold, the notify, the set and the put that let them through."""
        run_contention(tmp_path, _otlp_args(receiver))
        spans = receiver.wait_for_spans(CONTENTION_TOTAL)
        by_name = _by_name(spans)

        def only(name: str, thread: str | None = None) -> ReceivedSpan:
            (span,) = [
                s for s in by_name[name] if thread is None or s.attributes["thread.name"] == thread
            ]
            return span

        main_hold = only("Lock.hold lock", "MainThread")
        assert {main_hold.span_id} == _links(only("Lock.acquire lock", "locker"))
        assert {only("Condition.notify cond").span_id} == _links(only("Condition.wait cond"))
        assert {only("Queue.put q").span_id} == _links(only("Queue.get q"))
        assert {only("Event.set fired").span_id} == _links(only("Event.wait fired"))
        assert {only("Event.set ready").span_id} == _links(only("Event.wait ready"))
        assert {only("Queue.task_done q").span_id} == _links(only("Queue.join q"))
        link = only("Queue.get q").links[0]
        assert {"syncscope.link": "put"} == link.attributes

    def test_log_lines_carry_trace_and_span_ids(self, tmp_path: Path) -> None:
        """json lines name the span of their operation; the file has the same spans."""
        source = """\
            import threading
            lock = threading.Lock()
            with lock:
                pass
        """
        trace_file = tmp_path / "trace.json"
        result = _run(tmp_path, source, "--format", "json", "--jaeger-file", str(trace_file))
        assert 0 == result.returncode, result.stderr
        lines = [json.loads(line) for line in result.stderr.splitlines()]
        (trace,) = json.loads(trace_file.read_text())["data"]
        spans = {span["spanID"]: span["operationName"] for span in trace["spans"]}
        assert ["lock acquired by MainThread", "lock released by MainThread"] == [
            line["event"] for line in lines
        ]
        assert "Lock.acquire lock" == spans[lines[0]["span_id"]]
        assert "Lock.hold lock" == spans[lines[1]["span_id"]]
        assert {trace["traceID"]} == {line["trace_id"] for line in lines}


class TestExport:
    def test_dead_endpoint_keeps_status_and_ends_in_time(self, tmp_path: Path) -> None:
        """Nobody listening: the program's status is its own, and it ends within the flush time."""
        source = """\
            import sys, threading
            lock = threading.Lock()
            for _ in range(100):
                with lock:
                    pass
            print("ran")
            sys.exit(3)
        """
        for protocol in ("grpc", "http/protobuf"):
            started = time.monotonic()
            result = _run(
                tmp_path,
                source,
                "-q",
                f"--otlp=http://127.0.0.1:{_free_port()}",
                f"--protocol={protocol}",
                "--flush-timeout=1",
            )
            elapsed = time.monotonic() - started
            assert 3 == result.returncode
            assert "ran\n" == result.stdout
            assert elapsed < 1 + 4, elapsed
            line = span_line(result.stderr)
            assert (202, 0, 202) == (line["made"], line["sent"], line["dropped"]), line
            assert "endpoint refused: connection refused by 127.0.0.1" in line["why"], line
            # The report times the run, not the flush that came after it.
            found = re.search(r"syncscope report: ([\d.]+) (µs|ms|s),", result.stderr)
            assert found is not None, result.stderr
            scale = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[found[2]]
            assert float(found[1]) * scale < 1.0, found[0]

    def test_uncaught_exception_still_flushes(self, tmp_path: Path, receiver: Any) -> None:
        """A program dying of an exception keeps its traceback and status; its spans arrive."""
        source = """\
            import threading
            ev = threading.Event()
            ev.set()
            raise SystemExit(ValueError("boom"))
        """
        result = _run(tmp_path, source, "-q", *_otlp_args(receiver))
        assert 1 == result.returncode
        assert "boom" in result.stderr
        spans = receiver.wait_for_spans(3)
        assert ["Event.set ev", "run prog.py", "thread MainThread"] == sorted(s.name for s in spans)

    def test_receiver_stopped_mid_run_counts_drops(self, tmp_path: Path, receiver: Any) -> None:
        """Spans beyond the buffer are dropped and counted in one line; the program runs on."""
        source = """\
            import sys, threading
            lock = threading.Lock()
            def work(n):
                for _ in range(n):
                    with lock:
                        pass
            work(10)
            print("phase one", flush=True)
            sys.stdin.readline()
            work(3000)
            print("done", flush=True)
        """
        script = write_program(tmp_path, source, "prog.py")
        args = ["-q", *_otlp_args(receiver), "--span-buffer=200", "--flush-timeout=1", str(script)]
        process = Interactive(args)
        try:
            process.wait_for("stdout", "phase one")
            before = receiver.wait_for_spans(20)
            receiver.stop()
            started = time.monotonic()
            process.send("go\n")
            run = process.finish()
            elapsed = time.monotonic() - started
        finally:
            process.kill()
        assert 0 == run.returncode
        assert run.stdout.endswith("done\n")
        assert elapsed < 1 + 4, elapsed
        line = span_line(run.stderr)
        # Every operation is a span or summed up in a summary span: acquire + hold per lock use,
        # plus the thread and the run.
        made, lost = line["made"], line["dropped"]
        assert 3010 * 2 + 2 == made - line["summaries"] + line["aggregated"]
        # Every span the receiver did not get is counted. A batch the receiver stored just as it
        # was stopped may be counted too: its reply never reached the exporter.
        assert made - len(before) <= lost <= made
        assert "endpoint refused: connection refused" in line["why"], line

    def test_service_name_resource_and_headers_from_environment(
        self, tmp_path: Path, receiver: Any
    ) -> None:
        """OTEL_* variables configure the export; the options win over them."""
        source = "import threading\nthreading.Event().set()\n"
        result = _run(
            tmp_path,
            source,
            "-q",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=receiver.protocol,
            OTEL_SERVICE_NAME="from-env",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=sync",
        )
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(3)
        assert {"from-env"} == {span.resource["service.name"] for span in spans}
        assert {"sync"} == {span.resource["team"] for span in spans}
        receiver.clear()
        result = _run(
            tmp_path,
            source,
            "-q",
            *_otlp_args(receiver),
            "--service-name=from-option",
            OTEL_SERVICE_NAME="from-env",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{_free_port()}",
        )
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(3)
        assert {"from-option"} == {span.resource["service.name"] for span in spans}

    def test_span_items_and_min_span_ms(self, tmp_path: Path, receiver: Any) -> None:
        """--span-items puts items in; --min-span-ms keeps long waits and what they link to."""
        source = """\
            import queue, threading
            q = queue.Queue()
            lock = threading.Lock()
            with lock:
                pass
            q.put({"secret": 1})
            q.get()
            threading.Event().wait(0.05)
        """
        result = _run(tmp_path, source, "-q", *_otlp_args(receiver), "--span-items")
        assert 0 == result.returncode, result.stderr
        spans = _by_name(receiver.wait_for_spans(7))
        assert "{'secret': 1}" == spans["Queue.put q"][0].attributes["syncscope.queue.item"]
        receiver.clear()
        result = _run(tmp_path, source, "-q", *_otlp_args(receiver), "--min-span-ms=10")
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(3)
        assert ["Event.wait event#1", "run prog.py", "thread MainThread"] == sorted(
            span.name for span in spans
        )
        (wait,) = [span for span in spans if span.name.startswith("Event")]
        assert "timeout" == wait.attributes["syncscope.outcome"]
        assert wait.attributes["syncscope.waited_ms"] >= 50

    def test_large_runs_are_cut_into_traces(self, tmp_path: Path, receiver: Any) -> None:
        """Every N spans a new trace starts; run and thread spans link to the previous ones."""
        source = """\
            import threading
            lock = threading.Lock()
            for _ in range(30):
                with lock:
                    pass
        """
        result = _run(tmp_path, source, "-q", *_otlp_args(receiver), "--spans-per-trace=20")
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(60 + 3 * 2)
        traces: dict[str, list[ReceivedSpan]] = {}
        for span in spans:
            traces.setdefault(span.trace_id, []).append(span)
        assert 3 == len(traces)
        runs = sorted(
            (s for s in spans if s.name.startswith("run prog.py part ")),
            key=lambda s: s.attributes["syncscope.trace_part"],
        )
        assert [1, 2, 3] == [run.attributes["syncscope.trace_part"] for run in runs]
        for trace_spans in traces.values():
            assert 22 == len(trace_spans)
        for before, after in itertools.pairwise(runs):
            assert {before.span_id} == _links(after)
        threads = sorted(
            (s for s in spans if s.name == "thread MainThread"),
            key=lambda s: s.attributes["syncscope.trace_part"],
        )
        assert not threads[0].links
        for before, after in itertools.pairwise(threads):
            assert {before.span_id} == _links(after)


PROGRAM_WITH_TRACER = """\
import os, sys, threading
from concurrent.futures import ThreadPoolExecutor
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider(resource=Resource({"service.name": "the-app"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1])))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")
lock = threading.Lock()


def work():
    with lock:
        pass


work()
with tracer.start_as_current_span("request"):
    work()
    thread = threading.Thread(target=work, name="started")
    thread.start()
    thread.join(5)
    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        pool.submit(work).result(5)
    print(threading.active_count())
"""


def _run_with_tracer(
    tmp_path: Path, receiver: OtlpHttpReceiver, *options: str
) -> subprocess.CompletedProcess[str]:
    """PROGRAM_WITH_TRACER under syncscope, its provider exporting to ``receiver``, and
    ``--otlp`` pointing at a port nobody listens on."""
    script = write_program(tmp_path, PROGRAM_WITH_TRACER, "app.py")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "syncscope",
            *options,
            f"--otlp=http://127.0.0.1:{_free_port()}",
            str(script),
            receiver.traces_endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
        check=False,
    )


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(("-q",), id="with-report"),
        # Spans alone: the locks' record path, which leaves a program's own span to events.
        pytest.param(("-q", "--no-report", "--no-deadlock-detection"), id="spans-alone"),
    ],
)
def test_program_spans_and_tracer_provider(tmp_path: Path, mode: tuple[str, ...]) -> None:
    """Our spans go to the program's TracerProvider, under its current span, across threads."""
    with OtlpHttpReceiver() as receiver:
        result = _run_with_tracer(tmp_path, receiver, *mode)
        assert 0 == result.returncode, result.stderr
        assert [] == _span_lines(result.stderr)
        assert "Traceback" not in result.stderr
        # The program's threads ended: none of ours is seen.
        assert "1\n" == result.stdout
        spans = receiver.wait_for_spans(1 + 4 * 2 + 2)
    (request,) = [span for span in spans if span.name == "request"]
    ours = [span for span in spans if span.scope_name == "syncscope"]
    assert {"the-app"} == {span.resource["service.name"] for span in ours}
    under_request = [s for s in ours if s.parent_span_id == request.span_id]
    assert {"MainThread", "started", "pool_0"} == {
        s.attributes["thread.name"] for s in under_request
    }
    assert 6 == len(under_request)
    assert {request.trace_id} == {s.trace_id for s in under_request}
    # Before the request: our own trace, run span, thread span.
    outside = sorted(s.name for s in ours if s.trace_id != request.trace_id)
    assert ["Lock.acquire lock", "Lock.hold lock", "run app.py", "thread MainThread"] == outside


def test_program_provider_behind_a_slow_collector_gets_every_span_once(tmp_path: Path) -> None:
    """
    Our spans go through the program's TracerProvider: at exit they are waited for (up to
    --flush-timeout), however slow its collector, though the --otlp endpoint is down; the
    export is not cut short, so no span is lost, none is sent twice (the exporter's retry
    of a cut connection), and none is said to be refused by the endpoint they never went to.
    """
    with OtlpHttpReceiver() as receiver:
        # Longer than the grace at exit before syncscope asks whether the endpoint is down.
        receiver.reply_slowly_to("thread MainThread", 2 * _spans.GRACE + 0.5)
        result = _run_with_tracer(tmp_path, receiver, "-q", "--flush-timeout=60")
        assert 0 == result.returncode, result.stderr
        assert [] == _span_lines(result.stderr)
        spans = receiver.wait_for_spans(1 + 4 * 2 + 2)
    assert 1 + 4 * 2 + 2 == len(spans), sorted(span.name for span in spans)
    assert 1 + 4 * 2 + 2 == len({span.span_id for span in spans})
    assert {"request", "run app.py", "thread MainThread"} <= {span.name for span in spans}


PROGRAM_SETS_ITS_PROVIDER_LATE = """\
import sys, threading
lock = threading.Lock()


def work():
    with lock:
        pass


def in_thread(name):
    thread = threading.Thread(target=work, name=name)
    thread.start()
    thread.join(5)


in_thread("before")
sys.stdin.readline()  # the test goes on once the "before" thread's spans reached --otlp
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1])))
trace.set_tracer_provider(provider)
in_thread("after")
"""


def test_exit_line_counts_the_spans_sent_to_the_endpoint_and_to_the_program_provider(
    tmp_path: Path,
) -> None:
    """
    A program that sets its TracerProvider while it runs: the spans sent before went to
    --otlp, those after to the provider; the exit line names both and counts each apart.
    """
    script = write_program(tmp_path, PROGRAM_SETS_ITS_PROVIDER_LATE, "app.py")
    with OtlpHttpReceiver() as endpoint, OtlpHttpReceiver() as programs:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncscope",
                "-q",
                f"--otlp={endpoint.endpoint}",
                "--protocol=http/protobuf",
                str(script),
                programs.traces_endpoint,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        try:
            before = endpoint.wait_for_spans(2, timeout=60)
            _out, err = process.communicate("go\n", timeout=120)
        finally:
            process.kill()
            process.wait(timeout=60)
        assert 0 == process.returncode, err
        line = span_line(err)
        sent = endpoint.spans()
        provided = [span for span in programs.spans() if span.scope_name == "syncscope"]
    assert ["Lock.acquire lock", "Lock.hold lock"] == sorted(s.name for s in before)
    assert f"{endpoint.endpoint}/v1/traces (http/protobuf)" == line["target"]
    assert (len(sent), len(provided), 0) == (line["sent"], line["provided"], line["dropped"])
    assert {"Lock.acquire lock", "thread after", "run app.py"} <= {s.name for s in provided}


PROGRAM_WITH_POOL_TASKS = """\
import contextvars, sys, threading
from concurrent.futures import ThreadPoolExecutor
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1])))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")
if sys.argv[2] == "inherit" and not getattr(sys.flags, "thread_inherit_context", 0):
    # Before 3.14, what -X thread_inherit_context=1 does (the default without the GIL): a
    # thread runs in a copy of the context of the thread that started it; and syncscope is
    # told so, as it reads it from that flag.
    from syncscope._core import context

    context.INHERITS = True
    init, bootstrap = threading.Thread.__init__, threading.Thread._bootstrap_inner

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._maker_context = contextvars.copy_context()

    def _bootstrap_inner(self):
        self._maker_context.run(bootstrap, self)

    threading.Thread.__init__ = __init__
    threading.Thread._bootstrap_inner = _bootstrap_inner
lock = threading.Lock()


def work():
    with lock:
        pass


def start_thread():
    thread = threading.Thread(target=work, name="started")
    thread.start()
    thread.join(5)


def inner_pool():
    with ThreadPoolExecutor(1, thread_name_prefix="inner") as inner:
        inner.submit(work).result(5)


def work_in(span):
    with trace.use_span(span):
        work()


with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
    with tracer.start_as_current_span("first") as first:
        pool.submit(work).result(5)  # the worker is started here, under this span
    with tracer.start_as_current_span("second"):
        pool.submit(work).result(5)
    with tracer.start_as_current_span("third"):
        pool.submit(start_thread).result(5)
    with tracer.start_as_current_span("fourth"):
        pool.submit(inner_pool).result(5)
    if sys.argv[2] == "plain":  # a task that makes the worker's first span its own
        with tracer.start_as_current_span("fifth"):
            pool.submit(work_in, first).result(5)
if sys.argv[2] == "plain":  # a worker whose initializer makes a span current for good
    from opentelemetry import context

    with tracer.start_as_current_span("worker-init") as init:
        pass
    def attach():
        context.attach(trace.set_span_in_context(init))
    with ThreadPoolExecutor(1, thread_name_prefix="init", initializer=attach) as pool:
        with tracer.start_as_current_span("sixth"):
            pool.submit(work).result(5)
"""


@pytest.mark.parametrize("context", ["plain", "inherit"])
def test_pool_tasks_and_their_threads_under_their_submitters_spans(
    tmp_path: Path, context: str
) -> None:
    """
    A pool task's operations go under the span it was submitted under, and so do those of a
    thread or a pool it starts; also when threads run in a copy of their starter's context
    (3.14's thread_inherit_context), where a pool's worker finds, in every task, the span
    current where it was started.
    """
    script = write_program(tmp_path, PROGRAM_WITH_POOL_TASKS, "app.py")
    flag = "1" if context == "inherit" else "0"
    python = [sys.executable, "-X", f"thread_inherit_context={flag}"]
    with OtlpHttpReceiver() as receiver:
        result = subprocess.run(
            [
                *(python if sys.version_info >= (3, 14) else [sys.executable]),
                "-m",
                "syncscope",
                "-q",
                f"--otlp=http://127.0.0.1:{_free_port()}",
                str(script),
                receiver.traces_endpoint,
                context,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
            check=False,
        )
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(4 + 8 if context == "inherit" else 7 + 12)
    names = {span.span_id: span.name for span in spans if span.scope_name == "app"}
    uses = [s for s in spans if s.name in ("Lock.acquire lock", "Lock.hold lock")]
    under = collections.Counter(
        (names.get(s.parent_span_id or ""), s.attributes["thread.name"]) for s in uses
    )
    expected = {
        ("first", "pool_0"): 2,
        ("second", "pool_0"): 2,
        ("third", "started"): 2,
        ("fourth", "inner_0"): 2,
    }
    if context == "plain":  # the span current in the task's context is its parent
        expected["first", "pool_0"] += 2
        expected["worker-init", "init_0"] = 2
    assert expected == dict(under)


class TestJaegerFile:
    def test_structure(self, tmp_path: Path) -> None:
        """The file is Jaeger's trace JSON, the same spans as sent over OTLP."""
        trace_file = tmp_path / "trace.json"
        with OtlpGrpcReceiver() as receiver:
            receiver.protocol = "grpc"
            args = [*_otlp_args(receiver), f"--jaeger-file={trace_file}"]
            run_contention(tmp_path, args)
            received = receiver.wait_for_spans(CONTENTION_TOTAL)
        document = json.loads(trace_file.read_text(encoding="utf-8"))
        assert ["data"] == list(document)
        (trace,) = document["data"]
        assert {"traceID", "spans", "processes", "warnings"} == set(trace)
        assert ["p1"] == list(trace["processes"])
        process = trace["processes"]["p1"]
        assert "syncscope contention.py" == process["serviceName"]
        assert {"key": "telemetry.sdk.language", "type": "string", "value": "python"} in process[
            "tags"
        ]
        spans = trace["spans"]
        assert CONTENTION_TOTAL == len(spans)
        by_id = {span["spanID"]: span for span in spans}
        for span in spans:
            assert {
                "traceID",
                "spanID",
                "operationName",
                "references",
                "startTime",
                "duration",
                "tags",
                "logs",
                "processID",
                "warnings",
                "flags",
            } == set(span)
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceID"])
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanID"])
            assert isinstance(span["startTime"], int)
            assert isinstance(span["duration"], int)
            assert "p1" == span["processID"]
            for ref in span["references"]:
                assert ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
                assert ref["spanID"] in by_id
            for tag in span["tags"]:
                assert tag["type"] in ("string", "bool", "int64", "float64")
        for otlp in received:
            span = by_id[otlp.span_id]
            assert otlp.name == span["operationName"]
            assert otlp.start_ns // 1000 == span["startTime"]
            parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
            assert ([otlp.parent_span_id] if otlp.parent_span_id else []) == parents
            follows = {r["spanID"] for r in span["references"] if r["refType"] == "FOLLOWS_FROM"}
            assert _links(otlp) == follows
            tags = {tag["key"]: tag["value"] for tag in span["tags"]}
            for key, value in otlp.attributes.items():
                assert value == tags[key]
            assert "internal" == tags["span.kind"]
            assert "syncscope" == tags["otel.scope.name"]


def test_instrumentor_with_opentelemetry_instrument(tmp_path: Path) -> None:
    """opentelemetry-instrument switches syncscope on (long waits only), and the standard
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS switches it off."""
    import shutil
    import subprocess

    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("opentelemetry-instrument is not installed next to this python")
    source = """\
        import threading
        lock = threading.Lock()
        with lock:
            pass
        print(threading.Event().wait(0.05), threading.active_count())
    """
    script = write_program(tmp_path, source, "service.py")
    with OtlpGrpcReceiver() as receiver:
        for disabled, expected in (
            ("", ["Event.wait event#1", "run service.py", "thread MainThread"]),
            ("syncscope", []),
        ):
            env = environment(
                {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                    "OTEL_TRACES_EXPORTER": "otlp",
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_LOGS_EXPORTER": "none",
                    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
                }
            )
            result = subprocess.run(
                [command, sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
            assert 0 == result.returncode, result.stderr
            assert "False 1\n" == result.stdout
            # The flush ends before the process does: what arrived is all there is.
            assert expected == sorted(span.name for span in receiver.spans())
            receiver.clear()


class TestOptions:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--protocol=http"], "argument --protocol: invalid choice"),
            (["--otlp=ftp://x:1"], "bad OTLP endpoint 'ftp://x:1'"),
            (["--flush-timeout=-1"], "argument --flush-timeout: expected seconds"),
            (["--min-span-ms=x"], "argument --min-span-ms: expected milliseconds"),
            (["--spans-per-trace=0"], "argument --spans-per-trace: expected a whole number"),
            (["--jaeger-file=/nonexistent/dir/t.json"], "cannot write the Jaeger file"),
        ],
    )
    def test_bad_values_are_one_line_errors(
        self, tmp_path: Path, args: list[str], message: str
    ) -> None:
        """Each bad span option is one line on stderr and exit status 2."""
        result = _run(tmp_path, "pass\n", *args)
        assert 2 == result.returncode
        (line,) = result.stderr.splitlines()
        assert line.startswith("syncscope: error: ")
        assert message in line

    def test_bad_environment_is_a_one_line_error(self, tmp_path: Path) -> None:
        """A bad OTEL_EXPORTER_OTLP_PROTOCOL is reported like a bad option."""
        result = _run(tmp_path, "pass\n", "--otlp", OTEL_EXPORTER_OTLP_PROTOCOL="http/json")
        assert 2 == result.returncode
        (line,) = result.stderr.splitlines()
        assert "unsupported OTLP protocol 'http/json'" in line

    def test_otlp_value_is_not_the_program(self, tmp_path: Path) -> None:
        """--otlp HOST:PORT takes the endpoint; --otlp before the script takes nothing."""
        assert (["--otlp", "localhost:4317"], ["prog.py"]) == _split(
            ["--otlp", "localhost:4317", "prog.py"]
        )
        assert (["--otlp"], ["prog.py", "x:1"]) == _split(["--otlp", "prog.py", "x:1"])

    @pytest.mark.parametrize(
        ("endpoint", "protocol", "env", "expected"),
        [
            (None, None, {}, ("grpc", "http://localhost:4317")),
            (None, "http/protobuf", {}, ("http/protobuf", "http://localhost:4318/v1/traces")),
            ("localhost:4318", None, {}, ("http/protobuf", "http://localhost:4318/v1/traces")),
            ("http://h:9/custom", "http/protobuf", {}, ("http/protobuf", "http://h:9/custom")),
            (
                None,
                None,
                {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                },
                ("http/protobuf", "http://c:4318/v1/traces"),
            ),
            (
                None,
                None,
                {
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/t",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1",
                },
                ("grpc", "https://c/t"),
            ),
            (
                "http://o:4317",
                None,
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"},
                ("grpc", "http://o:4317"),
            ),
        ],
    )
    def test_endpoint_resolution(
        self,
        monkeypatch: pytest.MonkeyPatch,
        endpoint: str | None,
        protocol: str | None,
        env: dict[str, str],
        expected: tuple[str, str],
    ) -> None:
        """Options first, then OTEL_EXPORTER_OTLP_TRACES_*, then OTEL_EXPORTER_OTLP_*."""
        for name in (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert expected == span_opts.resolve_otlp(endpoint, protocol)

    def test_headers(self) -> None:
        """OTLP headers parse from the OTEL_EXPORTER_OTLP_HEADERS syntax."""
        assert {"api-key": "a b", "x": "1"} == span_opts.parse_headers("Api-Key=a%20b, x=1")
        with pytest.raises(ValueError, match="bad OTLP header"):
            span_opts.parse_headers("novalue")

    def test_no_opentelemetry_without_spans(self) -> None:
        """Without spans, running a program does not import OpenTelemetry at all."""
        import subprocess

        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "syncscope", "-q", "-c", "pass"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
            check=False,
        )
        assert 0 == result.returncode
        assert "opentelemetry" not in result.stderr


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    from syncscope._cli import _split as split

    return split(argv)


class TestInProcess:
    def test_install_and_uninstall_restore_the_hooks(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """install(spans=True) writes spans, and uninstall puts every hooked method back."""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        from opentelemetry.sdk.trace import TracerProvider

        import syncscope

        originals = (
            vars(threading.Thread)["start"],
            vars(ThreadPoolExecutor)["submit"],
            vars(TracerProvider)["shutdown"],
        )
        trace_file = tmp_path / "trace.json"
        # The flush waits for the worker: 5 s by default, which three suites at once on two
        # cores once outlasted (the file was left empty); this test is about the hooks.
        syncscope.install(
            lines=False,
            spans=True,
            exporter="none",
            jaeger_file=str(trace_file),
            flush_timeout=120,
        )
        lock = threading.Lock()
        with lock:
            pass
        assert vars(threading.Thread)["start"] is not originals[0]
        syncscope.uninstall()
        assert originals == (
            vars(threading.Thread)["start"],
            vars(ThreadPoolExecutor)["submit"],
            vars(TracerProvider)["shutdown"],
        )
        written = trace_file.read_text()
        assert written, capfd.readouterr().err  # the exit line says why nothing was written
        (trace,) = json.loads(written)["data"]
        names = sorted(span["operationName"] for span in trace["spans"])
        assert ["Lock.acquire lock", "Lock.hold lock", "run ", "thread MainThread"] == [
            name if not name.startswith("run ") else "run " for name in names
        ]

    def test_an_import_failing_once_with_the_ast_depth_error_does_not_turn_spans_off(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        CPython 3.11 shares the AST builder's recursion depth between threads: the worker's
        imports failed with "AST constructor recursion depth mismatch" once in a suite run
        while the program's thread named its first lock, and the spans were off for the run.
        The worker imports once more.
        """
        import threading

        import syncscope
        from syncscope._sinks.spans import send

        imports, failed = send._imports, []

        def fails_once(options: Any) -> None:
            if not failed:
                failed.append(True)
                raise SystemError("AST constructor recursion depth mismatch (before=36, after=125)")
            imports(options)

        monkeypatch.setattr(send, "_imports", fails_once)
        trace_file = tmp_path / "trace.json"
        syncscope.install(
            lines=False, spans=True, exporter="none", jaeger_file=str(trace_file), flush_timeout=120
        )
        lock = threading.Lock()
        with lock:
            pass
        syncscope.uninstall()
        assert failed
        assert "spans are off" not in capfd.readouterr().err
        (trace,) = json.loads(trace_file.read_text())["data"]
        assert "Lock.hold lock" in {span["operationName"] for span in trace["spans"]}

    def test_bad_arguments_raise_before_patching(self) -> None:
        """A bad span argument is a ValueError, and nothing is installed."""
        import syncscope

        with pytest.raises(ValueError, match="unsupported trace exporter 'zipkin'"):
            syncscope.install(spans=True, exporter="zipkin")
        with pytest.raises(ValueError, match="bad flush_timeout"):
            syncscope.install(spans=True, exporter="none", flush_timeout=-1)
        assert not syncscope.is_installed()

    def test_program_logging_stays_on_the_installing_thread(self) -> None:
        """Only syncscope's own threads are silenced: the program's loggers work on its own."""
        import logging

        import syncscope

        syncscope.install(
            lines=False,
            spans=True,
            exporter="otlp",
            endpoint=f"http://127.0.0.1:{_free_port()}",
            protocol="http/protobuf",
            flush_timeout=0.1,
        )
        try:
            logger = logging.getLogger("opentelemetry.sdk.trace")
            assert "isEnabledFor" in vars(logger)  # quieted for syncscope's threads
            assert logger.isEnabledFor(logging.WARNING)  # yet not for this one
        finally:
            syncscope.uninstall()
        # Threads that ended take their ident out: a program's new thread may be given it.
        assert span_workers.our_threads <= set(sys._current_frames())

    def test_report_time_ends_before_the_flush(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The recorders being closed stop their clock when the spans' flush begins."""
        import syncscope
        from syncscope._core.state import state
        from syncscope._sinks.recorder import Recorder

        closed_at: list[int] = []
        close = _spans.SpanSink.close

        def close_and_note(sink: _spans.SpanSink) -> None:
            close(sink)
            closed_at.append(time.perf_counter_ns())

        monkeypatch.setattr(_spans.SpanSink, "close", close_and_note)
        syncscope.install(lines=False, spans=True, exporter="none", stats=True)
        [first] = [s for s in state.sinks if isinstance(s, Recorder)]
        syncscope.install(lines=False, spans=True, exporter="none", stats=True)  # a re-install
        [second] = [s for s in state.sinks if isinstance(s, Recorder)]
        assert first.stopped_ns is not None and first.stopped_ns < closed_at[0]
        assert second.stopped_ns is None  # the new one's run goes on
        syncscope.uninstall()
        assert second.stopped_ns is not None and second.stopped_ns < closed_at[1]

    def test_per_primitive_memory_is_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Last holds and signals of many short-lived primitives: the oldest are forgotten."""
        import threading

        import syncscope
        from syncscope._core.state import state
        from syncscope._core.tracking import primitive_of

        monkeypatch.setattr(span_pairing, "MAX_REMEMBERED", 50)
        syncscope.install(lines=False, spans=True, exporter="none")
        try:
            [sink] = [s for s in state.sinks if isinstance(s, _spans.SpanSink)]
            for _ in range(200):
                lock = threading.Lock()
                with lock:
                    pass
                event = threading.Event()
                event.set()
            with sink._lock:  # what the worker would do next: pair the events up
                sink._pair_waiting()
            pairing = sink._pairing
            assert 50 == len(pairing._last_hold) == len(pairing._signals)
            newest = primitive_of(event)
            assert newest is not None and newest.id in pairing._signals  # still there to link to
        finally:
            syncscope.uninstall()
