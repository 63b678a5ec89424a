"""
The source lines a finding quotes: read by syncscope itself, not with ``linecache``, whose
first use imports ``tokenize`` and ``re`` on the program's thread that found it. While
another thread runs, each file operation of those imports hands that thread the GIL for a
switch interval: a thread that found an inversion waited up to 300 ms before its own wait.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncscope._core.sourcenames import source_line

from .conftest import run_syncscope
from .support.process import script


@pytest.mark.parametrize("mode", [["-q"], []], ids=["quiet", "lines"])
def test_an_inversion_is_quoted_without_importing_linecache(
    tmp_path: Path, mode: list[str]
) -> None:
    program = script(
        tmp_path,
        """
        import sys, threading
        first, second = threading.Lock(), threading.Lock()
        def forward():
            with first:
                with second:  # forward's second
                    pass
        def backward():
            with second:
                with first:  # backward's first
                    pass
        for target in (forward, backward):  # one after the other: found, no deadlock
            thread = threading.Thread(target=target)
            thread.start()
            thread.join(timeout=10)
        print(sorted(m for m in ("linecache", "tokenize", "re") if m in sys.modules))
        """,
    )
    result = run_syncscope(*mode, str(program))
    assert 0 == result.returncode, result.stderr
    assert "with second:  # forward's second" in result.stderr
    assert "with first:  # backward's first" in result.stderr
    assert "[]" == result.stdout.strip()


class TestSourceLine:
    def test_a_line_of_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "plain.py"
        path.write_text("x = 1\n    y = 'é'  \n", encoding="utf-8")
        assert "x = 1" == source_line(str(path), 1)
        assert "y = 'é'" == source_line(str(path), 2)
        assert "" == source_line(str(path), 3)
        assert "" == source_line(str(path), 0)

    def test_a_declared_encoding(self, tmp_path: Path) -> None:
        path = tmp_path / "latin.py"
        path.write_bytes("# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1"))
        assert "name = 'café'" == source_line(str(path), 2)

    def test_a_byte_order_mark(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.py"
        path.write_bytes("\ufeffname = 'ü'\n".encode())
        assert "name = 'ü'" == source_line(str(path), 1)

    def test_a_coding_comment_after_code_declares_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "late.py"
        path.write_bytes("x = 'é'\n# coding: latin-1\n".encode())
        assert "x = 'é'" == source_line(str(path), 1)

    def test_no_such_file(self, tmp_path: Path) -> None:
        assert "" == source_line(str(tmp_path / "gone.py"), 1)

    def test_only_pythons_line_ends_count(self, tmp_path: Path) -> None:
        """A form feed, \\x1c or \\u2028 ends no line, for Python as for a traceback."""
        import linecache

        path = tmp_path / "feeds.py"
        path.write_text("a = 1\n\x0c\nb = '\u2028'  # \x1c\r\nc = 3\rd = 4\n", encoding="utf-8")
        for line in range(1, 6):
            assert linecache.getline(str(path), line).strip() == source_line(str(path), line)
        assert "d = 4" == source_line(str(path), 5)
