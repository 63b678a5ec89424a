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
forward jump and a test do not check either); or through :func:`take`, whose answer comes
back as a return, when the caller has nothing to do before the program has it, or stores it
inside a ``try`` whose handler releases. A release that says its line first asks whether the
thread may release the same way (:func:`owned_answers`), then says it in a ``try`` whose
``finally`` releases. tests/test_interrupts.py checks the bytecode of each of these paths.
Measured with ``benchmarks/interrupts.py`` (thousands of Ctrl-Cs landing in a loop of
``with lock:``), no acquire leaves the lock held any more.

What remains:

* a function's start checks for signals before its first instruction: a Ctrl-C landing as
  ``__exit__`` or ``release()`` begins escapes with the lock still held. Only a SIGINT handler
  of syncscope's own, putting the KeyboardInterrupt off until the release, could close that;
* the span sink's counted path (``counted_release``, under pressure) and a release inside
  another operation still make a call before the ``try`` that releases; the record and event
  paths (``recorded_release``, ``reported_release``) add a function's start of their own;
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

from itertools import repeat


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


#: False for ever, for every proxy's attempts: its items are only read.
_NOT_BLOCKING = repeat(False)


def attempts(lock: Any) -> Iterator[Any]:
    """Endless: each item is ``lock.acquire(False)``, made as the item is asked for."""
    return map(lock.acquire, _NOT_BLOCKING)


def owned_answers(lock: Any, reentrant: bool) -> Iterator[Any]:
    """
    Endless: each item whether this thread may release ``lock`` (held, for a Lock, which
    has no owner; owned by this thread, for an RLock), asked as the item is asked for.
    """
    return iter(lock._is_owned if reentrant else lock.locked, None)


def take(lock: Any, blocking: Any = True, timeout: Any = -1) -> Any:
    """
    ``lock.acquire(blocking, timeout)``, whose answer no Ctrl-C can come between (for a
    Python caller: a return to it does not check for signals, a C call's does).
    """
    for got in map(lock.acquire, (blocking,), (timeout,)):
        return got
    raise AssertionError("map() over one item gave none")  # not reached
