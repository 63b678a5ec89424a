"""
A minimal OTLP trace receiver for the benchmarks, over HTTP (``POST /v1/traces``) or gRPC (the
``TraceService/Export`` method): optionally counts the spans in each request, and answers with
an empty ExportTraceServiceResponse.

It runs in its own process, so that parsing requests does not compete with the benchmark (or
with anything else in the parent) for the parent's GIL:

    with Receiver(count_spans=True) as receiver:
        ...  # export to receiver.endpoint
        print(receiver.spans)
"""

from __future__ import annotations

import gzip
import multiprocessing
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from types import TracebackType


def _serve(
    conn: Connection,
    count_spans: bool,
    spans: Synchronized,
    requests: Synchronized,
    protocol: str = "http/protobuf",
) -> None:
    # Imported here: only the receiver's process needs protobuf.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    empty_response = ExportTraceServiceResponse().SerializeToString()

    def count(body: bytes) -> None:
        if count_spans:
            request = ExportTraceServiceRequest.FromString(body)
            received = sum(
                len(scope_spans.spans)
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
            )
            with spans.get_lock():
                spans.value += received
        with requests.get_lock():
            requests.value += 1

    if protocol == "grpc":
        _serve_grpc(conn, count, empty_response)
        return

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the exporter reuses its connection

        def do_POST(self) -> None:
            body = self._read_body()
            if self.path.split("?")[0] != "/v1/traces":
                self._answer(404, b"")
                return
            encoding = self.headers.get("Content-Encoding", "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            count(body)
            # Counted before answering: once the exporter has its answer, the count includes it.
            self._answer(200, empty_response)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    chunk = self.rfile.read(size)
                    self.rfile.readline()  # the CRLF after each chunk
                    if size == 0:
                        return b"".join(chunks)
                    chunks.append(chunk)
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would flood the benchmark's output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    conn.send(server.server_address[1])
    server.serve_forever()


def _serve_grpc(conn: Connection, count: Callable[[bytes], None], response: bytes) -> None:
    from concurrent import futures

    import grpc

    def export(body: bytes, context: object) -> bytes:
        count(body)  # counted before answering, as over HTTP
        return response

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},  # bytes in, bytes out
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    conn.send(port)
    server.wait_for_termination()


class Receiver:
    """The receiver's process; ``spans`` and ``requests`` count what it has received so far."""

    def __init__(self, count_spans: bool = True, protocol: str = "http/protobuf") -> None:
        # spawn: a fresh interpreter, not a fork of the parent's threads and memory.
        context = multiprocessing.get_context("spawn")
        self._spans = context.Value("q", 0)
        self._requests = context.Value("q", 0)
        parent_end, child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(child_end, count_spans, self._spans, self._requests, protocol),
            daemon=True,
        )
        self._process.start()
        child_end.close()
        if not parent_end.poll(60):
            self.stop()
            raise RuntimeError("the OTLP receiver did not start within 60 s")
        self.port: int = parent_end.recv()
        parent_end.close()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @property
    def spans(self) -> int:
        return int(self._spans.value)

    @property
    def requests(self) -> int:
        return int(self._requests.value)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
