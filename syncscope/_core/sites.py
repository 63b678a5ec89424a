"""
Where things happen: call sites, creation sites, names, and what counts as the user's code.
"""

from __future__ import annotations

import ast
import itertools
import linecache
import os
import queue
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


#: Per source file: whether its frames are the machinery (as :func:`is_machinery` says). Keyed
#: by the file name, whose hash a string keeps, not by the code object, whose hash is computed
#: afresh at every lookup.
_machinery_files: dict[str, bool] = {}
#: Instruction offset -> (code, the call site there), the last one seen at that offset: a
#: site's line is computed once, not from the line table at every operation.
_sites: dict[int, tuple[CodeType, tuple[str, int, str]]] = {}
_UNKNOWN_SITE = ("<unknown>", 0, "<unknown>")


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
    while frame is not None and frame.f_code.co_filename.startswith(SYNCSCOPE_DIR + os.sep):
        frame = frame.f_back
    return frame


_name_counters: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
_names_taken: dict[str, int] = defaultdict(int)

#: Span of a call -> the name its result is bound to, per source file. A span is
#: ``(line, end line, column, end column)``, as ``CodeType.co_positions()`` gives it.
_Span = tuple[int, int, int, int]
_names_by_file: dict[str, dict[_Span, str]] = {}
#: (code, instruction offset) -> the name read there: one AST lookup per creating call.
_names_by_call: dict[tuple[CodeType, int], str | None] = {}
#: Code without a file (the ``-c`` program) -> its source's names.
_names_by_code: dict[CodeType, dict[_Span, str]] = {}


def add_source(code: CodeType, source: str) -> None:
    """Read names in ``code`` (and the functions in it) from ``source``: code with no file."""
    names = _names_in(source)
    pending = [code]
    while pending:
        current = pending.pop()
        _names_by_code[current] = names
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
        names = _names_by_code.get(code)
        if names is None:
            names = _names_of_file(code.co_filename, frame.f_globals)
        name = names.get(span)
    _names_by_call[key] = name
    return name


def creation_column(frame: FrameType | None) -> int:
    """The column of the call ``frame`` is making (0 when unknown)."""
    if frame is None:
        return 0
    span = _span_of(frame.f_code, frame.f_lasti)
    return 0 if span is None else span[2]


_spans: dict[tuple[CodeType, int], _Span | None] = {}


def _span_of(code: CodeType, offset: int) -> _Span | None:
    key = (code, offset)
    try:
        return _spans[key]
    except KeyError:
        pass
    span: _Span | None = None
    if offset >= 0:
        position = next(itertools.islice(code.co_positions(), offset // 2, None), None)
        if position is not None:
            line, end_line, column, end_column = position
            if line is not None and end_line is not None and column is not None:
                span = (line, end_line, column, -1 if end_column is None else end_column)
    _spans[key] = span
    return span


def statement_line(filename: str, name: str, module_globals: dict[str, object]) -> int:
    """The first line of ``filename`` that assigns a call's result to ``name`` (0 if none)."""
    names = _names_of_file(filename, module_globals)
    return min((span[0] for span, bound in names.items() if bound == name), default=0)


def _names_of_file(filename: str, module_globals: dict[str, object]) -> dict[_Span, str]:
    names = _names_by_file.get(filename)
    if names is None:
        source = "".join(linecache.getlines(filename, module_globals))
        names = _names_by_file[filename] = _names_in(source)
    return names


def _names_in(source: str) -> dict[_Span, str]:
    """Every call in ``source`` whose result is assigned to a name: its span -> the name."""
    for attempt in range(2):
        try:
            tree = ast.parse(source)
            break
        except (SyntaxError, ValueError, RecursionError):
            return {}
        except SystemError:
            # CPython 3.11's AST conversion keeps its recursion depth in state that threads
            # share: another thread parsing at the same moment can fail this one ("AST
            # constructor recursion depth mismatch"). Names are a nicety: once more, then none.
            if attempt:
                return {}
    names: dict[_Span, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            _bind(node.targets[0], node.value, names)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            _bind(node.target, node.value, names)
    return names


def _bind(target: ast.expr, value: ast.expr, names: dict[_Span, str]) -> None:
    if isinstance(target, (ast.Tuple, ast.List)):
        # `ready, done = Event(), Event()`: pair them up, when they pair.
        if isinstance(value, (ast.Tuple, ast.List)) and len(target.elts) == len(value.elts):
            for each_target, each_value in zip(target.elts, value.elts, strict=True):
                _bind(each_target, each_value, names)
        return
    name = _target_name(target)
    if name is None:
        return
    values = [value]
    while values:
        current = values.pop()
        if isinstance(current, ast.Call):
            end_line, end_column = current.end_lineno, current.end_col_offset
            if end_line is not None and end_column is not None:
                names[(current.lineno, end_line, current.col_offset, end_column)] = name
            # `cond = Condition(Lock())`: the lock made for the condition is named after it.
            values += current.args
            values += [keyword.value for keyword in current.keywords]
        elif isinstance(current, ast.IfExp):  # `Lock() if one else RLock()`
            values += [current.body, current.orelse]
        elif isinstance(current, ast.BoolOp):  # `lock or Lock()`
            values += current.values


def _target_name(target: ast.expr) -> str | None:
    while isinstance(target, (ast.Subscript, ast.Starred)):  # `locks[key] = Lock()`: locks
        target = target.value
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):  # `self.lock = Lock()`: lock
        return target.attr
    return None


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
