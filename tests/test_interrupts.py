"""
A Ctrl-C cannot leave the program's lock held between the real acquire and the wrapper
knowing it has the lock (see _intercept/interrupts), checked where it is decided: in the
bytecode this Python compiles the wrappers to.

CPython runs a pending signal handler only at certain instructions: after a call, at a
function's start, at a jump backward. So from the instruction that takes the lock (a for
loop's next item, or the return of ``take``) to the first such instruction on the path where
the lock was taken, the path must either return the answer to the program, or reach that
instruction inside a ``try`` whose handler releases the lock (or the instruction must be the
call to ``release`` itself). A timing test would need thousands of interrupts landing within
a few instructions (``benchmarks/interrupts.py`` does that); this one fails at once when the
compiler or an edit lays the code out otherwise.

A Ctrl-C that lands while a wrapper notes the hold (once the lock is taken, or before it is
released) must leave no hold behind in the model the watchdog reads: the last tests raise it
there, as a signal handler does where a C call returns.
"""

from __future__ import annotations

import _thread
import dis
import gc
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest

import syncscope
from syncscope._core import registry, signals
from syncscope._core.dispatch import guard
from syncscope._core.state import counters, state
from syncscope._intercept import gil, interrupts, lean, lockpaths, locks, queues
from syncscope._sinks.lockorder import LockOrder


#: The instructions where CPython may run a signal handler (3.11 to 3.13).
SIGNAL_CHECKS = ("CALL", "PRECALL", "RESUME", "JUMP_BACKWARD", "POP_JUMP_BACKWARD")
#: What lets the lock go: its release, or the order graph's ``_leave`` (see ``_enter``).
RELEASED = {"release", "_leave"}
#: What an acquire's answer is called in the wrappers.
ANSWERS = ("got", "owned")

ACQUIRES = {
    "Lock.acquire": locks._LockProxy.acquire,
    "Lock.__enter__": locks._LockProxy.__enter__,
    "Lock._is_owned": locks._LockProxy._is_owned,
    "RLock.acquire": locks._RLockProxy.acquire,
    "RLock.__enter__": locks._RLockProxy.__enter__,
    "slow_acquire": lockpaths.slow_acquire,
    "acquire_slowly": lean.acquire_slowly,
    "_acquire_as_asked": lean._acquire_as_asked,
    "observed_acquire": lockpaths.observed_acquire,
    "recorded_acquire": lockpaths.recorded_acquire,
    "counted_acquire": lockpaths.counted_acquire,
    "acquire_contended": gil.acquire_contended,
    "take": interrupts.take,
    # syncscope's own lock that the program's threads contend for: left held, it would stop
    # every thread that checks the lock order next.
    "take_shared": registry.take_shared,
    "LockOrder._enter": LockOrder._enter,
    # Its callers: _enter's answer, then their try, whose handler lets go (_leave).
    "LockOrder.same_site_pair": LockOrder.same_site_pair,
    "LockOrder._new_edge": LockOrder._new_edge,
    "LockOrder._narrow": LockOrder._narrow,
    "LockOrder.let_go": LockOrder.let_go,
}
#: The releases that say their line first: whether the thread may release comes as an item.
RELEASES = {
    "Lock.release": locks._LockProxy.release,
    "Lock.__exit__": locks._LockProxy.__exit__,
    "RLock.release": locks._RLockProxy.release,
    "RLock.__exit__": locks._RLockProxy.__exit__,
    "said_release": lockpaths.said_release,
    "reported_release": lockpaths.reported_release,
    "recorded_release": lockpaths.recorded_release,
}


def _starts(instructions: list[dis.Instruction]) -> list[int]:
    """Where the lock is taken: a for loop's next item from the attempts (or from a map of
    the lock's acquire), or the return of a call to take() or acquire_contended()."""
    found = []
    for n, ins in enumerate(instructions):
        before = {i.argval for i in instructions[max(0, n - 12) : n] if isinstance(i.argval, str)}
        # The owned items as made at a first release (owned_items) or read from the proxy.
        items = {"_syncscope_attempts", "_syncscope_owned", "owned_items", "map"}
        calls = {"take", "acquire_contended", "take_shared", "_enter"}
        wanted = items if ins.opname == "FOR_ITER" else calls if ins.opname == "CALL" else set()
        if wanted & before:
            found.append(n + 1)
    return found


