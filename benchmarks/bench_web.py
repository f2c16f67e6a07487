"""Load test of the dashboard API on loopback: 50 concurrent users on the fast estimate path.

Run: ``python benchmarks/bench_web.py [--users 50] [--requests 5]``. Starts ``chip2grid serve``
in its own process on a free 127.0.0.1 port (as a user runs it), then 50 users, each on its
own keep-alive connection like a browser tab, POST /api/estimate a few times (a mix of four
scenarios, so the result cache is both missed and hit: the first request of each scenario
computes it, the rest are served from the cache). Prints p50/p99 latency and fails (exit 1)
on any error or a p99 of 1 s or more. Also times the dashboard's first page.

The default load client is a minimal HTTP/1.1 client on asyncio streams, so that the client's
own CPU does not dominate what is measured on a small machine: httpx's AsyncClient scans its
whole connection pool on every request (quadratic in the number of users) and, without the
optional ``sniffio`` package, retries a failed import on every lock it creates; with 50 users
that cost about 5 s of client CPU per run. ``--client httpx`` and ``--server thread`` give
the earlier set-up (one shared httpx pool, uvicorn in a thread of the client's process) for
comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

ENDPOINT = "/api/estimate"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_bodies() -> list[Any]:
    """The request mix: two sizes in two regions (four distinct scenarios)."""
    return [
        {"scenario": {"deployment": {"num_accelerators": n}, "site": {"region": region}}}
        for n in (8, 16)
        for region in ("us-virginia", "us-texas")
    ]


class RawConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads a Content-Length reply."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """Status and body of ``POST path`` with ``body`` as JSON."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self._writer.write(head.encode() + data)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = None
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{path}: reply without Content-Length")
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()


async def run_users_raw(base: str, users: int, per_user: int, bodies: list[Any]) -> list[float]:
    """Latencies (s) of ``users x per_user`` estimate requests, one connection per user."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []

    async def user(i: int) -> None:
        conn = RawConnection(host, int(port))
        try:
            for k in range(per_user):
                start = time.perf_counter()
                status, text = await conn.post_json(ENDPOINT, bodies[(i + k) % len(bodies)])
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    raise RuntimeError(f"{status}: {text[:200]!r}")
        finally:
            await conn.close()

    await asyncio.gather(*(user(i) for i in range(users)))
    return latencies


async def run_users_httpx(base: str, users: int, per_user: int, bodies: list[Any]) -> list[float]:
    """Latencies (s) as above through one shared httpx.AsyncClient pool (the earlier client)."""
    latencies: list[float] = []

    async def user(i: int, client: httpx.AsyncClient) -> None:
        for k in range(per_user):
            start = time.perf_counter()
            r = await client.post(ENDPOINT, json=bodies[(i + k) % len(bodies)])
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

    limits = httpx.Limits(max_connections=users)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(user(i, client) for i in range(users)))
    return latencies


def start_server_process(port: int, workers: int | None = None) -> Callable[[], None]:
    """``chip2grid serve`` in a child process; returns a function that stops it."""
    extra = [] if workers is None else ["--workers", str(workers)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chip2grid.cli", "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/scenarios", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("chip2grid serve did not start")
        time.sleep(0.1)

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    return stop


def start_server_thread(port: int, workers: int | None = None) -> Callable[[], None]:
    """uvicorn in a thread of this process (shares the GIL with the client)."""
    import uvicorn

    from chip2grid.web import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(estimate_processes=workers or 0),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5, help="requests per user")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--workers", type=int, default=None, help="serve --workers (default: serve's default)"
    )
    args = parser.parse_args()
    port = free_port()
    start_server = start_server_process if args.server == "process" else start_server_thread
    stop = start_server(port, args.workers)
    base = f"http://127.0.0.1:{port}"
    run_users = run_users_raw if args.client == "raw" else run_users_httpx
    try:
        start = time.perf_counter()
        page = httpx.get(base + "/")
        js = httpx.get(base + "/static/plotly.min.js")
        first_page_s = time.perf_counter() - start
        assert page.status_code == 200 and js.status_code == 200
        cold = time.perf_counter()
        httpx.post(base + ENDPOINT, json={"scenario": {"name": "cold"}}, timeout=60)
        cold_s = time.perf_counter() - cold
        wall = time.perf_counter()
        latencies = asyncio.run(run_users(base, args.users, args.requests, request_bodies()))
        wall_s = time.perf_counter() - wall
    finally:
        stop()
    p50, p99 = np.percentile(latencies, [50, 99])
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    workers = "default" if args.workers is None else args.workers
    print(
        f"server: {args.server}, workers: {workers}, client: {args.client}, "
        f"load average (1 min): {load}"
    )
    print(
        f"first page (HTML + {len(js.content) / 1e6:.1f} MB plotly.js): {first_page_s * 1e3:.0f} ms"
    )
    print(f"one uncached estimate: {cold_s * 1e3:.0f} ms")
    print(
        f"{len(latencies)} requests from {args.users} users in {wall_s:.2f} s: "
        f"p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms, max {max(latencies) * 1e3:.0f} ms"
    )
    return 0 if p99 < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
