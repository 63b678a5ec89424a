"""
Install and uninstall: put the instrumented stand-ins into ``threading`` and ``queue``, and put
every original back, exactly, by identity.
"""

from __future__ import annotations

import functools
import queue
import sys
import warnings
from types import CodeType, FrameType

from .._core.hooks import when_imported
from .._core.registry import PATCHED_NAMES, module, save_method, saved, saved_methods
from .._core.sites import OWN_PREFIX, is_library_file, reset_names
from .._core.state import Options, config_lock, state
from . import conditions as _conditions
from . import events as _events
from . import futures as _futures
from . import interrupts as _interrupts
from . import lockfactories as _lockfactories
from . import lockpaths as _lockpaths
from . import locks as _locks
from . import ownsteps as _ownsteps
from . import picklers as _picklers
from . import queuehooks as _queuehooks
from . import queues as _queues
from . import simplequeue as _simplequeue
from .wrapping import unwrap_all


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _outside_syncscope() -> int:
    """The ``stacklevel`` of the first caller outside syncscope: where a warning belongs."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(OWN_PREFIX):
        frame = frame.f_back
        level += 1
    return level


class SyncscopeWarning(RuntimeWarning):
    """
    Something syncscope cannot watch, or an install/uninstall that did not do what was asked.

    .. versionadded:: 0.1.0
    """


def _replacements() -> dict[tuple[str, str], Any]:
    return {
        ("threading", "Lock"): _lockfactories.Lock,
        ("threading", "RLock"): _lockfactories.RLock,
        ("queue", "SimpleQueue"): _simplequeue.SimpleQueue,
    }


def _patch_methods() -> None:
    for cls, name, wrapper in _conditions.wrappers() + _events.wrappers() + _queues.wrappers():
        original = save_method(cls, name)
        functools.update_wrapper(wrapper, original)
        type.__setattr__(cls, name, wrapper)
    for cls in (queue.Queue, queue.LifoQueue, queue.PriorityQueue):
        _queuehooks.hook_put(cls)
    _ownsteps.note_left_methods()


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
                    stacklevel=_outside_syncscope(),
                )
                state.options = options
            return
        state.options = options
        reset_names()
        _patch_methods()
        for (module_name, name), replacement in _replacements().items():
            setattr(module(module_name), name, replacement)
        state.installed = True
        state.epoch += 1  # after the hooks went in (see State.epoch)
        _futures.install()
        when_imported("dill._dill", _picklers.teach_dill)
        _interrupts.hold_off_interrupts(_release_windows())
    early = [name for name in _early_imports() if name not in _warned_early]
    _warned_early.update(early)
    if early:
        warnings.warn(
            "these names were imported before syncscope was installed and are not watched: "
            + ", ".join(early)
            + " (install syncscope earlier, or use threading.Lock() through the module)",
            SyncscopeWarning,
            stacklevel=_outside_syncscope(),
        )


def _release_windows() -> list[CodeType]:
    """
    The functions a Ctrl-C is put off in (see _interrupts): from their start to the real
    release, the lock is held and no ``try`` gives it back yet.
    """
    proxies = (_locks._LockProxy, _locks._RLockProxy)
    methods = [m.__code__ for p in proxies for m in (p.release, p.__exit__)]
    paths = (
        _lockpaths.counted_release,
        _lockpaths.recorded_release,
        _lockpaths.reported_release,
        _lockpaths.said_release,
    )
    return methods + [path.__code__ for path in (*paths, _interrupts.owned_items)]


def uninstall() -> None:
    """Put every original back. Harmless when not installed."""
    with config_lock:
        if not state.installed:
            return
        not_ours = []
        state.epoch += 1  # before the hooks come out (see State.epoch)
        for (module_name, name), replacement in _replacements().items():
            mod = module(module_name)
            if getattr(mod, name) is replacement:
                setattr(mod, name, saved[module_name][name])
            else:
                not_ours.append(f"{module_name}.{name}")
        _futures.uninstall()
        unwrap_all()  # first: the wrappers sit on top of what _restore_methods puts back
        not_ours += _restore_methods()
        _ownsteps.LEFT_METHODS.clear()
        _restore_adopted()
        _interrupts.let_interrupts_through()
        state.installed = False
    if not_ours:
        warnings.warn(
            "left in place because something else replaced them after syncscope: "
            + ", ".join(not_ours),
            SyncscopeWarning,
            stacklevel=_outside_syncscope(),
        )


# Names already warned about: each is said once per process, not at every install.
_warned_early: set[str] = set()


#: (module, attribute, what it held) for each module-level name install() took over.
_adopted: list[tuple[Any, str, Any]] = []


def adopt_early_imports() -> list[str]:
    """
    Watch what user modules imported before install took from ``threading`` and ``queue``.

    A module-level name bound to an original factory (``from threading import Lock``) is bound
    to the stand-in, and a module-level Lock or RLock created at import is wrapped in a proxy
    around the very same lock: holders of the old reference still share the lock, only their
    operations through it go unreported. pytest imports a project while reading its
    ``filterwarnings`` (a warning class of the project), before any plugin can install: the
    plugin calls this right after installing. Not done by every install(): a module may keep
    an original on purpose (``get_original``), and only the plugin knows that what came
    before it is the project under test. Returns the names taken over, ``module.name``.
    """
    if not state.installed:
        return []
    stand_ins = {
        id(saved[module_name][name]): replacement
        for (module_name, name), replacement in _replacements().items()
    }
    lock_kinds = {
        _lockfactories.LOCK_TYPE: ("lock", "Lock"),
        _lockfactories.RLOCK_TYPE: ("rlock", "RLock"),
    }
    taken = []
    for mod_name, mod in list(sys.modules.items()):
        filename = getattr(mod, "__file__", None)
        if not filename or mod_name in PATCHED_NAMES or is_library_file(filename):
            continue
        for attr, value in list(vars(mod).items()):
            if attr.startswith("__"):
                continue
            replacement = stand_ins.get(id(value))
            if replacement is None:
                kind = lock_kinds.get(type(value))
                if kind is None or kind[0] not in state.options.kinds:
                    continue
                from .._core.sourcenames import statement_line  # ast: not at start-up

                line = statement_line(filename, attr, mod.__dict__)
                replacement = _lockfactories.adopt_lock(value, *kind, attr, filename, line)
            setattr(mod, attr, replacement)
            _adopted.append((mod, attr, value))
            taken.append(f"{mod_name}.{attr}")
    return sorted(taken)


def _restore_adopted() -> None:
    for mod, attr, value in reversed(_adopted):
        current = vars(mod).get(attr)
        ours = type(current) in _locks.PROXY_TYPES or any(
            current is replacement for replacement in _replacements().values()
        )
        if ours:  # what the module bound since then is the module's business
            setattr(mod, attr, value)
    _adopted.clear()


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
