"""
End-to-end cost of running whole threaded programs under syncscope and under other tools, as
wall-clock ratios to plain python measured side by side in the same run.

    python benchmarks/endtoend.py                       # the table: workloads x runners
    python benchmarks/endtoend.py --quick               # one short run of each, to check
    python benchmarks/endtoend.py --workloads jobs --runners "syncscope -q,yappi"
    python benchmarks/endtoend.py --workloads primitives   # each other primitive, bound by it
    python benchmarks/endtoend.py --workloads programs     # more programs users run
    python benchmarks/endtoend.py --json out.json       # and the figures as JSON
    python benchmarks/endtoend.py --json benchmarks/baseline-endtoend.json   # new baseline
    python benchmarks/endtoend.py --baseline benchmarks/baseline-endtoend.json

Each workload in benchmarks/workloads/ runs as a subprocess under each runner; the time is the
whole process, from start to exit (interpreter start-up, the report, flushing spans or writing
a trace file or a profile included). Each figure is the best of --repeat runs; within a repeat
the runners take turns on each workload, starting one further along each time, so that machine
noise hits all of them alike.

``PYTHONDONTWRITEBYTECODE`` is unset for the runs, and a first untimed short run of each runner
writes the ``.pyc`` files: without them every run would compile the tools' Python sources again
(over 100 ms for syncscope's), which no installed copy pays.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
WORKLOAD_DIR = HERE / "workloads"

#: Workload -> the row's label. The first five are the table's rows by default.
WORKLOADS = {
    "one_lock": "4 threads, one Lock, nothing else",
    "counter": "4 threads, 200,000 counted increments",
    "jobs": "job queue, semaphore, results lock",
    "bounded_buffer": "bounded buffer on a Condition",
    "realistic": "short realistic program",
    "fanout": "ThreadPoolExecutor fan-out",
    "pipeline": "three-stage pipeline on Queue(100)s",
    "server": "request server: two queues, cache and counts locks",
    "lru_cache": "LRU cache on an RLock, 4 threads",
    "accounts": "a Lock per object: transfers between 100,000 accounts",
    "rlock_loop": "4 threads, one RLock taken twice over",
    "semaphore_loop": "4 threads, one BoundedSemaphore(2)",
    "queue_pingpong": "a Queue(16) between two threads",
    "simplequeue_pingpong": "a SimpleQueue between two threads",
    "priority_pingpong": "a PriorityQueue(16) between two threads",
    "condition_turns": "two threads taking turns on a Condition",
    "event_turns": "two threads taking turns with two Events",
    "barrier_phases": "four threads working in phases on a Barrier",
    "trylock": "4 threads polling 8 Locks with acquire(False)",
    "timed": "timed acquire, wait and get, as libraries write them",
    "broadcast": "a Condition broadcast to eight waiters, in rounds",
}
DEFAULT_WORKLOADS = ("one_lock", "counter", "jobs", "bounded_buffer", "realistic")
#: Names that stand for several workloads in --workloads: the default rows, more programs of
#: the kinds users run, and a workload bound by each other primitive alone.
WORKLOAD_GROUPS = {
    "default": DEFAULT_WORKLOADS,
    "programs": (
        "fanout",
        "pipeline",
        "server",
        "lru_cache",
        "accounts",
        "trylock",
        "timed",
        "broadcast",
    ),
    "primitives": (
        "rlock_loop",
        "semaphore_loop",
        "queue_pingpong",
        "simplequeue_pingpong",
        "priority_pingpong",
        "condition_turns",
        "event_turns",
        "barrier_phases",
    ),
}
SYNCSCOPE = [sys.executable, "-m", "syncscope"]


def ddtrace_env(capture_pct: int, tmp: Path) -> dict[str, str]:
    """ddtrace's lock profiler alone, its profile written to a file, nothing sent anywhere."""
    return {
        "DD_PROFILING_ENABLED": "true",
        "DD_PROFILING_LOCK_ENABLED": "true",
        "DD_PROFILING_CAPTURE_PCT": str(capture_pct),
        "DD_PROFILING_STACK_ENABLED": "false",
        "DD_PROFILING_MEMORY_ENABLED": "false",
        "DD_PROFILING_HEAP_ENABLED": "false",
        "DD_PROFILING_EXCEPTION_ENABLED": "false",
        # Written at exit (and every 60 s) as out.PID.N.pprof instead of uploaded.
        "DD_PROFILING_OUTPUT_PPROF": str(tmp / "out"),
        # No tracer, and none of the products ddtrace-run starts beside the profiler (symbol
        # upload, code origin, feature flags, telemetry, remote configuration, crash tracking).
        "DD_TRACE_ENABLED": "false",
        "DD_SYMBOL_DATABASE_UPLOAD_ENABLED": "false",
        "DD_CODE_ORIGIN_FOR_SPANS_ENABLED": "false",
        "DD_EXPERIMENTAL_FLAGGING_PROVIDER_ENABLED": "false",
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_CRASHTRACKING_ENABLED": "false",
        # What still asks the agent for its /info asks a socket that does not exist, rather
        # than localhost:8126.
        "DD_TRACE_AGENT_URL": f"unix://{tmp / 'no-agent.sock'}",
    }