def _signal_checks(instructions: list[dis.Instruction], n: int) -> list[dis.Instruction]:
    """The first instructions that may run a signal handler, or that return, on every path
    where the lock was taken (the answer true) from instruction ``n`` on."""
    at = {ins.offset: k for k, ins in enumerate(instructions)}
    ends: list[dis.Instruction] = []
    pending: list[tuple[int, Any]] = [(n, "got")]  # the answer: stored, or on the stack
    seen: set[int] = set()
    while pending:
        n, last_loaded = pending.pop()
        while n not in seen:
            seen.add(n)
            ins = instructions[n]
            name = ins.opname
            if name.startswith(SIGNAL_CHECKS) or name.startswith("RETURN"):
                ends.append(ins)
                break
            if name.startswith("LOAD_FAST"):  # LOAD_FAST_CHECK, LOAD_FAST_LOAD_FAST (a pair)
                last_loaded = ins.argval[-1] if isinstance(ins.argval, tuple) else ins.argval
            if name in ("JUMP_FORWARD", "JUMP", "JUMP_NO_INTERRUPT"):
                n = at[ins.argval]
            elif "JUMP" in name and "_IF_" in name:
                if last_loaded not in ANSWERS:  # a test of something else: either way
                    pending.append((at[ins.argval], last_loaded))
                    n += 1
                else:  # a test of the answer: the lock was taken
                    n = at[ins.argval] if "IF_TRUE" in name else n + 1
            else:
                n += 1
    return ends


def _handler(code_function: FunctionType, offset: int) -> list[Any]:
    """What the innermost handler for ``offset`` loads and calls, up to its re-raise."""
    bytecode = dis.Bytecode(code_function)
    table = bytecode.exception_entries  # type: ignore[attr-defined]
    entries = [e for e in table if e.start <= offset < e.end]
    if not entries:
        return []
    target = max(entries, key=lambda e: e.start).target
    loaded = []
    for ins in bytecode:
        if ins.offset < target:
            continue
        if ins.opname == "RERAISE":
            break
        loaded.append(ins.argval)
    return loaded


def _check(function: FunctionType) -> None:
    instructions = list(dis.get_instructions(function))
    starts = _starts(instructions)
    assert starts, "no acquire found: the test no longer sees the code it checks"
    for start in starts:
        for end in _signal_checks(instructions, start):
            if end.opname.startswith("RETURN"):
                continue  # the answer goes back to the caller, unchecked
            index = instructions.index(end)
            just_before = [i.argval for i in instructions[max(0, index - 4) : index]]
            if RELEASED & set(just_before):
                continue  # the first call is the release itself
            handler = _handler(function, end.offset)
            assert RELEASED & set(handler), (
                f"a signal handler may run at offset {end.offset} ({end.opname}, line "
                f"{end.positions.lineno if end.positions else '?'}) with the lock taken and "
                f"no handler that releases it"
            )


@pytest.mark.parametrize("name", list(ACQUIRES))
def test_no_signal_between_the_acquire_and_its_try(name: str) -> None:
    _check(ACQUIRES[name])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(RELEASES))
def test_a_release_said_first_happens_whatever_comes_in_its_line(name: str) -> None:
    _check(RELEASES[name])  # type: ignore[arg-type]


def test_the_check_finds_the_gap_it_looks_for() -> None:
    """The old way, ``if lock.acquire(False): try:``, has a signal check outside the try."""

    def old_way(lock: Any) -> bool:
        for got in map(lock.acquire, (False,)):  # noqa: B007 (one item)
            break
        if got:
            lock.locked()  # a call before the try: a Ctrl-C here leaves the lock held
            try:
                lock.locked()
            except BaseException:
                lock.release()
                raise
            return True
        return False

    with pytest.raises(AssertionError, match="no handler that releases it"):
        _check(old_way)  # type: ignore[arg-type]


