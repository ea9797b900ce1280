"""A real HTTP server on loopback that serves remote C2PA manifests, and misbehaves on purpose, for tests.

Routes: ``/m/NAME`` serves ``manifests[NAME]``; ``/stall`` sends headers then nothing until the test releases it;
``/big`` announces nothing and streams more than any cap; ``/redirect?to=URL`` answers 302 to ``URL``; ``/loop``
redirects to itself; ``/status/N`` answers ``N``. Every request's path is recorded in ``requests``.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
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
def manifest_server(host: str = "127.0.0.1", *, tls: tuple[Path, Path] | None = None) -> Iterator[ManifestServer]:
    """The server on ``host`` and a free port; ``tls`` = (certificate, key) serves https."""
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
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.origin = f"{scheme}://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def tls_files(directory: Path, names: Sequence[str]) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``names`` (DNS names or IP addresses): ``(ca.pem, cert.pem, key.pem)``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: Any, ca: bool) -> Any:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            sans: list[x509.GeneralName] = []
            for n in names:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    sans.append(x509.DNSName(n))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("manifest test CA", ca_key, None, ca_key, ca=True)
    leaf = cert(names[0], key, ca.subject, ca_key, ca=False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
