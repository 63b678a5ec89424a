"""
The program's view of the signal handlers syncscope puts in place of the program's own: a
fatal signal's default action while outputs must close first (``fatal``), and Ctrl-C's
``default_int_handler`` while a lock wrapper must not be interrupted (``_intercept/interrupts``).

While one stands in, ``signal.getsignal()`` says the program's own, and ``signal.signal()``
gives the program's own back as the handler it replaced; a program that sets its own again
(``old = signal.signal(...)``, then ``signal.signal(old)``) gets syncscope's back in its place.
A program that installs a handler only over the default one would otherwise leave it out.

While syncscope is installed, a handler of the program's own runs inside a wrapper of
syncscope's too (:func:`wrap_handlers`, for what ``_intercept/interrupts`` must put off), which
the program never sees either: ``signal.getsignal()`` and ``signal.signal()`` say its own.

syncscope itself uses the C module's functions (:data:`getsignal_original`,
:data:`signal_original`: a handler as it is, SIG_DFL and SIG_IGN as ints). The ``signal``
module imports ``enum``, which costs start-up: its functions are wrapped once the program
imports it (see ``hooks.when_imported``).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import _thread
import functools
import sys
import threading
from functools import partial
from types import FunctionType, MethodType

from .hooks import when_imported
from .sites import OWN_PREFIX
from .tracebacks import hide_frames


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType, ModuleType
    from typing import Any


#: The C module's, which see syncscope's handlers as they are.
getsignal_original: Callable[[int], Any] = _signal.getsignal
signal_original: Callable[[int, Any], Any] = _signal.signal
#: The default action, as the C module's functions take it (not the ``signal`` module's enum).
SIG_DFL: int = _signal.SIG_DFL

#: Signal -> (syncscope's handler, the program's own it stands in for).
_stand_ins: dict[int, tuple[Any, Any]] = {}
#: The attribute of each wrapper of syncscope's that names the program's own handler it runs:
#: known by the wrapper itself, not by its signal, so a handler or another thread running
#: while one is being set finds whichever is in place. Not a weak dictionary: its callback,
#: run as a wrapper goes, would be where python runs a pending handler, and lose what it
#: raises. The wrapper's id beside it: a copy of the attribute (``functools.wraps``) names
#: nothing.
_RUNS = "_syncscope_runs"
#: Wrappers left in place by an uninstall from another thread (only the main thread may set a
#: handler): the ``signal`` module's functions stay wrapped to say the program's own.
_left_wrapped = False
#: What wraps a handler of the program's as it is set (see ``wrap_handlers``), or None.
_wrapper_for: Callable[[Any], Any] | None = None
#: The code of each handler of the program's seen raising through its wrapper: known where
#: it is no longer set (a one-shot handler sets SIG_IGN before it raises), or where its code
#: cannot be told from the handler (a C callable calling it, a cached function...).
_raising_codes: set[CodeType] = set()
#: The ``signal`` module's own (getsignal, signal, set_wakeup_fd), once seen.
_originals: list[Any] = []
_NAMES = ("getsignal", "signal", "set_wakeup_fd")
#: ``warn_on_full_buffer`` as the program last set a wakeup fd through the ``signal`` module
#: (asyncio: False), for putting the fd back after a signal is made pending again without it
#: (see ``_intercept/interrupts``). Not known of one set before the module's functions were
#: wrapped, or from C: python's default then.
wakeup_warns = True


def stand_in(number: int, ours: Any, theirs: Any) -> None:
    """``ours`` (already set) handles ``number`` in place of ``theirs``, which the program sees."""
    _stand_ins[number] = (ours, theirs)
    when_imported("signal", _wrap)


def stand_down(number: int) -> None:
    """No handler of syncscope's stands in for ``number`` any more; the last puts back the
    module's functions (unless something else has replaced them since)."""
    _stand_ins.pop(number, None)
    _unwrap_module()


def wrap_handlers(make: Callable[[Any], Any]) -> None:
    """
    Run each handler of the program's (a Python callable) inside ``make(handler)``: those set
    now, from the main thread, and those ``signal.signal()`` sets from now on.
    """
    global _wrapper_for
    _wrapper_for = make
    when_imported("signal", _wrap)
    for number in _signal.valid_signals():
        try:  # ValueError: not the main thread; OSError: a signal no handler may catch
            handler = getsignal_original(number)
            if _wants_wrapper(number, handler):  # not one still wrapped (see _left_wrapped)
                ours = _wrapper(make, handler)
                signal_original(number, ours)
        except (ValueError, OSError):
            pass


