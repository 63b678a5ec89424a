"""
Per-operation cost of syncscope, as ratios to the uninstrumented primitive measured in the
same process run.

    python benchmarks/ops.py                      # table on stdout
    python benchmarks/ops.py --json out.json      # and the figures as JSON
    python benchmarks/ops.py --baseline old.json  # flag figures worse by more than --margin

Each mode installs syncscope with different outputs; "bare" is the original primitive and
the denominator of every ratio. Timings on a shared 2-core machine are noisy: each figure is
the best of several repeats, and comparisons against a baseline use a margin.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import sys
import threading
import time
import timeit
from collections.abc import Callable
from typing import Any

from _receiver import Receiver  # benchmarks/ is the script's directory: on sys.path

import syncscope


Workload = Callable[[], Callable[[], None]]


def lock_pair() -> Callable[[], None]:
    lock = threading.Lock()

    def run() -> None:
        lock.acquire()
        lock.release()

    return run


def lock_with() -> Callable[[], None]:
    lock = threading.Lock()

    def run() -> None:
        with lock:
            pass

    return run


def rlock_pair() -> Callable[[], None]:
    rlock = threading.RLock()

    def run() -> None:
        rlock.acquire()
        rlock.release()

    return run


def lock_trylock_taken() -> Callable[[], None]:
    """
    ``acquire(False)`` on a Lock another thread took: a trylock that finds it taken, as code
    that polls locks makes thousands a second. The taker has ended, and the lock stays taken.
    """
    lock = threading.Lock()
    taken = threading.Event()

    def take() -> None:
        lock.acquire()
        taken.set()

    threading.Thread(target=take, daemon=True).start()
    if not taken.wait(10):
        raise RuntimeError("the lock was never taken")

    def run() -> None:
        lock.acquire(False)

    return run


def semaphore_pair() -> Callable[[], None]:
    semaphore = threading.Semaphore(2)

    def run() -> None:
        semaphore.acquire()
        semaphore.release()

    return run


def bounded_semaphore_pair() -> Callable[[], None]:
    semaphore = threading.BoundedSemaphore(2)

    def run() -> None:
        semaphore.acquire()
        semaphore.release()

    return run


def barrier_wait() -> Callable[[], None]:
    """A Barrier of one party: each wait is its last arrival, and passes at once."""
    barrier = threading.Barrier(1)

    def run() -> None:
        barrier.wait()

    return run


def event_set_wait_clear() -> Callable[[], None]:
    event = threading.Event()

    def run() -> None:
        event.set()
        event.wait()
        event.clear()

    return run


def queue_put_get() -> Callable[[], None]:
    q: queue.Queue[int] = queue.Queue()

    def run() -> None:
        q.put(1)
        q.get()

    return run


def simple_queue_put_get() -> Callable[[], None]:
    q: queue.SimpleQueue[int] = queue.SimpleQueue()

    def run() -> None:
        q.put(1)
        q.get()

    return run


def priority_queue_put_get() -> Callable[[], None]:
    q: queue.PriorityQueue[int] = queue.PriorityQueue()

    def run() -> None:
        q.put(1)
        q.get()

    return run


def condition_notify() -> Callable[[], None]:
    condition = threading.Condition()

    def run() -> None:
        with condition:
            condition.notify()

    return run


def condition_round_trip() -> Callable[[], None]:
    """One notify/wait round trip between two threads (ping-pong under one Condition)."""
    condition = threading.Condition()
    turn = [0]
    stop = [False]

    def partner() -> None:
        with condition:
            while not stop[0]:
                while turn[0] != 1 and not stop[0]:
                    condition.wait()
                turn[0] = 0
                condition.notify()

    thread = threading.Thread(target=partner, daemon=True)
    thread.start()

    def run() -> None:
        with condition:
            turn[0] = 1
            condition.notify()
            while turn[0] != 0:
                condition.wait()

    return run


def future_round_trip() -> Callable[[], None]:
    """A task's Future as a pool makes and completes it, without the pool: made, set, read."""
    from concurrent.futures import Future

    def run() -> None:
        future: Future[int] = Future()
        future.set_result(1)
        future.result()

    return run


def made(kind: str) -> Workload:
    """A primitive made and dropped, as a program makes one per object or per request."""

    def workload() -> Callable[[], None]:
        make = getattr(threading, kind)  # after install(), which replaces threading.Lock

        def run() -> None:
            make()

        return run

    return workload


WORKLOADS: dict[str, tuple[Workload, int]] = {
    "Lock acquire+release": (lock_pair, 200_000),
    "Lock with": (lock_with, 200_000),
    "RLock acquire+release": (rlock_pair, 200_000),
    "Lock trylock on a taken lock": (lock_trylock_taken, 200_000),
    "Semaphore acquire+release": (semaphore_pair, 100_000),
    "BoundedSemaphore acquire+release": (bounded_semaphore_pair, 100_000),
    "Barrier(1) wait": (barrier_wait, 100_000),
    "Event set+wait+clear": (event_set_wait_clear, 100_000),
    "Queue put+get": (queue_put_get, 50_000),
    "SimpleQueue put+get": (simple_queue_put_get, 100_000),
    "PriorityQueue put+get": (priority_queue_put_get, 50_000),
    "Condition notify (under with)": (condition_notify, 100_000),
    "Condition wait/notify round trip": (condition_round_trip, 5_000),
    "Future made+set+result": (future_round_trip, 50_000),
    "Lock() made": (made("Lock"), 100_000),
    "Event() made": (made("Event"), 50_000),
    "Condition() made": (made("Condition"), 50_000),
}

