"""
What syncscope resets in a forked child, through one ``os.register_at_fork`` handler.

A thread of the parent may have held one of our raw locks at the fork, and our own threads do
not survive it. Objects that care register here and get ``_after_fork_in_child()`` called in
the child. One handler for all, holding its objects weakly: fork handlers cannot be removed,
so a handler per object would keep every object alive for the life of the process.
"""

from __future__ import annotations

import contextlib
import os
import weakref


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_objects: weakref.WeakSet[Any] = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive."""
    _objects.add(obj)


def _in_child() -> None:
    for obj in list(_objects):
        with contextlib.suppress(Exception):  # the child must run whatever happens here
            obj._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
