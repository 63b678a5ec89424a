"""
Global state department: the one module that holds syncscope's process-wide state.

Everything that changes when syncscope is installed, configured or uninstalled lives in
:data:`state`; the interception modules only read it. Reads are lock-free on purpose (they
happen on every instrumented operation); writes happen under :data:`config_lock`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .registry import allocate_lock


if TYPE_CHECKING:
    from .event import Sink
    from .tally import TallyBook

#: Every kind syncscope can watch, by the word it prints.
ALL_KINDS: frozenset[str] = frozenset(
    {"lock", "rlock", "condition", "semaphore", "event", "barrier", "queue"}
)


@dataclass(frozen=True)
class Options:
    """What to watch. Decided at install; a primitive's fate is decided once, at creation."""

    kinds: frozenset[str] = ALL_KINDS
    #: Also watch primitives created by the standard library and installed packages.
    include_library: bool = False
    #: Keep queue items out of every output (they may be private data).
    hide_items: bool = False
    #: Longest repr of a queue item, in characters.
    item_repr_limit: int = 80


class _State:
    __slots__ = ("active", "diagnosis", "installed", "lean", "options", "sinks")

    def __init__(self) -> None:
        #: True while at least one sink listens: the hot path reads only this.
        self.active = False
        self.installed = False
        self.options = Options()
        self.sinks: tuple[Sink, ...] = ()
        #: The statistics, when they are all that listens: lock proxies then count in place
        #: of reporting events (see _lean).
        self.lean: TallyBook | None = None
        #: The lean diagnosis' hold tracking, when -q's checks listen; see _intercept/lean.py.
        self.diagnosis: object | None = None


state = _State()

#: Serialises install, uninstall and sink changes (never taken on the hot path).
config_lock = allocate_lock()


@dataclass
class _Counters:
    sink_errors: int = 0
    first_sink_error: str | None = field(default=None)


counters = _Counters()


def set_sinks(sinks: tuple[Sink, ...]) -> None:
    # Lean first off, last on: a proxy that sees it set can rely on the sinks it goes with.
    state.lean = None
    state.sinks = sinks
    state.active = bool(sinks)
    lean_stats = getattr(sinks[0], "lean_stats", None) if len(sinks) == 1 else None
    state.lean = lean_stats() if lean_stats is not None else None
