"""
Frozen records for syncscope's own settings, without ``dataclasses``.

Importing ``dataclasses`` imports ``inspect`` (and ``dis`` with it), which is a good part of
what ``python -m syncscope -q`` used to spend before the program's first line. The records
syncscope builds at start-up (its settings and options) need no more than keyword
construction with defaults, equality, a hash, a repr and immutability: :func:`record` makes
those; type checkers see it as a frozen, keyword-only dataclass. The report's rows, built at
every exit, and the findings are records too (``kw_only=False``: by position as well).
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
    annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 (annotationlib: not loaded)
    lazy = "__annotate_func__" in cls.__dict__ or "__annotate__" in cls.__dict__
    if annotations is None and lazy:
        # From 3.14 on, annotations are made lazily unless the module has the future import.
        raise TypeError(
            f"{cls.__qualname__}: a record's module needs `from __future__ import annotations`"
        )
    found = []
    for name in annotations or {}:
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
    required = tuple(item.name for item in found if item.default is _REQUIRED)
    #: Every field with its default (a required one's is replaced, or __init__ raises).
    template = {item.name: item.default for item in found}
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **values: Any) -> None:
        if args:
            if kw_only or len(args) > len(found):
                takes = 1 if kw_only else len(found) + 1
                raise TypeError(
                    f"{qualname}.__init__() takes {takes} positional arguments"
                    f" but {len(args) + 1} were given"
                )
            for item, value in zip(found, args, strict=False):
                if item.name in values:
                    raise TypeError(
                        f"{qualname}.__init__() got multiple values for argument {item.name!r}"
                    )
                values[item.name] = value
        # In one go, in the fields' order (a report makes thousands of these, 40 fields each:
        # one __setattr__ a field took two thirds of the report's time), and checked on the
        # result: a name that is no field adds a key, a required one left out keeps its mark.
        filled = template.copy()
        filled.update(values)
        if len(filled) != len(template):
            unknown = values.keys() - names
            raise TypeError(
                f"{qualname}.__init__() got an unexpected keyword argument {min(unknown)!r}"
            )
        for name in required:
            if filled[name] is _REQUIRED:
                missing = [name for name in required if name not in values]
                raise TypeError(
                    f"{qualname}.__init__() missing {len(missing)} required argument"
                    f"{'s' if len(missing) > 1 else ''}: {', '.join(map(repr, missing))}"
                )
        object.__setattr__(self, "__dict__", filled)

    def __repr__(self: Any) -> str:
        listed = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in shown)
        return f"{type(self).__qualname__}({listed})"

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

    def __replace__(self: Any, **changes: Any) -> Any:  # copy.replace(), from 3.13 on
        return replace(self, **changes)

    for method in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__, __replace__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        setattr(cls, method.__name__, method)
    if not kw_only:
        cls.__match_args__ = tuple(item.name for item in found)  # type: ignore[attr-defined,misc]
    return cls


def whole(cls: type[T], values: dict[str, Any]) -> T:
    """
    A record of ``cls`` that keeps ``values``, every one of its fields in their order, as
    they are: for syncscope's own code, which has them all at hand (a report of 10,000
    primitives makes a row of 40 figures for each, and by keyword each row cost twice the
    dictionary work). Not checked here: the tests compare what its callers make with the
    keyword construction.
    """
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", values)
    return made


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
