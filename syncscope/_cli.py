"""
The runner: ``python -m syncscope [options] script.py [args]`` runs the program as ``python``
would, with syncscope installed first.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import runpy
import signal
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._core.state import ALL_KINDS
from ._sinks.lines import FORMATS


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the user's terminal belongs to their program.
        self.exit(2, f"syncscope: error: {message} (see python -m syncscope --help)\n")


def _kinds(value: str) -> frozenset[str]:
    chosen = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(chosen - ALL_KINDS)
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kind {unknown[0] if unknown else value!r}: "
            f"choose from {','.join(sorted(ALL_KINDS))}"
        )
    return chosen


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m syncscope",
        usage="%(prog)s [options] (script.py | -m module | -c code) [args ...]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="console",
        help="how to write each operation: console (the article's words, the default), "
        "json (one object a line) or logfmt",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the lines to FILE instead of standard error",
    )
    parser.add_argument(
        "--kinds",
        type=_kinds,
        metavar="KINDS",
        help="watch only these kinds, comma-separated: " + ",".join(sorted(ALL_KINDS)),
    )
    parser.add_argument(
        "--all",
        dest="include_library",
        action="store_true",
        help="also watch primitives created by the standard library and installed packages",
    )
    parser.add_argument(
        "-q",
        "--no-lines",
        dest="lines",
        action="store_false",
        help="write no per-operation lines",
    )
    parser.add_argument(
        "--hide-items",
        action="store_true",
        help="keep queue items (which may be private data) out of the output",
    )
    _add_span_arguments(parser)
    _add_diagnosis_arguments(parser)
    _add_timeline_arguments(parser)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def _add_timeline_arguments(parser: _Parser) -> None:
    group = parser.add_argument_group(
        "timeline", "See it: files written at exit, to open in a browser or in Perfetto."
    )
    group.add_argument(
        "--timeline",
        metavar="FILE",
        help="write a per-thread timeline of holds, waits and what let each wait go on "
        "(arrows) in the Chrome/Perfetto trace-event format (gzipped if FILE ends in .gz); "
        "open it at https://ui.perfetto.dev or with vizviewer",
    )
    group.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML report: the report's tables, the findings and a "
        "timeline of the busiest stretch of the run",
    )


def _timeline_arguments(
    options: argparse.Namespace, program: list[str], others: dict[str, Any]
) -> dict[str, Any]:
    chosen = {"timeline": options.timeline, "html": options.html}
    if (options.timeline or options.html) and "run_name" not in others:
        chosen["run_name"] = _run_name(program)
    return chosen


def _run_name(program: list[str]) -> str:
    """What the program is called: the script's file name, the module, or ``-c``."""
    first = program[0]
    if first == "-m":
        return program[1]
    if first == "-c":
        return "-c"
    return os.path.basename(os.path.normpath(first))


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {value!r}")
    return number


def _milliseconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {value!r}")
    return number


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return int(value)


def _endpoint(value: str) -> str:
    if value and not _looks_like_endpoint(value):
        raise argparse.ArgumentTypeError(
            f"expected an endpoint such as http://localhost:4317, got {value!r}"
        )
    return value


_ENDPOINT = re.compile(r"^(https?://)?[\w.\-]+(:\d+)?(/\S*)?$")


def _looks_like_endpoint(value: str) -> bool:
    return "://" in value or (
        ":" in value and not value.endswith(".py") and bool(_ENDPOINT.match(value))
    )


def _add_span_arguments(parser: _Parser) -> None:
    group = parser.add_argument_group(
        "spans",
        "Also make an OpenTelemetry span of every operation, built and exported off the "
        "program's threads. Any of --otlp, --console-spans, --jaeger-file (or "
        "OTEL_TRACES_EXPORTER=otlp) switches spans on; the OTEL_EXPORTER_OTLP_* variables, "
        "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured, the options win.",
    )
    group.add_argument(
        "--otlp",
        nargs="?",
        const="",
        type=_endpoint,
        metavar="ENDPOINT",
        help="export spans over OTLP, to ENDPOINT (give it as --otlp=ENDPOINT, default "
        "from OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4317)",
    )
    group.add_argument(
        "--protocol",
        choices=("grpc", "http/protobuf"),
        help="the OTLP protocol (default from OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf "
        "for port 4318 and grpc otherwise)",
    )
    group.add_argument(
        "--jaeger-file",
        metavar="FILE",
        help="write the spans to FILE as Jaeger's trace JSON (the Jaeger UI opens it)",
    )
    group.add_argument(
        "--console-spans", action="store_true", help="write one line per span to standard error"
    )
    group.add_argument("--service-name", metavar="NAME", help="the service.name of the spans")
    group.add_argument(
        "--span-items",
        action="store_true",
        help="put queue items (which may be private data) into the spans",
    )
    group.add_argument(
        "--flush-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="at exit, wait at most this long for the last spans to go out (default 5)",
    )
    group.add_argument(
        "--min-span-ms",
        type=_milliseconds,
        default=0.0,
        metavar="MS",
        help="send only waits and holds at least this long, and what they link to "
        "(default 0: every span)",
    )
    group.add_argument(
        "--spans-per-trace",
        type=_count,
        default=10_000,
        metavar="N",
        help="start a new trace after N spans, so that Jaeger's UI stays usable (default 10000)",
    )
    group.add_argument(
        "--span-buffer",
        type=_count,
        default=16_384,
        metavar="N",
        help="spans that may wait for export; more are dropped and counted (default 16384)",
    )


