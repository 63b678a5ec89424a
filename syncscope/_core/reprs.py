"""
Queue items as text, safely: a short rendering that never runs the program's own code.

A ``__repr__`` written in Python may take a lock, and the thread that puts an item may hold
that lock: calling it from inside an instrumented operation could deadlock a correct program.
So only representations implemented in C are called (numbers, strings, datetimes...);
dataclasses and named tuples are rendered field by field; anything else is shown as
``<Job object>``. Long strings and bytes are cut before they are rendered, not after.
"""

from __future__ import annotations

from itertools import islice
from types import FunctionType

from .signals import raise_if_a_handlers


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_SCALARS = (int, float, complex, bool, type(None))
_TEXTS = (str, bytes, bytearray)
_MAX_ITEMS = 6
_DEPTH = 3


def safe_repr(obj: Any, limit: int) -> str:
    """
    A repr-like text of ``obj`` of at most ``limit`` characters; never raises, but for what a
    signal handler of the program's raises meanwhile (see ``signals.raise_if_a_handlers``).
    """
    try:
        text = _render(obj, limit, _DEPTH)
    except Exception as exc:  # an int too long to print, a broken __eq__: not the program's
        raise_if_a_handlers(exc)
        text = f"<{_type_name(obj)} object>"
    if len(text) > limit:
        return text[: max(limit - 1, 1)] + "\u2026"
    return text


def _type_name(obj: Any) -> str:
    try:
        return str(type(obj).__name__)
    except Exception as exc:
        raise_if_a_handlers(exc)
        return "object"


def _render(obj: Any, limit: int, depth: int) -> str:
    cls = type(obj)
    if cls in _SCALARS:
        return repr(obj)
    if cls in _TEXTS:
        return repr(obj[:limit]) + ("\u2026" if len(obj) > limit else "")
    if depth <= 0:
        return "\u2026"
    # dataclasses.is_dataclass(obj), without importing dataclasses for programs that use none.
    if hasattr(cls, "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses

        fields = [
            f"{field.name}={_render(getattr(obj, field.name), limit, depth - 1)}"
            for field in dataclasses.fields(obj)
            if field.repr
        ]
        return f"{cls.__qualname__}({', '.join(fields)})"
    if isinstance(obj, tuple) and isinstance(getattr(cls, "_fields", None), tuple):
        values = [
            f"{name}={_render(value, limit, depth - 1)}"
            for name, value in zip(cls._fields, obj, strict=False)
        ]
        return f"{cls.__qualname__}({', '.join(values)})"
    if cls in (tuple, list, set, frozenset):
        return _sequence(cls, list(islice(obj, _MAX_ITEMS + 1)), len(obj), limit, depth)
    if cls is dict:
        pairs = [
            f"{_render(key, limit, depth - 1)}: {_render(value, limit, depth - 1)}"
            for key, value in list(islice(obj.items(), _MAX_ITEMS))
        ]
        more = ", \u2026" if len(obj) > _MAX_ITEMS else ""
        return "{" + ", ".join(pairs) + more + "}"
    if not isinstance(cls.__repr__, FunctionType):  # implemented in C: runs no user code
        return repr(obj)
    return f"<{cls.__name__} object>"


def _sequence(cls: type, items: list[Any], length: int, limit: int, depth: int) -> str:
    shown = [_render(item, limit, depth - 1) for item in items[:_MAX_ITEMS]]
    if length > _MAX_ITEMS:
        shown.append("\u2026")
    inner = ", ".join(shown)
    if cls is tuple:
        return f"({inner},)" if length == 1 else f"({inner})"
    if cls is list:
        return f"[{inner}]"
    if not items:
        return f"{cls.__name__}()"
    return "{" + inner + "}" if cls is set else f"frozenset({{{inner}}})"
