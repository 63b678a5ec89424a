"""
Every kind of wait the timeline draws an arrow into, each made certain to block: the thread
that would let a waiter go on does so only once the waiter sits blocked (its innermost frame
is a wait inside threading or syncscope), never after a sleep.
"""

import os
import queue
import sys
import threading
import time


def blocked(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return False
    name = frame.f_code.co_name
    here = frame.f_code.co_filename == __file__
    return not here and name in ("wait", "acquire_contended", "_acquire_restore", "acquire")


def until_blocked(thread: threading.Thread) -> None:
    deadline = time.monotonic() + 10
    while not blocked(thread):
        if time.monotonic() > deadline or not thread.is_alive():
            sys.exit(f"{thread.name} never blocked")
        os.sched_yield()


def start(name: str, target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name)
    thread.start()
    return thread


ready = threading.Event()
jobs = queue.Queue(maxsize=1)
cond = threading.Condition()
lock = threading.Lock()
release_now = queue.SimpleQueue()
taken = queue.SimpleQueue()


def event_waiter() -> None:
    ready.wait(timeout=10)


def consumer() -> None:
    jobs.get(timeout=10)


def producer() -> None:
    jobs.put("third", timeout=10)


def joiner() -> None:
    jobs.join()


def cond_waiter() -> None:
    with cond:
        cond.wait(timeout=10)


def holder() -> None:
    with lock:
        taken.put(True)
        release_now.get(timeout=10)


def contender() -> None:
    if lock.acquire(timeout=10):
        lock.release()


threads = []
t = start("event-waiter", event_waiter)
until_blocked(t)
ready.set()
threads.append(t)

t = start("consumer", consumer)
until_blocked(t)
jobs.put("first")
threads.append(t)
t.join(timeout=10)
jobs.put("second")
t = start("producer", producer)
until_blocked(t)
jobs.get()
threads.append(t)
t.join(timeout=10)
jobs.get()
t = start("joiner", joiner)
until_blocked(t)
for _ in range(3):
    jobs.task_done()
threads.append(t)

t = start("cond-waiter", cond_waiter)
until_blocked(t)
with cond:
    cond.notify()
threads.append(t)

h = start("holder", holder)
taken.get(timeout=10)
t = start("contender", contender)
until_blocked(t)
release_now.put(True)
threads += [h, t]

for t in threads:
    t.join(timeout=10)
    assert not t.is_alive()
print("done")
