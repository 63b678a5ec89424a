"""
How a thread stands, read from its frames when the watchdog looks: waiting for good in a
watched operation, blocked in the synchronization machinery, running (a wait that ends by
itself included: it may then feed the others), or one of syncscope's own threads.
"""

from __future__ import annotations

import os
import threading
from types import FrameType

from .._core.holds import Wait
from .._core.sites import SYNCSCOPE_DIR, is_machinery


_FUTURES_DIR = os.path.join(os.path.dirname(os.path.abspath(threading.__file__)), "concurrent")


def blocked_outside(frame: FrameType | None) -> bool:
    """
    A thread whose innermost Python frame is synchronization machinery, waiting for good: not
    with a timeout (``threading.Timer``, ``Event.wait(5)``, ``join(5)``, ``get(timeout=5)``:
    it wakes up by itself, and may then feed the others).
    """
    if frame is None:
        return True
    code = frame.f_code
    try:
        machinery = is_machinery(code) or code.co_filename.startswith(_FUTURES_DIR)
    except OSError:  # a relative file name, and the working directory is gone: not ours
        return False
    return machinery and machinery_timeout(frame) is None


def machinery_timeout(frame: FrameType) -> float | None:
    """
    The timeout of the wait a machinery frame is in (``Condition.wait``, ``Event.wait``,
    ``Thread.join``, a lock's acquire in ``threading``...), read from its ``timeout`` local;
    0 for a non-blocking call; None when it waits for ever (or it cannot be read).
    """
    try:
        local = frame.f_locals
        if local.get("blocking", True) is False or local.get("block", True) is False:
            return 0.0
        timeout = local.get("timeout")
    except Exception:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        return None  # None, or -1: for ever
    return float(timeout)


def is_ours(frame: FrameType | None) -> bool:
    """A thread syncscope started (its outermost frame is syncscope's): not the program's."""
    outermost = None
    while frame is not None:
        outermost = frame
        frame = frame.f_back
    if outermost is None:
        return False
    code = outermost.f_code
    # A thread's target is a function; a main thread starts in a module (ours, if run as a file).
    return code.co_name != "<module>" and code.co_filename.startswith(SYNCSCOPE_DIR)


#: How a thread stands, for the hang check and for cycles through ownerless primitives.
WAITING, OUTSIDE, RUNNING, OURS = "waiting", "outside", "running", "ours"


def standing(frame: FrameType, wait: Wait | None) -> str:
    """
    ``WAITING``: in a watched operation without a timeout; ``OUTSIDE``: blocked in the
    machinery (``Thread.join``, an unwatched Event...); ``RUNNING``: anything else, including a
    wait that ends by itself (it may then feed the others); ``OURS``: one of syncscope's
    threads.
    """
    if is_ours(frame):
        return OURS
    if wait is not None:
        return WAITING if wait.timeout is None else RUNNING
    return OUTSIDE if blocked_outside(frame) else RUNNING


def in_machinery(frame: FrameType, wait: Wait | None) -> bool:
    """In a wait (timed: the thread counts as running) rather than in the program's code."""
    if wait is not None:
        return True
    try:
        return is_machinery(frame.f_code)
    except OSError:
        return False


#: The machinery frames of Thread.join (3.11, 3.12; 3.13 joins in C under ``join``).
JOINS = frozenset({"join", "_wait_for_tstate_lock"})


def long_timed(frame: FrameType, wait: Wait | None, within_ns: int) -> bool:
    """
    A thread in a wait with a timeout of ``within_ns`` or more. Not ``Thread.join(timeout)``:
    a watchdog joining with a timeout waits for a thread to end, and feeds nobody meanwhile.
    """
    if wait is not None:
        timeout = wait.timeout
    else:
        try:
            machinery = is_machinery(frame.f_code)
        except OSError:
            return False
        if machinery and frame.f_code.co_name in JOINS:
            return False
        timeout = machinery_timeout(frame) if machinery else None
    return timeout is not None and timeout * 1e9 >= within_ns
