"""
Peak memory of a program doing many lock operations with span export on: does syncscope's
memory stay bounded when spans are produced faster than they are sent, or not sent at all?

    python benchmarks/memory.py                     # 10,000,000 operations
    python benchmarks/memory.py --ops 1000000 --json out.json

An operation is one Lock acquire or one Lock release: the default 10,000,000 operations are
5,000,000 acquire+release pairs, made by two threads, each on its own lock
(benchmarks/workloads/lock_loop.py). The program prints its own peak RSS at its end: VmHWM
from /proc/self/status, since Linux's getrusage ru_maxrss (also printed, in the JSON) starts
from the RSS of the parent that started the process, this script; elsewhere ru_maxrss. This
script also samples the process's RSS every 0.2 s from outside until it exits (with psutil,
else /proc/PID/status), which covers the flush at exit too; a run shorter than a sample
interval is missed. MB here are 2**20 bytes.

Runs: plain python; syncscope without spans (what importing and running syncscope costs by
itself); syncscope exporting spans over OTLP/HTTP to a live receiver in another process; and
the same to a dead endpoint (nothing listens on port 9), with a 1 s flush timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "workloads" / "lock_loop.py"
SYNCSCOPE = [sys.executable, "-m", "syncscope", "-q", "--no-report"]
HTTP = ["--protocol", "http/protobuf"]
DEAD_ENDPOINT = "http://127.0.0.1:9"
SAMPLE_EVERY = 0.2


@dataclass
class Result:
    run: str
    seconds: float | None = None
    peak_kb: int | None = None
    sampled_kb: int | None = None
    maxrss_kb: int | None = None
    error: str | None = None
    stderr_last: str = ""
    spans_received: int | None = None


def rss_sampler() -> Callable[[int], int | None]:
    """A function giving a process's current RSS in kB, or None once it is gone."""
    try:
        import psutil
    except ImportError:
        psutil = None

    def with_psutil(pid: int) -> int | None:
        try:
            return int(psutil.Process(pid).memory_info().rss // 1024)
        except psutil.Error:
            return None

    def with_proc(pid: int) -> int | None:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else None

    return with_psutil if psutil is not None else with_proc


def measure(run: str, command: list[str], timeout: float) -> Result:
    result = Result(run)
    sample = rss_sampler()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        # Output to files, not pipes: nobody reads a pipe while this loop samples.
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        sampled = 0
        while True:
            try:
                process.wait(timeout=SAMPLE_EVERY)  # returns as soon as it exits
                break
            except subprocess.TimeoutExpired:
                pass
            if time.perf_counter() - start > timeout:
                process.kill()
                process.wait()
                result.error = f"timeout {timeout:g} s"
                return result
            # Not before the first interval: until exec, the process is a copy of this one.
            sampled = max(sampled, sample(process.pid) or 0)
        result.seconds = time.perf_counter() - start
        result.sampled_kb = sampled or None
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = stderr.strip().splitlines()
    result.stderr_last = lines[-1] if lines else ""
    if process.returncode != 0:
        result.error = f"exit {process.returncode}"
        return result
    match = re.search(r"peak RSS (\d+) kB", stdout)
    if match is None:
        result.error = "no peak RSS in the output"
    else:
        result.peak_kb = int(match.group(1))
    match = re.search(r"ru_maxrss (\d+) kB", stdout)
    result.maxrss_kb = int(match.group(1)) if match else result.peak_kb
    return result


def mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument(
        "--ops",
        type=int,
        default=10_000_000,
        help="lock operations, an acquire or a release each (default 10,000,000)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before a run is killed (default 900)"
    )
    args = parser.parse_args()
    program = [str(PROGRAM), str(args.ops)]

    sys.path.insert(0, str(HERE))  # for _receiver, also when run from elsewhere
    from _receiver import Receiver

    results = [measure("python", [sys.executable, *program], args.timeout)]
    results.append(measure("syncscope -q, no spans", [*SYNCSCOPE, *program], args.timeout))
    with Receiver(count_spans=True) as receiver:
        command = [*SYNCSCOPE, f"--otlp={receiver.endpoint}", *HTTP, *program]
        live = measure("spans, live receiver", command, args.timeout)
        live.spans_received = receiver.spans
    results.append(live)
    command = [*SYNCSCOPE, f"--otlp={DEAD_ENDPOINT}", *HTTP, "--flush-timeout", "1", *program]
    results.append(measure("spans, dead endpoint", command, args.timeout))

    plain_kb = results[0].peak_kb
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.ops:,} lock operations ({args.ops // 2:,} acquire+release pairs), 2 threads"
    )
    header = f"{'run':<24}{'peak RSS MB':>12}{'over plain':>12}{'sampled MB':>12}{'seconds':>10}"
    print(header)
    for result in results:
        if result.error:
            print(f"{result.run:<24}{result.error:>12}")
            continue
        over = (
            f"{(result.peak_kb - plain_kb) / 1024:+.1f}"
            if result.peak_kb is not None and plain_kb is not None
            else "-"
        )
        print(
            f"{result.run:<24}{mb(result.peak_kb):>12}{over:>12}{mb(result.sampled_kb):>12}"
            f"{result.seconds:>10.2f}"
        )
    for result in results[1:]:
        print(f"{result.run}: stderr's last line: {result.stderr_last or '(none)'}")
        if result.spans_received is not None:
            print(f"{result.run}: the receiver got {result.spans_received:,} spans")

    if args.json:
        data: dict[str, Any] = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "ops": args.ops,
            "results": {
                result.run: {
                    "seconds": None if result.seconds is None else round(result.seconds, 2),
                    "peak_rss_kb": result.peak_kb,
                    "sampled_rss_kb": result.sampled_kb,
                    "ru_maxrss_kb": result.maxrss_kb,
                    "over_plain_kb": (
                        result.peak_kb - plain_kb
                        if result.peak_kb is not None and plain_kb is not None
                        else None
                    ),
                    "error": result.error,
                    "stderr_last": result.stderr_last,
                    "spans_received": result.spans_received,
                }
                for result in results
            },
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
