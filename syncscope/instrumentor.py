"""
``opentelemetry-instrument`` integration: synchronization spans for an instrumented service.

Registered under the ``opentelemetry_instrumentor`` entry point as ``syncscope``, so that
``opentelemetry-instrument python app.py`` turns it on. Because that happens wherever
``opentelemetry-instrument`` runs, the defaults are cheap:

* spans only for waits and holds of at least 1 ms (``SYNCSCOPE_MIN_SPAN_MS``; 0 for all),
  plus the spans those link to;
* no per-operation log lines;
* only primitives created by the application's code, as with ``python -m syncscope``.

Spans go to the global TracerProvider when the service set one (the usual case with a
distro), else over OTLP as the ``OTEL_EXPORTER_OTLP_*`` variables say. Switch it off with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=syncscope``.

Also usable by hand::

    from syncscope.instrumentor import SyncscopeInstrumentor

    SyncscopeInstrumentor().instrument(min_span_ms=0)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import atexit
import inspect
import os
import warnings
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import _api
from ._intercept.patch import SyncscopeWarning


__all__ = ["SyncscopeInstrumentor"]

#: Default threshold, in milliseconds, below which spans are not sent.
DEFAULT_MIN_SPAN_MS = 1.0


def _min_span_ms() -> float:
    value = os.environ.get("SYNCSCOPE_MIN_SPAN_MS", "").strip()
    if not value:
        return DEFAULT_MIN_SPAN_MS
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        warnings.warn(
            f"SYNCSCOPE_MIN_SPAN_MS={value!r} is not a number of milliseconds >= 0: "
            f"using {DEFAULT_MIN_SPAN_MS:g}",
            SyncscopeWarning,
            stacklevel=3,
        )
        return DEFAULT_MIN_SPAN_MS
    return number


class SyncscopeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """
    Spans for Lock, RLock, Condition, Semaphore, Event, Barrier and queue operations.

    ``instrument(**kwargs)`` accepts :func:`syncscope.install`'s arguments; the defaults
    differ: ``lines=False``, ``spans=True``, ``min_span_ms`` from ``SYNCSCOPE_MIN_SPAN_MS``
    (1 ms when unset).

    .. versionadded:: 0.1.0
    """

    _exit_hook_registered = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        options: dict[str, Any] = {"lines": False, "spans": True, "min_span_ms": _min_span_ms()}
        # Distros may pass arguments meant for other instrumentors (tracer_provider...).
        accepted = inspect.signature(_api.install).parameters
        options.update((key, value) for key, value in kwargs.items() if key in accepted)
        try:
            _api.install(**options)
        except ValueError as exc:  # a bad OTEL_* setting must not stop the service
            warnings.warn(f"syncscope is off: {exc}", SyncscopeWarning, stacklevel=3)
            return
        if not SyncscopeInstrumentor._exit_hook_registered:
            # Registered after the global TracerProvider (set up before instrumentors run), so
            # this runs first at exit: our last spans reach the provider before it shuts down.
            SyncscopeInstrumentor._exit_hook_registered = True
            atexit.register(_uninstall_at_exit)

    def _uninstrument(self, **kwargs: Any) -> None:
        _api.uninstall()


def _uninstall_at_exit() -> None:
    if _api.is_installed():
        _api.uninstall()
