"""chip2grid calibrate: fit to a user's benchmarks, benchmark JSON readers, CV error, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chip2grid.errors import InvalidParameterError
from chip2grid.perf.calibration import (
    calibration_for,
    catalog_calibration_for,
    load_calibration_file,
)
from chip2grid.validation.calibrate import (
    GROUPINGS,
    BenchSetup,
    calibrate,
    fold_indices,
    read_bench_json,
)
from chip2grid.validation.cases import load_cases
from chip2grid.validation.predict import ENGINE_PARAMS, HW_PARAMS, POWER_PARAMS, predict, prepare

DATA = Path(__file__).parent / "data"
COLUMNS = [
    "case_id", "source", "model", "accelerator", "num_accelerators", "engine", "engine_version",
    "weight_precision", "kv_precision", "tp", "pp", "ep", "isl", "osl", "dataset", "mode",
    "concurrency", "request_rate_per_s", "batch_size", "metric", "value", "unit", "notes",
]  # fmt: skip
KNOWN = {"gemm_compute_eff": 0.55, "memory_eff": 0.7}


def _synthetic_csv(path: Path) -> None:
    """Static-batch runs of Llama 3.1 8B on one H100, measured = chip2grid's own prediction
    at known efficiencies (the rest at catalog values)."""
    rows = []
    for isl in (128, 2048):
        for batch in (1, 8, 64):
            rows.append(
                {
                    "case_id": f"syn-{isl}-{batch}", "source": "synthetic", "model": "llama-3.1-8b",
                    "accelerator": "h100-sxm", "num_accelerators": "1", "engine": "tensorrt-llm",
                    "engine_version": "0.9.0", "weight_precision": "bf16", "kv_precision": "bf16",
                    "tp": "1", "pp": "1", "ep": "", "isl": str(isl), "osl": "128", "dataset": "",
                    "mode": "static_batch", "concurrency": "", "request_rate_per_s": "",
                    "batch_size": str(batch), "metric": "", "value": "0", "unit": "", "notes": "",
                }
            )  # fmt: skip
    metrics = ("output_tokens_per_s", "prefill_time_s", "decode_time_s_per_token")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            for metric in metrics:
                writer.writerow({**row, "metric": metric, "value": "1"})
    prep = prepare(load_cases(path))
    cal = catalog_calibration_for("hopper", prep.engine_keys[0])
    hw = np.array([[KNOWN.get(p, getattr(cal.hardware, p)) for p in HW_PARAMS]])
    eng = np.array([[getattr(cal.engine, p) for p in ENGINE_PARAMS]])
    power = np.array([getattr(cal.power, p) for p in POWER_PARAMS])
    pred = predict(prep, hw, eng, power)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for i, case in enumerate(prep.cases):
            row = next(r for r in rows if r["case_id"] == case.case_id)
            for metric in metrics:
                writer.writerow({**row, "metric": metric, "value": f"{pred[metric][i]:.9g}"})


def test_fit_recovers_known_efficiencies(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.csv"
    _synthetic_csv(path)
    report = calibrate(load_cases(path), accelerator="h100-sxm", folds=2, max_nfev=40)
    assert report.family == "hopper"
    assert report.before.overall[0] > 0.05  # the catalog differs from the known values
    assert report.after_in_sample.overall[0] < 0.02
    assert report.after_cv.overall[0] < report.before.overall[0]
    assert report.hardware["memory_eff"] == pytest.approx(KNOWN["memory_eff"], rel=0.05)
    assert report.hardware["gemm_compute_eff"] == pytest.approx(KNOWN["gemm_compute_eff"], rel=0.1)
    out = report.write(tmp_path / "cal.toml", "test")
    user = load_calibration_file(out)
    assert user.kind == "calibrate" and user.accelerator == "h100-sxm"
    cal = calibration_for("hopper", "tensorrt-llm", override=out)
    assert cal.label.startswith("calibrate:h100-sxm@")
    assert cal.hardware.memory_eff == pytest.approx(report.hardware["memory_eff"], rel=1e-5)
    # the family it was not fitted for keeps the catalog
    assert calibration_for("ampere", "vllm", override=out) == catalog_calibration_for(
        "ampere", "vllm"
    )


SETUP = BenchSetup(model="llama-3.1-8b", accelerator="h100-sxm", engine="vllm")


def test_vllm_json_reader() -> None:
    case = read_bench_json(DATA / "vllm_bench_serve_llama8b_h100.json", SETUP, kind="vllm")
    assert case.mode == "max_num_seqs" and case.batch_size == 32
    assert case.input_tokens == pytest.approx(1024) and case.output_tokens == pytest.approx(128)
    assert case.metrics["output_tokens_per_s"] == pytest.approx(978.3)
    assert case.metrics["ttft_s_mean"] == pytest.approx(0.2124)
    assert case.metrics["ttft_s_p99"] == pytest.approx(0.5612)
    assert case.metrics["e2e_latency_s_mean"] == pytest.approx(4.1749)
    assert case.metrics["itl_s_median"] == pytest.approx(0.0276)


def test_sglang_jsonl_reader_uses_last_line() -> None:
    case = read_bench_json(DATA / "sglang_bench_serving_llama8b_h100.jsonl", SETUP, kind="sglang")
    assert case.mode == "server" and case.request_rate_per_s == pytest.approx(8.0)
    assert case.input_tokens == pytest.approx(1024) and case.output_tokens == pytest.approx(256)
    assert case.metrics["output_tokens_per_s"] == pytest.approx(2000.0)
    assert case.metrics["e2e_latency_s_mean"] == pytest.approx(2.6123)
    assert case.metrics["tpot_s_mean"] == pytest.approx(0.01004)


def test_bench_json_missing_field_names_it(tmp_path: Path) -> None:
    data = json.loads((DATA / "vllm_bench_serve_llama8b_h100.json").read_text())
    del data["completed"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InvalidParameterError, match="completed"):
        read_bench_json(bad, SETUP, kind="vllm")


def test_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    _synthetic_csv(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[3][COLUMNS.index("value")] = "fast"  # line 4 of the file
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(InvalidParameterError, match=r"m\.csv:4: value"):
        load_cases(path)


NIM = Path(__file__).parent.parent / "src" / "chip2grid" / "data" / "measurements_nim_dli.csv"


@pytest.mark.parametrize("group_by", sorted(GROUPINGS))
def test_grouped_folds_never_split_a_group(group_by: str) -> None:
    """Every case is held out exactly once, and a group's cases all in the same fold."""
    cases = load_cases(NIM) + load_cases(NIM.with_name("measurements_inferencex.csv"))
    folds = fold_indices(cases, 2, seed=3, group_by=group_by)
    held = np.concatenate(folds)
    assert sorted(held.tolist()) == list(range(len(cases)))  # a partition
    fold_of = {int(i): k for k, part in enumerate(folds) for i in part}
    key = GROUPINGS[group_by]
    seen: dict[tuple[object, ...], int] = {}
    for i, case in enumerate(cases):
        assert seen.setdefault(key(case), fold_of[i]) == fold_of[i]
    if group_by in ("model", "source"):  # no model (source) on both sides
        attr = "model" if group_by == "model" else "source_family"
        sides = [{getattr(cases[int(i)], attr) for i in part} for part in folds]
        assert sides[0] and sides[1] and not sides[0] & sides[1]
    if group_by == "case":  # plain k-fold: sizes within one of each other
        assert abs(len(folds[0]) - len(folds[1])) <= 1


