"""
Sustained span export: a program makes spans at a steady rate for a while, syncscope exports
them over OTLP/HTTP to a receiver in another process, and we count what arrived.

    python benchmarks/export_rate.py       # 20,000, 40,000 and 80,000 spans/s, 10 s each
    python benchmarks/export_rate.py --rates 30000 --seconds 20 --json out.json

The program (run under ``python -m syncscope``) paces Lock acquire+release pairs, two spans
each (the acquire and the hold), in 10 ms steps. The table gives the rate asked for, the rate
made, the spans the receiver got, and what syncscope said it lost (its line at exit); "no
drops" holds when the receiver got every span made.
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
from pathlib import Path
from typing import Any

from _receiver import Receiver


PROGRAM = """\
import sys, threading, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
lock = threading.Lock()
pairs_per_step = max(int(rate / 2 / 100), 1)  # 10 ms steps, two spans a pair
steps = int(seconds * 100)
start = time.monotonic()
for step in range(steps):
    for _ in range(pairs_per_step):
        lock.acquire()
        lock.release()
    pause = start + (step + 1) / 100 - time.monotonic()
    if pause > 0:
        time.sleep(pause)
elapsed = time.monotonic() - start
print(f"made {steps * pairs_per_step * 2} spans in {elapsed:.2f} s")
"""


def run(rate: float, seconds: float, endpoint: str, program: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "syncscope",
        "-q",
        "--no-report",
        "--no-deadlock-detection",
        f"--otlp={endpoint}",
        "--protocol",
        "http/protobuf",
        str(program),
        str(rate),
        str(seconds),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds * 10 + 60, env=env, check=False
    )
    wall = time.monotonic() - started
    made = re.search(r"made (\d+) spans in ([\d.]+) s", done.stdout)
    lost_line = next(
        (line for line in done.stderr.splitlines() if line.startswith("syncscope:")), ""
    )
    return {
        "rate_asked": rate,
        "exit_status": done.returncode,
        "spans_made": int(made[1]) if made else None,
        "seconds": float(made[2]) if made else None,
        "wall_seconds": round(wall, 2),
        "syncscope_said": lost_line,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument(
        "--rates", default="20000,40000,80000", help="spans per second, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]

    results = []
    with tempfile.TemporaryDirectory() as directory:
        program = Path(directory) / "paced.py"
        program.write_text(PROGRAM)
        # The receiver's own span count ends each run: it answers before the exporter moves on.
        with Receiver(count_spans=True) as receiver:
            for rate in rates:
                before = receiver.spans
                result = run(rate, args.seconds, receiver.endpoint, program)
                # The flush ends before the process exits, so the count is complete here.
                result["spans_received"] = receiver.spans - before
                made, seconds = result["spans_made"], result["seconds"]
                result["rate_made"] = round(made / seconds) if made and seconds else None
                result["no_drops"] = made is not None and result["spans_received"] >= made
                results.append(result)

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {args.seconds:g} s a run")
    print(f"{'asked/s':>9} {'made/s':>9} {'made':>10} {'received':>10}  no drops  syncscope said")
    for r in results:
        print(
            f"{r['rate_asked']:>9,.0f} {r['rate_made'] or 0:>9,} {r['spans_made'] or 0:>10,} "
            f"{r['spans_received']:>10,}  {'yes' if r['no_drops'] else 'NO ':>8}  "
            f"{r['syncscope_said'] or '(nothing: no span lost)'}"
        )
    if args.json:
        report = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "results": results}
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)


if __name__ == "__main__":  # the receiver's process is spawned: it imports this module
    main()
