"""``python -m bench.echo_check``: what the intake's echo check costs per copy event, GET (body declined) vs HEAD.

The intake drops the copy events of our own write-backs (``MEDIA_INGEST_INTAKE_SKIP_ECHOES``) after reading the
object's metadata (:func:`pipeline.process.is_own_echo`). It used a GET whose body it declined
(``ObjectStore.fetch(..., accept=lambda _: False)``); now it sends a HEAD (``ObjectStore.head_object``). Both
through the real :class:`~pipeline.adapters.s3.S3ObjectStore` and the project's S3 client, against moto's server
on loopback (started here, on its own port), for objects of each ``--sizes``, alternating the two ways in rounds
(best of ``--rounds``). Per check: the intake's CPU (``time.process_time``), the server side's CPU (from /proc),
wall time, and the TCP connections the client opened. No timing is asserted anywhere; docs/performance.md has the
numbers.

moto's server closes every connection after one response, where S3 keeps it open. So the client talks to moto
through a small keep-alive HTTP/1.1 front (its own process, :func:`_serve_front`) that forwards each request to
moto and keeps the client's connection open as S3 does: a GET whose body the client declines then costs the client
its connection (urllib3 cannot reuse a connection with an unread body), a HEAD does not. Plain HTTP on loopback:
the TLS handshake a new connection costs on AWS is not in these numbers.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import urllib3.connection

from pipeline.adapters.s3 import S3ObjectStore, make_s3_client
from pipeline.model import ObjectRef
from workers.embedded import MOTO_CREDENTIALS, free_port, stop_process, wait_for_http

BUCKET = "echo-bench"


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115 - one short read
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Connections:
    """Counts the TCP connections urllib3 (botocore's HTTP client) opens."""

    def __init__(self) -> None:
        self.opened = 0
        original = urllib3.connection.HTTPConnection.connect

        def connect(conn: Any) -> None:
            self.opened += 1
            original(conn)

        urllib3.connection.HTTPConnection.connect = connect  # type: ignore[method-assign]


def _serve_front(listen: int, target: int) -> None:
    """Forward every request to moto on ``target``; answer on ``listen`` with HTTP/1.1 keep-alive, as S3 does."""

    class Front(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            upstream = http.client.HTTPConnection("127.0.0.1", target, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", response.getheader("Content-Length") or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(data)
                except ConnectionError:  # the client declined the body and closed
                    self.close_connection = True

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that closed mid-response (the declined GET): expected

    Server(("127.0.0.1", listen), Front).serve_forever()


def _measure(
    check: Callable[[], object], count: int, server_pids: Sequence[int], connections: _Connections
) -> dict[str, float]:
    opened, server_cpu = connections.opened, sum(_cpu_of(pid) for pid in server_pids)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        check()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "intake_cpu_ms": 1000 * cpu / count,
        "server_cpu_ms": 1000 * (sum(_cpu_of(pid) for pid in server_pids) - server_cpu) / count,
        "wall_ms": 1000 * wall / count,
        "connections_per_check": (connections.opened - opened) / count,
    }


def run(sizes: Sequence[int], checks: int, rounds: int) -> list[dict[str, Any]]:
    os.environ.update(MOTO_CREDENTIALS)
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "workers.embedded", "moto", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    front_port = free_port()
    front = subprocess.Popen([sys.executable, "-m", "bench.echo_check", "--serve-front", str(front_port), str(port)])
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_http(f"{endpoint}/moto-api/", moto)
        wait_for_http(f"http://127.0.0.1:{front_port}/moto-api/", front)
        s3 = boto3.session.Session().client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        connections = _Connections()
        store = S3ObjectStore(make_s3_client(f"http://127.0.0.1:{front_port}"))
        results = []
        for size in sizes:
            key = f"object-{size}"
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size), Metadata={"aigc-label": "x"})["ETag"]
            ref = ObjectRef(BUCKET, key, etag=etag.strip('"'))
            ways: dict[str, Callable[[], object]] = {
                "get_declined": lambda ref=ref: store.fetch(ref, io.BytesIO(), accept=lambda _: False),
                "head": lambda ref=ref: store.head_object(ref),
            }
            for check in ways.values():
                check()  # warm: the first connection, botocore's lazy loading
            best: dict[str, dict[str, float]] = {}
            for _ in range(rounds):
                for name, check in ways.items():
                    got = _measure(check, checks, (moto.pid, front.pid), connections)
                    if name not in best or got["intake_cpu_ms"] < best[name]["intake_cpu_ms"]:
                        best[name] = got
            results.append({"size": size, **{name: best[name] for name in ways}})
        return results
    finally:
        stop_process(front)
        stop_process(moto)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 5_000_000], help="object sizes, bytes")
    parser.add_argument("--checks", type=int, default=100, help="echo checks per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (best of)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("--serve-front", type=int, nargs=2, metavar=("LISTEN", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_front:
        _serve_front(*args.serve_front)
        return 0
    results = run(args.sizes, args.checks, args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'size':>10} {'way':>13} {'intake CPU':>11} {'server CPU':>11} {'wall':>8} {'conns/check':>12}")
    for result in results:
        for way in ("get_declined", "head"):
            r = result[way]
            print(
                f"{result['size']:>10,} {way:>13} {r['intake_cpu_ms']:>8.2f} ms {r['server_cpu_ms']:>8.2f} ms "
                f"{r['wall_ms']:>5.2f} ms {r['connections_per_check']:>12.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
