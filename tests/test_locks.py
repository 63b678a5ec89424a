"""Lock and RLock: the proxies behave as the originals and report every operation."""

from __future__ import annotations

import copy
import copyreg
import enum
import gc
import json
import os
import pickle
import signal
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import syncscope
from syncscope._intercept.locks import PROXY_TYPES

from .conftest import Capture, SignalSink, add_sink, join, run_syncscope, start_thread
from .support.process import script


original_lock = syncscope.get_original("threading", "Lock")
original_rlock = syncscope.get_original("threading", "RLock")


def _outcome(exc_info: pytest.ExceptionInfo[BaseException]) -> tuple[type, str]:
    return type(exc_info.value), str(exc_info.value)


def _answer(acquire: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What ``acquire(*args, **kwargs)`` gives: its answer, or its error's type and message."""
    try:
        return acquire(*args, **kwargs)
    except Exception as exc:
        return type(exc), str(exc)


def _compare_acquires(
    factory_name: str,
    install: dict[str, Any],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
    uninstalled: bool = False,
) -> None:
    """
    Each call's answer or error, and the lock's state after it, the same on the original
    and on a free proxy made under ``install``, used before or not (``uninstalled``: then
    left to the original's steps by ``uninstall``).
    """
    for args, kwargs in calls:
        original = syncscope.get_original("threading", factory_name)()
        _Indexed.reads = 0
        expected = _answer(original.acquire, *args, **kwargs)
        reads = _Indexed.reads
        syncscope.install(**install)
        try:
            for used_before in (False, True):
                ours = getattr(threading, factory_name)()
                if uninstalled:
                    syncscope.uninstall()
                if used_before:
                    ours.acquire()
                    ours.release()
                _Indexed.reads = 0
                actual = _answer(ours.acquire, *args, **kwargs)
                assert (args, kwargs, expected, reads) == (args, kwargs, actual, _Indexed.reads)
                held = ours._is_owned() if factory_name == "RLock" else ours.locked()
                assert held is (expected is True)
                if held:
                    ours.release()
                if uninstalled:
                    syncscope.install(**install)
        finally:
            syncscope.uninstall()


#: Before 3.12 the lock reads ``blocking`` as a C int, from 3.12 as a truth value.
_BLOCKING_IS_INT = sys.version_info < (3, 12)


class _Forever(enum.IntEnum):
    """A timeout a program may name: an int subclass, -1 to the lock."""

    FOREVER = -1


class _Zero(enum.IntEnum):
    """A zero timeout a program may name."""

    NOW = 0


class _MinusOne(float):
    """A float subclass whose own conversion says otherwise: the lock reads its value."""

    def __float__(self) -> float:
        return 5.0


class _Indexed:
    """
    No int, but an ``__index__`` (as numpy's ints): the lock reads -1 through it, once a
    call (``reads``: how many times it was asked).
    """

    reads = 0

    def __index__(self) -> int:
        _Indexed.reads += 1
        return -1


class _NoWait(_Indexed):
    """
    A ``blocking`` that means "do not wait" to the lock on every version: 0 through
    ``__index__`` (read before 3.12), false (read from 3.12) only where it is read.
    """

    def __index__(self) -> int:
        _Indexed.reads += 1
        return 0

    def __bool__(self) -> bool:
        return _BLOCKING_IS_INT  # before 3.12 only __index__ says it: true, so taken wrongly


class _SubInt(int):
    """An int subclass."""


class _IndexGivesSubclass:
    """An ``__index__`` that gives an int subclass, -1: the lock takes it with a warning."""

    def __index__(self) -> int:
        return _SubInt(-1)


def _warned(acquire: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
    """``acquire``'s answer, and the warnings it gave: their words and where they were said."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = acquire(*args, **kwargs)  # the line a warning of the lock's is said at
    return got, [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


class _StaticIndex:
    """An ``__index__`` that is a staticmethod: the lock calls it with no argument."""

    __index__ = staticmethod(lambda: -1)


class _IndexOfTheMetaclass(type):
    def __index__(cls) -> int:
        return -1


class _IndexOnlyOnTheMetaclass(metaclass=_IndexOfTheMetaclass):
    """No ``__index__`` of its own, which is all the lock looks for: TypeError."""


class _ClaimsToBeAnInt:
    """Says its class is int; the lock goes by its type."""

    @property
    def __class__(self) -> type:  # type: ignore[override]
        return int


class _SlotIndex:
    """An ``__index__`` that is int's own slot wrapper: called with the value, it refuses it."""

    __index__ = int.__index__


class _GivesAClaim:
    """An ``__index__`` that gives what only says it is an int: TypeError, no warning."""

    def __index__(self) -> Any:
        return _ClaimsToBeAnInt()


class _Seconds(float):
    """A float subclass whose methods all raise: the lock reads its value, calling none."""

    def _refuse(self, *args: Any) -> Any:
        raise AssertionError("a method of the timeout was called")

    __float__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _refuse
    __hash__ = float.__hash__


class _Truthless:
    """A ``blocking`` whose truth value raises: read first, before the timeout."""

    def __bool__(self) -> bool:
        raise ZeroDivisionError("no truth value")


class TestLockEvents:
    def test_acquire_release_in_the_articles_words(self, capture: Capture) -> None:
        """acquire and release of a named lock read as in the article."""
        capture.install()
        lock = threading.Lock()
        lock.acquire()
        lock.release()
        with lock:
            pass
        assert [
            "lock acquired by MainThread",
            "lock released by MainThread",
            "lock acquired by MainThread",
            "lock released by MainThread",
        ] == capture.messages()

    def test_event_fields(self, capture: Capture) -> None:
        """Each event carries the primitive, the thread, the call site and a timestamp."""
        capture.install()
        file_lock = threading.Lock()
        created = file_lock_line = _line_of("file_lock = threading.Lock()")
        with file_lock:
            pass
        event = capture.events()[0]
        assert "lock" == event["kind"]
        assert "file_lock" == event["name"]
        assert __file__ == event["file"]
        assert "test_event_fields" == event["function"]
        assert event["created_at"].endswith(f"test_locks.py:{created}")
        assert threading.get_ident() == event["thread_id"]
        assert "MainThread" == event["thread"]
        assert "acquired" == event["outcome"]
        assert event["timestamp"].startswith("20")
        assert file_lock_line == created

    def test_contended_acquire_reports_the_wait(
        self, capture: Capture, signals: SignalSink
    ) -> None:
        """A blocked acquire says it waits, then says how long it waited once it got the lock."""
        capture.install()
        add_sink(signals)
        lock = threading.Lock()
        waiting = signals.when(lambda e: e.outcome == "waiting")
        lock.acquire()
        worker = start_thread(lambda: (lock.acquire(), lock.release()), name="Worker")
        waiting.wait()
        lock.release()
        join(worker)
        events = capture.events()
        assert [
            ("acquired", "MainThread"),
            ("waiting", "Worker"),
            ("released", "MainThread"),
            ("acquired", "Worker"),
            ("released", "Worker"),
        ] == [(e["outcome"], e["thread"]) for e in events]
        assert events[3]["waited_ms"] > 0
        assert "lock wait by Worker" == events[1]["event"]

    def test_released_is_reported_before_the_next_thread_acquires(self, capture: Capture) -> None:
        """In the log, no thread acquires a lock before its holder has reported the release."""
        capture.install()
        lock = threading.Lock()

        def work() -> None:
            for _ in range(300):
                with lock:
                    pass

        workers = [start_thread(work) for _ in range(3)]
        for worker in workers:
            join(worker, timeout=30)
        holder = None
        for event in capture.events():
            if event["outcome"] == "acquired":
                assert holder is None, f"{event['thread']} acquired while {holder} held the lock"
                holder = event["thread"]
            elif event["outcome"] == "released":
                assert holder == event["thread"]
                holder = None

    def test_failed_attempts(self, capture: Capture) -> None:
        """Non-blocking failure and timeout are reported with their outcome."""
        capture.install()
        lock = threading.Lock()
        lock.acquire()
        assert lock.acquire(False) is False
        assert lock.acquire(timeout=0.01) is False
        assert ["acquired", "busy", "waiting", "timeout"] == [
            e["outcome"] for e in capture.events()
        ]

    def test_releasing_an_unlocked_lock(self, capture: Capture) -> None:
        """RuntimeError as from the original, reported as a failed release, not a release."""
        capture.install()
        with pytest.raises(RuntimeError) as original:
            original_lock().release()
        with pytest.raises(RuntimeError) as ours:
            threading.Lock().release()
        assert _outcome(original) == _outcome(ours)
        assert ["error"] == [e["outcome"] for e in capture.events()]


def _line_of(text: str) -> int:
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if text in line and "_line_of" not in line:
                return number
    raise AssertionError(text)


class _Holder:
    """An object of the program's holding a lock, pickled by value."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.value = 10


#: The locks _remade made, by factory name.
_REMADE: list[str] = []


def _remade(factory_name: str) -> Any:
    """What the program's reducer makes a lock again with."""
    _REMADE.append(factory_name)
    return syncscope.get_original("threading", factory_name)()


@pytest.mark.parametrize("factory_name", ["Lock", "RLock"])
class TestDropIn:
    def test_argument_errors_pass_through(self, factory_name: str) -> None:
        """Bad arguments raise what the original raises, with the same message."""
        original = syncscope.get_original("threading", factory_name)()
        syncscope.install(output=os.devnull)
        ours = getattr(threading, factory_name)()
        assert type(ours) in PROXY_TYPES
        for args, kwargs in [((False, 1), {}), ((), {"timeout": -100}), ((), {"timeout": 1e300})]:
            with pytest.raises(Exception) as expected:
                original.acquire(*args, **kwargs)
            with pytest.raises(Exception) as actual:
                ours.acquire(*args, **kwargs)
            assert _outcome(expected) == _outcome(actual)

    @pytest.mark.parametrize("mode", ["statistics", "diagnosis", "lines", "events", "spans"])
    def test_a_blocking_of_no_int_is_taken_as_the_original_takes_it(
        self, factory_name: str, mode: str
    ) -> None:
        """
        ``acquire(blocking)`` with None, a float, a str or an int too big: before 3.12 the
        original raises TypeError or OverflowError and takes nothing, from 3.12 it takes the
        truth value. An object with ``__index__`` or an int subclass: before 3.12 the C int
        it gives (``__index__`` read once), from 3.12 its truth value. The proxy does the
        same, on a free lock too, used before or not.
        """
        installs: dict[str, dict[str, Any]] = {
            "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
            "diagnosis": {"lines": False, "stats": True},  # -q
            "lines": {"output": os.devnull},
            "events": {"output": os.devnull, "detect_deadlocks": False},
            "spans": {"lines": False, "spans": True, "exporter": "none"},
        }
        blockings = (None, 0.0, 1.0, "x", [], 2**31, -(2**31) - 1, 2**40, 2**70, 1, 0, True)
        blockings += (_Indexed(), _NoWait(), _Zero.NOW, _Forever.FOREVER)
        calls = [((b,), {}) for b in blockings] + [((_NoWait(), 0.5), {})]
        _compare_acquires(factory_name, installs[mode], calls)

    @pytest.mark.parametrize(
        "mode", ["statistics", "diagnosis", "lines", "events", "spans", "uninstalled"]
    )
    def test_a_timeout_equal_to_minus_one_is_taken_as_the_original_takes_it(
        self, factory_name: str, mode: str
    ) -> None:
        """
        A timeout of -1 is no time limit as the original reads it: an int's or a float's
        own value (a subclass's too), or what ``__index__`` gives (looked up on the type, not
        the metaclass, and bound as the interpreter binds it; what it gives must be an int
        by its type, not by what its ``__class__`` says). ``Decimal(-1)`` and
        ``Fraction(-1)`` compare equal to -1, and the original raises TypeError and takes
        nothing, on a free lock too. The proxy does the same on each of its paths, and after
        uninstall (made while installed, then left to the original's steps).
        """
        installs: dict[str, dict[str, Any]] = {
            "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
            "diagnosis": {"lines": False, "stats": True},  # -q
            "lines": {"output": os.devnull},
            "events": {"output": os.devnull, "detect_deadlocks": False},
            "spans": {"lines": False, "spans": True, "exporter": "none"},
            "uninstalled": {"lines": False, "stats": True},
        }
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            ((), {"timeout": Decimal(-1)}),
            ((True, Fraction(-1)), {}),
            ((False, Decimal(-1)), {}),
            ((), {"timeout": -1.0}),
            ((False, -1.0), {}),
            ((), {"timeout": _Forever.FOREVER}),
            ((True, _MinusOne(-1.0)), {}),
            ((), {"timeout": _Indexed()}),
            ((False, _Indexed()), {}),
            ((), {"timeout": _Seconds(-1.0)}),
            ((), {"timeout": _Seconds(-5.0)}),
            ((), {"timeout": _Seconds(5.0)}),
            ((), {"timeout": -0.9999999999}),  # -1 s to the lock: rounded away from zero
            ((), {"timeout": -0.999999999}),
            ((_Truthless(), -1.0), {}),
            ((_Truthless(), _Forever.FOREVER), {}),
            ((), {"timeout": _StaticIndex()}),
            ((), {"timeout": _IndexOnlyOnTheMetaclass()}),
            ((), {"timeout": _GivesAClaim()}),
            ((), {"timeout": _SlotIndex()}),
            ((), {"timeout": _ClaimsToBeAnInt()}),  # as a MagicMock(spec=int) does
        ]
        uninstalled = mode == "uninstalled"
        _compare_acquires(factory_name, installs[mode], calls, uninstalled)

    @pytest.mark.parametrize("mode", ["statistics", "diagnosis", "lines", "events", "spans"])
    def test_a_timeout_of_the_programs_own_type_on_a_taken_lock(
        self, factory_name: str, mode: str, tmp_path: Path
    ) -> None:
        """
        On a lock another thread holds, a timeout of the program's own number type (an
        IntEnum, a float subclass) is read as the lock reads it, none of its methods called:
        a short one times out, a negative one raises, a zero one is a trylock that found the
        lock taken ("busy"), not a wait that timed out. A ``blocking`` the lock reads as
        "do not wait" (before 3.12 through ``__index__``, though its truth value is true)
        does not wait either, its ``__index__`` read once, as the lock reads it.
        """
        lines = tmp_path / "lines.log"
        installs: dict[str, dict[str, Any]] = {
            "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
            "diagnosis": {"lines": False, "stats": True},
            "lines": {"output": str(lines)},
            "events": {"output": os.devnull, "detect_deadlocks": False},
            "spans": {"lines": False, "spans": True, "exporter": "none"},
        }
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            ((), {"timeout": t}) for t in (_Seconds(0.01), _Seconds(-5.0), _Zero.NOW, _Seconds(0.0))
        ]
        calls.append(((_NoWait(),), {}))
        held = threading.Event()
        done = threading.Event()

        def hold(lock: Any) -> None:
            with lock:
                held.set()
                done.wait(10)

        original = syncscope.get_original("threading", factory_name)()
        thread = start_thread(hold, original)
        assert held.wait(10)
        _Indexed.reads = 0
        expected = [_answer(original.acquire, *args, **kwargs) for args, kwargs in calls]
        reads = _Indexed.reads
        done.set()
        join(thread)
        held.clear()
        done.clear()
        syncscope.install(**installs[mode])
        try:
            ours = getattr(threading, factory_name)()
            thread = start_thread(hold, ours)
            assert held.wait(10)
            _Indexed.reads = 0
            actual = [_answer(ours.acquire, *args, **kwargs) for args, kwargs in calls]
            done.set()
            join(thread)
        finally:
            syncscope.uninstall()
        assert (expected, reads) == (actual, _Indexed.reads)
        answers = [a if type(a) is bool else a[0] for a in actual]
        assert [False, ValueError, False, False, False] == answers
        if mode == "lines":
            said = [line for line in lines.read_text().splitlines() if "by MainThread" in line]
            assert 1 == sum("timed out" in line for line in said), said  # the 0.01 s one
            assert 3 == sum("busy" in line for line in said), said  # the two of 0, _NoWait

    @pytest.mark.parametrize("mode", ["statistics", "diagnosis", "lines", "events", "spans"])
    def test_a_deprecation_warning_of_the_lock_is_said_at_the_programs_line(
        self, factory_name: str, mode: str
    ) -> None:
        """
        A timeout (and before 3.12 a ``blocking``) whose ``__index__`` gives an int subclass:
        the lock warns (DeprecationWarning) at the line that called ``acquire``, where the
        default filters show it to a script. The proxy's warning is the same, said there too,
        not at a line of syncscope's.
        """
        installs: dict[str, dict[str, Any]] = {
            "statistics": {"lines": False, "stats": True, "detect_deadlocks": False},
            "diagnosis": {"lines": False, "stats": True},
            "lines": {"output": os.devnull},
            "events": {"output": os.devnull, "detect_deadlocks": False},
            "spans": {"lines": False, "spans": True, "exporter": "none"},
        }
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            ((), {"timeout": _IndexGivesSubclass()})
        ]
        if _BLOCKING_IS_INT:
            calls.append(((_IndexGivesSubclass(),), {}))
        for args, kwargs in calls:
            original = syncscope.get_original("threading", factory_name)()
            expected = _warned(original.acquire, *args, **kwargs)
            assert expected[0] is True
            assert [__file__] == [where for _, _, where, _ in expected[1]]
            syncscope.install(**installs[mode])
            try:
                ours = getattr(threading, factory_name)()
                assert (args, expected) == (args, _warned(ours.acquire, *args, **kwargs))
                ours.release()
            finally:
                syncscope.uninstall()

    def test_identity_repr_and_isinstance(self, factory_name: str) -> None:
        """repr, isinstance and the with-statement result match the original."""
        original = syncscope.get_original("threading", factory_name)()
        syncscope.install(output=os.devnull)
        ours = getattr(threading, factory_name)()
        assert isinstance(ours, type(original))
        assert (
            repr(original).split(" at ")[0].split(" owner")[0]
            == repr(ours).split(" at ")[0].split(" owner")[0]
        )
        with original as expected, ours as actual:
            assert expected == actual

    def test_copy_and_pickle_fail_as_on_the_original(self, factory_name: str) -> None:
        """copy.copy, copy.deepcopy and pickle raise exactly what they raise on the original."""
        original = syncscope.get_original("threading", factory_name)()
        syncscope.install(output=os.devnull)
        ours = getattr(threading, factory_name)()
        for operation in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(Exception) as expected:
                operation(original)
            with pytest.raises(Exception) as actual:
                operation(ours)
            assert _outcome(expected) == _outcome(actual)

    def test_a_reducer_registered_for_the_lock_type_applies(
        self, factory_name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        copy and pickle use a reducer the program registered for the lock's own type
        (``copyreg.pickle(_thread.LockType, ...)``, as serializers do) on the proxy too.
        """
        lock_type = type(syncscope.get_original("threading", factory_name)())
        reducer = lambda lock: (_remade, (factory_name,))  # noqa: E731
        monkeypatch.setitem(copyreg.dispatch_table, lock_type, reducer)
        syncscope.install(output=os.devnull)
        holder = _Holder(getattr(threading, factory_name)())
        for operation in (copy.deepcopy, lambda obj: pickle.loads(pickle.dumps(obj))):
            _REMADE.clear()
            again = operation(holder)
            assert 10 == again.value
            assert [factory_name] == _REMADE  # by the program's reducer
            assert type(again.lock) is lock_type

    def test_dill_pickles_it_as_it_pickles_the_original(self, factory_name: str) -> None:
        """dill knows the locks by their type: the proxies are pickled the same way."""
        dill = pytest.importorskip("dill")
        syncscope.install(output=os.devnull)
        lock = getattr(threading, factory_name)()
        lock.acquire()
        try:
            again = dill.loads(dill.dumps({"lock": lock}))["lock"]
        finally:
            lock.release()
        assert isinstance(again, type(syncscope.get_original("threading", factory_name)()))
        if factory_name == "Lock":  # held when pickled: held again (an RLock, by its owner)
            assert again.locked()

    def test_the_factory_pickles_by_its_name(self, factory_name: str) -> None:
        """
        ``threading.Lock`` itself pickles while replaced (a spawned ``Manager()`` pickles its
        registry, which holds it), comes back as itself, and as the original where syncscope
        is not installed.
        """
        syncscope.install(output=os.devnull)
        factory = getattr(threading, factory_name)
        data = pickle.dumps(factory)
        assert factory is pickle.loads(data)
        syncscope.uninstall()
        assert syncscope.get_original("threading", factory_name) is pickle.loads(data)

    def test_dropped_lock_is_collected(self, factory_name: str) -> None:
        """syncscope keeps no reference to the locks it watches."""
        syncscope.install(output=os.devnull)
        lock = getattr(threading, factory_name)()
        with lock:
            pass
        ref = weakref.ref(lock)
        del lock
        gc.collect()
        assert ref() is None

    def test_at_fork_reinit(self, factory_name: str) -> None:
        """_at_fork_reinit resets a held lock, as threading does after fork."""
        syncscope.install(output=os.devnull)
        lock = getattr(threading, factory_name)()
        lock.acquire()
        lock._at_fork_reinit()
        assert lock.acquire(False)
        lock.release()


class TestRLock:
    def test_reentrancy_is_reported_with_depth(self, capture: Capture) -> None:
        """Nested acquires and releases report their depth."""
        capture.install()
        rlock = threading.RLock()
        with rlock, rlock:
            pass
        assert [
            "rlock acquired by MainThread",
            "rlock acquired by MainThread (depth 2)",
            "rlock released by MainThread (depth 1)",
            "rlock released by MainThread",
        ] == capture.messages()

    def test_release_by_a_non_owner(self, capture: Capture) -> None:
        """RuntimeError as from the original, and the lock stays held by its owner."""
        capture.install()
        rlock = threading.RLock()
        rlock.acquire()
        errors: list[tuple[type, str]] = []

        def release() -> None:
            try:
                rlock.release()
            except RuntimeError as exc:
                errors.append((type(exc), str(exc)))

        join(start_thread(release))
        original = original_rlock()
        with pytest.raises(RuntimeError) as expected:
            original.release()
        assert [_outcome(expected)] == errors
        assert rlock._is_owned()
        rlock.release()

    def test_condition_protocol(self) -> None:
        """_is_owned, _release_save and _acquire_restore behave as on the C RLock."""
        syncscope.install(output=os.devnull)
        rlock = threading.RLock()
        assert not rlock._is_owned()
        rlock.acquire()
        rlock.acquire()
        assert rlock._is_owned()
        assert 2 == rlock._recursion_count()
        state = rlock._release_save()
        assert not rlock._is_owned()
        rlock._acquire_restore(state)
        assert 2 == rlock._recursion_count()
        rlock.release()
        rlock.release()


class TestWhatIsWatched:
    def test_locks_created_before_install_are_left_alone(self, capture: Capture) -> None:
        """A lock created before install stays the original type and is not reported."""
        before = threading.Lock()
        capture.install()
        assert type(before) is type(original_lock())
        with before:
            pass
        assert [] == capture.events()

    def test_library_locks_are_raw(self, capture: Capture) -> None:
        """Locks the standard library creates for itself are not wrapped at all."""
        import queue

        capture.install()
        q = queue.Queue()
        assert type(q.mutex) is type(original_lock())
        thread = start_thread(lambda: None)
        join(thread)
        assert [] == capture.events()

    def test_include_library(self, capture: Capture) -> None:
        """With include_library, the standard library's own primitives are reported too."""
        import queue

        capture.install(include_library=True)
        q = queue.Queue()
        assert type(q.mutex) in PROXY_TYPES
        join(start_thread(lambda: None))
        assert any(e["kind"] == "event" for e in capture.events())

    def test_a_package_claimed_as_the_users_has_its_locks_watched(
        self, capture: Capture, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        A package's lock, made at a call first seen with ``--all`` (its creating call then
        remembered as the library's), is watched without it once the package is claimed as
        the user's (what ``python -m syncscope -m package`` does), and left alone again when
        the claim is withdrawn: the remembered calls go with the verdicts.
        """
        from syncscope._core import sites

        (tmp_path / "lockmaker.py").write_text(
            "import threading\n\ndef make():\n    return threading.Lock()\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        prefixes = (*sites.LIBRARY_PREFIXES, str(tmp_path) + os.sep)
        monkeypatch.setattr(sites, "LIBRARY_PREFIXES", prefixes)
        monkeypatch.setattr(sites, "_user_prefixes", ())
        sites.forget_verdicts()
        monkeypatch.delitem(sys.modules, "lockmaker", raising=False)
        import lockmaker

        try:
            capture.install(include_library=True)
            assert type(lockmaker.make()) in PROXY_TYPES
            syncscope.uninstall()
            capture.install()
            assert type(lockmaker.make()) is type(original_lock())
            syncscope.uninstall()
            sites.add_user_path(lockmaker.__file__)
            capture.install()
            assert type(lockmaker.make()) in PROXY_TYPES
            syncscope.uninstall()
            sites._user_prefixes = ()
            sites.forget_verdicts()
            capture.install()
            assert type(lockmaker.make()) is type(original_lock())
        finally:
            monkeypatch.undo()
            sites.forget_verdicts()

    def test_lock_as_class_attribute(self, capture: Capture) -> None:
        """A lock stored on a class and used through instances is reported under its name."""
        capture.install()

        class Account:
            lock = threading.Lock()

        first, second = Account(), Account()
        with first.lock:
            pass
        with second.lock:
            pass
        assert ["lock"] * 4 == [e["name"] for e in capture.events()]

    def test_kinds_filter(self, capture: Capture) -> None:
        """Only the kinds asked for are watched."""
        capture.install(kinds=["rlock"])
        assert type(threading.Lock()) is type(original_lock())
        assert type(threading.RLock()) in PROXY_TYPES


class TestInterrupts:
    def test_keyboard_interrupt_during_a_blocked_acquire(self, capture: Capture) -> None:
        """Ctrl-C in a blocked acquire raises KeyboardInterrupt, and reporting goes on after."""
        capture.install()
        lock = threading.Lock()
        lock.acquire()
        main = threading.main_thread().ident
        assert main is not None

        def interrupt() -> None:
            signal.pthread_kill(main, signal.SIGINT)

        # Ctrl-C as a terminal gives it, even to a suite run in the background (whose
        # processes start with SIGINT ignored).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with pytest.raises(KeyboardInterrupt):
                start_thread(interrupt)
                lock.acquire(timeout=10)
        finally:
            signal.signal(signal.SIGINT, previous)
        lock.release()
        with lock:
            pass
        assert ["acquired", "released"] == [e["outcome"] for e in capture.events()][-2:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_keeps_working(capture: Capture) -> None:
    """After os.fork the child uses watched locks and reports, and exits normally."""
    capture.install()
    lock = threading.Lock()
    pid = os.fork()
    if pid == 0:  # the child: exit with 0 only if everything works
        try:
            with lock:
                pass
            code = 0 if lock.acquire(False) else 1
        finally:
            os._exit(locals().get("code", 2))
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert ["acquired", "released", "acquired"] == [e["outcome"] for e in capture.events()]


@pytest.mark.skipif(
    not isinstance(syncscope.get_original("threading", "Lock"), type),
    reason="threading.Lock is a class from 3.13 on",
)
def test_isinstance_against_threading_lock() -> None:
    """On 3.13+, isinstance(x, threading.Lock) holds for raw and instrumented locks alike."""
    raw = threading.Lock()
    syncscope.install(output=os.devnull)
    ours = threading.Lock()
    assert isinstance(ours, threading.Lock)
    assert isinstance(raw, threading.Lock)
    assert not isinstance(object(), threading.Lock)


class TestCallSites:
    """Each line names the user's call: the function and line that called, never syncscope's."""

    def test_two_functions_alike_each_get_their_own_site(self, capture: Capture) -> None:
        """The same instruction in two functions of one shape: two sites, each one's own line."""
        capture.install()
        lock = threading.Lock()

        def first() -> None:
            lock.acquire()
            lock.release()

        def second() -> None:
            lock.acquire()
            lock.release()

        for call in (first, second, first, second):
            call()
        sites = [(e["function"], e["line"]) for e in capture.events()]
        first_line = first.__code__.co_firstlineno
        second_line = second.__code__.co_firstlineno
        expected_first = [("first", first_line + 1), ("first", first_line + 2)]
        expected_second = [("second", second_line + 1), ("second", second_line + 2)]
        assert (expected_first + expected_second) * 2 == sites

    def test_through_threading_the_site_is_the_users(self, capture: Capture) -> None:
        """`with cond:` on a Condition over a user's lock: the site is the with, not threading."""
        capture.install()
        lock = threading.Lock()
        cond = threading.Condition(lock)
        with cond:
            line = _this_line()
        functions = {e["function"] for e in capture.events()}
        lines = {e["line"] for e in capture.events()}
        assert {"test_through_threading_the_site_is_the_users"} == functions
        assert {line - 1} == lines


def _this_line() -> int:
    """The line of the caller's call."""
    import sys

    return sys._getframe(1).f_lineno


class TestAcquireWithTimeoutZero:
    """
    ``acquire(timeout=0)`` is a try-lock in CPython (it never waits): a lock or semaphore
    found taken is busy, as with ``acquire(False)``, not a wait that timed out, and no
    contention.
    """

    PROGRAM = """
        import threading
        lock = threading.Lock()
        probe = threading.Semaphore(0)
        lock.acquire()
        print(lock.acquire(timeout=0), probe.acquire(timeout=0), lock.acquire(True, 0.0))
        lock.release()
        """

    def test_the_lines_say_busy(self, tmp_path: Path) -> None:
        result = run_syncscope(str(script(tmp_path, self.PROGRAM)))
        assert (0, "False False False\n") == (result.returncode, result.stdout), result.stderr
        lines = result.stderr.splitlines()
        assert 2 == lines.count("lock busy, acquire failed by MainThread"), lines
        assert 1 == lines.count("semaphore probe busy, acquire failed by MainThread"), lines
        assert not [line for line in lines if "wait" in line or "timed out" in line], lines

    def test_no_contention_under_q(self, tmp_path: Path) -> None:
        result = run_syncscope(
            "-q", "--report-json", str(tmp_path / "r.json"), str(script(tmp_path, self.PROGRAM))
        )
        assert (0, "False False False\n") == (result.returncode, result.stdout), result.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        lock = next(p for p in report["primitives"] if p["name"] == "lock")
        assert (0, 0, 2) == (lock["contended"], lock["timeouts"], lock["failed"]), lock