@contextmanager
def _interrupted(module: ModuleType, name: str, before: bool = False) -> Iterator[None]:
    """
    A Ctrl-C at the next return of ``module``'s call ``name`` (simulated): raised as the
    call returns, where CPython runs a pending signal handler; or, ``before``, as it begins
    (a Python function's start, or a loop's turn in it, checks for signals too).
    """
    real = getattr(module, name)
    armed = [True]

    def call(*args: Any) -> Any:
        if armed and before:
            armed.clear()
            raise KeyboardInterrupt
        result = real(*args)
        if armed:
            armed.clear()
            raise KeyboardInterrupt
        return result

    setattr(module, name, call)
    try:
        yield
    finally:
        setattr(module, name, real)
    assert not armed, f"{module.__name__}.{name} was not called: the test missed its spot"


def _enter(lock: Any) -> None:
    lock.__enter__()


def _timed(lock: Any) -> None:
    lock.acquire(timeout=5)  # acquire_slowly: a trylock first, then the hold noted


#: How an acquire takes the lock, and the module whose call to nested() it makes once the
#: hold is on the thread's chain (over a lock held below it).
ACQUIRED_WAYS: dict[str, tuple[Callable[[Any], Any], ModuleType]] = {
    "acquire()": (lambda lock: lock.acquire(), locks),
    "with": (_enter, locks),
    "acquire(timeout=5)": (_timed, lean),
}


def _free_everywhere(lock: Any, recorder: Any, name: str = "lock") -> None:
    """``lock`` is free, and no thread holds anything in the watchdog's model, also after
    the lock is used again the usual way (the next hold is noted whole)."""
    assert not (lock._is_owned() if lock._reentrant else lock.locked())
    assert {} == recorder.holds.snapshot().held
    below = threading.Lock()
    with below, lock:
        held = recorder.holds.snapshot().held[threading.get_ident()]
        assert [hold.primitive.name for hold in held] == ["below", name]
    assert {} == recorder.holds.snapshot().held


@pytest.mark.parametrize("way", list(ACQUIRED_WAYS))
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_a_ctrl_c_as_the_hold_is_noted_leaves_no_hold(kind: str, way: str) -> None:
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    recorder = state.sinks[-1]
    lock = getattr(threading, kind)()
    other = threading.Lock()
    with lock:  # adopted: the next acquire takes the fast path
        pass
    take, module = ACQUIRED_WAYS[way]
    with other:
        with _interrupted(module, "nested"), pytest.raises(KeyboardInterrupt):
            take(lock)
        held = recorder.holds.snapshot().held[threading.get_ident()]
        assert [hold.primitive.name for hold in held] == ["other"]
    _free_everywhere(lock, recorder)


def test_a_ctrl_c_as_a_reported_get_begins_leaves_the_guard_down() -> None:
    """
    On the event path (the lines with the report), a Ctrl-C at the get's first timing left
    the guard up for its thread for good: every later operation of the thread went unseen.
    """
    syncscope.install(output=os.devnull, report=True, detect_deadlocks=False)
    assert state.lean is None  # the event path
    q = queue.Queue()
    q.put(1)
    with _interrupted(queues, "perf_counter_ns"), pytest.raises(KeyboardInterrupt):
        q.get()
    assert not guard.busy
    assert guard.pending_get is None
    assert 1 == q.get(timeout=10)  # the item is still there: the get never began


@pytest.mark.parametrize("spot", ["perf_counter_ns", "get_ident"])
@pytest.mark.parametrize("way", ["release()", "with"])
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_a_ctrl_c_as_the_hold_ends_leaves_no_hold(kind: str, way: str, spot: str) -> None:
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    recorder = state.sinks[-1]
    lock = getattr(threading, kind)()
    with lock:  # adopted: the next acquire takes the fast path
        pass
    # The Lock's release notes the end itself; the RLock's calls hold_ended.
    module = locks if kind == "Lock" else lean
    lock.acquire()
    with _interrupted(module, spot), pytest.raises(KeyboardInterrupt):
        if way == "with":
            lock.__exit__(None, None, None)
        else:
            lock.release()
    _free_everywhere(lock, recorder)


