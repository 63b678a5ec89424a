"""
Every option of syncscope, once: its name, default, check, and how the runner spells it.

:class:`Settings` is the one record. :func:`syncscope.install` takes its fields as keyword
arguments with these defaults, ``syncscope.testing.record`` and the pytest plugin pass theirs
through it, the instrumentor fills it from ``SYNCSCOPE_*`` variables, and the runner's parser
is built from the fields' ``flags``. The span options' ``OTEL_*`` resolution is
:func:`~syncscope._sinks.spans.options.span_options`, called from :meth:`Settings.spans_options`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from ._core.records import field, fields, record
from ._core.state import ALL_KINDS


TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ._sinks.recorder import DiagnosisOptions
    from ._sinks.spans.options import SpanOptions

#: The line formats (those of ``_sinks.lines``, which is imported only to write lines).
FORMATS = ("console", "json", "logfmt")

#: The exit status of ``--deadlock-exit`` without a value.
DEADLOCK_EXIT_STATUS = 3

#: The runner's option groups, in the order ``--help`` shows them.
GROUPS = {
    "output": None,
    "spans": "Also make an OpenTelemetry span of every operation, built and exported off the "
    "program's threads. Any of --otlp, --console-spans, --jaeger-file (or "
    "OTEL_TRACES_EXPORTER=otlp) switches spans on; the OTEL_EXPORTER_OTLP_* variables, "
    "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured, the options win.",
    "diagnosis": "Find what is wrong: statistics per primitive and per call site, deadlocks "
    "(threads blocked in a cycle, with each thread's holds, wait and stack; through a plain "
    "Lock or a semaphore once it has lasted --deadlock-grace while other threads run), hangs "
    "(threads waiting without a timeout for what nothing touches), lock-order inversions "
    "(locks taken in orders that can deadlock, reported even when the run did not) and slow "
    "spots. Deadlock, hang and "
    "inversion detection is on by default in the runner; the report is on by default with "
    "-q. Findings and the report go to standard error.",
    "timeline": "See it: files written at exit, to open in a browser or in Perfetto.",
}


# -- what the command line accepts (one-line errors, in the option's own words) -------------


def _argument_error(message: str) -> Exception:
    import argparse  # these run only while argparse parses: it is loaded

    return argparse.ArgumentTypeError(message)


def _kinds(value: str) -> frozenset[str]:
    chosen = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(chosen - ALL_KINDS)
    if not chosen or unknown:
        raise _argument_error(
            f"unknown kind {unknown[0] if unknown else value!r}: "
            f"choose from {','.join(sorted(ALL_KINDS))}"
        )
    return chosen


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 3600:
        raise _argument_error(f"expected seconds from 0 to 3600, got {value!r}")
    return number


def _milliseconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise _argument_error(f"expected milliseconds >= 0, got {value!r}")
    return number


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise _argument_error(f"expected milliseconds > 0, got {value!r}")
    return number


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise _argument_error(f"expected a whole number >= 1, got {value!r}")
    return int(value)


def _exit_status(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 255:
        raise _argument_error(f"expected an exit status from 1 to 255, got {value!r}")
    return int(value)


def _option(
    default: Any,
    *flags: str,
    group: str = "output",
    help: str = "",
    **argparse_kwargs: Any,
) -> Any:
    """A field of :class:`Settings`: its default, and its runner flags (none: API only)."""
    return field(
        default=default,
        metadata={"flags": flags, "group": group, "help": help, "argparse": argparse_kwargs},
    )


@record
class Settings:
    """
    Everything syncscope can be asked to do; see :func:`syncscope.install` for each field.
    Build it with keywords and call :meth:`checked` before use.
    """

    # What to watch and the lines.
    lines: bool = _option(
        True, "-q", "--no-lines", action="store_false", help="write no per-operation lines"
    )
    format: str = _option(
        "console",
        "--format",
        choices=FORMATS,
        help="how to write each operation: console (the article's words, the default), "
        "json (one object a line) or logfmt",
    )
    output: str | None = _option(
        None, "-o", "--output", metavar="FILE", help="write the lines to FILE, not standard error"
    )
    #: Buffer the lines written to ``output`` (the runner's way; see _core/output). The API
    #: writes each line at once: a caller may read the file while the program runs.
    buffer_output: bool = _option(False)
    kinds: Iterable[str] | None = _option(
        None,
        "--kinds",
        type=_kinds,
        metavar="KINDS",
        help="watch only these kinds, comma-separated: " + ",".join(sorted(ALL_KINDS)),
    )
    include_library: bool = _option(
        False,
        "--all",
        action="store_true",
        help="also watch primitives created by the standard library and installed packages",
    )
    hide_items: bool = _option(
        False,
        "--hide-items",
        action="store_true",
        help="keep queue items (which may be private data) out of the output",
    )
    # Spans (the runner's --otlp and --console-spans choose ``exporter`` and ``endpoint``).
    spans: bool = _option(False)
    exporter: str | None = _option(None)
    endpoint: str | None = _option(None)
    protocol: str | None = _option(
        None,
        "--protocol",
        group="spans",
        choices=("grpc", "http/protobuf"),
        help="the OTLP protocol (default from OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf "
        "for port 4318 and grpc otherwise)",
    )
    headers: str | Mapping[str, str] | None = _option(None)
    service_name: str | None = _option(
        None, "--service-name", group="spans", metavar="NAME", help="the service.name of the spans"
    )
    jaeger_file: str | None = _option(
        None,
        "--jaeger-file",
        group="spans",
        metavar="FILE",
        help="write the spans to FILE as Jaeger's trace JSON (the Jaeger UI opens it)",
    )
    span_items: bool = _option(
        False,
        "--span-items",
        group="spans",
        action="store_true",
        help="put queue items (which may be private data) into the spans",
    )
    flush_timeout: float = _option(
        5.0,
        "--flush-timeout",
        group="spans",
        type=_seconds,
        metavar="SECONDS",
        help="at exit, wait at most this long for the last spans to go out (default 5)",
    )
    min_span_ms: float = _option(
        0.0,
        "--min-span-ms",
        group="spans",
        type=_milliseconds,
        metavar="MS",
        help="send only waits and holds at least this long, and what they link to "
        "(default 0: every span)",
    )
    max_trace_spans: int = _option(
        10_000,
        "--spans-per-trace",
        group="spans",
        type=_count,
        metavar="N",
        help="start a new trace after N spans, so that Jaeger's UI stays usable (default 10000)",
    )
    span_buffer: int = _option(
        16_384,
        "--span-buffer",
        group="spans",
        type=_count,
        metavar="N",
        help="spans that may wait for export; more are dropped and counted (default 16384)",
    )
    run_name: str | None = _option(None)
    # Diagnosis.
    stats: bool = _option(False)
    report: bool = _option(
        False,
        "--report",
        group="diagnosis",
        action="BooleanOptionalAction",  # argparse's, given to it by add_arguments
        help="at exit, write a report: the primitives that cost the most waiting (a table), "
        "then every finding (default: on with -q, off otherwise)",
    )
    report_json: str | None = _option(
        None,
        "--report-json",
        group="diagnosis",
        metavar="FILE",
        help="write the report as JSON to FILE, at exit and at once when a deadlock or a hang "
        "is found",
    )
    detect_deadlocks: bool = _option(
        False,
        "--no-deadlock-detection",
        group="diagnosis",
        action="store_false",
        help="do not look for deadlocks, hangs and lock-order inversions",
    )
    deadlock_exit: int | None = _option(
        None,
        "--deadlock-exit",
        group="diagnosis",
        nargs="?",
        const=DEADLOCK_EXIT_STATUS,
        type=_exit_status,
        metavar="STATUS",
        help="after reporting a deadlock, end the program with exit status STATUS "
        f"(default {DEADLOCK_EXIT_STATUS}; give it as --deadlock-exit=STATUS)",
    )
    hang_timeout: float = _option(
        10.0,
        "--hang-timeout",
        group="diagnosis",
        type=_seconds,
        metavar="SECONDS",
        help="report a hang after SECONDS without any operation while every thread is "
        "blocked, or when threads waiting without a timeout saw nothing happen to what they "
        "wait for for as long (default 10; 0 never)",
    )
    deadlock_grace: float = _option(
        1.0,
        "--deadlock-grace",
        group="diagnosis",
        type=_seconds,
        metavar="SECONDS",
        help="report a cycle through a plain Lock or a semaphore while other threads run, or "
        "a thread waiting for a Lock it holds, once it has lasted SECONDS (default 1); one "
        "waiting for a signal while holding the lock the signallers wait for, once it has "
        "lasted half the hang timeout (5 s with --hang-timeout 0), or SECONDS if longer",
    )
    long_hold_ms: float | None = _option(
        None,
        "--long-hold-ms",
        group="diagnosis",
        type=_threshold,
        metavar="MS",
        help="report each hold of a lock, rlock, semaphore or Condition lock of MS or more",
    )
    long_wait_ms: float | None = _option(
        None,
        "--long-wait-ms",
        group="diagnosis",
        type=_threshold,
        metavar="MS",
        help="report each wait of MS or more for a lock, rlock, semaphore, Condition lock or "
        "for room in a full queue",
    )
    # Files to look at.
    timeline: str | None = _option(
        None,
        "--timeline",
        group="timeline",
        metavar="FILE",
        help="write a per-thread timeline of holds, waits and what let each wait go on "
        "(arrows) in the Chrome/Perfetto trace-event format (gzipped if FILE ends in .gz); "
        "open it at https://ui.perfetto.dev or with vizviewer",
    )
    html: str | None = _option(
        None,
        "--html",
        group="timeline",
        metavar="FILE",
        help="write a self-contained HTML report: the report's tables, the findings and a "
        "timeline of the busiest stretch of the run",
    )

    def checked(self) -> Settings:
        """These settings, checked; ValueError names the first bad one."""
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}: choose one of {', '.join(FORMATS)}")
        unknown = self.watched_kinds - ALL_KINDS
        if unknown:
            raise ValueError(
                f"unknown kind {sorted(unknown)[0]!r}: choose from {', '.join(sorted(ALL_KINDS))}"
            )
        if self.deadlock_exit is not None:
            if not self.detect_deadlocks:
                raise ValueError("deadlock_exit needs detect_deadlocks")
            status = self.deadlock_exit
            if isinstance(status, bool) or not 1 <= status <= 255:
                raise ValueError(
                    f"deadlock_exit must be an exit status from 1 to 255, got {status!r}"
                )
        if not _number(self.deadlock_grace) or not 0 <= self.deadlock_grace < float("inf"):
            raise ValueError(
                f"deadlock_grace must be a number of seconds >= 0, got {self.deadlock_grace!r}"
            )
        if not _number(self.hang_timeout) or not self.hang_timeout >= 0:
            raise ValueError(
                f"hang_timeout must be a number of seconds >= 0, got {self.hang_timeout!r}"
            )
        for name in ("long_hold_ms", "long_wait_ms"):
            value = getattr(self, name)
            if value is not None and not (_number(value) and 0 < value < float("inf")):
                raise ValueError(f"{name} must be a number of milliseconds > 0, got {value!r}")
        return self

    @property
    def watched_kinds(self) -> frozenset[str]:
        return ALL_KINDS if self.kinds is None else frozenset(self.kinds)

    def diagnosis(self) -> DiagnosisOptions | None:
        """The diagnosis sink's options, or None when nothing asks for it."""
        stats = self.stats or self.report or bool(self.report_json) or bool(self.html)
        if not (stats or self.detect_deadlocks or self.long_hold_ms or self.long_wait_ms):
            return None
        from ._sinks.recorder import DiagnosisOptions

        return DiagnosisOptions(
            stats=stats,
            report=self.report,
            report_json=self.report_json,
            detect_deadlocks=self.detect_deadlocks,
            deadlock_exit=self.deadlock_exit,
            hang_timeout=self.hang_timeout,
            deadlock_grace=self.deadlock_grace,
            long_hold_ms=self.long_hold_ms,
            long_wait_ms=self.long_wait_ms,
        )

    def spans_options(self) -> SpanOptions | None:
        """The span sink's options, the ``OTEL_*`` variables resolved; None without spans."""
        if not self.spans:
            return None
        from ._sinks.spans.options import span_options

        return span_options(
            exporter=self.exporter,
            endpoint=self.endpoint,
            protocol=self.protocol,
            headers=self.headers,
            service_name=self.service_name,
            jaeger_file=self.jaeger_file,
            span_items=self.span_items,
            flush_timeout=self.flush_timeout,
            min_span_ms=self.min_span_ms,
            max_trace_spans=self.max_trace_spans,
            span_buffer=self.span_buffer,
            run_name=self.run_name,
        )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


