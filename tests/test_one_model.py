"""
One model of who holds what: the report and the spans read the same holds.

Random event sequences, adversarial ones included (releases never seen, releases by another
thread, permits given back for others, Condition waits, timeouts, RLock depths), go both to
the diagnosis recorder and to the span pairing. Every hold the report counts is a hold span
that ended at the same release or wait, with the same duration, and the other way round.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncscope._core.event import Primitive, SyncEvent
from syncscope._sinks.recorder import DiagnosisOptions, Recorder
from syncscope._sinks.spans.pairing import HOLD, HoldSpan, SpanPairing

from .support.events import event, primitive


LOCK = primitive("lock", "lock_a", line=1)
RLOCK = primitive("rlock", "rlock_b", line=2)
SEM = primitive("semaphore", "sem_c", line=3)
COND = primitive("condition", "cond_d", line=4)
COND.lock = COND  # a Condition on a lock of its own reports under itself
PRIMITIVES = (LOCK, RLOCK, SEM, COND)

THREADS = st.integers(min_value=1, max_value=3)
DEPTHS = st.integers(min_value=0, max_value=3)
STEPS = st.one_of(
    st.tuples(st.just("acquire"), st.sampled_from(PRIMITIVES), THREADS, DEPTHS, st.booleans()),
    st.tuples(st.just("release"), st.sampled_from(PRIMITIVES), THREADS, DEPTHS, st.booleans()),
    st.tuples(st.just("timeout"), st.sampled_from(PRIMITIVES), THREADS, DEPTHS, st.booleans()),
    st.tuples(st.just("wait"), st.just(COND), THREADS, DEPTHS, st.booleans()),
)


def events_of(steps: list[tuple[str, Primitive, int, int, bool]]) -> list[SyncEvent]:
    """Turn steps into events 1 ms apart; ``flag`` makes an acquire wait first."""
    events = []
    clock = iter(range(1_000_000, 10**12, 1_000_000))

    def add(prim: Primitive, op: str, outcome: str, thread: int, **fields: Any) -> None:
        events.append(event(prim, op, outcome, thread=thread, at=next(clock), **fields))

    for action, prim, thread, depth, flag in steps:
        depth_field = {"depth": depth} if prim.kind in ("rlock", "condition") else {}
        permits = {"permits": depth or 1} if prim.kind == "semaphore" else {}
        if action == "acquire":
            if flag:
                add(prim, "acquire", "waiting", thread)
            add(prim, "acquire", "acquired", thread, waited_ns=1 if flag else None, **depth_field)
        elif action == "release":
            add(prim, "release", "released", thread, **depth_field, **permits)
        elif action == "timeout":
            add(prim, "acquire", "waiting", thread)
            add(prim, "acquire", "timeout", thread, waited_ns=1)
        else:
            add(prim, "wait", "waiting", thread)
            add(prim, "wait", "woken" if flag else "timeout", thread, waited_ns=1)
    return events


def report_holds(events: list[SyncEvent]) -> Counter[tuple[int, int]]:
    """(primitive id, hold time) of every hold the report counts."""
    recorder = Recorder(DiagnosisOptions(stats=True, detect_deadlocks=False, echo=False))
    ended: Counter[tuple[int, int]] = Counter()
    stats = recorder.stats
    assert stats is not None
    original = stats.hold_ended

    def hold_ended(hold: Any, held_ns: int) -> None:
        ended[(hold.primitive.id, held_ns)] += 1
        original(hold, held_ns)

    stats.hold_ended = hold_ended  # type: ignore[method-assign]
    try:
        for item in events:
            recorder.handle(item)
    finally:
        recorder.close()
    for prim in PRIMITIVES:  # the tally agrees with what was seen ending
        figures = stats.find(prim)
        holds = sum(n for (pid, _), n in ended.items() if pid == prim.id)
        assert (figures.holds if figures is not None else 0) == holds
    return ended


def span_holds(events: list[SyncEvent]) -> Counter[tuple[int, int]]:
    """(primitive id, duration) of every hold span that ended at a release or a wait."""
    records: list[tuple[Any, ...]] = []
    pairing = SpanPairing(lambda bits: 7, 10_000, records.append)
    for item in events:
        pairing.pair(item, None)
    pairing.finish()
    ended: Counter[tuple[int, int]] = Counter()
    for record in records:
        if record[0] != HOLD:
            continue
        span: HoldSpan = record[1]
        end_event, reason = record[2], record[3]
        if reason in ("released", "wait"):
            ended[(span.prim.id, end_event.time_ns - span.event.time_ns)] += 1
    return ended


class TestOneModel:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(STEPS, max_size=40))
    def test_spans_show_the_holds_the_report_counts(
        self, steps: list[tuple[str, Primitive, int, int, bool]]
    ) -> None:
        """Any sequence: the report's holds and the hold spans are the same holds."""
        events = events_of(steps)
        assert report_holds(events) == span_holds(events)

    def test_two_permits_taken_one_given_back(self) -> None:
        """The case that once disagreed: one of a thread's two permits comes back."""
        events = events_of(
            [
                ("acquire", SEM, 1, 0, False),
                ("acquire", SEM, 1, 0, False),
                ("release", SEM, 1, 1, False),
            ]
        )
        assert 1 == sum(report_holds(events).values())
        assert report_holds(events) == span_holds(events)

    def test_every_hold_span_ends_once(self) -> None:
        """A stale hold (its release never seen) ends once, when the next owner takes it."""
        events = events_of([("acquire", LOCK, 1, 0, False), ("acquire", LOCK, 2, 0, False)])
        records: list[tuple[Any, ...]] = []
        pairing = SpanPairing(lambda bits: 7, 10_000, records.append)
        for item in events:
            pairing.pair(item, None)
        pairing.finish()
        reasons = [r[3] for r in records if r[0] == HOLD]
        assert ["release not seen", "held at exit"] == reasons
