"""Plan figures: screening rate (candidates per second, one core) and a full plan's time.

Run: ``python benchmarks/bench_plan.py [--repeats N]``. The issue's targets: at least 1 M
candidates per second per core, and a full plan (screen all, simulate the best 20) in at most
10 s. Each screening figure is the median of ``N`` timed runs after one warm-up run.

Spaces timed:

- ``dense aggregated``: the space the planner searched before speculative decoding and
  disaggregation (Llama 3.3 70B, 7 accelerators x 2 precisions x TP x PP, batch caps 1..1024 x
  64 token budgets, speculative decoding off, aggregated only), for a before/after comparison;
- ``full space``: the default grid with every dimension (speculative settings, disaggregated
  prefill split x decode split x 8 xPyD ratios), for a dense model and an MoE model (EP);
- ``full space, denser grid``: the same dimensions over 32 batch caps x 8 budgets.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import chip2grid as c2g
from chip2grid.plan import PlanRequest, plan, screen

ACCELERATORS = ("h100-sxm", "h200-sxm", "b200", "mi300x", "mi325x", "gaudi3", "l40s")


def _rate(req: PlanRequest, repeats: int) -> tuple[int, int, float, list[float]]:
    screen(req)  # warm caches
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        s = screen(req)
        rates.append(s.size / (time.perf_counter() - start) / 1e6)
    return s.size, len(s.configs), statistics.median(rates), rates


def _report(name: str, req: PlanRequest, repeats: int) -> None:
    size, configs, median, rates = _rate(req, repeats)
    print(
        f"screen ({name}): {size:,} candidates over {configs:,} configurations: median "
        f"{median:.2f} M candidates/s of {', '.join(f'{r:.2f}' for r in rates)} "
        f"(target >= 1 M/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure")
    repeats = parser.parse_args().repeats
    common = dict(
        model=c2g.get_model("llama-3.3-70b"),
        input_tokens=2048.0,
        output_tokens=256.0,
        demand_requests_per_s=20.0,
        ttft_slo_s=0.5,
        tpot_slo_s=0.05,
        accelerators=ACCELERATORS,
        precisions=("fp8", "bf16"),
    )
    full = PlanRequest(**common)  # type: ignore[arg-type]
    dense_old = dataclasses.replace(
        full,
        batch_caps=tuple(range(1, 1025)),
        token_budgets=tuple(256 * k for k in range(1, 65)),
        speculative=("off",),
        disaggregated=False,
    )
    _report("dense aggregated, the space searched before", dense_old, max(repeats // 2, 1))
    _report("full space, llama-3.3-70b", full, repeats)
    moe = dataclasses.replace(full, model=c2g.get_model("deepseek-v3"), input_tokens=4096.0)
    _report("full space, deepseek-v3 (EP, MTP)", moe, repeats)
    denser = dataclasses.replace(
        full,
        batch_caps=tuple(range(32, 1025, 32)),
        token_budgets=tuple(2048 * k for k in range(1, 9)),
    )
    _report("full space, 32 caps x 8 budgets, llama-3.3-70b", denser, max(repeats // 2, 1))
    start = time.perf_counter()
    p = plan(full, top_k=20)
    dt = time.perf_counter() - start
    print(
        f"full plan: {p.num_candidates:,} screened ({p.screen_s:.2f} s), {p.num_simulated} of "
        f"the best {p.num_checked} simulated ({p.simulate_s:.2f} s; "
        f"{p.num_steady_state_only} steady state only), total {dt:.2f} s (target <= 10 s); "
        f"chosen: {p.chosen.label}, "
        f"${p.chosen.cost_usd_per_mtok:.3f}/Mtok"
    )


if __name__ == "__main__":
    main()
