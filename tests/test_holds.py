"""The hold tracker: who holds what and who waits on what, from the events alone."""

from __future__ import annotations

import threading

from syncscope._core.holds import Holds

from .support.events import acquired, event, primitive, released, waiting


class TestLocks:
    def test_acquire_and_release(self) -> None:
        """An acquire starts a hold of that thread; the release ends it and returns it."""
        holds = Holds()
        lock = primitive("lock")
        hold = holds.acquired(acquired(lock, thread=1, line=5))
        assert hold is not None
        assert [hold] == holds.held[1]
        assert hold is holds.owner[lock]
        assert ("/src/app.py", 5, "work") == hold.site
        assert "T1" == hold.thread_name
        assert hold is holds.released(released(lock, thread=1))
        assert [] == holds.held[1]
        assert lock not in holds.owner

    def test_rlock_reentry_is_one_hold(self) -> None:
        """An RLock's inner acquire and release change nothing; the last release ends it."""
        holds = Holds()
        rlock = primitive("rlock")
        outer = holds.acquired(acquired(rlock, depth=1))
        assert outer is not None
        assert holds.acquired(acquired(rlock, depth=2)) is None
        assert holds.released(released(rlock, depth=1)) is None
        assert [outer] == holds.held[1]
        assert outer is holds.released(released(rlock, depth=0))

    def test_lock_released_by_another_thread_is_a_handoff(self) -> None:
        """A Lock released by another thread ends the hold and marks the lock as a signal."""
        holds = Holds()
        lock = primitive("lock")
        holds.acquired(acquired(lock, thread=1))
        assert holds.released(released(lock, thread=2)) is not None
        assert [] == holds.held[1]
        assert lock in holds.handoff

    def test_unseen_release_is_forgotten_at_the_next_acquire(self) -> None:
        """A hold whose release was never seen is dropped when another thread takes the lock."""
        holds = Holds()
        lock = primitive("lock")
        holds.acquired(acquired(lock, thread=1))
        second = holds.acquired(acquired(lock, thread=2))
        assert [] == holds.held[1]
        assert second is holds.owner[lock]

    def test_release_of_an_unknown_hold(self) -> None:
        """A release of something taken before the tracking began is ignored."""
        holds = Holds()
        assert holds.released(released(primitive("lock"))) is None


class TestSemaphores:
    def test_permits_per_thread(self) -> None:
        """Each acquire is a permit of its thread; its own release gives it back."""
        holds = Holds()
        sem = primitive("semaphore")
        first = holds.acquired(acquired(sem, thread=1))
        second = holds.acquired(acquired(sem, thread=2))
        assert [first, second] == holds.permits[sem]
        assert [second] == holds.returned(released(sem, thread=2, permits=1))
        assert [first] == holds.permits[sem]
        assert sem not in holds.handoff

    def test_release_by_a_thread_without_permit(self) -> None:
        """A release by a thread holding none returns the oldest permit: a signal."""
        holds = Holds()
        sem = primitive("semaphore")
        first = holds.acquired(acquired(sem, thread=1))
        assert [first] == holds.returned(released(sem, thread=3, permits=1))
        assert sem in holds.handoff
        assert sem not in holds.permits

    def test_release_n(self) -> None:
        """release(n) gives back up to n permits."""
        holds = Holds()
        sem = primitive("semaphore")
        for _ in range(3):
            holds.acquired(acquired(sem, thread=1))
        assert 2 == len(holds.returned(released(sem, thread=1, permits=2)))
        assert 1 == len(holds.permits[sem])


class TestConditionWait:
    def test_wait_gives_the_lock_up_and_takes_it_back(self) -> None:
        """Condition.wait parks the hold of its lock; the end of the wait restores it, anew."""
        holds = Holds()
        cond = primitive("condition")
        cond.lock = cond
        hold = holds.acquired(acquired(cond, depth=1))
        assert hold is not None
        assert hold is holds.park(waiting(cond, "wait"))
        assert cond not in holds.owner
        assert [] == holds.held[1]
        end = event(cond, "wait", "woken", waited_ns=5)
        assert hold is holds.unpark(end)
        assert hold is holds.owner[cond]
        assert end.time_ns == hold.since_ns

    def test_wait_without_holding(self) -> None:
        """A wait by a thread that does not hold the lock (it raises) parks nothing."""
        holds = Holds()
        cond = primitive("condition")
        cond.lock = cond
        assert holds.park(waiting(cond, "wait")) is None
        assert holds.unpark(event(cond, "wait", "error")) is None


class TestWaits:
    def test_wait_names_the_holder_in_the_way(self) -> None:
        """An acquire that waits records the hold that blocks it."""
        holds = Holds()
        lock = primitive("lock")
        hold = holds.acquired(acquired(lock, thread=1))
        wait = holds.begin_wait(waiting(lock, thread=2, line=20))
        assert hold is wait.blocker
        assert wait is holds.waiting[2]
        assert ("/src/app.py", 20, "work") == wait.site
        assert "acquire" == wait.op

    def test_snapshot_holders(self) -> None:
        """holders() names who must release for a waiting acquire to get through."""
        holds = Holds()
        lock, sem, signal = primitive("lock"), primitive("semaphore"), primitive("lock")
        holds.acquired(acquired(lock, thread=1))
        holds.begin_wait(waiting(lock, thread=2))
        holds.acquired(acquired(sem, thread=1))
        holds.acquired(acquired(sem, thread=4))
        holds.begin_wait(waiting(sem, thread=3))
        holds.begin_wait(waiting(lock, thread=1))  # its own Lock, taken again
        holds.handoff[signal] = None
        holds.begin_wait(waiting(signal, thread=6))
        holds.begin_wait(waiting(primitive("event"), "wait", thread=7))
        snapshot = holds.snapshot()
        assert (1,) == snapshot.holders(2)
        assert {1, 4} == set(snapshot.holders(3) or ())
        assert snapshot.holders(1) is None
        assert snapshot.holders(6) is None
        assert snapshot.holders(7) is None
        assert snapshot.holders(99) is None


class TestThreadExits:
    def test_holds_of_an_exited_thread_are_not_inherited(self) -> None:
        """A thread's end marks its holds exited; the next thread with its ident holds nothing."""
        holds = Holds(track_exits=True)
        lock, sem = primitive("lock"), primitive("semaphore")
        idents: list[int] = []

        def take() -> None:
            ident = threading.get_ident()
            idents.append(ident)
            holds.acquired(acquired(lock, thread=ident))
            holds.acquired(acquired(sem, thread=ident))

        thread = threading.Thread(target=take)
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive()
        [ident] = idents
        assert ident not in holds.held
        # Marked with the time of the exit: after the holds were taken.
        exited = holds.owner[lock].exited
        assert exited >= holds.owner[lock].since_ns
        assert [exited] == [hold.exited for hold in holds.permits[sem]]

        def reuse() -> None:  # the same ident, as Linux would give it to the next thread
            holds.acquired(acquired(primitive("lock", "other"), thread=ident))
            holds.returned(released(sem, thread=ident, permits=1))

        thread = threading.Thread(target=reuse)
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert holds.owner[lock].exited  # still "held by the exited thread"
        assert sem in holds.handoff  # given back by a thread that did not take it
        assert holds.snapshot().holders(ident) is None

    def test_replays_track_no_exits(self) -> None:
        """Without track_exits (a replay of recorded events) no thread life is kept."""
        holds = Holds()
        assert holds.life(1, "T1") is None
