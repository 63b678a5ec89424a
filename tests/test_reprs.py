"""Queue items as text: short, safe, and readable for the common kinds of items."""

from __future__ import annotations

import dataclasses
import datetime
from typing import NamedTuple

from syncscope._core.reprs import safe_repr


@dataclasses.dataclass
class Job:
    id: int
    name: str
    secret: str = dataclasses.field(default="x", repr=False)


class Point(NamedTuple):
    x: int
    y: int


class TestSafeRepr:
    def test_builtins_read_as_repr(self) -> None:
        """Numbers, strings, containers and C-implemented types read as their repr."""
        assert "61" == safe_repr(61, 80)
        assert "'abc'" == safe_repr("abc", 80)
        assert "(1, 'a', None)" == safe_repr((1, "a", None), 80)
        assert "(1,)" == safe_repr((1,), 80)
        assert "{'k': [1, 2]}" == safe_repr({"k": [1, 2]}, 80)
        assert repr(datetime.date(2024, 1, 2)) == safe_repr(datetime.date(2024, 1, 2), 80)

    def test_dataclasses_and_named_tuples_field_by_field(self) -> None:
        """Dataclasses and named tuples are rendered from their fields, honouring repr=False."""
        assert "Job(id=3, name='build')" == safe_repr(Job(3, "build"), 80)
        assert "Point(x=1, y=2)" == safe_repr(Point(1, 2), 80)

    def test_long_values_are_cut(self) -> None:
        """Long texts are cut to the limit, long containers after a few items."""
        assert len(safe_repr(b"x" * 5_000_000, 40)) <= 40
        assert safe_repr(list(range(100)), 80).endswith("\u2026]")

    def test_failures_never_raise(self) -> None:
        """An int too long to print or an object whose type is odd gives a placeholder."""
        assert "<int object>" == safe_repr(10**10000, 80)

        class Custom:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        assert safe_repr(Custom(), 80).endswith("Custom object>")
