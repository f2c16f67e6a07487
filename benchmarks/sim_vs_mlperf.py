"""The serving simulator and the steady state against MLPerf Inference v4.1 Server runs.

For every MLPerf llama2-70b and mixtral-8x7b Server case of shared/validation/measurements.csv
that chip2grid can express, simulate Poisson arrivals at the run's request rate with the data
set's per-sample lengths (outputs scaled to the run's mean output length), drop the first and
last 10 % of requests (warm-up and drain), and compare mean TTFT, TPOT and end-to-end latency
with the measured values and with the steady-state estimate. Prints one line per case and the
MAPE and median signed error of both.

    python benchmarks/sim_vs_mlperf.py [--measurements PATH] [--requests N] [--csv OUT]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import Deployment, get_engine
from chip2grid.serving import RequestTrace, simulate
from chip2grid.serving.simulate import engine_config_for
from chip2grid.serving.workload import poisson_arrivals
from chip2grid.validation.cases import load_cases
from chip2grid.validation.predict import catalog_parameters, predict, prepare

HERE = Path(__file__).resolve().parent
LENGTHS = {
    "llama-2-70b": HERE / "data" / "mlperf_llama2_70b_lengths.csv",
    "mixtral-8x7b": HERE / "data" / "mlperf_mixtral_8x7b_lengths.csv",
}
METRICS = ("ttft_s_mean", "tpot_s_mean", "e2e_latency_s_mean")


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
        if c.source_family == "mlperf" and c.mode == "server" and c.model in lengths
    ]
    prep = prepare(cases)
    steady = predict(prep, *catalog_parameters(prep))
    errors: dict[str, dict[str, list[float]]] = {"steady": {}, "simulated": {}}
    table = []
    start = time.perf_counter()
    for i, case in enumerate(prep.cases):
        inputs, outputs = lengths[case.model]
        dep = Deployment(
            model=get_model(case.model),
            accelerator=get_accelerator(case.accelerator),
            num_accelerators=case.num_accelerators,
            tp=case.tp,
            pp=case.pp,
            ep=case.ep,
            weight_precision=case.weight_precision,
            kv_precision=case.kv_precision,
            engine=get_engine(case.engine_profile).id,
        )
        rng = np.random.default_rng(1)
        n = args.requests
        pick = rng.integers(0, len(inputs), n)
        scaled = np.maximum(1, np.round(outputs[pick] * case.output_tokens / outputs.mean()))
        trace = RequestTrace(
            arrival_s=poisson_arrivals(case.request_rate_per_s, n, rng),
            input_tokens=inputs[pick],
            output_tokens=scaled.astype(np.int64),
            source=f"{case.case_id} (Poisson, MLPerf lengths)",
        )
        config = engine_config_for(dep, max_num_seqs=case.max_batch_size or None)
        result = simulate(dep, trace, config=config)
        window = slice(n // 10, n - n // 10)
        simulated = {
            "ttft_s_mean": float(np.mean(result.ttft_s[window])),
            "tpot_s_mean": float(np.nanmean(result.tpot_s[window])),
            "e2e_latency_s_mean": float(np.mean(result.e2e_latency_s[window])),
        }
        for metric in METRICS:
            if metric not in case.metrics:
                continue
            measured = case.metrics[metric]
            ss = float(steady[metric][i])
            sim = simulated[metric]
            errors["steady"].setdefault(metric, []).append(ss / measured - 1.0)
            errors["simulated"].setdefault(metric, []).append(sim / measured - 1.0)
            table.append((case.case_id, case.accelerator, metric, measured, ss, sim))
            print(
                f"{case.case_id:48s} {case.accelerator:12s} {metric:20s} measured {measured:8.3g}"
                f"  steady {ss:8.3g}  simulated {sim:8.3g}"
            )
    elapsed = time.perf_counter() - start
    print(f"\n{len(prep.cases)} cases, {len(prep.skipped)} skipped, {elapsed:.1f} s")
    for model_name, per_metric in errors.items():
        for metric, errs in per_metric.items():
            e = np.array(errs)
            finite = e[np.isfinite(e)]
            print(
                f"{model_name:10s} {metric:20s} n={len(e):3d} finite={len(finite):3d} "
                f"MAPE {100 * np.mean(np.abs(finite)):7.1f} %  median {100 * np.median(finite):+7.1f} %"
            )
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "accelerator", "metric", "measured", "steady", "simulated"])
            writer.writerows(table)


if __name__ == "__main__":
    main()
