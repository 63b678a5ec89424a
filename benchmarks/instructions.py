"""
Instructions per operation, counted by callgrind: repeatable whatever else the machine does.

    python benchmarks/instructions.py [--iterations N] [--modes bare,statistics] [--jobs 2]

One process per mode runs, for each primitive's operation in turn, a loop of no iteration and
a loop of N iterations under ``valgrind --tool=callgrind``, each between two calls of
``os.getppid()``, at which callgrind writes out what it counted so far (``--dump-before``). The
difference of the two loops divided by N is what one iteration costs; it is printed beside its
ratio to the uninstrumented iteration (``bare``), counted the same way. Only operations made by
one thread are counted: a wait for another thread costs whatever the scheduler makes it.
Needs valgrind.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile


#: name -> (setup, one iteration), both statements run in the loop's globals.
WORKLOADS: dict[str, tuple[str, str]] = {
    "Lock acquire+release": ("p = threading.Lock()", "p.acquire(); p.release()"),
    "Lock with": ("p = threading.Lock()", "with p: pass"),
    "RLock acquire+release": ("p = threading.RLock()", "p.acquire(); p.release()"),
    "Semaphore acquire+release": ("p = threading.Semaphore(2)", "p.acquire(); p.release()"),
    "Semaphore with": ("p = threading.Semaphore(2)", "with p: pass"),
    "BoundedSemaphore acquire+release": (
        "p = threading.BoundedSemaphore(2)",
        "p.acquire(); p.release()",
    ),
    "Event set+wait+clear": ("p = threading.Event()", "p.set(); p.wait(); p.clear()"),
    "Event wait (set)": ("p = threading.Event(); p.set()", "p.wait()"),
    "Condition notify": ("p = threading.Condition()", "with p: p.notify()"),
    "Condition notify_all": ("p = threading.Condition()", "with p: p.notify_all()"),
    "Condition wait(0)": ("p = threading.Condition()", "with p: p.wait(0)"),
    "Condition wait_for (true)": ("p = threading.Condition()", "with p: p.wait_for(object)"),
    "Event wait(0) (clear)": ("p = threading.Event()", "p.wait(0)"),
    "Barrier(1) wait": ("p = threading.Barrier(1)", "p.wait()"),
    "Queue put+get": ("p = queue.Queue()", "p.put(1); p.get()"),
    "Queue(4) put+get": ("p = queue.Queue(4)", "p.put(1); p.get()"),
    "Queue put_nowait+get_nowait": ("p = queue.Queue(4)", "p.put_nowait(1); p.get_nowait()"),
    "Queue put+get+task_done": ("p = queue.Queue()", "p.put(1); p.get(); p.task_done()"),
    "LifoQueue put+get": ("p = queue.LifoQueue()", "p.put(1); p.get()"),
    "PriorityQueue put+get": ("p = queue.PriorityQueue()", "p.put(1); p.get()"),
    # Tuples of numbers and strings order in C (done in place); a list's items are not known to.
    "PriorityQueue of 8 tuples put+get": (
        "p = queue.PriorityQueue()\nfor i in range(8): p.put((i, 'job'))",
        "p.put((3, 'job')); p.get()",
    ),
    "PriorityQueue put+get (lists)": ("p = queue.PriorityQueue()", "p.put([1]); p.get()"),
    "PriorityQueue put+get (tuples holding an object)": (
        "p = queue.PriorityQueue(); task = object()",
        "p.put((1, 0, task)); p.get()",
    ),
    "SimpleQueue put+get": ("p = queue.SimpleQueue()", "p.put(1); p.get()"),
    # A poll that finds nothing: a get or put asked not to wait raises at once.
    "Queue get_nowait (empty)": (
        "p = queue.Queue()",
        "try: p.get_nowait()\n        except queue.Empty: pass",
    ),
    "Queue put_nowait (full)": (
        "p = queue.Queue(1); p.put(0)",
        "try: p.put_nowait(1)\n        except queue.Full: pass",
    ),
    "SimpleQueue get_nowait (empty)": (
        "p = queue.SimpleQueue()",
        "try: p.get_nowait()\n        except queue.Empty: pass",
    ),
    # A get or put that would wait: it times out at once (the blocking path, no other thread).
    "Queue get(timeout=0) (empty)": (
        "p = queue.Queue()",
        "try: p.get(timeout=0)\n        except queue.Empty: pass",
    ),
    "Queue put(timeout=0) (full)": (
        "p = queue.Queue(1); p.put(0)",
        "try: p.put(1, timeout=0)\n        except queue.Full: pass",
    ),
    # A primitive made and dropped, as a program makes one per object or per request: made in
    # a function compiled with the script's file name, so that its creation site is a file's
    # (the loop's own code is a string's, whose creations are looked at afresh each time).
    **{
        f"{kind}() made": (
            f"exec(compile('def make():\\n    p = {module}.{kind}()\\n    return p\\n', "
            "__file__, 'exec'))",
            "make()",
        )
        for module, kind in (
            ("threading", "Lock"),
            ("threading", "RLock"),
            ("threading", "Event"),
            ("threading", "Condition"),
            ("threading", "Semaphore"),
            ("queue", "Queue"),
            ("concurrent.futures", "Future"),
        )
    },
    # Two locks of a lock per object taken one inside the other, a pair never taken before
    # each time (a transfer between accounts, each with its lock): what the lock-order check
    # does for a chain it has not seen, its commonest case (each lock taken once alone first:
    # its first operation is not counted here; nor is a collection of the garbage collector's
    # that so many objects would make fall in the loop of one run and not another's). Taken
    # in a function compiled with the script's file name, as a program's are: syncscope keeps
    # where a lock of code made at run time (the loop's, a string's) was taken otherwise.
    "Lock pair of per-object locks (new pairs)": (
        "exec(compile('def make():\\n    p = threading.Lock()\\n    return p\\n', "
        "__file__, 'exec')); import random; made = [make() for _ in range(20_000)]; "
        "[(m.acquire(), m.release()) for m in made]; chosen = random.Random(1); "
        "exec(compile('def pair(a, b):\\n    with a, b: pass\\n', __file__, 'exec')); "
        "pairs = iter([(made[i], made[10_000 + chosen.randrange(10_000)]) "
        "for i in range(10_000)]); import gc; gc.collect()",
        "pair(*next(pairs))",
    ),
    # The same once the program has taken 30,000 such pairs: what the check remembers of
    # them is full, and a new pair is only looked up (a program's steady state).
    "Lock pair of per-object locks (new pairs after 30000)": (
        "exec(compile('def make():\\n    p = threading.Lock()\\n    return p\\n', "
        "__file__, 'exec')); made = [make() for _ in range(20_000)]; "
        "[(m.acquire(), m.release()) for m in made]; "
        "exec(compile('def pair(a, b):\\n    with a, b: pass\\n', __file__, 'exec')); "
        "[pair(made[i], made[10_000 + (7 * i + 1009 * k) % 10_000]) "
        "for k in range(3) for i in range(10_000)]; "
        "pairs = iter([(made[i], made[10_000 + (7 * i + 3027) % 10_000]) "
        "for i in range(10_000)]); import gc; gc.collect()",
        "pair(*next(pairs))",
    ),
    # The same two such locks taken together again and again (a parent and a child node of
    # one class, locked in a loop): a pair the check has seen, which it must not ask again.
    "Lock pair of per-object locks (the same pair)": (
        "exec(compile('def make():\\n    p = threading.Lock()\\n    return p\\n', "
        "__file__, 'exec')); first, then = make(), make(); "
        "exec(compile('def pair(a, b):\\n    with a, b: pass\\n', __file__, 'exec')); "
        "pair(first, then)",
        "pair(first, then)",
    ),
    # A task's Future, as a pool makes and completes it, without the pool's thread: its
    # Condition is the standard library's (unwatched), what it costs is the wrappers'.
    "Future set_result+result": (
        "from concurrent.futures import Future",
        "p = Future(); p.set_result(1); p.result()",
    ),
}

#: mode -> the options syncscope.install is given (None: not installed).
MODES: dict[str, dict[str, object] | None] = {
    "bare": None,
    "nothing listening": {"lines": False},
    "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
    "-q (statistics and checks)": {"lines": False, "stats": True, "detect_deadlocks": True},
    # Lines written to the null device: an acquire+release writes two, a put+get two.
    "console lines": {"format": "console", "output": os.devnull},
    "json lines": {"format": "json", "output": os.devnull},
    "logfmt lines": {"format": "logfmt", "output": os.devnull},
    # The same to standard error, as the runner writes them by default: here a pipe that
    # this script drains (as a terminal or `| less`), not a file of syncscope's own.
    "console lines to stderr": {"format": "console"},
    "json lines to stderr": {"format": "json"},
    # The runner's default, `python -m syncscope prog.py`: lines and the deadlock and
    # lock-order checks, the lines here to the null device.
    "runner default": {"format": "console", "output": os.devnull, "detect_deadlocks": True},
    # As the runner writes to `-o FILE`: appended to a buffer that a thread of syncscope's
    # writes out (not counted with --program-thread). The file is a temporary one.
    "console lines to a file": {"format": "console", "output": "{tmp}", "buffer_output": True},
    "json lines to a file": {"format": "json", "output": "{tmp}", "buffer_output": True},
    # Spans only, as the runner's `-q --no-report --no-deadlock-detection --otlp=...` makes
    # them, exported over HTTP to a loopback port nothing listens on (the exports fail, and
    # are counted: only the program's thread's share is meant to be read, --program-thread).
    "spans": {
        "lines": False,
        "report": False,
        "detect_deadlocks": False,
        "spans": True,
        "exporter": "otlp",
        "endpoint": "http://127.0.0.1:9",
        "protocol": "http/protobuf",
        "flush_timeout": 0,
    },
}

PROGRAM = """
import concurrent.futures, os, queue, sys, threading
import syncscope
options, n = {options!r}, {iterations}
if options is not None:
    syncscope.install(**options)
