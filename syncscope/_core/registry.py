"""
The saved originals of everything syncscope replaces, first one wins.

Only the standard library is imported here, so that any module (ours, a test, a user) can get
an uninstrumented primitive even while the instrumentation is installed.
"""

from __future__ import annotations

import queue
import threading
from itertools import repeat, starmap
from time import sleep as _sleep


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: What syncscope replaces in each module, in the order it patches them.
PATCHED_NAMES: dict[str, tuple[str, ...]] = {
    "threading": (
        "Lock",
        "RLock",
        "Condition",
        "Semaphore",
        "BoundedSemaphore",
        "Event",
        "Barrier",
    ),
    "queue": ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"),
}

_MODULES = {"threading": threading, "queue": queue}

#: module name -> attribute name -> the original object, filled once at import.
saved: dict[str, dict[str, Any]] = {}

for _module_name, _names in PATCHED_NAMES.items():
    for _name in _names:
        saved.setdefault(_module_name, {}).setdefault(_name, getattr(_MODULES[_module_name], _name))

#: (class, method name) -> (original function, whether it was in the class's own __dict__).
saved_methods: dict[tuple[type, str], tuple[Any, bool]] = {}


def get_original(module: str, name: str) -> Any:
    """
    Return the object that ``module.name`` held before syncscope was imported.

    Args:
        module: ``"threading"`` or ``"queue"``.
        name: an attribute syncscope replaces, such as ``"Lock"`` or ``"Queue"``.

    Returns:
        The original factory or class, never instrumented.

    Raises:
        KeyError: if syncscope does not replace that name.

    .. versionadded:: 0.1.0
    """
    try:
        return saved[module][name]
    except KeyError:
        raise KeyError(f"syncscope does not replace {module}.{name}") from None


def module(name: str) -> Any:
    return _MODULES[name]


def save_method(cls: type, name: str) -> Any:
    """
    Remember ``cls.name`` before it is wrapped; return the function to call.

    Read from ``vars(cls)`` and not ``getattr`` so that restoring can tell an inherited method
    (to delete again) from one the class defines itself (to put back).
    """
    own = name in vars(cls)
    original = vars(cls)[name] if own else getattr(cls, name)
    saved_methods.setdefault((cls, name), (original, own))
    return saved_methods[(cls, name)][0]


# Raw primitives for syncscope's own use: never instrumented, whatever is installed.
allocate_lock = saved["threading"]["Lock"]
allocate_rlock = saved["threading"]["RLock"]


#: Longest a program's thread waits for one of syncscope's locks that is held only for
#: moments, in seconds, where it may hold locks of its own (see :func:`bounded_takes`).
MOMENTS = 1.0


def bounded_takes(lock: Any, seconds: float = MOMENTS) -> Any:
    """
    ``lock``'s takes, each waiting at most ``seconds`` (True if taken), as a ``for`` loop's
    next item: no Ctrl-C lands between the take and the ``try`` that lets it go (see
    ``_intercept/interrupts.py``). For a lock of syncscope's that a program's thread takes
    holding locks of its own (a release is said before the release): whoever holds ours may
    be running the program's code there (a profile function, a signal handler, a finalizer)
    and wait for one of those. Past ``seconds``, the caller goes on without ours.
    """
    return starmap(lock.acquire, repeat((True, seconds)))


def take_shared(lock: Any, timeout: float = -1) -> bool:
    """
    Take one of syncscope's own locks that the program's threads contend for, as the lock
    proxies take a contended lock (see ``_intercept/gil.py``): a few turns of the GIL to the
    others before parking. A thread that holds it has most often only lost the GIL, and parking
    at once made a convoy: with four threads checking the lock order of per-object locks, a
    third of their samples waited on the lock-order graph's lock.

    Each attempt is a ``for`` loop's next item, and the answer goes back as a return: no
    signal handler runs between taking the lock and the caller's ``try`` that lets it go (see
    ``_intercept/interrupts.py``). A Ctrl-C there would leave it held, and every thread that
    checks the lock order next would wait for it for ever.

    Whether it was taken: the last attempt waits at most ``timeout`` seconds (-1: no limit).
    """
    got: bool
    for got in map(lock.acquire, _ONCE_NOT_BLOCKING):
        if got:
            return got
    for _ in range(3):
        _sleep(0)
        for got in map(lock.acquire, _ONCE_NOT_BLOCKING):
            if got:
                return got
    for got in map(lock.acquire, _ONCE_BLOCKING, (timeout,)):
        return got
    return False


_ONCE_NOT_BLOCKING = (False,)
_ONCE_BLOCKING = (True,)
