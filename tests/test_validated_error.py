"""The validated error that every estimate reports (catalog/validated_error.toml)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest

import chip2grid as c2g
from chip2grid.catalog import load_table
from chip2grid.perf import validated
from chip2grid.perf.calibration import catalog_calibration_for
from chip2grid.perf.validated import MIN_ROWS, validated_error
from chip2grid.validation import run_validation, shipped_measurement_files
from chip2grid.validation.errors import error_table, write_error_table
from tests.test_cli import run


@pytest.fixture(scope="module")
def table(measurements_path: Path) -> dict:
    report = run_validation([measurements_path, *shipped_measurement_files()])
    return error_table(report)


def test_shipped_table_is_the_current_validation(table: dict) -> None:
    """The shipped file is what the shipped calibration scores on the default data today: a
    change to the model, the calibration or the data that moves an error fails here until
    `chip2grid validate --write-errors` rewrites it."""
    shipped = {scope: dict(entry) for scope, entry in load_table("validated_error").items()}
    assert set(shipped) == set(table)
    for scope, groups in table.items():
        entry = {k: v for k, v in shipped[scope].items() if k != "source"}
        assert set(entry) == set(groups), scope
        for group, cell in groups.items():
            assert set(entry[group]) == set(cell), (scope, group)
            for key, value in cell.items():
                if key.endswith("_n"):
                    assert entry[group][key] == value, (scope, group, key)
                else:
                    assert entry[group][key] == pytest.approx(value, abs=2e-4), (scope, group, key)


def test_table_pools_every_row_into_the_wider_scopes(table: dict) -> None:
    everything = table["*/*"]["throughput"]
    hopper_engines = [
        cell["throughput"].get("seen_n", 0)
        for scope, cell in table.items()
        if scope.startswith("hopper/") and scope != "hopper/*" and "throughput" in cell
    ]
    assert sum(hopper_engines) == table["hopper/*"]["throughput"]["seen_n"]
    assert everything["seen_n"] > table["hopper/*"]["throughput"]["seen_n"] > 0
    assert 0 < everything["seen_mape"] < 1
    assert everything["unseen_n"] > 0


def test_write_round_trips(table: dict, tmp_path: Path) -> None:
    path = tmp_path / "validated_error.toml"
    write_error_table(table, path, measurements="test rows", calibration="shipped")
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    assert all("test rows" in entry["source"] for entry in data.values())
    assert {s: {k: v for k, v in e.items() if k != "source"} for s, e in data.items()} == table


def test_lookup_takes_the_most_specific_scope_with_enough_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    few, many = MIN_ROWS - 1, MIN_ROWS
    fake = {
        "hopper/tensorrt-llm": {
            "throughput": {"seen_mape": 0.1, "seen_median_error": -0.02, "seen_n": many},
            "tpot": {"seen_mape": 0.9, "seen_median_error": 0.5, "seen_n": few},
        },
        "hopper/*": {"tpot": {"seen_mape": 0.3, "seen_median_error": 0.1, "seen_n": 50}},
        "*/*": {
            "throughput": {
                "seen_mape": 0.2,
                "seen_median_error": 0.0,
                "seen_n": 500,
                "unseen_mape": 0.4,
                "unseen_median_error": 0.3,
                "unseen_n": 90,
            },
            "tpot": {"seen_mape": 0.25, "seen_median_error": 0.0, "seen_n": 400},
        },
    }
    monkeypatch.setattr(validated, "_table", lambda: fake)
    err = validated_error("hopper", "tensorrt-llm")
    assert err["throughput"]["seen"] == validated.ValidatedFigure(
        0.1, -0.02, many, "hopper/tensorrt-llm"
    )
    assert err["throughput"]["unseen"] is not None
    assert err["throughput"]["unseen"].scope == "*/*"
    # nine runs are too few: the family's pool answers
    assert err["tpot"]["seen"] == validated.ValidatedFigure(0.3, 0.1, 50, "hopper/*")
    assert err["tpot"]["unseen"] is None
    other = validated_error("cdna3", "vllm")
    assert other["throughput"]["seen"].scope == "*/*"


def test_estimate_reports_it_and_not_for_a_user_calibration() -> None:
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        engine="tensorrt-llm",
    )
    work = c2g.Workload(input_tokens=1024, output_tokens=256)
    est = c2g.estimate(dep, work)
    seen = est.validated_error["throughput"]["seen"]
    assert seen.scope == "hopper/tensorrt-llm"
    assert seen.num_rows >= MIN_ROWS and 0 < seen.mape_frac < 1
    assert math.isfinite(seen.median_error_frac)
    user = dataclasses.replace(
        catalog_calibration_for("hopper", "tensorrt-llm"), origin="profile:h100-sxm@test"
    )
    assert c2g.estimate(dep, work, calibration=user).validated_error is None


def test_cli_prints_it_and_refuses_to_write_a_table_of_other_data(tmp_path: Path) -> None:
    proc = run(
        "estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
        "--num-accelerators", "1", "--engine", "tensorrt-llm",
        "--input-tokens", "1024", "--output-tokens", "256",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "validated error" in proc.stdout and "hopper/tensorrt-llm" in proc.stdout
    bad = tmp_path / "m.csv"
    bad.write_text("case_id\n")
    proc = run(
        "validate", "--write-errors", "--measurements", str(bad), "--out", str(tmp_path / "o.csv")
    )
    assert proc.returncode != 0
    assert "--write-errors" in proc.stderr and "default measurements" in proc.stderr
    proc = run(
        "validate", "--write-errors", "--holdout", "mlperf", "--out", str(tmp_path / "o.csv")
    )
    assert proc.returncode != 0
    assert "--holdout" in proc.stderr and "mlperf,lambda,trtblog,nimdli" in proc.stderr
