"""Correct: a thread takes a Lock and exits; the next threads (same ident) must not inherit it."""

import threading

started = threading.Lock()
first = threading.Lock()


def take_signal():
    started.acquire()  # released by another thread, after this one has exited


def use_first():
    with first:  # no order with `started`: this thread does not hold it
        pass


def release_then_nest():
    started.release()
    with first:
        with started:
            pass


for target in (take_signal, use_first, release_then_nest):
    thread = threading.Thread(target=target, name=target.__name__)
    thread.start()
    thread.join()
