"""
Whole files syncscope writes (the JSON report, the timeline, the HTML page, the Jaeger file),
and where their path really leads: a regular file is replaced in one rename, never seen half
written; a device (``/dev/null``), a FIFO or one of the process's own streams (``/dev/stdout``)
is written into, once, at the end, and never renamed over.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import os
import stat
import time


#: How long the last write waits for a FIFO's reader to open it (seconds): less than the
#: spans' default flush timeout (5 s), within which the Jaeger file's failure is said.
FIFO_WAIT_SECONDS = 3.0

#: What a path leads to: a regular file (or none yet), one of the process's open files
#: through /proc or /dev/fd, a FIFO, a character device.
REPLACE, STREAM, FIFO, DEVICE = "replace", "stream", "fifo", "device"


def destination(path: str) -> tuple[str, str]:
    """
    What ``path`` leads to, and the path to write there: a symbolic link is followed, so
    that the link stays and its target is replaced. OSError for anything else (a directory,
    a socket, a block device), or a path that cannot be looked at.
    """
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit of links followed
        if current.startswith(("/proc/", "/dev/fd/")):
            return STREAM, path  # /dev/stdout: the file or pipe the process writes to
        try:
            link = os.readlink(current)
        except OSError:  # not a link (or nothing there)
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    else:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    if current == os.path.abspath(path):
        current = path  # no link followed: named as the user named it, in errors too
    try:
        mode = os.stat(current).st_mode
    except FileNotFoundError:
        return REPLACE, current
    if stat.S_ISREG(mode):
        return REPLACE, current
    if stat.S_ISFIFO(mode):
        return FIFO, current
    if stat.S_ISCHR(mode):
        return DEVICE, current
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    raise OSError(errno.ENXIO, "not a file, a FIFO or a character device", path)


def check_writable(path: str, empty: bool = False) -> None:
    """
    Raise OSError now, at start, if ``path`` cannot be written at exit; ``empty``: and empty
    the regular file there now. A device, a FIFO or a stream is only asked: opening a FIFO
    to try would wait for its reader, and closing it would end what that reader reads.
    """
    kind, where = destination(path)
    if kind == REPLACE:
        with open(where, "wb" if empty else "ab"):
            pass
    elif not os.access(where, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


def takes_rewrites(path: str) -> bool:
    """
    Whether ``path`` may be written whole more than once (a report kept up to date while the
    program runs): a regular file, or none yet. A pipe's reader would read each version after
    the other, and a stream would get them all.
    """
    try:
        return destination(path)[0] == REPLACE
    except OSError:
        return False


def write_whole(path: str, text: str, compress: bool = False) -> None:
    """Write ``text`` (gzipped: ``compress``) as the whole of what ``path`` leads to."""
    data = text.encode("utf-8")
    if compress:
        import gzip

        data = gzip.compress(data, compresslevel=6)
    kind, where = destination(path)
    if kind == REPLACE:
        # One per thread: a late finding's report and the final one may be written at once.
        temporary = f"{where}.{os.getpid()}.{_thread.get_ident()}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, where)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return
    fd = _open_fifo(where) if kind == FIFO else os.open(where, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _open_fifo(path: str) -> int:
    """A FIFO opened for writing once a reader has it open, within FIFO_WAIT_SECONDS."""
    deadline = time.monotonic() + FIFO_WAIT_SECONDS
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
            if time.monotonic() > deadline:
                waited = f"no reader of the FIFO within {FIFO_WAIT_SECONDS:g} s"
                raise OSError(errno.ENXIO, waited, path) from None
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd
