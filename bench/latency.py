"""A TCP proxy that adds a fixed delay to every request, to model S3's network latency on loopback.

On this machine moto answers in well under a millisecond, so a sequential script never waits and a pipeline's
concurrency has nothing to hide. Real S3 is tens of milliseconds away per request (AWS quotes 100-200 ms
first-byte latency for small objects; in-region GETs commonly see 10-30 ms), which is what makes a naive
one-at-a-time loop slow and concurrency worth having. ``python -m bench --s3-latency-ms N`` puts this proxy in
front of moto for the workers, the intake (its SQS calls too) and the naive loop; the benchmark's own uploads go to
moto directly.

Bytes from the client are forwarded ``delay`` seconds after they arrived, in order; bytes from the server go back
at once, so each request/response exchange takes one ``delay`` longer. The proxy runs in its own process
(``python -m bench.latency LISTEN_PORT TARGET_PORT DELAY_MS``) so its CPU is not counted as the worker's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import subprocess
import sys
from collections.abc import Iterator


async def _delayed(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    arrived = asyncio.Event()
    done = False

    async def forward() -> None:
        while True:
            while not queue:
                if done:
                    return
                arrived.clear()
                await arrived.wait()
            due, data = queue.popleft()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data:
                dst.write(data)
                await dst.drain()

    forwarder = asyncio.ensure_future(forward())
    try:
        while data := await src.read(1 << 16):
            queue.append((loop.time() + delay, data))
            arrived.set()
    finally:
        done = True
        arrived.set()
        with contextlib.suppress(ConnectionError):
            await forwarder
        with contextlib.suppress(OSError, RuntimeError):
            dst.write_eof()


async def _direct(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while data := await src.read(1 << 16):
        dst.write(data)
        await dst.drain()
    with contextlib.suppress(OSError, RuntimeError):
        dst.write_eof()


async def _serve(listen_port: int, target_port: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_delayed(client_r, server_w, delay), _direct(server_r, client_w))
        except ConnectionError:
            pass
        finally:
            for writer in (client_w, server_w):
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("latency proxy ready", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def proxy(listen_port: int, target_port: int, delay_ms: float) -> Iterator[subprocess.Popen[bytes]]:
    """Run the proxy in a child process until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.latency", str(listen_port), str(target_port), str(delay_ms)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        if b"ready" not in proc.stdout.readline():
            raise RuntimeError("the latency proxy did not start")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listen, target, delay_ms / 1000))