def test_a_ctrl_c_in_an_inner_acquire_of_an_rlock_leaves_the_outer_hold() -> None:
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    recorder = state.sinks[-1]
    rlock = threading.RLock()
    with rlock:
        with _interrupted(lean, "_acquired"), pytest.raises(KeyboardInterrupt):
            rlock.acquire(timeout=5)
        assert 1 == rlock._recursion_count()
        held = recorder.holds.snapshot().held[threading.get_ident()]
        assert [hold.primitive.name for hold in held] == ["rlock"]
    _free_everywhere(rlock, recorder, "rlock")


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_a_ctrl_c_in_a_release_out_of_order_leaves_no_hold(kind: str) -> None:
    """Released before a lock taken after it: taken out of the chain's middle (unlink)."""
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    recorder = state.sinks[-1]
    lock = getattr(threading, kind)()
    above = threading.Lock()
    with lock:  # adopted: the next acquire takes the fast path
        pass
    lock.acquire()
    above.acquire()
    with _interrupted(lean, "unlink", before=True), pytest.raises(KeyboardInterrupt):
        lock.release()
    held = recorder.holds.snapshot().held[threading.get_ident()]
    assert [hold.primitive.name for hold in held] == ["above"]
    above.release()
    _free_everywhere(lock, recorder)


MODES: dict[str, dict[str, Any]] = {
    "-q": {"lines": False, "stats": True, "detect_deadlocks": True},
    "lines": {"format": "console", "output": "/dev/null"},
    "spans": {"lines": False, "spans": True, "exporter": "none"},
    # The span sink alone under pressure: its uses counted in place (counted_release).
    "spans, counted": {"lines": False, "spans": True, "exporter": "none"},
    # Two outputs: every operation an event (reported_release).
    "lines and spans": {
        "format": "console",
        "output": "/dev/null",
        "spans": True,
        "exporter": "none",
    },
}


@pytest.fixture
def python_handles_ctrl_c() -> Iterator[None]:
    """SIGINT at python's own handler, as a terminal's Ctrl-C finds it (a background run
    starts with it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_handles_ctrl_c")
@pytest.mark.parametrize("way", ["release", "__exit__"])
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
@pytest.mark.parametrize("mode", list(MODES))
def test_a_ctrl_c_as_a_release_begins_comes_after_it(mode: str, kind: str, way: str) -> None:
    """
    A Ctrl-C pending as ``release()`` or ``__exit__`` begins (python runs its handler at a
    function's start) is put off until the release is under way: the program gets its
    KeyboardInterrupt, at its own line, and the lock is free.
    """
    syncscope.install(**MODES[mode])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as the program sees it
    lock = getattr(threading, kind)()
    with lock:  # adopted: the next acquire takes the fast path
        pass
    if mode == "spans, counted":
        records = state.records
        assert records is not None
        records.counting = True
    lock.acquire()
    if mode == "spans, counted":
        assert records.taken, "the use is not counted in place: the test misses its path"
    with pytest.raises(KeyboardInterrupt) as interrupted:
        # Made pending as an item, which no signal check follows: python handles it at the
        # next check, the release's start (a test and a jump do not check).
        for _ in map(_thread.interrupt_main, [signal.SIGINT]):
            if way == "release":
                lock.release()
            else:
                lock.__exit__(None, None, None)
    assert not (lock._is_owned() if kind == "RLock" else lock.locked())
    frames = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(interrupted.tb)]
    assert __file__ in frames
    syncscope.uninstall()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("python_handles_ctrl_c")
def test_the_program_sets_its_own_ctrl_c_handler() -> None:
    """The program's own SIGINT handler replaces syncscope's; python's, set back, does not."""
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    ours = signal.getsignal.__wrapped__(signal.SIGINT)  # type: ignore[attr-defined]
    assert ours is not signal.default_int_handler

    def handler(signum: int, frame: Any) -> None:
        pass

    assert signal.signal(signal.SIGINT, handler) is signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is handler
    assert signal.signal(signal.SIGINT, signal.default_int_handler) is handler
    assert signal.getsignal.__wrapped__(signal.SIGINT) is ours  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, handler)
    syncscope.uninstall()  # the program's own stays, and python's is python's again
    assert signal.getsignal(signal.SIGINT) is handler
    assert signal.signal(signal.SIGINT, signal.default_int_handler) is handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not hasattr(signal.getsignal, "__wrapped__")


