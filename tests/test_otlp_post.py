"""
OTLP over HTTP sent by syncscope itself (``_sinks/spans/post.py``), against real loopback
servers: what reaches the collector (path, headers, compression, the spans), retries, failures
said in the exit line, https with the CA given, and that ``requests`` is never imported.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import run_syncscope
from tests.support.otlp_runs import (
    imported_modules,
    run_with_otlp,
    self_signed_certificate,
    spans_exit_line,
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept alive, as collectors do

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        server: Collector = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            status, extra = server.answers.pop(0) if server.answers else (200, {})
            server.received.append(
                (self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
            )
            server.clients.append(self.client_address[1])
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        # A collector that drops idle connections without a word: the next export finds it
        # closed.
        self.close_connection = server.hang_up


class Collector(ThreadingHTTPServer):
    """A loopback OTLP/HTTP server that keeps every request and answers as scripted."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[str, dict[str, str], bytes, int]] = []
        self.clients: list[int] = []
        self.hang_up = False
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def spans(self, status: int = 200) -> list[str]:
        names = []
        for _path, headers, sent, answered in self.received:
            if answered != status:
                continue
            gzipped = headers.get("content-encoding") == "gzip"
            body = gzip.decompress(sent) if gzipped else sent
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    names += [span.name for span in scope_spans.spans]
        return names


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()
    server.thread.join(timeout=10)


