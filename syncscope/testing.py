"""
Assert on synchronization in tests, with any test framework::

    import syncscope

    def test_cache_is_not_contended():
        with syncscope.record() as rec:
            run_the_workload()
        assert not rec.contended(cache.lock)
        assert rec.stats("cache_lock").max_wait_s < 0.01
        assert not rec.inversions

Only primitives created while syncscope is installed are watched: inside the ``with`` block,
or for the whole run under ``python -m syncscope`` or ``pytest --syncscope``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import _api
from ._core.dispatch import close_sinks
from ._core.event import SyncEvent
from ._core.records import replace
from ._core.state import config_lock, set_sinks, state
from ._settings import Settings
from ._sinks.figures import PrimitiveStats, SiteStats
from ._sinks.findings import Deadlock, Hang, Inversion, Ref, SlowSpot
from ._sinks.recorder import Recorder


__all__ = [
    "Deadlock",
    "Hang",
    "Inversion",
    "PrimitiveStats",
    "Recording",
    "SiteStats",
    "SlowSpot",
    "record",
]


class Recording:
    """
    What happened inside a :func:`record` block, to assert on (also after the block).

    .. versionadded:: 0.1.0
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def stats(self, what: object) -> PrimitiveStats:
        """
        The figures of one primitive, given as the object itself or by its name.

        Raises:
            KeyError: no primitive of that name was used.
            TypeError: the object is not watched (created before syncscope was installed,
                or by library code).
        """
        stats = self._recorder.stats
        if stats is None:  # pragma: no cover - record() always gathers statistics
            raise RuntimeError("this recording gathers no statistics")
        if isinstance(what, str):
            found = [p for p in stats.summary() if p.name == what]
            if not found:
                known = ", ".join(sorted(p.name for p in stats.summary())) or "none"
                raise KeyError(f"no primitive named {what!r} was used (used: {known})")
            return found[0]
        primitive = _api.describe_primitive(what)
        if primitive is None:
            raise TypeError(
                f"syncscope does not watch this {type(what).__name__}: create it after "
                "syncscope is installed, in the program's own code"
            )
        return stats.find(primitive) or PrimitiveStats(Ref.of(primitive))

    def contended(self, what: object) -> bool:
        """Whether any acquire of it had to wait for another thread."""
        return self.stats(what).contended > 0

    def primitives(self) -> list[PrimitiveStats]:
        """The figures of every primitive used, the most waited for first."""
        from .report import Report

        return list(Report.of(self).primitives)

    @property
    def inversions(self) -> list[Inversion]:
        """
        Lock-order inversions found (locks taken in orders that can deadlock).

        .. versionchanged:: Unreleased
           Inversions guarded by a common lock are left out: see :attr:`guarded_inversions`.
        """
        return [i for i in self._recorder.inversions if i.guarded_by is None]

    @property
    def guarded_inversions(self) -> list[Inversion]:
        """
        Locks taken in both orders, but always while holding one common lock (``guarded_by``).

        .. versionadded:: Unreleased
        """
        return [i for i in self._recorder.inversions if i.guarded_by is not None]

    @property
    def deadlocks(self) -> list[Deadlock]:
        """Deadlocks found (the watchdog looks every 0.2 s; see :meth:`check_deadlocks`)."""
        return list(self._recorder.deadlocks)

    @property
    def hangs(self) -> list[Hang]:
        return list(self._recorder.hangs)

    @property
    def slow(self) -> list[SlowSpot]:
        """Holds and waits over the ``long_hold_ms``/``long_wait_ms`` thresholds."""
        return list(self._recorder.slow)

    @property
    def events(self) -> list[SyncEvent]:
        """The last events (as many as ``record(events=N)`` keeps), oldest first."""
        kept = self._recorder.events
        return [] if kept is None else list(kept)

    def check_deadlocks(self) -> list[Deadlock]:
        """Look for a deadlock now, without waiting for the watchdog; returns new ones."""
        return self._recorder.check_now()

    def report(self) -> str:
        """The report as the terminal shows it."""
        from .report import Report

        return Report.of(self).text()

    def to_dict(self) -> dict[str, Any]:
        """The report as the JSON report has it."""
        from .report import Report

        return Report.of(self).to_dict()


@contextmanager
def record(
    *,
    detect_deadlocks: bool = True,
    hang_timeout: float = Settings.hang_timeout,
    long_hold_ms: float | None = Settings.long_hold_ms,
    long_wait_ms: float | None = Settings.long_wait_ms,
    events: int = 10_000,
    echo: bool = True,
    timeline: str | None = Settings.timeline,
    html: str | None = Settings.html,
) -> Iterator[Recording]:
    """
    Record statistics and findings for the duration of a ``with`` block.

    Installs syncscope (without log lines) when it is not installed, and uninstalls it at the
    end; when it is, only adds a recorder to what is there and removes it at the end.

    Args:
        detect_deadlocks: run the deadlock watchdog and the lock-order checks.
        hang_timeout: report a hang after this many seconds without progress; 0 never.

    Without ``detect_deadlocks``, the defaults are :func:`syncscope.install`'s.
        long_hold_ms: record holds at least this long as slow spots.
        long_wait_ms: record waits for a lock (or for room in a queue) at least this long.
        events: keep the last this many events for :attr:`Recording.events`; 0 none.
        echo: also write each finding to standard error when it is found.
        timeline: at the end, write the block's timeline to this file (see ``--timeline``).
        html: at the end, write the block's HTML report to this file (see ``--html``).

    .. versionchanged:: 0.2.0 ``timeline`` and ``html``; ``hang_timeout`` defaults to 10
       seconds, as everywhere else.

    .. versionadded:: 0.1.0
    """
    diagnosis = (
        Settings(
            stats=True,
            detect_deadlocks=detect_deadlocks,
            hang_timeout=hang_timeout,
            long_hold_ms=long_hold_ms,
            long_wait_ms=long_wait_ms,
        )
        .checked()
        .diagnosis()
    )
    assert diagnosis is not None
    if events < 0:
        raise ValueError(f"events must be >= 0, got {events!r}")
    options = replace(diagnosis, keep_events=events, echo=echo)
    installed_here = not state.installed
    if installed_here:
        _api.install(lines=False)
    recorder = Recorder(options)
    ours: tuple[Any, ...] = (recorder,)
    if timeline or html:
        from ._sinks.timeline.sink import timeline_sink

        ours = (recorder, timeline_sink(timeline, html, ours, None))
    with config_lock:
        set_sinks((*state.sinks, *ours))
    try:
        yield Recording(recorder)
    finally:
        with config_lock:
            set_sinks(tuple(sink for sink in state.sinks if sink not in ours))
        close_sinks(ours)
        if installed_here:
            _api.uninstall()