class _Alarm(Exception):
    """What the program's own SIGALRM handler raises: a timeout of its own."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm


def _on_alarm_once(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # one-shot: no longer set as it raises
    raise _Alarm


@pytest.fixture
def alarm_raises() -> Iterator[None]:
    """The program's SIGALRM handler raises, as a timeout made with ``setitimer`` does."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


ALARM_MODES = {**MODES, "json lines": {"format": "json"}}


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """
    No collection of the garbage earlier tests left: a weakref callback it runs (a WeakSet's)
    is where python would run the handler too, and lose its exception (unraisable), with or
    without syncscope.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("alarm_raises")
@pytest.mark.parametrize("handler", [_on_alarm, _on_alarm_once], ids=["raises", "one-shot"])
@pytest.mark.parametrize("mode", list(ALARM_MODES))
def test_the_programs_own_handler_raises_where_python_would(
    mode: str, handler: Callable[[int, Any], None], tmp_path: Path
) -> None:
    """
    A handler of the program's own that raises lands wherever the program is, syncscope's
    code included: as ``with lock:`` ends (python runs it at ``__exit__``'s start, before the
    release), as the line is written. Each time, the program gets the exception, with its
    own frames only, and the lock is free; none is taken for an output that failed.
    """
    options = dict(ALARM_MODES[mode])
    if "output" in options or "format" in options:
        options["output"] = str(tmp_path / "lines")  # a file: its writes take a while
    syncscope.install(**options)
    assert signal.getsignal(signal.SIGALRM) is _on_alarm  # as the program sees it
    lock = threading.Lock()
    with lock:
        pass
    if mode == "spans, counted":
        records = state.records
        assert records is not None
        records.counting = True
    failures = counters.sink_errors
    for _ in range(60):
        signal.signal(signal.SIGALRM, handler)
        with pytest.raises(_Alarm) as raised, no_garbage_collection():
            signal.setitimer(signal.ITIMER_REAL, 0.0002)
            for _ in range(1_000_000):  # the alarm comes long before the end
                with lock:
                    pass
        assert not lock.locked()
        # From the program's line to its handler. (A handler run at the very start of one of
        # the proxies' methods leaves that method's frame in between: python adds it.)
        codes = [frame.f_code for frame, _ in traceback.walk_tb(raised.tb)]
        assert codes[0] is test_the_programs_own_handler_raises_where_python_would.__code__
        assert codes[-1] is handler.__code__
    assert counters.sink_errors == failures
    signal.signal(signal.SIGALRM, _on_alarm)
    syncscope.uninstall()
    assert signal.getsignal(signal.SIGALRM) is _on_alarm


def test_the_programs_handlers_are_its_own_to_see() -> None:
    """
    While syncscope wraps the program's handlers, ``getsignal()`` and ``signal()`` say the
    program's own: set before install or after, given back as the handler replaced; after
    uninstall, the program's own are in place again.
    """

    def before(signum: int, frame: Any) -> None:
        pass

    def after(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGUSR1, before)
    try:
        syncscope.install(lines=False, stats=True, detect_deadlocks=True)
        assert signal.getsignal(signal.SIGUSR1) is before
        assert signal.getsignal.__wrapped__(signal.SIGUSR1) is not before  # type: ignore[attr-defined]
        assert signal.signal(signal.SIGUSR1, after) is before
        assert signal.getsignal(signal.SIGUSR1) is after
        assert signal.signal(signal.SIGUSR1, signal.SIG_IGN) is after
        assert signal.signal(signal.SIGUSR1, after) == signal.SIG_IGN
        syncscope.uninstall()
        assert signal.getsignal(signal.SIGUSR1) is after
        assert not hasattr(signal.getsignal, "__wrapped__")
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_handler_put_off_writes_no_second_byte_to_the_wakeup_fd() -> None:
    """
    With a wakeup fd set (as asyncio sets one), a signal landing as a release begins is put
    off past it without a second byte to the fd, which would make the event loop run its
    callback twice: the handler runs once, and the fd has one byte.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    os.set_blocking(read_end, False)
    calls: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGUSR1, handler)
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)  # seen set
    try:
        lock = threading.Lock()
        lock.acquire()
        # Pending as the release begins (see test_a_ctrl_c_as_a_release_begins_comes_after_it).
        for _ in map(_thread.interrupt_main, [signal.SIGUSR1]):  # type: ignore[arg-type]
            lock.release()
        for _ in range(3):  # python's next checks: a second trip would run the handler again
            with lock:
                pass
        assert calls == [signal.SIGUSR1]
        assert os.read(read_end, 100) == bytes([signal.SIGUSR1])
        assert not lock.locked()
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous)
        os.close(read_end)
        os.close(write_end)


