"""TensorRT-LLM 0.9 static-batch sweeps from NVIDIA DLI's sizing course (family ``trtdli``), and
the engine's time per collective."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter

import numpy as np
import pytest

from chip2grid.data import data_path
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import Deployment, StepBatch, get_engine, rank_shape, step_time
from chip2grid.perf.calibration import calibration_for
from chip2grid.validation import DEFAULT_HOLDOUT, shipped_measurement_files
from chip2grid.validation.cases import TRTLLM_DLI_MEASUREMENTS, load_cases
from chip2grid.validation.predict import catalog_parameters, predict, prepare

COMMIT = "0e25b2e236211ad01ed2221bd2c1cfa5b3f47b55"

# MAPE of the shipped calibration on these runs, which it was not fitted on (2026-11-24). TP 1
# is within 9-12 %; TP 2-8 is not (throughput 35 %, TTFT 55 %, TPOT 68 %: the fitted
# per-collective latency; README, Validation limitations), so those are held at their level.
# 2026-11-29: Mixtral's runs route each step as one token (every prompt the pad id): TP 2-8
# throughput 35.3 -> 32.2 %, TTFT 54.7 -> 53.0 %, TPOT 68.5 -> 53.1 %.
TP1_MAX = {"output_tokens_per_s": 0.12, "ttft_s_mean": 0.09, "tpot_s_mean": 0.12}
# 2026-11-25: the GH200 runs at TP 2 and 4 read over a four-GPU NVLink node (GH200 NVL4,
# catalog/validation_configs.toml) instead of InfiniBand: TP 2-8 throughput 32.3 -> 30.9 %,
# TTFT 53.1 -> 32.6 %, TPOT 53.1 -> 50.1 %.
TP_GT1_MAX = {"output_tokens_per_s": 0.31, "ttft_s_mean": 0.33, "tpot_s_mean": 0.51}


@pytest.fixture(scope="module")
def cases():
    return load_cases(data_path(TRTLLM_DLI_MEASUREMENTS))


def test_provenance_and_coverage(cases) -> None:
    assert len(cases) == 2473
    assert {c.source_family for c in cases} == {"trtdli"}
    assert {c.mode for c in cases} == {"static_batch"}
    with data_path(TRTLLM_DLI_MEASUREMENTS).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert all(
        r["source"].startswith("github:wbing520/ai-performance-engineering/code/ch10_inference/")
        and f"@{COMMIT}" in r["source"]
        and r["engine_version"] == "0.9.0"
        for r in rows
    )
    assert {c.tp for c in cases} == {1, 2, 4, 8}
    batches = Counter(c.batch_size for c in cases)
    assert batches[1] > 200 and max(batches) >= 1024
    for accelerator in {c.accelerator for c in cases}:
        get_accelerator(accelerator)  # every GPU is in the catalog (the L40 runs are not)
    assert data_path(TRTLLM_DLI_MEASUREMENTS) in shipped_measurement_files()
    assert "trtdli" not in DEFAULT_HOLDOUT  # in the fit set


def test_gh200_runs_above_one_gpu_are_read_over_a_four_gpu_nvlink_node(cases) -> None:
    # one statement (catalog/validation_configs.toml) lists the prefixes of every model that
    # the sheet runs on more than one GH200
    for case in cases:
        if case.accelerator == "gh200-96gb" and case.tp > 1:
            assert (case.scale_up_domain_size, case.scale_up_topology) == (4, "full_mesh")
        if case.accelerator != "gh200-96gb":
            assert case.scale_up_domain_size == 0, case.case_id


def _setup(case) -> tuple[object, ...]:
    return (
        case.model,
        case.accelerator,
        case.weight_precision,
        case.tp,
        case.input_tokens,
        case.output_tokens,
        case.batch_size,
    )


def test_no_throughput_counted_twice(cases, measurements_path) -> None:
    """The 60 largest-batch runs TensorRT-LLM's v0.9 overview published are in the shared file;
    their throughput is left out here and their latencies kept."""
    shared = {
        _setup(c)
        for c in load_cases(measurements_path)
        if c.engine_version == "0.9.0" and c.mode == "static_batch"
    }
    assert len(shared) == 60
    matched = [c for c in cases if _setup(c) in shared]
    assert len(matched) == 60
    assert all("output_tokens_per_s" not in c.metrics for c in matched)
    assert all({"ttft_s_mean", "tpot_s_mean"} <= set(c.metrics) for c in matched)


def test_shipped_calibration_error(cases) -> None:
    prep = prepare(cases)
    assert not prep.skipped
    pred = predict(prep, *catalog_parameters(prep))
    errors: dict[tuple[str, bool], list[float]] = {}
    for i, case in enumerate(prep.cases):
        for metric, value in case.metrics.items():
            errors.setdefault((metric, case.tp == 1), []).append(abs(pred[metric][i] / value - 1.0))
    for metric, limit in TP1_MAX.items():
        assert np.mean(errors[(metric, True)]) <= limit, metric
    for metric, limit in TP_GT1_MAX.items():
        assert np.mean(errors[(metric, False)]) <= limit, metric


def test_engine_time_per_collective_adds_to_each_collective() -> None:
    acc = get_accelerator("h100-sxm")
    dep = Deployment(
        model=get_model("llama-2-70b"),
        accelerator=acc,
        num_accelerators=2,
        tp=2,
        weight_precision="fp8",
        kv_precision="fp8",
        engine="tensorrt-llm",
    )
    shape = rank_shape(dep, calibration_for(acc.family, get_engine("tensorrt-llm").calibration))
    batch = StepBatch.decode(8.0, 1000.0)
    base = step_time(shape, batch)
    slower = step_time(dataclasses.replace(shape, collective_overhead_s=20e-6), batch)
    layers = dep.model.num_layers
    # two all-reduces a layer (attention, MLP), each 20 us longer; nothing else changes
    assert slower.total_s - base.total_s == pytest.approx(2 * layers * 20e-6, rel=1e-9)
    assert slower.operators["tp_allreduce"] - base.operators["tp_allreduce"] == pytest.approx(
        2 * layers * 20e-6, rel=1e-9
    )
    one = dataclasses.replace(shape, tp=1.0)
    assert step_time(dataclasses.replace(one, collective_overhead_s=20e-6), batch).total_s == (
        step_time(one, batch).total_s
    )
