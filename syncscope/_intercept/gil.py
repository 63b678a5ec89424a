"""
What a lock wrapper written in Python must do about the GIL.

CPython checks for a pending GIL hand-over after every C call a Python frame makes. A wrapper
makes such calls after taking the real lock and before releasing it, so, unlike the bare lock,
the thread holding it can lose the GIL while holding it. The threads that run next find the
lock taken and park on it; each release then hands the lock to a parked thread that must get
the GIL first: a lock convoy, a context switch for every acquisition. Measured here with four
threads incrementing a counter under one lock: 0.25 s bare, 2.8 s through a wrapper that only
passes the calls on.

So before parking, a contended acquire gives the GIL away a few times and tries again: the
holder, most often only waiting for the GIL, runs on and releases, and nobody parks. The same
measurement: 0.37 s.
"""

from __future__ import annotations

import time

from .._core.timeouts import no_time_limit
from .interrupts import take


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: Tries before parking on the lock.
_YIELDS = 3
_sleep = time.sleep


def acquire_contended(lock: Any, timeout: Any = -1) -> Any:
    """
    ``lock.acquire(True, timeout)``, for a lock whose non-blocking attempt just failed; when
    the wait has no time limit, a few turns of the GIL to the others come first. Its answer
    comes back as :func:`_interrupts.take`'s does: no Ctrl-C between it and the caller.
    """
    if no_time_limit(timeout):  # not timeout == -1: a subclass's __eq__ is the program's
        for _ in range(_YIELDS):
            _sleep(0)
            if take(lock, False):
                return True
    # Not take(): this frame stays the innermost one while the thread waits, as a profiler
    # or a look at sys._current_frames() sees it.
    for got in map(lock.acquire, (True,), (timeout,)):
        return got
    raise AssertionError("map() over one item gave none")  # not reached
