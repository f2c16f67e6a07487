"""What one-sequence decode says about the fitted memory efficiency and step overhead.

A static batch of one sequence on one GPU is the cleanest decode there is: no batching, no
communication, a step that reads every weight and the sequence's KV cache once. NVIDIA's
TensorRT-LLM DLI sheet (shipped with chip2grid, source family ``trtdli``) measures its mean TPOT
for dense models of 6 to 70 billion parameters on several GPUs. Over those rows the TPOT is
close to a straight line in the bytes a step reads,

    tpot_s = fixed_s + bytes / (memory_bandwidth_bytes_per_s * bandwidth_eff),

and an ordinary least-squares fit per hardware family gives ``fixed_s`` (what the step costs
beyond streaming: launches, sampling, the engine's own time) and ``bandwidth_eff`` (the share of
the datasheet HBM bandwidth that weight streaming reaches). The script prints both beside the
shipped calibration's ``memory_eff`` and TensorRT-LLM ``step_overhead_s``, and the shipped
model's own error on the same rows.

Usage: ``python benchmarks/batch1_bandwidth.py`` (a few seconds; reads only the shipped data,
writes nothing). ``--measurements PATH`` adds a CSV in the validation format.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np

from chip2grid.llm import get_model
from chip2grid.perf import Deployment
from chip2grid.perf.calibration import catalog_calibration_for
from chip2grid.validation.cases import Case, load_measurement_files, shipped_measurement_files
from chip2grid.validation.predict import case_deployment, catalog_parameters, predict, prepare


def batch1_cases(extra: list[str]) -> list[Case]:
    """Dense, TP 1, one-sequence static batches of the DLI sheet, at their mean lengths."""
    cases = load_measurement_files([*extra, *shipped_measurement_files()])
    keep = []
    for case in cases:
        if case.source_family != "trtdli" or case.mode != "static_batch":
            continue
        if case.tp != 1 or case.pp != 1 or case.batch_size != 1:
            continue
        if "tpot_s_mean" not in case.metrics:
            continue
        if get_model(case.model).num_moe_layers:
            continue
        keep.append(case.at_mean_lengths())
    return keep


def stream_s(case: Case, dep: Deployment) -> float:
    """Seconds to read the weights and the KV cache at the middle of the decode once, at the
    datasheet HBM bandwidth, with the precisions the validation resolves for the case
    (``dep``, :func:`~chip2grid.validation.predict.case_deployment`)."""
    model = dep.model
    context = case.input_tokens + case.output_tokens / 2.0
    kv = model.kv_elements_per_token_per_layer * model.num_layers * context
    read = model.num_params * dep.weight_bytes_per_param + kv * dep.kv_bytes_per_element
    return read / dep.accelerator.memory_bandwidth_bytes_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measurements", action="append", default=[], help="extra CSV")
    args = parser.parse_args()
    cases = batch1_cases(args.measurements)
    prep = prepare(cases)
    hw, eng, power = catalog_parameters(prep)
    predicted = np.asarray(predict(prep, hw, eng, power)["tpot_s_mean"])
    deps = [case_deployment(case) for case in prep.cases]
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, dep in enumerate(deps):
        groups[dep.accelerator.family].append(i)
    print(
        f"{'family':14s} {'rows':>4s} {'fixed ms':>9s} {'bw eff':>7s} {'rms':>6s} | "
        f"{'shipped memory_eff':>18s} {'step_overhead ms':>16s} {'model MAPE':>10s} {'median':>7s}"
    )
    for family, rows in sorted(groups.items()):
        sub = [prep.cases[i] for i in rows]
        x = np.array([stream_s(prep.cases[i], deps[i]) for i in rows])
        y = np.array([c.metrics["tpot_s_mean"] for c in sub])
        if len(sub) < 4 or np.ptp(x) <= 0:
            continue
        design = np.vstack([np.ones_like(x), x]).T
        (fixed_s, inv_eff), *_ = np.linalg.lstsq(design, y, rcond=None)
        resid = (y - design @ np.array([fixed_s, inv_eff])) / y
        cal = catalog_calibration_for(family, "tensorrt-llm-static")
        err = predicted[rows] / y - 1.0
        print(
            f"{family:14s} {len(sub):4d} {fixed_s * 1e3:9.2f} {1.0 / inv_eff:7.3f} "
            f"{100 * np.sqrt(np.mean(resid**2)):5.1f}% | {cal.hardware.memory_eff:18.3f} "
            f"{cal.engine.step_overhead_s * 1e3:16.2f} {100 * np.mean(np.abs(err)):9.1f}% "
            f"{100 * np.median(err):+6.1f}%"
        )
    by_model: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for i, case in enumerate(prep.cases):
        by_model[(case.model, case.accelerator)].append(
            float(predicted[i] / case.metrics["tpot_s_mean"] - 1.0)
        )
    print("\nshipped model's TPOT error by model and GPU (median over the lengths):")
    for (model, acc), errs in sorted(by_model.items()):
        print(f"  {model:14s} {acc:15s} {100 * np.median(errs):+6.1f}%  ({len(errs)} rows)")


if __name__ == "__main__":
    main()
