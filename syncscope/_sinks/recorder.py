"""
The diagnosis sink: one sink that keeps the hold tracker, the statistics, the lock-order graph
and the deadlock watchdog fed, and keeps what they find.

One sink rather than four so that each event is looked at once and "held" means the same to
all of them. It writes findings as they are found (to standard error, or among the lines for
slow spots), the exit report when it is closed, and, when a deadlock is found, the JSON report
at once and, if asked, ends the process with a status of its own.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator

from .._core import output
from .._core.dispatch import close_sinks, guard
from .._core.event import SyncEvent
from .._core.files import check_writable, takes_rewrites, write_whole
from .._core.fork import reset_after_fork
from .._core.holds import CONDITION_WAITS, Hold, Holds, Wait
from .._core.output import FdWriter
from .._core.records import record
from .._core.registry import allocate_lock, bounded_takes
from .._core.signals import raise_if_a_handlers
from .._core.state import config_lock, set_sinks, state
from .deadlock import Watchdog
from .lean_checks import LeanChecks
from .lockorder import LockOrder
from .stats import Stats
from .threads import hook_thread_deaths
from .traces import TRACED_KINDS, Traces


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .findings import Deadlock, Hang, Inversion, SlowSpot
    from .lines import ConsoleSink

_perf_counter_ns = time.perf_counter_ns

#: Slow spots kept (all are written; past this they are only counted).
MAX_SLOW = 1000
#: Operations whose long wait is contention (a slow spot), not a thread waiting for work.
_CONTENTION_OPS = frozenset({"acquire", "put"})


@record
class DiagnosisOptions:
    """What the diagnosis sink does; see :func:`syncscope.install` for each."""

    stats: bool = True
    report: bool = False
    report_json: str | None = None
    detect_deadlocks: bool = True
    deadlock_exit: int | None = None
    hang_timeout: float = 0.0
    #: How long a cycle through a Lock or a semaphore (which any thread may release) must last
    #: while other threads run before it is a deadlock; also self-deadlocks and the threads
    #: waiting for a signal while holding the lock the signallers wait for.
    deadlock_grace: float = 1.0
    long_hold_ms: float | None = None
    long_wait_ms: float | None = None
    #: Write each finding to standard error when it is found.
    echo: bool = True
    #: Keep the last N events (0: none).
    keep_events: int = 0


_stderr: FdWriter | None = None


def stderr_writer() -> FdWriter:
    """One writer for standard error, shared, so that reports never interleave mid-line."""
    global _stderr
    if _stderr is None:
        _stderr = FdWriter(2, owns_fd=False)
    return _stderr


class Recorder:
    """The diagnosis sink. ``handle`` runs on the program's threads; keep it cheap."""

    def __init__(self, options: DiagnosisOptions, console: ConsoleSink | None = None) -> None:
        self.options = options
        if options.report_json:
            # A bad path is an error now, not at exit when nothing can be done about it.
            check_writable(options.report_json, empty=True)
        # Thread exits matter to a watchdog looking at a live program: the ident is reused.
        self.holds = Holds(track_exits=options.detect_deadlocks, lean=options.detect_deadlocks)
        self.traces = Traces(self.holds) if options.detect_deadlocks else None
        self.stats: Stats | None = Stats() if options.stats else None
        #: Where the lean paths count (see lean_stats): the statistics, or, when only the
        #: checks listen, a book nobody reports, whose counts are the watchdog's sign of life.
        self._book = self.stats
        if self._book is None and options.detect_deadlocks:
            self._book = Stats()
        self.lockorder = (
            LockOrder(self._inversion, self.holds.handoff) if options.detect_deadlocks else None
        )
        self.inversions: list[Inversion] = []
        self.deadlocks: list[Deadlock] = []
        self.hangs: list[Hang] = []
        self.slow: list[SlowSpot] = []
        self.slow_dropped = 0
        self.events: deque[SyncEvent] | None = (
            deque(maxlen=options.keep_events) if options.keep_events else None
        )
        #: What is running now, copied into each finding (the pytest plugin sets a test id).
        self.context: str | None = None
        #: Called with each new finding, on the thread that found it.
        self.listeners: list[Callable[[object], None]] = []
        self.progress = 0
        self.started_ns = _perf_counter_ns()
        self.stopped_ns: int | None = None
        self._long_hold_ns = _ns(options.long_hold_ms)
        self._long_wait_ns = _ns(options.long_wait_ms)
        self._console = console
        if console is not None and console.fd == 2:
            self._out = console._writer  # one lock for both: our blocks never split a line
        else:
            self._out = stderr_writer()
        #: A writer to the standard error syncscope started with, once fd 2 was found to be
        #: another file (see _text_out).
        self._starting_out: FdWriter | None = None
        self._pid = os.getpid()
        self._lock = allocate_lock()
        #: Its takes on the program's threads, which a slow spot or an inversion is found on,
        #: holding their locks (see bounded_takes).
        self._takes = bounded_takes(self._lock)
        self._closed = False
        #: What it counted was let go of (see let_go): nothing to report from any more.
        self._let_go = False
        #: The files the findings were written to when found (see _out_file).
        self._written_to: set[tuple[int, int] | None] = set()
        self.watchdog: Watchdog | None = None
        self._lean_checks: LeanChecks | None = None
        if options.detect_deadlocks:
            self.watchdog = Watchdog(
                self.holds,
                self._progress_now,
                self._deadlock,
                self._hang,
                hang_timeout=options.hang_timeout,
                grace=options.deadlock_grace,
                traces=self.traces,
                on_hang_over=self._hang_over,
            )
            self._hook = hook_thread_deaths(self.holds)
        reset_after_fork(self)
        # A valid (empty) report from the start: a program that ends with os._exit() never
        # closes this sink, and the file must say what was found, nothing included.
        self._write_json()

    def lean_stats(self, lines: bool = False) -> Stats | None:
        """
        Where the proxies count when they may count in place of reporting events (see
        _lean): the statistics, or the book kept for the checks alone (the deadlock and
        lock-order checks then get their holds from the proxies: see
        :meth:`lean_diagnosis`). Anything that needs every event or its call site (long
        holds and waits, the kept events) rules it out; with the ``lines`` (the proxies
        write theirs, see ``_sinks/leanlines.LeanLines``), so do the statistics: their report
        names where each lock was mostly taken, which the lean path does not look up.
        """
        if (
            self._book is None
            or (lines and self.stats is not None)
            or self.events is not None
            or self._long_hold_ns is not None
            or self._long_wait_ns is not None
        ):
            return None
        return self._book

    def lean_diagnosis(self) -> LeanChecks | None:
        """What the lock proxies call on the lean path when the checks listen (see _lean)."""
        if self.watchdog is None and self.lockorder is None:
            return None
        if self._lean_checks is None:
            self._lean_checks = LeanChecks(self.holds, self.lockorder, self.stats, self.traces)
        return self._lean_checks

    def _progress_now(self) -> int:
        """Operations seen so far: events, and what the lean paths counted in place."""
        book = self._book
        lean = self._lean_checks
        return (
            self.progress
            + (book.operations() if book is not None else 0)
            + (lean.progress if lean is not None else 0)
        )

    def _after_fork_in_child(self) -> None:
        """
        Only the forking thread goes on in a child: the watchdog's thread is not there to wait
        for (closing would wait for it in vain), and a lock of ours another thread held at the
        fork would stay held for ever.
        """
        self._lock = allocate_lock()
        self._takes = bounded_takes(self._lock)
        self.holds.after_fork_in_child()
        if self.lockorder is not None:
            self.lockorder.after_fork_in_child()
        if self.watchdog is not None:
            self.watchdog.after_fork_in_child()

    # -- program side ------------------------------------------------------------------------

    def handle(self, event: SyncEvent) -> None:
        self.progress += 1
        if self.events is not None:
            self.events.append(event)
        holds = self.holds
        op = event.op
        outcome = event.outcome
        if outcome == "waiting":
            if self.traces is not None and event.primitive.kind in TRACED_KINDS:
                self.traces.touch(event)
            self._begin_wait(event)
            return
        wait = holds.waiting.pop(event.thread_id, None) if holds.waiting else None
        if wait is not None and wait.reported:  # see deadlock.Watchdog._follow
            wait.ended_ns = -1 if outcome == "error" else event.time_ns
        stats = self.stats
        if op == "acquire" and outcome == "acquired":  # the hot path: keep it short
            hold = holds.acquired(event)
            if (
                hold is not None
                and self.lockorder is not None
                and len(hold.held) > 1
                # A trylock or a timed acquire cannot deadlock for ever: no order (a trylock
                # is none in lockdep either; backing off after a timeout is the usual way out).
                and event.timeout is None
            ):
                self.lockorder.taking(hold.primitive, hold.thread_name, hold.site, hold.held)
            if stats is not None:
                stats.acquired(event, hold)
                if wait is not None and wait.blocker is not None and event.waited_ns:
                    stats.blocked_by(event.primitive, wait.blocker, event.waited_ns)
        elif op == "release" and outcome == "released":
            if event.primitive.kind == "semaphore":
                for hold in holds.returned(event):
                    self._hold_ended(hold, event.time_ns)
            else:
                hold = holds.released(event)
                # A hold's end matters to the statistics and the long-hold check only.
                if hold is not None and (stats is not None or self._long_hold_ns is not None):
                    self._hold_ended(hold, event.time_ns)
            return
        else:
            if self.traces is not None and event.primitive.kind in TRACED_KINDS:
                self.traces.touch(event)
            if op in CONDITION_WAITS and event.primitive.kind == "condition":
                holds.unpark(event)
            if stats is not None:
                stats.handle(event)
        long_wait = self._long_wait_ns
        if (
            long_wait is not None
            and event.waited_ns is not None
            and event.waited_ns >= long_wait
            and op in _CONTENTION_OPS
        ):
            self._slow_wait(event, wait)

    def _begin_wait(self, event: SyncEvent) -> None:
        holds = self.holds
        holds.begin_wait(event)
        if event.op == "acquire":
            held = holds.held.get(event.thread_id)
            if held and self.lockorder is not None and event.timeout is None:
                site = (event.file, event.line, event.function)
                self.lockorder.taking(event.primitive, event.thread_name, site, held)
        elif event.op in CONDITION_WAITS and event.primitive.kind == "condition":
            parked = holds.park(event)
            if parked is not None:
                self._hold_ended(parked, event.time_ns)

    def _hold_ended(self, hold: Hold, end_ns: int) -> None:
        held_ns = end_ns - hold.since_ns
        if held_ns < 0:  # the wall clock went back
            held_ns = 0
        if self.stats is not None:
            self.stats.hold_ended(hold, held_ns)
        if self._long_hold_ns is not None and held_ns >= self._long_hold_ns:
            from .findings import Ref, SlowSpot  # when first found, not at start-up

            self._slow(
                SlowSpot("hold", Ref.of(hold.primitive), hold.thread_name, hold.site, held_ns)
            )

    def _slow_wait(self, event: SyncEvent, wait: Wait | None) -> None:
        from .findings import Ref, SlowSpot  # when first found, not at start-up

        blocker = wait.blocker if wait is not None else None
        self._slow(
            SlowSpot(
                "wait",
                Ref.of(event.primitive),
                event.thread_name,
                (event.file, event.line, event.function),
                event.waited_ns or 0,
                holder=None if blocker is None else blocker.thread_name,
                holder_site=None if blocker is None else blocker.site,
            )
        )

    # -- findings ----------------------------------------------------------------------------

    def _stamp(self, finding: Any) -> Any:
        from .._core.records import replace

        return finding if self.context is None else replace(finding, context=self.context)

    def _tell(self, finding: object) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener(finding)

    def _slow(self, spot: SlowSpot) -> None:
        spot = self._stamp(spot)
        for got in self._takes:
            try:
                if len(self.slow) < MAX_SLOW:
                    self.slow.append(spot)
                else:
                    self.slow_dropped += 1
            finally:
                if got:
                    self._lock.release()
            break
        if self.options.echo:
            try:
                self._echo_slow(spot)
            except Exception as exc:  # a finding must not cost the program an event
                self._cannot_write("a long " + spot.what, exc)
        self._tell(spot)

    def _echo_slow(self, spot: SlowSpot) -> None:
        text = spot.text()
        if self._console is not None:
            import datetime

            self._console.note(
                text,
                timestamp=datetime.datetime.now(datetime.UTC).isoformat(),
                finding=f"long_{spot.what}",
                kind=spot.primitive.kind,
                name=spot.primitive.name,
                thread=spot.thread,
                file=spot.site[0],
                line=spot.site[1],
                duration_ms=round(spot.duration_ns / 1e6, 3),
            )
        else:
            self._text_out().msg(f"syncscope: {text}")

    def _inversion(self, inversion: Inversion) -> None:
        inversion = self._stamp(inversion)
        for got in self._takes:
            try:
                self.inversions.append(inversion)
            finally:
                if got:
                    self._lock.release()
            break
        self._write_json()  # now: a program may end with os._exit()
        if self.options.echo:
            self._write_finding("inversion", inversion.text, inversion.to_dict)
        self._tell(inversion)

    def _deadlock(self, deadlock: Deadlock) -> None:
        deadlock = self._stamp(deadlock)
        with self._lock:
            self.deadlocks.append(deadlock)
        exiting = self.options.deadlock_exit is not None
        tail = ""
        if exiting and not self._closed:
            tail = f"\nsyncscope: ending the program with status {self.options.deadlock_exit}"
        try:
            self._write_json()  # first: once the text is out, the file says the same
            if self.options.echo or exiting:
                self._write_finding("deadlock", lambda: deadlock.text() + tail, deadlock.to_dict)
            self._tell(deadlock)
        finally:  # whatever failed above, --deadlock-exit ends the program
            if self.options.deadlock_exit is not None and not self._closed:
                # (when closing, the program ends anyway)
                self._abort(self.options.deadlock_exit)

    def _hang(self, hang: Hang) -> None:
        hang = self._stamp(hang)
        with self._lock:
            self.hangs.append(hang)
        exiting = self.options.deadlock_exit is not None and not self._closed
        tail = f"\nsyncscope: ending the program with status {self.options.deadlock_exit}"
        try:
            self._write_json()
            if self.options.echo or exiting:
                self._write_finding(
                    "hang", lambda: hang.text() + (tail if exiting else ""), hang.to_dict
                )
            self._tell(hang)
        finally:  # threads blocked for good: --deadlock-exit ends the program as for a deadlock
            if exiting and self.options.deadlock_exit is not None:
                self._abort(self.options.deadlock_exit)

    def _hang_over(self, hang: Hang, over_ns: int) -> None:
        """Every wait a reported hang named ended after all: said, and kept with the hang."""
        from .._core.records import replace

        with self._lock:
            for index, kept in enumerate(self.hangs):
                if kept.waits is hang.waits:  # the one reported (stamped with its context)
                    hang = self.hangs[index] = replace(kept, over_after_ns=over_ns)
                    break
            else:
                return
        self._write_json()
        if self.options.echo:
            self._write_finding("hang over", hang.over_text, hang.to_dict)

    def _write_finding(
        self, finding: str, text: Callable[[], str], data: Callable[[], dict[str, Any]]
    ) -> None:
        """:meth:`_write`, and if the finding cannot be put into words, at least that it was."""
        self._written_to.add(self._out_file())
        try:
            self._write(text(), finding, data)
        except Exception as exc:
            self._cannot_write(f"a {finding}", exc)

    def _text_out(self) -> FdWriter:
        """
        Where a finding's or the report's text goes now: standard error; or, when the
        program or its test runner put another file on fd 2 (a capture), the one
        ``python -m syncscope`` started with (see ``StartingStderr``).
        """
        starting = output.starting_stderr
        if self._out._fd != 2 or starting is None:
            return self._out
        fd = starting.instead_of_fd2()
        if fd is None:
            return self._out
        out = self._starting_out
        if out is None or out._fd != fd:
            out = self._starting_out = FdWriter(fd, owns_fd=False)
        return out

    def _out_file(self) -> tuple[int, int] | None:
        """What file the findings' stream is now (a test runner's capture may swap it)."""
        try:
            info = os.fstat(self._text_out()._fd)
        except (OSError, AttributeError):
            return None
        return info.st_dev, info.st_ino

    def _cannot_write(self, what: str, exc: Exception) -> None:
        raise_if_a_handlers(exc)  # the program's, not a write's failure
        self._out.msg(f"syncscope: found {what}, but could not write it out: {exc!r}")

    def _write(self, text: str, finding: str, data: Callable[[], dict[str, Any]]) -> None:
        """
        A block of text to standard error; when JSON or logfmt lines go there, one line of
        that format instead (its first line as the event, the rest as a field), so that the
        stream stays machine-readable.
        """
        console = self._console
        if console is not None and console.fd == 2 and console._fmt != "console":
            import datetime

            headline = text.split("\n", 1)[0].removeprefix("syncscope: ")
            console.note(
                headline,
                timestamp=datetime.datetime.now(datetime.UTC).isoformat(),
                finding=finding,
                details=data(),
            )
        else:
            self._text_out().msg(text)

    def _abort(self, status: int) -> None:
        """After a deadlock: close every output (so the report and spans get out), then exit."""
        try:
            got = config_lock.acquire(timeout=1)
            try:
                sinks = state.sinks
                set_sinks(())
            finally:
                if got:
                    config_lock.release()
            close_sinks(sinks)
            _flush_standard_streams(timeout=1.0)
        finally:
            os._exit(status)

    # -- reading and closing -----------------------------------------------------------------

    def check_now(self) -> list[Deadlock]:
        """Look for deadlocks now, from the calling thread; report and return new ones."""
        if self.watchdog is None:
            return []
        was_busy = guard.busy
        guard.busy = True
        try:
            return self.watchdog.check(confirm=False)
        finally:
            guard.busy = was_busy

    @property
    def duration_ns(self) -> int:
        end = self.stopped_ns if self.stopped_ns is not None else _perf_counter_ns()
        return end - self.started_ns

    def stop_clock(self) -> None:
        """The run is over (the outputs are being closed): its duration ends now."""
        if self.stopped_ns is None:
            self.stopped_ns = _perf_counter_ns()

    def close(self) -> None:
        """Stop the watchdog; write the exit report (text and JSON) when asked to."""
        if self._closed:
            return
        self._closed = True
        self.stop_clock()
        if self.watchdog is not None:
            self.watchdog.stop()
            self._hook.restore()
        if os.getpid() != self._pid:
            return  # a forked child: the parent writes the report
        was_busy = guard.busy
        guard.busy = True
        try:
            if self.watchdog is not None:
                # A cycle still in place at exit is a deadlock, grace or not: the report must
                # not say "no deadlock" while one is.
                with contextlib.suppress(Exception):
                    self.watchdog.check(confirm=False, final=True)
            if self.options.report:
                try:
                    from .report import Report

                    # In full unless every finding written when found went where this
                    # goes: pytest's capture of a test's output takes what a test's
                    # findings wrote, and shows it only if the test fails.
                    echoed = self.options.echo and self._written_to <= {self._out_file()}
                    with _collector_off():
                        report = Report.of(self, echoed=echoed)
                        self._write(report.text(), "report", report.to_dict)
                        # Its rows go before the collector is back: left for after, they
                        # were a collection's worth of new objects (20 ms for 10,000 locks).
                        del report
                except Exception as exc:  # the JSON report may still get out
                    self._out.msg(f"syncscope: cannot write the report: {exc!r}")
            self._write_json(final=True)
        finally:
            guard.busy = was_busy

    def let_go(self) -> None:
        """
        Nothing reads this recording any more (the runner at exit, once it is closed): let
        go of what it counted. Its parts refer to one another (each tally to its book, the
        lock-order graph to this recorder), so kept whole they would go only with the
        collector's last pass at exit, which walks all of it first: for 10,000 tallies and
        20,000 remembered pairs of locks (``accounts.py``), 0.08-0.23 s, against 0.03 s so.
        A finding made later (a daemon thread's) is still said, but the JSON report is not
        written again: its statistics are gone.
        """
        self._let_go = True
        for part in (self.stats, self._book, self.lockorder):
            if part is not None:
                part.let_go()

    def _write_json(self, final: bool = False) -> None:
        path = self.options.report_json
        if not path or os.getpid() != self._pid or self._let_go:
            return
        if not final and not takes_rewrites(path):  # a pipe's reader takes one: the last
            return
        from .report import Report

        try:
            with _collector_off():
                data = Report.of(self).to_json()
            write_whole(path, data)
        except Exception as exc:  # not only OSError: a finding must never be lost to it
            self._out.msg(f"syncscope: cannot write the JSON report to {path!r}: {exc}")


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """
    The cyclic collector off while a report is summed up, then as it was when it began (a
    change another thread makes meanwhile is undone). Summing up thousands of primitives
    allocates in bursts, and each burst can start a full collection of the program's heap:
    0.15 s a time at a million objects, for objects of ours that make no cycles.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _ns(milliseconds: float | None) -> int | None:
    return None if milliseconds is None else int(milliseconds * 1e6)


def _flush_standard_streams(timeout: float) -> None:
    """Flush stdout and stderr from a helper thread: a flush may block, the exit must not."""
    done = allocate_lock()
    done.acquire()

    def flush() -> None:
        try:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
        finally:
            done.release()

    _thread.start_new_thread(flush, ())
    done.acquire(timeout=timeout)
