"""
The wrapt function wrappers syncscope puts on cold paths (``Thread.start``, the pool's
``submit``, a Future's waits), taken off together and newest first.

Two of them may wrap the same method (``ThreadPoolExecutor.submit`` carries the program's span
and is observed as a wait), in whichever order their post-import hooks ran; wrapt takes off
only the outermost wrapper, so taking them off in the reverse order they were put on is the
one order that always works. wrapt is imported only here, when a wrapper is put on: its import
takes tens of milliseconds (it brings asyncio in).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


#: (owner, dotted attribute path, the wrapper wrapt put there), oldest first.
_installed: list[tuple[Any, str, Any]] = []


def wrap(owner: Any, path: str, wrapper: Callable[..., Any]) -> None:
    """Put ``wrapper`` on ``owner.path`` (wrapt's ``(wrapped, instance, args, kwargs)``)."""
    import wrapt

    handle = wrapt.wrap_function_wrapper(owner, path, wrapper)
    _installed.append((owner, path, handle))


def unwrap_all() -> None:
    """Take every wrapper off, newest first."""
    if not _installed:
        return
    import wrapt

    while _installed:
        owner, path, handle = _installed.pop()
        # Something that wrapped it after us keeps both in place (as the patch's restore does).
        with contextlib.suppress(Exception):
            wrapt.unwrap_object(owner, path, handle)
