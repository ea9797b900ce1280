"""A real HTTP server on loopback that serves remote C2PA manifests, and misbehaves on purpose, for tests.

Routes: ``/m/NAME`` serves ``manifests[NAME]``; ``/stall`` sends headers then nothing until the test releases it;
``/big`` announces nothing and streams more than any cap; ``/redirect?to=URL`` answers 302 to ``URL``; ``/loop``
redirects to itself; ``/status/N`` answers ``N``. Every request's path is recorded in ``requests``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class ManifestServer:
    origin: str
    manifests: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    outage: dict[str, int] = field(default_factory=dict)
    """``/m/NAME`` answers 503 this many times before it serves the manifest."""
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.origin + path


@contextmanager
def manifest_server(host: str = "127.0.0.1") -> Iterator[ManifestServer]:
    state = ManifestServer(origin="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            parts = urlsplit(self.path)
            if state.outage.get(parts.path[3:], 0) > 0:
                state.outage[parts.path[3:]] -= 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path.startswith("/m/") and parts.path[3:] in state.manifests:
                body = state.manifests[parts.path[3:]]
                self.send_response(200)
                self.send_header("Content-Type", "application/c2pa")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif parts.path == "/stall":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.flush()
                state.release.wait(60)
            elif parts.path == "/big":
                self.send_response(200)
                self.end_headers()  # no Content-Length: the cap must hold while reading
                chunk = b"\0" * 65536
                try:
                    for _ in range(1024):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif parts.path in ("/redirect", "/loop"):
                self.send_response(302)
                self.send_header("Location", parse_qs(parts.query)["to"][0] if parts.path == "/redirect" else "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path.startswith("/status/"):
                self.send_response(int(parts.path.rsplit("/", 1)[1]))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    state.origin = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
