"""
The span pairing's rules, without threads: which spans matter, where a trace is cut, and a
holder whose acquire is paired after its waiter's wait began.
"""

from __future__ import annotations

import random
from typing import Any

from syncscope._sinks.spans.pairing import HOLD, OP, WAIT_AT_EXIT, SpanPairing
from syncscope._sinks.spans.summary import Summaries, summary_name

from .support.events import acquired, event, primitive, released, waiting


def _pairing(max_spans: int = 10_000) -> tuple[SpanPairing, list[tuple[Any, ...]]]:
    records: list[tuple[Any, ...]] = []
    return SpanPairing(random.Random(1).getrandbits, max_spans, records.append), records


class TestWhatMatters:
    """The ``keep`` flag: the last item of every record."""

    def test_uncontended_lock_uses_do_not_matter(self) -> None:
        """An acquire that did not block and a hold nobody waited for may be summed up."""
        pairing, records = _pairing()
        lock = primitive("lock")
        pairing.pair(acquired(lock), None)
        pairing.pair(released(lock), None)
        assert [(OP, False), (HOLD, False)] == [(r[0], r[-1]) for r in records]

    def test_a_wait_and_the_hold_in_its_way_matter(self) -> None:
        """The blocked acquire and the hold it links to are kept; the waiter's own hold is not."""
        pairing, records = _pairing()
        lock = primitive("lock")
        pairing.pair(acquired(lock, thread=1), None)
        pairing.pair(waiting(lock, thread=2), None)
        pairing.pair(released(lock, thread=1), None)
        pairing.pair(acquired(lock, thread=2, waited_ns=5_000_000), None)
        pairing.pair(released(lock, thread=2), None)
        kinds = [(r[0], r[-1]) for r in records]
        assert [(OP, False), (HOLD, True), (OP, True), (HOLD, False)] == kinds
        hold_span = records[1][1]
        assert ((hold_span.trace_id, hold_span.span_id, "holder"),) == records[2][4]

    def test_a_holder_paired_after_its_waiter_is_linked(self) -> None:
        """The holder's acquire event came after the waiter's: the wait still links to it."""
        pairing, records = _pairing()
        lock = primitive("lock")
        pairing.pair(waiting(lock, thread=2), None)
        pairing.pair(acquired(lock, thread=1), None)
        pairing.pair(released(lock, thread=1), None)
        pairing.pair(acquired(lock, thread=2, waited_ns=5_000_000), None)
        hold, wait = records[1], records[2]
        assert HOLD == hold[0] and hold[-1] is True
        assert ((hold[1].trace_id, hold[1].span_id, "holder"),) == wait[4]

    def test_a_signal_to_a_waiter_matters(self) -> None:
        """An Event.set while a thread waits on it is kept; one with nobody waiting is not."""
        pairing, records = _pairing()
        ev = primitive("event")
        pairing.pair(event(ev, "set", "set"), None)
        pairing.pair(waiting(ev, op="wait", thread=2), None)
        pairing.pair(event(ev, "set", "set"), None)
        pairing.pair(event(ev, "wait", "set", thread=2, waited_ns=1_000_000), None)
        assert [False, True, True] == [r[-1] for r in records]

    def test_waits_still_blocked_at_exit_are_kept(self) -> None:
        """A wait still blocked at exit and the hold still open in its way are kept."""
        pairing, records = _pairing()
        lock = primitive("lock")
        pairing.pair(acquired(lock, thread=1), None)
        pairing.pair(waiting(lock, thread=2), None)
        pairing.finish()
        at_exit = [r for r in records if r[0] != OP]
        assert {WAIT_AT_EXIT, HOLD} == {r[0] for r in at_exit}
        assert all(r[-1] for r in at_exit)


class TestCuts:
    """Trace parts begin when nothing is held, and a part is complete once its spans ended."""

    def test_no_cut_while_a_lock_is_held(self) -> None:
        """Past the count, the cut waits for the hold to end."""
        pairing, records = _pairing(max_spans=2)
        lock, other = primitive("lock", "a"), primitive("lock", "b")
        pairing.pair(acquired(lock), None)  # acquire + hold: the count is reached
        pairing.pair(acquired(other), None)  # held: no cut yet
        pairing.pair(released(other), None)
        pairing.pair(released(lock), None)
        assert 0 == pairing.segment.index
        pairing.pair(acquired(lock), None)  # nothing held: a new part
        assert 1 == pairing.segment.index
        parts = pairing.complete_parts()
        assert [0] == [part.index for part in parts]
        assert {0} == {r[3][2].index for r in records[:4] if r[0] == OP}

    def test_a_wait_keeps_its_part_open(self) -> None:
        """A wait begun before the cut keeps its part from completing until it ends."""
        pairing, _records = _pairing(max_spans=1)
        ev = primitive("event")
        pairing.pair(waiting(ev, op="wait", thread=2), None)
        pairing.pair(event(ev, "set", "set"), None)  # a new part: nothing is held
        assert 1 == pairing.segment.index
        assert [] == pairing.complete_parts()
        pairing.pair(event(ev, "wait", "set", thread=2, waited_ns=1_000_000), None)
        assert [0] == [part.index for part in pairing.complete_parts()]


class TestSummaries:
    """Records folded into summary spans."""

    def test_one_summary_per_thread_primitive_and_operation(self) -> None:
        """Records fold by thread, primitive and operation, counting each."""
        pairing, records = _pairing()
        lock = primitive("lock")
        for _ in range(3):
            pairing.pair(acquired(lock), None)
            pairing.pair(released(lock), None)
        summaries = Summaries()
        for record in records:
            summaries.add(record)
        buckets = summaries.take()
        names = sorted(summary_name(bucket) for bucket in buckets)
        assert ["Lock.acquire lock x 3, none waited", "Lock.hold lock x 3, nobody waited"] == names
        assert [] == summaries.take()
