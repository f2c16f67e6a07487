"""Validation against published measurements by others (../shared/validation).

The thresholds are the errors achieved by the shipped calibration when it was fitted (see the
closing note of issue 2 and README), rounded up by about two points: they keep the error from
silently getting worse. They are not targets; the targets (throughput <= 10 %, TTFT and
TPOT <= 15 % on unseen data) are not met yet, and the report says where and why.
"""

from __future__ import annotations

import csv
import math

import pytest

from chip2grid.validation import load_cases, run_validation

# group -> maximum MAPE (fraction). Achieved at the fit of 2026-11-23 (shipped calibration.toml,
# ML.ENERGY's vLLM runs fitted as the host-bound profile, Lambda's bursts replayed):
# holdout (MLPerf v4.1 + Lambda) throughput 37.0 %, TPOT 44.9 %, TTFT 46.9 %, E2E 51.1 %,
# energy 10.6 %; fit set throughput 17.3 %, TPOT 27.4 %, TTFT 21.0 %, E2E 10.1 %, energy 20.9 %.
# Holdout throughput was 26.2 % before the replay: Lambda's steady state at full batch and the
# ML.ENERGY-fitted vLLM overheads were both off and cancelled (README, Validation).
HOLDOUT_MAX = {"throughput": 0.39, "tpot": 0.47, "ttft": 0.49, "e2e": 0.53, "energy": 0.13}
FIT_MAX = {"throughput": 0.19, "tpot": 0.29, "ttft": 0.23, "e2e": 0.12, "energy": 0.23}


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


def test_predictions_are_finite_and_positive(report) -> None:
    for row in report.rows:
        assert math.isfinite(row.predicted) and row.predicted > 0, row.case.case_id


def test_report_csv(report, tmp_path) -> None:
    out = tmp_path / "r.csv"
    report.write_csv(out)
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(report.rows)
    assert {"case_id", "metric", "measured", "predicted", "error_frac", "split"} <= set(rows[0])
    assert {r["split"] for r in rows} == {"fit", "holdout"}
