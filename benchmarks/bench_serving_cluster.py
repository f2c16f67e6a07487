"""Serving clusters: disaggregated vs aggregated on the same trace and accelerators; autoscaling.

Run: ``python benchmarks/bench_serving_cluster.py`` (about 20 s on one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import chip2grid as c2g
from chip2grid.serving import (
    AutoscalePolicy,
    RequestTrace,
    engine_config_for,
    poisson_arrivals,
    simulate,
    simulate_autoscaled,
    simulate_disaggregated,
)
from chip2grid.units import KWH_J


def deployment(num_accelerators: int) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=num_accelerators,
        tp=1,
        weight_precision="fp8",
    )


def trace(n: int, rate: float, seed: int = 0) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(1024, 4096, n),
        output_tokens=rng.integers(64, 512, n),
        source=f"bench: {n} requests at {rate}/s, prompts 1024-4095, outputs 64-511",
    )


def row(name: str, s: dict[str, object], elapsed: float) -> str:
    ttft, tpot = s["ttft_s"], s["tpot_s"]
    assert isinstance(ttft, dict) and isinstance(tpot, dict)
    return (
        f"{name:<16} TTFT p50 {ttft['p50'] * 1e3:7.1f} ms p99 {ttft['p99'] * 1e3:8.1f} ms | "
        f"TPOT p50 {tpot['p50'] * 1e3:5.2f} ms p99 {tpot['p99'] * 1e3:5.2f} ms | "
        f"{s['output_tokens_per_s']:7.0f} tok/s | {s['energy_j_per_output_token']:.3f} J/tok | "
        f"sim {elapsed:.2f} s"
    )


def disaggregated_vs_aggregated(num: int, rate: float, prefill: int) -> None:
    tr = trace(num, rate)
    print(f"{tr.source}; 4 x H100 llama-3.1-8b fp8")
    t = time.perf_counter()
    agg = simulate(deployment(4), tr, router="least-outstanding")
    print(row("aggregated 4", agg.summary(), time.perf_counter() - t))
    t = time.perf_counter()
    dis = simulate_disaggregated(deployment(prefill), deployment(4 - prefill), tr)
    s = dis.summary()
    print(row(f"disagg {prefill}P{4 - prefill}D", s, time.perf_counter() - t))
    kv = s["kv_transfer_s"]
    assert isinstance(kv, dict)
    print(f"{'':16} KV transfer p50 {kv['p50'] * 1e3:.2f} ms p99 {kv['p99'] * 1e3:.2f} ms")


def autoscaling(rate: float, step_s: float, end_s: float, delay_s: float) -> None:
    dep = deployment(1)
    cfg = dataclasses.replace(engine_config_for(dep), max_num_seqs=64)
    rng = np.random.default_rng(0)
    a = poisson_arrivals(rate, int(rate * step_s * 1.3) + 10, rng)
    b = step_s + poisson_arrivals(4 * rate, int(4 * rate * (end_s - step_s) * 1.3) + 10, rng)
    arr = np.concatenate([a[a < step_s], b[b < end_s]])
    n = len(arr)
    tr = RequestTrace(
        arrival_s=arr,
        input_tokens=rng.integers(256, 2048, n),
        output_tokens=rng.integers(64, 512, n),
    )
    policy = AutoscalePolicy(
        target=32.0,
        max_replicas=8,
        interval_s=15.0,
        scale_up_delay_s=delay_s,
        scale_down_cooldown_s=120.0,
    )
    t = time.perf_counter()
    got = simulate_autoscaled(dep, tr, policy, config=cfg)
    elapsed = time.perf_counter() - t
    print(
        f"autoscaling: {n} requests, {rate}/s then {4 * rate}/s from {step_s:.0f} s to "
        f"{end_s:.0f} s; target 32 outstanding/replica, delay {delay_s:.0f} s; sim {elapsed:.2f} s"
    )
    edges = np.arange(0.0, end_s + 1, 60.0)
    p99 = got.ttft_p99_by_window(edges)
    ready, prov = got.replica_counts(edges[:-1] + 30.0)
    for k in range(len(edges) - 1):
        print(
            f"  {edges[k]:5.0f}-{edges[k + 1]:5.0f} s: p99 TTFT {p99[k]:8.3f} s, "
            f"ready {ready[k]}, provisioning {prov[k]}"
        )
    s = got.summary()
    print(
        f"  replicas launched {s['num_replicas_launched']}, replica-seconds "
        f"{got.replica_seconds:.0f}, accelerator energy {got.serving.accelerator_energy_j / KWH_J:.3f}"
        f" kWh of which idle {got.idle_accelerator_energy_j / KWH_J:.3f} kWh"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=12.0)
    parser.add_argument("--prefill", type=int, default=1, help="prefill instances of 4")
    args = parser.parse_args()
    disaggregated_vs_aggregated(args.requests, args.rate, args.prefill)
    autoscaling(10.0, 300.0, 900.0, 120.0)


if __name__ == "__main__":
    main()
