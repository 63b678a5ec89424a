"""
Post-import hooks and function wrappers (``_core.hooks``), and what start-up leaves unimported.

The hooks replace wrapt's at start-up: a program that never imports ``concurrent.futures``
never pays for them, and the modules they wait for import exactly as before.
"""

from __future__ import annotations

import sys
import threading
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

import pytest

from syncscope._core import hooks
from syncscope._core.hooks import unwrap_function, when_imported, wrap_function

from .conftest import run_python, run_syncscope
from .support.otlp_runs import imported_modules


@pytest.fixture
def module_dir(tmp_path: Path) -> Any:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))


def write_module(directory: Path, name: str, body: str = "") -> None:
    (directory / f"{name}.py").write_text(f"import sys\nstarted = True\n{body}\nlast = True\n")


class TestWhenImported:
    def test_runs_once_after_the_import_completes(self, module_dir: Path) -> None:
        """The callback sees the whole module; the module keeps its own loader."""
        write_module(module_dir, "hooked_later")
        seen: list[Any] = []
        when_imported("hooked_later", seen.append)
        assert [] == seen
        import hooked_later  # type: ignore[import-not-found]

        assert [hooked_later] == seen
        assert hooked_later.last
        assert "_HookLoader" not in type(hooked_later.__loader__).__name__
        assert hooked_later.__spec__.loader is hooked_later.__loader__
        # Out of every later import's way: the finder finds nothing for it any more.
        assert "hooked_later" not in hooks._waiting
        assert hooks._finder.find_spec("hooked_later", None) is None
        del sys.modules["hooked_later"]
        import hooked_later  # again: the hook does not run twice

        assert 1 == len(seen)
        del sys.modules["hooked_later"]

    def test_an_import_going_through_the_finders_meanwhile_finds_its_module(
        self, module_dir: Path
    ) -> None:
        """
        A hooked module's import completes while another import goes through
        ``sys.meta_path`` (on another thread, or nested as here, from a finder of the
        program's): the other import still reaches the path finder and finds its module.
        Taking the hook's finder out of the list moved the finders after it, and the other
        import skipped one ("cannot import name" for a module of syncscope's own, once, in a
        suite run with spans on).
        """
        write_module(module_dir, "hooked_meanwhile")
        write_module(module_dir, "found_meanwhile")
        seen: list[Any] = []
        when_imported("hooked_meanwhile", seen.append)

        class Nested:
            """Imports the hooked module while asked for the other: finds nothing itself."""

            def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
                if fullname == "found_meanwhile":
                    import hooked_meanwhile  # type: ignore[import-not-found]  # noqa: F401

        nested = Nested()
        sys.meta_path.insert(sys.meta_path.index(PathFinder), nested)  # just before it
        try:
            import found_meanwhile  # type: ignore[import-not-found]
        finally:
            sys.meta_path.remove(nested)
            sys.modules.pop("hooked_meanwhile", None)
            sys.modules.pop("found_meanwhile", None)
        assert found_meanwhile.last
        assert 1 == len(seen)

    def test_runs_at_once_when_already_imported(self) -> None:
        seen: list[Any] = []
        when_imported("threading", seen.append)
        assert [threading] == seen

    def test_a_failing_callback_does_not_fail_the_import(self, module_dir: Path) -> None:
        write_module(module_dir, "hooked_failing")

        def fail(module: Any) -> None:
            raise RuntimeError("hook failed")

        seen: list[Any] = []
        when_imported("hooked_failing", fail)
        when_imported("hooked_failing", seen.append)
        import hooked_failing  # type: ignore[import-not-found]

        assert [hooked_failing] == seen
        del sys.modules["hooked_failing"]

    def test_an_import_error_passes_through(self, module_dir: Path) -> None:
        """A module that fails to import fails as it would, and the callback does not run."""
        write_module(module_dir, "hooked_broken", "raise ValueError('broken module')")
        seen: list[Any] = []
        when_imported("hooked_broken", seen.append)
        with pytest.raises(ValueError, match="broken module"):
            import hooked_broken  # type: ignore[import-not-found]  # noqa: F401
        assert [] == seen
        assert "hooked_broken" not in sys.modules


class Base:
    def work(self, x: int, *, y: int = 0) -> tuple[Any, ...]:
        """Docstring of work."""
        return (self, x, y)


