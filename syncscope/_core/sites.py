"""
Where things happen: call sites, creation sites, names, and what counts as the user's code.
"""

from __future__ import annotations

import itertools
import os
import queue
import sys
import threading
from collections import defaultdict
from types import CodeType, FrameType

from .originals import absolute as absolute_path


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .sourcenames import Span


_getframe = sys._getframe

# The package's directory (this module is one level below it).
SYNCSCOPE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What the file names of syncscope's own code begin with.
OWN_PREFIX = SYNCSCOPE_DIR + os.sep
# Frames in these files are the machinery, never the place a user called from.
_MACHINERY_FILES = frozenset({os.path.abspath(threading.__file__), os.path.abspath(queue.__file__)})


def _library_prefixes() -> tuple[str, ...]:
    # The standard library's directory and the site-packages, as sysconfig.get_paths() gives
    # them, without importing sysconfig (its configuration data is read at start-up). Only
    # site-packages directories of site's list: on Windows it also names the prefix itself,
    # where a program may well live (an embedded python, a venv made in the project).
    import site

    stdlib = getattr(os, "__file__", None)
    if stdlib is None:  # a frozen os without a file (an embedded build): ask sysconfig
        import sysconfig

        stdlib = sysconfig.get_paths()["stdlib"] + os.sep
    prefixes = {os.path.dirname(os.path.abspath(stdlib)) + os.sep}
    getsitepackages = getattr(site, "getsitepackages", list)  # absent from some venvs' site
    prefixes.update(
        os.path.abspath(path) + os.sep
        for path in getsitepackages()
        if os.path.basename(path.rstrip("/" + os.sep)) in ("site-packages", "dist-packages")
    )
    for extra in sys.path:
        if extra.endswith(("site-packages", "dist-packages")):
            prefixes.add(os.path.abspath(extra) + os.sep)
    return tuple(sorted(prefixes))


LIBRARY_PREFIXES = _library_prefixes()

# One verdict per file name: computed once, then a dict lookup. Not per code object: a code
# object's hash is computed afresh from its constants at every lookup (measured: 9,000
# instructions for a function's code), a string's is computed once and kept.
#: File name -> whether it is threading's, queue's or syncscope's own (:func:`is_machinery`).
_machinery_files: dict[str, bool] = {}
#: File name -> whether it is library code (:func:`is_library_code`).
library_files: dict[str, bool] = {}
#: Caches elsewhere that keep such verdicts (tracking's creating calls): emptied with it.
verdict_caches: list[dict[Any, Any]] = [library_files]


def is_machinery(code: CodeType) -> bool:
    """Whether ``code`` is threading's, queue's or syncscope's own."""
    filename = code.co_filename
    verdict = _machinery_files.get(filename)
    if verdict is None:
        absolute = absolute_path(filename) if not filename.startswith("<") else filename
        verdict = absolute in _MACHINERY_FILES or absolute.startswith(OWN_PREFIX)
        _machinery_files[filename] = verdict
    return verdict


def is_library_file(filename: str) -> bool:
    """True for files of the standard library, installed packages and syncscope itself."""
    verdict = library_files.get(filename)
    if verdict is None:  # decided once per file name: a path made absolute costs 3 us
        verdict = library_files[filename] = _in_library(filename)
    return verdict


