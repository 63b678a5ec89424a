"""
Threads of the test runner, not of the program: pytest-timeout's timer, and in a pytest-xdist
worker execnet's receiver. Neither releases the program's locks nor feeds its waiters, but
each looks to the watchdog like a thread that runs: the timer waits with a timeout, the
receiver is blocked in a read of the controller's messages. Beside a thread that runs, a
deadlock through a Lock is reported only once it has lasted the grace period (any running
thread may release a Lock), and ``check_deadlocks()`` does not see it at once: under
``pytest -n 2`` a test that asserted it failed. The watchdog leaves these threads out.
"""

from __future__ import annotations

import threading
from types import FrameType

from .._core.compat import current_frames


#: Idents of execnet's receiver threads, found when the pytest plugin starts in an xdist
#: worker (a program that uses execnet itself gets messages there that may feed its waits).
_receivers: set[int] = set()


def harness_thread(ident: int) -> bool:
    """Whether the thread ``ident`` is the test runner's (see the module's docstring)."""
    if ident in _receivers:
        return True
    thread = getattr(threading, "_active", {}).get(ident)
    # pytest-timeout's timer (its ``thread`` method): all it will ever do is end the run.
    return thread is not None and thread.name.startswith("pytest_timeout ")


def find_xdist_receivers() -> None:
    """
    Remember which running threads are execnet's receivers: started raw (not in
    ``threading.enumerate()``), they are told by their frames, running
    ``gateway_base``'s ``_thread_receiver`` for the whole of the worker's life.
    """
    for ident, frame in current_frames().items():
        below: FrameType | None = frame
        while below is not None:
            code = below.f_code
            module = str(below.f_globals.get("__name__", ""))
            if code.co_name == "_thread_receiver" and (
                "gateway_base" in module or "gateway_base" in code.co_filename
            ):
                _receivers.add(ident)
                break
            below = below.f_back