def _installed_then_uninstalled_from_another_thread() -> None:
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    done = threading.Event()
    elsewhere = threading.Thread(target=lambda: (syncscope.uninstall(), done.set()))
    elsewhere.start()
    elsewhere.join(timeout=30)
    assert done.is_set()


def test_an_uninstall_from_another_thread_leaves_one_wrapper() -> None:
    """
    An uninstall from another thread cannot give the program's handlers back (only the main
    thread may set one): the wrappers stay, still saying the program's own, and the next
    install on the main thread does not wrap them twice.
    """
    calls: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        _installed_then_uninstalled_from_another_thread()
        assert signal.getsignal(signal.SIGUSR1) is handler
        syncscope.install(lines=False, stats=True, detect_deadlocks=True)
        assert signal.getsignal(signal.SIGUSR1) is handler
        installed = signal.getsignal.__wrapped__(signal.SIGUSR1)  # type: ignore[attr-defined]
        installed(signal.SIGUSR1, None)  # the wrapper: the program's handler, once
        assert calls == [signal.SIGUSR1]
        assert signal.signal(signal.SIGUSR1, signal.SIG_DFL) is handler
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_after_an_uninstall_from_another_thread_new_handlers_are_set_as_they_are() -> None:
    """
    Past an uninstall from another thread, a handler the main thread sets is the program's
    own, called from the program's frame: no wrapper of syncscope's runs it any more.
    """
    frames: list[Any] = []

    def handler(signum: int, frame: Any) -> None:
        frames.append(sys._getframe(1))

    previous = signal.getsignal(signal.SIGUSR2)
    try:
        _installed_then_uninstalled_from_another_thread()
        signal.signal(signal.SIGUSR2, handler)
        assert signals.getsignal_original(signal.SIGUSR2) is handler  # as set, in C
        here = sys._getframe()
        signal.raise_signal(signal.SIGUSR2)
        assert frames == [here]
    finally:
        signal.signal(signal.SIGUSR2, previous)
        _uninstall_on_the_main_thread()


def _uninstall_on_the_main_thread() -> None:
    """What an uninstall from another thread leaves (the Ctrl-C stand-in, the signal module's
    functions) taken back, as the main thread's next uninstall takes it."""
    syncscope.install(lines=False)
    syncscope.uninstall()


