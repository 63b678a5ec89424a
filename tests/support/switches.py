"""
Forced thread switches: a test runs a hook before each instruction of one code object, where
the interpreter may hand over to another thread, to act there as another thread would.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def each_instruction(code: Any, call: Any) -> Iterator[None]:
    """``call(offset)`` before each instruction of ``code`` that this thread runs."""
    import threading

    me = threading.get_ident()
    if sys.version_info < (3, 12):

        def step(frame: Any, event: str, _arg: Any) -> Any:
            if event == "opcode":
                call(frame.f_lasti)
            return step

        def enter(frame: Any, _event: str, _arg: Any) -> Any:
            if frame.f_code is not code:
                return None
            frame.f_trace_opcodes = True
            return step

        sys.settrace(enter)
        try:
            yield
        finally:
            sys.settrace(None)
        return
    monitoring = sys.monitoring  # settrace's opcode events are not sent to a new frame here
    tool = next(n for n in range(6) if monitoring.get_tool(n) is None)
    monitoring.use_tool_id(tool, "syncscope tests")
    try:

        def instruction(seen: Any, offset: int) -> None:
            if seen is code and threading.get_ident() == me:
                call(offset)

        monitoring.register_callback(tool, monitoring.events.INSTRUCTION, instruction)
        monitoring.set_local_events(tool, code, monitoring.events.INSTRUCTION)
        try:
            yield
        finally:
            monitoring.set_local_events(tool, code, 0)
            monitoring.register_callback(tool, monitoring.events.INSTRUCTION, None)
    finally:
        monitoring.free_tool_id(tool)


class AtCallReturn:
    """
    An ``each_instruction`` hook that runs ``act()`` where the ``nth`` call made by ``code``
    returns (where the interpreter may hand the GIL to another thread); ``seen``: how many
    such places this thread went past.
    """

    def __init__(self, code: Any, nth: int, act: Any) -> None:
        import dis
        import itertools

        self.after_calls = {
            later.offset
            for earlier, later in itertools.pairwise(dis.get_instructions(code))
            if earlier.opname.startswith("CALL")
        }
        self.nth = nth
        self.act = act
        self.seen = 0

    def __call__(self, offset: int) -> None:
        if offset in self.after_calls:
            self.seen += 1
            if self.seen == self.nth:
                self.act()