def _exit_status(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 255:
        raise argparse.ArgumentTypeError(f"expected an exit status from 1 to 255, got {value!r}")
    return int(value)


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"expected milliseconds > 0, got {value!r}")
    return number


def _add_diagnosis_arguments(parser: _Parser) -> None:
    from ._sinks.recorder import DEADLOCK_EXIT_STATUS

    group = parser.add_argument_group(
        "diagnosis",
        "Find what is wrong: statistics per primitive and per call site, deadlocks (threads "
        "blocked in a cycle, reported within a second with each thread's holds, wait and "
        "stack), hangs (no progress while every thread is blocked), lock-order inversions "
        "(locks taken in orders that can deadlock, reported even when the run did not) and "
        "slow spots. Deadlock, hang and inversion detection is on by default; the report is "
        "on by default with -q. Findings and the report go to standard error.",
    )
    group.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="at exit, write a report: the primitives that cost the most waiting (a table), "
        "then every finding (default: on with -q, off otherwise)",
    )
    group.add_argument(
        "--report-json",
        metavar="FILE",
        help="write the report as JSON to FILE, at exit and at once when a deadlock or a hang "
        "is found",
    )
    group.add_argument(
        "--deadlock-exit",
        nargs="?",
        const=DEADLOCK_EXIT_STATUS,
        type=_exit_status,
        metavar="STATUS",
        help="after reporting a deadlock or a hang, end the program with exit status STATUS "
        f"(default {DEADLOCK_EXIT_STATUS}; give it as --deadlock-exit=STATUS)",
    )
    group.add_argument(
        "--hang-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="report a hang after SECONDS without any operation while every thread is "
        "blocked (default 10; 0 never)",
    )
    group.add_argument(
        "--deadlock-grace",
        type=_seconds,
        metavar="SECONDS",
        help="report a cycle through a plain Lock or a semaphore while other threads run, a "
        "thread waiting for a Lock it holds, or one waiting for a signal while holding the "
        "lock the signallers wait for, once it has lasted SECONDS (default 1)",
    )
    group.add_argument(
        "--long-hold-ms",
        type=_threshold,
        metavar="MS",
        help="report each hold of a lock, rlock, semaphore or Condition lock of MS or more",
    )
    group.add_argument(
        "--long-wait-ms",
        type=_threshold,
        metavar="MS",
        help="report each wait of MS or more for a lock, rlock, semaphore, Condition lock or "
        "for room in a full queue",
    )
    group.add_argument(
        "--no-deadlock-detection",
        dest="detect_deadlocks",
        action="store_false",
        help="do not look for deadlocks, hangs and lock-order inversions",
    )


def _diagnosis_arguments(parser: _Parser, options: argparse.Namespace) -> dict[str, Any]:
    """install()'s diagnosis arguments, with the runner's defaults."""
    if not options.detect_deadlocks:
        for given, name in (
            (options.deadlock_exit, "--deadlock-exit"),
            (options.hang_timeout, "--hang-timeout"),
            (options.deadlock_grace, "--deadlock-grace"),
        ):
            if given is not None:
                parser.error(f"{name} cannot be used with --no-deadlock-detection")
    report = options.report if options.report is not None else not options.lines
    return {
        "report": report,
        "report_json": options.report_json,
        "detect_deadlocks": options.detect_deadlocks,
        "deadlock_exit": options.deadlock_exit,
        "hang_timeout": 10.0 if options.hang_timeout is None else options.hang_timeout,
        "deadlock_grace": 1.0 if options.deadlock_grace is None else options.deadlock_grace,
        "long_hold_ms": options.long_hold_ms,
        "long_wait_ms": options.long_wait_ms,
    }


