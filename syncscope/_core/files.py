"""
Whole files syncscope writes at the end (the JSON report, the timeline, the HTML page, the
Jaeger file): written under a temporary name and put in place in one rename, so that nobody
reads half of one, except where the path is not a file of its own to replace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def whole_file(path: str) -> Iterator[str]:
    """
    The name to write ``path``'s new content under: a temporary file beside it, renamed to
    ``path`` once written (removed if the writing fails). A path that names anything but a
    regular file is written in place: a rename would put a file where a device (``/dev/null``,
    as root), a pipe (``/dev/stdout``, a FIFO) or a symbolic link was.
    """
    try:
        in_place = not stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:  # not there yet, or not to be looked at: the writing says what is wrong
        in_place = False
    if in_place:
        yield path
        return
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def check_writable(path: str, empty: bool = False) -> None:
    """
    Raise OSError now, at start, if ``path`` cannot be written at exit; ``empty``: and empty
    the regular file there now. A device or a FIFO is only asked: opening a FIFO to try would
    wait for its reader, and closing it would end what that reader reads.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:  # not there yet, or not to be looked at: the open says what is wrong
        mode = 0
    if mode and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        if not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return
    with open(path, "wb" if empty else "ab"):
        pass


def takes_rewrites(path: str) -> bool:
    """
    Whether ``path`` may be written whole more than once (a report kept up to date while the
    program runs): a regular file, or none yet. A reader of a pipe or a FIFO would read each
    version after the other, and wait for ever once it has read the first.
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True