@dataclass
class Runner:
    name: str
    #: The column's heading.
    label: str
    #: Distributions that must be installed for this runner to run.
    needs: tuple[str, ...]
    #: Whether the runner exports spans to the receiver.
    spans: bool = False
    #: A file (glob pattern in the run's directory) the runner must leave, not empty: what it
    #: wrote. Its size goes into the JSON.
    writes: str | None = None
    #: A file in the run's directory that the program's standard error goes to (``2> FILE``),
    #: instead of a pipe this script drains.
    stderr_to: str | None = None

    def command(
        self, workload: Path, scale: str, tmp: Path, endpoint: str, protocol: str = "grpc"
    ) -> tuple[list[str], dict[str, str]]:
        """The full command line, and what it adds to the environment."""
        program = [str(workload), scale]
        match self.name:
            case "python":
                return [sys.executable, *program], {}
            case "syncscope stats":
                # Statistics only (counts, wait and hold times) and the report at exit. Not
                # --no-report: with neither report nor checks, nothing would listen.
                return [*SYNCSCOPE, "-q", "--no-deadlock-detection", *program], {}
            case "syncscope -q":
                # The runner's quiet default: statistics, report, deadlock and order checks.
                return [*SYNCSCOPE, "-q", *program], {}
            case "syncscope lines":
                # The runner's default (a line per operation, deadlock and order checks, no
                # report), the lines going to a file rather than to a terminal.
                return [*SYNCSCOPE, "-o", str(tmp / "lines.log"), *program], {}
            case "syncscope lines to stderr" | "syncscope lines 2> file":
                # The runner's default as a user first runs it: each line written at once to
                # standard error, here a pipe this script drains, as a terminal or `| tee` is.
                return [*SYNCSCOPE, *program], {}
            case "syncscope json":
                json_lines = ["--format", "json", "-o", str(tmp / "lines.log")]
                return [*SYNCSCOPE, *json_lines, *program], {}
            case "syncscope spans":
                # Every span exported, nothing else; flushed before the process exits.
                otlp = [f"--otlp={endpoint}", "--protocol", protocol]
                quiet = ["-q", "--no-report", "--no-deadlock-detection"]
                return [*SYNCSCOPE, *quiet, *otlp, *program], {}
            case "syncscope -q spans":
                # `-q --otlp`, as a user adds spans to the quiet default: the report and the
                # deadlock and order checks listen beside the spans.
                otlp = [f"--otlp={endpoint}", "--protocol", protocol]
                return [*SYNCSCOPE, "-q", *otlp, *program], {}
            case "viztracer":
                # viztracer traces every thread by default; its circular buffer keeps the last
                # 1,000,000 entries (--tracer_entries), so the file it writes is bounded.
                out = str(tmp / "out.json")
                return [sys.executable, "-m", "viztracer", "--quiet", "-o", out, *program], {}
            case "yappi":
                # yappi profiles all threads unless -s, with the CPU clock by default.
                return [sys.executable, "-m", "yappi", "-o", str(tmp / "out"), *program], {}
            case "ddtrace 1%" | "ddtrace 100%":
                # ddtrace-run, as a user starts it; it puts its bootstrap on PYTHONPATH and
                # execs the python it finds for the first argument.
                run = "from ddtrace.commands.ddtrace_run import main; main()"
                capture_pct = 1 if self.name == "ddtrace 1%" else 100
                command = [sys.executable, "-c", run, sys.executable, *program]
                return command, ddtrace_env(capture_pct, tmp)
        raise ValueError(self.name)


