"""Refit the calibration under a variant of the fit and print fit-set and holdout MAPE.

The variants tried in stop 13 (none shipped; README, Validation):

- ``base``: the shipped fit procedure.
- ``wide``: per-sequence and per-layer engine overheads may reach 2 ms (bound 0.2 ms).
- ``group``: each (source family, metric group) counts alike instead of each family.
- ``comm``: the per-collective latency is bounded at 40 us (bound 200 us).

Since stop 14 every variant runs with ML.ENERGY's vLLM rows fitted as ``vllm-host-bound`` and
Lambda's bursts replayed, so its figures differ from those stop 13 reported (README).

Since stop 21 the refit reads the shipped measurement files too, as ``chip2grid validate``
does (the vLLM developers' runs in the fit; MLPerf v5.1/v6.0 and the TensorRT-LLM blog held
out), and the holdout is also printed per MLPerf round, because the rounds disagree: with the
``comm`` bound MLPerf v5.1/v6.0 improves while the shared holdout (MLPerf v4.1, Lambda) gets
worse.

Since stop 34 every variant also scores its fit under the other admission queue (the same
fitted parameters, ``run_validation(fitted=...)``; since stop 36 the fit itself runs under
``slots``, as estimates do, and ``instance`` is the other), prints the holdout per source family and
MLPerf round with the latencies each leaves unbounded, and the fitted per-collective latencies.
``base`` with today's fit set (the TensorRT-LLM 0.9 static sweeps and the vLLM developers' runs
joined it after the shipped fit) is the lead the README's Validation limitations describe.

Usage: ``python benchmarks/refit_variants.py base|wide|group|comm`` (about 80 s each on one
core). Nothing is written; the package's calibration is untouched.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from collections import Counter
from typing import Any

import numpy as np

from chip2grid.validation import shipped_measurement_files
from chip2grid.validation.predict import HW_PARAMS
from chip2grid.validation.report import METRIC_GROUPS, ValidationReport, run_validation

FIT = importlib.import_module("chip2grid.validation.fit")  # the module, not the function
GROUP_OF = {m: g for g, ms in METRIC_GROUPS.items() for m in ms}


def _group_weighted_pairs(
    prep: Any, fit_mask: np.ndarray, metrics_filter: Any, exclude: Any
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    items = []
    for i, case in enumerate(prep.cases):
        if not fit_mask[i]:
            continue
        for metric, value in case.metrics.items():
            target = FIT.scored_metric(case, metric)
            if target is None or metric in exclude:
                continue
            if metrics_filter and metric not in metrics_filter:
                continue
            items.append((i, target, value, (case.source_family, GROUP_OF.get(metric, metric))))
    count = Counter(key for *_, key in items)
    return (
        np.array([i for i, *_ in items], dtype=int),
        [t for _, t, *_ in items],
        np.array([v for _, _, v, _ in items]),
        np.array([1.0 / np.sqrt(count[key]) for *_, key in items]),
    )


def main(variant: str) -> None:
    if variant == "wide":
        FIT.ENGINE_BOUNDS["per_sequence_overhead_s"] = (0.0, 2e-3, 5e-6)
        FIT.ENGINE_BOUNDS["per_layer_overhead_s"] = (0.0, 2e-3, 1e-5)
    elif variant == "group":
        FIT._pairs = _group_weighted_pairs
    elif variant == "comm":
        FIT.HW_BOUNDS["comm_latency_s"] = (1e-6, 4e-5, 1e-5)
    elif variant != "base":
        raise SystemExit(f"variant: got {variant!r}; allowed: base, wide, group, comm")
    start = time.perf_counter()
    files = ["../shared/validation/measurements.csv", *shipped_measurement_files()]
    report = run_validation(files, refit=True)
    print(f"variant {variant}: refit and validation in {time.perf_counter() - start:.0f} s")
    result = report.fit_result
    assert result is not None
    for key in ("hopper", "ampere"):
        if key in result.hw_keys:
            row = result.hw[result.hw_keys.index(key)]
            cells = ", ".join(f"{p} {v:.4g}" for p, v in zip(HW_PARAMS, row, strict=True))
            print(f"fitted {key}: {cells}")
    for split in ("fit", "holdout"):
        for key in ("group", "source_family"):
            _print(report, split, key, split)
    instance = run_validation(files, admission="instance", fitted=result)
    for queue, rep in (("slots", report), ("instance", instance)):
        for label, prefixes in (
            ("shared holdout (MLPerf v4.1, Lambda)", ("mlperf-v4.1", "lambda")),
            ("MLPerf v5.1", ("mlperf-v5.1",)),
            ("MLPerf v6.0", ("mlperf-v6.0",)),
            ("NIM closed loops", ("nimdli",)),
        ):
            rows = [r for r in rep.rows if r.case.case_id.startswith(prefixes)]
            unbounded = sum(r.case.case_id.startswith(prefixes) for r in rep.unbounded)
            _print(
                dataclasses.replace(rep, rows=rows),
                "holdout",
                "group",
                f"{label}, {queue} queue, {unbounded} unbounded,",
            )


def _print(report: ValidationReport, split: str, key: str, label: str) -> None:
    mape = report.mape(split=split, key=key)
    cells = ", ".join(f"{k} {v[0] * 100:.1f} % ({v[1]})" for k, v in mape.items())
    print(f"{label} by {key}: {cells}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "base")
