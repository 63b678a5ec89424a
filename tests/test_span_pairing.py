"""
The span pairing's rules, without threads: which spans matter, where a trace is cut, and a
holder whose acquire is paired after its waiter's wait began.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from syncscope._core.leanholds import ThreadHolds
from syncscope._core.state import RECORD_ACQUIRED, RECORD_RELEASED
from syncscope._sinks.spans.pairing import HOLD, OP, WAIT_AT_EXIT, SpanPairing
from syncscope._sinks.spans.records import drain
from syncscope._sinks.spans.summary import Summaries, summary_name

from .support.events import FILE, acquired, event, primitive, released, waiting


FILE_NAME = FILE.rsplit("/", 1)[-1]


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


def _script(seed: int, steps: int = 400) -> list[Any]:
    """
    Three threads taking a Lock and an RLock in a random but possible order: some block,
    some re-enter the RLock, some hold both.
    """
    rng = random.Random(seed)
    locks = [primitive("lock", "a"), primitive("rlock", "b")]
    owner: dict[int, int] = {}
    depth = {0: 0, 1: 0}
    held: dict[int, list[int]] = {1: [], 2: [], 3: []}
    waits: dict[int, int] = {}
    events: list[Any] = []

    def take(thread: int, which: int, waited: int | None) -> None:
        owner[which] = thread
        depth[which] += 1
        held[thread].append(which)
        kind = {"depth": depth[which]} if which == 1 else {}
        events.append(acquired(locks[which], thread=thread, waited_ns=waited, **kind))

    for _ in range(steps):
        free = [t for t in held if t not in waits]
        if not free:  # a deadlock: its waits and holds are still there at the end
            break
        thread = rng.choice(free)
        if held[thread] and rng.random() < 0.5:
            which = held[thread].pop()
            depth[which] -= 1
            kind = {"depth": depth[which]} if which == 1 else {}
            events.append(released(locks[which], thread=thread, **kind))
            if depth[which] == 0:
                del owner[which]
                waiter = next((t for t, w in waits.items() if w == which), None)
                if waiter is not None:
                    del waits[waiter]
                    take(waiter, which, 5_000_000)
            continue
        which = rng.randrange(2)
        if owner.get(which, thread) == thread:
            take(thread, which, rng.choice([None, 1_000, 200_000]))
        else:
            waits[thread] = which
            events.append(waiting(locks[which], thread=thread))
    return events


def _key(event: Any) -> tuple[Any, ...]:
    """An event by what it says (the record path makes its events afresh, on the worker)."""
    return (event.thread_id, event.time_ns, event.op, event.outcome, event.file, event.line)


class _Proxy:
    def __init__(self, prim: Any) -> None:
        self._syncscope_primitive = prim


def _as_records(events: list[Any]) -> list[tuple[Any, ...]]:
    """
    What the record path puts in the sink's buffer for ``events``: a record for each
    acquire that did not wait and each release, the event (with its parent) for the rest.
    """
    items: list[tuple[Any, ...]] = []
    # One proxy a lock, one ThreadHolds a thread, as the proxies record them.
    proxies: dict[int, _Proxy] = {}
    threads: dict[int, ThreadHolds] = {}
    for item in events:
        if item.outcome in ("acquired", "released") and not item.waited_ns:
            op = RECORD_ACQUIRED if item.outcome == "acquired" else RECORD_RELEASED
            site = (item.file, item.line, item.function)
            proxy = proxies.setdefault(item.primitive.id, _Proxy(item.primitive))
            holds = threads.setdefault(
                item.thread_id, ThreadHolds(item.thread_id, f"T{item.thread_id}")
            )
            items.append((holds, proxy, op, item.time_ns, site, -1, item.depth))
        else:
            items.append((item, None))
    return items


def _outcome(light: bool, events: list[Any], records: bool = False) -> tuple[Any, ...]:
    """Pair ``events`` under pressure: what is kept, and what is summed up."""
    kept: list[tuple[Any, ...]] = []
    summaries = Summaries()
    counts = type("Counts", (), {"aggregated": 0})()

    def append(record: tuple[Any, ...]) -> None:
        if record[-1] or record[0] not in (OP, HOLD):
            kept.append(record)
        else:
            summaries.add(record)
            counts.aggregated += 1

    rand = random.Random(1).getrandbits
    if light:
        pairing = SpanPairing(rand, 50, append, summaries, lambda: True, counts)
    else:
        pairing = SpanPairing(rand, 50, append)
    if records:  # through the sink's buffer, as the worker drains it
        buffer = deque(_as_records(events))
        drain(pairing, buffer, len(buffer))
    else:
        for item in events:
            pairing.pair(item, None)
    pairing.finish()
    names: dict[int, tuple[Any, ...]] = {}
    for record in kept:
        if record[0] == OP:
            names[record[2]] = ("op", _key(record[1]))
        elif record[0] == HOLD:
            names[record[1].span_id] = ("hold", _key(record[1].event))
    spans = []
    for record in kept:
        if record[0] == OP:
            event = record[1]
            links = {names[link[1]] for link in record[4] if link[1] in names}
            what = (_key(event), event.function, event.thread_name, event.depth, event.waited_ns)
            spans.append(("op", what, record[3][2].index, frozenset(links), record[-1]))
        elif record[0] == HOLD:
            hold = record[1]
            end = _key(record[2]) if record[2] is not None else None
            spans.append(("hold", _key(hold.event), hold.segment.index, end, record[3]))
        else:
            spans.append(("wait at exit", _key(record[1].start_event)))
    # The holds still open at exit come in the order of their threads: any order.
    at_exit = sorted(span for span in spans if span[-1] == "held at exit")
    spans = [span for span in spans if span[-1] != "held at exit"] + at_exit
    folded = sorted(
        (
            b.place[2].index,
            _key(b.event),
            b.event.thread_name,
            b.prim.name,
            b.op,
            b.count,
            b.total_ns,
            b.start,
        )
        for b in summaries.take()
    )
    segments = (pairing.segment.index, pairing.segment.count, pairing.holding)
    return spans, folded, counts.aggregated, segments


class TestLightHolds:
    """Under pressure, uncontended lock uses skip the hold model: nothing kept changes."""

    def test_uncontended_uses_are_only_counted(self) -> None:
        """Acquire and hold are summed up, and no record is made for them."""
        lock = primitive("lock")
        events = [acquired(lock), released(lock), acquired(lock), released(lock)]
        spans, folded, aggregated, _ = _outcome(True, events)
        assert [] == spans
        assert 4 == aggregated
        assert [("acquire", 2), ("hold", 2)] == [(b[4], b[5]) for b in folded]

    def test_a_lock_held_when_a_wait_begins_becomes_a_kept_hold(self) -> None:
        """The hold a thread waits for is made then, from its acquire, and the wait links it."""
        lock = primitive("lock")
        first = acquired(lock, thread=1)
        events = [first, waiting(lock, thread=2), released(lock, thread=1)]
        events.append(acquired(lock, thread=2, waited_ns=5_000_000))
        spans, _folded, aggregated, _ = _outcome(True, events)
        assert ("hold", _key(first), 0, _key(events[2]), "released") == spans[0]
        assert frozenset({("hold", _key(first))}) == spans[1][3]
        assert 1 == aggregated  # only the first acquire

    def test_same_spans_summaries_and_cuts_as_the_full_model(self) -> None:
        """Random interleavings: kept spans, their links, summaries and trace parts agree."""
        for seed in range(40):
            events = _script(seed)
            assert _outcome(False, events) == _outcome(True, events), seed


class TestRecordPath:
    """
    The Lock and RLock proxies' records, paired by the worker, make what their events would
    have: the same kept spans, links, summaries, counts and trace parts, with or without
    pressure.
    """

    def test_records_pair_as_their_events(self) -> None:
        for seed in range(40):
            events = _script(seed)
            for light in (False, True):
                by_events = _outcome(light, events)
                assert by_events == _outcome(light, events, records=True), (seed, light)

    def test_a_light_release_record_needs_no_event(self) -> None:
        """Under pressure, acquire and hold are summed up from the records alone."""
        lock = primitive("lock")
        events = [acquired(lock), released(lock), acquired(lock), released(lock)]
        spans, folded, aggregated, _ = _outcome(True, events, records=True)
        assert [] == spans
        assert 4 == aggregated
        assert [("acquire", 2), ("hold", 2)] == [(b[4], b[5]) for b in folded]

    def test_past_apart_the_primitives_made_at_one_place_are_one_summary(self) -> None:
        """
        Forty locks made at one line, folded by the sink and by the builder, merged: the
        builder keeps APART of them apart, the rest in one summary per operation, and every
        operation is counted once; a part counts one span per summary.
        """
        from syncscope._sinks.spans.segments import Segment
        from syncscope._sinks.spans.summary import APART

        segment = Segment(0, None, random.Random(1).getrandbits)
        place = (segment.trace_id, 7, segment)
        locks = [primitive(name=f"account{n}", line=25) for n in range(40)]
        chooser = random.Random(2)
        sink_side, builder_side = Summaries(), Summaries()
        folded = 0
        for side in (sink_side, builder_side):
            for _ in range(300):
                lock = chooser.choice(locks)
                side.fold(place, lock, "acquire", acquired(lock), 1, 2)
                folded += 1
        builder_side.merge(sink_side.take())
        buckets = builder_side.take()
        assert folded == sum(bucket.count for bucket in buckets)
        apart = [bucket for bucket in buckets if bucket.prims is None]
        (together,) = [bucket for bucket in buckets if bucket.prims is not None]
        assert APART == len(apart)
        assert len(buckets) == segment.count
        assert {bucket.prim.id for bucket in apart} | together.prims == {lock.id for lock in locks}
        name = summary_name(together)
        made = f"{len(together.prims)} made at {FILE_NAME}:25"
        assert name == f"Lock.acquire {made} x {together.count:,}, none waited"


class TestPartCounts:
    """A part counts its spans: a summary is one, whoever folded what into it."""

    def test_buckets_merged_into_one_count_as_one_span(self) -> None:
        from syncscope._sinks.spans.segments import Segment

        segment = Segment(0, None, random.Random(1).getrandbits)
        place = (segment.trace_id, 7, segment)
        lock = primitive()
        sink_side, builder_side = Summaries(), Summaries()
        sink_side.fold(place, lock, "acquire", acquired(lock), 1, 2)
        builder_side.fold(place, lock, "acquire", acquired(lock), 3, 4)
        assert 2 == segment.count  # one bucket each, one summary span each so far
        builder_side.merge(sink_side.take())
        (bucket,) = builder_side.take()
        assert 2 == bucket.count
        assert 1 == segment.count  # one summary span


class TestThreadsOfOneIdent:
    """A thread that ended and the thread that got its ident are two threads in the trace."""

    def test_uses_counted_by_an_ended_thread_are_not_the_new_threads(self) -> None:
        """
        A thread counts its uses in place and ends; the next thread gets its ident, and the
        worker pairs that one's records before it sums the first one's counts: those go under
        a thread of their own, named after it, not into the new thread's summary.
        """
        import threading

        from syncscope._core.event import ThreadLife
        from syncscope._core.leanholds import Uses
        from syncscope._sinks.spans.records import sum_counted

        ident = 4242
        ended_thread, new_thread = threading.Thread(name="ended"), threading.Thread(name="new")
        ended = ThreadHolds(ident, "ended", ThreadLife(ident, ended_thread))
        new = ThreadHolds(ident, "new", ThreadLife(ident, new_thread))
        ended.exited = 2_000
        proxy = _Proxy(primitive("rlock"))
        site = (FILE, 3, "work")
        summaries = Summaries()
        counts = type("Counts", (), {"aggregated": 0})()
        pairing = SpanPairing(
            random.Random(1).getrandbits, 10_000, lambda _: None, summaries, lambda: True, counts
        )
        buffer = deque(
            [
                (new, proxy, RECORD_ACQUIRED, 3_000, site, -1, 1),
                (new, proxy, RECORD_RELEASED, 3_100, site, -1, 0),
            ]
        )
        drain(pairing, buffer, len(buffer))
        use = Uses((ended, proxy, RECORD_ACQUIRED, 1_000, site, -1, 1), None)
        use.count, use.held_ns, use.last_ns = 5, 500, 1_900
        sum_counted(pairing, deque([use]))
        by_thread: dict[str, dict[str, int]] = {}
        places: dict[str, set[int]] = {}
        for bucket in summaries.take():
            name = bucket.event.thread_name
            by_thread.setdefault(name, {})[bucket.op] = bucket.count
            places.setdefault(name, set()).add(bucket.place[1])
        assert {"acquire": 5, "hold": 5} == by_thread["ended"]
        assert {"acquire": 1, "hold": 1} == by_thread["new"]
        assert places["ended"].isdisjoint(places["new"])

    def test_a_wait_of_an_ended_thread_paired_late_ends_with_its_acquire(self) -> None:
        """
        A thread waits for a lock, gets it and ends; the next thread gets its ident, and the
        worker pairs that one's first item before the first one's wait: the late wait ends
        with its own late acquire, as one blocked acquire of the thread that made it, and
        nothing is left "still waiting at exit".
        """
        import threading

        from syncscope._core.event import ThreadLife

        ident = 4243
        ended = ThreadLife(ident, threading.Thread(name="ended"))
        new = ThreadLife(ident, threading.Thread(name="new"))
        pairing, records = _pairing()
        lock, other = primitive("lock", "a"), primitive("lock", "b")
        first = [acquired(other, thread=ident, at=3_000), released(other, thread=ident, at=3_100)]
        late = [
            waiting(lock, thread=ident, at=1_000),
            acquired(lock, thread=ident, at=1_500, waited_ns=500),
            released(lock, thread=ident, at=1_600),
        ]
        for event_, life in [*((e, new) for e in first), *((e, ended) for e in late)]:
            event_.life = life
            pairing.pair(event_, None)
        pairing.finish()
        assert WAIT_AT_EXIT not in {r[0] for r in records}
        ops = [r for r in records if r[0] == OP]
        # The late acquire waited: kept, under the ended thread's span, not the new thread's.
        assert [("b", False), ("a", True)] == [(r[1].primitive.name, r[-1]) for r in ops]
        assert ops[0][3][1] != ops[1][3][1]

    def test_a_wait_paired_before_the_next_threads_first_item_ends_late(self) -> None:
        """
        A thread's wait is paired; the next thread with its ident comes (the first one has
        ended) before the wait's end: the end, late, still ends that wait, which links to the
        hold it waited for, and is kept as a blocked acquire of the thread that made it.
        """
        import threading

        from syncscope._core.event import ThreadLife

        ident = 4244
        ended = ThreadLife(ident, threading.Thread(name="ended"))
        new = ThreadLife(ident, threading.Thread(name="new"))
        pairing, records = _pairing()
        lock, other = primitive("lock", "a"), primitive("lock", "b")
        sequence = [
            (acquired(lock, thread=1, at=500), None),
            (waiting(lock, thread=ident, at=1_000), ended),
            (released(lock, thread=1, at=1_200), None),
            (acquired(other, thread=ident, at=3_000), new),
            (released(other, thread=ident, at=3_100), new),
            (acquired(lock, thread=ident, at=1_500, waited_ns=500), ended),
            (released(lock, thread=ident, at=1_600), ended),
        ]
        for event_, life in sequence:
            event_.life = life
            pairing.pair(event_, None)
        pairing.finish()
        assert WAIT_AT_EXIT not in {r[0] for r in records}
        holder = next(r[1] for r in records if r[0] == HOLD and r[1].event.thread_id == 1)
        (wait,) = [r for r in records if r[0] == OP and r[1].primitive is lock and r[4]]
        assert wait[-1] is True
        assert ((holder.trace_id, holder.span_id, "holder"),) == wait[4]

    def test_an_ended_threads_late_use_that_cuts_the_trace_keeps_its_place_to_itself(
        self,
    ) -> None:
        """
        A late record of a thread that ended (its ident another's now) comes when the part is
        full, and its pairing cuts the trace: its place in the new part is its own, not the
        place the thread with the ident takes next, whose uses are then counted in its name.
        """
        import threading

        from syncscope._core.event import ThreadLife

        ident = 4242
        ended_thread, new_thread = threading.Thread(name="ended"), threading.Thread(name="new")
        ended = ThreadHolds(ident, "ended", ThreadLife(ident, ended_thread))
        new = ThreadHolds(ident, "new", ThreadLife(ident, new_thread))
        ended.exited = 2_000
        proxy, other = _Proxy(primitive("rlock", "r")), _Proxy(primitive("lock", "other"))
        site = (FILE, 3, "work")
        summaries = Summaries()
        counts = type("Counts", (), {"aggregated": 0})()
        pairing = SpanPairing(
            random.Random(1).getrandbits, 4, lambda _: None, summaries, lambda: True, counts
        )

        def use(holds: ThreadHolds, lock: Any, at: int) -> deque[tuple[Any, ...]]:
            depth = 1 if lock is proxy else None
            return deque(
                [
                    (holds, lock, RECORD_ACQUIRED, at, site, -1, depth),
                    (holds, lock, RECORD_RELEASED, at + 50, site, -1, 0 if depth else None),
                ]
            )

        for holds, lock, at in ((new, proxy, 3_000), (new, other, 3_100)):
            drain(pairing, use(holds, lock, at), 2)  # four summaries: the part is full
        drain(pairing, use(ended, proxy, 1_000), 2)  # late: it cuts the trace
        assert 1 == pairing.segment.index
        for at in (3_200, 3_400):
            drain(pairing, use(new, proxy, at), 2)
        by_thread: dict[tuple[str, str], int] = {}
        for bucket in summaries.take():
            if bucket.prim is proxy._syncscope_primitive:
                key = (bucket.event.thread_name, bucket.op)
                by_thread[key] = by_thread.get(key, 0) + bucket.count
        assert {
            ("ended", "acquire"): 1,
            ("ended", "hold"): 1,
            ("new", "acquire"): 3,
            ("new", "hold"): 3,
        } == by_thread
