"""
The Lock and RLock stand-ins' class machinery: ``threading.Lock`` and ``threading.RLock`` are
replaced by classes (see ``lockfactories``) that look like the originals to introspection.
"""

from __future__ import annotations

import copyreg
import sys


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class StandInMeta(type):
    """
    The metaclass of the Lock and RLock stand-ins.

    A stand-in is a class, not a function: a class does not bind as a method, so
    ``class Map: lock_class = threading.Lock`` then ``self.lock_class()`` works as it does with
    the builtin (werkzeug does this). ``isinstance`` against it answers for the raw lock type.
    """

    _syncscope_original: Any
    _syncscope_type: Any

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._syncscope_type)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._syncscope_type)

    def __repr__(cls) -> str:
        return repr(cls._syncscope_original)

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        # Neither the lock type nor the factory functions can be subclassed (CPython's
        # test_lock_no_subclass): neither can the stand-ins.
        for base in bases:
            if isinstance(base, StandInMeta):
                original = base._syncscope_original
                raise TypeError(
                    f"type '{original.__module__}.{original.__qualname__}' is not an "
                    "acceptable base type"
                )
        return super().__new__(mcs, name, bases, namespace)


def look_like(stand_in: Any, original: Any) -> None:
    """
    Give a stand-in the original's doc and repr (its metaclass's ``__repr__``), and the
    public path it stands at (``_syncscope_public``) as its ``__module__``, ``__qualname__``
    and ``__name__``: ``threading.Lock``, where the original says ``_thread.allocate_lock``
    (3.13: ``_thread.lock``), and ``queue.SimpleQueue`` for ``_queue.SimpleQueue``. Those
    name where a class is found: pickle, cloudpickle (joblib, loky, dask) and dill look a
    class up by them and save it by name if that finds it, by value otherwise, which for a
    stand-in fails (cloudpickle: ``cannot set '__doc__' attribute of immutable type``) or
    makes a class that does not work in the process that loads it. The public path finds the
    stand-in while syncscope is installed, and the original wherever it is not. (A stand-in
    kept past uninstall, ``from threading import Lock``, is found by none of them: plain
    pickle saves it as :func:`pickled_by_name` says, cloudpickle still by value.)
    """
    doc = getattr(original, "__doc__", None)
    if doc is not None:
        type.__setattr__(stand_in, "__doc__", doc)
    module, _, qualname = stand_in._syncscope_public.partition(":")
    type.__setattr__(stand_in, "__module__", module)
    type.__setattr__(stand_in, "__qualname__", qualname)
    type.__setattr__(stand_in, "__name__", qualname)


def warning_text(original: Any, start: str) -> str | None:
    """The text of a warning ``original`` gives that begins with ``start``, read from its code."""
    constants = getattr(getattr(original, "__code__", None), "co_consts", ())
    return next((c for c in constants if isinstance(c, str) and c.startswith(start)), None)


def pickled_by_name(cls: Any) -> str | tuple[Any, ...]:
    """
    How pickle saves a class of the stand-ins' metaclasses (registered with ``copyreg``).
    One its own name finds (a stand-in while installed, see :func:`look_like`, a program's
    subclass) is saved by that name, as pickle saves it; pickle refuses one the name does
    not find (a ``Manager()`` of a spawned or forkserver ``multiprocessing`` context pickles
    ``threading.Lock`` in its registry): a stand-in kept past uninstall (``from threading
    import Lock``) is saved by the public name it stands in for (``threading:Lock``), looked
    up where it is unpickled (the stand-in again under syncscope, the original elsewhere).
    """
    public = cls.__dict__.get("_syncscope_public")
    if public is None or getattr(sys.modules.get(cls.__module__), cls.__qualname__, None) is cls:
        return cls.__qualname__  # type: ignore[no-any-return]
    import pkgutil  # here: only a pickle of a stand-in needs it

    return (pkgutil.resolve_name, (public,))


copyreg.pickle(StandInMeta, pickled_by_name)