class TestWrapFunction:
    def test_a_method_binds_and_sees_its_instance(self) -> None:
        calls: list[tuple[Any, Any, Any]] = []

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            calls.append((instance, args, kwargs))
            return wrapped(*args, **kwargs)

        original = Base.__dict__["work"]
        stand_in = wrap_function(Base, "work", wrapper)
        try:
            obj = Base()
            assert (obj, 1, 2) == obj.work(1, y=2)
            assert (obj, 3, 0) == Base.work(obj, 3)
            assert [(obj, (1,), {"y": 2}), (obj, (3,), {})] == calls
            assert (stand_in.__name__, stand_in.__qualname__, stand_in.__doc__) == (
                "work",
                "Base.work",
                "Docstring of work.",
            )
            assert stand_in.__wrapped__ is original  # type: ignore[attr-defined]
        finally:
            assert unwrap_function(Base, "work", stand_in)
        assert Base.__dict__["work"] is original

    def test_taken_off_newest_first(self) -> None:
        """Two layers come off in the reverse order; the older one cannot go first."""
        order: list[str] = []

        def layer(name: str) -> Any:
            def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                order.append(name)
                return wrapped(*args, **kwargs)

            return wrapper

        original = Base.__dict__["work"]
        inner = wrap_function(Base, "work", layer("inner"))
        outer = wrap_function(Base, "work", layer("outer"))
        obj = Base()
        assert (obj, 1, 0) == obj.work(1)
        assert ["outer", "inner"] == order
        assert not unwrap_function(Base, "work", inner)  # someone is on top: left in place
        assert Base.__dict__["work"] is outer
        assert unwrap_function(Base, "work", outer)
        assert unwrap_function(Base, "work", inner)
        assert Base.__dict__["work"] is original

    def test_a_module_function(self) -> None:
        import json

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            assert instance is None
            return "wrapped " + wrapped(*args, **kwargs)

        original = json.dumps
        stand_in = wrap_function(json, "dumps", wrapper)
        try:
            assert 'wrapped {"a": 1}' == json.dumps({"a": 1})
        finally:
            assert unwrap_function(json, "dumps", stand_in)
        assert json.dumps is original


#: Printed by the program as its first line: which of these modules syncscope loaded for it.
PROBE = (
    "import sys; print(sorted(m for m in ('wrapt', 'asyncio', 'opentelemetry', 'structlog',"
    " 'concurrent.futures', 'grpc', 'google.protobuf', 'argparse') if m in sys.modules))"
)


#: What -q needs only at exit, when something is found, or to parse a command line that is
#: more than plain switches: none of it is loaded before the program's first line.
QUIET_PROBE = (
    "import sys; print(sorted(m for m in ('wrapt', 'asyncio', 'opentelemetry', 'structlog',"
    " 'concurrent.futures', 'grpc', 'google.protobuf', 'dataclasses', 'inspect', 'argparse',"
    " 'gettext', 'locale', 'json', 'datetime', 'syncscope._sinks.findings',"
    " 'syncscope._sinks.figures', 'syncscope._sinks.report', 'syncscope._sinks.lines')"
    " if m in sys.modules))"
)


#: Modules a program that imports only threading and queue does not load, and syncscope must
#: not load for it either, neither before its first line nor at exit: together they are most
#: of what start-up used to cost (typing alone about 10 ms; dataclasses brings inspect, ast,
#: dis, enum and re; linecache brings tokenize and re).
LIGHT_MODULES = (
    "typing",
    "re",
    "enum",
    "ast",
    "dataclasses",
    "inspect",
    "linecache",
    "tokenize",
    "sysconfig",
    "json",
    "zipfile",
    "urllib.parse",
    "ipaddress",
)

#: A program that makes, names and uses a primitive of every kind, from a thread.
EVERY_KIND = (
    "import queue, threading\n"
    "lock, rlock, cond = threading.Lock(), threading.RLock(), threading.Condition()\n"
    "sem, event, q = threading.Semaphore(2), threading.Event(), queue.Queue()\n"
    "barrier = threading.Barrier(1)\n"
    "def work():\n"
    "    with lock, rlock, sem:\n"
    "        q.put(1)\n"
    "    with cond:\n"
    "        cond.notify_all()\n"
    "    barrier.wait(timeout=10)\n"
    "    event.set()\n"
    "worker = threading.Thread(target=work)\n"
    "worker.start()\n"
    "assert event.wait(timeout=10) and q.get(timeout=10) == 1\n"
    "worker.join(timeout=10)\n"
)


