"""
Threads that die of an exception: a hang report names the one that should have fed a queue
("died of ValueError at worker.py:12").

``threading.excepthook`` is the documented hook for this. The diagnosis sink chains its own in
front of whatever is there (the default prints the traceback, pytest's records it) and puts it
back at close, only if it is still the one in place (someone who replaced it since keeps
theirs).
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

from .._core.holds import Holds
from .._core.sites import is_library_code


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class DeathHook:
    """The chained hook; :meth:`restore` puts the previous one back."""

    def __init__(self, holds: Holds) -> None:
        self._holds = holds
        self._previous = threading.excepthook
        threading.excepthook = self

    def __call__(self, args: Any) -> None:
        with contextlib.suppress(Exception):  # recording must never hide the program's error
            thread = args.thread
            ident = thread.ident if thread is not None else threading.get_ident()
            name = thread.name if thread is not None else f"Thread-{ident}"
            life = self._holds.life(ident, name)
            if life is not None and args.exc_type is not SystemExit:
                text = args.exc_type.__name__
                if str(args.exc_value):
                    text += f": {args.exc_value}"
                life.error = (text, _innermost_user_site(args.exc_traceback))
        self._previous(args)

    def restore(self) -> None:
        if threading.excepthook is self:
            threading.excepthook = self._previous


def hook_thread_deaths(holds: Holds) -> DeathHook:
    return DeathHook(holds)


def _innermost_user_site(tb: TracebackType | None) -> tuple[str, int, str] | None:
    site = None
    while tb is not None:
        code = tb.tb_frame.f_code
        try:
            library = is_library_code(code)
        except OSError:
            library = False
        if not library or site is None:
            site = (code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return site
