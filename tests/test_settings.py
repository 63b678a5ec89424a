"""Every option is defined once: install(), record(), the runner and their defaults agree."""

from __future__ import annotations

import inspect

import pytest

import syncscope
from syncscope import _cli, _settings
from syncscope._core.records import fields
from syncscope._settings import DEFAULTS, Settings, flags_taking_a_value
from syncscope.testing import record


class TestOneDefinition:
    def test_install_takes_every_setting_with_its_default(self) -> None:
        """install()'s keywords are the settings' fields, with the same defaults."""
        parameters = inspect.signature(syncscope.install).parameters
        assert [f.name for f in fields(Settings)] == list(parameters)
        assert DEFAULTS == {name: p.default for name, p in parameters.items()}

    def test_record_shares_the_defaults(self) -> None:
        """record()'s diagnosis keywords default as install()'s do (hang_timeout was 0 there)."""
        parameters = inspect.signature(record.__wrapped__).parameters  # type: ignore[attr-defined]
        for name in ("hang_timeout", "long_hold_ms", "long_wait_ms", "timeline", "html"):
            assert DEFAULTS[name] == parameters[name].default

    def test_the_runner_offers_every_flagged_setting(self) -> None:
        """Each setting with flags is an option of the runner, with the setting's default."""
        parser = _cli._parser()
        given = {action.dest: action for action in parser._actions}
        for item in fields(Settings):
            if not item.metadata["flags"]:
                continue
            action = given[item.name]
            assert set(item.metadata["flags"]) <= set(action.option_strings)
            assert _cli.RUNNER_DEFAULTS.get(item.name, item.default) == action.default

    def test_values_are_not_taken_for_the_program(self) -> None:
        """A flag with a value keeps it: `--hang-timeout 3 script.py` runs script.py."""
        assert "--hang-timeout" in flags_taking_a_value()
        assert "-q" not in flags_taking_a_value()
        own, program = _cli._split(["--hang-timeout", "3", "-q", "script.py", "-v"])
        assert (["--hang-timeout", "3", "-q"], ["script.py", "-v"]) == (own, program)

    def test_switches_read_without_the_parser_mean_what_the_parser_says(self) -> None:
        """`-q`, `--all`, `--no-report`... are read without argparse, to the same options."""
        switches = [*_settings.switches(), "--console-spans", "--version"]
        assert {"-q", "--no-lines", "--all", "--report", "--no-report"} <= set(switches)
        for own in ([], *([flag] for flag in switches), switches, ["-q", "--all", "-q"]):
            parsed = vars(_cli._parser().parse_args(own))
            assert parsed == vars(_cli._parse(own)), own

    @pytest.mark.parametrize(
        "own",
        [
            ["--format", "json"],
            ["--format=logfmt", "-o", "out.log"],
            ["--output=a b", "--kinds", "lock,queue", "--hide-items"],
            ["--otlp"],
            ["--otlp", "-q"],
            ["--otlp=http://127.0.0.1:4318", "--protocol", "http/protobuf", "-q"],
            ["--otlp", "localhost:4317", "--service-name", "svc", "--span-items"],
            ["--otlp="],
            ["--flush-timeout", "0.5", "--min-span-ms=2", "--spans-per-trace", "7"],
            ["--span-buffer=64", "--jaeger-file", "t.json", "--console-spans"],
            ["--report-json", "r.json", "--deadlock-exit", "--hang-timeout", "3"],
            ["--deadlock-exit=9", "--deadlock-grace", "0", "--long-hold-ms", "1.5"],
            ["--long-wait-ms=2", "--timeline", "t.gz", "--html", "r.html", "--no-report"],
            ["-o", ""],
            ["--format", "json", "--format", "console"],
        ],
    )
    def test_values_read_without_the_parser_mean_what_the_parser_says(self, own: list[str]) -> None:
        """Options with valid values are read without argparse, to the same options."""
        assert _cli._read_plainly(own) is not None
        assert vars(_cli._parser().parse_args(own)) == vars(_cli._parse(own))

    @pytest.mark.parametrize(
        "own",
        [
            ["--format", "xml"],
            ["--format"],
            ["--kinds", "mutex"],
            ["--hang-timeout", "-1"],
            ["--hang-timeout=-1"],
            ["--deadlock-exit", "-1"],
            ["--otlp=not an endpoint"],
            ["--outp", "x"],
            ["-ox"],
            ["-o=x"],
            ["-qh"],
            ["--help"],
            ["--span-buffer", "0"],
            ["--output", "-q"],
        ],
    )
    def test_what_the_parser_has_words_for_goes_to_the_parser(
        self, own: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad values, abbreviations, help: argparse reads them, with its own words."""
        assert _cli._read_plainly(own) is None
        try:
            expected: object = vars(_cli._parser().parse_args(own))
        except SystemExit as exc:
            expected = (exc.code, capsys.readouterr())
        try:
            got: object = vars(_cli._parse(own))
        except SystemExit as exc:
            got = (exc.code, capsys.readouterr())
        assert expected == got

    def test_formats_are_the_line_sinks(self) -> None:
        """The settings check the format without loading the line sink: the same formats."""
        from syncscope._sinks.lines import FORMATS

        assert FORMATS == _settings.FORMATS


class TestChecks:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"format": "xml"}, "unknown format 'xml'"),
            ({"kinds": ["lock", "mutex"]}, "unknown kind 'mutex'"),
            ({"hang_timeout": -1}, "hang_timeout must be"),
            ({"hang_timeout": float("nan")}, "hang_timeout must be"),
            ({"long_wait_ms": 0}, "long_wait_ms must be"),
            ({"deadlock_exit": 3}, "deadlock_exit needs detect_deadlocks"),
            ({"deadlock_exit": 0, "detect_deadlocks": True}, "exit status from 1 to 255"),
        ],
    )
    def test_bad_values_name_themselves(self, kwargs: dict[str, object], message: str) -> None:
        """The same check for install() and the runner: a ValueError naming the setting."""
        with pytest.raises(ValueError, match=message):
            Settings(**kwargs).checked()  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=message):
            syncscope.install(**kwargs)  # type: ignore[arg-type]
        assert not syncscope.is_installed()

    def test_diagnosis_only_when_asked(self) -> None:
        """No diagnosis sink unless something needs one; the report and HTML imply stats."""
        assert Settings().diagnosis() is None
        report = Settings(report=True).diagnosis()
        assert report is not None and report.stats
        html = Settings(html="r.html").diagnosis()
        assert html is not None and html.stats and not html.detect_deadlocks
