"""
Install and uninstall: put the instrumented stand-ins into ``threading`` and ``queue``, and put
every original back, exactly, by identity.
"""

from __future__ import annotations

import functools
import queue
import sys
import warnings
from typing import Any

from .._core.registry import PATCHED_NAMES, module, save_method, saved, saved_methods
from .._core.sites import is_library_file, reset_names
from .._core.state import Options, config_lock, state
from . import conditions as _conditions
from . import futures as _futures
from . import locks as _locks
from . import queues as _queues


class SyncscopeWarning(RuntimeWarning):
    """
    Something syncscope cannot watch, or an install/uninstall that did not do what was asked.

    .. versionadded:: 0.1.0
    """


def _replacements() -> dict[tuple[str, str], Any]:
    return {
        ("threading", "Lock"): _locks.Lock,
        ("threading", "RLock"): _locks.RLock,
        ("queue", "SimpleQueue"): _queues.SimpleQueue,
    }


def _patch_methods() -> None:
    for cls, name, wrapper in _conditions.wrappers() + _queues.wrappers():
        original = save_method(cls, name)
        functools.update_wrapper(wrapper, original)
        type.__setattr__(cls, name, wrapper)
    for cls in (queue.Queue, queue.LifoQueue, queue.PriorityQueue):
        _queues.hook_put(cls)


def _restore_methods() -> list[str]:
    not_ours = []
    for (cls, name), (original, own) in list(saved_methods.items()):
        current = vars(cls).get(name)
        if getattr(current, "__wrapped__", None) is not original:
            not_ours.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
            continue
        if own:
            type.__setattr__(cls, name, original)
        else:
            type.__delattr__(cls, name)
    saved_methods.clear()
    return not_ours


def install(options: Options) -> None:
    """Patch ``threading`` and ``queue``; a second call only changes the options (and warns)."""
    with config_lock:
        if state.installed:
            if options != state.options:
                warnings.warn(
                    "syncscope is already installed; its options were changed",
                    SyncscopeWarning,
                    stacklevel=3,
                )
                state.options = options
            return
        state.options = options
        reset_names()
        _patch_methods()
        for (module_name, name), replacement in _replacements().items():
            setattr(module(module_name), name, replacement)
        state.installed = True
        _futures.install()
    early = [name for name in _early_imports() if name not in _warned_early]
    _warned_early.update(early)
    if early:
        warnings.warn(
            "these names were imported before syncscope was installed and are not watched: "
            + ", ".join(early)
            + " (install syncscope earlier, or use threading.Lock() through the module)",
            SyncscopeWarning,
            stacklevel=3,
        )


def uninstall() -> None:
    """Put every original back. Harmless when not installed."""
    with config_lock:
        if not state.installed:
            return
        not_ours = []
        for (module_name, name), replacement in _replacements().items():
            mod = module(module_name)
            if getattr(mod, name) is replacement:
                setattr(mod, name, saved[module_name][name])
            else:
                not_ours.append(f"{module_name}.{name}")
        _futures.uninstall()  # first: it wraps on top of what _restore_methods puts back
        not_ours += _restore_methods()
        state.installed = False
    if not_ours:
        warnings.warn(
            "left in place because something else replaced them after syncscope: "
            + ", ".join(not_ours),
            SyncscopeWarning,
            stacklevel=3,
        )


# Names already warned about: each is said once per process, not at every install.
_warned_early: set[str] = set()


def _early_imports() -> list[str]:
    """User modules holding an original factory under a module-level name, found by identity."""
    originals = {
        id(saved[module_name][name]): f"{module_name}.{name}"
        for module_name, name in (
            ("threading", "Lock"),
            ("threading", "RLock"),
            ("queue", "SimpleQueue"),
        )
    }
    found = []
    for mod_name, mod in list(sys.modules.items()):
        filename = getattr(mod, "__file__", None)
        if not filename or mod_name in PATCHED_NAMES or is_library_file(filename):
            continue
        for attr, value in list(vars(mod).items()):
            if id(value) in originals and not attr.startswith("__"):
                found.append(f"{mod_name}.{attr}")
    return sorted(found)
