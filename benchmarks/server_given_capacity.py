"""How much of the MLPerf Server latency error is the capacity error, and how much the serving model.

An MLPerf submission usually runs its system in both scenarios: Offline (all queries at once,
the capacity) and Server (Poisson arrivals at a rate the submitter tuned to the latency limits,
typically 80-95 % of that capacity). A Server run's TPOT grows like ``1 / (1 - load)`` as its
load nears capacity, so a capacity over-predicted by a few percent puts the predicted load
further from saturation and the predicted TPOT far below the measured one.

This script separates the two errors. For every Server run whose system also has an Offline
run in the same file, it scales the arrival rate by the capacity error of that Offline run
(``predicted / measured``), so the model runs at the load the system measured, and scales the
predicted times back by the same factor (the model's steps are that much too short). What is
left is the error of the serving model itself: the fixed point of batch and step time, the
Server TTFT (half a step, the prefill, the M/D/1 admission wait). The TTFT is also shown
without its admission wait (``queue_wait_s``).

Usage: ``python benchmarks/server_given_capacity.py [--measurements PATH ...]`` (a few seconds;
default: the shared MLPerf v4.1 rows and the MLPerf v5.1 / v6.0 rows chip2grid ships). The
shipped calibration is used; nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from chip2grid.validation.cases import Case, load_measurement_files, shipped_measurements
from chip2grid.validation.predict import catalog_parameters, predict, prepare

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "measurements.csv"
METRICS = ("tpot_s_mean", "e2e_latency_s_mean", "ttft_s_mean")


def _system(case: Case) -> tuple[object, ...]:
    """What identifies one submitted system and its setup across the two scenarios."""
    run = re.sub(r"-(server|offline)$", "", case.case_id)
    return (run, case.model, case.accelerator, case.num_accelerators, case.tp, case.pp)


def _errors(path: Path) -> tuple[int, dict[str, dict[str, list[float]]]]:
    """Signed errors per metric: as predicted, and with the capacity matched."""
    cases = [
        c.at_mean_lengths() for c in load_measurement_files([path]) if c.source_family == "mlperf"
    ]
    prep = prepare(cases)
    pred = predict(prep, *catalog_parameters(prep))
    capacity_error = {
        _system(c): pred["output_tokens_per_s"][i] / c.metrics["output_tokens_per_s"]
        for i, c in enumerate(prep.cases)
        if c.mode == "offline" and "output_tokens_per_s" in c.metrics
    }
    server = [(i, c) for i, c in enumerate(prep.cases) if c.mode == "server"]
    server = [(i, c) for i, c in server if _system(c) in capacity_error]
    factor = np.array([capacity_error[_system(c)] for _, c in server])
    matched_cases = [
        dataclasses.replace(c, request_rate_per_s=c.request_rate_per_s * k)
        for (_, c), k in zip(server, factor, strict=True)
    ]
    matched_prep = prepare(matched_cases)
    matched = predict(matched_prep, *catalog_parameters(matched_prep))
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for j, (i, case) in enumerate(server):
        for metric in METRICS:
            if metric not in case.metrics:
                continue
            measured = case.metrics[metric]
            variants = {
                "as predicted": pred[metric][i],
                "capacity matched": matched[metric][j] * factor[j],
            }
            if not all(np.isfinite(v) for v in variants.values()):
                continue  # unbounded as predicted: the rate above the predicted capacity
            if metric == "ttft_s_mean":
                no_wait = matched[metric][j] - matched["queue_wait_s"][j]
                variants["capacity matched, no admission wait"] = no_wait * factor[j]
            for name, value in variants.items():
                errors[metric][name].append(value / measured - 1.0)
    return len(server), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measurements", type=Path, action="append")
    args = parser.parse_args()
    paths = args.measurements or [SHARED, shipped_measurements()]
    for path in paths:
        runs, errors = _errors(path)
        print(f"{path.name}: {runs} Server runs with an Offline run of the same system")
        for metric, variants in errors.items():
            for name, values in variants.items():
                mape = 100 * statistics.fmean(abs(v) for v in values)
                median = 100 * statistics.median(values)
                print(
                    f"  {metric:20s} {name:38s} MAPE {mape:6.1f} %  median {median:+6.1f} %  (n {len(values)})"
                )


if __name__ == "__main__":
    main()