def test_grouped_folds_bad_input(tmp_path: Path) -> None:
    cases = load_cases(NIM)
    with pytest.raises(InvalidParameterError, match=r"--group-by.*case, model, layout, source"):
        fold_indices(cases, 2, group_by="gpu")
    with pytest.raises(InvalidParameterError, match=r"--folds.*groups by source \(1\)"):
        fold_indices(cases, 2, group_by="source")
    path = tmp_path / "synthetic.csv"
    _synthetic_csv(path)  # one model only
    with pytest.raises(InvalidParameterError, match=r"groups by model \(1\)"):
        calibrate(load_cases(path), folds=2, group_by="model")
    with pytest.raises(InvalidParameterError, match="--group-by"):
        calibrate(load_cases(path), folds=2, group_by="nonsense")


def test_calibrate_by_model_reports_and_stores_the_grouping(tmp_path: Path) -> None:
    """Leave-one-model-out on NIM's A100 TP 1 runs of both models: the fold fitted on one model
    predicts the other, and the file says how its CV error was measured."""
    cases = [c for c in load_cases(NIM) if c.accelerator == "a100-sxm-80gb" and c.tp in (4, 1)]
    report = calibrate(cases, accelerator="a100-sxm-80gb", folds=2, max_nfev=3, group_by="model")
    assert report.group_by == "model"
    assert report.after_cv.overall[1] == report.before.overall[1] > 0
    doc = report.to_document("test")
    assert doc["fit"]["group_by"] == "model"
    out = report.write(tmp_path / "cal.toml", "test")
    assert load_calibration_file(out).accelerator == "a100-sxm-80gb"


def test_bad_options() -> None:
    with pytest.raises(InvalidParameterError, match="--folds"):
        calibrate([], folds=1)
    with pytest.raises(InvalidParameterError, match="--folds"):  # more folds than cases
        calibrate(
            [read_bench_json(DATA / "vllm_bench_serve_llama8b_h100.json", SETUP, kind="vllm")]
        )
    with pytest.raises(InvalidParameterError, match="--num-accelerators"):
        BenchSetup(model="llama-3.1-8b", accelerator="h100-sxm", num_accelerators=0)


@pytest.mark.slow
def test_cli_calibrate_json_from_benchmarks(tmp_path: Path) -> None:
    out = tmp_path / "cal.toml"
    cmd = [
        sys.executable, "-m", "chip2grid", "calibrate",
        "--vllm-json", str(DATA / "vllm_bench_serve_llama8b_h100.json"),
        "--sglang-json", str(DATA / "sglang_bench_serving_llama8b_h100.jsonl"),
        "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--engine", "vllm",
        "--folds", "2", "--max-nfev", "5", "--write", str(out), "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["num_cases"] == 2 and summary["family"] == "hopper"
    assert summary["after_cv"]["overall"]["n"] > 0
    assert load_calibration_file(out).engines["vllm"]
