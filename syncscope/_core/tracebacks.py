"""
Tracebacks without syncscope in them: the frames a user sees are the ones plain Python shows.

An exception raised inside a primitive (``queue.Empty`` from ``get``, ``RuntimeError`` from
releasing an unlocked lock, ``KeyboardInterrupt`` during a blocking acquire) passes through the
wrappers on its way to the program, and each adds its frame to the traceback. Every wrapper
catches on the way out, drops the frames of syncscope's files from the traceback (``tb_next``
is writable), and re-raises with a bare ``raise``: a bare ``raise`` adds no frame of its own,
and the frames of the standard library in between (``queue.py``'s ``get``) stay, as plain
Python shows them. A ``try`` costs nothing until something is raised.
"""

from __future__ import annotations

from types import TracebackType

from .sites import OWN_PREFIX


_with_traceback = BaseException.with_traceback


def hide_frames(exc: BaseException) -> None:
    """Drop syncscope's frames from ``exc``'s traceback, wherever they are in it."""
    # Through BaseException's own setter, as CPython sets a traceback: a frozen dataclass's
    # or attrs' exception refuses ``exc.__traceback__ = ...`` (its ``__setattr__`` raises).
    _with_traceback(exc, without_own_frames(exc.__traceback__))


def without_own_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` relinked past every entry for a frame in syncscope's files."""
    head: TracebackType | None = None
    last: TracebackType | None = None
    while tb is not None:
        following = tb.tb_next
        if not tb.tb_frame.f_code.co_filename.startswith(OWN_PREFIX):
            if last is None:
                head = tb
            else:
                last.tb_next = tb
            last = tb
        tb = following
    if last is not None:
        last.tb_next = None
    return head


def hide_frames_in_chain(exc: BaseException) -> None:
    """:func:`hide_frames` for ``exc`` and every exception chained to it (``__cause__``...)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        hide_frames(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):  # its members; not any ``exceptions``
            pending += [e for e in current.exceptions if isinstance(e, BaseException)]
