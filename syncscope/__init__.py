"""
syncscope: see what your threads do.

Every operation on ``threading``'s and ``queue``'s synchronization primitives becomes a log
line (and an OpenTelemetry span), without touching the program::

    python -m syncscope script.py

PYTEST_DONT_REWRITE: ``python -m syncscope -m pytest`` imports syncscope before pytest, which
would otherwise warn that it cannot rewrite it (fatal under ``filterwarnings = error``).
"""

from __future__ import annotations

from ._api import install, is_installed, name, uninstall
from ._core.registry import get_original
from ._intercept.patch import SyncscopeWarning


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .testing import record


__all__ = [
    "SyncscopeWarning",
    "get_original",
    "install",
    "is_installed",
    "name",
    "record",
    "uninstall",
]


def __getattr__(attr: str) -> Any:
    if attr == "__version__":
        from importlib.metadata import version

        return version("syncscope")
    if attr == "record":
        # Imported on first use: the diagnosis modules are not needed to run with lines only.
        from .testing import record

        return record
    raise AttributeError(f"module 'syncscope' has no attribute {attr!r}")
