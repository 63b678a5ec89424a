"""
Frozen records for syncscope's own settings, without ``dataclasses``.

Importing ``dataclasses`` imports ``inspect`` (and ``dis`` with it), which is a good part of
what ``python -m syncscope -q`` used to spend before the program's first line. The records
syncscope builds at start-up (its settings and options) need no more than keyword
construction with defaults, equality, a hash, a repr and immutability: :func:`record` makes
those; type checkers see it as a frozen, keyword-only dataclass. The report's rows, built at
every exit, are records too (``kw_only=False``: by position as well); the findings, built only
when something is found, are real dataclasses.
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


#: The default of a field that has none: the caller must give it.
_REQUIRED: Any = object()


class Field:
    """One field of a record: its name, its default, and what else is known of it."""

    __slots__ = ("compare", "default", "metadata", "name", "repr")

    def __init__(
        self,
        default: Any,
        metadata: Mapping[str, Any] | None = None,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        self.name = ""
        self.default = default
        self.metadata: Mapping[str, Any] = {} if metadata is None else metadata
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(
    *,
    default: Any,
    metadata: Mapping[str, Any] | None = None,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """
    A field with ``metadata``, or left out of the repr, or of equality and the hash (the
    default alone needs no call).
    """
    return Field(default, metadata, repr, compare)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, kw_only: bool = True) -> Any:
    """
    Make ``cls``, whose annotated class attributes are its fields, a record: built by keyword
    (also by position in the fields' order with ``kw_only=False``), a field without a default
    required.
    """
    if cls is None:
        return lambda cls: _make_record(cls, kw_only)
    return _make_record(cls, kw_only)


def _make_record(cls: type[T], kw_only: bool) -> type[T]:
    found = []
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063 (inspect: not loaded)
        value = cls.__dict__.get(name, _REQUIRED)
        item = value if isinstance(value, Field) else Field(value)
        item.name = name
        if item.default is _REQUIRED:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, item.default)  # ``cls.name`` is the default, as with dataclasses
        found.append(item)
    cls.__record_fields__ = tuple(found)  # type: ignore[attr-defined]
    names = frozenset(item.name for item in found)
    shown = tuple(item for item in found if item.repr)
    compared = tuple(item.name for item in found if item.compare)
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **values: Any) -> None:
        if args:
            if kw_only or len(args) > len(found):
                given = len(args) + 1
                raise TypeError(
                    f"{qualname}.__init__() takes 1 positional argument but {given} were given"
                )
            for item, value in zip(found, args, strict=False):
                if item.name in values:
                    raise TypeError(
                        f"{qualname}.__init__() got multiple values for argument {item.name!r}"
                    )
                values[item.name] = value
        unknown = values.keys() - names
        if unknown:
            raise TypeError(
                f"{qualname}.__init__() got an unexpected keyword argument {min(unknown)!r}"
            )
        for item in found:
            value = values.get(item.name, item.default)
            if value is _REQUIRED:
                raise TypeError(f"{qualname}.__init__() missing required argument: {item.name!r}")
            object.__setattr__(self, item.name, value)

    def __repr__(self: Any) -> str:
        listed = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in shown)
        return f"{qualname}({listed})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self, compared) == _values(other, compared)

    def __hash__(self: Any) -> int:
        return hash(_values(self, compared))

    def __setattr__(self: Any, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")  # as a frozen dataclass

    def __delattr__(self: Any, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    for method in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        setattr(cls, method.__name__, method)
    if not kw_only:
        cls.__match_args__ = tuple(item.name for item in found)  # type: ignore[attr-defined,misc]
    return cls


def fields(cls_or_record: Any) -> tuple[Field, ...]:
    """The fields of a record or of its class, in the order they were written."""
    return cls_or_record.__record_fields__  # type: ignore[no-any-return]


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes``."""
    values = {item.name: getattr(obj, item.name) for item in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def _values(obj: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in names)
