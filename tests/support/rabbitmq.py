"""RabbitMQ for the tests that run the pipeline on an AMQP broker: a vhost of the test's own, deleted afterwards.

The machine's RabbitMQ (127.0.0.1:5672, guest/guest) is shared: a test creates ``/mitest-...`` with
``rabbitmqctl``, grants guest on it and deletes it at teardown, touching nothing else. A machine without RabbitMQ
skips these tests with the reason; CI (``CI=true``) must have it, so there a missing broker fails the test.

A test that restarts the broker cannot do that to the shared one: :class:`PrivateRabbitMQ` runs a node of its own
(``rabbitmq-server`` with its own node name, ports and directories in the test's tmp dir).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

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


def _server_script() -> str | None:
    """The ``rabbitmq-server`` script itself. Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that, run as root,
    re-runs the script as the ``rabbitmq`` user (``su``: the node's environment and tmp dir are lost); the script it
    wraps sits beside it in ``/usr/lib/rabbitmq/bin``."""
    found = shutil.which("rabbitmq-server")
    if found is None:
        return None
    beside = Path(os.path.realpath(found)).parent / "rabbitmq-server"
    return str(beside) if beside.is_file() else found


class PrivateRabbitMQ:
    """A RabbitMQ node the test owns (never the machine's): its own node name, AMQP and distribution ports, data and
    log directories, Erlang cookie (``HOME``) and configuration, all under ``root``. :meth:`stop` shuts it down as
    a restart or an eviction does (SIGTERM: the node closes its connections and quorum queues write their state);
    :meth:`start` brings it back with the same name and data, so durable queues and their messages survive.

    It registers with the machine's epmd (Erlang starts one if none runs, and it outlives the node, as epmd does).
    """

    def __init__(self, root: Path, name: str) -> None:
        from workers.embedded import free_port

        script = _server_script()
        if script is None:
            why = "rabbitmq-server is not installed (the broker-restart test starts a RabbitMQ node of its own)"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{why}: CI runs the broker tests on RabbitMQ too")
            pytest.skip(why)
        self.script = script
        self.root = root
        self.port = free_port()
        self.node = f"{name}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self._proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq/rabbitmq-env.conf
        self.env = {
            **os.environ,
            "HOME": str(root),  # the node's own Erlang cookie
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "node.pid"),
        }

    def start(self, timeout: float = 120.0) -> float:
        """Start the node and wait until it takes AMQP connections; returns the seconds that took."""
        assert self._proc is None, "already running"
        began = time.monotonic()
        with (self.root / "server.log").open("ab") as out:
            self._proc = subprocess.Popen(
                [self.script], env=self.env, stdout=out, stderr=out, start_new_session=True, cwd=self.root
            )
        while not self._accepts():
            if self._proc.poll() is not None:
                raise AssertionError(f"RabbitMQ node {self.node} exited with {self._proc.returncode}:\n{self.log()}")
            if time.monotonic() - began > timeout:
                raise AssertionError(f"RabbitMQ node {self.node} not up after {timeout}s:\n{self.log()}")
            time.sleep(0.1)
        return time.monotonic() - began

    def stop(self, timeout: float = 60.0) -> float:
        """SIGTERM the node (the Erlang VM, whose script then exits) and wait until it is gone; returns the seconds."""
        if self._proc is None:
            return 0.0
        began = time.monotonic()
        pid_file = self.root / "node.pid"
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)  # the VM had not written its pid yet
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)  # erl_child_setup and the like, if any lingered
        self._proc = None
        return time.monotonic() - began

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self, tail: int = 3000) -> str:
        logs = [self.root / "server.log", *sorted((self.root / "log").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in logs if p.exists())
