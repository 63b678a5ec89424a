"""
The function wrappers syncscope puts on cold paths (``Thread.start``, the pool's ``submit``,
a Future's waits), taken off together and newest first.

Two of them may wrap the same method (``ThreadPoolExecutor.submit`` carries the program's span
and is observed as a wait), in whichever order their post-import hooks ran; only the outermost
wrapper can be taken off, so taking them off in the reverse order they were put on is the one
order that always works. The wrappers are syncscope's own (see ``_core.hooks``), not wrapt's:
importing wrapt takes tens of milliseconds (it brings asyncio in).
"""

from __future__ import annotations

from collections.abc import Callable

from .._core.hooks import unwrap_function, wrap_function


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: (owner, attribute name, the stand-in put there), oldest first.
_installed: list[tuple[Any, str, Callable[..., Any]]] = []


def wrap(owner: Any, path: str, wrapper: Callable[..., Any]) -> None:
    """Put ``wrapper`` (``(wrapped, instance, args, kwargs)``) on ``owner.path`` (dotted)."""
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    _installed.append((owner, name, wrap_function(owner, name, wrapper)))


def unwrap_all() -> None:
    """Take every wrapper off, newest first."""
    while _installed:
        owner, name, stand_in = _installed.pop()
        # Something that wrapped it after us keeps both in place (as the patch's restore does).
        unwrap_function(owner, name, stand_in)
