"""
Version switches: every difference between the Pythons syncscope runs on lives here.
"""

from __future__ import annotations

import gc
import sys
from types import FrameType


# 3.13 made ``threading.Lock`` the lock type itself instead of a factory function.
LOCK_IS_A_CLASS = isinstance(__import__("threading").Lock, type)

# ``Queue.shutdown()`` and ``queue.ShutDown`` arrived in 3.13.
QUEUE_HAS_SHUTDOWN = hasattr(__import__("queue").Queue, "shutdown")

# Before 3.12, a collection can start inside ``sys._current_frames()`` (see current_frames).
_GC_IN_CURRENT_FRAMES = sys.version_info < (3, 12)


def current_frames() -> dict[int, FrameType]:
    """
    ``sys._current_frames()``, without the deadlock it can cause before 3.12 (CPython
    gh-106883): it holds the runtime's thread-list lock while it allocates, a collection can
    start there and free a thread-local, whose deallocation wants that lock again. 3.12 and
    later turn the collector off for the call themselves; here it is done around it.
    """
    if not _GC_IN_CURRENT_FRAMES or not gc.isenabled():
        return sys._current_frames()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        gc.enable()