#: Each field's default, by name.
DEFAULTS: Mapping[str, Any] = {f.name: f.default for f in fields(Settings)}


def add_arguments(
    parser: argparse.ArgumentParser,
    groups: Mapping[str, Any],
    runner_defaults: Mapping[str, Any],
) -> None:
    """Add every field that has flags to ``parser``, in ``groups`` (group name -> group)."""
    for item in fields(Settings):
        flags = item.metadata["flags"]
        if not flags:
            continue
        target: Any = groups.get(item.metadata["group"], parser)
        kwargs = dict(item.metadata["argparse"])
        if kwargs.get("action") == "BooleanOptionalAction":
            import argparse

            kwargs["action"] = argparse.BooleanOptionalAction
        default = runner_defaults.get(item.name, item.default)
        target.add_argument(
            *flags, dest=item.name, default=default, help=item.metadata["help"], **kwargs
        )


def switches() -> dict[str, tuple[str, bool]]:
    """
    The runner's flags that take no value, each with the setting it sets and to what: what a
    command line of them means needs no parser (``--report`` has ``--no-report`` too).
    """
    found = {}
    for item in fields(Settings):
        action = item.metadata["argparse"].get("action")
        for flag in item.metadata["flags"]:
            if action in ("store_true", "store_false"):
                found[flag] = (item.name, action == "store_true")
            elif action == "BooleanOptionalAction":
                found[flag] = (item.name, True)
                found["--no-" + flag.removeprefix("--")] = (item.name, False)
    return found


def value_options() -> dict[str, tuple[str, Mapping[str, Any]]]:
    """The runner's flags that take a value: the setting of each, and how argparse reads it."""
    return {
        flag: (item.name, item.metadata["argparse"])
        for item in fields(Settings)
        if "action" not in item.metadata["argparse"]
        for flag in item.metadata["flags"]
    }


def flags_taking_a_value() -> frozenset[str]:
    """The runner's flags that take a value, so that the value is not taken for the program."""
    found = set()
    for item in fields(Settings):
        kwargs = item.metadata["argparse"]
        if item.metadata["flags"] and "action" not in kwargs and kwargs.get("nargs") != "?":
            found.update(item.metadata["flags"])
    return frozenset(found)


def settings_of(values: Mapping[str, Any]) -> Settings:
    """A checked Settings from ``values`` (names of fields; others are ignored)."""
    names = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in names}).checked()
