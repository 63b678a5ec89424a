"""
The program's view of the signal handlers syncscope puts in place of the program's own: a
fatal signal's default action while outputs must close first (``fatal``), and Ctrl-C's
``default_int_handler`` while a lock wrapper must not be interrupted (``_intercept/interrupts``).

While one stands in, ``signal.getsignal()`` says the program's own, and ``signal.signal()``
gives the program's own back as the handler it replaced; a program that sets its own again
(``old = signal.signal(...)``, then ``signal.signal(old)``) gets syncscope's back in its place.
A program that installs a handler only over the default one would otherwise leave it out.

syncscope itself uses the C module's functions (:data:`getsignal_original`,
:data:`signal_original`: a handler as it is, SIG_DFL and SIG_IGN as ints). The ``signal``
module imports ``enum``, which costs start-up: its functions are wrapped once the program
imports it (see ``hooks.when_imported``).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import functools
import sys

from .hooks import when_imported
from .tracebacks import hide_frames


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any


#: The C module's, which see syncscope's handlers as they are.
getsignal_original: Callable[[int], Any] = _signal.getsignal
signal_original: Callable[[int, Any], Any] = _signal.signal
#: The default action, as the C module's functions take it (not the ``signal`` module's enum).
SIG_DFL: int = _signal.SIG_DFL

#: Signal -> (syncscope's handler, the program's own it stands in for).
_stand_ins: dict[int, tuple[Any, Any]] = {}
#: The ``signal`` module's own (getsignal, signal), once seen.
_originals: list[Any] = []


def stand_in(number: int, ours: Any, theirs: Any) -> None:
    """``ours`` (already set) handles ``number`` in place of ``theirs``, which the program sees."""
    _stand_ins[number] = (ours, theirs)
    when_imported("signal", _wrap)


def stand_down(number: int) -> None:
    """No handler of syncscope's stands in for ``number`` any more; the last puts back the
    module's functions (unless something else has replaced them since)."""
    _stand_ins.pop(number, None)
    module = sys.modules.get("signal")
    if _stand_ins or not _originals or module is None:
        return
    ours = (getsignal, set_signal)
    for name, mine, original in zip(("getsignal", "signal"), ours, _originals, strict=True):
        if getattr(module, name) is mine:
            setattr(module, name, original)


def _wrap(module: ModuleType) -> None:
    if not _stand_ins or module.getsignal is getsignal:
        return
    if not _originals:
        own_getsignal, own_signal = module.getsignal, module.signal
        _originals[:] = [own_getsignal, own_signal]
        functools.update_wrapper(getsignal, own_getsignal)
        functools.update_wrapper(set_signal, own_signal)
    setattr(module, "getsignal", getsignal)  # noqa: B010 (a module's attribute: mypy)
    setattr(module, "signal", set_signal)  # noqa: B010


def _stand_in(number: Any) -> tuple[Any, Any] | None:
    return _stand_ins.get(number) if isinstance(number, int) else None


def as_the_program_set_it(number: Any, handler: Any) -> Any:
    """``handler`` as the program sees it: its own where one of ours stands in for it."""
    entry = _stand_in(number)
    return entry[1] if entry is not None and handler is entry[0] else handler


def _same(handler: Any, theirs: Any) -> bool:
    # SIG_DFL and SIG_IGN are ints too (``signal.signal(n, 0)``).
    if handler is theirs:
        return True
    return isinstance(handler, int) and isinstance(theirs, int) and handler == theirs


def getsignal(signalnum: Any) -> Any:
    try:
        return as_the_program_set_it(signalnum, _originals[0](signalnum))
    except BaseException as exc:
        hide_frames(exc)  # the program's traceback, not ours
        raise


def set_signal(signalnum: Any, handler: Any) -> Any:
    try:
        entry = _stand_in(signalnum)
        if entry is not None and _same(handler, entry[1]):
            handler = entry[0]  # the program's own, as it sees it: ours stands in again
        return as_the_program_set_it(signalnum, _originals[1](signalnum, handler))
    except BaseException as exc:
        hide_frames(exc)
        raise