def _in_library(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    if filename.startswith("<"):  # -c code, stdin, exec'd strings: the user's
        return False
    absolute = absolute_path(filename)
    if _user_prefixes and absolute.startswith(_user_prefixes):
        return False
    return absolute.startswith(LIBRARY_PREFIXES) or absolute.startswith(OWN_PREFIX)


# Installed packages that are the user's all the same (the package run with ``-m``).
_user_prefixes: tuple[str, ...] = ()


def add_user_path(path: str) -> None:
    """Count a package directory or a module file as the user's, even inside site-packages."""
    global _user_prefixes
    prefix = os.path.abspath(path) + (os.sep if os.path.isdir(path) else "")
    _user_prefixes = (*_user_prefixes, prefix)
    forget_verdicts()


def forget_verdicts() -> None:
    """Which files are the library's is decided again: the user's paths changed."""
    for cache in verdict_caches:
        cache.clear()


def is_library_code(code: CodeType) -> bool:
    """:func:`is_library_file` for a code object, decided once per file."""
    return is_library_file(code.co_filename)


def user_frame(depth: int = 2) -> FrameType | None:
    """The first frame outside threading, queue and syncscope, ``depth`` frames up."""
    try:
        frame: FrameType | None = _getframe(depth)
    except ValueError:
        return None
    return past_machinery(frame)


def past_machinery(frame: FrameType | None) -> FrameType | None:
    """``frame``, or the first of its callers outside threading, queue and syncscope."""
    verdicts = _machinery_files  # is_machinery's cache, looked at first: one call the less
    while frame is not None:
        code = frame.f_code
        verdict = verdicts.get(code.co_filename)
        if verdict is None:
            verdict = is_machinery(code)
        if not verdict:
            return frame
        frame = frame.f_back
    return None


def owner_frame(frame: FrameType | None) -> FrameType | None:
    """
    The frame a creation belongs to: ``frame``, or for generated code, the code calling it.

    Code in files named ``<...>`` (attrs' and dataclasses' generated ``__init__``, strings a
    library exec'd) is nobody's own: what it creates belongs to whoever called it. The
    program's own ``-c`` code and standard input run in ``__main__``'s namespace, and are
    the program's.
    """
    main = getattr(sys.modules.get("__main__"), "__dict__", None)
    while frame is not None and frame.f_back is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<") or filename.startswith("<frozen"):
            break
        if frame.f_globals is main:
            break
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> tuple[str, int, str]:
    if frame is None:
        return ("<unknown>", 0, "<unknown>")
    code = frame.f_code
    return (code.co_filename, frame.f_lineno, code.co_name)


#: Instruction offset -> (code, the call site there), the last one seen at that offset: a
#: site's line is computed once, not from the line table at every operation.
_sites: dict[int, tuple[CodeType, tuple[str, int, str]]] = {}
_UNKNOWN_SITE = ("<unknown>", 0, "<unknown>")
#: The site of an event made for a console line only, which names none (see LeanLines).
NO_SITE = ("", 0, "")
#: The depth to look up a call site from in code that syncscope's own code calls (a line said
#: for a wrapper, a wait counted for it): that caller's caller, one frame object and its checks
#: (1,700 instructions) less than the default.
PAST_OUR_CALLER = 3


def call_site(depth: int = 2) -> tuple[str, int, str]:
    """
    ``(file, line, function)`` of the user's call into an instrumented operation: the first
    frame outside threading, queue and syncscope, ``depth`` frames up.

    Each frame looked at costs a frame object: a caller that knows how many of syncscope's
    own frames lie above it passes the depth of the first frame that may be the user's.
    """
    # user_frame() and site_of(), written out: this runs for every reported operation.
    try:
        frame: FrameType | None = _getframe(depth)
    except ValueError:
        return _UNKNOWN_SITE
    verdicts = _machinery_files
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        verdict = verdicts.get(filename)
        if verdict is None:
            verdict = verdicts[filename] = is_machinery(code)
        if not verdict:
            lasti = frame.f_lasti
            known = _sites.get(lasti)
            if known is not None and known[0] is code:
                return known[1]
            site = (filename, frame.f_lineno, code.co_name)
            _sites[lasti] = (code, site)
            return site
        frame = frame.f_back
    return _UNKNOWN_SITE


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
    while frame is not None and frame.f_code.co_filename.startswith(OWN_PREFIX):
        frame = frame.f_back
    return frame


_name_counters: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
#: A name read from creating statements -> how many primitives were given it (unique_name).
names_taken: dict[str, int] = defaultdict(int)

#: (code, instruction offset) -> the name read there: one AST lookup per creating call.
_names_by_call: dict[tuple[CodeType, int], str | None] = {}
#: Code without a file (the ``-c`` program) -> its source, read for names when first needed.
_source_by_code: dict[CodeType, str] = {}


def add_source(code: CodeType, source: str) -> None:
    """Read names in ``code`` (and the functions in it) from ``source``: code with no file."""
    pending = [code]
    while pending:
        current = pending.pop()
        _source_by_code[current] = source
        pending += [const for const in current.co_consts if isinstance(const, CodeType)]


def assigned_name(frame: FrameType | None) -> str | None:
    """
    The variable or attribute a constructor call's result is assigned to, where readable.

    Read from the AST of the statement, matched by the position of the call being made: two
    primitives created on one line, tuple assignments and one-line functions get their own
    names.
    """
    if frame is None:
        return None
    code = frame.f_code
    key = (code, frame.f_lasti)
    try:
        return _names_by_call[key]
    except KeyError:
        pass
    name = None
    span = _span_of(code, frame.f_lasti)
    if span is not None:
        from . import sourcenames  # ast: loaded when the first primitive is named

        source = _source_by_code.get(code)
        if source is None:
            names = sourcenames.names_of_file(code.co_filename, frame.f_globals)
        else:
            names = sourcenames.names_in(source)
        name = names.get(span)
    _names_by_call[key] = name
    return name


def creation_column(frame: FrameType | None) -> int:
    """The column of the call ``frame`` is making (0 when unknown)."""
    if frame is None:
        return 0
    span = _span_of(frame.f_code, frame.f_lasti)
    return 0 if span is None else span[2]


_spans: dict[tuple[CodeType, int], Span | None] = {}


def _span_of(code: CodeType, offset: int) -> Span | None:
    key = (code, offset)
    try:
        return _spans[key]
    except KeyError:
        pass
    span: Span | None = None
    if offset >= 0:
        position = next(itertools.islice(code.co_positions(), offset // 2, None), None)
        if position is not None:
            line, end_line, column, end_column = position
            if line is not None and end_line is not None and column is not None:
                span = (line, end_line, column, -1 if end_column is None else end_column)
    _spans[key] = span
    return span


def reset_names() -> None:
    """Start naming afresh: each install gives ``lock``, not ``lock#7``, to its first lock."""
    _name_counters.clear()
    names_taken.clear()


def unique_name(wanted: str | None, kind: str) -> str:
    """``wanted`` the first time, then ``wanted#2``...; ``kind#N`` when nothing could be read."""
    if wanted is None:
        return f"{kind}#{next(_name_counters[kind])}"
    names_taken[wanted] += 1
    taken = names_taken[wanted]
    return wanted if taken == 1 else f"{wanted}#{taken}"
