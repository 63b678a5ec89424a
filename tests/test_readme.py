"""
The README's console examples, run and compared with what they show (as structlog's and
attrs' documentation is doctested).

Every ```console block in README.md is a list of ``$ command`` lines, each followed by the
output it prints. Each command is run from the repository's root, as a reader of the README
would run it (``python`` is this interpreter, ``syncscope`` its console script), with standard
output and standard error on one pipe, and its output is compared with the block line for line
once both are masked: what differs from run to run by nature (durations, percentages, counts of
waits, ids, absolute paths, version numbers, the padding of table columns) is replaced by a
placeholder. A line that is only ``...`` in the README stands for any number of lines left out.
A block whose output changes needs only the block updated: nothing here names a block.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO


README = REPO / "README.md"

#: What differs between two runs of one command, and what it is replaced with. Applied in
#: order, to the README's lines and to the output alike.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Absolute paths (in stack lines): only the file name is compared.
    (re.compile(r"(?<![\w.:/])/(?:[^\s/\"']+/)+"), "<dir>/"),
    # Version numbers.
    (re.compile(r"\b\d+\.\d+\.\d+(?:[.+-]?[\w.]+)?\b"), "<version>"),
    # Durations, as syncscope writes them: 41 µs, 98.0 ms, 1.20 s.
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ns|µs|us|ms|s)\b"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?%"), "<percent>"),
    # How many of a lock's acquisitions had to wait depends on the scheduler.
    (re.compile(r"\b\d+ of \d+ waits\b"), "<n> of <n> waits"),
    # Object ids and thread idents.
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<id>"),
    (re.compile(r"\b\d{9,}\b"), "<id>"),
    # Column padding, which follows the width of the masked figures; not the indentation.
    (re.compile(r"(?<=\S) {2,}"), " "),
)
ELLIPSIS = "..."


@dataclass(frozen=True)
class Example:
    """One ``$ command`` of a console block and the lines the README shows after it."""

    line: int
    command: str
    expected: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"README.md:{self.line}: {self.command}"


def console_examples(text: str) -> list[Example]:
    """The ``$ command`` lines of every ```console block, each with its shown output."""
    examples: list[Example] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        index += 1
        command: tuple[int, str] | None = None
        output: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ "):
                if command is not None:
                    examples.append(Example(command[0], command[1], tuple(output)))
                command, output = (index + 1, line[2:].strip()), []
            elif command is None:
                raise AssertionError(f"README.md:{index + 1}: output before any $ command")
            else:
                output.append(line)
            index += 1
        if command is not None:
            examples.append(Example(command[0], command[1], tuple(output)))
        index += 1
    return examples


def mask(line: str) -> str:
    """The line with what differs between runs replaced by placeholders."""
    for pattern, placeholder in MASKS:
        line = pattern.sub(placeholder, line)
    return line.rstrip()


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected``, with each ``...`` line standing for any lines."""
    # can[i][j]: expected[i:] matches actual[j:]
    can = [[False] * (len(actual) + 1) for _ in range(len(expected) + 1)]
    can[len(expected)][len(actual)] = True
    for i in range(len(expected) - 1, -1, -1):
        for j in range(len(actual), -1, -1):
            if expected[i].strip() == ELLIPSIS:
                can[i][j] = can[i + 1][j] or (j < len(actual) and can[i][j + 1])
            else:
                can[i][j] = j < len(actual) and expected[i] == actual[j] and can[i + 1][j + 1]
    return can[0][0]


def argv(command: str) -> list[str]:
    """The command as this test runs it: ``python`` is this interpreter."""
    words = shlex.split(command)
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "syncscope":
        # The console script installed next to this interpreter, as a user's venv has it.
        script = Path(sys.executable).with_name("syncscope")
        found = str(script) if script.exists() else shutil.which("syncscope")
        if found is None:
            pytest.skip("the syncscope console script is not installed next to this python")
        return [found, *words[1:]]
    raise AssertionError(f"the README runs {words[0]!r}: teach test_readme.argv about it")


def run(command: str) -> list[str]:
    """Run the command from the repository's root; its stdout and stderr, as one list."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "COLUMNS": "100"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        argv(command),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.splitlines()


EXAMPLES = console_examples(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_console_block_is_what_the_command_prints(example: Example) -> None:
    """The command prints what the README shows, once timings, ids and paths are masked."""
    expected = [mask(line) for line in example.expected]
    actual = [mask(line) for line in run(example.command)]
    diff = "\n".join(
        difflib.unified_diff(expected, actual, "README.md (masked)", "output (masked)", lineterm="")
    )
    assert matches(expected, actual), f"{example.id}\n{diff}"


class TestTheReadme:
    def test_console_blocks_are_found(self) -> None:
        """The parser finds the README's console examples, each with some output."""
        assert len(EXAMPLES) >= 5
        assert all(example.expected for example in EXAMPLES)

    def test_every_example_program_is_shipped(self) -> None:
        """Every examples/ program the README names is in examples/."""
        text = README.read_text(encoding="utf-8")
        named = set(re.findall(r"\bexamples/[\w/]+\.py\b", text))
        assert named
        assert [] == sorted(name for name in named if not (REPO / name).is_file())

    def test_console_commands_run_shipped_programs(self) -> None:
        """Each script a console block runs is a file of the repository."""
        for example in EXAMPLES:
            scripts = [word for word in shlex.split(example.command) if word.endswith(".py")]
            assert all((REPO / script).is_file() for script in scripts), example.id

    def test_listed_options_exist(self) -> None:
        """Every option the README's option lists name is one --help documents."""
        text = README.read_text(encoding="utf-8")
        listed = set()
        for block in re.findall(r"```text\n(.*?)```", text, flags=re.DOTALL):
            listed |= set(re.findall(r"(?<![\w-])--[a-z][\w-]*", block))
        assert listed
        help_text = "\n".join(run("python -m syncscope --help"))
        assert [] == sorted(option for option in listed if option not in help_text)


class TestMatching:
    def test_masks(self) -> None:
        """Durations, percentages, wait counts, ids, paths and padding are masked."""
        assert "lock acquired by Thread-2 after <time>" == mask(
            "lock acquired by Thread-2 after 41 µs"
        )
        assert "syncscope report: <time>, 4 primitives used" == mask(
            "syncscope report: 98.0 ms, 4 primitives used"
        )
        assert "  hot_lock lock examples/hot.py:22 160 <percent> <time>" == mask(
            "  hot_lock    lock  examples/hot.py:22       160      76.2%    258.0 ms"
        )
        assert "  at hot.py:30 in work: <n> of <n> waits, <time> in all" == mask(
            "  at hot.py:30 in work: 122 of 122 waits, 258.0 ms in all"
        )
        assert '      File "<dir>/deadlock.py", line 16, in audit' == mask(
            '      File "/tmp/demo/examples/deadlock.py", line 16, in audit'
        )
        assert "syncscope <version>" == mask("syncscope 0.1.0")
        assert "examples/lock.py:12" == mask("examples/lock.py:12")

    def test_ellipsis_stands_for_any_lines(self) -> None:
        """A ``...`` line matches no line, one line or many; other lines match exactly."""
        assert matches(["a", "...", "d"], ["a", "d"])
        assert matches(["a", "  ...", "d"], ["a", "b", "c", "d"])
        assert matches(["a", "..."], ["a", "b"])
        assert not matches(["a", "...", "d"], ["a", "b", "c"])
        assert not matches(["a", "b"], ["a", "b", "c"])
        assert not matches(["a", "b"], ["a"])

    def test_blocks_are_parsed(self) -> None:
        """Each ``$`` line starts a command; the lines up to the next one are its output."""
        text = "x\n```console\n$ python a.py\none\n  two\n$ syncscope --version\nv\n```\n"
        assert [
            Example(3, "python a.py", ("one", "  two")),
            Example(6, "syncscope --version", ("v",)),
        ] == console_examples(text)
