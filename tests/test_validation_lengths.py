"""A run's output length as measured, and latencies the model predicts unbounded."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from chip2grid.validation import load_cases, run_validation, shipped_measurements


def _header() -> list[str]:
    """The measurements schema, as the shipped MLPerf file spells it."""
    with shipped_measurements().open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle).fieldnames or [])


HEADER = _header()


def _row(case_id: str, metric: str, value: float, **cells: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        case_id=case_id,
        source="test",
        model="llama-3.1-8b",
        accelerator="h100-sxm",
        num_accelerators="1",
        engine="tensorrt-llm",
        engine_version="0.17.0",
        weight_precision="fp8",
        kv_precision="fp8",
        tp="1",
        isl="1000",
        mode="offline",
        metric=metric,
        value=str(value),
    )
    row.update(cells)
    return row


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_an_unstated_output_length_is_the_runs_tokens_per_request(tmp_path: Path) -> None:
    rows = [
        # offline: tokens/s over requests/s
        _row("t-offline", "output_tokens_per_s", 12800.0),
        _row("t-offline", "requests_per_s", 100.0),
        # a stated length is kept, whatever the ratio says
        _row("t-stated", "output_tokens_per_s", 12800.0, osl="90"),
        _row("t-stated", "requests_per_s", 100.0, osl="90"),
        # server without a completed-requests figure: tokens/s over the request rate
        _row("t-server", "output_tokens_per_s", 640.0, mode="server", request_rate_per_s="5"),
        _row("t-server", "ttft_s_mean", 0.05, mode="server", request_rate_per_s="5"),
        # only one of the two: nothing to divide, the length stays unknown (no workload entry)
        _row("t-one", "output_tokens_per_s", 12800.0),
    ]
    cases = {c.case_id: c for c in load_cases(_write(tmp_path / "m.csv", rows))}
    assert cases["t-offline"].output_tokens == pytest.approx(128.0)
    assert cases["t-stated"].output_tokens == 90.0
    assert cases["t-server"].output_tokens == pytest.approx(128.0)
    assert cases["t-one"].output_tokens == 0.0


def test_a_rate_above_the_predicted_capacity_is_counted_not_dropped(tmp_path: Path) -> None:
    server = {"mode": "server", "osl": "128"}
    rows = [
        # one H100 cannot take 10,000 requests/s of 1,000 + 128 tokens: the queue is unbounded
        _row("t-flood", "ttft_s_mean", 0.1, request_rate_per_s="10000", **server),
        _row("t-flood", "tpot_s_mean", 0.02, request_rate_per_s="10000", **server),
        # a light load stays bounded and is scored
        _row("t-light", "ttft_s_mean", 0.05, request_rate_per_s="0.5", **server),
    ]
    report = run_validation(_write(tmp_path / "m.csv", rows), holdout=("t",))
    flooded = {(r.case.case_id, r.metric) for r in report.unbounded}
    assert ("t-flood", "ttft_s_mean") in flooded
    assert all(r.case.case_id != "t-flood" or r.metric != "ttft_s_mean" for r in report.rows)
    assert [r.case.case_id for r in report.rows if r.metric == "ttft_s_mean"] == ["t-light"]
    assert report.unbounded_count(split="holdout") == len(report.unbounded) >= 1
    assert report.unbounded_count(split="fit") == 0
