"""
Start-up cost: how much later a program's first line runs under ``python -m syncscope``, and
how much longer a program that does nothing takes, than under plain ``python``.

    python benchmarks/startup.py                  # best of 20 runs each
    python benchmarks/startup.py --repeat 50 --json out.json

Each runner runs ``-c CODE`` as a subprocess, where CODE prints the wall-clock time at which
the program's code started (``time.time_ns()``, nothing imported). Two figures per runner,
each the best of ``--repeat`` runs (the runners take turns within each repeat, so machine noise
hits them alike): *start*, from just before the process is spawned to the program's first
line; *total*, the whole process, exit included (the report, flushing spans). Both are also
given as milliseconds over plain ``python``, measured in the same run.

``--instructions`` also counts, once per runner under callgrind, the instructions of the whole
process (*Mtotal*) and of a run whose program ends at its first line (*Mstart*: the program is
``posix._exit(0)``), in millions: the figures to trust on a busy machine.

``PYTHONDONTWRITEBYTECODE`` is unset for the runs: without ``.pyc`` files every import would
be compiled again each time, which is not what a user's start-up costs. A first untimed run of
each runner writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
CODE = "import time; print(time.time_ns())"
#: For --instructions' count to the first line: the program ends there, at once (posix._exit:
#: no exit handler runs, not even the one syncscope puts on os._exit to flush spans).
FIRST_LINE_CODE = "import posix; posix._exit(0)"
#: For the runners whose program makes spans: one use of a Lock, then the same line.
LOCK_CODE = "import threading, time; threading.Lock().acquire(); print(time.time_ns())"


def _dead_endpoint() -> str:
    """An endpoint nothing listens on: a loopback port just bound and closed again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _runners(live: dict[str, str]) -> dict[str, list[str]]:
    python = [sys.executable]
    syncscope = [sys.executable, "-m", "syncscope"]
    runners = {
        "python": python,
        "syncscope -q": [*syncscope, "-q"],
        "syncscope (lines)": syncscope,
        "syncscope --format json": [*syncscope, "--format", "json"],
        "syncscope -q --otlp dead": [*syncscope, "-q", f"--otlp={_dead_endpoint()}"],
    }
    for protocol, endpoint in live.items():
        short = "grpc" if protocol == "grpc" else "http"
        otlp = [*syncscope, "-q", f"--otlp={endpoint}", "--protocol", protocol]
        runners[f"syncscope -q --otlp {short}"] = otlp
        # A program that makes spans: the run waits at exit for them to be sent.
        runners[f"  ... one Lock, {short}"] = [*otlp, "-c", LOCK_CODE]
    return runners


def _with_code(command: list[str], code: str) -> list[str]:
    """The command with ``-c code``; a runner with code of its own keeps it, but for FIRST_LINE."""
    if "-c" not in command:
        return [*command, "-c", code]
    if code == CODE:
        return command
    return [*command[: command.index("-c")], "-c", code]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(ms to the program's first line, ms for the whole process, CPU ms of the process)."""
    cpu = _cpu()
    spawned = time.time_ns()
    started = time.perf_counter()
    result = subprocess.run(
        _with_code(command, CODE), check=False, env=env, capture_output=True, text=True, timeout=120
    )
    total = time.perf_counter() - started
    cpu = _cpu() - cpu
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed ({result.returncode}): {result.stderr.strip()}")
    first_line = int(result.stdout.split()[0])
    return (first_line - spawned) / 1e6, total * 1e3, cpu * 1e3


def _instructions(command: list[str], env: dict[str, str], code: str = CODE) -> int:
    """Instructions the whole process executes (all its threads), counted by callgrind."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                *_with_code(command, code),
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        with open(out, encoding="utf-8") as file:
            for line in file:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of each (best counts)")
    parser.add_argument("--no-live", action="store_true", help="skip the live OTLP receiver")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each runner's instructions once with callgrind (needs valgrind)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    receivers: dict[str, Any] = {}
    if not args.no_live:
        sys.path.insert(0, str(HERE))
        for protocol in ("grpc", "http/protobuf"):
            try:
                from _receiver import Receiver

                receivers[protocol] = Receiver(count_spans=False, protocol=protocol)
            except Exception as exc:  # no protobuf or gRPC: left out, and said so
                print(f"(no live {protocol} receiver: {exc})")
    try:
        runners = _runners({name: receiver.endpoint for name, receiver in receivers.items()})
        for command in runners.values():
            _run(command, env)  # writes the .pyc files; not timed
        best: dict[str, list[float]] = {name: [float("inf")] * 3 for name in runners}
        for _ in range(args.repeat):
            for name, command in runners.items():
                figures = _run(command, env)
                best[name] = [min(old, new) for old, new in zip(best[name], figures, strict=True)]
        counted: dict[str, int] = {}
        first: dict[str, int] = {}
        if args.instructions:
            if shutil.which("valgrind") is None:
                sys.exit("startup.py: --instructions needs valgrind")
            counted = {name: _instructions(command, env) for name, command in runners.items()}
            first = {
                name: _instructions(command, env, FIRST_LINE_CODE)
                for name, command in runners.items()
            }
    finally:
        for receiver in receivers.values():
            receiver.stop()

    plain = best["python"]
    print(f"best of {args.repeat}, Python {sys.version.split()[0]}; +: over plain python")
    header = (
        f"{'runner':<26} {'start ms':>9} {'+':>7} {'total ms':>9} {'+':>7} {'CPU ms':>7} {'+':>7}"
    )
    if counted:
        header += f" {'Mstart':>7} {'+':>7} {'Mtotal':>7} {'+':>7}"
    print(header)
    print("-" * len(header))
    table: dict[str, dict[str, float]] = {}
    for name, (start, total, cpu) in best.items():
        row = {
            "start_ms": start,
            "start_over_ms": start - plain[0],
            "total_ms": total,
            "total_over_ms": total - plain[1],
            "cpu_ms": cpu,
            "cpu_over_ms": cpu - plain[2],
        }
        line = (
            f"{name:<26} {start:>9.1f} {start - plain[0]:>+7.1f} {total:>9.1f} "
            f"{total - plain[1]:>+7.1f} {cpu:>7.0f} {cpu - plain[2]:>+7.0f}"
        )
        if counted:
            row["instructions"] = counted[name]
            row["instructions_to_first_line"] = first[name]
            over_first = (first[name] - first["python"]) / 1e6
            over = (counted[name] - counted["python"]) / 1e6
            line += f" {first[name] / 1e6:>7.1f} {over_first:>+7.1f}"
            line += f" {counted[name] / 1e6:>7.1f} {over:>+7.1f}"
        table[name] = row
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
