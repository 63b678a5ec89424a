"""
Where things happen: call sites, creation sites, names, and what counts as the user's code.
"""

from __future__ import annotations

import itertools
import linecache
import os
import queue
import re
import sys
import sysconfig
import threading
from collections import defaultdict
from types import CodeType, FrameType


_getframe = sys._getframe

# The package's directory (this module is one level below it).
SYNCSCOPE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Frames in these files are the machinery, never the place a user called from.
_MACHINERY_FILES = frozenset({os.path.abspath(threading.__file__), os.path.abspath(queue.__file__)})


def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {
        os.path.abspath(paths[key]) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if key in paths
    }
    for extra in sys.path:
        if extra.endswith(("site-packages", "dist-packages")):
            prefixes.add(os.path.abspath(extra) + os.sep)
    return tuple(sorted(prefixes))


LIBRARY_PREFIXES = _library_prefixes()

# One verdict per code object: computed once, then a dict lookup.
_machinery_code: dict[CodeType, bool] = {}
_library_code: dict[CodeType, bool] = {}


def is_machinery(code: CodeType) -> bool:
    verdict = _machinery_code.get(code)
    if verdict is None:
        filename = code.co_filename
        absolute = os.path.abspath(filename) if not filename.startswith("<") else filename
        verdict = absolute in _MACHINERY_FILES or absolute.startswith(SYNCSCOPE_DIR + os.sep)
        _machinery_code[code] = verdict
    return verdict


def is_library_file(filename: str) -> bool:
    """True for files of the standard library, installed packages and syncscope itself."""
    if filename.startswith("<frozen"):
        return True
    if filename.startswith("<"):  # -c code, stdin, exec'd strings: the user's
        return False
    absolute = os.path.abspath(filename)
    if _user_prefixes and absolute.startswith(_user_prefixes):
        return False
    return absolute.startswith(LIBRARY_PREFIXES) or absolute.startswith(SYNCSCOPE_DIR + os.sep)


# Installed packages that are the user's all the same (the package run with ``-m``).
_user_prefixes: tuple[str, ...] = ()


def add_user_path(path: str) -> None:
    """Count a package directory or a module file as the user's, even inside site-packages."""
    global _user_prefixes
    prefix = os.path.abspath(path) + (os.sep if os.path.isdir(path) else "")
    _user_prefixes = (*_user_prefixes, prefix)
    _library_code.clear()


def is_library_code(code: CodeType) -> bool:
    """:func:`is_library_file` for a code object, decided once per code object."""
    verdict = _library_code.get(code)
    if verdict is None:
        verdict = _library_code[code] = is_library_file(code.co_filename)
    return verdict


def user_frame(depth: int = 2) -> FrameType | None:
    """The first frame outside threading, queue and syncscope, ``depth`` frames up."""
    try:
        frame: FrameType | None = _getframe(depth)
    except ValueError:
        return None
    while frame is not None and is_machinery(frame.f_code):
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> tuple[str, int, str]:
    if frame is None:
        return ("<unknown>", 0, "<unknown>")
    code = frame.f_code
    return (code.co_filename, frame.f_lineno, code.co_name)


def call_site(depth: int = 2) -> tuple[str, int, str]:
    """``(file, line, function)`` of the user's call into an instrumented operation."""
    # user_frame() and site_of(), written out: this runs for every reported operation.
    try:
        frame: FrameType | None = _getframe(depth)
    except ValueError:
        return ("<unknown>", 0, "<unknown>")
    verdicts = _machinery_code
    while frame is not None:
        code = frame.f_code
        verdict = verdicts.get(code)
        if verdict is None:
            verdict = is_machinery(code)
        if not verdict:
            return (code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return ("<unknown>", 0, "<unknown>")


def creator_frame(depth: int = 2) -> FrameType | None:
    """
    The frame that called the constructor, skipping only syncscope's own frames.

    Unlike :func:`user_frame`, ``threading`` and ``queue`` frames count here: the Event that
    ``Thread.__init__`` creates is the library's, even when a user's subclass called it.
    """
    try:
        frame: FrameType | None = _getframe(depth)
    except ValueError:
        return None
    while frame is not None and frame.f_code.co_filename.startswith(SYNCSCOPE_DIR + os.sep):
        frame = frame.f_back
    return frame


# `self.lock = threading.Lock()`, `integers_cond: Condition = threading.Condition(...)`.
_ASSIGNMENT = re.compile(
    r"^\s*(?:[A-Za-z_][\w]*\.)*(?P<name>[A-Za-z_]\w*)\s*(?::[^=]+)?=\s*"
    r"(?:[A-Za-z_][\w]*\.)*(?P<callee>[A-Za-z_]\w*)\s*\("
)
_name_counters: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
_names_taken: dict[str, int] = defaultdict(int)


def assigned_name(frame: FrameType | None) -> str | None:
    """The variable or attribute a constructor call's result is assigned to, where readable."""
    if frame is None:
        return None
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno, frame.f_globals)
    match = _ASSIGNMENT.match(line)
    if match is None:
        return None
    return match.group("name")


def reset_names() -> None:
    """Start naming afresh: each install gives ``lock``, not ``lock#7``, to its first lock."""
    _name_counters.clear()
    _names_taken.clear()


def unique_name(wanted: str | None, kind: str) -> str:
    """``wanted`` the first time, then ``wanted#2``...; ``kind#N`` when nothing could be read."""
    if wanted is None:
        return f"{kind}#{next(_name_counters[kind])}"
    _names_taken[wanted] += 1
    taken = _names_taken[wanted]
    return wanted if taken == 1 else f"{wanted}#{taken}"
