"""Primitives a library file makes, watched as the program's own for one test."""

from __future__ import annotations

import unittest

from syncscope._core import sites


def watch_as_programs_own(test: unittest.TestCase, path: str) -> None:
    """
    Count ``path`` as the program's code until ``test`` ends, so that the primitives it makes
    are watched without ``--all`` (which also watches the queues' own locks and Conditions,
    and so turns off the steps a queue's put and get take in place). Called before install().
    """
    prefixes = sites._user_prefixes

    def forget() -> None:
        sites._user_prefixes = prefixes
        sites.forget_verdicts()

    test.addCleanup(forget)  # run after tearDown, and even when setUp fails past it
    sites.add_user_path(path)
    assert not sites.is_library_file(path)
