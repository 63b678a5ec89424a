"""A real Jaeger (v2, all-in-one, in-memory) for end-to-end tests.

The binary is built once per machine by ``.ci/build-jaeger`` and cached outside
the repository. Each :class:`JaegerServer` runs its own instance bound to
127.0.0.1 on free ports, so tests never depend on (or clash with) a Jaeger that
happens to be running on the default ports.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self


# Keep in sync with .ci/build-jaeger: the cache layout is shared.
JAEGER_VERSION = "v1.76.0"

GO_MISSING_REASON = "Go toolchain not installed: cannot build Jaeger"


def unavailable_reason() -> str:
    """Why find_or_build_jaeger() returned None, for pytest.skip."""
    return os.environ.get("SYNCSCOPE_JAEGER_SKIP") or GO_MISSING_REASON


REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / ".ci" / "build-jaeger"

# Exit status of .ci/build-jaeger when `go` is not on PATH.
_EXIT_NO_GO = 3

# Jaeger v2 is an OpenTelemetry Collector distribution configured by YAML.
# Compared with its embedded all-in-one config this keeps only what tests need
# (OTLP in, memory storage, query API out) and pins every listener to
# 127.0.0.1 on a caller-chosen port. Deliberately left out, because they would
# open fixed ports that clash between instances: the jaeger and zipkin
# receivers, remote_sampling (5778/5779), healthcheckv2 (13133), expvar
# (27777), zpages (27778) and the Prometheus self-metrics endpoint (8888).
_CONFIG_TEMPLATE = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      # No batch processor: spans are stored before the OTLP export call
      # returns, so tests need not wait for a flush interval.
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      # "none" also drops the default Prometheus reader on :8888.
      level: none
    logs:
      level: info

extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    # Otherwise the query service exports its own spans to the OTLP endpoint
    # from the environment (default localhost:4317), i.e. to someone else.
    enable_tracing: false
    http:
      endpoint: "127.0.0.1:{query_http_port}"
    grpc:
      endpoint: "127.0.0.1:{query_grpc_port}"

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:{otlp_grpc_port}"
      http:
        endpoint: "127.0.0.1:{otlp_http_port}"

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""

# urllib would otherwise honour http_proxy and send loopback requests to a proxy.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cached_jaeger_path() -> Path:
    """Where .ci/build-jaeger leaves the binary (same rules as the script)."""
    cache_root = os.environ.get("SYNCSCOPE_CACHE_DIR")
    if not cache_root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache_root = str(Path(xdg) / "syncscope")
    return Path(cache_root) / f"jaeger-{JAEGER_VERSION}" / "jaeger"


def find_or_build_jaeger() -> str | None:
    """Return a Jaeger binary, building it if needed; None if Go is missing.

    Order: $SYNCSCOPE_JAEGER_BIN, the per-machine cache, then a build with
    .ci/build-jaeger (several minutes on the first run).
    """
    if os.environ.get("SYNCSCOPE_JAEGER_SKIP"):
        return None  # CI tried to build it and could not: do not try again per test run
    explicit = os.environ.get("SYNCSCOPE_JAEGER_BIN")
    if explicit:
        # An explicit setting that is wrong is a configuration error: fail
        # loudly instead of silently skipping the tests that need it.
        if not os.access(explicit, os.X_OK):
            raise RuntimeError(f"SYNCSCOPE_JAEGER_BIN={explicit!r} is not an executable file")
        return explicit

    cached = cached_jaeger_path()
    if os.access(cached, os.X_OK):
        return str(cached)

    if shutil.which("go") is None:
        return None

    result = subprocess.run(
        [str(BUILD_SCRIPT)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == _EXIT_NO_GO:
        return None
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"{BUILD_SCRIPT.name} failed with exit status {result.returncode}:\n"
            + _tail(result.stderr)
        )
    return lines[-1]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _free_loopback_ports(count: int) -> list[int]:
    """Ask the kernel for distinct free ports on 127.0.0.1.

    All sockets stay open until every port is chosen so the kernel cannot hand
    out the same port twice; another process may still grab one before Jaeger
    binds it, which start() handles by retrying.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class JaegerServer:
    """One Jaeger all-in-one process with in-memory storage on loopback."""

    START_TIMEOUT = 60.0
    STOP_TIMEOUT = 10.0
    # Attempts when a chosen port was taken between choosing and binding it.
    START_ATTEMPTS = 3

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._ports: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("Jaeger is already running")
        self._workdir = tempfile.TemporaryDirectory(prefix="syncscope-jaeger-")
        try:
            for attempt in range(1, self.START_ATTEMPTS + 1):
                try:
                    self._start_once()
                    return
                except _PortTaken:
                    self._terminate()
                    if attempt == self.START_ATTEMPTS:
                        raise RuntimeError(
                            "Jaeger could not bind its ports after "
                            f"{attempt} attempts:\n{self.log_tail()}"
                        ) from None
        except BaseException:
            self.stop()
            raise

    def _start_once(self) -> None:
        assert self._workdir is not None
        names = ("otlp_grpc_port", "otlp_http_port", "query_http_port", "query_grpc_port")
        self._ports = dict(zip(names, _free_loopback_ports(len(names)), strict=True))

        config = self.workdir / "config.yaml"
        config.write_text(_CONFIG_TEMPLATE.format(**self._ports))

        # OTEL_* variables meant for the code under test (endpoints, resource
        # attributes, SDK switches) must not configure Jaeger's own telemetry.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [self.binary, "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.log_tail()
                if "address already in use" in log:
                    raise _PortTaken
                raise RuntimeError(
                    f"Jaeger exited with status {self._process.returncode} during startup:\n{log}"
                )
            # Extensions (query API) start before receivers, so the API
            # answering alone does not mean OTLP is being accepted yet.
            if (
                self._query_api_answers()
                and _port_accepts(self._ports["otlp_grpc_port"])
                and _port_accepts(self._ports["otlp_http_port"])
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"Jaeger did not become ready within {self.START_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )

    def _query_api_answers(self) -> bool:
        try:
            self._get_json("/api/services", timeout=1.0)
        except (OSError, ValueError, RuntimeError):
            return False
        return True

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- locations -----------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("Jaeger has not been started")
        return Path(self._workdir.name)

    @property
    def log_path(self) -> Path:
        return self.workdir / "jaeger.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except (OSError, RuntimeError):
            return "(no log)"

    def _port(self, name: str) -> int:
        if not self._ports:
            raise RuntimeError("Jaeger has not been started")
        return self._ports[name]

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port('otlp_grpc_port')}"

    @property
    def otlp_http_endpoint(self) -> str:
        """Base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT (which appends /v1/traces)."""
        return f"http://127.0.0.1:{self._port('otlp_http_port')}"

    @property
    def otlp_http_traces_endpoint(self) -> str:
        """Full URL for OTLPSpanExporter(endpoint=...), which appends nothing."""
        return f"{self.otlp_http_endpoint}/v1/traces"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self._port('query_http_port')}"

    # -- query API -----------------------------------------------------------

    def _get_json(self, path: str, timeout: float = 10.0) -> Any:
        try:
            with _HTTP.open(self.query_url + path, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            # The body carries Jaeger's reason ("parameter 'service' is required").
            detail = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"Jaeger query GET {path}: HTTP {err.code}: {detail}") from err

    def services(self) -> list[str]:
        # "data" is null, not [], while nothing has been stored.
        return list(self._get_json("/api/services")["data"] or [])

    def traces(self, service: str, limit: int = 100) -> list[dict[str, Any]]:
        # An unknown service is not an error: Jaeger answers with an empty list.
        query = urllib.parse.urlencode({"service": service, "limit": limit})
        return list(self._get_json(f"/api/traces?{query}")["data"] or [])

    def wait_for_spans(
        self, service: str, count: int, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Poll until the service's traces hold at least `count` spans in total."""
        deadline = time.monotonic() + timeout
        while True:
            traces = self.traces(service)
            seen = sum(len(trace["spans"]) for trace in traces)
            if seen >= count:
                return traces
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Jaeger has {seen} of {count} spans for service {service!r} "
                    f"after {timeout:.0f} s"
                )
            time.sleep(0.2)


class _PortTaken(Exception):
    """A port picked as free was bound by someone else before Jaeger got it."""
