"""Validation against published measurements by others (../shared/validation).

The thresholds are the errors achieved by the shipped calibration when it was fitted (see the
closing note of issue 2 and README), rounded up by about two points: they keep the error from
silently getting worse. They are not targets; the targets (throughput <= 10 %, TTFT and
TPOT <= 15 % on unseen data) are not met yet, and the report says where and why.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest

from chip2grid.validation import load_cases, run_validation
from chip2grid.validation.predict import (
    AT_MEASURED_BATCH,
    case_deployment,
    measured_batch,
    with_measured_batch_metric,
)
from chip2grid.validation.report import metric_group
from tests.test_cli import run

# group -> maximum MAPE (fraction). Achieved at the fit of 2026-11-23 (shipped calibration.toml,
# ML.ENERGY's vLLM runs fitted as the host-bound profile, Lambda's bursts replayed, the B200
# MLPerf run in its announced FP4): holdout (MLPerf v4.1 + Lambda) throughput 36.1 %, TPOT
# 45.1 %, TTFT 46.9 %, E2E 51.1 %, energy 10.6 %; fit set throughput 17.3 %, TPOT 27.4 %,
# TTFT 21.0 %, E2E 10.1 %, energy 20.9 %.
# Holdout throughput was 26.2 % before the replay: Lambda's steady state at full batch and the
# ML.ENERGY-fitted vLLM overheads were both off and cancelled (README, Validation).
# 2026-11-24: the vllm-0.5 profile's overheads, fitted on vLLM developers' runs (vllmdev) with
# the rest held: holdout throughput 32.4 -> 26.2 %, TPOT 43.2 -> 37.0 %, TTFT 48.3 -> 46.4 %,
# E2E 46.9 -> 45.7 %, energy 5.3 %; the fit set unchanged.
# 2026-11-24 (later): developer-guide runs on the PyTorch backend's calibration, GPT-OSS at its
# guide's activation precision, MoE rows per touched expert, the TensorRT-LLM MoE shares refitted
# (1.0 and 0.499): holdout throughput 26.4 %, TPOT 36.9 %, TTFT 46.4 %, E2E 45.7 %, energy 5.3 %;
# fit set throughput 16.1 %.
# 2026-11-25: vLLM 0.5's MoE share fitted (0.57) on its developers' Mixtral latency runs: holdout
# throughput 25.8 %, TPOT 36.3 %, TTFT 45.8 %, E2E 45.7 %, energy 5.3 %; the fit set unchanged.
# 2026-11-26: the Server batch solved to convergence (perf.steady.batch_at_rate; 25 damped
# iterations had stopped short near capacity): holdout TPOT 36.3 -> 36.9 %, TTFT 45.8 -> 46.2 %,
# E2E 45.7 -> 44.5 %; fit set TPOT 27.4 -> 27.7 %, TTFT 21.0 -> 21.3 %.
# 2026-11-27: the perf-overview rows at trtllm-bench's sized batch limits: fit-set throughput
# 16.1 -> 15.9 %; the holdout unchanged.
# 2026-11-28: Server runs wait for a sequence slot (Erlang C) instead of M/D/1, the step that
# carries a prompt carries it beside the average step's prompts, kernel launches overlap the
# device (vllm-host-bound refitted): holdout TTFT 46.2 -> 47.9 %, E2E 44.5 -> 44.8 %; fit set
# throughput 15.9 -> 15.7 %, TPOT 27.7 -> 26.7 %, TTFT 21.3 -> 18.8 %, energy 20.9 -> 20.6 %.
# 2026-11-25: AMD's MLPerf v4.1 Server harness gathers requests for 0.3 s and hands each batch
# to one vLLM worker (catalog/validation_configs.toml): holdout TTFT 47.7 -> 44.2 %, E2E 44.5 ->
# 44.4 %; the MI300X Server runs' TTFT -81..-94 % -> -22..-39 %; the fit set unchanged.
# 2026-11-25: full meshes costed, three MLPerf systems on 4-GPU HGX H100 boards (NV6 per pair):
# holdout throughput 25.7 -> 25.3 %, TTFT 44.2 -> 42.2 %, TPOT 36.7 -> 35.8 %, E2E 44.4 -> 42.3 %.
# 2026-11-25: TensorRT-LLM's MoE share on Hopper of its own (0.69, [moe.tensorrt-llm.hopper]):
# holdout throughput 25.3 -> 19.4 %, TPOT 35.8 -> 32.0 %, TTFT 42.2 -> 36.2 %, E2E 42.3 ->
# 33.7 %, energy 5.3 -> 1.8 %; fit-set throughput 15.4 -> 15.8 %.
# 2026-11-25: Lambda's eight Llama-3.1-70B runs replayed with the lengths of the repository's
# runs of that checkpoint (bursts stand_ins), and Lambda's KV cache in vLLM's default 16 bits
# (catalog/validation_configs.toml): holdout throughput 19.4 -> 17.0 %, TPOT 32.0 -> 30.4 %.
HOLDOUT_MAX = {"throughput": 0.19, "tpot": 0.32, "ttft": 0.37, "e2e": 0.34, "energy": 0.03}
# 2026-11-25: the Triton table's runs of 500 fixed-length requests replayed request by request
# (validation.bursts.finite_run): fit-set TPOT 26.7 -> 18.3 %, TTFT 19.0 -> 17.6 %.
FIT_MAX = {"throughput": 0.16, "tpot": 0.19, "ttft": 0.18, "e2e": 0.11, "energy": 0.21}
# measured latencies the model predicts unbounded (the run's rate above the predicted
# capacity): they cannot enter a MAPE, so their number is held instead. 2026-11-24: held out,
# the TTFT and E2E of the L40S and B200 MLPerf v4.1 server runs. The fit set's seven (TTFT of
# Triton runs of Llama-3.1-70B at 16-32 requests/s, measured 0.1-1.3 s) are replayed as the
# finite runs of 500 requests they are since 2026-11-25, and bounded
MAX_UNBOUNDED = {"holdout": 4, "fit": 0}
# The Server runs' TPOT at the batch they held (Little's law on their own measurements), a
# diagnostic left out of the fit: 2026-11-25, 11.2 % on the 54 MLPerf v4.1 Server runs
# (NVIDIA's TensorRT-LLM runs 9.2 %, median -10.6 %), where their TPOT at the rate is 40.1 %.
AT_MEASURED_BATCH_MAX = 0.12


@pytest.fixture(scope="module")
def report(measurements_path):
    return run_validation(measurements_path)


def test_cases_load_and_group(measurements_path) -> None:
    cases = load_cases(measurements_path)
    assert len(cases) == 3052  # runs in the set (README of shared/validation)
    assert sum(len(c.metrics) for c in cases) == 5411


def test_most_cases_are_expressible(report) -> None:
    reasons = [reason for _case, reason in report.skipped]
    beam = [r for r in reasons if "beam search" in r]
    assert len(beam) == 68  # MLPerf GPT-J runs use 4-beam search
    assert len(reasons) - len(beam) <= 5, reasons[:5]
    assert len(report.rows) > 4000


@pytest.mark.parametrize("split,limits", [("holdout", HOLDOUT_MAX), ("fit", FIT_MAX)])
def test_error_does_not_get_worse(report, split: str, limits: dict[str, float | None]) -> None:
    mape = report.mape(split=split)
    for group, limit in limits.items():
        if limit is None or group not in mape:
            continue
        assert mape[group][0] <= limit, f"{split} {group} MAPE {mape[group][0]:.3f} > {limit}"


def test_unbounded_predictions_are_counted_and_do_not_grow(report) -> None:
    for split, limit in MAX_UNBOUNDED.items():
        assert report.unbounded_count(split=split) <= limit, split
    assert all(math.isinf(r.predicted) for r in report.unbounded)


def test_predictions_are_finite_and_positive(report) -> None:
    for row in report.rows:
        assert math.isfinite(row.predicted) and row.predicted > 0, row.case.case_id


def test_report_csv(report, tmp_path) -> None:
    out = tmp_path / "r.csv"
    report.write_csv(out)
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(report.rows) + len(report.unbounded)
    unbounded = [r for r in rows if r["predicted"] == "inf"]
    assert len(unbounded) == len(report.unbounded) > 0
    assert all(r["error_frac"] == "inf" for r in unbounded)
    assert {"case_id", "metric", "measured", "predicted", "error_frac", "split"} <= set(rows[0])
    b200 = [r for r in rows if r["case_id"] == "mlperf-v4.1-0074-llama2-70b-99.9-offline"]
    assert b200 and {(r["weight_precision"], r["kv_precision"]) for r in b200} == {("fp4", "fp8")}
    assert {r["split"] for r in rows} == {"fit", "holdout"}


def test_holdout_by_accelerator_and_hardware_family(measurements_path) -> None:
    from chip2grid.errors import InvalidParameterError
    from chip2grid.validation import holdout_mask, prepare

    prep = prepare(load_cases(measurements_path))
    fams = [c.source_family for c in prep.cases]
    accs = [c.accelerator for c in prep.cases]
    archs = [prep.hw_keys[k] for k in prep.hw_index]
    by_family = holdout_mask(prep, ("mlperf",))
    assert list(by_family) == [f == "mlperf" for f in fams]
    by_acc = holdout_mask(prep, ("h200-sxm",))
    assert list(by_acc) == [a == "h200-sxm" for a in accs]
    assert {fams[i] for i in range(len(fams)) if by_acc[i]} >= {"trtllm", "mlperf"}
    by_arch = holdout_mask(prep, ("blackwell",))
    assert list(by_arch) == [a == "blackwell" for a in archs]
    assert {accs[i] for i in range(len(accs)) if by_arch[i]} == {"b200", "gb200"}
    gb202 = holdout_mask(prep, ("blackwell-rtx",))  # the RTX PRO die has a family of its own
    assert {accs[i] for i in range(len(accs)) if gb202[i]} == {"rtx-pro-6000-blackwell"}
    both = holdout_mask(prep, ("lambda", "l40s"))
    assert list(both) == [f == "lambda" or a == "l40s" for f, a in zip(fams, accs, strict=True)]
    with pytest.raises(InvalidParameterError) as info:
        holdout_mask(prep, ("mlperf", "h300"))
    assert info.value.field == "holdout"
    assert "h200-sxm" in info.value.allowed and "blackwell" in info.value.allowed


def test_split_follows_an_accelerator_holdout(measurements_path) -> None:
    report = run_validation(measurements_path, holdout=("mlperf", "lambda", "l40s"))
    held = {r.case.accelerator for r in report.rows if r.split == "holdout"}
    fit_accs = {r.case.accelerator for r in report.rows if r.split == "fit"}
    assert "l40s" in held and "l40s" not in fit_accs
    assert {r.case.source_family for r in report.rows if r.case.accelerator == "l40s"} >= {"trtllm"}


def test_precision_from_a_public_statement_only_where_the_row_is_empty(
    measurements_path, tmp_path
) -> None:
    cases = {c.case_id: c for c in load_cases(measurements_path)}
    b200 = cases["mlperf-v4.1-0074-llama2-70b-99.9-offline"]  # row: precision empty
    assert (b200.weight_precision, b200.kv_precision) == ("fp4", "fp8")
    # the same case id with a stated precision keeps the row's value
    with open(measurements_path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames
        rows = [r for r in reader if r["case_id"] == b200.case_id]
    assert fields is not None and rows
    for row in rows:
        row["weight_precision"], row["kv_precision"] = "fp8", "fp16"
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (stated,) = load_cases(path)
    assert (stated.weight_precision, stated.kv_precision) == ("fp8", "fp16")
    # a run with no statement keeps the set's default
    gptj = cases["mlperf-v4.1-0015-gptj-99-offline"]
    assert (gptj.weight_precision, gptj.kv_precision) == ("bf16", "auto")


def test_activation_precision_only_from_a_statement(measurements_path) -> None:
    cases = {c.case_id: c for c in load_cases(measurements_path)}
    # TensorRT-LLM's GPT-OSS guide: Hopper runs the MXFP4 experts against BF16 activations,
    # Blackwell against MXFP8
    hopper = cases["trtllm-devguide-gpt-oss-20b-h100-sxm-fp8-tp1-1000-1000"]
    blackwell = cases["trtllm-devguide-gpt-oss-20b-b200-fp4-tp1-1000-1000"]
    assert hopper.activation_precision == "bf16"
    assert case_deployment(hopper).compute_precision == "bf16"
    assert blackwell.activation_precision == "fp8"
    assert case_deployment(blackwell).compute_precision == "fp8"
    # a run without a statement keeps the deployment's rule (the weights' precision here)
    llama = next(
        c
        for c in cases.values()
        if c.case_id.startswith("trtllm-devguide-llama") and c.accelerator == "b200"
    )
    assert llama.activation_precision == "auto"
    assert case_deployment(llama).compute_precision == llama.weight_precision


def test_a_post_version_page_is_served_by_the_backend_of_that_version(measurements_path) -> None:
    # the developer-guide tables say "post-1.0": trtllm-bench on the PyTorch backend
    cases = load_cases(measurements_path)
    devguide = [c for c in cases if c.case_id.startswith("trtllm-devguide-")]
    assert devguide
    assert {c.engine_profile for c in devguide} == {"tensorrt-llm-pytorch"}
    older = next(c for c in cases if c.case_id.startswith("trtllm-v0.14"))
    assert older.engine_profile == "tensorrt-llm"


def test_median_error_is_signed_and_grouped_like_the_mape(report) -> None:
    medians = report.median_error(split="holdout", key="source_family")
    mape = report.mape(split="holdout", key="source_family")
    assert medians.keys() == mape.keys()
    for family, value in medians.items():
        signed = [
            r.error_frac
            for r in report.rows
            if r.split == "holdout" and r.case.source_family == family
        ]
        assert value == pytest.approx(float(np.median(signed)))
        assert min(signed) <= value <= max(signed)
    # Lambda's vLLM 0.5.4 throughput is over-predicted (README, Validation): the sign is kept
    lambda_tput = [
        r.error_frac
        for r in report.rows
        if r.case.source_family == "lambda" and r.metric == "output_tokens_per_s"
    ]
    assert float(np.median(lambda_tput)) > 0


def test_validate_json_reports_the_median_error(report, measurements_path, tmp_path) -> None:
    out = tmp_path / "report.csv"
    result = run("validate", "--measurements", str(measurements_path), "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    cell = summary["mape"]["holdout"]["group"]["throughput"]
    assert set(cell) == {"mape", "median_error", "n"}
    assert cell["median_error"] == pytest.approx(report.median_error(split="holdout")["throughput"])
    assert cell["mape"] == pytest.approx(report.mape(split="holdout")["throughput"][0])
    assert out.exists()


def test_server_step_at_the_measured_batch_is_scored_apart_and_not_fitted(report) -> None:
    """The diagnostic isolates the step from the queue: near capacity a Server run's TPOT
    amplifies a small capacity error, at the batch the run held it does not."""
    mape = report.mape(split="holdout")
    value, n = mape[AT_MEASURED_BATCH]
    assert n >= 50
    assert value <= AT_MEASURED_BATCH_MAX, f"{value:.3f} > {AT_MEASURED_BATCH_MAX}"
    assert value < mape["tpot"][0]  # the step is closer than the latency at the rate
    assert AT_MEASURED_BATCH not in report.mape(split="fit")  # no fit-set Server run has it
    assert metric_group(AT_MEASURED_BATCH) is None  # in no group: not in the TPOT target
    rows = [r for r in report.rows if r.metric == AT_MEASURED_BATCH]
    assert {r.case.mode for r in rows} == {"server"}
    assert all(r.measured == r.case.metrics["tpot_s_mean"] for r in rows)


def test_measured_batch_is_littles_law_on_the_decoding_time(measurements_path) -> None:
    server = next(c for c in load_cases(measurements_path) if c.mode == "server")
    case = dataclasses.replace(
        server,
        request_rate_per_s=80.0,
        metrics={"requests_per_s": 79.5, "e2e_latency_s_mean": 36.0, "ttft_s_mean": 0.2},
    )
    assert measured_batch(case) == pytest.approx(79.5 * 35.8)
    no_rps = dataclasses.replace(case, metrics={"e2e_latency_s_mean": 36.0})
    assert measured_batch(no_rps) == pytest.approx(80.0 * 36.0)  # the target rate instead
    assert math.isnan(measured_batch(dataclasses.replace(case, mode="offline")))
    assert math.isnan(measured_batch(dataclasses.replace(case, metrics={"ttft_s_mean": 0.2})))
    [tagged] = with_measured_batch_metric([case])
    assert AT_MEASURED_BATCH not in tagged.metrics  # no mean TPOT to copy
    with_tpot = dataclasses.replace(case, metrics={**case.metrics, "tpot_s_mean": 0.12})
    [tagged] = with_measured_batch_metric([with_tpot])
    assert tagged.metrics[AT_MEASURED_BATCH] == 0.12
