"""
The span options, checked on the installing thread without importing OpenTelemetry: the
exporters, the OTLP endpoint and protocol (options first, then the ``OTEL_*`` variables),
headers, limits.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping

from ..._core.files import check_writable
from ..._core.records import record
from .urls import Url


PROTOCOLS = ("grpc", "http/protobuf")
EXPORTERS = ("otlp", "console", "none")


@record
class SpanOptions:
    """Everything about spans, decided at install (see :func:`syncscope.install`)."""

    exporters: tuple[str, ...] = ("otlp",)
    protocol: str = "grpc"
    #: Neither given nor told by the port (4317, 4318) or path: the endpoint's answer decides.
    protocol_guessed: bool = False
    endpoint: str | None = None
    headers: Mapping[str, str] | None = None
    service_name: str | None = None
    run_name: str = "python"
    jaeger_file: str | None = None
    span_items: bool = False
    flush_timeout: float = 5.0
    min_span_ms: float = 0.0
    max_trace_spans: int = 10_000
    buffer_size: int = 16_384


def parse_headers(value: str | Mapping[str, str] | None) -> dict[str, str] | None:
    """``"k=v,k2=v2"`` (the ``OTEL_EXPORTER_OTLP_HEADERS`` syntax) or a mapping, as a dict."""
    if value is None:
        return None
    if not isinstance(value, str):
        return {str(k): str(v) for k, v in value.items()}
    from urllib.parse import unquote

    headers = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad OTLP header {part.strip()!r}: expected key=value")
        headers[unquote(key.strip()).lower()] = unquote(val.strip())
    return headers


def _check_url(url: str, what: str) -> str:
    parts = Url(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"bad {what} {url!r}: expected http://host:port or https://host:port")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"bad {what} {url!r}: the port is not a number") from None
    return url


def resolve_otlp(endpoint: str | None, protocol: str | None) -> tuple[str, str]:
    """
    The protocol and the URL to export to, from the options first, then the environment.

    An endpoint given without a protocol picks ``http/protobuf`` for port 4318 or a
    ``/v1/traces`` path and ``grpc`` otherwise (the Python SDK's default). An HTTP endpoint
    given as an option without a path gets ``/v1/traces`` appended, as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` does; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as is.
    """
    env = os.environ
    chosen = (
        protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or None
    )
    if chosen is not None:
        chosen = chosen.strip().lower()
        if chosen not in PROTOCOLS:
            raise ValueError(
                f"unsupported OTLP protocol {chosen!r}: choose one of {', '.join(PROTOCOLS)}"
            )
    traces_env = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_env = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint:
        url = endpoint if "://" in endpoint else "http://" + endpoint
        _check_url(url, "OTLP endpoint")
        proto = chosen or _guess_protocol(url)
        if proto == "http/protobuf" and Url(url).path in ("", "/"):
            url = url.rstrip("/") + "/v1/traces"
        return proto, url
    if traces_env:
        _check_url(traces_env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return chosen or _guess_protocol(traces_env), traces_env
    if base_env:
        _check_url(base_env, "OTEL_EXPORTER_OTLP_ENDPOINT")
        proto = chosen or _guess_protocol(base_env)
        if proto == "http/protobuf":
            return proto, base_env.rstrip("/") + "/v1/traces"
        return proto, base_env
    proto = chosen or "grpc"
    if proto == "grpc":
        return proto, "http://localhost:4317"
    return proto, "http://localhost:4318/v1/traces"


def _guess_protocol(url: str) -> str:
    parts = Url(url)
    if parts.port == 4318 or parts.path.rstrip("/").endswith("/v1/traces"):
        return "http/protobuf"
    return "grpc"


def _protocol_guessed(url: str, protocol: str | None) -> bool:
    env = os.environ
    if protocol or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip():
        return False
    if env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip():
        return False
    parts = Url(url)
    return parts.port not in (4317, 4318) and not parts.path.rstrip("/").endswith("/v1/traces")


def exporters_from_env(default: tuple[str, ...]) -> tuple[str, ...]:
    """``OTEL_TRACES_EXPORTER`` as a tuple of the exporters syncscope has; ``default`` if unset."""
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not value:
        return default
    return parse_exporters(value)


def parse_exporters(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"unsupported trace exporter {unknown[0]!r}: choose from {', '.join(EXPORTERS)}"
        )
    return tuple(name for name in names if name != "none")


def span_options(
    *,
    exporter: str | None,
    endpoint: str | None,
    protocol: str | None,
    headers: str | Mapping[str, str] | None,
    service_name: str | None,
    jaeger_file: str | None,
    span_items: bool,
    flush_timeout: float,
    min_span_ms: float,
    max_trace_spans: int,
    span_buffer: int,
    run_name: str | None,
) -> SpanOptions:
    """Check :func:`syncscope.install`'s span arguments; ValueError names the first bad one."""
    if exporter is None:
        exporters = exporters_from_env(() if jaeger_file else ("otlp",))
    else:
        exporters = parse_exporters(exporter)
    if endpoint is not None and "otlp" not in exporters:
        exporters = (*exporters, "otlp")
    resolved_protocol, url, guessed = "grpc", None, False
    if "otlp" in exporters:
        resolved_protocol, url = resolve_otlp(endpoint, protocol)
        guessed = _protocol_guessed(url, protocol)
    elif protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(
            f"unsupported OTLP protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}"
        )
    parsed_headers = parse_headers(headers)
    for name, value, low in (
        ("flush_timeout", flush_timeout, 0.0),
        ("min_span_ms", min_span_ms, 0.0),
    ):
        if not isinstance(value, (int, float)) or math.isnan(value) or value < low:
            raise ValueError(f"bad {name} {value!r}: expected a number >= {low:g}")
    if flush_timeout > 3600:
        raise ValueError(f"bad flush_timeout {flush_timeout!r}: at most 3600 seconds")
    for name, count in (("max_trace_spans", max_trace_spans), ("span_buffer", span_buffer)):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"bad {name} {count!r}: expected a whole number >= 1")
    if jaeger_file is not None:
        try:
            check_writable(jaeger_file)
        except OSError as exc:
            raise ValueError(
                f"cannot write the Jaeger file {jaeger_file!r}: {exc.strerror or exc}"
            ) from None
    if run_name is None:
        run_name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return SpanOptions(
        exporters=exporters,
        protocol=resolved_protocol,
        protocol_guessed=guessed,
        endpoint=url,
        headers=parsed_headers,
        service_name=service_name,
        run_name=run_name,
        jaeger_file=jaeger_file,
        span_items=span_items,
        flush_timeout=float(flush_timeout),
        min_span_ms=float(min_span_ms),
        max_trace_spans=max_trace_spans,
        buffer_size=span_buffer,
    )
