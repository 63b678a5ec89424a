"""
The OpenTelemetry resource of syncscope's own spans (its service, the SDK's version, the
environment's ``OTEL_RESOURCE_ATTRIBUTES``), made without importing the SDK's resources module.
"""

from __future__ import annotations

import contextlib
import os
import sys


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .options import SpanOptions


def version(distribution: str = "syncscope") -> str:
    """
    The installed version, from the distribution's ``METADATA`` found on ``sys.path``:
    ``importlib.metadata`` would cost 30 ms and the ``email`` package to import.
    """
    prefix = distribution.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = [
                name
                for name in os.listdir(entry or ".")
                if name.lower().startswith(prefix) and name.endswith(".dist-info")
            ]
        except OSError:
            continue
        for name in names:
            path = os.path.join(entry or ".", name, "METADATA")
            with contextlib.suppress(OSError), open(path, encoding="utf-8") as file:
                for line in file:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip()
                    if not line.strip():
                        break
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:
        return "0"


def resource_attributes(options: SpanOptions) -> dict[str, Any]:
    """
    What the SDK's default resource says, then ``OTEL_RESOURCE_ATTRIBUTES`` and
    ``OTEL_SERVICE_NAME`` as its ``OTELResourceDetector`` reads them, then ours: the resource
    of our spans, made without importing the SDK (its resources module costs ~90 ms; a test
    checks the two agree).

    Not ``Resource.create()``: it runs the detectors on a thread pool, whose threads the
    program would see (and which refuses to start during interpreter shutdown).
    """
    try:
        from opentelemetry.sdk.version import __version__ as sdk_version
    except ImportError:
        sdk_version = version("opentelemetry-sdk")
    attributes: dict[str, Any] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": sdk_version,
    }
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            value = value.strip()
            if "%" in value:  # urllib.parse imports re: only for a value that needs it
                from urllib.parse import unquote

                value = unquote(value)
            attributes[key.strip()] = value
    from_env = os.environ.get("OTEL_SERVICE_NAME")
    if from_env:
        attributes["service.name"] = from_env
    name = options.service_name or os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if not name:
        name = str(attributes.get("service.name", "") or "")
    if not name:
        name = f"syncscope {options.run_name}"
    attributes.update(
        {
            "service.name": name,
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": ".".join(map(str, sys.version_info[:3])),
        }
    )
    return attributes
