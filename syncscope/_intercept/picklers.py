"""
Pickling a lock proxy as its lock is pickled, by the serializers that look locks up by their
type (dill): the proxies are known to them by the same functions.
"""

from __future__ import annotations

from .locks import _LockProxy, _RLockProxy


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def teach_dill(module: Any) -> None:
    """
    dill pickles locks by their type (``Pickler.dispatch``, ``_thread.LockType`` and
    ``_thread.RLock``), which a proxy's is not: the same for the proxies, unless dill knows
    them already. The copy it makes is a new lock, made by ``threading.Lock()`` as without us.
    """
    import _thread  # syncscope replaces threading's names, never _thread's

    dispatch = module.Pickler.dispatch
    for proxy, original in ((_LockProxy, _thread.LockType), (_RLockProxy, _thread.RLock)):
        save = dispatch.get(original)
        if save is not None:
            dispatch.setdefault(proxy, save)
