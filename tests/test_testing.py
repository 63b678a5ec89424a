"""syncscope.record(): the recorder for any test framework."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

import syncscope
from syncscope._core.state import state
from syncscope.testing import PrimitiveStats, Recording, record


class TestInstall:
    def test_installs_for_the_block_only(self) -> None:
        """Not installed before: installed inside the block, uninstalled after it."""
        assert not syncscope.is_installed()
        with syncscope.record() as rec:
            assert syncscope.is_installed()
            assert isinstance(rec, Recording)
        assert not syncscope.is_installed()
        assert () == state.sinks

    def test_leaves_an_installation_as_it_was(self, tmp_path: Path) -> None:
        """Already installed: only its recorder comes and goes; the other sinks stay."""
        syncscope.install(output=str(tmp_path / "lines.log"))
        before = state.sinks
        with syncscope.record():
            assert before == state.sinks[:-1]
        assert syncscope.is_installed()
        assert before == state.sinks

    def test_nested(self) -> None:
        """Two records at once each see what happens inside them."""
        with syncscope.record() as outer:
            lock = threading.Lock()
            with syncscope.record() as inner, lock:
                pass
            with lock:
                pass
        assert 2 == outer.stats(lock).acquisitions
        assert 1 == inner.stats(lock).acquisitions

    def test_install_alone_adds_no_diagnosis(self) -> None:
        """install() keeps the diagnosis off unless asked: nothing listens with lines off."""
        syncscope.install(lines=False)
        assert () == state.sinks
        assert not state.active
        syncscope.install(lines=False, detect_deadlocks=True)
        [recorder] = state.sinks
        assert recorder.stats is None  # type: ignore[attr-defined]
        assert recorder.watchdog is not None  # type: ignore[attr-defined]

    def test_same_function_as_syncscope_record(self) -> None:
        """syncscope.record is syncscope.testing.record."""
        assert syncscope.record is record
        assert "record" in syncscope.__all__

    def test_bad_options(self) -> None:
        """Bad thresholds are refused before anything is installed."""
        with pytest.raises(ValueError, match="long_hold_ms"), syncscope.record(long_hold_ms=0):
            pass
        with pytest.raises(ValueError, match="events"), syncscope.record(events=-1):
            pass
        assert not syncscope.is_installed()


class TestQueries:
    def test_stats_by_object_and_by_name(self) -> None:
        """stats() takes the primitive or its name; an unused one has zero figures."""
        with syncscope.record() as rec:
            cache_lock = threading.Lock()
            unused_lock = threading.Lock()
            unused_queue = queue.Queue()
            for _ in range(3):
                with cache_lock:
                    pass
        assert 3 == rec.stats(cache_lock).acquisitions
        assert 3 == rec.stats("cache_lock").acquisitions
        assert not rec.contended(cache_lock)
        assert rec.stats(cache_lock).max_wait_s < 0.01
        zero = rec.stats(unused_lock)
        assert isinstance(zero, PrimitiveStats)
        assert 0 == zero.acquisitions
        assert 0 == rec.stats(unused_queue).max_size  # nothing put: empty, as made
        assert "cache_lock" in [p.name for p in rec.primitives()]

    def test_unknown_and_unwatched(self) -> None:
        """An unknown name is a KeyError; an object syncscope does not watch a TypeError."""
        before = threading.Lock()
        with syncscope.record() as rec:
            pass
        with pytest.raises(KeyError, match="no primitive named 'nothing'"):
            rec.stats("nothing")
        with pytest.raises(TypeError, match="does not watch"):
            rec.stats(before)

    def test_events_kept(self) -> None:
        """The last events are kept, up to the number asked for."""
        with syncscope.record(events=3) as rec:
            lock = threading.Lock()
            for _ in range(5):
                with lock:
                    pass
        assert 3 == len(rec.events)
        assert ["released", "acquired", "released"] == [e.outcome for e in rec.events]
        with syncscope.record(events=0) as none, lock:
            pass
        assert [] == none.events

    def test_slow_spots(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A hold over long_hold_ms is a slow spot, written as a line when it ends."""
        with syncscope.record(long_hold_ms=1) as rec:
            file_lock = threading.Lock()
            done = syncscope.get_original("threading", "Event")()
            with file_lock:
                done.wait(0.01)  # a hold of at least 10 ms
        [spot] = rec.slow
        assert "hold" == spot.what
        assert "file_lock" == spot.primitive.name
        assert spot.duration_s >= 0.01
        assert "MainThread" == spot.thread
        err = capfd.readouterr().err
        assert "syncscope: lock file_lock held " in err
        assert "by MainThread (acquired at " in err

    def test_report_and_dict(self) -> None:
        """report() is the terminal text, to_dict() the JSON report."""
        with syncscope.record() as rec:
            report_lock = threading.Lock()
            with report_lock:
                pass
        assert "report_lock" in rec.report()
        assert "report_lock" == rec.to_dict()["primitives"][0]["name"]
        assert [] == rec.inversions == rec.deadlocks == rec.hangs == rec.slow
