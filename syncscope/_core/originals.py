"""
The ``os`` functions syncscope calls on the program's threads, as they were when syncscope was
imported: a program or its test tools may replace them while it runs (blockbuster, which
anyio's tests run, makes ``os.path.abspath``, ``os.getcwd``, ``os.read``, ``os.write`` and file
reads raise on an asyncio loop's thread; pyfakefs and ``mock.patch`` replace them too), and
naming, placing or saying a primitive must not call the replacements.
"""

from __future__ import annotations

import os


write = os.write
_getcwd = os.getcwd
_isabs = os.path.isabs
_join = os.path.join
_normpath = os.path.normpath
_open = os.open
_read = os.read
_close = os.close
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def absolute(filename: str) -> str:
    """``os.path.abspath(filename)``, which looks ``os.getcwd`` up at each call."""
    return _normpath(filename if _isabs(filename) else _join(_getcwd(), filename))


def read_file(filename: str) -> bytes:
    """The bytes of ``filename`` (not ``open().read()``: blockbuster replaces file reads)."""
    fd = _open(filename, _READ_FLAGS)
    try:
        chunks: list[bytes] = []
        while True:
            chunk = _read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        _close(fd)
