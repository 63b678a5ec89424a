"""
A line written at once without giving the GIL away, while other threads would take it.

``os.write`` lets go of the GIL around its system call. With other threads ready to run, one of
them takes it, and the thread that wrote waits for it to come back: up to the switch interval
(5 ms), while it may hold the lock or the permit its line is about. Measured with the lines
on standard error, a pipe drained by another process (``benchmarks/endtoend.py``, "lines to
stderr", best of 3, ratios to plain python), before and with the writes made through
``ctypes.PyDLL``, which keeps the GIL over the call: the job queue (48,000 lines) 2.1x -> 1.6x,
the bounded buffer 2.8x -> 1.8x, the short realistic program (20,000 lines) 6.5x -> 3.5x, four
threads on one Lock (800,000 lines) 78x -> 64x.

A write that keeps the GIL must never wait: every thread, signal handlers included, would wait
with it, and a pipe whose reader is a thread of the same program would never drain. Polling
first is not enough (another writer, the program's own, can fill the pipe between the poll and
the write; a terminal polls writable with less room than a line). So the kernel is asked not to
wait: ``pwritev2`` with ``RWF_NOWAIT`` writes a line a pipe or ``/dev/null`` can take at once
(a pipe takes a line of at most a page whole or not at all) and fails with ``EAGAIN``
otherwise. A named FIFO, and a pipe before Linux 6.4, answer ``EOPNOTSUPP``: the writer stops
trying. A terminal (which can keep a write waiting with less room than a line) and a socket
(a TCP socket may take part of a line) are never written so.

A regular file on a local filesystem (standard error redirected, ``2> log``) is written so too,
without ``RWF_NOWAIT``, which Linux does not take for a buffered write to one (ext4 on 6.18
answers ``EOPNOTSUPP``): such a write copies into the page cache and waits on nothing that
needs a thread of the program; at worst on the disk, when the system is short of memory.
Measured on the bounded buffer with its lines to a file as standard error (80,000 lines, four
threads): 2.48 s with ``os.write``, 1.63 s so, 1.23 s under plain python. A file on any other
filesystem (NFS, CIFS, FUSE, whose server may even be a thread of the program), or on one not
found in ``/proc/self/mountinfo`` (a btrfs subvolume's own device), is written with
``os.write``; and each line first checks that the file is still the one it was (see
``_file_writer``).

Anything not written so goes to ``os.write``, which waits and says what went wrong as before.

The price is a call through ctypes, about 5,500 instructions a line against 1,100 for
``os.write`` (counted with callgrind on 3.11; a regular file's line makes two calls, the look
and the write: 1.2-1.5 µs a line, against 0.35 µs for ``os.write``), paid only while the
program has a second thread (idle or not). Without ctypes, without ``pwritev2`` (not Linux,
a C library before glibc 2.26), on another Python than CPython, without a GIL (a free-threaded
build), on a 32-bit build, or where a ``bytes`` is laid out otherwise, ``os.write`` alone
writes.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: Longest line written keeping the GIL: what a pipe takes whole (POSIX's PIPE_BUF on Linux).
LONGEST = 4096
NOWAIT = 8  # RWF_NOWAIT
#: Filesystems whose regular files are written keeping the GIL: local ones, whose writes never
#: wait for a process or a thread (not NFS, CIFS, FUSE).
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "tmpfs", "ramfs", "overlay", "zfs"}
)
#: What the file answers when it cannot be written without waiting in any case (a terminal,
#: a regular file, a kernel before 4.14): EOPNOTSUPP, then EINVAL and ENOSYS for older ones.
UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


#: pwritev2, ctypes' errno, the iovec maker, where a bytes' contents begin, the offset -1.
CCall = tuple[Callable[..., int], Callable[[], int], Callable[..., bytes], int, "Any"]


def _c_call() -> CCall | None:
    """
    ``pwritev2`` through ctypes' PyDLL (the GIL stays held over the call), ctypes' errno, a
    maker of the one-entry ``iovec`` for a ``bytes``, where a ``bytes``' contents begin in
    it, and the offset -1 as an ``off_t``; or None.

    The call takes no ``argtypes`` and the ``iovec`` is packed with ``struct`` from the
    address of the ``bytes``' contents: counted with callgrind, a line written so costs 5,500
    instructions on 3.11, against 12,500 with ``argtypes`` and a ``ctypes.Structure`` (and
    1,100 for ``os.write``).
    """
    if sys.implementation.name != "cpython" or not sys.platform.startswith("linux"):
        return None
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and not is_gil_enabled():
        return None  # no GIL to keep
    try:
        import ctypes  # here: about 5 ms, for lines written at once to a pipe or a device
        import struct

        if ctypes.sizeof(ctypes.c_long) != 8:  # off_t is 64 bits, passed as a long below
            return None
        # A bytes' contents follow its header, at a fixed offset (its ob_sval): checked on
        # one, so that a build laid out otherwise writes with os.write instead.
        contents = bytes.__basicsize__ - 1
        probe = b"syncscope probe\n"
        if ctypes.string_at(id(probe) + contents, len(probe)) != probe:
            return None
        pwritev2 = ctypes.PyDLL(None, use_errno=True).pwritev2
        pwritev2.restype = ctypes.c_ssize_t
        iovec = struct.Struct("Pn").pack  # struct iovec: void *iov_base, size_t iov_len
        no_offset = ctypes.c_long(-1)  # off_t -1: at the file's position, as write(2)
    except Exception:  # no ctypes (an isolated subinterpreter), no pwritev2: os.write it is
        return None
    return pwritev2, ctypes.get_errno, iovec, contents, no_offset


def gil_writer(fd: int) -> Callable[[bytes], int] | None:
    """
    A function that writes a line of at most :data:`LONGEST` bytes to ``fd`` keeping the GIL
    and never waiting on the program: it returns the bytes written, or minus the error number
    (``-EAGAIN``: not now; one of :data:`UNSUPPORTED`: never for this file). None when the
    file is not one that could be written so (a terminal, a socket, a regular file on a
    filesystem not known to be local) or there is no such way here.
    """
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    mode = status.st_mode
    regular = stat.S_ISREG(mode)
    # Not a socket: a TCP socket may take part of a line, and the rest, written later, could
    # come after another thread's line (measured in review: 10 of 8,000 lines cut so).
    if not (regular or stat.S_ISFIFO(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd))):
        return None
    if regular and filesystem_of(status.st_dev) not in LOCAL_FILESYSTEMS:
        return None
    call = _c_call()
    if call is None:
        return None
    pwritev2, get_errno, iovec, contents, no_offset = call
    if regular:
        return _file_writer(fd, call)

    def write_keeping_gil(data: bytes) -> int:
        if type(data) is not bytes:  # the address below is a bytes' contents only
            return -errno.EAGAIN  # os.write, then
        # A vector of its own per call: another thread may be in here too (no lock is taken).
        # It points into ``data``, which this call keeps alive (CPython never moves an object).
        written: int = pwritev2(fd, iovec(id(data) + contents, len(data)), 1, no_offset, NOWAIT)
        return written if written >= 0 else -get_errno()

    return write_keeping_gil


#: statx(2)'s flags and mask: the file ``fd`` is open on (AT_EMPTY_PATH), as the kernel has
#: it without asking a network filesystem's server (AT_STATX_DONT_SYNC); its type and inode.
_AT_EMPTY_PATH = 0x1000 | 0x4000
_STATX_TYPE_AND_INO = 0x1 | 0x100


def _file_writer(fd: int, call: CCall) -> Callable[[bytes], int] | None:
    """
    :func:`gil_writer` for a regular file on a local filesystem: a write without
    ``RWF_NOWAIT``, which waits for nothing of the program's as long as ``fd`` is still that
    file. So each write looks first (``statx``, keeping the GIL too): a program may point
    ``fd`` elsewhere (``os.dup2`` of a pipe that a thread of its own drains, as output-capturing
    libraries do), and a write there keeping the GIL could wait for that thread for ever. Not
    the same file any more: ``EOPNOTSUPP``, and the writer writes with ``os.write`` from then on.
    This narrows the danger rather than removing it: a ``dup2`` made by another thread between
    the look and the write, onto a pipe that is full at that moment, would still be waited on.
    """
    pwritev2, get_errno, iovec, contents, no_offset = call
    try:
        import ctypes

        statx = ctypes.PyDLL(None, use_errno=True).statx
        statx.restype = ctypes.c_int
        found = (ctypes.c_uint64 * 32)()  # struct statx: 256 bytes
        here = ctypes.c_char_p(b"")
        if statx(fd, here, _AT_EMPTY_PATH, _STATX_TYPE_AND_INO, found) != 0:
            return None
    except Exception:  # no statx (a C library before glibc 2.28): os.write it is
        return None
    # stx_ino at byte 32, stx_dev_major and stx_dev_minor at 136: compared as written.
    inode, device = found[4], found[17]

    def write_to_file(data: bytes) -> int:
        if type(data) is not bytes:  # the address below is a bytes' contents only
            return -errno.EAGAIN  # os.write, then
        if (
            statx(fd, here, _AT_EMPTY_PATH, _STATX_TYPE_AND_INO, found) != 0
            or found[4] != inode
            or found[17] != device
        ):
            return -errno.EOPNOTSUPP  # not the file it was (see above): never again
        written: int = pwritev2(fd, iovec(id(data) + contents, len(data)), 1, no_offset, 0)
        return written if written >= 0 else -get_errno()

    return write_to_file


def filesystem_of(device: int, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """
    The type of the filesystem mounted from ``device`` (a file's ``st_dev``) as ``mountinfo``
    lists it, or None if it is not there (a btrfs subvolume's own device, no ``/proc``).
    """
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                # "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=..."
                fields = line.split()
                if len(fields) > 3 and fields[2] == wanted and "-" in fields[3:]:
                    after = fields.index("-", 3) + 1
                    return fields[after] if after < len(fields) else None
    except (OSError, ValueError):
        return None
    return None
