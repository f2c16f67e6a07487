"""The MLPerf Inference v5.1 / v6.0 results chip2grid ships, as validation cases."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from chip2grid import Chip2GridError, InvalidParameterError
from chip2grid.validation import (
    load_cases,
    load_measurement_files,
    prepare,
    run_validation,
    shipped_measurement_files,
    shipped_measurements,
)
from chip2grid.validation.predict import AT_MEASURED_BATCH, catalog_parameters, predict

# holdout MAPE of the shipped calibration on these runs (the fit never sees MLPerf); set from
# what chip2grid reaches so that it cannot silently get worse. TTFT is dominated by runs the
# steady state puts near its capacity (queueing blows up): see the README, Validation.
# 2026-11-24: each run's own output tokens per request instead of the data set's reference
# lengths (Llama-3.1-8B generates 128-129 tokens, not 81.6) and the RTX PRO 6000 fitted as a
# family of its own: throughput 20.7 -> 18.4 %, TPOT 59.9 -> 57.2 %, TTFT 466.6 -> 141.2 %, with
# 150 held-out latencies predicted unbounded (130 before; they cannot enter a MAPE, so their
# number is held too).
# 2026-11-26: the Server batch solved to convergence (perf.steady.batch_at_rate) instead of 25
# damped iterations from one sequence, which had stopped short of the fixed point in runs near
# capacity (a smaller batch, shorter steps): TPOT 57.2 -> 88.6 %, TTFT 141.2 -> 147.5 %, E2E
# 52.4 -> 67.0 %. The old loop run for 400 iterations gives the same figures: 57.2 % was the
# unconverged solver's, not the model's.
# 2026-11-24: the pipeline waits on its last stage, which holds the output projection; the
# projection computes at the 16-bit peak; the Blackwell and RTX PRO 6000 fits redone with them:
# throughput 16.1 -> 14.2 %, TPOT 83.6 -> 49.7 %, TTFT 60.8 -> 57.0 %, unbounded 150 -> 108.
# 2026-11-25: AMD's v5.1 harness takes in requests every 7-10 decode steps (vLLM multi-step
# scheduling, stated per submitter in catalog/validation_configs.toml): TTFT 57.0 -> 54.9 %.
# 2026-11-25: TensorRT-LLM's MoE share on Hopper of its own: throughput 14.2 -> 13.8 %, TPOT
# 49.7 -> 49.4 %, TTFT 54.9 -> 54.5 %.
# 2026-11-25: large all-reduces over 3-8 NVSwitch GPUs reduce in the switch (NVLS): TPOT
# 49.4 -> 47.7 %, TTFT 54.5 -> 54.1 %.
# 2026-11-25: AMD's runs take the max_num_seqs and max_num_batched_tokens their harness YAMLs
# state (quoted in the rows' notes; 600-5,000 sequences) instead of vLLM's default 256, which had
# capped the batch and hidden the default fit's too-fast CDNA 3 step: their Offline throughput
# 3.3 -> 34.6 % (median +33 %), the set's 13.8 -> 16.7 %, TTFT 54.1 -> 54.2 %. Like the
# solver's 57.2 % above, 13.8 % was a missing input's, not the model's.
MLPERF5_MAX = {"throughput": 0.17, "tpot": 0.48, "ttft": 0.55}
MLPERF5_MAX_UNBOUNDED = 108
# 2026-11-25: the Server runs' TPOT at the batch they held (Little's law; scored apart, not
# fitted): 14.6 % over 219 runs with AMD's stated batch caps (17.0 % before), where their TPOT
# at the rate is 47.7 %
MLPERF5_AT_MEASURED_BATCH_MAX = 0.15


def test_every_row_names_its_mlperf_source() -> None:
    with shipped_measurements().open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 2000
    for row in rows:
        assert row["source"].startswith("github:mlcommons/inference_results_v"), row["case_id"]
        assert row["case_id"].startswith(("mlperf-v5.1-", "mlperf-v6.0-"))
        assert float(row["value"]) > 0


def test_the_shipped_runs_do_not_repeat_the_shared_ones(measurements_path: Path) -> None:
    cases = load_measurement_files([measurements_path, shipped_measurements()])
    assert len({c.case_id for c in cases}) == len(cases)
    assert sum(c.case_id.startswith("mlperf-v5.1") for c in cases) > 200


def test_a_case_in_two_files_is_an_error() -> None:
    with pytest.raises(InvalidParameterError, match="also in"):
        load_measurement_files([shipped_measurements(), shipped_measurements()])


def test_unstated_layout_or_mlperf_precision_is_skipped_not_assumed(tmp_path: Path) -> None:
    with shipped_measurements().open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        row = next(r for r in reader if r["metric"] == "output_tokens_per_s" and r["tp"])
    no_tp = {**row, "case_id": row["case_id"] + "-x", "tp": "", "num_accelerators": "8"}
    no_precision = {**row, "case_id": row["case_id"] + "-y", "weight_precision": ""}
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows([row, no_tp, no_precision])
    prep = prepare(load_cases(path))
    assert [c.case_id for c in prep.cases] == [row["case_id"]]
    reasons = {c.case_id: why for c, why in prep.skipped}
    assert "tp" in reasons[no_tp["case_id"]] and "precision" in reasons[no_precision["case_id"]]


def test_measurements_with_no_expressible_case_are_a_clear_error(tmp_path: Path) -> None:
    with shipped_measurements().open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        row = next(r for r in reader if r["metric"] == "output_tokens_per_s" and r["tp"])
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerow({**row, "weight_precision": ""})
    with pytest.raises(Chip2GridError, match=r"none of the 1 measured cases.*precision"):
        run_validation([path])
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, fieldnames=header).writeheader()
    with pytest.raises(InvalidParameterError, match="at least one measured row"):
        run_validation([path])


def test_mlperf5_holdout_error_stays_under_its_thresholds() -> None:
    report = run_validation([shipped_measurements()], holdout=("mlperf",))
    mape = report.mape(split="holdout")
    for group, limit in MLPERF5_MAX.items():
        value, n = mape[group]
        assert n >= 100
        assert value <= limit, f"{group}: {value:.3f} > {limit}"
    assert report.unbounded_count(split="holdout") <= MLPERF5_MAX_UNBOUNDED
    at_batch, n = mape[AT_MEASURED_BATCH]
    assert n >= 200
    assert at_batch <= MLPERF5_AT_MEASURED_BATCH_MAX, f"{at_batch:.3f}"


# TensorRT-LLM's DeepSeek-R1 blog runs (held out as family "trtblog"): B200 over-predicted by
# 39-47 %, H200 under-predicted by 18 % (README, Validation); 32.6 % at 2026-11-24
# 25.1 % since the Blackwell refit of 2026-11-24
TRTBLOG_MAX_THROUGHPUT = 0.26


def test_trtllm_blog_runs_are_sourced_predicted_and_held_out() -> None:
    blog = shipped_measurement_files()[1]
    with blog.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["case_id"].split("-")[0] for r in rows} == {"trtblog"}
    assert all(r["source"].startswith("github:NVIDIA/TensorRT-LLM/docs/") for r in rows)
    prep = prepare(load_cases(blog))
    assert not prep.skipped and len(prep.cases) == 3
    report = run_validation([blog])  # the default holdout keeps the family out of any fit
    value, n = report.mape(split="holdout")["throughput"]
    assert n == 6
    assert value <= TRTBLOG_MAX_THROUGHPUT, value


def test_server_ttft_reports_its_admission_wait() -> None:
    cases = [c for c in load_cases(shipped_measurements()) if c.source_family == "mlperf"]
    prep = prepare(cases[:300])
    pred = predict(prep, *catalog_parameters(prep))
    server = prep.mode == "server"
    assert server.any() and (~server).any()
    wait, ttft = pred["queue_wait_s"], pred["ttft_s_mean"]
    assert np.isnan(wait[~server]).all()
    bounded = server & np.isfinite(wait)
    assert bounded.any()
    # the wait is a part of the TTFT, never all of it (half a step and the prefill come on top)
    assert (wait[bounded] >= 0).all() and (wait[bounded] < ttft[bounded]).all()
    # a rate the predicted capacity cannot serve waits without end
    assert np.isinf(wait[server & np.isinf(ttft)]).all()


def test_a_harness_yaml_quoted_in_the_notes_sets_the_batch_limits() -> None:
    """AMD's harness YAMLs set vLLM's max_num_seqs and max_num_batched_tokens per scenario;
    the rows quote them, and the model runs the engine with them, not vLLM's defaults."""
    cases = {c.case_id: c for c in load_cases(shipped_measurements())}
    amd = cases["mlperf-v5.1-0002-llama2-70b-99.9-server"]
    assert (amd.max_batch_size, amd.max_num_batched_tokens) == (1024, 40960)
    prep = prepare([amd])
    assert prep.full_batch[0] == 1024 and prep.budget[0] == 40960
    stated = [c for c in cases.values() if c.engine.startswith("tensorrt-llm") and c.max_batch_size]
    assert stated and all(c.max_num_batched_tokens == 0 for c in stated)  # the engine's default
