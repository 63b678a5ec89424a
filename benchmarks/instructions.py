"""
Instructions per operation, counted by callgrind: repeatable whatever else the machine does.

    python benchmarks/instructions.py [--iterations N]

Each mode runs a loop of N iterations (a Lock acquire+release, a ``with lock``, a Semaphore
acquire+release, a Queue put+get) under ``valgrind --tool=callgrind``, and once with no
iteration; the difference divided by N is what one iteration costs, printed beside its ratio
to the uninstrumented loop measured in the same run. The line modes write their lines to
``os.devnull`` (eight lines an iteration), and say what one line costs too. Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile


LOOP = """
import os, queue, sys, threading
mode, n = sys.argv[1], int(sys.argv[2])
import syncscope
options = {
    "bare": None,
    "nothing listening": dict(lines=False),
    "statistics only": dict(lines=False, stats=True),
    "-q (statistics and checks)": dict(lines=False, stats=True, detect_deadlocks=True),
    "console lines": dict(format="console", output=os.devnull),
    "json lines": dict(format="json", output=os.devnull),
    "logfmt lines": dict(format="logfmt", output=os.devnull),
}[mode]
if options is not None:
    syncscope.install(**options)
lock, sem, q = threading.Lock(), threading.Semaphore(), queue.Queue()
for _ in range(n):
    lock.acquire(); lock.release()
    with lock:
        pass
    sem.acquire(); sem.release()
    q.put(1); q.get()
if options is not None:
    syncscope.uninstall()
"""
MODES = (
    "bare",
    "nothing listening",
    "statistics only",
    "-q (statistics and checks)",
    "console lines",
    "json lines",
    "logfmt lines",
)
#: Lines an iteration writes in the line modes: two per acquire+release, two per put+get.
LINES_PER_ITERATION = 8


def instructions(script: str, mode: str, iterations: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                script,
                mode,
                str(iterations),
            ],
            check=True,
            capture_output=True,
        )
        with open(out, encoding="utf-8") as file:
            for line in file:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--modes", help="comma-separated modes to run (default: all)")
    args = parser.parse_args()
    modes = MODES if args.modes is None else tuple(args.modes.split(","))
    if "bare" not in modes:
        modes = ("bare", *modes)
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not installed")
    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "loop.py")
        with open(script, "w", encoding="utf-8") as file:
            file.write(LOOP)
        bare = None
        for mode in modes:
            start = instructions(script, mode, 0)
            per = (instructions(script, mode, args.iterations) - start) // args.iterations
            bare = bare or per
            text = f"  {mode:30} {per:>9,} instructions an iteration  {per / bare:6.2f}x"
            if mode.endswith(" lines"):
                extra = (per - bare) // LINES_PER_ITERATION
                text += f"  ({extra:,} more a line)"
            print(text)


if __name__ == "__main__":
    main()
