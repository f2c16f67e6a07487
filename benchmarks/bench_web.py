"""Load test of the dashboard API on loopback: 50 concurrent users on the fast estimate path.

Run: ``python benchmarks/bench_web.py [--users 50] [--requests 5]``. Starts uvicorn in a thread
on a free 127.0.0.1 port, then 50 httpx.AsyncClient users each POST /api/estimate a few times
(a mix of scenarios, so the result cache is both missed and hit). Prints p50/p99 latency and
fails (exit 1) on any error or a p99 of 1 s or more. Also times the dashboard's first page.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from typing import Any

import httpx
import numpy as np
import uvicorn

from chip2grid.web import create_app


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_users(base: str, users: int, per_user: int, bodies: list[Any]) -> list[float]:
    """Latencies (s) of ``users x per_user`` estimate requests; raises on any non-200."""
    latencies: list[float] = []

    async def user(i: int, client: httpx.AsyncClient) -> None:
        for k in range(per_user):
            start = time.perf_counter()
            r = await client.post("/api/estimate", json=bodies[(i + k) % len(bodies)])
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

    limits = httpx.Limits(max_connections=users)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(user(i, client) for i in range(users)))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5, help="requests per user")
    args = parser.parse_args()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        start = time.perf_counter()
        page = httpx.get(base + "/")
        js = httpx.get(base + "/static/plotly.min.js")
        first_page_s = time.perf_counter() - start
        assert page.status_code == 200 and js.status_code == 200
        cold = time.perf_counter()
        httpx.post(base + "/api/estimate", json={"scenario": {"name": "cold"}}, timeout=60)
        cold_s = time.perf_counter() - cold
        bodies = [
            {"scenario": {"deployment": {"num_accelerators": n}, "site": {"region": region}}}
            for n in (8, 16)
            for region in ("us-virginia", "us-texas")
        ]
        wall = time.perf_counter()
        latencies = asyncio.run(run_users(base, args.users, args.requests, bodies))
        wall_s = time.perf_counter() - wall
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"first page (HTML + 4.8 MB plotly.js): {first_page_s * 1e3:.0f} ms")
    print(f"one uncached estimate: {cold_s * 1e3:.0f} ms")
    print(
        f"{len(latencies)} requests from {args.users} users in {wall_s:.2f} s: "
        f"p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms, max {max(latencies) * 1e3:.0f} ms"
    )
    return 0 if p99 < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
