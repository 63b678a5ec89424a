"""
Version switches: every difference between the Pythons syncscope runs on lives here.
"""

import sys


PY_3_12_PLUS = sys.version_info >= (3, 12)
PY_3_13_PLUS = sys.version_info >= (3, 13)
PY_3_14_PLUS = sys.version_info >= (3, 14)

# 3.13 made ``threading.Lock`` the lock type itself instead of a factory function.
LOCK_IS_A_CLASS = isinstance(__import__("threading").Lock, type)

# ``Queue.shutdown()`` and ``queue.ShutDown`` arrived in 3.13.
QUEUE_HAS_SHUTDOWN = hasattr(__import__("queue").Queue, "shutdown")

# Free-threaded builds (3.13t+) have no GIL: nothing here relies on it, but say it once.
FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()