def test_handlers_set_as_another_thread_uninstalls_stay_the_programs() -> None:
    """
    While another thread uninstalls, the main thread's ``signal.signal()`` never fails, and
    ``signal.getsignal()`` never shows a wrapper of syncscope's in the program's place. A
    race, run many times (each lost run failed about one in ten before): no run can fail
    when the behaviour is right, whatever the machine's load.
    """

    def handler(signum: int, frame: Any) -> None:
        pass

    errors: list[BaseException] = []
    shown: list[Any] = []
    previous_usr1 = signal.getsignal(signal.SIGUSR1)
    # Not python's own SIGINT handler: no Ctrl-C stand-in keeps the signal module wrapped.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(300):
            syncscope.install(lines=False, stats=True, detect_deadlocks=True)
            elsewhere = threading.Thread(target=syncscope.uninstall)
            elsewhere.start()
            last: Any = signal.SIG_DFL
            while elsewhere.is_alive():
                last = handler if last is signal.SIG_DFL else signal.SIG_DFL
                try:
                    signal.signal(signal.SIGUSR1, last)
                except Exception as exc:  # what the program would get
                    errors.append(exc)
            elsewhere.join(timeout=30)
            assert not elsewhere.is_alive()
            if signal.getsignal(signal.SIGUSR1) not in (handler, signal.SIG_DFL):
                shown.append(signal.getsignal(signal.SIGUSR1))
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        assert errors == []
        assert shown == []
    finally:
        sys.setswitchinterval(interval)
        signal.signal(signal.SIGUSR1, previous_usr1)
        signal.signal(signal.SIGINT, previous_int)
        _uninstall_on_the_main_thread()


@contextmanager
def _pending_in_signal_signal(number: int, before_it_sets: bool) -> Iterator[None]:
    """
    The next ``signal.signal()`` finds signal ``number`` pending, as one arriving then would
    be: inside the C call, which runs pending handlers before it sets one, or just as it
    returns, which python runs at its next check. The C function the ``signal`` module calls
    is swapped for the one call (python's own checks run the handler, not this helper).
    """
    import _signal  # type: ignore[import-not-found]

    real = _signal.signal

    def once(signalnum: int, handler: Any) -> Any:
        _signal.signal = real
        if before_it_sets:
            signal.raise_signal(number)  # its handler runs here, in the C call's own check
            return real(signalnum, handler)
        answer = real(signalnum, handler)
        for _ in map(_thread.interrupt_main, [number]):  # no check until the caller's
            return answer
        raise AssertionError("unreachable")

    _signal.signal = once
    try:
        yield
    finally:
        _signal.signal = real


@pytest.mark.parametrize("before_it_sets", [True, False], ids=["before", "after"])
def test_a_handler_that_uninstalls_inside_signal_signal_leaves_what_python_would(
    before_it_sets: bool,
) -> None:
    """
    A one-shot handler of the program's that uninstalls syncscope and sets SIG_IGN, run
    inside the program's own ``signal.signal()``: before the C call sets the new handler,
    python's outcome is the program's new handler; just after, SIG_IGN. Neither a wrapper of
    syncscope's nor the program's handler set again over SIG_IGN.
    """
    calls: list[int] = []

    def once(signum: int, frame: Any) -> None:
        calls.append(signum)
        syncscope.uninstall()
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)

    def handler(signum: int, frame: Any) -> None:
        pass

    previous_usr1 = signal.signal(signal.SIGUSR1, once)
    previous_usr2 = signal.getsignal(signal.SIGUSR2)
    try:
        syncscope.install(lines=False, stats=True)
        with _pending_in_signal_signal(signal.SIGUSR1, before_it_sets):
            signal.signal(signal.SIGUSR2, handler)
        assert calls == [signal.SIGUSR1]
        expected = handler if before_it_sets else signal.SIG_IGN
        assert signals.getsignal_original(signal.SIGUSR2) == expected  # in C: what runs
        assert signal.getsignal(signal.SIGUSR2) == expected
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)
        signal.signal(signal.SIGUSR2, previous_usr2)


