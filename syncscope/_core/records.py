"""
Frozen records for syncscope's own settings, without ``dataclasses``.

Importing ``dataclasses`` imports ``inspect`` (and ``dis`` with it), which is a good part of
what ``python -m syncscope -q`` used to spend before the program's first line. The records
syncscope builds at start-up (its settings and options) need no more than keyword
construction with defaults, equality, a hash, a repr and immutability: :func:`record` makes
those; type checkers see it as a frozen, keyword-only dataclass. The types a user gets back
(findings, the report's rows) stay real dataclasses, imported when first needed.
"""

from __future__ import annotations


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs):
        return lambda decorator: decorator


class Field:
    """One field of a record: its name, its default, and what else is known of it."""

    __slots__ = ("default", "metadata", "name")

    def __init__(self, default: Any, metadata: Mapping[str, Any] | None = None) -> None:
        self.name = ""
        self.default = default
        self.metadata: Mapping[str, Any] = {} if metadata is None else metadata

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(*, default: Any, metadata: Mapping[str, Any] | None = None) -> Any:
    """A field with ``metadata`` (the default alone needs no call)."""
    return Field(default, metadata)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls``, whose annotated class attributes are its fields' defaults, a record."""
    found = []
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063 (inspect: not loaded)
        value = cls.__dict__[name]  # every field has a default
        item = value if isinstance(value, Field) else Field(value)
        item.name = name
        setattr(cls, name, item.default)  # ``cls.name`` is the default, as with dataclasses
        found.append(item)
    cls.__record_fields__ = tuple(found)  # type: ignore[attr-defined]
    names = frozenset(item.name for item in found)
    qualname = cls.__qualname__

    def __init__(self: Any, **values: Any) -> None:
        unknown = values.keys() - names
        if unknown:
            raise TypeError(
                f"{qualname}.__init__() got an unexpected keyword argument {min(unknown)!r}"
            )
        for item in found:
            object.__setattr__(self, item.name, values.get(item.name, item.default))

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in found)
        return f"{qualname}({shown})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self: Any) -> int:
        return hash(_values(self))

    def __setattr__(self: Any, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")  # as a frozen dataclass

    def __delattr__(self: Any, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    for method in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        setattr(cls, method.__name__, method)
    return cls


def fields(cls_or_record: Any) -> tuple[Field, ...]:
    """The fields of a record or of its class, in the order they were written."""
    return cls_or_record.__record_fields__  # type: ignore[no-any-return]


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes``."""
    values = {item.name: getattr(obj, item.name) for item in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, item.name) for item in fields(obj))
