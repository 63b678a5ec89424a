"""
The runner: ``python -m syncscope [options] script.py [args]`` runs the program as ``python``
would, with syncscope installed first.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import runpy
import sys
import types
from collections.abc import Callable, Sequence

from ._core.records import fields
from ._core.tracebacks import hide_frames_in_chain
from ._settings import (
    GROUPS,
    Settings,
    add_arguments,
    flags_taking_a_value,
    settings_of,
    switches,
    value_options,
)


TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any, NoReturn


_DESCRIPTION = """\
Run a Python program with threading's and queue's synchronization primitives (Lock, RLock,
Condition, Semaphore, BoundedSemaphore, Event, Barrier, Queue, LifoQueue, PriorityQueue,
SimpleQueue) replaced by instrumented ones: every operation on them is reported, one line each
("lock acquired by Thread-2"). The program runs exactly as with plain `python`: same sys.argv,
__name__ == "__main__", sys.path[0], standard input, output, exit status and tracebacks.

By default only primitives created by the program's own code are reported, not those the
standard library or installed packages create for themselves (use --all for those).
"""

_EPILOG = """\
examples:
  python -m syncscope examples/lock.py
  python -m syncscope --format json -o sync.log -m mypackage.worker --jobs 4
  python -m syncscope --kinds lock,queue -c "import threading; threading.Lock().acquire()"
"""


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (start-up time)."""
    with contextlib.suppress(ValueError):
        columns = int(os.environ.get("COLUMNS", "0"))
        if columns > 0:
            return columns
    with contextlib.suppress(AttributeError, ValueError, OSError):
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        if columns > 0:
            return columns
    return 80


#: Where the runner's defaults are not the API's: it looks for deadlocks unless told not to,
#: and writes the report when there are no lines (``--report`` not given: None).
RUNNER_DEFAULTS = {"detect_deadlocks": True, "report": None}


