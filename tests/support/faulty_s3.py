"""A small HTTP proxy in front of moto's server that answers a fraction of S3 requests with 503 SlowDown or 500
InternalError, as S3 does under load. Deterministic: every ``every``-th request fails; and with ``outage``, the first
N requests whose path contains a marker fail in a row (more than botocore's own attempts, so the task sees it). With
``delay`` it also stands for S3's network latency."""

from __future__ import annotations

import http.client
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

FAULTS = [
    (503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"),
    (500, b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"),
]


@contextmanager
def faulty_s3(
    upstream: str, every: int = 4, outage: dict[str, int] | None = None, *, delay: float = 0.0
) -> Iterator[dict[str, int]]:
    """Yields counters; the proxy's URL is in ``counters['port']``. ``every=0``: no periodic faults. ``delay``: seconds
    each forwarded request waits first (S3's latency), so a batch takes a known minimum time to process."""
    target = urlsplit(upstream)
    counter = itertools.count(1)
    stats = {"requests": 0, "faults": 0, "port": 0, "outage_faults": 0}
    outage_left = dict(outage or {})
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                n = next(counter)
                stats["requests"] += 1
                fault = FAULTS[(n // every) % len(FAULTS)] if every and n % every == 0 else None
                for marker, left in outage_left.items():
                    if marker in self.path and left > 0:
                        outage_left[marker] = left - 1
                        stats["outage_faults"] += 1
                        fault = FAULTS[0]
                if fault:
                    stats["faults"] += 1
            if fault:
                status, payload = fault
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if delay:
                time.sleep(delay)
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            """A client that went away mid-request (a worker the test killed) is expected, not an error."""
            import sys

            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    server = Server(("127.0.0.1", 0), Handler)
    stats["port"] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        server.shutdown()
        server.server_close()
