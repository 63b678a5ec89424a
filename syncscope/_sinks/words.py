"""
What a line says: an operation in the words of the classic article (``lock acquired by
Thread-2``, ``61 put to queue by Thread-1``), whatever the format that carries them.
"""

from __future__ import annotations

from .._core.output import format_duration


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._core.event import SyncEvent


#: Kept renderings: past this many, a cache starts afresh (a program with ever new threads).
CACHE_LIMIT = 4096


def time_waited(waited_ns: int | None, outcome: str) -> str:
    """What a line says last of the time it waited: nothing for none, nor while it waits."""
    return f" after {format_duration(waited_ns)}" if waited_ns and outcome != "waiting" else ""


def describe(event: SyncEvent) -> str:
    """The event in the article's words: ``<what> <happened> by <thread>``."""
    primitive = event.primitive
    label = primitive.label
    thread = event.thread_name
    op, outcome = event.op, event.outcome
    waited_ns = event.waited_ns
    waited = time_waited(waited_ns, outcome)
    if op == "acquire" and outcome == "acquired":  # the commonest two first
        depth = event.depth
        if depth and depth > 1:
            return f"{label} acquired by {thread} (depth {depth}){waited}"
        return f"{label} acquired by {thread}{waited}"
    if op == "release" and outcome == "released":
        if event.depth and primitive.kind == "rlock":
            return f"{label} released by {thread} (depth {event.depth})"
        if event.permits and event.permits > 1 and primitive.kind == "semaphore":
            return f"{label} released {event.permits} by {thread}"
        return f"{label} released by {thread}"
    if primitive.kind == "queue":
        return _describe_queue(event, label, thread, waited)
    if outcome == "waiting":
        if op == "acquire" and primitive.kind == "condition":  # not its wait(): the article's
            return f"{label} busy, acquire waits by {thread}"
        arrived = f" ({event.arrivals} arrived)" if primitive.kind == "barrier" else ""
        return f"{label} {op if op == 'wait_for' else 'wait'} by {thread}{arrived}"
    if outcome == "error":
        return f"{label} {op} failed by {thread}: {event.error_text}"
    if op == "acquire":
        if outcome == "busy":
            return f"{label} busy, acquire failed by {thread}"
        return f"{label} acquire timed out by {thread}{waited}"
    if op == "release":
        if primitive.kind == "rlock" and event.depth:
            return f"{label} released by {thread} (depth {event.depth})"
        if primitive.kind == "semaphore" and event.permits and event.permits > 1:
            return f"{label} released {event.permits} by {thread}"
        return f"{label} released by {thread}"
    if op in ("wait", "wait_for"):
        if outcome == "woken":
            return f"{label} woken by {thread}{waited}"
        if outcome == "set":
            return f"{label} wait by {thread} (already set)"
        if outcome == "passed":
            return f"{label} passed by {thread}{waited}"
        if outcome == "broken":
            return f"{label} broken for {thread}{waited}"
        return f"{label} {op} timed out by {thread}{waited}"
    if op == "notify":
        woken = "" if event.waiters == 1 else f" ({_waiters(event.waiters)})"
        return f"{label} notified by {thread}{woken}"
    if op == "notify_all":
        return f"{label} notified all by {thread} ({_waiters(event.waiters)})"
    return f"{label} {outcome} by {thread}"


def _describe_queue(event: SyncEvent, label: str, thread: str, waited: str) -> str:
    op, outcome = event.op, event.outcome
    item = event.item if event.item is not None else "item"
    if op == "put":
        if outcome == "put":
            return f"{item} put to {label} by {thread}{waited}"
        if outcome == "waiting":
            return f"{label} full, put of {item} waits by {thread}"
        if outcome == "full":
            return f"{item} not put to {label} by {thread}: queue full"
        if outcome == "timeout":
            return f"{item} not put to {label} by {thread}: timed out{waited}"
        return f"{item} not put to {label} by {thread}: {event.error_text}"
    if op == "get":
        if outcome == "got":
            return f"{item} got from {label} by {thread}{waited}"
        if outcome == "waiting":
            return f"{label} empty, get waits by {thread}"
        if outcome == "empty":
            return f"nothing got from {label} by {thread}: queue empty"
        if outcome == "timeout":
            return f"nothing got from {label} by {thread}: timed out{waited}"
        return f"nothing got from {label} by {thread}: {event.error_text}"
    if op == "task_done":
        if outcome == "error":
            return f"task done on {label} failed by {thread}: {event.error_text}"
        return f"task done on {label} by {thread} ({event.unfinished} unfinished)"
    if op == "join":
        if outcome == "waiting":
            return f"{label} join waits by {thread} ({event.unfinished} unfinished)"
        if outcome == "joined":
            return f"{label} joined by {thread}{waited}"
        return f"{label} join failed by {thread}: {event.error_text}"
    if op == "shutdown":
        return f"{label} shut down by {thread}{' (immediate)' if event.immediate else ''}"
    return f"{label} {op} {outcome} by {thread}"


def _waiters(count: int | None) -> str:
    if not count:
        return "nobody waiting"
    return "1 waiter" if count == 1 else f"{count} waiters"
