"""The serving simulator and the steady state against published online-serving runs.

1. MLPerf Inference v4.1 Server (llama2-70b, mixtral-8x7b): for every case of
   shared/validation/measurements.csv that chip2grid can express, simulate Poisson arrivals at
   the run's request rate with the data set's per-sample lengths (outputs scaled to the run's
   mean output length), drop the first and last 10 % of requests (warm-up and drain).
2. The TensorRT-LLM online-serving table (Triton, v0.14, 500 requests of fixed ISL/OSL at each
   offered QPS; the arrival process is not stated, Poisson is assumed): all 500 requests.

Mean TTFT, TPOT (ITL for the TensorRT-LLM table) and end-to-end latency are compared with the
measured values and with the steady-state estimate. Prints one line per case and the MAPE and
median signed error of both, per source.

    python benchmarks/sim_vs_mlperf.py [--measurements PATH] [--requests N] [--csv OUT]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from chip2grid.serving import RequestTrace, simulate
from chip2grid.serving.simulate import engine_config_for
from chip2grid.serving.workload import poisson_arrivals
from chip2grid.validation.cases import load_cases
from chip2grid.validation.predict import case_deployment, catalog_parameters, predict, prepare

HERE = Path(__file__).resolve().parent
LENGTHS = {
    "llama-2-70b": HERE / "data" / "mlperf_llama2_70b_lengths.csv",
    "mixtral-8x7b": HERE / "data" / "mlperf_mixtral_8x7b_lengths.csv",
}
METRICS = ("ttft_s_mean", "tpot_s_mean", "itl_s_mean", "e2e_latency_s_mean")
TRTLLM_REQUESTS = 500
"""Requests per run in the TensorRT-LLM online-serving table."""


def _lengths(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return (
        np.array([int(r["input_length"]) for r in rows], dtype=np.int64),
        np.array([int(r["output_length"]) for r in rows], dtype=np.int64),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--measurements",
        type=Path,
        default=HERE.parent.parent / "shared" / "validation" / "measurements.csv",
    )
    parser.add_argument("--requests", type=int, default=6000, help="requests simulated per case")
    parser.add_argument("--csv", type=Path, default=None, help="write the per-case table here")
    args = parser.parse_args()

    lengths = {model: _lengths(path) for model, path in LENGTHS.items()}
    cases = [
        c
        for c in load_cases(args.measurements)
        if c.mode == "server"
        and ((c.source_family == "mlperf" and c.model in lengths) or c.source_family == "trtllm")
    ]
    prep = prepare(cases)
    steady = predict(prep, *catalog_parameters(prep))
    errors: dict[tuple[str, str], dict[str, list[float]]] = {}
    table = []
    start = time.perf_counter()
    for i, case in enumerate(prep.cases):
        dep = case_deployment(case)
        rng = np.random.default_rng(1)
        if case.source_family == "mlperf":
            inputs, outputs = lengths[case.model]
            n = args.requests
            pick = rng.integers(0, len(inputs), n)
            scaled = np.maximum(1, np.round(outputs[pick] * case.output_tokens / outputs.mean()))
            trace = RequestTrace(
                arrival_s=poisson_arrivals(case.request_rate_per_s, n, rng),
                input_tokens=inputs[pick],
                output_tokens=scaled.astype(np.int64),
                source=f"{case.case_id} (Poisson, MLPerf lengths)",
            )
            window = slice(n // 10, n - n // 10)
        else:
            n = TRTLLM_REQUESTS
            trace = RequestTrace(
                arrival_s=poisson_arrivals(case.request_rate_per_s, n, rng),
                input_tokens=np.full(n, round(case.input_tokens), dtype=np.int64),
                output_tokens=np.full(n, round(case.output_tokens), dtype=np.int64),
                source=f"{case.case_id} (Poisson, fixed lengths)",
            )
            window = slice(0, n)
        config = engine_config_for(dep, max_num_seqs=case.max_batch_size or None)
        result = simulate(dep, trace, config=config)
        tpot = float(np.nanmean(result.tpot_s[window]))
        simulated = {
            "ttft_s_mean": float(np.mean(result.ttft_s[window])),
            "tpot_s_mean": tpot,
            "itl_s_mean": tpot,
            "e2e_latency_s_mean": float(np.mean(result.e2e_latency_s[window])),
        }
        for metric in METRICS:
            if metric not in case.metrics:
                continue
            measured = case.metrics[metric]
            ss = float(steady[metric][i])
            sim = simulated[metric]
            fam = case.source_family
            errors.setdefault((fam, "steady"), {}).setdefault(metric, []).append(ss / measured - 1)
            errors.setdefault((fam, "simulated"), {}).setdefault(metric, []).append(
                sim / measured - 1
            )
            table.append((case.case_id, case.accelerator, metric, measured, ss, sim))
            print(
                f"{case.case_id:48s} {case.accelerator:12s} {metric:20s} measured {measured:8.3g}"
                f"  steady {ss:8.3g}  simulated {sim:8.3g}"
            )
    elapsed = time.perf_counter() - start
    print(f"\n{len(prep.cases)} cases, {len(prep.skipped)} skipped, {elapsed:.1f} s")
    for (family, model_name), per_metric in sorted(errors.items()):
        for metric, errs in per_metric.items():
            e = np.array(errs)
            finite = e[np.isfinite(e)]
            print(
                f"{family:7s} {model_name:10s} {metric:20s} n={len(e):3d} finite={len(finite):3d} "
                f"MAPE {100 * np.mean(np.abs(finite)):7.1f} %  median {100 * np.median(finite):+7.1f} %"
            )
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "accelerator", "metric", "measured", "steady", "simulated"])
            writer.writerows(table)


if __name__ == "__main__":
    main()
