"""
OTLP over gRPC sent by syncscope itself on HTTP/2 (``_sinks/spans/grpcsend.py``), against a
real gRPC server (grpcio's) on loopback that keeps each request as it came: what reaches the
collector (the spans, the metadata from the variables or given to ``install()``, the user
agent, gzip), large requests past HTTP/2's flow-control windows, one connection kept and made
anew when the collector restarts, retries after the server's RetryInfo, a refusal said with
its code, TLS with the CA given, and that neither the SDK's gRPC exporter, nor the SDK, nor
grpc is imported in the traced program (nor anything for a collector that is down).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.otlp import abort_with_retry_info
from tests.support.otlp_runs import (
    imported_modules,
    run_with_otlp,
    self_signed_certificate,
    spans_exit_line,
    spans_made,
)


SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class Collector:
    """A loopback OTLP/gRPC server that keeps every request (raw) and answers as scripted."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None, port: int = 0) -> None:
        self.lock = threading.Lock()
        #: Scripted answers, first first: (code, RetryInfo delay in seconds or None).
        self.answers: list[tuple[grpc.StatusCode, float | None]] = []
        #: (metadata, body, code) of every request, as it came.
        self.received: list[tuple[dict[str, str], bytes, grpc.StatusCode]] = []
        handler = grpc.method_handlers_generic_handler(
            SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._export)}
        )
        self.executor = futures.ThreadPoolExecutor(max_workers=4)
        self.server = grpc.server(self.executor, options=[("grpc.so_reuseport", 0)])
        self.server.add_generic_rpc_handlers((handler,))
        if credentials is None:
            self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        else:
            self.port = self.server.add_secure_port(f"127.0.0.1:{port}", credentials)
        self.server.start()

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {key: value for key, value in context.invocation_metadata()}
        # Who asked ("ipv4:127.0.0.1:40000"): one client port per connection.
        metadata["peer"] = context.peer()
        metadata["peer-host"] = context.peer().split(":")[1]
        with self.lock:
            code, delay = self.answers.pop(0) if self.answers else (grpc.StatusCode.OK, None)
            self.received.append((metadata, body, code))
        if code is not grpc.StatusCode.OK:
            abort_with_retry_info(context, code, "refused by the test", delay)
        return b""  # an empty ExportTraceServiceResponse

    def spans(self) -> list[str]:
        names = []
        for _metadata, body, code in self.received:
            if code is not grpc.StatusCode.OK:
                continue
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    names += [span.name for span in scope_spans.spans]
        return names

    def close(self) -> None:
        self.server.stop(grace=None).wait(timeout=10)
        self.executor.shutdown(wait=False)


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