MODES: dict[str, dict[str, Any] | None] = {
    "bare": None,
    "installed, nothing listening": {"lines": False},
    "console lines": {"output": os.devnull},
    "json lines": {"output": os.devnull, "format": "json"},
    # Counts, wait and hold times, nothing else: the lean path (-q --no-deadlock-detection).
    "statistics only": {"lines": False, "stats": True, "detect_deadlocks": False},
    # What the runner does with -q: statistics for the report, deadlock and inversion checks.
    "-q: stats + deadlock checks": {"lines": False, "stats": True, "detect_deadlocks": True},
    # Every span exported over OTLP/HTTP to a receiver in another process (endpoint filled in
    # by main()); the flush at uninstall is outside the timing, the spans received are checked.
    "spans, live receiver": {
        "lines": False,
        "spans": True,
        "protocol": "http/protobuf",
        "flush_timeout": 30,
    },
    # Spans alone (-q --no-report --no-deadlock-detection), with the span allowance spent
    # first (see spend_allowance): what is nobody's concern is counted in place then, the
    # steady state of a busy program past its first 2,000 spans.
    "spans alone, under pressure": {
        "lines": False,
        "report": False,
        "detect_deadlocks": False,
        "spans": True,
        "protocol": "http/protobuf",
        "flush_timeout": 30,
    },
    # The same to a dead OTLP endpoint: what the program pays whatever the collector does.
    "spans, collector down": {
        "lines": False,
        "spans": True,
        "endpoint": "http://127.0.0.1:9",
        "protocol": "http/protobuf",
        "flush_timeout": 0.1,
    },
}


def measure(
    workload: Workload, number: int, mode: dict[str, Any] | None, repeat: int
) -> tuple[float, float]:
    """
    Best wall time and best CPU time of the measuring thread per operation, in nanoseconds.

    They differ when syncscope's own threads (the span worker and exporter) take the GIL:
    the CPU time is what lands on the program's thread, the wall time what the program waits.
    """
    if mode is not None:
        syncscope.install(**mode)
    try:
        run = workload()
        if mode is MODES["spans alone, under pressure"]:
            spend_allowance(run)
        # Lines are much slower: fewer iterations keep the run short without changing the mean.
        slow = mode is not None and (mode.get("output") or mode.get("spans"))
        count = max(number // 20, 200) if slow else number
        walls, cpus = [], []
        for _ in range(repeat):
            cpu = time.thread_time_ns()
            walls.append(timeit.timeit(run, number=count))
            cpus.append(time.thread_time_ns() - cpu)
        return min(walls) / count * 1e9, min(cpus) / count
    finally:
        syncscope.uninstall()


def spend_allowance(run: Callable[[], None]) -> None:
    """
    Put the span sink under pressure, as a busy program past its allowance is (its first
    2,000 spans nobody waited on, then 500 a second): the allowance spent for good, then the
    workload run until the sink's worker turns counting in place on. Reaches into
    syncscope's internals: a benchmark's shortcut, not an API.
    """
    from syncscope._core.state import state

    (sink,) = [s for s in state.sinks if type(s).__name__ == "SpanSink"]
    sink._allowance = -(10**15)
    deadline = time.monotonic() + 10
    while state.records is None or not state.records.counting:
        if time.monotonic() > deadline:
            raise RuntimeError("the span sink never counted in place")
        run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--baseline", metavar="FILE", help="compare with a saved JSON run")
    parser.add_argument("--margin", type=float, default=0.25, help="worse by more than this")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", help="comma-separated workloads (default: all)")
    args = parser.parse_args()
    names = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; known: {', '.join(WORKLOADS)}")

    results: dict[str, dict[str, dict[str, float]]] = {}
    received = 0
    with Receiver(count_spans=True) as receiver:
        for name in ("spans, live receiver", "spans alone, under pressure"):
            live = MODES[name]
            assert live is not None
            live["endpoint"] = receiver.endpoint
        for name in names:
            workload, number = WORKLOADS[name]
            row: dict[str, dict[str, float]] = {}
            bare, _ = measure(workload, number, None, args.repeat)
            for mode, options in MODES.items():
                if options is None:
                    ns = cpu = bare
                else:
                    ns, cpu = measure(workload, number, options, args.repeat)
                row[mode] = {
                    "ns": round(ns, 1),
                    "ratio": round(ns / bare, 2),
                    # Added on the program's own thread: its CPU time over the bare wall time.
                    "thread_ns_added": round(cpu - bare, 1),
                }
            results[name] = row
            print(f"\n{name} (bare: {bare:.0f} ns)")
            for mode in MODES:
                cell = row[mode]
                print(
                    f"  {mode:<32} {cell['ns']:>10.0f} ns {cell['ratio']:>8.2f}x"
                    f"   {cell['thread_ns_added']:>9.0f} ns added on its thread"
                )
        received = receiver.spans
    print(f"\nspans received by the live receiver: {received:,}")

    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": results,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
    if args.baseline:
        with open(args.baseline, encoding="utf-8") as file:
            baseline = json.load(file)["results"]
        worse = [
            f"{name} / {mode}: {old['ratio']}x -> {new['ratio']}x"
            for name, row in results.items()
            for mode, new in row.items()
            if (old := baseline.get(name, {}).get(mode))
            and new["ratio"] > old["ratio"] * (1 + args.margin)
        ]
        print(
            f"\nworse than the baseline by more than {args.margin:.0%}:"
            if worse
            else "\nno figure worse than the baseline."
        )
        for line in worse:
            print("  " + line)


if __name__ == "__main__":  # the receiver's process is spawned: it imports this module
    main()