def test_spans_go_out_with_the_variables_headers_and_gzip(
    tmp_path: Path, collector: Collector
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=locks,authorization=Bearer%20abc",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=1",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    url = f"http://127.0.0.1:{collector.port}"
    done = run_with_otlp(tmp_path, url, "--protocol", "http/protobuf", env=env)
    line = spans_exit_line(done.stderr)
    made = int(re.search(r"spans: ([\d,]+) made", line).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert f"{made:,} sent to {url}/v1/traces (http/protobuf), 0 dropped" in line
    names = collector.spans()
    assert len(names) == made
    assert "Lock.acquire lock" in names and "Lock.hold lock" in names
    path, headers, _body, _status = collector.received[0]
    assert path == "/v1/traces"
    lowered = headers
    assert lowered["content-type"] == "application/x-protobuf"
    assert lowered["content-encoding"] == "gzip"
    assert lowered["x-team"] == "locks"
    assert lowered["authorization"] == "Bearer abc"
    assert "x-ignored" not in lowered  # the traces variable wins over the general one
    assert lowered["user-agent"].startswith("OTel-OTLP-Exporter-Python")
    # Sent without the SDK's exporter and its HTTP stack, and built without the SDK.
    imported = imported_modules(done.stderr)
    assert "syncscope._sinks.spans.post" in imported
    assert not imported & {"requests", "urllib3", "opentelemetry.exporter.otlp.proto.http"}
    assert not imported & {"opentelemetry.trace", "opentelemetry.sdk.trace"}


BUSY_PROGRAM = """
import threading
lock = threading.Lock()
for _ in range(700):
    with lock:
        pass
print("done")
"""


@pytest.mark.parametrize("hang_up", [False, True], ids=["kept alive", "closed by the server"])
def test_batches_share_one_connection_or_open_another(
    tmp_path: Path, collector: Collector, hang_up: bool
) -> None:
    collector.hang_up = hang_up
    script = tmp_path / "busy.py"
    script.write_text(BUSY_PROGRAM)
    url = f"http://127.0.0.1:{collector.port}/v1/traces"
    done = run_syncscope(
        "-q", "--no-report", f"--otlp={url}", "--protocol", "http/protobuf", str(script)
    )
    assert done.returncode == 0, done.stderr
    line = spans_exit_line(done.stderr)
    made = int(re.search(r"spans: ([\d,]+) made", line).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert f"{made:,} sent" in line and "0 dropped" in line, line
    assert len(collector.spans()) == made
    assert len(collector.received) >= 2  # more than one batch
    if hang_up:
        assert len(set(collector.clients)) == len(collector.clients)
    else:
        assert len(set(collector.clients)) == 1


def test_unavailable_is_retried_after_the_servers_hint(
    tmp_path: Path, collector: Collector
) -> None:
    collector.answers = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"})]
    url = f"http://127.0.0.1:{collector.port}/v1/traces"
    done = run_with_otlp(tmp_path, url, "--protocol", "http/protobuf")
    line = spans_exit_line(done.stderr)
    statuses = [status for *_rest, status in collector.received]
    assert statuses[:3] == [503, 429, 200]
    # The same request three times: the spans arrive once.
    assert collector.received[0][2] == collector.received[2][2]
    made = int(re.search(r"spans: ([\d,]+) made", line).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert len(collector.spans()) == made
    assert "0 dropped" in line and "failed" not in line


def test_a_refusal_is_said_with_its_status(tmp_path: Path, collector: Collector) -> None:
    collector.answers = [(400, {})] * 50
    url = f"http://127.0.0.1:{collector.port}/v1/traces"
    done = run_with_otlp(tmp_path, url, "--protocol", "http/protobuf")
    line = spans_exit_line(done.stderr)
    assert re.search(r"in \d+ failed exports?: HTTP 400 Bad Request", line), line
    assert collector.spans() == []
    assert all(status == 400 for *_rest, status in collector.received)  # 400 is not retried


def test_a_proxy_in_the_environment_leaves_sending_to_the_exporter(
    tmp_path: Path, collector: Collector
) -> None:
    # The exporter's requests honours proxies; our sender does not, so it steps aside. The
    # loopback host is exempted with NO_PROXY here, so the spans still arrive directly.
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "example.org"}
    url = f"http://127.0.0.1:{collector.port}/v1/traces"
    done = run_with_otlp(
        tmp_path, url, "--protocol", "http/protobuf", env={**env, "HTTP_PROXY": ""}
    )
    imported = imported_modules(done.stderr)
    assert "opentelemetry.exporter.otlp.proto.http" in imported
    env["NO_PROXY"] = "127.0.0.1"
    done = run_with_otlp(tmp_path, url, "--protocol", "http/protobuf", env=env)
    assert "opentelemetry.exporter.otlp.proto.http" not in imported_modules(done.stderr)
    assert "0 dropped" in spans_exit_line(done.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_with_the_ca_given(tmp_path: Path) -> None:
    key, cert = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Collector(context)
    server.thread.start()
    try:
        url = f"https://127.0.0.1:{server.port}/v1/traces"
        env = {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": str(cert)}
        done = run_with_otlp(tmp_path, url, "--protocol", "http/protobuf", env=env)
        line = spans_exit_line(done.stderr)
        assert "0 dropped" in line and "failed" not in line, line
        assert "Lock.hold lock" in server.spans()
    finally:
        server.shutdown()
        server.server_close()
        server.thread.join(timeout=10)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_RESOURCE_ATTRIBUTES": "team=sync, deployment.environment = a%20b,bad,=x"},
        {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,k=v=w"},
        {"OTEL_RESOURCE_ATTRIBUTES": "service.name=a", "OTEL_SERVICE_NAME": "from-env"},
    ],
)
def test_the_resource_made_without_the_sdk_is_the_sdks(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What our spans carry as their resource is what the SDK's own detectors would say."""
    from opentelemetry.sdk import resources

    from syncscope._sinks.spans.options import SpanOptions
    from syncscope._sinks.spans.resource import resource_attributes, version

    for name in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = SpanOptions(run_name="prog.py")
    from_env = resources.OTELResourceDetector().detect()
    name = str(from_env.attributes.get("service.name", "") or "") or "syncscope prog.py"
    ours = resources.Resource(
        {
            "service.name": name,
            "process.pid": os.getpid(),
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": ".".join(map(str, sys.version_info[:3])),
        }
    )
    expected = resources._DEFAULT_RESOURCE.merge(from_env).merge(ours)
    assert resource_attributes(options) == dict(expected.attributes)
    import importlib.metadata

    assert version() == importlib.metadata.version("syncscope")
    assert version("opentelemetry-sdk") == importlib.metadata.version("opentelemetry-sdk")


def test_spans_stay_on_when_the_program_imports_logging_as_the_worker_starts(
    tmp_path: Path, collector: Collector
) -> None:
    """
    The worker checks the loggers as it sets up, while the program's first line may be
    importing logging (``concurrent.futures`` does): it must wait for that import, not read a
    half-made module and turn spans off. (A race: each run had a one-in-two chance to hit it.)
    """
    script = tmp_path / "futures.py"
    script.write_text(
        "import concurrent.futures, threading\n"
        "lock = threading.Lock()\n"
        "with lock:\n"
        "    pass\n"
        "print('done')\n"
    )
    url = f"http://127.0.0.1:{collector.port}/v1/traces"
    for _ in range(4):
        done = run_syncscope(
            "-q", "--no-report", f"--otlp={url}", "--protocol", "http/protobuf", str(script)
        )
        assert done.returncode == 0, done.stderr
        assert "spans are off" not in done.stderr
        assert "0 dropped" in spans_exit_line(done.stderr)
    assert collector.spans().count("Lock.hold lock") == 4


URLS = [
    "http://localhost:4317",
    "https://collector.example:4318/v1/traces",
    "http://127.0.0.1:14318",
    "http://127.0.0.1:14318/",
    "http://[::1]:4318/v1/traces?x=1#frag",
    "http://[::1]/v1/traces",
    "HTTP://User:Secret@Host.Example:80/a/b?c=d",
    "http://host:/path",
    "http://host:abc",
    "http://host:99999",
    "http://host?query",
    "http://host#fragment",
    "localhost:4317",
    "http:///v1/traces",
    "ftp://host:21",
    "",
    " http://host:4318",
    "http://host:4318\n",
    "http://h\tost:43\r18/v1/traces",
    "http://[::1:4318",
    "http://::1]:4318",
]


@pytest.mark.parametrize("url", URLS)
def test_endpoint_urls_split_as_urllib_splits_them(url: str) -> None:
    """syncscope's own URL split (urllib.parse costs start-up) agrees with urlsplit."""
    from urllib.parse import urlsplit

    from syncscope._sinks.spans.urls import Url

    try:
        expected = urlsplit(url)
    except ValueError:
        with pytest.raises(ValueError):
            Url(url)
        return
    ours = Url(url)
    if expected.netloc or "://" in url:
        assert (expected.scheme, expected.netloc) == (ours.scheme, ours.netloc)
        assert (expected.hostname, expected.path, expected.query) == (
            ours.hostname,
            ours.path,
            ours.query,
        )
    else:
        assert "" == ours.netloc  # not a URL with a host: rejected alike
    try:
        port = expected.port
    except ValueError:
        with pytest.raises(ValueError):
            _ = ours.port
    else:
        assert port == ours.port