@pytest.mark.usefixtures("python_handles_ctrl_c")
@pytest.mark.parametrize("again", [False, True], ids=["uninstalled", "installed again"])
def test_a_handler_that_uninstalls_inside_signal_signal_leaves_no_stand_in(again: bool) -> None:
    """
    The same for SIGINT given back to python's handler, where syncscope stands in for it: a
    handler that uninstalls inside the call leaves python's handler; one that installs again
    leaves what that install sets for it (a wrapper, as the program's handler was in place
    then), never python's handler bare while installed.
    """

    def reinstalls(signum: int, frame: Any) -> None:
        syncscope.uninstall()
        if again:
            syncscope.install(lines=False, stats=True)

    def handler(signum: int, frame: Any) -> None:
        pass

    previous_usr1 = signal.signal(signal.SIGUSR1, reinstalls)
    try:
        syncscope.install(lines=False, stats=True)
        signal.signal(signal.SIGINT, handler)
        with _pending_in_signal_signal(signal.SIGUSR1, before_it_sets=True):
            assert signal.signal(signal.SIGINT, signal.default_int_handler) is handler
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        set_now = signals.getsignal_original(signal.SIGINT)
        if again:
            assert set_now is not signal.default_int_handler  # not bare: the install's own
            assert signals.as_the_program_set_it(signal.SIGINT, set_now) is (
                signal.default_int_handler
            )
        else:
            assert set_now is signal.default_int_handler
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)


def test_signal_signal_says_the_programs_handler_where_an_install_stood_in_meanwhile() -> None:
    """
    A handler that uninstalls and installs syncscope again inside the program's
    ``signal.signal()``, where the new install stands in for python's SIGINT handler: the
    call still returns python's handler, as plain python does, not syncscope's stand-in.
    """

    def reinstalls(signum: int, frame: Any) -> None:
        syncscope.uninstall()
        syncscope.install(lines=False, stats=True)

    def handler(signum: int, frame: Any) -> None:
        pass

    def another(signum: int, frame: Any) -> None:
        pass

    previous_usr1 = signal.signal(signal.SIGUSR1, reinstalls)
    previous_int = signal.signal(signal.SIGINT, handler)  # no stand-in at the first install
    try:
        syncscope.install(lines=False, stats=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with _pending_in_signal_signal(signal.SIGUSR1, before_it_sets=True):
            assert signal.signal(signal.SIGINT, another) is signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is another
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)
        signal.signal(signal.SIGINT, previous_int)


@pytest.mark.usefixtures("python_handles_ctrl_c")
def test_a_ctrl_c_as_a_one_shot_handler_returns_reaches_the_program() -> None:
    """
    A one-shot handler sets its signal back to the default, which drops syncscope's wrapper
    of it, and a Ctrl-C arrives as it returns: the program gets its KeyboardInterrupt.
    Dropping a wrapper runs no code of syncscope's, where python would run the handler and
    lose what it raises.
    """

    def once(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        for _ in map(_thread.interrupt_main, [signal.SIGINT]):  # no check until it returns
            return

    previous = signal.signal(signal.SIGUSR1, once)
    try:
        syncscope.install(lines=False, stats=True)
        signal.signal(signal.SIGUSR1, once)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGUSR1)
            for _ in range(1000):  # python's next checks, as a program's next lines
                pass
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.usefixtures("python_handles_ctrl_c")
def test_a_ctrl_c_put_off_with_a_wakeup_fd_leaves_the_lock_free_and_one_byte() -> None:
    """
    With a wakeup fd set, a Ctrl-C landing as a release begins is still put off past it (run
    there, its KeyboardInterrupt would leave the lock held), and the fd gets one byte.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    os.set_blocking(read_end, False)
    syncscope.install(lines=False, stats=True, detect_deadlocks=True)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        lock = threading.Lock()
        lock.acquire()
        with pytest.raises(KeyboardInterrupt):
            for _ in map(_thread.interrupt_main, [signal.SIGINT]):
                lock.release()
        assert not lock.locked()
        assert os.read(read_end, 100) == bytes([signal.SIGINT])
    finally:
        signal.set_wakeup_fd(previous_fd)
        os.close(read_end)
        os.close(write_end)
