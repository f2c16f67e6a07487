"""Plan figures: screening rate (candidates per second, one core) and a full plan's time.

Run: ``python benchmarks/bench_plan.py``. The issue's targets: at least 1 M candidates per
second per core, and a full plan (screen all, simulate the best 20) in at most 10 s.
"""

from __future__ import annotations

import time

import chip2grid as c2g
from chip2grid.plan import PlanRequest, plan, screen

ACCELERATORS = ("h100-sxm", "h200-sxm", "b200", "mi300x", "mi325x", "gaudi3", "l40s")


def main() -> None:
    model = c2g.get_model("llama-3.3-70b")
    common = dict(
        model=model,
        input_tokens=2048.0,
        output_tokens=256.0,
        demand_requests_per_s=20.0,
        ttft_slo_s=0.5,
        tpot_slo_s=0.05,
        accelerators=ACCELERATORS,
        precisions=("fp8", "bf16"),
    )
    dense = PlanRequest(
        **common,  # type: ignore[arg-type]
        batch_caps=tuple(range(1, 1025)),
        token_budgets=tuple(256 * k for k in range(1, 65)),
    )
    screen(dense)  # warm caches
    start = time.perf_counter()
    s = screen(dense)
    dt = time.perf_counter() - start
    print(
        f"screen (dense grid): {s.size:,} candidates over {s.num_shapes} shapes in {dt:.2f} s = "
        f"{s.size / dt / 1e6:.2f} M candidates/s (target >= 1 M/s)"
    )
    req = PlanRequest(**common)  # type: ignore[arg-type]
    start = time.perf_counter()
    p = plan(req, top_k=20)
    dt = time.perf_counter() - start
    print(
        f"full plan: {p.num_candidates:,} screened ({p.screen_s:.2f} s), best 20 simulated "
        f"({p.simulate_s:.2f} s), total {dt:.2f} s (target <= 10 s); chosen: {p.chosen.label}, "
        f"${p.chosen.cost_usd_per_mtok:.3f}/Mtok"
    )


if __name__ == "__main__":
    main()
