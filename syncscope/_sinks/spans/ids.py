"""Span and trace ids, drawn at random."""

from __future__ import annotations

from collections.abc import Callable


def span_id(rand: Callable[[int], int]) -> int:
    return rand(64) or 1


def trace_id(rand: Callable[[int], int]) -> int:
    # Keep the high half non-zero: Jaeger shortens such trace ids to 16 digits otherwise.
    return (rand(64) | 1 << 63) << 64 | rand(64)
