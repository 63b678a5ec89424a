"""
The one way syncscope writes text: whole lines, each in one write (the kernel's, or keeping the
GIL, see ``gil_write``), so that lines from two threads never interleave, and a broken output
never breaks the program. Lines, findings and the exit report all go through a
:class:`FdWriter`. No lock of ours is held while the program's code may run (a profile function,
a signal handler) on a line's way to a terminal, a pipe or a file the program writes too;
a file of our own is closed under a lock, which a line waits for a second at most.

A writer to a file of its own (the runner's ``-o FILE``) buffers: a program's threads append
their lines, and a thread of ours writes them out at most :data:`FLUSH_INTERVAL` seconds later,
in the order they were appended. Measured on a short four-thread program writing 25,000 lines,
one ``os.write`` per line took more than half of the whole run: each write gives up the GIL,
and the program's threads queue behind it. Output shared with the program's own (standard
error, a terminal, the program's standard output) is written at once, as before: a line must
not come after what the program printed after it; while the program runs other threads, such a
line is written keeping the GIL when that cannot wait (see ``gil_write``). Whatever was
buffered is written when the writer closes, before ``os._exit`` ends the process, and before a
fork (the child does not write it twice).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import stat
import sys
import threading
import weakref
from itertools import repeat, starmap

from . import ourthreads
from .fork import reset_after_fork
from .gil_write import LONGEST, UNSUPPORTED, gil_writer
from .originals import write as os_write  # not a replacement of the program's
from .registry import allocate_lock, allocate_rlock, bounded_takes


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn


#: Longest a buffered line waits before it is written, in seconds.
FLUSH_INTERVAL = 0.05
#: Bytes buffered after which the thread that appends rings for a write at once.
FLUSH_SIZE = 1 << 16

_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
#: The program's threads (started by ``threading`` or seen by it), by ident.
_threads = threading._active  # type: ignore[attr-defined]


def format_duration(ns: int) -> str:
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} \u00b5s"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


class FdWriter:
    """structlog's "logger": writes each rendered line whole, under our own lock."""

    def __init__(
        self, fd: int, owns_fd: bool, buffered: bool = False, keep_gil: bool = False
    ) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        # The original: never instrumented. Reentrant: a signal handler that runs while this
        # thread writes a line may use a watched lock, whose line comes here too.
        self._lock = allocate_rlock()
        #: Takes ``_lock`` as a ``for`` loop's next item: no Ctrl-C can land between the take
        #: and the ``try`` that lets it go (see _intercept/interrupts), and it costs less than
        #: a ``with`` (whose exit parses its three arguments): 700 instructions a line.
        self._takes = starmap(self._lock.acquire, repeat((True,)))
        #: The same, for a line to a file of our own, waiting for moments only (see
        #: bounded_takes; a line holds it for one ``os.write``): True if taken.
        self._bounded_takes = bounded_takes(self._lock)
        #: Held while buffered lines are written out (the program's threads may append
        #: meanwhile, see write): whoever takes the buffer first writes it first.
        self._writing = allocate_lock()
        self.broken = False
        #: Whether a GIL orders the threads, which the buffered lines then rely on.
        self._gil = _gil_enabled()
        #: Lines appended and not yet written; None: every line is written at once.
        self._pending: list[bytes] | None = [] if buffered and not shares_output(fd) else None
        self._pending_size = 0
        self._closed = False
        #: Rung when the first line is buffered; ``_now`` when the buffer is full or closes.
        self._bell = allocate_lock()
        self._bell.acquire()
        self._now = allocate_lock()
        self._now.acquire()
        self._flusher: _Flusher | None = None
        #: How to write a line at once keeping the GIL (see gil_write), when asked (the
        #: lines): looked up now, while the program has not started its threads.
        self._keeping_gil: Any = (keep_gil and self._pending is None and gil_writer(fd)) or None
        if self._pending is not None:
            _buffered.add(self)
            ourthreads.steps_aside_for_forks(self, ourthreads.WRITES)
            _hook_exit()
        reset_after_fork(self)

    @property
    def buffered(self) -> bool:
        return self._pending is not None

    def _after_fork_in_child(self) -> None:
        self._lock._at_fork_reinit()  # a thread of the parent may have held it
        self._writing._at_fork_reinit()
        for rung in (self._bell, self._now):
            rung._at_fork_reinit()
            rung.acquire()
        self._flusher = None  # not in the child: started again at its first line
        if self._pending is not None:
            self._pending.clear()  # the parent's, written by the parent (see _before_fork)
            self._pending_size = 0

    def msg(self, line: str) -> None:
        self.write((line + "\n").encode("utf-8", "backslashreplace"))

    def write(self, data: bytes) -> None:
        """Write ``data``, a whole line or block ending with its newline."""
        pending = self._pending
        if pending is None:
            if self._keeping_gil is not None and len(_threads) > 1 and len(data) <= LONGEST:
                data = self._write_keeping_gil(data)
                if not data:
                    return
            if self._owns_fd:  # close() closes it, under our lock: not while a line is written
                for got in self._bounded_takes:
                    try:
                        self._write(data)
                    finally:
                        if got:
                            self._lock.release()
                    return
            # No lock of ours: the kernel writes a line whole (a terminal's write, a pipe's up
            # to PIPE_BUF, a file's under its position lock), and the lines a program's events
            # put in an order are written in it (each is written before its thread goes on).
            # A thread that held a lock of ours here could run the program's code in it (its
            # profile function, a signal handler), which may wait for a lock of the program's
            # held by a thread waiting for ours: saying its release, before the release.
            if self.broken:
                return
            try:
                written = os_write(self._fd, data)
            except InterruptedError:
                return
            except OSError:
                self.broken = True  # see _write
                return
            if written < len(data):
                self._write(data[written:])
            return
        # Appended without our lock, under the GIL: a list's append is atomic, and between
        # the test of ``_closed`` and the append nothing lets another thread run (no call),
        # so close() writes every line appended before it. Without a GIL, under our lock,
        # which close() takes. A line appended while a flush writes rings nothing (the buffer
        # was not empty): the flusher looks again (see _Flusher). The size is a hint for
        # ringing the flusher, counted again by each flush.
        locked = not self._gil
        if locked:
            for _ in self._takes:
                break
        try:
            if self._closed or self.broken:
                return
            was_empty = not pending
            pending.append(data)
        finally:
            if locked:
                self._lock.release()
        self._pending_size += len(data)
        full = self._pending_size >= FLUSH_SIZE
        if self._flusher is None:
            self._start_flusher()
        if was_empty or full:
            rung = self._now if full else self._bell
            # Rung once: while the flusher waits for the GIL, every line of a full buffer comes
            # here, and a release of a lock already released raises (5,000 instructions).
            if rung.locked():
                with contextlib.suppress(RuntimeError):  # rung meanwhile, by another thread
                    rung.release()

    def step_aside(self) -> ourthreads.Started | None:
        """
        Before a single-threaded program's fork: end the flusher (see ourthreads; what was
        buffered is written already, see _before_fork); the next line starts another.
        """
        flusher = self._flusher
        if flusher is None:
            return None
        self._flusher = None
        flusher.stop()
        # Bells of its own for the next flusher: this one, should it outlive stop()'s wait,
        # must not take their rings (only the forking thread runs: no line rings meanwhile).
        self._bell = allocate_lock()
        self._bell.acquire()
        self._now = allocate_lock()
        self._now.acquire()
        # A line appended since _before_fork's flush (a watchdog's finding, as it ended), which
        # the flusher, stopping, left: written now, not at exit.
        self.flush(timeout=1.0)
        return flusher.thread

    def _start_flusher(self) -> None:
        for _ in self._takes:
            break
        try:
            if self._flusher is None:
                flusher = _Flusher(self)
                # A signal handler's line may have made one meanwhile (the lock is reentrant):
                # no call between the test and the store, so no handler runs between them.
                if self._flusher is None:
                    self._flusher = flusher
                    try:
                        flusher.start()
                    except Exception:  # no thread to be had (3.12's shutdown): close() writes
                        self._flusher = None
                        return
                    # Lines left by a flusher that stepped aside rang no bell: ring it.
                    if self._pending and self._bell.locked():
                        with contextlib.suppress(RuntimeError):
                            self._bell.release()
        finally:
            self._lock.release()

    def _write_keeping_gil(self, data: bytes) -> bytes:
        """Write ``data`` keeping the GIL if it can be (see gil_write); return what is left."""
        keeping_gil = self._keeping_gil  # looked at again: another thread may have ended it
        if keeping_gil is None or self.broken:
            return data
        if self._owns_fd:  # close() closes it, under our lock: not while a line is written
            for got in self._bounded_takes:
                try:
                    written = -errno.EBADF if self.broken else keeping_gil(data)
                finally:
                    if got:
                        self._lock.release()
                break
        else:
            # The GIL keeps the other threads out of the write, and a line goes out whole: no
            # lock to take (measured on the realistic benchmark, the lock cost 5-10%).
            written = keeping_gil(data)
        if written >= 0:
            return data[written:]  # a part: the rest goes to os.write
        if -written in UNSUPPORTED:  # a terminal now (dup2), an old kernel: never again
            self._keeping_gil = None
        # Not written (it would wait, or failed): os.write waits, or says what went wrong.
        return data

    def flush(self, timeout: float = -1) -> None:
        """
        Write what is buffered now, in one go. With a ``timeout``, give up after that long
        (a process ending from a signal handler may have interrupted a thread in ``write``).
        """
        if self._pending is None or not self._writing.acquire(timeout=timeout):
            return
        try:
            if not self._lock.acquire(timeout=timeout):
                return
            try:
                # What is there now, no more: a signal handler (run at a call) may append a
                # line of its own between these steps (the lock is reentrant).
                pending = self._pending
                taken = len(pending)
                data = b"".join(pending[:taken])
                del pending[:taken]
                self._pending_size = sum(map(len, pending))  # appended meanwhile
            finally:
                self._lock.release()
            if data:
                self._write(data)
        finally:
            self._writing.release()

    def _write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            written = os_write(self._fd, data)
            while written < len(data):  # only a non-blocking or interrupted output splits
                data = data[written:]
                written = os_write(self._fd, data)
        except InterruptedError:
            pass
        except OSError:
            # A closed pipe, a full disk, a non-blocking stderr that is full: none of it may
            # break the program. Stop writing.
            self.broken = True

    info = debug = warning = error = critical = log = msg

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a line after this (a daemon thread's) is not written
        self.flush()
        with self._lock:
            if self._owns_fd:
                # A line after this (a daemon thread's) is not written: the fd may be reused
                # by then for one of the program's files.
                self.broken = True
        if self._pending is not None:
            flusher = self._flusher
            if flusher is not None:
                self._flusher = None
                flusher.stop()
            _buffered.discard(self)
            if not _buffered:
                _unhook_exit()
        if self._owns_fd:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def say(message: str) -> None:
    """``syncscope: message`` on standard error at once, whatever the program made of sys.stderr."""
    with contextlib.suppress(OSError):
        os_write(2, f"syncscope: {message}\n".encode("utf-8", "backslashreplace"))


def shares_output(fd: int) -> bool:
    """Whether ``fd`` is a terminal or the file of the process's standard output or error."""
    try:
        if os.isatty(fd):
            return True
        mine = os.fstat(fd)
    except OSError:
        return True  # what cannot be looked at is written at once, as before
    if stat.S_ISCHR(mine.st_mode):  # /dev/null, a device: nothing to gain, keep it simple
        return True
    for standard in (1, 2):
        with contextlib.suppress(OSError):
            other = os.fstat(standard)
            if (other.st_dev, other.st_ino) == (mine.st_dev, mine.st_ino):
                return True
    return False


class StartingStderr:
    """
    A duplicate of the standard error ``python -m syncscope`` started with, for its findings
    and report: a test runner's capture (pytest's, under ``python -m syncscope -m pytest``)
    puts a file of its own on fd 2 while a test runs, where a finding would become part of
    what the test reads of its own output, and would not show while the test hangs. Kept
    only of a terminal, a device or a regular file: a duplicate of a pipe's end would keep
    whoever reads the pipe waiting for its end after the program closed its own.
    """

    def __init__(self) -> None:
        self.fd: int | None = None
        self._file: tuple[int, int] | None = None
        try:
            info = os.fstat(2)
            if not (stat.S_ISCHR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                return
            try:  # a number out of the way of those the program opens next; not inherited
                import fcntl

                self.fd = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, _STARTING_STDERR_FD)
            except (ImportError, OSError):
                self.fd = os.dup(2)
            self._file = (info.st_dev, info.st_ino)
        except OSError:
            self.fd = None
        self._pid = os.getpid()
        if self.fd is not None:
            reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        """
        A forked child (a daemon detaching from its terminal, a worker) writes to its own fd 2:
        the copy is closed there, if it still is the file kept, so that a daemon does not hold
        on to the terminal it left.
        """
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            kept = os.fstat(fd)
        except OSError:
            return
        if (kept.st_dev, kept.st_ino) == self._file:
            with contextlib.suppress(OSError):
                os.close(fd)

    def instead_of_fd2(self) -> int | None:
        """
        The duplicate, when fd 2 is now a capture's unnamed temporary file, in the process
        that kept it, and the duplicate still is the file it was (a program that closed it
        may have opened another under its number); else None: fd 2 it is.
        """
        fd = self.fd
        if fd is None or os.getpid() != self._pid:
            return None
        try:
            now = os.fstat(2)
        except OSError:
            return None  # closed: as before, nothing is written
        # A capture's file: a temporary file with no name (pytest's, unittest-style fd
        # captures); a file of the program's own (a daemon's log) keeps its findings.
        if not stat.S_ISREG(now.st_mode) or now.st_nlink != 0:
            return None
        try:
            kept = os.fstat(fd)
        except OSError:
            return None
        if (kept.st_dev, kept.st_ino) != self._file:
            return None
        return None if (now.st_dev, now.st_ino) == self._file else fd


#: The lowest number the duplicate of the starting standard error takes, when it can.
_STARTING_STDERR_FD = 64
#: Kept by ``python -m syncscope`` before the program starts; None elsewhere (the pytest
#: plugin and ``syncscope.testing`` start while a capture may already be in place).
starting_stderr: StartingStderr | None = None


def keep_starting_stderr() -> None:
    """Keep the standard error syncscope starts with (see :class:`StartingStderr`)."""
    global starting_stderr
    if starting_stderr is None:
        starting_stderr = StartingStderr()


class _Flusher:
    """A thread of ours that writes a writer's buffered lines, a short while after the first."""

    def __init__(self, writer: FdWriter) -> None:
        # The writer is held weakly: a writer dropped without close() ends its flusher.
        self._writer = weakref.ref(writer)
        self._bell = writer._bell
        self._now = writer._now
        self._stopping = False
        self.thread: ourthreads.Started

    def start(self) -> None:
        # One of ours: threading would show it to the program (threading.enumerate()).
        self.thread = ourthreads.start(self._run)

    def _run(self) -> None:
        left = False
        while not self._stopping:
            if not left:
                self._bell.acquire()  # the first line is buffered
            # Let more lines come for a while, unless the buffer fills or the writer closes.
            self._now.acquire(timeout=FLUSH_INTERVAL)
            writer = self._writer()
            if writer is None or self._stopping:
                return
            writer.flush()
            # Lines appended as the flush wrote found the buffer not empty and rang
            # nothing: written in the next round, without waiting for a ring.
            left = bool(writer._pending)
            del writer

    def stop(self) -> None:
        """End the thread (the writer has written what was left), waiting a little for it."""
        self._stopping = True
        for rung in (self._bell, self._now):
            with contextlib.suppress(RuntimeError):  # already rung
                rung.release()
        self.thread.done.acquire(timeout=1.0)


# -- writing the buffers out before the process ends or forks ---------------------------------

_buffered: weakref.WeakSet[FdWriter] = weakref.WeakSet()
_os_exit: Any = None
_exit_wrapper: Any = None
_at_exit = False


def flush_all() -> None:
    for writer in list(_buffered):
        with contextlib.suppress(Exception):
            writer.flush(timeout=1.0)


def _hook_exit() -> None:
    """
    Wrap ``os._exit`` (once): it ends the process without closing anything. And flush at
    exit, for a writer nobody closes (``install(buffer_output=True)`` without ``uninstall()``).
    """
    global _os_exit, _exit_wrapper, _at_exit
    if not _at_exit:
        _at_exit = True
        atexit.register(flush_all)
    if _os_exit is not None:
        return
    _os_exit = original = os._exit

    def _exit(status: int) -> NoReturn:
        with contextlib.suppress(BaseException):  # the program ends as it asked, whatever
            flush_all()
        original(status)

    _exit.__wrapped__ = original  # type: ignore[attr-defined]
    _exit_wrapper = _exit
    os._exit = _exit


def _unhook_exit() -> None:
    global _os_exit, _exit_wrapper
    if _os_exit is not None and os._exit is _exit_wrapper:
        os._exit = _os_exit
        _os_exit = _exit_wrapper = None


def _before_fork() -> None:
    flush_all()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)
