"""
Records into events: what a Lock or RLock proxy recorded on the record path (see
``_core/state.Records``) becomes, on the worker, the event the event path would have made on
the program's thread, with the same fields: its call site is resolved from the caller's code
and instruction here, once per instruction.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

from ..._core.event import SyncEvent
from ..._core.leanholds import where as site_at
from ..._core.state import RECORD_ACQUIRED


Site = tuple[str, int, str]

#: Instruction offset -> (code, its site): the last one seen at that offset (as in _core.sites).
_sites: dict[int, tuple[CodeType, Site]] = {}


def site_of(where: Any, lasti: int) -> Site:
    """The call site of a record: its ``where`` and ``lasti`` (see ``Records``)."""
    if lasti < 0:
        return where  # type: ignore[no-any-return]
    known = _sites.get(lasti)
    if known is not None and known[0] is where:
        return known[1]
    site = site_at(where, lasti)
    _sites[lasti] = (where, site)
    return site


def event_of(record: tuple[Any, ...]) -> SyncEvent:
    """The event the event path would have made of ``record``."""
    holds, proxy, op, time_ns, where, lasti, depth = record
    event = SyncEvent.__new__(SyncEvent)
    event.primitive = proxy._syncscope_primitive
    if op == RECORD_ACQUIRED:
        event.op = "acquire"
        event.outcome = "acquired"
    else:
        event.op = "release"
        event.outcome = "released"
    event.file, event.line, event.function = site_of(where, lasti)
    event.waited_ns = event.timeout = event.permits = event.waiters = None
    event.arrivals = event.unfinished = event.item = event.item_id = event.qsize = None
    event.error = None
    event.immediate = False
    event.depth = depth
    event.thread_id = holds.ident
    event.thread_name = holds.thread_name()
    event.time_ns = time_ns
    event.trace_id = event.span_id = None
    return event
