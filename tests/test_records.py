"""
The frozen records syncscope's settings, report rows and findings are made of
(``syncscope._core.records``): they behave as frozen dataclasses do, without importing
``dataclasses``.
"""

from __future__ import annotations

import copy
import pickle
import sys

import pytest

from syncscope._core.records import field, fields, record, replace
from syncscope._sinks.findings import Inversion
from syncscope._sinks.refs import Ref


@record(kw_only=False)
class Point:
    x: int
    y: int
    label: str = "p"
    note: str = field(default="", repr=False, compare=False)


@record
class Options:
    size: int = 3
    name: str = "n"


class TestConstruction:
    def test_by_position_and_by_keyword(self) -> None:
        assert Point(1, 2) == Point(x=1, y=2) == Point(1, y=2, label="p")
        assert (1, 2, "q") == (Point(1, 2, "q").x, Point(1, 2, "q").y, Point(1, 2, "q").label)

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda: Point(1), "missing 1 required argument: 'y'"),
            (Point, "missing 2 required arguments: 'x', 'y'"),
            (lambda: Point(1, 2, "a", "b", "c"), "takes 5 positional arguments but 6 were given"),
            (lambda: Point(1, 2, x=3), "got multiple values for argument 'x'"),
            (lambda: Point(1, 2, z=3), "got an unexpected keyword argument 'z'"),
            (lambda: Options(4), "takes 1 positional arguments but 2 were given"),
        ],
    )
    def test_bad_arguments_are_type_errors(self, make: object, message: str) -> None:
        with pytest.raises(TypeError, match=message):
            make()  # type: ignore[operator]

    def test_defaults_are_class_attributes_and_required_fields_are_not(self) -> None:
        assert ("p", 3) == (Point.label, Options.size)
        assert not hasattr(Point, "x")
        assert ["x", "y", "label", "note"] == [item.name for item in fields(Point)]


class TestBehaviour:
    def test_frozen(self) -> None:
        point = Point(1, 2)
        with pytest.raises(AttributeError):
            point.x = 3  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del point.x  # type: ignore[misc]

    def test_equality_and_hash_leave_out_fields_not_compared(self) -> None:
        assert Point(1, 2, note="a") == Point(1, 2, note="b")
        assert hash(Point(1, 2, note="a")) == hash(Point(1, 2, note="b"))
        assert Point(1, 2) != Point(1, 3)
        assert Point(1, 2) != (1, 2)
        assert len({Point(1, 2), Point(1, 2, note="x"), Point(2, 1)}) == 2

    def test_repr_leaves_out_fields_not_shown(self) -> None:
        assert "Point(x=1, y=2, label='p')" == repr(Point(1, 2, note="secret"))

        class Sub(Point):
            pass

        assert repr(Sub(1, 2)).startswith("TestBehaviour.test_repr_leaves_out_fields_not_shown.")

    def test_match_by_position(self) -> None:
        match Point(1, 2):
            case Point(1, y):
                assert 2 == y
            case _:
                pytest.fail("no match")

    def test_replace_copy_and_pickle(self) -> None:
        point = Point(1, 2, note="n")
        assert Point(1, 5, note="n") == replace(point, y=5)
        assert "n" == replace(point, y=5).note
        assert (
            point == copy.copy(point) == copy.deepcopy(point) == pickle.loads(pickle.dumps(point))
        )
        if sys.version_info >= (3, 13):
            assert Point(9, 2) == copy.replace(point, x=9)

    def test_findings_compare_without_their_context(self) -> None:
        """The findings keep equality as before: the context a test gave is not compared."""
        ref = Ref("a", "lock", "Lock", "f.py", 1, 1)
        assert "Ref(name='a', kind='lock', type_name='Lock', file='f.py', line=1, id=1)" == repr(
            ref
        )
        first = Inversion((), context="test_one")
        assert first == replace(first, context="test_two")
        assert "test_two" == replace(first, context="test_two").context