RUNNERS = (
    Runner("python", "python", ()),
    Runner("syncscope stats", "stats", ("syncscope",)),
    Runner("syncscope -q", "-q", ("syncscope",)),
    Runner("syncscope lines", "lines", ("syncscope",), writes="lines.log"),
    Runner("syncscope lines to stderr", "lines to stderr", ("syncscope",)),
    Runner(
        "syncscope lines 2> file",
        "lines, 2> file",
        ("syncscope",),
        writes="stderr.log",
        stderr_to="stderr.log",
    ),
    Runner("syncscope json", "json", ("syncscope",), writes="lines.log"),
    Runner(
        "syncscope spans",
        "spans",
        ("syncscope", "opentelemetry-exporter-otlp-proto-http", "opentelemetry-proto"),
        spans=True,
    ),
    Runner(
        "syncscope -q spans",
        "-q + spans",
        ("syncscope", "opentelemetry-exporter-otlp-proto-http", "opentelemetry-proto"),
        spans=True,
    ),
    Runner("viztracer", "VizTracer", ("viztracer",), writes="out.json"),
    Runner("yappi", "yappi", ("yappi",), writes="out"),
    Runner("ddtrace 1%", "ddtrace lock 1%", ("ddtrace",), writes="out.*.pprof"),
    Runner("ddtrace 100%", "ddtrace lock 100%", ("ddtrace",), writes="out.*.pprof"),
)


@dataclass
class Cell:
    """All runs of one workload under one runner."""

    seconds: list[float] = field(default_factory=list)
    error: str | None = None
    #: Spans the receiver got during the fastest run, and syncscope's last word on them.
    spans_received: int | None = None
    span_note: str | None = None
    #: Bytes of the file the runner wrote, in the fastest run.
    output_bytes: int | None = None

    @property
    def best(self) -> float | None:
        return None if self.error or not self.seconds else min(self.seconds)

    def ratio(self, plain: Cell | None) -> float | None:
        best, base = self.best, plain.best if plain is not None else None
        return best / base if best is not None and base else None


def version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    # An OTEL_* or DD_* variable in the caller's environment would switch spans or a profiler
    # on in runs that are meant to have none, or send what they make elsewhere; without
    # PYTHONDONTWRITEBYTECODE, the .pyc files are written once and read afterwards.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "DD_", "DATADOG_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    return env | extra


def last_syncscope_line(stderr: str) -> str | None:
    lines = [line for line in stderr.splitlines() if line.startswith("syncscope:")]
    return lines[-1] if lines else None