def unwrap_handlers() -> None:
    """
    The program's handlers back in place of the wrappers still set; from another thread, none
    can be: those stay, harmless, and still say the program's own. So does the module's
    wrapping then, also for one the main thread is setting meanwhile.
    """
    global _wrapper_for, _left_wrapped
    _wrapper_for = None
    _left_wrapped = _thread.get_ident() != threading.main_thread().ident
    for number in _signal.valid_signals():
        try:
            handler = getsignal_original(number)
            theirs = _unwrapped(handler)
            if theirs is not handler:
                signal_original(number, theirs)
        except ValueError:  # not the main thread: the wrapper stays, harmless
            _left_wrapped = True
        except OSError:
            pass
    _unwrap_module()


def _wants_wrapper(number: Any, handler: Any) -> bool:
    """Whether ``handler``, set for ``number``, is the program's own Python-level handler."""
    if handler is None or isinstance(handler, int) or not callable(handler):
        return False  # SIG_DFL, SIG_IGN, one set from C: nothing of the program's runs
    if not isinstance(number, int) or _unwrapped(handler) is not handler:
        return False  # signal() raises for it; or one of our wrappers already
    entry = _stand_ins.get(number)
    return entry is None or handler is not entry[0]


def _unwrap_module() -> None:
    """The ``signal`` module's own functions back, once syncscope has no handler in place."""
    module = sys.modules.get("signal")
    if _stand_ins or _left_wrapped or _wrapper_for is not None or not _originals:
        return
    if module is None:
        return
    ours = (getsignal, set_signal, set_wakeup_fd)
    for name, mine, original in zip(_NAMES, ours, _originals, strict=True):
        if getattr(module, name) is mine:
            setattr(module, name, original)


def _wrap(module: ModuleType) -> None:
    if not (_stand_ins or _wrapper_for is not None) or module.getsignal is getsignal:
        return
    if not _originals:
        _originals[:] = [getattr(module, name) for name in _NAMES]
        ours: tuple[Any, ...] = (getsignal, set_signal, set_wakeup_fd)
        for mine, original in zip(ours, _originals, strict=True):
            functools.update_wrapper(mine, original)
        set_wakeup_fd.__module__ = module.__name__  # found there by pickle, as the C one
    setattr(module, "getsignal", getsignal)  # noqa: B010 (a module's attribute: mypy)
    setattr(module, "signal", set_signal)  # noqa: B010
    setattr(module, "set_wakeup_fd", set_wakeup_fd)  # noqa: B010


def _stand_in(number: Any) -> tuple[Any, Any] | None:
    return _stand_ins.get(number) if isinstance(number, int) else None


def as_the_program_set_it(number: Any, handler: Any) -> Any:
    """``handler`` as the program sees it: its own where one of ours stands in for it."""
    entry = _stand_in(number)
    if entry is not None and handler is entry[0]:
        return entry[1]
    return _unwrapped(handler)


def _unwrapped(handler: Any) -> Any:
    """The program's own handler that ``handler`` runs, if it is a wrapper of ours."""
    if type(handler) is not FunctionType:  # ours are; and reading a function's own
        return handler  # attributes runs none of the program's code
    runs = handler.__dict__.get(_RUNS)
    return runs[1] if runs is not None and runs[0] == id(handler) else handler


def _wrapper(make: Callable[[Any], Any], handler: Any) -> Any:
    """``make(handler)``, a wrapper of ours known by :func:`_unwrapped` to run ``handler``."""
    ours = make(handler)
    setattr(ours, _RUNS, (id(ours), handler))
    return ours


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
        theirs = handler
        entry, handler = _chosen(signalnum, theirs)
        previous = _originals[1](signalnum, handler)
        if (
            handler is not theirs
            and _undone(signalnum, handler, entry)
            and getsignal_original(signalnum) is handler  # not one a handler set meanwhile
        ):
            # Uninstalled meanwhile, by a handler run inside the C call (it runs pending
            # handlers before it sets one), and maybe installed again: chosen afresh.
            _originals[1](signalnum, _chosen(signalnum, theirs)[1])
        if entry is not None and previous is entry[0]:
            return entry[1]
        return as_the_program_set_it(signalnum, previous)  # another install's stand-in too
    except BaseException as exc:
        hide_frames(exc)
        raise


