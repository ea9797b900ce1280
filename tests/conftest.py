"""Shared fixtures: real Redis (own database number, own keys), moto's server over HTTP, real worker processes.

Redis: the one at ``MEDIA_INGEST_REDIS_URL`` or localhost, on database ``TEST_REDIS_DB``, every key under a prefix
unique to the test run and deleted afterwards (nothing is flushed). With no Redis reachable, an embedded Valkey.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from pipeline.settings import Settings
from testkit.catalogue import build_samples
from testkit.pki import make_test_pki
from workers.embedded import MOTO_CREDENTIALS, embedded_redis, moto_server, redis_reachable

TEST_REDIS_DB = 11
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    base = os.environ.get("MEDIA_INGEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    url = base.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
    if redis_reachable(url):
        yield url
        return
    with embedded_redis() as embedded:
        yield embedded


def delete_keys(client: redis.Redis, prefix: str) -> None:
    """Delete the keys a test made: all start with its ``key_prefix``, and kombu's Redis transport names its exchange
    bindings after the test's queue, which is under the prefix too. Nothing else is touched."""
    for pattern in (f"{prefix}*", f"_kombu.binding.{prefix}*", f"_kombu.binding_permanent.{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    delete_keys(client, key_prefix)
    client.close()


@pytest.fixture(autouse=True)
def _delete_the_tests_redis_keys(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that reaches Redis through ``settings`` and the processes it starts, without ``redis_client``, leaves
    no key behind either."""
    if "redis_url" not in request.fixturenames:
        yield
        return
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("key_prefix")
    yield
    client = redis.Redis.from_url(url)
    try:
        delete_keys(client, prefix)
    finally:
        client.close()


@pytest.fixture
def key_prefix() -> str:
    """Every Redis key a test creates starts with this (label stream included), so cleanup deletes only ours."""
    return f"mitest-{secrets.token_hex(4)}"


@pytest.fixture(scope="session", autouse=True)
def aws_credentials() -> Iterator[None]:
    """moto accepts any credentials; make sure boto3 never looks for real ones."""
    saved = {k: os.environ.get(k) for k in MOTO_CREDENTIALS}
    os.environ.update(MOTO_CREDENTIALS)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(log=tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    return boto3.session.Session().client("sqs", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"mitest-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def pki() -> Any:
    return make_test_pki()


@pytest.fixture(scope="session")
def samples(pki: Any) -> list[Any]:
    return build_samples(pki)


@pytest.fixture(scope="session")
def trust(pki: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return pki.write(tmp_path_factory.mktemp("trust"))


@pytest.fixture
def settings(redis_url: str, moto_endpoint: str, key_prefix: str, trust: Any) -> Settings:
    """Settings for one test: its own Redis keys, stream and Celery queue."""
    return Settings(
        redis_url=redis_url,
        s3_endpoint_url=moto_endpoint,
        label_stream=f"{key_prefix}:labels",
        key_prefix=key_prefix,
        queue=f"{key_prefix}:tasks",
        trust_anchors=trust.anchors,
        trust_allowed=trust.allowed,
        trust_config=trust.config,
        task_retry_backoff_max=2,
        log_format="json",
    )


class Processes:
    """Starts ``media-ingest`` commands as child processes with the test's settings; stops them at teardown."""

    def __init__(self, settings: Settings, logdir: Path) -> None:
        self.settings = settings
        self.logdir = logdir
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **MOTO_CREDENTIALS, **self.settings.to_environ(), **extra}

    def start(
        self,
        *args: str,
        name: str,
        ready: str | None = None,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", *args],
                env=self.env(**(env or {})),
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group: a test can SIGKILL a worker with its children
            )
        self.procs.append((proc, log))
        if ready:
            deadline = time.monotonic() + timeout
            while ready not in log.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready after {timeout}s:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
        return proc

    def worker(self, *extra: str, name: str = "worker", env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", "2", *extra, name=name, ready="ready.", env=env)

    def logs(self, tail: int | None = 4000) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-(tail or 0) :]}" for _, log in self.procs)

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers, e.g. children of a worker a test killed


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, key_prefix: str) -> Iterator[str | None]:
    """The Celery broker a test runs on: None for Redis (``MEDIA_INGEST_REDIS_URL``), or a RabbitMQ vhost's URL."""
    if request.param == "redis":
        yield None
        return
    from tests.support.rabbitmq import rabbitmq_vhost

    yield from rabbitmq_vhost(key_prefix)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    """Context managers a test enters as it goes (a proxy, a server), closed at teardown."""
    with contextlib.ExitStack() as entered:
        yield entered


@pytest.fixture
def processes(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    procs = Processes(settings, tmp_path)
    yield procs
    procs.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(procs.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