def run_once(
    runner: Runner,
    workload: str,
    args: argparse.Namespace,
    receiver: Any,
    expected: dict[str, str],
    cell: Cell,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = receiver.endpoint if receiver is not None else ""
        command, env = runner.command(
            WORKLOAD_DIR / f"{workload}.py", str(args.scale), Path(tmp), endpoint, args.protocol
        )
        spans_before = receiver.spans if runner.spans else 0
        stderr_to = Path(tmp) / runner.stderr_to if runner.stderr_to else None
        with contextlib.ExitStack() as files:
            stderr = files.enter_context(stderr_to.open("w")) if stderr_to else subprocess.PIPE
            start = time.perf_counter()
            try:
                # cwd: anything a tool writes next to itself lands in the temporary directory.
                done = subprocess.run(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    timeout=args.timeout,
                    cwd=tmp,
                    env=clean_env(env),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                cell.error = f"timeout {args.timeout:g} s"
                return
            seconds = time.perf_counter() - start
        if stderr_to is not None:
            done.stderr = stderr_to.read_text(errors="replace")
        written = sorted(Path(tmp).glob(runner.writes)) if runner.writes else []
        output_bytes = sum(path.stat().st_size for path in written)
    output = done.stdout.strip().splitlines()
    result = output[-1] if output else ""
    if done.returncode != 0:
        cell.error = f"exit {done.returncode}"
        tail = done.stderr.strip().splitlines()[-3:]
        print(f"  {workload} under {runner.name} failed:", *tail, sep="\n    ", file=sys.stderr)
        return
    # Every workload prints one deterministic line: a tool that changes it broke the program.
    if expected.setdefault(workload, result) != result:
        cell.error = "wrong output"
        print(f"  {workload} under {runner.name} printed {result!r}", file=sys.stderr)
        return
    # A tool that wrote nothing did not do what it is measured for.
    if runner.writes and not output_bytes:
        cell.error = "wrote nothing"
        print(f"  {workload} under {runner.name} left no {runner.writes}", file=sys.stderr)
        return
    fastest = cell.best is None or seconds < cell.best
    if fastest:
        if runner.spans:
            cell.spans_received = receiver.spans - spans_before
            cell.span_note = last_syncscope_line(done.stderr) or "syncscope: no span lost"
        if runner.writes:
            cell.output_bytes = output_bytes
    cell.seconds.append(seconds)


def warm_up(runners: list[Runner], workload: str, args: argparse.Namespace, receiver: Any) -> None:
    """One short untimed run of each runner: it writes the .pyc files the timed runs read."""
    short = argparse.Namespace(**{**vars(args), "scale": 0.01})
    for runner in runners:
        run_once(runner, workload, short, receiver, {}, Cell())


def format_figures(name: str, figures: dict[str, Any] | None) -> str:
    if figures is None:
        return "skipped"
    if figures.get("error"):
        return str(figures["error"])
    if name == "python":
        return "-" if figures["seconds"] is None else f"{figures['seconds']:.2f} s"
    return "-" if figures["ratio"] is None else f"{figures['ratio']:.1f}x"


def shown_runners(data: dict[str, Any]) -> list[Runner]:
    """The runners of a run, measured or skipped, in the table's order."""
    names = set(data["skipped"])
    for row in data["results"].values():
        names.update(row)
    return [runner for runner in RUNNERS if runner.name in names]


def print_results(data: dict[str, Any]) -> None:
    """The table of a run, from its JSON figures (a run just made or a saved one)."""
    before, after = data.get("load_before"), data.get("load_after")
    load = f", load {before[0]:g} before, {after[0]:g} after" if before and after else ""
    print(
        f"python {data['python']}, {data['cpus']} CPUs{load}; "
        f"whole process, best of {data['repeat']}, scale {data['scale']:g}: "
        "plain python's seconds, then each runner's time as a multiple of it"
    )
    if data.get("note"):
        print(data["note"])
    shown = shown_runners(data)
    rows = []
    for workload, row in data["results"].items():
        cells = [format_figures(runner.name, row.get(runner.name)) for runner in shown]
        rows.append([data["workloads"].get(workload, workload), *cells])
    print_table(["workload", *(runner.label for runner in shown)], rows)
    for workload, row in data["results"].items():
        for runner in shown:
            spans = row.get(runner.name) or {}
            if runner.spans and spans.get("spans_received") is not None:
                print(
                    f"{runner.name}, {workload}: {spans['spans_received']:,} spans received; "
                    f"{spans['span_note']}"
                )
    for name, why in data["skipped"].items():
        print(f"{name}: skipped, {why}")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, its columns aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        aligned = [f"{first:<{widths[0]}}"]
        aligned += [f"{cell:>{width}}" for cell, width in zip(rest, widths[1:], strict=True)]
        return "| " + " | ".join(aligned) + " |"

    print(line(header))
    print("| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |")
    for row in rows:
        print(line(row))


def load_average() -> list[float] | None:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str | None:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or None
    models = [line for line in cpuinfo.splitlines() if line.startswith("model name")]
    return models[0].split(":", 1)[1].strip() if models else None


def git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--baseline", metavar="FILE", help="a saved --json run to compare each ratio with"
    )
    parser.add_argument(
        "--show", metavar="FILE", help="print the table of a saved --json run, and run nothing"
    )
    parser.add_argument(
        "--note", help="a word on the machine or its load, kept in the JSON and printed"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument(
        "--workloads",
        default=",".join(DEFAULT_WORKLOADS),
        help=f"comma-separated, from {','.join(WORKLOADS)}, or a group: default (the first"
        " five), programs (more programs of the kinds users run), primitives (each other primitive"
        " alone)",
    )
    parser.add_argument(
        "--runners",
        default=",".join(runner.name for runner in RUNNERS),
        help="comma-separated runner names (default: all; python always runs)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="passed to each workload")
    parser.add_argument(
        "--protocol",
        choices=("grpc", "http/protobuf"),
        default="grpc",
        help="OTLP protocol of the spans runner (default: grpc, as --otlp's default endpoint)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="--repeat 1 --scale 0.1: to check that all run"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="syncscope watches the standard library's primitives too (its --all)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before a run is killed (default 900)"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.scale = 1, 0.1
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    # Each once, in the order first named ("default,one_lock" runs one_lock once).
    args.workloads = list(
        dict.fromkeys(each for name in names for each in WORKLOAD_GROUPS.get(name, (name,)))
    )
    for name in args.workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    args.runners = {name.strip() for name in args.runners.split(",")} | {"python"}
    unknown = args.runners - {runner.name for runner in RUNNERS}
    if unknown:
        parser.error(f"unknown runner {sorted(unknown)}")
    return args


def main() -> None:
    args = parse_args()
    if args.show:
        print_results(json.loads(Path(args.show).read_text()))
        return
    if args.all:
        SYNCSCOPE.append("--all")
    workloads: list[str] = args.workloads
    runners: list[Runner] = []
    skipped: dict[str, str] = {}
    for runner in RUNNERS:
        if runner.name not in args.runners:
            continue
        missing = [name for name in runner.needs if version(name) is None]
        if missing:
            skipped[runner.name] = f"{missing[0]} is not installed"
        else:
            runners.append(runner)

    receiver = None
    if any(runner.spans for runner in runners):
        sys.path.insert(0, str(HERE))  # for _receiver, also when run from elsewhere
        from _receiver import Receiver

        receiver = Receiver(count_spans=True, protocol=args.protocol)

    load_before = load_average()
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    cells = {workload: {runner.name: Cell() for runner in runners} for workload in workloads}
    expected: dict[str, str] = {}
    try:
        warm_up(runners, workloads[0], args, receiver)
        for repeat in range(args.repeat):
            for workload in workloads:
                turn = repeat % len(runners)
                for runner in runners[turn:] + runners[:turn]:
                    cell = cells[workload][runner.name]
                    if cell.error:  # failed once: a figure from the other runs would mislead
                        continue
                    run_once(runner, workload, args, receiver, expected, cell)
                    took = f"{cell.seconds[-1]:.2f} s" if not cell.error else cell.error
                    print(
                        f"[{repeat + 1}/{args.repeat}] {workload:<15} {runner.name:<16} {took}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if receiver is not None:
            receiver.stop()
    load_after = load_average()

    data = results_json(args, cells, skipped, started, load_before, load_after)
    print_results(data)
    if args.baseline:
        compare(json.loads(Path(args.baseline).read_text()), data)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


def results_json(
    args: argparse.Namespace,
    cells: dict[str, dict[str, Cell]],
    skipped: dict[str, str],
    started: str,
    load_before: list[float] | None,
    load_after: list[float] | None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workload, row in cells.items():
        results[workload] = {}
        for name, cell in row.items():
            best, ratio = cell.best, cell.ratio(row["python"])
            figures: dict[str, Any] = {
                "seconds": None if best is None else round(best, 3),
                "ratio": None if ratio is None else round(ratio, 2),
                "runs": [round(seconds, 3) for seconds in cell.seconds],
            }
            if cell.error:
                figures["error"] = cell.error
            if cell.spans_received is not None:
                figures["spans_received"] = cell.spans_received
                figures["span_note"] = cell.span_note
            if cell.output_bytes is not None:
                figures["output_bytes"] = cell.output_bytes
            results[workload][name] = figures
    tools = ("syncscope", "viztracer", "yappi", "ddtrace", "opentelemetry-sdk")
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "note": args.note,
        # 1, 5 and 15 minute load averages: a figure taken under load says so.
        "load_before": load_before,
        "load_after": load_after,
        "started": started,
        "commit": git_commit(),
        "versions": {tool: version(tool) for tool in tools},
        "repeat": args.repeat,
        "scale": args.scale,
        "all": args.all,
        "protocol": args.protocol,
        "workloads": {workload: WORKLOADS[workload] for workload in cells},
        "results": results,
        "skipped": skipped,
    }


def compare(saved: dict[str, Any], now: dict[str, Any]) -> None:
    """Each ratio now beside the saved one, as now/saved (above 1: slower than then)."""
    print(
        f"\nagainst the baseline (python {saved.get('python')}, load {saved.get('load_before')}, "
        f"scale {saved.get('scale')}): ratio now / ratio then"
    )
    if saved.get("note"):
        print(f"the baseline's note: {saved['note']}")
    if (saved.get("scale"), saved.get("all")) != (now["scale"], now["all"]):
        print(
            f"not alike: scale {now['scale']:g} now, {saved.get('scale')} then; --all "
            f"{now['all']} now, {saved.get('all')} then: fixed costs weigh differently"
        )
    shown = shown_runners(now)
    header = ["workload", *(runner.label for runner in shown[1:])]
    rows = []
    for workload, row in now["results"].items():
        then = saved.get("results", {}).get(workload, {})
        cells = []
        for runner in shown[1:]:
            new = row.get(runner.name, {}).get("ratio")
            old = then.get(runner.name, {}).get("ratio")
            cells.append(f"{new / old:.2f}" if new and old else "-")
        rows.append([WORKLOADS[workload], *cells])
    print_table(header, rows)


if __name__ == "__main__":
    main()
