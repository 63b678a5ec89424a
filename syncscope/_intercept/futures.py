"""
``concurrent.futures``: waits on a Future (``result()``, ``exception()``, ``wait()``,
``as_completed()``) observed as waits at the program's line, and ``ThreadPoolExecutor.submit``
noted, so that a pool whose workers all wait for tasks queued behind them is a deadlock the
watchdog can name.

A program may never import ``concurrent.futures``: it is patched at install if it is imported
already, else by a post-import hook (see ``_core.hooks``), and restored at uninstall. Cold
paths: plain function wrappers are fine here.

A Future is watched when the program's own code submits it or waits on it: its Primitive
(kind ``future``) is named after the function submitted, created where it was submitted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import partial

from .._core.dispatch import emit, guard
from .._core.event import Outcome, Primitive, SyncEvent, wait_limit
from .._core.hooks import when_imported
from .._core.pools import primitive_for, register
from .._core.sites import call_site, is_library_file
from .._core.state import state
from .._core.tracking import primitive_of, watch
from .calls import blocking_call, error_outcome, silent
from .wrapping import wrap


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_MODULE = "concurrent.futures"
#: (owner, name, original) of everything patched, to restore.
_patched: list[tuple[Any, str, Any]] = []
_hooked = False
#: concurrent.futures' CancelledError, once patched.
_cancelled: type[BaseException] = BaseException


def install() -> None:
    """Patch now if ``concurrent.futures`` is imported, else when it is."""
    global _hooked
    if _MODULE in sys.modules:
        _patch(sys.modules[_MODULE])
    elif not _hooked:
        _hooked = True
        when_imported(_MODULE, _patch)


def uninstall() -> None:
    """The wrappers come off with the others (see ``wrapping``); patch again next time."""
    _patched.clear()


def _patch(module: Any) -> None:
    if not state.installed or _patched:
        return
    global _cancelled
    base = sys.modules["concurrent.futures._base"]
    _cancelled = base.CancelledError
    from concurrent.futures import thread  # imported by concurrent.futures on demand

    targets: list[tuple[Any, str, Callable[..., Any]]] = [
        (base.Future, "result", _future_wait),
        (base.Future, "exception", _future_wait),
        (thread.ThreadPoolExecutor, "submit", _submit),
        (module, "wait", _wait_many),
        (base, "wait", _wait_many),
        (module, "as_completed", _as_completed),
        (base, "as_completed", _as_completed),
    ]
    for owner, name, wrapper in targets:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        _patched.append((owner, name, original))
        wrap(owner, name, wrapper)


def _active() -> bool:
    return state.active and not guard.busy


def _primitive(future: Any, site: tuple[str, int, str]) -> Primitive | None:
    primitive = primitive_of(future) or primitive_for(future)
    if primitive is None and not is_library_file(site[0]):
        primitive = Primitive("future", type(future).__name__, "future", *site)
        watch(future, primitive)
    return primitive


def _submit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    future = wrapped(*args, **kwargs)
    if not _active():
        return future
    site = call_site()
    if is_library_file(site[0]):
        return future
    fn = args[0] if args else kwargs.get("fn")
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    register(future, instance, name, site)  # its Primitive is made at its first wait
    return future


def _future_wait(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        if not _active() or _done(instance):
            return wrapped(*args, **kwargs)
        site = call_site()
        primitive = _primitive(instance, site)
        if primitive is None:
            return wrapped(*args, **kwargs)
        timeout = args[0] if args else kwargs.get("timeout")
        emit(SyncEvent(primitive, "wait", "waiting", site, timeout=wait_limit(True, timeout)))
        result, waited = blocking_call(
            primitive, "wait", site, partial(wrapped, *args, **kwargs), _ended_by(instance)
        )
        emit(SyncEvent(primitive, "wait", "woken", site, waited))
        return result
    finally:
        # This frame calls result(), whose frame is in the traceback of the exception the
        # Future holds: let go of the Future (see _core.hooks._hide_frames).
        wrapped = instance = None


#: A Future's states once it is done (concurrent.futures._base's, the same since 3.2).
_DONE_STATES = frozenset({"CANCELLED", "CANCELLED_AND_NOTIFIED", "FINISHED"})
_CANCELLED_STATES = frozenset({"CANCELLED", "CANCELLED_AND_NOTIFIED"})


def _ended_by(future: Any) -> Callable[[BaseException], Outcome]:
    """
    What a wait on ``future`` that raised ended as: woken when the Future is done and the
    exception is its outcome (the task's own, or its cancellation), timed out on
    ``result(timeout)``'s TimeoutError, else failed (a Ctrl-C).
    """

    def outcome(exc: BaseException) -> Outcome:
        if exc is getattr(future, "_exception", None) or (
            isinstance(exc, _cancelled) and getattr(future, "_state", None) in _CANCELLED_STATES
        ):
            return "woken"
        return "timeout" if isinstance(exc, TimeoutError) else error_outcome(exc)

    return outcome


def _timed_out(exc: BaseException) -> Outcome:
    """``as_completed()`` raises only TimeoutError of its own."""
    return "timeout" if isinstance(exc, TimeoutError) else error_outcome(exc)


def _wait_ended(result: Any, timeout: Any, return_when: Any) -> Outcome:
    """
    How a ``wait()`` that returned ``result`` (done, not done) ended: timed out when it
    returned short of what ``return_when`` asked (it raises nothing then), else woken.
    """
    done, not_done = result
    if timeout is None or not not_done:
        return "woken"
    if return_when == "FIRST_COMPLETED":
        return "woken" if done else "timeout"
    if return_when == "FIRST_EXCEPTION" and any(
        getattr(future, "_exception", None) is not None for future in done
    ):
        return "woken"
    return "timeout"


def _done(future: Any) -> bool:
    """
    ``future.done()``, read without taking its Condition: our look is not the program's use
    of it (the statistics count a lock's uses even when syncscope's own code makes them).
    """
    future_state = getattr(future, "_state", None)
    return silent(future.done) if future_state is None else future_state in _DONE_STATES


def _first_pending(
    futures: list[Any], site: tuple[str, int, str], start: int = 0
) -> tuple[int, Primitive | None]:
    """
    The index of the first future from ``start`` on that is not done, and its primitive
    (None: all are done). A future once done stays done: a caller that waits on the same
    futures again starts from that index, so that each is looked at once, not once a wait
    (as_completed over 8,000 futures took 20 times as long as plain python, growing with the
    square of their number, and with ``--all`` the report counted each look as a use).
    """
    for index in range(start, len(futures)):
        future = futures[index]
        if future is not None and not _done(future):  # None: one as_completed gave out
            return index, _primitive(future, site)
    return len(futures), None


def _futures_given(args: Any, kwargs: Any) -> tuple[list[Any], Any]:
    """The futures a ``wait()`` or ``as_completed()`` was given (``fs``), as a list, and the
    keyword arguments without them: they go to the original by position."""
    if args:
        return list(args[0]), kwargs
    rest = dict(kwargs)
    return list(rest.pop("fs")), rest


def _wait_many(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _active() or not (args or "fs" in kwargs):  # none given: the original says so
        return wrapped(*args, **kwargs)
    site = call_site()
    futures, kwargs = _futures_given(args, kwargs)
    _index, primitive = _first_pending(futures, site)
    if primitive is None:
        return wrapped(futures, *args[1:], **kwargs)
    timeout = args[1] if len(args) > 1 else kwargs.get("timeout")
    emit(SyncEvent(primitive, "wait", "waiting", site, timeout=wait_limit(True, timeout)))
    result, waited = blocking_call(
        primitive, "wait", site, partial(wrapped, futures, *args[1:], **kwargs)
    )
    return_when = args[2] if len(args) > 2 else kwargs.get("return_when", "ALL_COMPLETED")
    emit(SyncEvent(primitive, "wait", _wait_ended(result, timeout, return_when), site, waited))
    return result


def _as_completed(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _active() or not (args or "fs" in kwargs):
        return wrapped(*args, **kwargs)
    site = call_site()
    futures, kwargs = _futures_given(args, kwargs)
    timeout = args[1] if len(args) > 1 else kwargs.get("timeout")
    return _completing(wrapped(futures, *args[1:], **kwargs), futures, site, timeout)


def _completing(
    inner: Iterator[Any], futures: list[Any], site: tuple[str, int, str], timeout: Any
) -> Iterator[Any]:
    """
    ``as_completed``'s iterator, each blocking ``next`` reported as a wait. It keeps no
    future it gave out, as the original does not: the program may drop it and its result
    (CPython's ``test_free_reference_yielded_future``).
    """
    first = 0  # the futures before it are done
    index_of: dict[int, int] | None = None
    while True:
        primitive = None
        if _active():
            first, primitive = _first_pending(futures, site, first)
        if primitive is None:
            try:
                out = [next(inner)]
            except StopIteration:
                return
        else:
            limit = wait_limit(True, timeout)
            emit(SyncEvent(primitive, "wait", "waiting", site, timeout=limit))
            try:
                done, waited = blocking_call(
                    primitive, "wait", site, partial(next, inner), _timed_out
                )
            except StopIteration:
                return
            emit(SyncEvent(primitive, "wait", "woken", site, waited))
            out = [done]
            del done
        if index_of is None:
            index_of = {id(future): index for index, future in enumerate(futures)}
        index = index_of.get(id(out[0]))
        if index is not None:
            futures[index] = None
        yield out.pop()  # held by the program alone
