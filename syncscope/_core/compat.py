"""
Version switches: every difference between the Pythons syncscope runs on lives here.
"""

# 3.13 made ``threading.Lock`` the lock type itself instead of a factory function.
LOCK_IS_A_CLASS = isinstance(__import__("threading").Lock, type)

# ``Queue.shutdown()`` and ``queue.ShutDown`` arrived in 3.13.
QUEUE_HAS_SHUTDOWN = hasattr(__import__("queue").Queue, "shutdown")
