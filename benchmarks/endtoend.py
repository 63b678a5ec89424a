"""
End-to-end cost of running whole threaded programs under syncscope and under two profilers,
as wall-clock ratios to plain python measured in the same run.

    python benchmarks/endtoend.py                       # table on stdout
    python benchmarks/endtoend.py --repeat 1 --workloads jobs,fanout
    python benchmarks/endtoend.py --json out.json       # and the figures as JSON

Each workload in benchmarks/workloads/ runs as a subprocess under each runner; the time is the
whole process, from start to exit (interpreter start-up, the report, flushing spans or writing
a trace file included). Each figure is the best of --repeat runs, and the runners take turns
within each repeat so that machine noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import importlib.util
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
WORKLOADS = ("counter", "jobs", "bounded_buffer", "fanout")
SYNCSCOPE = [sys.executable, "-m", "syncscope", "-q"]


@dataclass
class Runner:
    name: str
    #: Modules that must be importable for this runner to run.
    needs: tuple[str, ...]
    #: Whether the runner exports spans to the receiver.
    spans: bool = False

    def command(self, workload: Path, scale: str, out_file: Path, endpoint: str) -> list[str]:
        """The full command line; ``out_file`` is where a profiler may write its output."""
        program = [str(workload), scale]
        match self.name:
            case "python":
                return [sys.executable, *program]
            case "syncscope stats":
                # Statistics only (counts, wait and hold times) and the report at exit. Not
                # --no-report: with neither report nor checks, nothing would listen.
                return [*SYNCSCOPE, "--no-deadlock-detection", *program]
            case "syncscope -q":
                # The runner's quiet default: statistics, report, deadlock and order checks.
                return [*SYNCSCOPE, *program]
            case "syncscope spans":
                # Every span exported, nothing else; flushed before the process exits.
                otlp = [f"--otlp={endpoint}", "--protocol", "http/protobuf"]
                return [*SYNCSCOPE, "--no-report", "--no-deadlock-detection", *otlp, *program]
            case "viztracer":
                # viztracer traces every thread by default; its circular buffer keeps the last
                # 1,000,000 entries (--tracer_entries), so the file it writes is bounded.
                out = str(out_file.with_suffix(".json"))
                return [sys.executable, "-m", "viztracer", "--quiet", "-o", out, *program]
            case "yappi":
                # yappi profiles all threads unless -s, with the CPU clock by default.
                return [sys.executable, "-m", "yappi", "-o", str(out_file), *program]
        raise ValueError(self.name)


RUNNERS = (
    Runner("python", ()),
    Runner("syncscope stats", ("syncscope",)),
    Runner("syncscope -q", ("syncscope",)),
    Runner(
        "syncscope spans",
        ("syncscope", "opentelemetry.exporter.otlp.proto.http", "opentelemetry.proto"),
        spans=True,
    ),
    Runner("viztracer", ("viztracer",)),
    Runner("yappi", ("yappi",)),
)


@dataclass
class Cell:
    """All runs of one workload under one runner."""

    seconds: list[float] = field(default_factory=list)
    error: str | None = None
    #: Spans the receiver got during the fastest run, and syncscope's last word on them.
    spans_received: int | None = None
    span_note: str | None = None

    @property
    def best(self) -> float | None:
        return None if self.error or not self.seconds else min(self.seconds)


def missing_module(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            return name
    return None


def clean_env() -> dict[str, str]:
    # An OTEL_* variable in the caller's environment would switch spans on or redirect them in
    # runs that are meant to have none, or send them elsewhere.
    return {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}


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
        command = runner.command(
            WORKLOAD_DIR / f"{workload}.py", str(args.scale), Path(tmp) / "out", endpoint
        )
        spans_before = receiver.spans if runner.spans else 0
        start = time.perf_counter()
        try:
            # cwd: anything a tool writes next to itself lands in the temporary directory.
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                cwd=tmp,
                env=clean_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            cell.error = f"timeout {args.timeout:g} s"
            return
        seconds = time.perf_counter() - start
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
    fastest = cell.best is None or seconds < cell.best
    if runner.spans and fastest:
        cell.spans_received = receiver.spans - spans_before
        cell.span_note = last_syncscope_line(done.stderr) or "syncscope: no span lost"
    cell.seconds.append(seconds)


def format_cell(cell: Cell | None, plain: Cell | None) -> str:
    if cell is None:
        return "skipped"
    if cell.error:
        return cell.error
    best = cell.best
    if best is None:
        return "-"
    base = plain.best if plain is not None else None
    ratio = f"{best / base:.1f}x" if base else "?"
    return f"{best:.2f} s {ratio:>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, from {','.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--runners",
        default=",".join(runner.name for runner in RUNNERS),
        help="comma-separated runner names (default: all; python always runs)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="passed to each workload")
    parser.add_argument(
        "--all",
        action="store_true",
        help="syncscope watches the standard library's primitives too (its --all)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before a run is killed (default 900)"
    )
    args = parser.parse_args()
    if args.all:
        SYNCSCOPE.append("--all")

    workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    for name in workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    wanted = {name.strip() for name in args.runners.split(",")} | {"python"}
    unknown = wanted - {runner.name for runner in RUNNERS}
    if unknown:
        parser.error(f"unknown runner {sorted(unknown)}")

    runners: list[Runner] = []
    skipped: dict[str, str] = {}
    for runner in RUNNERS:
        if runner.name not in wanted:
            continue
        missing = missing_module(runner.needs)
        if missing is not None:
            skipped[runner.name] = f"{missing} is not importable"
        else:
            runners.append(runner)

    receiver = None
    if any(runner.spans for runner in runners):
        sys.path.insert(0, str(HERE))  # for _receiver, also when run from elsewhere
        from _receiver import Receiver

        receiver = Receiver(count_spans=True)

    cells = {workload: {runner.name: Cell() for runner in runners} for workload in workloads}
    expected: dict[str, str] = {}
    try:
        for repeat in range(1, args.repeat + 1):
            for workload in workloads:
                for runner in runners:
                    cell = cells[workload][runner.name]
                    if cell.error:  # failed once: a figure from the other runs would mislead
                        continue
                    run_once(runner, workload, args, receiver, expected, cell)
                    took = f"{cell.seconds[-1]:.2f} s" if not cell.error else cell.error
                    print(
                        f"[{repeat}/{args.repeat}] {workload:<15} {runner.name:<16} {took}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if receiver is not None:
            receiver.stop()

    names = [runner.name for runner in RUNNERS if runner.name in wanted]
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"best of {args.repeat}, scale {args.scale:g}: seconds and slowdown vs python"
    )
    width = max(len(name) for name in [*workloads, "workload"])
    column = 18
    print(f"{'workload':<{width}}  " + "  ".join(f"{name:>{column}}" for name in names))
    for workload in workloads:
        plain = cells[workload].get("python")
        row = [format_cell(cells[workload].get(name), plain) for name in names]
        print(f"{workload:<{width}}  " + "  ".join(f"{cell:>{column}}" for cell in row))
    for workload in workloads:
        cell = cells[workload].get("syncscope spans")
        if cell is not None and cell.spans_received is not None:
            print(
                f"syncscope spans, {workload}: {cell.spans_received:,} spans received; "
                f"{cell.span_note}"
            )
    for name, why in skipped.items():
        print(f"{name}: skipped, {why}")

    if args.json:
        results: dict[str, Any] = {}
        for workload in workloads:
            plain_best = cells[workload]["python"].best
            results[workload] = {}
            for name, cell in cells[workload].items():
                best = cell.best
                figures: dict[str, Any] = {
                    "seconds": None if best is None else round(best, 3),
                    "ratio": round(best / plain_best, 2) if best and plain_best else None,
                    "runs": [round(seconds, 3) for seconds in cell.seconds],
                }
                if cell.error:
                    figures["error"] = cell.error
                if cell.spans_received is not None:
                    figures["spans_received"] = cell.spans_received
                    figures["span_note"] = cell.span_note
                results[workload][name] = figures
        data = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "repeat": args.repeat,
            "scale": args.scale,
            "results": results,
            "skipped": skipped,
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
