"""
Post-import hooks and function wrappers, by hand: what syncscope puts on cold paths
(``Thread.start``, a pool's ``submit``, a Future's waits, a TracerProvider's ``shutdown``).

Hand-written rather than wrapt's: importing wrapt brings asyncio and importlib.metadata in,
tens of milliseconds before the program's first line, for a hook on a module the program may
never import.

* :func:`when_imported` runs a callback once a module is imported: at once when it is already,
  else right after its import completes (a finder at the front of ``sys.meta_path`` that
  wraps the module's loader; it stays there, finding nothing, once nothing waits). The
  callback runs on the importing thread, under the import lock of that module; an error in
  it is swallowed (the import must not fail because of us).
* :func:`wrap_function` puts a wrapper with wrapt's signature
  (``wrapper(wrapped, instance, args, kwargs)``) on a plain function, a class's method or a
  module's function; :func:`unwrap_function` takes it off again, if it is still on top.
  The stand-in is a plain function, so it binds as a method exactly as the original did, and
  carries the original's name, qualified name, module, docstring and ``__wrapped__``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Sequence
from types import ModuleType


TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from typing import Any

Callback = Callable[[ModuleType], None]

#: Callbacks waiting for their module, by module name.
_waiting: dict[str, list[Callback]] = {}


def _run(callback: Callback, module: ModuleType) -> None:
    with contextlib.suppress(Exception):  # the program's import must not fail because of us
        callback(module)


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported: now, if it is already."""
    module = sys.modules.get(name)
    if module is not None:
        _run(callback, module)
        return
    _waiting.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


class _HookLoader:
    """The module's own loader, then the callbacks waiting for it."""

    # Not importlib.abc's Loader: importing importlib.abc costs milliseconds.
    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The spec names the real loader again while it runs: the module sees no trace of us.
        spec = module.__spec__
        if spec is not None:
            spec.loader = self.loader
        with contextlib.suppress(AttributeError, TypeError):
            module.__loader__ = self.loader
        self.loader.exec_module(module)
        # The finder stays in sys.meta_path, idle (one dict lookup an import): taken out, it
        # moved the finders after it while another thread's import went through the list,
        # which then skipped one (the path finder: a module of the program's not found).
        callbacks = _waiting.pop(self.name, ())
        for callback in callbacks:
            _run(callback, sys.modules.get(self.name, module))

    def __getattr__(self, attr: str) -> Any:  # get_source, is_package...: the real loader's
        return getattr(self.loader, attr)


class _Finder:
    """Finds nothing itself: asks the finders after it, and hooks the loader of a hooked name."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _HookLoader(spec.loader, fullname)  # type: ignore[assignment]
            return spec
        return None


_finder = _Finder()


def wrap_function(owner: Any, name: str, wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """
    Replace ``owner.name`` (a function, looked up in the class's own ``__dict__`` for a class)
    by a stand-in calling ``wrapper(wrapped, instance, args, kwargs)``; returns the stand-in.

    For a method called on an instance (or on the class with the instance first), ``wrapped``
    is the bound method and ``instance`` the instance; for a plain function, ``wrapped`` is the
    function and ``instance`` None.
    """
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    if isinstance(owner, type):

        def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            try:
                return wrapper(original.__get__(self, type(self)), self, args, kwargs)
            except BaseException as exc:
                _hide_frames(exc)
                raise
            finally:
                self = None  # see _hide_frames

        stand_in = method
    else:

        def function(*args: Any, **kwargs: Any) -> Any:
            try:
                return wrapper(original, None, args, kwargs)
            except BaseException as exc:
                _hide_frames(exc)
                raise

        stand_in = function
    functools.update_wrapper(stand_in, original)
    setattr(owner, name, stand_in)
    return stand_in


def _hide_frames(exc: BaseException) -> None:
    """
    The program's traceback, without the frames of the stand-in and the wrapper, as the
    original's. They stay its frames' callers (``f_back``) all the same: a wrapper that
    holds the instance lets go of it before it returns or raises, as ``Future.result()``
    sets its own ``self`` to None (the Future holds the exception, whose traceback holds
    the frames: the cycle kept the exception alive until a collection).
    """
    from .tracebacks import hide_frames  # here: only an exception needs it

    hide_frames(exc)


def unwrap_function(owner: Any, name: str, stand_in: Callable[..., Any]) -> bool:
    """
    Put the original back if ``stand_in`` is still what ``owner.name`` holds; returns whether
    it was. Something that replaced it after us keeps both in place.
    """
    current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if current is not stand_in:
        return False
    setattr(owner, name, stand_in.__wrapped__)
    return True
