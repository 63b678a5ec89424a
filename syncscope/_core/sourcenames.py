"""
The names a program gives the primitives it makes, read from its source.

``self.lock = threading.Lock()`` makes a lock called ``lock``: the call's position in its code
object (``co_positions()``) is looked up among the calls whose result the source assigns to a
name. Imported when the first primitive is named, and light even then: the tree comes from
``_ast`` and ``compile`` (``ast.py`` imports ``enum``), the file is read as bytes
(``linecache`` imports ``tokenize`` and ``re``; the parser reads the encoding itself).
"""

from __future__ import annotations

import _ast as ast
from collections import deque

# Read with os's functions as they were at syncscope's import (this module is imported
# later, when a program may have replaced them).
from .originals import read_file


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


#: A call's ``(line, end line, column, end column)``, as ``CodeType.co_positions()`` gives it.
Span = tuple[int, int, int, int]
#: Per source file: the span of each call whose result is bound to a name -> the name.
_names_by_file: dict[str, dict[Span, str]] = {}
#: The same for source without a file (the ``-c`` program), by its text.
_names_by_source: dict[str, dict[Span, str]] = {}


def statement_line(filename: str, name: str, module_globals: dict[str, object]) -> int:
    """The first line of ``filename`` that assigns a call's result to ``name`` (0 if none)."""
    names = names_of_file(filename, module_globals)
    return min((span[0] for span, bound in names.items() if bound == name), default=0)


def names_of_file(filename: str, module_globals: dict[str, object]) -> dict[Span, str]:
    names = _names_by_file.get(filename)
    if names is None:
        names = _names_by_file[filename] = _parse(_source_of(filename, module_globals))
    return names


def _source_of(filename: str, module_globals: dict[str, object]) -> str | bytes:
    try:
        return read_file(filename)
    except (OSError, ValueError):
        import linecache  # a module in a zip, or source only its loader has: as tracebacks do

        return "".join(linecache.getlines(filename, module_globals))


#: Per source file: its lines as a report quotes them, read once (None: not readable here).
_lines_by_file: dict[str, list[str] | None] = {}


def source_line(filename: str, line: int) -> str:
    """
    Line ``line`` of ``filename``, stripped, as a traceback quotes it ("" when unknown).

    Read here rather than with ``linecache``, whose first use imports ``tokenize`` and ``re``:
    a report is written on the program's thread that found it, and while another thread
    runs, each file operation of those imports gave that thread the GIL for a switch interval
    (5 ms): about 150 of them, up to 300 ms, before a thread could go on waiting for a lock.
    """
    if filename not in _lines_by_file:
        _lines_by_file[filename] = _read_lines(filename)
    lines = _lines_by_file[filename]
    if lines is None:  # a module in a zip, -c or interactive code: as tracebacks do
        import linecache

        return linecache.getline(filename, line).strip()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _read_lines(filename: str) -> list[str] | None:
    if filename.startswith("<"):
        return None
    try:
        data = read_file(filename)
        text = data.decode(_declared_encoding(data))
    except (OSError, ValueError, LookupError):  # UnicodeDecodeError is a ValueError
        return None
    # Python's own line ends only: str.splitlines() also ends a line at a form feed, \x1c,
    # \u2028..., which would move every line after one.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _declared_encoding(data: bytes) -> str:
    """A source file's encoding (PEP 263): a coding comment on line 1 or 2, else UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for raw in data.split(b"\n", 2)[:2]:
        text = raw.strip()
        if not text.startswith(b"#"):
            if text:
                break  # code first: a comment after it declares nothing
            continue
        at = text.find(b"coding")
        if at >= 0 and text[at + 6 : at + 7] in (b":", b"="):
            name = text[at + 7 :].lstrip().split(maxsplit=1)
            if name:
                word = bytes(c for c in name[0] if chr(c).isalnum() or chr(c) in "-_.")
                return word.decode("ascii")
    return "utf-8"


def names_in(source: str) -> dict[Span, str]:
    """Every call in ``source`` whose result is assigned to a name: its span -> the name."""
    names = _names_by_source.get(source)
    if names is None:
        names = _names_by_source[source] = _parse(source)
    return names


def _parse(source: str | bytes) -> dict[Span, str]:
    for attempt in range(2):
        try:
            tree = compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
            break
        except (SyntaxError, ValueError, RecursionError):
            return {}
        except SystemError:
            # CPython 3.11's AST conversion keeps its recursion depth in state that threads
            # share: another thread parsing at the same moment can fail this one ("AST
            # constructor recursion depth mismatch"). Names are a nicety: once more, then none.
            if attempt:
                return {}
    names: dict[Span, str] = {}
    for node in _walk(tree):
        if isinstance(node, ast.Assign):
            _bind(node.targets[0], node.value, names)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            _bind(node.target, node.value, names)
    return names


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree``, breadth first (``ast.walk``)."""
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend(item for item in value if isinstance(item, ast.AST))
        yield node


def _bind(target: ast.expr, value: ast.expr, names: dict[Span, str]) -> None:
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
