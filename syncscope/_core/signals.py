"""
The program's view of the signal handlers syncscope puts in place of the program's own: a
fatal signal's default action while outputs must close first (``fatal``), and Ctrl-C's
``default_int_handler`` while a lock wrapper must not be interrupted (``_intercept/interrupts``).

While one stands in, ``signal.getsignal()`` says the program's own, and ``signal.signal()``
gives the program's own back as the handler it replaced; a program that sets its own again
(``old = signal.signal(...)``, then ``signal.signal(old)``) gets syncscope's back in its place.
A program that installs a handler only over the default one would otherwise leave it out.
"""

from __future__ import annotations

import functools
import signal

from .tracebacks import hide_frames


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The originals, which see syncscope's handlers as they are.
getsignal_original = signal.getsignal
signal_original = signal.signal

#: Signal -> (syncscope's handler, the program's own it stands in for).
_stand_ins: dict[int, tuple[Any, Any]] = {}


def stand_in(number: int, ours: Any, theirs: Any) -> None:
    """``ours`` (already set) handles ``number`` in place of ``theirs``, which the program sees."""
    _stand_ins[number] = (ours, theirs)
    signal.getsignal, signal.signal = getsignal, set_signal


def stand_down(number: int) -> None:
    """No handler of syncscope's stands in for ``number`` any more; the last puts back the
    original functions (unless something else has replaced them since)."""
    _stand_ins.pop(number, None)
    if _stand_ins:
        return
    if signal.getsignal is getsignal:
        signal.getsignal = getsignal_original
    if signal.signal is set_signal:
        signal.signal = signal_original


def _stand_in(number: Any) -> tuple[Any, Any] | None:
    return _stand_ins.get(number) if isinstance(number, int) else None


def _as_the_program_set_it(number: Any, handler: Any) -> Any:
    entry = _stand_in(number)
    return entry[1] if entry is not None and handler is entry[0] else handler


def _same(handler: Any, theirs: Any) -> bool:
    # SIG_DFL and SIG_IGN are ints too (``signal.signal(n, 0)``).
    if handler is theirs:
        return True
    return isinstance(handler, int) and isinstance(theirs, int) and handler == theirs


@functools.wraps(getsignal_original)
def getsignal(signalnum: Any) -> Any:
    try:
        return _as_the_program_set_it(signalnum, getsignal_original(signalnum))
    except BaseException as exc:
        hide_frames(exc)  # the program's traceback, not ours
        raise


@functools.wraps(signal_original)
def set_signal(signalnum: Any, handler: Any) -> Any:
    try:
        entry = _stand_in(signalnum)
        if entry is not None and _same(handler, entry[1]):
            handler = entry[0]  # the program's own, as it sees it: ours stands in again
        return _as_the_program_set_it(signalnum, signal_original(signalnum, handler))
    except BaseException as exc:
        hide_frames(exc)
        raise
