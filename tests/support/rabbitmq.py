"""RabbitMQ for the tests that run the pipeline on an AMQP broker: a vhost of the test's own, deleted afterwards.

The machine's RabbitMQ (127.0.0.1:5672, guest/guest) is shared: a test creates ``/mitest-...`` with
``rabbitmqctl``, grants guest on it and deletes it at teardown, touching nothing else. A machine without RabbitMQ
skips these tests with the reason; CI (``CI=true``) must have it, so there a missing broker fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

HOST, PORT = "127.0.0.1", 5672


def _reachable() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            return True
    except OSError:
        return False


def rabbitmq_vhost(name: str) -> Iterator[str]:
    """Yield an ``amqp://`` URL for a new vhost ``name``; delete the vhost afterwards."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None or not _reachable():
        why = "RabbitMQ is not running on 127.0.0.1:5672 (or rabbitmqctl is missing)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs the broker tests on RabbitMQ too")
        pytest.skip(why)

    def ctl_run(*args: str) -> None:
        subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)

    ctl_run("add_vhost", name)
    try:
        ctl_run("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{HOST}:{PORT}/{name}"
    finally:
        ctl_run("delete_vhost", name)