# Options that take a value, so the value is not mistaken for the program.
_VALUE_OPTIONS = frozenset(
    {
        "--report-json",
        "--hang-timeout",
        "--long-hold-ms",
        "--long-wait-ms",
        "--format",
        "-o",
        "--output",
        "--kinds",
        "--protocol",
        "--jaeger-file",
        "--service-name",
        "--flush-timeout",
        "--min-span-ms",
        "--spans-per-trace",
        "--span-buffer",
        "--timeline",
        "--html",
    }
)


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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m syncscope`` and of the ``syncscope`` command."""
    args = sys.argv[1:] if argv is None else list(argv)
    own, program = _split(args)
    parser = _parser()
    options = parser.parse_args(own)
    if options.version:
        from . import __version__

        print(f"syncscope {__version__}")
        return
    if not program:
        parser.error("no program given: name a script, -m module or -c code")
    run = _runner(parser, program)

    from . import _api

    # atexit runs last-registered first: this one must be the very last thing to run.
    atexit.register(_exit_like_python)
    spans = _span_arguments(options, program)
    try:
        _api.install(
            lines=options.lines,
            format=options.format,
            output=options.output,
            kinds=options.kinds,
            include_library=options.include_library,
            hide_items=options.hide_items,
            **spans,
            **_diagnosis_arguments(parser, options),
            **_timeline_arguments(options, program, spans),
        )
    except OSError as exc:
        parser.error(f"cannot write to {exc.filename or options.output!r}: {exc.strerror}")
    except ValueError as exc:
        parser.error(str(exc))
    _keep_order_with_program_output()
    # After the program's own atexit handlers (registered later, so run earlier): flush and
    # close every output.
    atexit.register(_api.uninstall)
    _run_as_main(run)


def _span_arguments(options: argparse.Namespace, program: list[str]) -> dict[str, Any]:
    """install()'s span arguments; spans are on when an option or OTEL_TRACES_EXPORTER asks."""
    chosen = []
    if options.otlp is not None:
        chosen.append("otlp")
    if options.console_spans:
        chosen.append("console")
    from_env = {
        name.strip().lower() for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
    }
    if not chosen and options.jaeger_file is None and not from_env & {"otlp", "console"}:
        return {}
    run_name = _run_name(program)
    return {
        "spans": True,
        "exporter": ",".join(chosen) if chosen else None,
        "endpoint": options.otlp or None,
        "protocol": options.protocol,
        "service_name": options.service_name,
        "jaeger_file": options.jaeger_file,
        "span_items": options.span_items,
        "flush_timeout": options.flush_timeout,
        "min_span_ms": options.min_span_ms,
        "max_trace_spans": options.spans_per_trace,
        "span_buffer": options.span_buffer,
        "run_name": run_name,
    }


def _runner(parser: _Parser, program: list[str]) -> Callable[[], None]:
    """Check the target now (a bad one is a usage error) and return how to run it."""
    first, rest = program[0], program[1:]
    if first == "-m":
        if not rest:
            parser.error("argument -m: expected a module name")
        module, args = rest[0], rest[1:]

        def run_module() -> None:
            sys.argv = [module, *args]  # runpy puts the module's file in sys.argv[0]
            sys.path[0] = os.getcwd()
            _count_as_users(module)
            runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]

        return run_module
    if first == "-c":
        if not rest:
            parser.error("argument -c: expected the code to run")
        code, args = rest[0], rest[1:]

        def run_code() -> None:
            sys.argv = ["-c", *args]
            sys.path[0] = ""
            _exec_in_main(compile(code, "<string>", "exec"), "<string>")

        return run_code
    path = first
    if not os.path.exists(path):
        parser.error(f"can't open file {path!r}: no such file or directory")
    if os.path.isdir(path) or not _is_source(path):

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
        parser.error(f"can't open file {path!r}: {exc.strerror}")
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
    import zipfile

    return not zipfile.is_zipfile(path)


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
        exc.__traceback__ = _without_own_frames(exc.__traceback__)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        if isinstance(exc, KeyboardInterrupt):
            _interrupted = True  # python dies by SIGINT after finalising: so do we
        sys.exit(1)


def _without_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        tb = tb.tb_next
    return tb


def _exit_like_python() -> None:
    if _interrupted:
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
