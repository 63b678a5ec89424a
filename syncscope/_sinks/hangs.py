"""
The rules that find threads blocked for good while other threads still run, as pure functions
over a snapshot of the hold model and the traces (the watchdog in ``deadlock`` applies them).

Real programs are never idle (a heartbeat, a ``join(0.5)`` loop, a pool's idle workers), so
these rules do not wait for every thread to block. They look at the blocked threads and at
what they wait for, and at the running threads only to ask whether one of them could still
feed the waits. A running thread *could* when it holds a watched lock or permit, when it
ever did anything to what they wait for (set, clear, notify, put, get), or when it runs the
program's code in the function that created it (``main()`` computing before it puts the
first item) or in code that names it (``done.set()`` after a long computation). One that did
none of these (a heartbeat, a ``join(0.5)`` loop) is unrelated and does not stop a report. A
thread in a wait with a timeout as long as the hang timeout (a ``threading.Timer``) could
feed them when it wakes, and stops it too.

* **Self-deadlock**: a thread blocked without a timeout on a plain Lock it holds, taken by a
  ``with`` statement or by a caller of the waiting frame (a mutex, then: a Lock taken once
  and then again in the same frame may be a one-shot signal that another thread releases).
* **Held while waiting**: a thread waiting without a timeout for a signal (Condition, Event,
  queue) while it holds a lock, and threads blocked without a timeout on that lock; nothing
  has happened to the signal for the grace period and no other running thread could give it.
* **Pool starvation**: every worker of a saturated ``ThreadPoolExecutor`` waiting without a
  timeout for a Future whose task is still queued on that same pool, for the grace period.
* **Hang**: threads blocked without a timeout on a signal nothing has touched for the hang
  timeout, or on a lock or semaphore whose holders have all exited, the last of them the hang
  timeout ago (not one ever released by another thread than its taker's: a signal, which a
  running thread may still give). A queue's waiters count
  only with a cause: a ``get`` whose producers have all exited, a ``put`` or ``join`` whose
  consumers have (or that nobody ever took from); idle consumers are a pool waiting for work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from contextlib import suppress
from types import CodeType, FrameType

from .._core.event import Primitive, SyncEvent
from .._core.holds import Life, Snapshot, Wait
from .._core.pools import Task, size, tasks, workers
from .standing import JOINS
from .traces import TRACED_KINDS, Mark, Traces


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def holders_exited(snapshot: Snapshot, wait: Wait) -> int:
    """
    For an acquire waiting for a primitive whose every holder has exited: when the last of
    them did (``time_ns``); else 0. Not for a primitive some thread released that another
    had taken: a signal, which any thread may give, its taker's exit or not (the cause a
    report gives still says who took it, see :func:`last_holder_exit`).
    """
    if wait.primitive in snapshot.handoff:
        return 0
    return last_holder_exit(snapshot, wait)


def last_holder_exit(snapshot: Snapshot, wait: Wait) -> int:
    """:func:`holders_exited`, signals or not."""
    primitive = wait.primitive
    if wait.op != "acquire":
        return 0
    if primitive.kind == "semaphore":
        permits = snapshot.permits.get(primitive, ())
        if not permits or not all(hold.exited for hold in permits):
            return 0
        return max(hold.exited for hold in permits)
    hold = snapshot.owner.get(primitive)
    return hold.exited if hold is not None else 0


def self_deadlocks(
    snapshot: Snapshot, frames: dict[int, FrameType], now: int, grace_ns: int
) -> list[int]:
    """The threads blocked on a plain Lock they hold as a mutex, for at least the grace."""
    found = []
    for ident, wait in snapshot.waiting.items():
        primitive = wait.primitive
        if (
            wait.reported
            or wait.op != "acquire"
            or wait.timeout is not None
            or primitive.kind not in ("lock", "condition")
            or primitive in snapshot.handoff
            or now - wait.since_ns < grace_ns
        ):
            continue
        hold = snapshot.owner.get(primitive)
        if hold is None or hold.thread_id != ident or hold.exited or hold.event.depth is not None:
            continue
        if _taken_by_with(hold.site) or _taken_by_a_caller(frames.get(ident), wait, hold.site):
            found.append(ident)
    return found


def _taken_by_with(site: tuple[str, int, str]) -> bool:
    from .._core.sourcenames import source_line  # here: a hang is rare

    return source_line(site[0], site[1]).startswith(("with ", "async with "))


def _taken_by_a_caller(frame: FrameType | None, wait: Wait, site: tuple[str, int, str]) -> bool:
    """Whether a frame that called the waiting one (not the waiting frame) took the lock."""
    file, _, function = wait.site
    while frame is not None and not (
        frame.f_code.co_filename == file and frame.f_code.co_name == function
    ):
        frame = frame.f_back
    if frame is None:
        return False
    frame = frame.f_back
    while frame is not None:
        code = frame.f_code
        if code.co_filename == site[0] and code.co_name == site[2] and _has_line(code, site[1]):
            return True
        frame = frame.f_back
    return False


def _has_line(code: CodeType, line: int) -> bool:
    """
    Whether ``line`` is one of ``code``'s: two functions of one file may share a name (each
    class's ``__init__``), and a lock one took, handed to a thread that releases it, is no
    mutex its namesake up the stack holds.
    """
    return any(number == line for _, _, number in code.co_lines())


def held_while_waiting(
    snapshot: Snapshot, traces: Traces, now: int, grace_ns: int
) -> list[tuple[int, list[int]]]:
    """
    Threads waiting without a timeout for a signal while holding locks that other threads
    wait for without a timeout, each with those threads; all for at least ``grace_ns``, and
    the signal untouched for as long.
    """
    waiting = snapshot.waiting
    found = []
    for ident, wait in waiting.items():
        if (
            wait.reported
            or wait.op == "acquire"
            or wait.timeout is not None
            or wait.primitive.kind not in TRACED_KINDS
            or now - wait.since_ns < grace_ns
            or not snapshot.held.get(ident)
        ):
            continue
        last = traces.last_ns(wait.primitive)
        if last is not None and now - last < grace_ns:
            continue
        blocked = [
            other
            for other, theirs in waiting.items()
            if other != ident
            and theirs.op == "acquire"
            and theirs.timeout is None
            and now - theirs.since_ns >= grace_ns
            and snapshot.holders(other) == (ident,)
        ]
        if blocked:
            found.append((ident, blocked))
    return found


def hang_subjects(snapshot: Snapshot, traces: Traces, now: int, timeout_ns: int) -> list[int]:
    """The threads blocked without a timeout on what nothing touched for the hang timeout."""
    found = []
    for ident, wait in snapshot.waiting.items():
        if wait.reported or wait.timeout is not None or now - wait.since_ns < timeout_ns:
            continue
        if wait.primitive.kind in TRACED_KINDS and wait.op != "acquire":
            last = traces.last_ns(wait.primitive)
            if last is not None and now - last < timeout_ns:
                continue
            # A queue's idle consumers (a pool waiting for work) are no hang by themselves:
            # only with a cause (its producers, or its consumers, have all exited).
            if (
                wait.primitive.kind == "queue"
                and not _exited_cause(wait, traces)
                and not _stalled_join(wait, snapshot, traces)
            ):
                continue
            found.append(ident)
        else:
            # Blocked for good since the last holder exited, not since the wait began.
            exited = holders_exited(snapshot, wait)
            if exited and now - exited >= timeout_ns:
                found.append(ident)
            elif _unheld_semaphore(wait, snapshot):
                # A semaphore as a signal (no permit out: only a release lets it go on),
                # waited on for the hang timeout: as an Event nobody set, if nothing running
                # could still release it (the caller's check).
                found.append(ident)
    return found


def could_feed(
    ident: int,
    frame: FrameType | None,
    snapshot: Snapshot,
    traces: Traces,
    primitives: Iterable[Primitive],
    in_machinery: bool,
) -> bool:
    """
    Whether running thread ``ident`` could still feed waits on ``primitives``: it holds a
    watched lock or permit, or did something to one of them, or it runs (not in a wait of
    the machinery, such as a ``join(0.5)`` loop) in the function that created one of them or
    in code that names one of them (the variable or attribute it was assigned to).
    """
    if snapshot.held.get(ident):
        return True
    primitives = tuple(primitives)
    if any(traces.operated(ident, primitive) for primitive in primitives):
        return True
    if in_machinery and (frame is None or _joining(frame)):
        return False
    # In a short timed wait (a worker's ``while not stop.wait(0.1)`` loop), a function's code
    # that names one of them may still feed it when the loop ends; a module's code waiting so
    # (the main thread's poll) names everything it created, and counts as a heartbeat.
    creators = set() if in_machinery else {(p.file, p.function) for p in primitives}
    names = {_variable(p) for p in primitives} - {None}
    while frame is not None:
        code = frame.f_code
        if in_machinery and code.co_name == "<module>":
            frame = frame.f_back
            continue
        if (code.co_filename, code.co_name) in creators:
            return True
        if names and not names.isdisjoint(
            (*code.co_names, *code.co_varnames, *code.co_freevars, *code.co_cellvars)
        ):
            return True  # its code names it (``done.set()`` after a long computation)
        frame = frame.f_back
    return False


def _joining(frame: FrameType | None) -> bool:
    """Whether the thread is in ``Thread.join()`` (a watchdog's ``join(0.5)`` loop)."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename == threading.__file__ and code.co_name in JOINS:
            return True
        frame = frame.f_back
    return False


def signal_fed(primitives: Iterable[Primitive]) -> set[Primitive]:
    """
    Those of ``primitives`` a signal handler of the program's reaches (see
    :func:`_handler_reach`): a thread waiting for one may be woken by a signal (``stop.set()``
    on SIGTERM, the usual way to wait for the end), however long it waits.
    """
    import _signal  # type: ignore[import-not-found]

    from .._core import signals  # here: a hang is rare

    names: set[str] = set()
    given: set[Primitive] = set()
    for number in range(1, _signal.NSIG):
        try:
            handler = signals.getsignal_original(number)
        except (ValueError, OSError):
            continue
        handler = signals.as_the_program_set_it(number, handler)  # not ours standing in
        with suppress(Exception):  # a handler we cannot read must not stop the watchdog
            _handler_reach(handler, names, given)
    return {p for p in primitives if p in given or _variable(p) in names}


#: A class's own namespace and order, read without a metaclass's hooks.
_class_dict = type.__dict__["__dict__"].__get__
_class_mro = type.__dict__["__mro__"].__get__


def _class_attr(cls: type, name: str) -> object:
    """``name`` as ``cls`` or a base defines it (None if none does), no hook of theirs run."""
    for klass in _class_mro(cls):
        namespace = _class_dict(klass)
        if name in namespace:
            return namespace[name]
    return None


def _instance_dict(obj: object) -> dict[str, object]:
    """
    ``obj.__dict__`` when it is the one Python makes for instances (a copy); empty when its
    class has none, or defines ``__dict__`` itself (a property of the program's: not run).
    """
    from types import GetSetDescriptorType

    found = _class_attr(type(obj), "__dict__")
    if type(found) is not GetSetDescriptorType:
        return {}
    try:
        namespace = found.__get__(obj, type(obj))
    except (AttributeError, TypeError):
        return {}
    return namespace.copy() if type(namespace) is dict else {}


def _handler_reach(handler: object, names: set[str], given: set[Primitive]) -> None:
    """
    Add to ``names`` what a signal handler's code names (the variables or attributes the
    primitives it may use were assigned to), and that of the program's functions it calls by
    their global name (``request_stop()``, which sets ``stop``) or as methods of its instance
    (``self.request_stop()``); and to ``given`` the watched primitives it was handed: a
    ``functools.partial``'s arguments, and those attributes of a bound method's or a callable
    object's instance its code names (``self.finished.set()``: the instance's ``finished``,
    whatever the Event is called). Read by exact types and class namespaces, without running
    the program's code (no ``__getattribute__``, ``__getattr__``, ``__class__`` or
    ``__dict__`` property of its own is called from the watchdog's thread).
    """
    from functools import partial
    from types import FunctionType, MethodType

    from .._core.sites import SYNCSCOPE_DIR
    from .._core.tracking import primitive_of

    handed: list[object] = []
    if type(handler) is partial:  # exact: a subclass's attributes may be the program's code
        handed += (*handler.args, *handler.keywords.values())
        handler = handler.func
    owner: object = None
    if type(handler) is MethodType:
        owner, handler = handler.__self__, handler.__func__
    elif type(handler) is not FunctionType:  # an object with a __call__ of its class's
        owner = handler
        handler = _class_attr(type(handler), "__call__")
    given.update(p for p in map(primitive_of, handed) if p is not None)
    if type(handler) is not FunctionType:
        return
    calls = [handler]
    for name in handler.__code__.co_names:  # the functions it calls, one level down
        called = handler.__globals__.get(name)
        if type(called) is FunctionType:
            calls.append(called)
        if owner is not None:  # self.request_stop(): a method of its instance's class
            method = _class_attr(type(owner), name)
            if type(method) is FunctionType:
                calls.append(method)
    named: set[str] = set()
    for function in calls:
        code = function.__code__
        if not code.co_filename.startswith(SYNCSCOPE_DIR):
            named.update(code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)
    names |= named
    if owner is not None:  # only what the handler's code names of its instance
        attributes = _instance_dict(owner)
        given.update(
            p
            for p in (primitive_of(attributes[key]) for key in named & attributes.keys())
            if p is not None
        )


def _variable(primitive: Primitive) -> str | None:
    """The variable or attribute a primitive was assigned to, when its name says."""
    name = primitive.name.split("#", 1)[0]
    return None if name == primitive.kind or not name.isidentifier() else name


def causes(wait: Wait, snapshot: Snapshot, traces: Traces) -> tuple[str, ...]:
    """What can be told of why nothing let ``wait`` go on."""
    primitive = wait.primitive
    kind = primitive.kind
    if wait.op == "acquire":
        return _exited_holders(wait, snapshot)
    trace = traces.get(primitive)
    label = primitive.label
    if kind == "event":
        if trace is None or trace.was_set is None:
            return (f"nobody has set {label}",)
        was_set, cleared = trace.was_set, trace.cleared
        if cleared is not None and cleared.time_ns >= was_set.time_ns:
            before = " before it waited" if cleared.time_ns <= wait.since_ns else ""
            return (
                f'{label} was set at {_at(was_set)} by "{was_set.thread_name}" and cleared at '
                f'{_at(cleared)} by "{cleared.thread_name}"{before}: the set was lost',
            )
        return ()
    if kind == "condition":
        notified = trace.notified if trace is not None else None
        if notified is None:
            return (f"nobody has notified {label}",)
        if notified.time_ns <= wait.since_ns:
            last = (
                f'the last notify, at {_at(notified)} by "{notified.thread_name}", '
                "came before it waited"
            )
            if notified.waiters:
                # It woke a wait, maybe this thread's own before this one (a wait_for, a
                # while loop around wait): nothing was lost, nothing notified since.
                woke = "1 waiter" if notified.waiters == 1 else f"{notified.waiters} waiters"
                return (f"{last} and woke {woke}; nothing has notified {label} since",)
            return (f"{last} (it found no waiter): the wake-up was lost",)
        return ()
    if kind == "queue":
        return _exited_cause(wait, traces) or _stalled_join(wait, snapshot, traces)
    return ()


def _stalled_join(wait: Wait, snapshot: Snapshot, traces: Traces) -> tuple[str, ...]:
    """
    A ``join()``'s cause when every live thread that took from the queue waits, for good, for
    an item from that same queue: it is empty, each has done with what it took, and the
    unfinished tasks' ``task_done()`` calls were never made (a path that skipped one).
    """
    if wait.op != "join":
        return ()
    trace = traces.get(wait.primitive)
    if trace is None:
        return ()
    live = [life for life in trace.getters.values() if not life.exited]
    if not live:
        return ()
    for life in live:
        theirs = snapshot.waiting.get(life.ident)
        if (
            theirs is None
            or theirs.primitive is not wait.primitive
            or theirs.op != "get"
            or theirs.timeout is not None
        ):
            return ()
    names = ", ".join(f'"{life.name}"' for life in live)
    label = wait.primitive.label
    return (
        f"every thread that took from {label} waits for an item from it ({names}): it is "
        f"empty, and a task_done() was missed for tasks taken earlier",
    )


def _exited_cause(wait: Wait, traces: Traces) -> tuple[str, ...]:
    """A queue wait's cause, if every thread on the other side has exited (or never took)."""
    trace = traces.get(wait.primitive)
    if trace is None:
        return ()
    label = wait.primitive.label
    if wait.op == "get":
        return _all_exited(trace.putters.values(), f"put into {label}")
    if not trace.getters:
        return (f"no thread has ever taken an item from {label}",)
    return _all_exited(trace.getters.values(), f"took from {label}")


def _all_exited(found: Iterable[Life], did: str) -> tuple[str, ...]:
    lives = list(found)
    if not lives or not all(life.exited for life in lives):
        return ()
    names = ", ".join(f'"{life.name}"' for life in lives)
    lines = [f"every thread that {did} has exited: {names}"]
    for life in lives:
        if life.error is not None:
            text, site = life.error
            lines.append(f'"{life.name}" died of {text} at {_where(site)}')
    return tuple(lines)


def _unheld_semaphore(wait: Wait, snapshot: Snapshot) -> bool:
    """An acquire of a semaphore no thread holds a permit of: it waits for a release alone."""
    return (
        wait.op == "acquire"
        and wait.primitive.kind == "semaphore"
        and not snapshot.permits.get(wait.primitive)
        # Released by a thread that had not taken it: a signal some thread does give (a
        # producer's), maybe to another waiter first; semaphores are not traced, so when it
        # was last given is not known: not a signal nobody gives.
        and wait.primitive not in snapshot.handoff
    )


def _exited_holders(wait: Wait, snapshot: Snapshot) -> tuple[str, ...]:
    if _unheld_semaphore(wait, snapshot):
        label = wait.primitive.label
        return (f"no thread holds a permit of {label}: only a release() lets it go on",)
    if not last_holder_exit(snapshot, wait):
        return ()
    primitive = wait.primitive
    if primitive.kind == "semaphore":
        permits = snapshot.permits.get(primitive, ())
        taken = ", ".join(f'"{h.thread_name}" at {_where(h.site)}' for h in permits)
        return (f"its permits are held by threads that have exited: {taken}",)
    hold = snapshot.owner[primitive]
    return (f'it is held by "{hold.thread_name}", which has exited; taken at {_where(hold.site)}',)


def _where(site: tuple[str, int, str] | None) -> str:
    from .refs import where  # imported when a finding is made, not at start-up

    return where(site)


def _at(event: SyncEvent | Mark) -> str:
    return _where((event.file, event.line, event.function))


def future_runner(wait: Wait, frames: dict[int, FrameType]) -> int | None:
    """
    The pool worker running the task of the Future ``wait`` waits on (None: not a Future of a
    watched pool, not running, or its worker not found): found among the pool's workers'
    frames, as the ``_WorkItem.run`` frame whose ``self.future`` is that Future.
    """
    if wait.primitive.kind != "future":
        return None
    task = tasks.get(wait.primitive)
    if task is None:
        return None
    future = task.future()
    pool = task.pool()
    if future is None or pool is None or getattr(future, "_state", None) != "RUNNING":
        return None
    for ident in workers(pool):
        frame = frames.get(ident)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "run" and code.co_filename.endswith(_WORK_ITEM_FILE):
                with suppress(Exception):
                    if getattr(frame.f_locals.get("self"), "future", None) is future:
                        return ident
                break
            frame = frame.f_back
    return None


#: Where a ThreadPoolExecutor's ``_WorkItem.run`` is.
_WORK_ITEM_FILE = os.path.join("concurrent", "futures", "thread.py")


def starved_pools(
    snapshot: Snapshot, now: int, grace_ns: int
) -> list[tuple[Any, list[tuple[int, Task]]]]:
    """Pools whose every worker waits for a task queued behind it: (pool, [(worker, task)])."""
    found: dict[int, tuple[Any, list[tuple[int, Task]]]] = {}
    for ident, wait in snapshot.waiting.items():
        if (
            wait.reported
            or wait.primitive.kind != "future"
            or wait.timeout is not None
            or now - wait.since_ns < grace_ns
        ):
            continue
        task = tasks.get(wait.primitive)
        pool = task.pool() if task is not None else None
        if task is None or pool is None or not task.queued() or ident not in workers(pool):
            continue
        found.setdefault(id(pool), (pool, []))[1].append((ident, task))
    result = []
    for pool, waits in found.values():
        waiting = {ident for ident, _ in waits}
        busy = workers(pool)
        if len(busy) >= size(pool) and waiting.issuperset(busy):
            result.append((pool, waits))
    return result
