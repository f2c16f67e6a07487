"""Where MLPerf Server latencies fall against an estimate and its 10 %-slower variant.

``chip2grid estimate --request-rate R`` gives, beside the mean TTFT and TPOT, what they would be
if every engine step took 10 % longer (``ttft_s_mean_if_slower``, ``tpot_s_mean_if_slower``;
unbounded where the rate would then exceed the capacity). Near capacity the second is far above
the first, because the running batch amplifies a step-time error by about ``1 / (1 - load)``.

For every MLPerf Server run that validation can express, this script estimates the run through
the public API (the submitter's per-instance batch cap as ``max_num_seqs``, the mean lengths)
and counts where the measured mean falls: below the estimate, between the estimate and its
10 %-slower variant (the band), or above the band. It also gives the predicted share of
capacity. The shipped calibration is used; nothing is written.

Usage: ``python benchmarks/server_latency_band.py [--measurements PATH ...]`` (about 3 s per 100
runs; default: the shared MLPerf v4.1 rows and the MLPerf v5.1 / v6.0 rows chip2grid ships).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from chip2grid.errors import Chip2GridError
from chip2grid.perf import Load, Workload, estimate
from chip2grid.perf.estimate import SLOWER_FRAC
from chip2grid.validation.cases import Case, load_measurement_files, shipped_measurements
from chip2grid.validation.predict import case_deployment

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "measurements.csv"
METRICS = (("tpot_s_mean", "tpot_s_mean_if_slower"), ("ttft_s_mean", "ttft_s_mean_if_slower"))


def _estimate(case: Case):  # type: ignore[no-untyped-def]
    """The estimate of one Server run at its rate, or None where chip2grid cannot express it."""
    if case.beam_width > 1 or case.unstated or case.input_tokens <= 0:
        return None
    try:
        return estimate(
            case_deployment(case),
            Workload(input_tokens=case.input_tokens, output_tokens=case.output_tokens),
            Load(
                mode="request_rate",
                request_rate_per_s=case.request_rate_per_s,
                max_num_seqs=case.max_batch_size or 0,
            ),
            cost_split=False,
        )
    except (Chip2GridError, ValueError):
        return None


def band_counts(path: Path) -> tuple[int, list[float], dict[str, dict[str, int]]]:
    """Runs estimated, their predicted share of capacity, and per metric how many measured means
    fall below the estimate, in the band, above it, or where the rate exceeds the capacity."""
    cases = [
        c
        for c in load_measurement_files([path])
        if c.source_family == "mlperf" and c.mode == "server"
    ]
    loads: list[float] = []
    counts: dict[str, dict[str, int]] = {
        m: {"below": 0, "band": 0, "above": 0, "saturated": 0} for m, _ in METRICS
    }
    runs = 0
    for case in cases:
        est = _estimate(case)
        if est is None:
            continue
        runs += 1
        loads.append(est.load_frac)
        for metric, slower in METRICS:
            if metric not in case.metrics:
                continue
            measured, low, high = case.metrics[metric], getattr(est, metric), getattr(est, slower)
            if est.saturated or not math.isfinite(low):
                counts[metric]["saturated"] += 1
            elif measured < low:
                counts[metric]["below"] += 1
            elif measured <= high:  # an unbounded high end holds every longer latency
                counts[metric]["band"] += 1
            else:
                counts[metric]["above"] += 1
    return runs, loads, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measurements", type=Path, action="append")
    args = parser.parse_args()
    for path in args.measurements or [SHARED, shipped_measurements()]:
        runs, loads, counts = band_counts(path)
        if not runs:
            print(f"{path.name}: no MLPerf Server run to estimate")
            continue
        near = sum(1 for x in loads if x * (1 + SLOWER_FRAC) >= 1)
        print(
            f"{path.name}: {runs} Server runs; predicted share of capacity median "
            f"{statistics.median(loads):.0%} (range {min(loads):.0%}-{max(loads):.0%}); "
            f"{near} within {SLOWER_FRAC:.0%} of capacity (10 %-slower latencies unbounded)"
        )
        for metric, c in counts.items():
            n = sum(c.values())
            print(
                f"  {metric:12s} measured below the estimate {c['below']:3d}, in the band "
                f"{c['band']:3d}, above it {c['above']:3d}, rate above the predicted capacity "
                f"{c['saturated']:3d} (of {n})"
            )


if __name__ == "__main__":
    main()
