"""Time the industry model: 12 years x the built-in scenarios (target: at most 2 s).

Run: ``python benchmarks/bench_industry.py``.
"""

from __future__ import annotations

import time

from chip2grid.industry import (
    industry_sensitivity,
    list_industry_scenarios,
    load_industry_scenario,
    run_industry,
)

TARGET_S = 2.0


def main() -> None:
    scenarios = [load_industry_scenario(name) for name in list_industry_scenarios()]
    repeats = 200
    t0 = time.perf_counter()
    for _ in range(repeats):
        for scenario in scenarios:
            run_industry(scenario, start_year=2024, end_year=2035)
    per_set_s = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    rows = industry_sensitivity(scenarios[0])
    sens_s = time.perf_counter() - t0
    print(
        f"industry: 12 years x {len(scenarios)} scenarios in {per_set_s * 1e3:.2f} ms "
        f"(target {TARGET_S:.0f} s); sensitivity of {scenarios[0].name} "
        f"({len(rows)} inputs x 2 runs) in {sens_s:.2f} s"
    )
    if per_set_s > TARGET_S:
        raise SystemExit(f"slower than the {TARGET_S} s target")


if __name__ == "__main__":
    main()