def test_spans_go_out_on_our_own_channel_with_the_headers(
    tmp_path: Path, collector: Collector
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=locks,Authorization=Bearer%20abc",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=1",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    url = f"http://127.0.0.1:{collector.port}"
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
    line = spans_exit_line(done.stderr)
    made = spans_made(line)
    assert f"{made:,} sent to {url} (grpc), 0 dropped" in line
    names = collector.spans()
    assert len(names) == made
    assert "Lock.acquire lock" in names and "Lock.hold lock" in names
    metadata = collector.received[0][0]
    # The traces variable wins over the general one; names in lower case, as gRPC wants.
    assert metadata["x-team"] == "locks"
    assert metadata["authorization"] == "Bearer abc"
    assert "x-ignored" not in metadata
    assert metadata["user-agent"].startswith("OTel-OTLP-Exporter-Python/syncscope")
    # Sent without the SDK's gRPC exporter (and its logs module before the program) and
    # without grpc, and built without the SDK.
    imported = imported_modules(done.stderr)
    assert "syncscope._sinks.spans.http2" in imported
    assert not imported & {
        "grpc",
        "h2",
        "hpack",
        "opentelemetry.exporter.otlp.proto.grpc",
        "opentelemetry.sdk._logs",
        "opentelemetry.sdk.trace",
        "opentelemetry.trace",
    }


def test_headers_given_replace_the_variables(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the exporter: headers given to install() replace the variables' headers."""
    from syncscope._sinks.spans.grpcsend import GrpcSender

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=locks")
    sender = GrpcSender(f"http://127.0.0.1:{collector.port}", {"X-Given": "yes"})
    try:
        sender.send(ExportTraceServiceRequest().SerializeToString())
    finally:
        sender.shutdown()
    (metadata, body, code), *_ = collector.received
    assert grpc.StatusCode.OK == code and b"" == body
    assert metadata["x-given"] == "yes" and "x-team" not in metadata


def test_headers_the_variable_cannot_give_are_skipped_not_all(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the exporter's liberal parser: a bad part goes, the others stay; a name HTTP/2
    refuses is not sent (the server would reset every call)."""
    from syncscope._sinks.spans.grpcsend import GrpcSender

    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_HEADERS", "a=1,bad,x y=2,Authorization=Bearer%20abc,b=c=d"
    )
    sender = GrpcSender(f"http://127.0.0.1:{collector.port}", {})  # {}: the variables' then
    try:
        sender.send(ExportTraceServiceRequest().SerializeToString())
    finally:
        sender.shutdown()
    metadata = collector.received[0][0]
    assert ("1", "Bearer abc", "c=d") == (metadata["a"], metadata["authorization"], metadata["b"])
    assert not {"bad", "x y", "x"} & set(metadata)


def test_the_servers_retry_info_is_honoured(tmp_path: Path, collector: Collector) -> None:
    # Three refusals in a row: with the usual back-off (about 1, 2 and 4 seconds) the export
    # would not fit in its timeout of 3 seconds; with the server's delay of 0 it does.
    collector.answers = [
        (grpc.StatusCode.UNAVAILABLE, 0.0),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 0.0),
        (grpc.StatusCode.UNAVAILABLE, 0.0),
    ]
    url = f"http://127.0.0.1:{collector.port}"
    env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "3"}
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
    line = spans_exit_line(done.stderr)
    codes = [code for *_rest, code in collector.received]
    assert codes[:4] == [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.OK,
    ]
    # The same request four times: the spans arrive once.
    assert len({body for _metadata, body, _code in collector.received[:4]}) == 1
    assert len(collector.spans()) == spans_made(line)
    assert "0 dropped" in line and "failed" not in line, line


def test_a_refusal_is_said_with_its_code(tmp_path: Path, collector: Collector) -> None:
    collector.answers = [(grpc.StatusCode.INVALID_ARGUMENT, None)] * 50
    url = f"http://127.0.0.1:{collector.port}"
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc")
    line = spans_exit_line(done.stderr)
    where = f"127.0.0.1:{collector.port}"
    found = re.search(r"in (\d+) failed exports?: gRPC INVALID_ARGUMENT from ([^:]+:\d+)", line)
    assert found is not None, line
    assert where == found.group(2)
    assert collector.spans() == []
    # Not a code the exporter retries: each export asked once.
    assert int(found.group(1)) == len(collector.received)


def test_a_collector_that_is_down_costs_no_grpc_import(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_with_otlp(tmp_path, f"http://127.0.0.1:{port}", "--protocol", "grpc")
    line = spans_exit_line(done.stderr)
    assert f"connection refused by 127.0.0.1:{port}" in line, line
    imported = imported_modules(done.stderr)
    assert not imported & {"syncscope._sinks.spans.http2", "grpc", "opentelemetry.sdk._logs"}


def test_large_requests_pass_the_flow_control_windows_on_one_connection(
    collector: Collector,
) -> None:
    """HTTP/2 lets 64 KiB through until the server opens its windows: a 1 MiB request waits
    for that, arrives whole, and the next requests share the connection."""
    from syncscope._sinks.spans.grpcsend import GrpcSender

    bodies = [bytes(range(256)) * 4096, b"second", b"third" * 30_000]
    sender = GrpcSender(f"http://127.0.0.1:{collector.port}")
    try:
        for body in bodies:
            sender.send(body)
    finally:
        sender.shutdown()
    assert bodies == [body for _metadata, body, _code in collector.received]
    assert {"127.0.0.1"} == {metadata["peer-host"] for metadata, *_ in collector.received}
    assert 1 == len({metadata["peer"] for metadata, *_ in collector.received})


def test_a_collector_that_restarted_is_connected_to_again(collector: Collector) -> None:
    """The kept connection dies with the collector; the next export makes a new one."""
    from syncscope._sinks.spans.grpcsend import GrpcSender

    sender = GrpcSender(f"http://127.0.0.1:{collector.port}")
    again = None
    try:
        sender.send(b"before")
        port = collector.port
        collector.close()
        again = Collector(port=port)
        sender.send(b"after")
    finally:
        sender.shutdown()
        if again is not None:
            again.close()
    assert [b"before"] == [body for _metadata, body, _code in collector.received]
    assert again is not None and [b"after"] == [body for _m, body, _c in again.received]


@pytest.mark.parametrize(
    "answer",
    [
        bytes.fromhex("15030100020246"),  # a TLS alert (protocol version), as OpenSSL's
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 48\r\n\r\n"
        b"The plain HTTP request was sent to HTTPS port\r\n",
    ],
    ids=["TLS alert", "Go's answer", "nginx's answer"],
)
def test_plain_to_a_tls_collector_is_said_once(tmp_path: Path, answer: bytes) -> None:
    """http:// to a collector that wants TLS: the probe says so, rather than a protocol
    mismatch or an export that fails until the flush timeout."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65_536)
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        done = run_with_otlp(tmp_path, f"http://127.0.0.1:{port}", "--protocol", "grpc")
    finally:
        listener.close()
    line = spans_exit_line(done.stderr)
    assert f"127.0.0.1:{port} speaks TLS: give the endpoint as https://" in line, line


def test_a_proxy_or_credential_provider_leaves_sending_to_the_exporter(
    tmp_path: Path, collector: Collector
) -> None:
    """gRPC's core finds proxies in the environment; our sender steps aside, as over HTTP."""
    url = f"http://127.0.0.1:{collector.port}"
    env = {"grpc_proxy": "http://127.0.0.1:9", "no_grpc_proxy": "example.org"}
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
    assert "opentelemetry.exporter.otlp.proto.grpc.trace_exporter" in imported_modules(done.stderr)
    env["no_grpc_proxy"] = "127.0.0.1"
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
    assert "opentelemetry.exporter.otlp.proto.grpc" not in imported_modules(done.stderr)
    assert "0 dropped" in spans_exit_line(done.stderr)


def test_a_credential_provider_leaves_sending_to_the_exporter(
    tmp_path: Path, collector: Collector
) -> None:
    """Only the SDK's exporter loads credential providers: it is used then, and says why not."""
    env = {
        "OTEL_PYTHON_EXPORTER_OTLP_GRPC_CREDENTIAL_PROVIDER": "no-such-provider",
        "OTEL_EXPORTER_OTLP_INSECURE": "false",  # credentials are looked for only then
    }
    url = f"http://127.0.0.1:{collector.port}"
    done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
    line = spans_exit_line(done.stderr)
    assert "cannot make the OTLP exporter" in line and "no-such-provider" in line, line
    assert "opentelemetry.exporter.otlp.proto.grpc.trace_exporter" in imported_modules(done.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_the_ca_given(tmp_path: Path) -> None:
    key, cert = self_signed_certificate(tmp_path)
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    server = Collector(credentials)
    try:
        url = f"https://127.0.0.1:{server.port}"
        env = {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": str(cert)}
        done = run_with_otlp(tmp_path, url, "--protocol", "grpc", env=env)
        line = spans_exit_line(done.stderr)
        assert "0 dropped" in line and "failed" not in line, line
        assert "Lock.hold lock" in server.spans()
    finally:
        server.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"grpc_proxy": "http://127.0.0.1:9"}, "a proxy is set (grpc_proxy)"),
        ({"HTTPS_PROXY": "http://127.0.0.1:9"}, "a proxy is set (https_proxy)"),
        ({"grpc_proxy": "http://127.0.0.1:9", "no_grpc_proxy": "127.0.0.1"}, None),
        ({"https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"}, None),
        # gRPC reads no_grpc_proxy when it is set, and no_proxy only when it is not.
        (
            {
                "grpc_proxy": "http://127.0.0.1:9",
                "no_grpc_proxy": "example.org",
                "no_proxy": "127.0.0.1",
            },
            "a proxy is set (grpc_proxy)",
        ),
        ({}, None),
    ],
)
def test_which_proxy_variables_hand_grpc_to_the_exporter(
    env: dict[str, str], expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncscope._sinks.spans.post import needs_the_exporter

    for name in ("grpc_proxy", "https_proxy", "http_proxy", "no_grpc_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert expected == needs_the_exporter("http://127.0.0.1:4317", "grpc")


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"OTEL_EXPORTER_OTLP_COMPRESSION": "deflate"},
            "unsupported OTLP compression 'deflate' for gRPC",
        ),
        (
            {"OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES": "UNAVAILABLE,NOPE"},
            "unknown gRPC status 'NOPE' in OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES",
        ),
    ],
    ids=["compression", "retryable codes"],
)
def test_a_bad_setting_is_said_in_the_exit_line(
    tmp_path: Path, collector: Collector, env: dict[str, str], said: str
) -> None:
    """The program runs as it would; its spans are counted as refused, and why is said once."""
    done = run_with_otlp(
        tmp_path, f"http://127.0.0.1:{collector.port}", "--protocol", "grpc", env=env
    )
    line = spans_exit_line(done.stderr)
    made = spans_made(line)
    assert f"{made:,} endpoint refused: cannot make the OTLP exporter" in line, line
    assert said in line, line
    assert [] == collector.received
    assert "Traceback" not in done.stderr
