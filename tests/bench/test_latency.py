"""The benchmark's latency proxy: bytes arrive intact and in order, each request one delay later."""

from __future__ import annotations

import socket
import threading
import time

from bench.latency import proxy
from workers.embedded import free_port


def echo_server() -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_each_request_arrives_intact_one_delay_later():
    target, thread = echo_server()
    listen = free_port()
    with proxy(listen, target, delay_ms=50), socket.create_connection(("127.0.0.1", listen)) as conn:
        timings = []
        for i in range(3):
            payload = bytes([i]) * 200_000  # several reads and writes on the way
            started = time.perf_counter()
            conn.sendall(payload)
            got = bytearray()
            while len(got) < len(payload):
                got += conn.recv(1 << 16)
            timings.append(time.perf_counter() - started)
            assert bytes(got) == payload
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1) == b"", "the proxy passes the end of the stream on"
    thread.join(5)
    assert all(0.05 <= t < 1.0 for t in timings), timings
