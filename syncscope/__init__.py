"""
syncscope: see what your threads do.

Every operation on ``threading``'s and ``queue``'s synchronization primitives becomes a log
line (and an OpenTelemetry span), without touching the program::

    python -m syncscope script.py
"""

from __future__ import annotations

from ._api import install, is_installed, name, uninstall
from ._patch import SyncscopeWarning
from ._registry import get_original


__all__ = [
    "SyncscopeWarning",
    "get_original",
    "install",
    "is_installed",
    "name",
    "uninstall",
]


def __getattr__(attr: str) -> str:
    if attr == "__version__":
        from importlib.metadata import version

        return version("syncscope")
    raise AttributeError(f"module 'syncscope' has no attribute {attr!r}")
