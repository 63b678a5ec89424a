"""
The lines of the operations that the lean paths count in place: written by the primitives
straight away, without an event, a call-site lookup or a dispatch where the line can be said
without (see ``_core/state.set_sinks``, and ``lines.py`` for the lines themselves).
"""

from __future__ import annotations


# json.encoder's own encoder, without importing json (whose decoder imports re).
try:
    from _json import encode_basestring_ascii
except ImportError:  # an interpreter without the C accelerator: json's fallback
    from json.encoder import encode_basestring_ascii

from _thread import get_ident

from .._core.dispatch import guard, sink_failed
from .._core.event import SyncEvent, _active_threads, time_ns
from .._core.sites import NO_SITE, PAST_OUR_CALLER, call_site
from .words import CACHE_LIMIT, describe, time_waited


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._core.event import Op, Outcome


#: Where a queue's item goes in its kept words (see LeanLines.item).
_ITEM = "\x00item\x00"


class LeanLines:
    """
    The lines of the operations that the lean paths count in place (the statistics and
    checks counted there, see ``_core/state.set_sinks``), written by the primitives
    straight away. A console line that the operation's primitive, name, thread name and
    figures decide (an acquire or release that did not wait, a notify, a set) is kept,
    encoded (renaming the primitive or the thread makes a new one), and written with one
    write: no event is made, no call site looked up, nothing dispatched; a JSON or logfmt
    one is kept by call site too, after its timestamp. The thread's name is read once, for
    the key and the line it keeps (read again, a rename in between would keep the new name's
    line under the old one). Everything else is an event for this sink alone
    (:meth:`said`): one made without its site (``NO_SITE``) has it looked up here when the
    lines name it.
    """

    __slots__ = (
        "_book",
        "_console",
        "_items",
        "_json",
        "_lines",
        "_rests",
        "_stamped",
        "_tails",
        "_timed",
        "_write",
        "console",
        "fields",
    )

    def __init__(self, console: Any) -> None:
        # ``console``: the ConsoleSink (lines.py) whose lines these are, which makes this
        # object (typed loosely: lines.py imports this module, not the other way round).
        self._console = console
        self._write = console._writer.write
        #: A JSON or logfmt line: its start and timestamp, then the rest.
        self._stamped = console._timestamps.line
        #: (primitive, its name, thread name, op, outcome, depth, permits, waiters,
        #: arrivals, unfinished) -> line.
        self._lines: dict[tuple[object, ...], bytes] = {}
        #: (kind, thread name, op, outcome, depth, permits, waiters, arrivals, unfinished) ->
        #: a console line's words after its primitive's label (see _new_line).
        self._rests: dict[tuple[object, ...], str] = {}
        #: The same, the waited time and the call site too -> a JSON or logfmt line's tail.
        self._tails: dict[tuple[object, ...], bytes] = {}
        #: The same key for a JSON line with a time waited (the time left out of the key) ->
        #: its parts before the time, between the time and the words, and its words.
        self._timed: dict[tuple[object, ...], tuple[str, str, str]] = {}
        #: (primitive, its name, [thread id,] thread name, op, outcome[, call site]) -> the
        #: JSON fields up to ``function`` (or nothing: console lines), and a queue item's
        #: words, in two: before the item, and after it (None: the words say no item).
        self._items: dict[tuple[object, ...], tuple[str, str, str | None]] = {}
        self._book: Any = None
        #: Console lines: their words only.
        self.console = console._fmt == "console"
        #: JSON or logfmt lines: every field of the event path's (a queue's size too).
        self.fields = not self.console
        self._json = console._json

    def lean_stats(self, lines: bool) -> Any:
        """
        Where the primitives count when the lines are all that listens: a book nobody reads
        (see ``_core/state.set_sinks``), made once.
        """
        if self._book is None:
            from .stats import Stats

            self._book = Stats()
        return self._book

    def line(
        self,
        primitive: Any,
        op: Op,
        outcome: Outcome,
        depth: int | None = None,
        permits: int | None = None,
        waiters: int | None = None,
        waited: int | None = None,
        site: tuple[str, int, str] | None = None,
        arrivals: int | None = None,
        unfinished: int | None = None,
    ) -> None:
        """
        The line of an operation that did not fail: its words are decided by the arguments,
        and by the time it ``waited`` (0 for a wait that found its Event set, which the JSON
        says; a console line says a time waited after the words it is kept for). The JSON's
        call site is looked up unless the caller knows it (``site``). A Barrier's wait gives
        its ``arrivals``, a queue's ``task_done`` its tasks ``unfinished`` (the event's).
        """
        ident = get_ident()
        thread = _active_threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        if not self.console:  # JSON or logfmt: kept after its timestamp, by call site too
            if waited and not self._json:  # logfmt: a time of its own on each line
                counts = (depth, permits, waiters, arrivals, unfinished)
                self.said(SyncEvent(primitive, op, outcome, site or NO_SITE, waited, None, *counts))
                return
            if site is None:  # from past this method's caller, always syncscope's own
                site = call_site(PAST_OUR_CALLER)
            kept = (
                primitive,
                primitive.name,
                ident,
                name,
                op,
                outcome,
                depth,
                permits,
                waiters,
                None if waited else waited,  # a timed line's time: not in its key
                site,
                arrivals,
                unfinished,
            )
            try:
                if waited:  # a JSON line with a time, said twice: its parts around it kept
                    parts = self._timed.get(kept)
                    if parts is None:
                        counts = (depth, permits, waiters, arrivals, unfinished)
                        event = SyncEvent(primitive, op, outcome, site, None, None, *counts)
                        event.thread_name = name  # the name in its key (see the class)
                        count = event.count
                        parts = (
                            f'", {self._console._fixed_part(event, True)}, "waited_ms": ',
                            ("" if count is None else f', "count": {count!r}') + ', "event": ',
                            describe(event),  # without its time, which comes last
                        )
                        if len(self._timed) >= CACHE_LIMIT:
                            self._timed.clear()
                        self._timed[kept] = parts
                    head, middle, words = parts
                    said = encode_basestring_ascii(words + time_waited(waited, outcome))
                    line = f"{head}{round(waited / 1e6, 3)!r}{middle}{said}}}\n"
                    self._write(self._stamped(time_ns(), line.encode()))
                    return
                tail = self._tails.get(kept)
                if tail is None:
                    counts = (depth, permits, waiters, arrivals, unfinished)
                    event = SyncEvent(primitive, op, outcome, site, waited, None, *counts)
                    event.thread_name = name
                    tail = self._console.tail(event)
                    if len(self._tails) >= CACHE_LIMIT:
                        self._tails.clear()
                    self._tails[kept] = tail
                self._write(self._stamped(time_ns(), tail))
            except Exception as exc:  # a line must never break the program it describes
                sink_failed(self._console, exc)
            return
        key = (
            primitive,
            primitive.name,
            name,
            op,
            outcome,
            depth,
            permits,
            waiters,
            arrivals,
            unfinished,
        )
        try:
            data = self._lines.get(key)
            if data is None:
                data = self._new_line(key, primitive, op, outcome, name)
            if waited:  # said last, as describe() says it
                data = data[:-1] + f"{time_waited(waited, outcome)}\n".encode()
            self._write(data)
        except Exception as exc:  # a line must never break the program it describes
            sink_failed(self._console, exc)

    def _new_line(
        self, key: tuple[Any, ...], primitive: Any, op: Op, outcome: Outcome, name: str
    ) -> bytes:
        """
        The console line of ``key`` (see :meth:`line`), kept. Its words after the primitive's
        label are the same for every primitive of a kind, so they are kept by kind, thread
        and figures: a lock per object (``lock#1``, ``lock#2``...) makes each line new, and
        an event described anew for each cost about 6,000 instructions a line.
        """
        label = primitive.label
        words_key = (primitive.kind, *key[2:])  # the thread's name, op, outcome, figures
        rest = self._rests.get(words_key)
        if rest is None:
            event = SyncEvent(primitive, op, outcome, NO_SITE, None, None, *key[5:])
            event.thread_name = name
            words = describe(event)
            if primitive.kind == "queue" or not words.startswith(label):
                rest = words  # not said after its label: not kept by kind
                label = ""
            else:
                rest = words[len(label) :]
                if len(self._rests) >= CACHE_LIMIT:
                    self._rests.clear()
                self._rests[words_key] = rest
        data = f"{label}{rest}\n".encode("utf-8", "backslashreplace")
        if len(self._lines) >= CACHE_LIMIT:
            self._lines.clear()
        self._lines[key] = data
        return data

    def item(
        self,
        primitive: Any,
        op: Op,
        outcome: Outcome,
        text: str | None,
        site: tuple[str, int, str] = NO_SITE,
        waited: int | None = None,
        qsize: int | None = None,
    ) -> None:
        """
        The line of a queue's put or get that did not fail (or of one that waits), of an
        item said as ``text``: its kept words with the item between them; a JSON line's
        fields up to ``function`` kept too (by call site), a logfmt line an event's.
        """
        json = self._json
        if not (self.console or json):
            self.said(SyncEvent(primitive, op, outcome, site, waited, item=text, qsize=qsize))
            return
        ident = get_ident()
        thread = _active_threads.get(ident)  # thread_name(), written out
        name = thread._name if thread is not None else f"Thread-{ident}"
        if json:
            if not site[0]:  # made without its site: looked up past the caller, as above
                site = call_site(PAST_OUR_CALLER)
            key: tuple[object, ...] = (primitive, primitive.name, ident, name, op, outcome, site)
        else:
            key = (primitive, primitive.name, name, op, outcome)
        try:
            words = self._items.get(key)
            if words is None:
                event = SyncEvent(primitive, op, outcome, site, item=_ITEM)
                event.thread_name = name
                marked = describe(event)
                head, found, tail = marked.partition(_ITEM)
                fixed = f'", {self._console._fixed_part(event, True)}' if json else ""
                words = (fixed, head, tail) if found else (fixed, marked, None)  # a get's wait
                if len(self._items) >= CACHE_LIMIT:
                    self._items.clear()
                self._items[key] = words
            fixed, before, after = words
            said = before if after is None else f"{before}{'item' if text is None else text}{after}"
            if waited:  # last, as describe() says it
                said += time_waited(waited, outcome)
            if not json:
                self._write((said + "\n").encode("utf-8", "backslashreplace"))
                return
            # The fields after ``function`` as _json_line() writes them.
            rest = "" if waited is None else f', "waited_ms": {round(waited / 1e6, 3)!r}'
            if text is not None:
                rest += f', "item": {encode_basestring_ascii(text)}'
            if qsize is not None:
                rest += f', "qsize": {qsize!r}'
            line = f'{fixed}{rest}, "event": {encode_basestring_ascii(said)}}}\n'
            self._write(self._stamped(time_ns(), line.encode()))
        except Exception as exc:  # a line must never break the program it describes
            sink_failed(self._console, exc)

    def acquired(self, proxy: Any) -> None:
        """Lock or RLock ``proxy`` was acquired at once (an RLock's depth is read from it)."""
        depth = proxy._syncscope_lock._recursion_count() if proxy._reentrant else None
        self.line(proxy._syncscope_primitive, "acquire", "acquired", depth)

    def said(self, event: SyncEvent) -> None:
        """An operation's event for its line alone: the statistics and checks count it."""
        was_busy = guard.busy
        guard.busy = True
        try:
            if not event.file and not self.console:  # made without its site: looked up
                event.file, event.line, event.function = call_site()
            self._console.handle(event)
        except Exception as exc:
            sink_failed(self._console, exc)
        finally:
            guard.busy = was_busy
