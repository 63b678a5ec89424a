"""
A line written at once without giving the GIL away, while other threads would take it.

``os.write`` lets go of the GIL around its system call. With other threads ready to run, one of
them takes it, and the thread that wrote waits for it to come back: up to the switch interval
(5 ms), while it may hold the lock or the permit its line is about. Measured with the lines
on standard error, a pipe drained by another process (``benchmarks/endtoend.py``, "lines to
stderr", best of 3, ratios to plain python), before and with the writes made through
``ctypes.PyDLL``, which keeps the GIL over the call: the job queue (48,000 lines) 2.1x -> 1.5x,
the bounded buffer 2.9x -> 2.0x, the short realistic program 5.7x -> 3.3x, four threads on
one Lock (800,000 lines) 122x -> 66x.

A write that keeps the GIL must never wait: a full pipe whose reader is a thread of the same
program would never drain. So the file is polled first, without waiting, and only a line that a
writable pipe takes whole (``PIPE_BUF`` bytes) is written this way; a file that is not ready,
a longer line and every error go to ``os.write``. The price is two calls through ctypes
(about 2 µs a line here against 0.4 µs for ``os.write``), paid only while the program runs
other threads: alone, it loses nothing by giving the GIL away. Without ctypes, without a C
library to find ``write`` and ``poll`` in (Windows), or without a GIL (a free-threaded build),
there is nothing to do and ``os.write`` alone writes.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Callable


#: Longest line written keeping the GIL: what a pipe that polls writable takes at once.
LONGEST = min(getattr(select, "PIPE_BUF", 512), 4096)
_POLLOUT = getattr(select, "POLLOUT", 4)
#: What a file that cannot take a line says when polled (closed, in error, not open).
_NOT_READY = (
    getattr(select, "POLLERR", 8) | getattr(select, "POLLHUP", 16) | getattr(select, "POLLNVAL", 32)
)

#: The C library's ``write`` and ``poll`` through ctypes, looked up at the first need.
_calls: tuple[Callable[..., int], Callable[..., int], type] | None = None
_unavailable = False


def _c_calls() -> tuple[Callable[..., int], Callable[..., int], type] | None:
    global _calls, _unavailable
    if _calls is not None or _unavailable:
        return _calls
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and not is_gil_enabled():
        _unavailable = True  # no GIL to keep
        return None
    try:
        import ctypes  # here: about 5 ms, paid by a program that runs threads and writes lines

        libc = ctypes.PyDLL(None)  # PyDLL: the GIL stays held over each call
        write, poll = libc.write, libc.poll

        class PollFd(ctypes.Structure):
            _fields_ = [
                ("fd", ctypes.c_int),
                ("events", ctypes.c_short),
                ("revents", ctypes.c_short),
            ]

        write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
        write.restype = ctypes.c_ssize_t
        poll.argtypes = (ctypes.POINTER(PollFd), ctypes.c_ulong, ctypes.c_int)
        poll.restype = ctypes.c_int
    except Exception:  # no ctypes, no C library with these: os.write it is
        _unavailable = True
        return None
    _calls = (write, poll, PollFd)
    return _calls


def gil_writer(fd: int) -> Callable[[bytes], int] | None:
    """
    A function that writes a line of at most :data:`LONGEST` bytes to ``fd`` keeping the GIL,
    returning the bytes written, or -1 when it did not write (not ready, or an error: the
    caller writes with ``os.write`` then, which says what went wrong). None when there is no
    such way here.
    """
    calls = _c_calls()
    if calls is None:
        return None
    write, poll, poll_fd_type = calls
    # One per writer: the threads that may use it at once all poll the same file.
    poll_fd = poll_fd_type(fd, _POLLOUT, 0)

    def write_keeping_gil(data: bytes) -> int:
        if poll(poll_fd, 1, 0) != 1:
            return -1  # full: not ours to wait on, with the GIL held
        ready = poll_fd.revents
        if not ready & _POLLOUT or ready & _NOT_READY:
            return -1  # closed or in error: os.write says so
        return write(fd, data, len(data))

    return write_keeping_gil
