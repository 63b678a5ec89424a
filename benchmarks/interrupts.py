"""
Ctrl-C against a lock: how often a KeyboardInterrupt leaves the program's lock held, under
plain ``python`` and under each way of running syncscope.

    python benchmarks/interrupts.py                      # 5,000 interrupts a runner
    python benchmarks/interrupts.py --interrupts 20000 --runners=python,-q

Each runner runs one program: its main thread takes a Lock and lets it go again in a loop
(``with lock:``, or ``acquire()`` then ``try``/``finally: release()`` with ``--form acquire``),
and a second thread interrupts it (``_thread.interrupt_main``) after a random pause of up to
0.3 ms, again and again. After each KeyboardInterrupt the main thread looks whether the lock
is still taken: with plain ``python`` and ``with``, never (the C lock's ``__enter__`` and
``__exit__`` are not calls the bytecode makes, and no signal handler runs inside them).
A wrapper written in Python has instructions of its own around the real acquire and release,
and a Ctrl-C that lands between them and the program's ``with`` can leave the lock taken.
The figure is a count, not a time: where the interrupts land is up to the scheduler, so two
runs differ; thousands of interrupts give a rate.

With ``--handler own``, the program sets a SIGINT handler of its own that raises an exception
of its own (as a timeout made with ``SIGALRM`` does), which python runs wherever the main
thread is, syncscope's code included. An interrupt whose exception never reaches the program
(caught on the way as an output's failure, or lost in a callback) is counted as lost: the
second thread sends another one after 0.5 s without an answer.

The innermost frame of each such KeyboardInterrupt's traceback is tallied: where it landed.
syncscope takes its own frames out of the tracebacks that pass through it, so one that landed
inside syncscope past a function's first instruction shows as the program's line; one that
landed as a function of syncscope's began shows as that function.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


PROGRAM = """
import _thread, json, random, signal, sys, threading, time

lock = threading.Lock()
form, count, handler = sys.argv[1], int(sys.argv[2]), sys.argv[4]
go = _thread.allocate_lock()  # raw: the handshake is not what is measured
go.acquire()
sent = 0


class Interrupted(Exception):
    pass


def own_handler(signum, frame):
    raise Interrupted


if handler == "own":
    signal.signal(signal.SIGINT, own_handler)


def interrupter():
    global sent
    while True:
        go.acquire(timeout=0.5)  # no answer: the last one was lost, send another
        time.sleep(random.uniform(0, 0.0003))
        sent += 1
        _thread.interrupt_main()


threading.Thread(target=interrupter, daemon=True).start()
held = loops = 0
where = {}
for _ in range(count):
    try:
        go.release()
        while True:
            loops += 1
            if form == "with":
                with lock:
                    pass
            else:
                lock.acquire()
                try:
                    pass
                finally:
                    lock.release()
    except (KeyboardInterrupt, Interrupted):
        if lock.locked():
            held += 1
            tb = sys.exc_info()[2]
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code
            key = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"
            where[key] = where.get(key, 0) + 1
            lock.release()
with open(sys.argv[3], "w") as out:
    found = {"interrupts": count, "loops": loops, "held": held, "lost": sent - count}
    json.dump({**found, "where": where}, out)
"""

_NOWHERE = "--otlp=http://127.0.0.1:9"
RUNNERS = {
    "python": [],
    "-q": ["-m", "syncscope", "-q", "--no-report"],
    "lines": ["-m", "syncscope", "--no-report", "-o", os.devnull],
    "json": ["-m", "syncscope", "--no-report", "--format", "json", "-o", os.devnull],
    # The span sink alone, exporting to a loopback port nothing listens on (the exports fail
    # and are counted): the record path, and under pressure the counted one.
    "spans": ["-m", "syncscope", "-q", "--no-report", "--no-deadlock-detection", _NOWHERE],
    # Lines and spans together: every operation an event (the event path).
    "lines+spans": ["-m", "syncscope", "--no-report", "-o", os.devnull, _NOWHERE],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--interrupts", type=int, default=5000)
    parser.add_argument("--form", choices=("with", "acquire"), default="with")
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument(
        "--handler",
        choices=("python", "own"),
        default="python",
        help="SIGINT's handler: python's (KeyboardInterrupt) or the program's own",
    )
    args = parser.parse_args()
    names = args.runners.split(",")
    unknown = [name for name in names if name not in RUNNERS]
    if unknown:
        parser.error(f"unknown runner {unknown[0]!r}; choose from {', '.join(RUNNERS)}")
    print(
        f"{'runner':11} {'interrupts':>10} {'loops':>9} {'lock left held':>15} {'lost':>5}"
        "  where they landed"
    )
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp, "program.py")
        program.write_text(PROGRAM)
        result = Path(tmp, "result.json")
        for name in names:
            command = [sys.executable, *RUNNERS[name], str(program)]
            command += [args.form, str(args.interrupts), str(result), args.handler]
            subprocess.run(command, check=True, timeout=3600)
            found = json.loads(result.read_text())
            where = ", ".join(f"{k} {v}" for k, v in sorted(found["where"].items()))
            print(
                f"{name:11} {found['interrupts']:>10,} {found['loops']:>9,} "
                f"{found['held']:>15,} {found['lost']:>5,}  {where}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