class TestStartup:
    @pytest.mark.parametrize(
        ("mode", "needed"),
        [
            (["-q"], ()),
            ([], ()),
            (["--format", "json"], ()),
            # Spans to a collector: a socket, whose module needs enum.
            (["-q", "--otlp=http://127.0.0.1:9", "--protocol", "http/protobuf"], ("enum",)),
        ],
    )
    @pytest.mark.parametrize("as_script", [False, True], ids=["-c", "script"])
    def test_a_run_loads_none_of_the_heavy_standard_modules(
        self, mode: list[str], needed: tuple[str, ...], as_script: bool, tmp_path: Path
    ) -> None:
        """
        From start-up to the report at exit, a run of a program that uses every kind of
        primitive loads none of typing, re, dataclasses, ast... unless the program does; run
        as a script, its primitives' names are read from its file, and it is told from a zip.
        """
        program = ["-c", EVERY_KIND]
        if as_script:
            script = tmp_path / "every.py"
            script.write_text(EVERY_KIND, encoding="utf-8")
            program = [str(script)]
        plain = run_python("-X", "importtime", *program)
        assert 0 == plain.returncode, plain.stderr
        watched = run_python("-X", "importtime", "-m", "syncscope", *mode, *program)
        assert 0 == watched.returncode, watched.stderr
        assert "rlock" in watched.stderr + watched.stdout  # watched, named, and reported
        added = imported_modules(watched.stderr) - imported_modules(plain.stderr)
        assert [] == sorted(added.intersection(LIGHT_MODULES).difference(needed))

    def test_quiet_mode_loads_nothing_heavy_before_the_program(self) -> None:
        """
        -q: no wrapt, asyncio, OpenTelemetry, structlog or concurrent.futures; and none of
        dataclasses (inspect), argparse, the findings, the report or the line sink.
        """
        result = run_syncscope("-q", "--all", "--no-report", "--report", "-c", QUIET_PROBE)
        assert 0 == result.returncode, result.stderr
        assert "[]" == result.stdout.strip()
        assert "syncscope report:" in result.stderr  # the report is still written, at exit

    def test_the_report_and_findings_still_load_when_needed(self) -> None:
        """What start-up leaves out is there when the program nests locks, and at exit."""
        program = (
            "import sys, threading\n"
            "a, b = threading.Lock(), threading.Lock()\n"
            "with a:\n"
            "    with b:\n"
            "        pass\n"
            "with b:\n"
            "    with a:\n"
            "        pass\n"
            "print('findings' in str(sorted(sys.modules)))\n"
        )
        result = run_syncscope("-q", "-c", program)
        assert 0 == result.returncode, result.stderr
        assert "True" == result.stdout.strip()
        assert "lock-order inversion" in result.stderr

    def test_console_lines_do_not_load_structlog(self) -> None:
        """The console format is rendered by syncscope itself: structlog is not needed."""
        result = run_syncscope("-c", PROBE)
        assert 0 == result.returncode, result.stderr
        assert "[]" == result.stdout.strip()

    def test_otlp_exporters_load_after_the_program_starts(self, tmp_path: Path) -> None:
        """
        --otlp over HTTP: the SDK and the exporter are the span worker's, not start-up's; the
        options are read without argparse.

        The worker may import them as soon as the program starts, on its own thread: on a
        loaded machine the interpreter can hand it the GIL (after its switch interval) before
        the program's first line. A switch interval longer than the test keeps that from
        deciding the outcome: what is seen is what start-up itself imported.
        """
        (tmp_path / "sitecustomize.py").write_text("import sys\nsys.setswitchinterval(1000)\n")
        result = run_syncscope(
            "-q",
            "--otlp=http://127.0.0.1:9",
            "--protocol",
            "http/protobuf",
            "-c",
            PROBE,
            env={"PYTHONPATH": str(tmp_path)},
        )
        assert 0 == result.returncode, result.stderr
        assert "[]" == result.stdout.strip()
