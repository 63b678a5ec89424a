"""
Where the Lock and RLock proxies (see _locks) come from: the stand-ins for ``threading.Lock``
and ``threading.RLock``, which make the real lock and hand it out wrapped when the program's
code made it, raw when the standard library or a package did; and the proxies for a lock
made before syncscope was installed, or handed to a Condition.
"""

from __future__ import annotations

import _thread
import threading
import warnings
from sys import _getframe
from types import FrameType

from .._core.event import Primitive
from .._core.registry import saved
from .._core.sites import OWN_PREFIX, creator_frame, unique_name
from .._core.state import state
from .._core.tracebacks import hide_frames
from .._core.tracking import library_owned, watched_new
from .locks import PROXY_TYPES, _LockProxy, _RLockProxy
from .standins import StandInMeta, look_like, warning_text


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_original_lock = saved["threading"]["Lock"]
_original_rlock = saved["threading"]["RLock"]
LOCK_TYPE = _thread.LockType
RLOCK_TYPE = type(_original_rlock())


def adopt_lock(lock: Any, kind: str, type_name: str, name: str, file: str, line: int) -> Any:
    """A proxy for a lock created before install, named ``name``, made at ``file:line``."""
    primitive = Primitive(kind, type_name, unique_name(name, kind), file, line, "<module>")
    return _RLockProxy(lock, primitive) if kind == "rlock" else _LockProxy(lock, primitive)


def proxy_for(lock: Any, primitive: Primitive, library: bool = False) -> Any:
    """
    Wrap a raw Lock or RLock so its operations are reported as ``primitive``'s (``library``:
    made by the standard library or a package, see ``_Proxy._syncscope_library``).
    """
    if type(lock) in PROXY_TYPES:
        return lock
    if type(lock) is LOCK_TYPE:
        return _LockProxy(lock, primitive, library)
    if hasattr(lock, "_release_save") and hasattr(lock, "_recursion_count"):
        return _RLockProxy(lock, primitive, library)
    return lock  # a lock-like object of the user's own: leave it alone


def condition_lock(watched: bool) -> Any:
    """
    The lock a Condition made without one makes, as threading's own Condition makes it with
    ``threading.RLock`` as the program left it; None: let the Condition make it. While that is
    our stand-in, the original RLock, made here (to be wrapped as the Condition when
    ``watched``; else the library's, never watched: a Future makes one, and the stand-in would
    only be told so). The program's own factory makes a watched Condition's lock: a lock it
    watches reports as itself, as one given to the Condition does (a factory may share one).
    """
    make = threading.RLock  # the program may have put its own there
    if make is RLock and (watched or not state.options.include_library):
        return _original_rlock()
    return make() if watched else None


#: RLock's warning when given arguments (3.13 on). It warns at its caller's line: called from
#: here, ours, which the default filters hide. The stand-in warns at the program's line.
_RLOCK_ARGUMENTS_WARNING = warning_text(_original_rlock, "Passing arguments")


class RLock(metaclass=StandInMeta):
    """Instrumented stand-in for ``threading.RLock``."""

    __slots__ = ()
    _syncscope_original = _original_rlock
    _syncscope_type = RLOCK_TYPE
    _syncscope_public = "threading:RLock"  # see standins.look_like

    # Written out, as Lock's is, with no call of ours but watched_new: a program that makes a
    # lock per object pays each (a call cost a twentieth of the lock made).
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            make = _original_rlock
            if (args or kwargs) and _RLOCK_ARGUMENTS_WARNING is not None:  # made as it makes it
                warnings.warn(_RLOCK_ARGUMENTS_WARNING, DeprecationWarning, stacklevel=2)
                make = threading._CRLock or threading._PyRLock  # type: ignore[attr-defined]
            lock = make(*args, **kwargs)
            try:  # creator_frame(), its common case written out: called by the program
                frame: FrameType | None = _getframe(1)
            except ValueError:
                frame = None
            if frame is not None and frame.f_code.co_filename.startswith(OWN_PREFIX):
                frame = creator_frame(2)
            primitive = watched_new("rlock", "RLock", frame)
            if primitive is None:
                return lock
            if state.options.include_library:
                return _RLockProxy(lock, primitive, library_owned(frame))
            return _RLockProxy(lock, primitive)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise


class Lock(metaclass=StandInMeta):
    """Instrumented stand-in for ``threading.Lock`` (a function before 3.13, then a class)."""

    __slots__ = ()
    _syncscope_original = _original_lock
    _syncscope_type = LOCK_TYPE
    _syncscope_public = "threading:Lock"  # see standins.look_like

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            lock = _original_lock(*args, **kwargs)
            try:  # creator_frame(), its common case written out: called by the program
                frame: FrameType | None = _getframe(1)
            except ValueError:
                frame = None
            if frame is not None and frame.f_code.co_filename.startswith(OWN_PREFIX):
                frame = creator_frame(2)
            primitive = watched_new("lock", "Lock", frame)
            if primitive is None:
                return lock
            if state.options.include_library:
                return _LockProxy(lock, primitive, library_owned(frame))
            return _LockProxy(lock, primitive)
        except BaseException as exc:
            hide_frames(exc)  # the program's traceback, not ours
            raise


look_like(RLock, _original_rlock)
look_like(Lock, _original_lock)
