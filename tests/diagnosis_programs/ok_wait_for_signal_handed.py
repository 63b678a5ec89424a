"""
Correct: the signal that ends a server reaches what its threads wait for in the ways real
handlers do: handed the Event through ``functools.partial`` (the handler's code calls it
``event``), and through a function of the program's it calls (``wrap_up()``, which sets
``drained``). The main thread and a worker wait for the one signal (SIGALRM here, SIGTERM in
real life), longer than the hang timeout.
"""

import functools
import signal
import threading

finished = threading.Event()
drained = threading.Event()


def wrap_up():
    drained.set()


def on_signal(event, number, frame):
    event.set()
    wrap_up()


def drain():
    drained.wait()


signal.signal(signal.SIGALRM, functools.partial(on_signal, finished))
worker = threading.Thread(target=drain, name="drainer")
worker.start()
signal.alarm(3)  # longer than the hang timeout
finished.wait()
worker.join()
print("stopped")