def _chosen(number: Any, handler: Any) -> tuple[tuple[Any, Any] | None, Any]:
    """
    What to set for the program's ``handler``: ours that stands in for it (the stand-in's
    entry comes first, for the handler it replaced), its wrapper, or itself.
    """
    entry = _stand_in(number)
    make = _wrapper_for  # read once: an uninstall on another thread may clear it
    if entry is not None and _same(handler, entry[1]):
        return entry, entry[0]  # the program's own, as it sees it: ours stands in again
    if make is not None and _wants_wrapper(number, handler):
        # Known before the call: the signal module's Python code runs once the C module
        # has set it, and a handler may run there and read it.
        return entry, _wrapper(make, handler)
    return entry, handler


def _undone(number: Any, ours: Any, entry: tuple[Any, Any] | None) -> bool:
    """Whether ``ours``, just set for ``number`` (from ``entry``, or a wrapper), stands in for
    nothing any more: syncscope was uninstalled since it was chosen."""
    if entry is not None and ours is entry[0]:
        now = _stand_ins.get(number)  # another install may have stood in again since
        return now is None or now[0] is not ours
    return _wrapper_for is None


def set_wakeup_fd(*args: Any, **kwargs: Any) -> Any:
    global wakeup_warns
    try:
        previous = _originals[2](*args, **kwargs)
        wakeup_warns = kwargs.get("warn_on_full_buffer", True) is not False
        return previous
    except BaseException as exc:
        hide_frames(exc)
        raise


def note_handler_raised(exc: BaseException) -> None:
    """``exc`` goes on up from a handler of the program's (its wrapper's frame taken out)."""
    tb = exc.__traceback__
    if tb is not None and len(_raising_codes) < 64:  # a few handlers: never grows for ever
        _raising_codes.add(tb.tb_frame.f_code)


def raise_if_a_handlers(exc: BaseException) -> None:
    """
    In an ``except`` clause that keeps the program going past a failure of ours: ``exc``
    raised on (bare: no frame of this one) if a signal handler of the program's raised it.
    """
    if raised_by_a_handler(exc):
        raise  # noqa: PLE0704 (called from an except clause: the exception it handles)


def raised_by_a_handler(exc: BaseException) -> bool:
    """
    Whether ``exc`` came out of one of the program's signal handlers. CPython runs a pending
    handler wherever the main thread is, in syncscope's code too (a line being written, a
    repr made): what it raises is the program's, to go on up as from the operation itself,
    not an output's failure to count and swallow.

    Told by the traceback: a frame of a handler's code (one seen raising through its wrapper,
    or one installed now) past the frame that caught it. A failure of our own has only frames
    of ours, so the handlers are not looked at (an output that fails on every line costs no
    more). Handlers run on the main thread only: elsewhere, never.
    """
    if _thread.get_ident() != threading.main_thread().ident:
        return False
    codes = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(OWN_PREFIX):
            codes.append(code)
        tb = tb.tb_next
    if not codes:
        return False
    if any(code in _raising_codes for code in codes):
        return True
    handlers = set()
    for number in _signal.valid_signals():
        handler = getsignal_original(number)
        for each in (handler, as_the_program_set_it(number, handler)):
            code = _code_of(each)
            if code is not None:
                handlers.add(code)
    return any(code in handlers for code in codes)


def _code_of(handler: Any) -> Any:
    """The code a handler runs first: a function's, a bound method's, a partial's, or a
    callable object's ``__call__`` (None for a C function or SIG_DFL and SIG_IGN). Read
    by type, so nothing of the program's runs."""
    for _ in range(8):  # a partial of a partial...: a few levels, never a loop
        if isinstance(handler, FunctionType):
            return handler.__code__
        if isinstance(handler, MethodType):
            handler = handler.__func__
        elif isinstance(handler, partial):
            handler = handler.func
        else:
            call = next(
                (k.__dict__["__call__"] for k in type(handler).__mro__ if "__call__" in k.__dict__),
                None,
            )
            if not isinstance(call, FunctionType):
                return None
            handler = call
    return None
