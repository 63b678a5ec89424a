"""
Who holds the GIL while a workload runs with spans: the program's own code, syncscope's
recording on the program's threads, syncscope's span worker (pairing, then building and
encoding), its sender, its start-up and exit. Sampled with py-spy's ``--gil`` (only the thread
holding the GIL is sampled), so the shares are of the time the interpreter was busy.

    python benchmarks/gil_share.py                         # realistic, jobs, bounded_buffer
    python benchmarks/gil_share.py --workloads jobs --mode -q --repeat 5

What it answers: how much a helper process for encoding and export could take off the
program's interpreter at most (the worker's building and the sender's shares), against what
stays on the program's threads whatever happens to the spans after they are recorded.

Needs py-spy (``pip install py-spy``) and the right to trace a child process (root, or
``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _receiver import Receiver  # benchmarks/ is the script's directory: on sys.path


HERE = Path(__file__).resolve().parent
SYNCSCOPE_DIR = "syncscope/"  # as py-spy prints paths
#: The shares, in the order printed, each with what marks a sample as its own (a file or a
#: function in its frames), looked for in this order; the last two are told apart otherwise.
SHARES = {
    "building, encoding spans": ("spans/build.py", "spans/otlp.py", "spans/segments.py"),
    "sending spans": ("spans/send.py", "spans/grpcsend.py", "spans/http2.py", "spans/post.py"),
    "pairing records into spans": ("spans/pairing.py", "spans/records.py", "spans/sink.py"),
    "deadlock and hang checks": ("_sinks/deadlock.py", "_sinks/hangs.py"),
    "start-up and exit": (),
    "recording, on the program's threads": (),
    "program's code": (),
}
MODES = {
    "spans": ["-q", "--no-report", "--no-deadlock-detection"],  # as endtoend's spans runner
    "-q": ["-q"],
}


def py_spy() -> str | None:
    """py-spy on PATH, or beside this python (a virtual environment not activated)."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def share_of(frames: list[str], workload: str) -> str:
    """Which share one sample (its frames, outermost first, thread header removed) is."""
    for share, marks in SHARES.items():
        if any(mark in frame for frame in frames for mark in marks):
            return share  # wherever it runs: a worker, the exit's flush, a program's thread
    if not any(workload in frame for frame in frames):  # not in the program: around it
        return "start-up and exit"
    innermost = frames[-1] if frames else ""
    return "recording, on the program's threads" if SYNCSCOPE_DIR in innermost else "program's code"


def sample(workload: str, mode: str, endpoint: str, rate: int) -> collections.Counter[str]:
    path = HERE / "workloads" / f"{workload}.py"
    spy = py_spy()
    assert spy is not None
    with tempfile.TemporaryDirectory(prefix="syncscope-gil-") as tmp:
        raw = Path(tmp) / "samples.txt"
        command = [sys.executable, "-m", "syncscope", *MODES[mode]]
        if mode == "spans":
            command += [f"--otlp={endpoint}", "--protocol", "grpc"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed copy has its .pyc files
        subprocess.run([*command, "-c", "pass"], env=env, check=True, capture_output=True)
        subprocess.run(
            [spy, "record", "--gil", "--threads", "-r", str(rate), "-f", "raw", "-o", str(raw),
             "--", *command, str(path)],
            env=env, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        shares: collections.Counter[str] = collections.Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")[1:]  # the first is the thread's header
            shares[share_of(frames, path.name)] += int(count)
        return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--workloads", default="realistic,jobs,bounded_buffer")
    parser.add_argument("--mode", choices=sorted(MODES), default="spans")
    parser.add_argument("--rate", type=int, default=1000, help="samples a second")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, samples summed")
    args = parser.parse_args()
    if py_spy() is None:
        sys.exit("gil_share.py: py-spy is not installed (pip install py-spy)")
    with Receiver(count_spans=True, protocol="grpc") as receiver:
        # The shares move from run to run (how many spans a run makes depends on its timing
        # against the span allowance): the samples of several runs are summed.
        rows = {
            name: sum(
                (sample(name, args.mode, receiver.endpoint, args.rate) for _ in range(args.repeat)),
                collections.Counter[str](),
            )
            for name in args.workloads.split(",")
        }
    print(
        f"share of GIL samples with {args.mode}, {args.repeat} runs each"
        f" ({sys.version.split()[0]}, py-spy --gil)"
    )
    print(f"| {'':<36} | " + " | ".join(f"{name:>14}" for name in rows) + " |")
    print(f"| {'-' * 36} | " + " | ".join("-" * 13 + ":" for _ in rows) + " |")
    for share in SHARES:
        cells = [f"{100 * row[share] / max(sum(row.values()), 1):13.1f}%" for row in rows.values()]
        print(f"| {share:<36} | " + " | ".join(cells) + " |")
    totals = [f"{sum(row.values()):>14,}" for row in rows.values()]
    print(f"| {'samples':<36} | " + " | ".join(totals) + " |")


if __name__ == "__main__":  # the receiver's process is spawned: it imports this module
    main()
