"""Correct: a thread takes a Lock as a signal and exits; a later thread (same ident) releases it."""

import threading

started = threading.Lock()
first = threading.Lock()
second = threading.Lock()


def take_signal():
    started.acquire()  # released by another thread, after this one has exited


def nest():
    with first:
        with second:
            pass


def nest_backwards_after_release():
    started.release()
    with second:
        pass
    with first:
        pass


thread = threading.Thread(target=take_signal, name="taker")
thread.start()
thread.join()
for target in (nest, nest_backwards_after_release):
    thread = threading.Thread(target=target, name=target.__name__)
    thread.start()
    thread.join()