def _error(message: str) -> NoReturn:
    """A usage error, as the parser reports one: one line on standard error, status 2."""
    # One line, not argparse's usage block: the user's terminal belongs to their program.
    with contextlib.suppress(AttributeError, OSError):  # as argparse writes it
        sys.stderr.write(f"syncscope: error: {message} (see python -m syncscope --help)\n")
    sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    """The runner's argparse parser (built only when the command line needs parsing)."""
    import argparse

    class _HelpFormatter(argparse.HelpFormatter):
        """
        Every text wrapped to the terminal's width, paragraphs kept, indented lines (examples)
        left as they are; options and their help in two columns.
        """

        def __init__(self, prog: str) -> None:
            width = min(_terminal_columns(), 100) - 2
            super().__init__(prog, max_help_position=32, width=width)

        def _fill_text(self, text: str, width: int, indent: str) -> str:
            import textwrap

            out = []
            for paragraph in text.split("\n\n"):
                if paragraph.startswith(" ") or "\n " in paragraph:
                    out.append(paragraph.rstrip("\n"))
                else:
                    out.append(
                        textwrap.fill(
                            " ".join(paragraph.split()),
                            width,
                            initial_indent=indent,
                            subsequent_indent=indent,
                        )
                    )
            return "\n\n".join(out) + "\n"

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            _error(message)

    parser = _Parser(
        prog="python -m syncscope",
        usage="%(prog)s [options] (script.py | -m module | -c code) [args ...]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
    )
    groups = {
        name: parser.add_argument_group(name, text)
        for name, text in GROUPS.items()
        if text is not None
    }
    add_arguments(parser, groups, RUNNER_DEFAULTS)
    spans = groups["spans"]
    spans.add_argument(
        "--otlp",
        **_OTLP,
        metavar="ENDPOINT",
        help="export spans over OTLP, to ENDPOINT (give it as --otlp=ENDPOINT, default "
        "from OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4317)",
    )
    spans.add_argument(
        "--console-spans", action="store_true", help="write one line per span to standard error"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def _run_name(program: list[str]) -> str:
    """What the program is called: the script's file name, the module, or ``-c``."""
    first = program[0]
    if first == "-m":
        return program[1]
    if first == "-c":
        return "-c"
    return os.path.basename(os.path.normpath(first))


def _endpoint_argument(value: str) -> str:
    if value and not _looks_like_endpoint(value):
        import argparse  # its error: argparse reads what the runner cannot

        raise argparse.ArgumentTypeError(
            f"expected an endpoint such as http://localhost:4317, got {value!r}"
        )
    return value


#: Compiled at its first use (re's cache), not at start-up.
_ENDPOINT = r"^(https?://)?[\w.\-]+(:\d+)?(/\S*)?$"


def _looks_like_endpoint(value: str) -> bool:
    if "://" in value:
        return True
    if ":" not in value or value.endswith(".py"):
        return False
    import re  # here: re costs start-up, and most command lines never get this far

    return bool(re.match(_ENDPOINT, value))


def _settings(options: argparse.Namespace, own: list[str], program: list[str]) -> Settings:
    """The settings the command line (``own``, then ``program``) asks for."""
    values = dict(vars(options))
    if not options.detect_deadlocks:
        for flag in ("--deadlock-exit", "--hang-timeout", "--deadlock-grace"):
            if any(arg == flag or arg.startswith(flag + "=") for arg in own):
                _error(f"{flag} cannot be used with --no-deadlock-detection")
    if options.report is None:
        values["report"] = not options.lines
    values.update(_span_arguments(options))
    values["buffer_output"] = True  # the whole process is ours to flush at its end
    if values.get("spans") or options.timeline or options.html:
        values["run_name"] = _run_name(program)
    return settings_of(values)


# Options that take a value, so the value is not mistaken for the program.
_VALUE_OPTIONS = flags_taking_a_value()


def _takes_optional_value(option: str, following: str) -> bool:
    """Whether an option whose value is optional takes ``following`` as its value."""
    if option == "--otlp":
        return _looks_like_endpoint(following)
    return option == "--deadlock-exit" and following.isdigit()


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split into syncscope's options and the program (``script args``, ``-m mod args``...)."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return list(argv[:index]), list(argv[index + 1 :])
        if arg in ("-m", "-c") or not arg.startswith("-") or arg == "-":
            return list(argv[:index]), list(argv[index:])
        if arg in _VALUE_OPTIONS:
            index += 1
        elif index + 1 < len(argv) and _takes_optional_value(arg, argv[index + 1]):
            index += 1  # its optional value
        index += 1
    return list(argv), []


#: The runner's own flags that take no value, and what each sets (the settings' are added).
_RUNNER_SWITCHES = {"--console-spans": ("console_spans", True), "--version": ("version", True)}
#: How the runner reads ``--otlp``.
_OTLP: dict[str, Any] = {"nargs": "?", "const": "", "type": _endpoint_argument}
#: What the runner's own options are when not given.
_RUNNER_OPTIONS = {"otlp": None, "console_spans": False, "version": False}


def _parse(own: list[str]) -> argparse.Namespace:
    """
    The options, as the parser gives them.

    Building the parser costs more than a program's start-up should, so the usual command
    lines are read without it: switches (``-q``, ``--all``, ``--no-report``), and options
    with a value given as ``--name=value`` or ``--name value`` (``-o FILE``), each spelt out
    in full, each value valid. Anything else (an abbreviation, ``--help``, a bad value: all
    that argparse has words for) goes to argparse.
    """
    parsed = _read_plainly(own)
    if parsed is None:
        return _parser().parse_args(own)
    return types.SimpleNamespace(**parsed)  # type: ignore[return-value]  # read as a Namespace


def _read_plainly(own: list[str]) -> dict[str, Any] | None:
    """``own`` as argparse would read it, or None where argparse must do the reading."""
    known = switches()
    valued = {**value_options(), "--otlp": ("otlp", _OTLP)}
    values = {
        item.name: RUNNER_DEFAULTS.get(item.name, item.default)
        for item in fields(Settings)
        if item.metadata["flags"]
    }
    values.update(_RUNNER_OPTIONS)
    index = 0
    while index < len(own):
        arg = own[index]
        index += 1
        switch = known.get(arg) or _RUNNER_SWITCHES.get(arg)
        if switch is not None:
            values[switch[0]] = switch[1]
            continue
        name, equals, value = arg.partition("=")
        option = valued.get(name)
        if option is None or (equals and not name.startswith("--")):
            return None
        dest, spec = option
        following = own[index] if index < len(own) else None
        if not equals:
            if following is not None and not following.startswith("-"):
                value = following
                index += 1
            elif "const" in spec:  # an optional value, not given
                values[dest] = spec["const"]
                continue
            else:
                return None
        convert = spec.get("type")
        if convert is not None:
            try:
                value = convert(value)
            except Exception:
                return None
        if "choices" in spec and value not in spec["choices"]:
            return None
        values[dest] = value
    return values


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m syncscope`` and of the ``syncscope`` command."""
    args = sys.argv[1:] if argv is None else list(argv)
    own, program = _split(args)
    options = _parse(own)
    if options.version:
        from . import __version__

        print(f"syncscope {__version__}")
        return
    if not program:
        _error("no program given: name a script, -m module or -c code")
    run = _runner(program)

    from . import _api

    # atexit runs last-registered first: this one must be the very last thing to run.
    atexit.register(_exit_like_python)
    # Before the program (or its test runner) can put another file on fd 2.
    from ._core.output import keep_starting_stderr

    keep_starting_stderr()
    try:
        _api.install_settings(_settings(options, own, program))
    except OSError as exc:
        _error(f"cannot write to {exc.filename or options.output!r}: {exc.strerror}")
    except ValueError as exc:
        _error(str(exc))
    _keep_order_with_program_output()
    # After the program's own atexit handlers (registered later, so run earlier): flush and
    # close every output.
    # The runner's own outputs only: a recording the program keeps is the program's.
    atexit.register(_api.uninstall_at_exit, _api.installed_sinks())
    _api.program_starts()
    _run_as_main(run)


def _span_arguments(options: argparse.Namespace) -> dict[str, Any]:
    """The span settings; spans are on when an option or OTEL_TRACES_EXPORTER asks."""
    chosen = []
    if options.otlp is not None:
        chosen.append("otlp")
    if options.console_spans:
        chosen.append("console")
    from_env: set[str] = set()
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip():  # else no need to load the module
        from ._sinks.spans.options import exporters_from_env

        try:  # a typo (`otpl`) is an error whether or not it is the only name given
            from_env = set(exporters_from_env(()))
        except ValueError as exc:
            _error(f"OTEL_TRACES_EXPORTER: {exc}")
    if not chosen and options.jaeger_file is None and not from_env & {"otlp", "console"}:
        return {}
    return {
        "spans": True,
        "exporter": ",".join(chosen) if chosen else None,
        "endpoint": options.otlp or None,
    }


def _runner(program: list[str]) -> Callable[[], None]:
    """Check the target now (a bad one is a usage error) and return how to run it."""
    first, rest = program[0], program[1:]
    if first == "-m":
        if not rest:
            _error("argument -m: expected a module name")
        module, args = rest[0], rest[1:]

        def run_module() -> None:
            sys.argv = [module, *args]  # runpy puts the module's file in sys.argv[0]
            sys.path[0] = os.getcwd()
            _count_as_users(module)
            runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]

        return run_module
    if first == "-c":
        if not rest:
            _error("argument -c: expected the code to run")
        code, args = rest[0], rest[1:]

        def run_code() -> None:
            sys.argv = ["-c", *args]
            sys.path[0] = ""
            compiled = compile(code, "<string>", "exec")
            from ._core.sites import add_source

            add_source(compiled, code)  # no file to read the primitives' names from
            _exec_in_main(compiled, "<string>")

        return run_code
    path = first
    if not os.path.exists(path):
        _error(f"can't open file {path!r}: no such file or directory")
    if os.path.isdir(path) or not _is_source(path):
        _check_main_module(path)

        def run_path() -> None:  # a directory or zip with __main__.py
            sys.argv = [path, *rest]
            sys.path[0] = path
            runpy.run_path(path, run_name="__main__")

        return run_path
    try:
        with open(path, "rb") as file:
            source = file.read()
        compiled: types.CodeType | None = compile(
            source, os.path.abspath(path), "exec", dont_inherit=True
        )
    except OSError as exc:
        _error(f"can't open file {path!r}: {exc.strerror}")
    except SyntaxError:
        compiled = None  # raised again when run, so it prints as python prints it

    def run_script() -> None:
        sys.argv = [path, *rest]
        sys.path[0] = os.path.dirname(os.path.realpath(path))
        code = compiled
        if code is None:
            code = compile(source, os.path.abspath(path), "exec", dont_inherit=True)
        _exec_in_main(code, os.path.abspath(path))

    return run_script


def _check_main_module(path: str) -> None:
    """A directory or zip without ``__main__``: python's one line and status, not runpy's."""
    import pkgutil

    importer = pkgutil.get_importer(path)
    try:
        found = importer is not None and importer.find_spec("__main__") is not None
    except Exception:
        found = False
    if not found:
        # python names the path joined to the working directory, not normalised.
        where = os.path.join(os.getcwd(), path)
        sys.stderr.write(f"{sys.executable}: can't find '__main__' module in {where!r}\n")
        sys.exit(1)


def _count_as_users(module: str) -> None:
    """The package run with -m is the user's code even when it is installed in site-packages."""
    import importlib.util

    from ._core.sites import add_user_path

    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        return  # runpy reports it as python would
    if spec is None:
        return
    for location in spec.submodule_search_locations or ():
        add_user_path(location)
    if spec.origin and not spec.submodule_search_locations:
        add_user_path(spec.origin)


def _is_source(path: str) -> bool:
    """Not a zip: python's own test (its zip import hook, loaded already; zipfile costs 20 ms)."""
    import zipimport

    try:
        zipimport.zipimporter(path)
    except zipimport.ZipImportError:
        return True
    return False


def _exec_in_main(code: types.CodeType, filename: str) -> None:
    main_module = types.ModuleType("__main__")
    main_module.__dict__.update(
        {"__file__": filename, "__builtins__": __builtins__, "__cached__": None}
    )
    if filename == "<string>":
        del main_module.__file__
    sys.modules["__main__"] = main_module
    exec(code, main_module.__dict__)


_interrupted = False


def _run_as_main(run: Callable[[], None]) -> None:
    global _interrupted
    try:
        run()
    except SystemExit:
        raise
    except BaseException as exc:
        # Print the traceback as python would, without syncscope's own frames in it (the
        # default hook prints the exception's own __traceback__, so that is what to trim).
        hide_frames_in_chain(exc)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        if isinstance(exc, KeyboardInterrupt):
            _interrupted = True  # python dies by SIGINT after finalising: so do we
        sys.exit(1)


def _exit_like_python() -> None:
    if _interrupted:
        import signal

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _keep_order_with_program_output() -> None:
    """
    Make the program's stdout line-buffered when it shares a file or pipe with our lines.

    Otherwise a block-buffered stdout would come out after lines about things that happened
    later. Partial lines stay buffered, so a line is never split by ours.
    """
    from ._core.state import state

    ours = next((sink.fd for sink in state.sinks if hasattr(sink, "fd")), None)
    if ours is None:
        return
    try:
        shared = os.path.samestat(os.fstat(1), os.fstat(ours))
    except OSError:
        return
    stdout = sys.stdout
    if shared and stdout is not None and not getattr(stdout, "line_buffering", True):
        with contextlib.suppress(Exception):  # a replaced stdout keeps its own buffering
            stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
