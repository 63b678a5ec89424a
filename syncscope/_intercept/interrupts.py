"""
What a lock wrapper written in Python must do about Ctrl-C: take the lock so that no
KeyboardInterrupt can come between the acquire and the wrapper knowing it has the lock.

CPython runs a pending signal handler (Ctrl-C's raises KeyboardInterrupt) where a C call made
by Python code returns, before the next instruction: in ``if lock.acquire(False): try: ...``
the exception can come with the lock taken and the ``try`` not yet entered, and a wrapper's
``__enter__`` then leaves the program's lock held, where a bare ``with lock:`` cannot (its
acquire is not a call the bytecode makes). A place where what a C function gives lands in a
local with no such check between is a ``for`` loop's next item: FOR_ITER calls the iterator
and STORE_FAST stores what it gave, and neither checks for signals (CPython 3.11 to 3.13).
Nor does a return from a Python function to the Python function that called it.

So the wrappers acquire as ``for got in attempts: break``, then at once ``if got: try:`` (a
forward jump and a test do not check either); ``attempts`` is the proxy's
``_syncscope_attempts``, endless, each item ``lock.acquire(False)``, made as it is asked for.
Or they acquire through :func:`take`, whose answer comes back as a return, when the caller has
nothing to do before the program has it, or stores it inside a ``try`` whose handler releases.
A release that says its line first asks whether the thread may release the same way (the
proxy's ``_syncscope_owned``), then says it in a ``try`` whose ``finally`` releases.
tests/test_interrupts.py checks the bytecode of each of these paths. Measured with
``benchmarks/interrupts.py`` (thousands of Ctrl-Cs landing in a loop of ``with lock:``), no
acquire leaves the lock held any more.

A function's start checks for signals before its first instruction too: a Ctrl-C landing as
``__exit__`` or ``release()`` begins would escape with the lock still held, and so would one
at the start of the release paths they call, or at a call the span sink's counted release
makes before it releases. While syncscope is installed (and the program leaves SIGINT to
python's ``default_int_handler``), its own handler (:func:`hold_off_interrupts`) puts the
KeyboardInterrupt off when it lands in one of these functions: it raises SIGINT again
(``_thread.interrupt_main``), which python handles at its next check, past the release; the
program gets its KeyboardInterrupt a few instructions later, at its own line, as with the C
lock. The program sees ``default_int_handler`` (see ``_core/signals``). Waits are not put
off: a blocking acquire is made in ``take()`` or ``acquire_contended()``, outside them.

A handler of the program's own (one that raises an exception of its own, a timeout's
``SIGALRM``) would leave the lock held there too: while syncscope is installed, each one the
program sets runs inside :func:`_held_off`, which puts it off the same way (see
``_core/signals.wrap_handlers``). A wakeup fd (asyncio's) is taken away while the signal is
made pending again (:func:`_again`): it would get a second byte, and the loop would run its
callback twice.

What remains:

* a handler of the program's runs under a frame of syncscope's (``sys._getframe(1)`` in it
  is the wrapper), and one that lands as a proxy's method begins leaves that method's frame
  in the traceback the program sees (python adds it before any ``try`` can take it out);
* a handler that lands inside an import syncscope makes on the program's thread (a module
  it loads only when first needed: ``_sinks/findings`` at the first lock taken inside
  another) raises inside importlib, which on 3.11 can leave the import lock held, as it
  can for the program's own imports;
* a release inside another operation (a Condition's, a semaphore's) still makes a call before
  the ``try`` that releases;
* a tracer or profiler written in Python (a debugger, ``sys.setprofile``, a pure-Python
  coverage tracer) runs Python code between any two instructions: a KeyboardInterrupt raised
  there can land anywhere.

A Ctrl-C may also cut short what a wrapper notes about the hold (its stamp, its place in the
thread's chain of holds) once the lock is taken or before it is released. The handler that
releases the lock then forgets the hold first (``_lean.forget_hold``), in a ``try`` whose
``finally`` releases: else the next acquire would find the old stamp, and the watchdog would
name as holder a thread that let go.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # not signal: it imports enum, start-up
import _thread
import sys
import threading
from collections import deque
from functools import partial
from itertools import repeat, starmap
from operator import call

from .._core import signals
from .._core.timeouts import index_once
from .._core.tracebacks import hide_frames


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import CodeType, FrameType
    from typing import Any


#: The arguments ``(False,)`` for ever, for every proxy's attempts (a ``starmap``): its items
#: are only read. ``starmap`` rather than ``map``: it keeps no tuple of iterators (one object
#: fewer per lock for the garbage collector to walk) and calls the lock's ``acquire`` with the
#: tuple as it is, 12-25 ns less an attempt on 3.11-3.13.
NOT_BLOCKING = repeat((False,))


#: A proxy's ``_syncscope_owned`` until a release needs it (lines, spans, events): no item,
#: so the proxies' written-out line paths go on to ``said_release``, which makes the real one.
#: Under ``-q`` and the statistics no release asks: a lock made is two objects fewer for the
#: garbage collector to walk for as long as it lives.
NOT_YET: Iterator[bool] = iter(())


def owned_items(proxy: Any) -> Iterator[bool]:
    """
    ``proxy``'s ``_syncscope_owned`` made, at its first release that asks (the release paths
    call this only then). A Ctrl-C is put off in it, as in them: the lock is held.
    """
    lock = proxy._syncscope_lock
    items = proxy._syncscope_owned = iter(lock._is_owned if proxy._reentrant else lock.locked, None)
    return items


def take(lock: Any, blocking: Any = True, timeout: Any = -1) -> Any:
    """
    ``lock.acquire(blocking, timeout)``, whose answer no Ctrl-C can come between (for a
    Python caller: a return to it does not check for signals, a C call's does).
    """
    for got in map(lock.acquire, (blocking,), (timeout,)):
        return got
    raise AssertionError("map() over one item gave none")  # not reached


#: Before 3.12 ``_thread.lock.acquire`` and ``RLock.acquire`` take ``blocking`` as a C int
#: (through ``__index__``: None, a float or a str raise TypeError, a huge int OverflowError);
#: from 3.12 on, as a truth value. The proxies try ``acquire(False)`` first and then wait
#: without passing ``blocking`` on: for anything but True and False, they call
#: ``checked_blocking`` first.
BLOCKING_IS_INT = sys.version_info < (3, 12)


def checked_blocking(blocking: Any) -> Any:
    """
    ``blocking`` (neither True nor False) as ``lock.acquire(blocking, timeout)`` reads it,
    once and first, as the lock's own parsing does: from 3.12 its truth value; before, the C
    int its ``__index__`` gives (an int's own value, a subclass's too), or what the lock
    raises for it. What is given back is plain: the paths after it read it again freely.
    """
    if not BLOCKING_IS_INT:
        return bool(blocking)
    if type(blocking) is not int:
        # The lock's PyLong_AsLong: an int subclass's value, another type's __index__ once,
        # raising what the lock raises (the same TypeError, or __index__'s own error).
        blocking = index_once(blocking)
    if -0x80000000 <= blocking <= 0x7FFFFFFF:
        return blocking
    # Out of a C int's range: the lock's own OverflowError (its words differ past a C long),
    # from a new lock given the plain int, which raises before it reads the timeout.
    _thread.allocate_lock().acquire(blocking)
    raise AssertionError("the lock took a blocking out of its range")  # not reached


#: The code of the functions a Ctrl-C is put off in (see above).
_windows: frozenset[CodeType] = frozenset()


def hold_off_interrupts(codes: Iterable[CodeType]) -> None:
    """
    Put a Ctrl-C off while the main thread runs one of ``codes`` (see above), when the program
    leaves SIGINT to python's handler. From the main thread; elsewhere, nothing.
    """
    global _windows
    _windows = frozenset(codes)
    if threading.current_thread() is not threading.main_thread():
        return
    try:  # ValueError: not the interpreter's main thread after all (threading imported late)
        if signals.getsignal_original(_SIGINT) is _signal.default_int_handler:
            signals.signal_original(_SIGINT, _interrupt)
            signals.stand_in(_SIGINT, _interrupt, _signal.default_int_handler)
    except ValueError:
        return
    signals.wrap_handlers(_held_off)


def let_interrupts_through() -> None:
    """
    Python's handler back, if it is still ours. From another thread it cannot be: ours then
    stays, and does what python's does; so do the wrappers of the program's handlers, but
    those the program sets from now on are set as they are.
    """
    global _windows
    _windows = frozenset()
    signals.unwrap_handlers()  # from any thread: it sets what it may (see there)
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signals.getsignal_original(_SIGINT) is _interrupt:
            signals.signal_original(_SIGINT, _signal.default_int_handler)
    except ValueError:
        return
    signals.stand_down(_SIGINT)  # also when the program has set its own meanwhile


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT: KeyboardInterrupt, as python's handler raises it, unless it lands in a window."""
    if frame is not None and frame.f_code in _windows:
        # Once more, at python's next check: past the release (see _again).
        _again(_SIGINT)
        return
    try:
        _signal.default_int_handler(signum, frame)
    except BaseException as exc:
        exc.__traceback__ = None  # raised again bare: the program's frames only, as python's
        raise


def _held_off(handler: Any) -> Callable[[int, FrameType | None], Any]:
    """
    The program's own ``handler``, run as python runs it, unless it lands in a window: then
    once more at python's next check, past the release, as :func:`_interrupt` does. What it
    raises (a timeout's exception from SIGALRM) would otherwise leave the lock held.
    """

    def held_off(signum: int, frame: FrameType | None) -> Any:
        if frame is not None and frame.f_code in _windows:
            _again(signum)  # once more, past the release
            return None
        try:
            return handler(signum, frame)
        except BaseException as exc:
            hide_frames(exc)  # the handler's frames, as python shows them: not this one
            signals.note_handler_raised(exc)
            raise

    return held_off


def _again(signum: int) -> None:
    """
    ``signum`` made pending once more, from its handler, for python's next check. Not one
    check may come between the trip and the return to python's signal loop: the next check
    would run the handler here, still before the release. So the trip is made as an item,
    which no check follows (nor a return to the Python function that called this one). A
    wakeup fd (asyncio's) is taken away around it, in the same item: the trip would write a
    second byte, and the event loop would run its callback twice.
    """
    fd = _signal.set_wakeup_fd(-1)  # a check after it finds nothing yet
    if fd == -1:
        for _ in map(_thread.interrupt_main, (signum,)):  # type: ignore[arg-type]
            return
    put_back = partial(_signal.set_wakeup_fd, warn_on_full_buffer=signals.wakeup_warns)
    steps = starmap(call, ((_thread.interrupt_main, signum), (put_back, fd)))
    for _ in map(deque, (steps,), (0,)):  # both made in C, inside one item
        return


_SIGINT: int = _signal.SIGINT
