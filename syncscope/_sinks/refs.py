"""
Where things are, as the findings and the report's figures say it: :class:`Ref` (a primitive
as it was when named), short paths, call sites and the user's part of a stack.

Apart from the findings themselves, so that the report of a run that found nothing does not
define every kind of finding (each a frozen record) on its way out.
"""

from __future__ import annotations

import os
from types import CodeType, FrameType

from .._core.event import Primitive, label
from .._core.records import record, whole
from .._core.sites import LIBRARY_PREFIXES, is_library_code, is_machinery


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


Site = tuple[str, int, str]
#: One frame of a stack: file, line, function.
Frame = tuple[str, int, str]

#: Frames kept of a stack, innermost user frame included.
STACK_LIMIT = 8

# site-packages lies inside the standard library's directory: try it first.
_LONGEST_FIRST = sorted(LIBRARY_PREFIXES, key=len, reverse=True)


def short_path(path: str) -> str:
    """
    ``path`` relative to the working directory when it is inside it, relative to its
    ``site-packages`` or standard library directory when it is in one, else unchanged.
    """
    try:
        relative = os.path.relpath(path)
    except (ValueError, OSError):  # another drive, on Windows; the working directory is gone
        return path
    if not relative.startswith(os.pardir):
        return relative
    for prefix in _LONGEST_FIRST:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def where(site: Site | None) -> str:
    """``x.py:12 in run``."""
    if site is None:
        return "an unknown place"
    file, line, function = site
    return f"{short_path(file)}:{line} in {function}"


def stack_of(frame: FrameType | None, limit: int = STACK_LIMIT) -> tuple[Frame, ...]:
    """
    The user's part of a stack, outermost first, at most ``limit`` frames: frames of the
    standard library, installed packages and syncscope are left out, so the stack ends where
    the user's code called in. A stack with no frame of the user's keeps the library's, and
    one of machinery only (a ``threading.Timer``'s thread) keeps its innermost frames.
    """
    innermost = frame
    while frame is not None and _machinery(frame.f_code):
        frame = frame.f_back
    if frame is None:
        frame = innermost
    users: list[Frame] = []
    others: list[Frame] = []
    while frame is not None and len(users) < limit:
        code = frame.f_code
        entry = (code.co_filename, frame.f_lineno, code.co_name)
        if not _library(code):
            users.append(entry)
        elif len(others) < limit:
            others.append(entry)
        frame = frame.f_back
    frames = users or others
    frames.reverse()
    return tuple(frames)


def _machinery(code: CodeType) -> bool:
    try:
        return is_machinery(code)
    except OSError:  # a relative file name, and the working directory is gone
        return False


def _library(code: CodeType) -> bool:
    try:
        return is_library_code(code)
    except OSError:
        return False


def format_stack(frames: tuple[Frame, ...], indent: str) -> list[str]:
    """The frames as ``traceback`` prints them, most recent call last."""
    from .._core.sourcenames import source_line  # here: only findings show stacks

    lines = []
    for file, line, function in frames:
        lines.append(f'{indent}File "{file}", line {line}, in {function}')
        source = source_line(file, line)
        if source:
            lines.append(f"{indent}  {source}")
    return lines


def site_dict(site: Site | None) -> dict[str, Any] | None:
    """A site as the JSON report writes it."""
    if site is None:
        return None
    return {"file": site[0], "line": site[1], "function": site[2]}


def stack_list(frames: tuple[Frame, ...]) -> list[dict[str, Any]]:
    """A stack as the JSON report writes it."""
    return [{"file": f, "line": line, "function": fn} for f, line, fn in frames]


def rounded_seconds(ns: int | float) -> float:
    """Nanoseconds as seconds, to the microsecond (the findings' JSON)."""
    return round(ns / 1e9, 6)


@record(kw_only=False)
class Ref:
    """A primitive as it was when a finding named it."""

    name: str
    kind: str
    type_name: str
    file: str
    line: int
    id: int

    @classmethod
    def of(cls, primitive: Primitive) -> Ref:
        # Made whole (see records.whole): a report makes one a primitive.
        return whole(
            cls,
            {
                "name": primitive.name,
                "kind": primitive.kind,
                "type_name": primitive.type_name,
                "file": primitive.file,
                "line": primitive.line,
                "id": primitive.id,
            },
        )

    @property
    def label(self) -> str:
        return label(self.kind, self.name)

    @property
    def created_at(self) -> str:
        return f"{short_path(self.file)}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "type": self.type_name,
            "created_at": f"{self.file}:{self.line}",
            "id": self.id,
        }