for setup, body in {workloads!r}:
    exec(setup)
    exec("def loop(n):\\n    for _ in range(n):\\n        " + body)
    os.getppid()
    loop(0)
    os.getppid()
    loop(n)
    os.getppid()
if options is not None:
    syncscope.uninstall()
"""


def count(
    mode: str, iterations: int, names: list[str], program_thread: bool = False
) -> dict[str, int]:
    """
    Instructions per iteration of each workload in ``names``, under ``mode``; with
    ``program_thread``, those of the program's thread only (not the deadlock watchdog's,
    whose periodic checks make a ``-q`` figure vary from run to run by thousands).
    """
    workloads = [WORKLOADS[name] for name in names]
    with tempfile.TemporaryDirectory() as directory:
        script = os.path.join(directory, "loop.py")
        options = MODES[mode]
        if options is not None and options.get("output") == "{tmp}":
            options = {**options, "output": os.path.join(directory, "lines.log")}
        with open(script, "w", encoding="utf-8") as file:
            file.write(PROGRAM.format(options=options, iterations=iterations, workloads=workloads))
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getppid",
                *(["--separate-threads=yes"] if program_thread else []),
                f"--callgrind-out-file={out}",
                sys.executable,
                script,
            ],
            check=True,
            capture_output=True,
        )
        if program_thread:  # one file a dump and a thread: out.<dump>-<thread>, 01 the main
            found = glob.glob(out + ".*-01")
            parts = sorted(found, key=lambda path: int(path.rsplit(".", 1)[1].split("-")[0]))
        else:
            found = glob.glob(out + ".*")
            parts = sorted(found, key=lambda path: int(path.rsplit(".", 1)[1]))
        totals = [_total(path) for path in parts]
    # Per workload: its setup (after the start-up or the previous loop), its empty loop, and
    # its N-iteration loop, each ended by a dump: a setup never counts in a loop.
    if len(totals) != 3 * len(names):
        raise RuntimeError(f"{mode}: {len(totals)} parts, expected {3 * len(names)}")
    return {
        name: (totals[3 * i + 2] - totals[3 * i + 1]) // iterations for i, name in enumerate(names)
    }


def _total(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"callgrind wrote no total in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--modes", help="comma-separated modes (default: all)")
    parser.add_argument("--workloads", help="comma-separated workloads (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at once")
    parser.add_argument(
        "--program-thread",
        action="store_true",
        help="count the program's thread only, not syncscope's own threads (the watchdog's)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not installed")
    modes = args.modes.split(",") if args.modes else list(MODES)
    names = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    for kind, asked, known in (("mode", modes, MODES), ("workload", names, WORKLOADS)):
        unknown = [name for name in asked if name not in known]
        if unknown:
            sys.exit(f"instructions.py: no {kind} {unknown[0]!r}; known: {', '.join(known)}")
    if "bare" not in modes:
        modes.insert(0, "bare")
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            mode: pool.submit(count, mode, args.iterations, names, args.program_thread)
            for mode in modes
        }
        counts = {mode: future.result() for mode, future in futures.items()}
    width = max(map(len, names))
    print(f"{'instructions an iteration':{width}}" + "".join(f"  {mode:>16.16}" for mode in modes))
    for name in names:
        bare = counts["bare"][name]
        cells = [f"{bare:>16,}"]
        for mode in modes[1:]:
            per = counts[mode][name]
            cells.append(f"{per:>8,} {per / bare:6.2f}x")
        print(f"{name:{width}}" + "".join(f"  {cell:>16}" for cell in cells))


if __name__ == "__main__":
    main()
