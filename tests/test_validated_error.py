"""The validated error that every estimate reports (catalog/validated_error.toml)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

import chip2grid as c2g
from chip2grid.catalog import load_table
from chip2grid.cli.app import _validated_text
from chip2grid.perf import validated
from chip2grid.perf.calibration import catalog_calibration_for
from chip2grid.perf.validated import (
    LIGHT_LOAD_MAX_SEQUENCES,
    MIN_ROWS,
    REGIMES,
    ValidatedFigure,
    validated_error,
)
from chip2grid.validation import run_validation, shipped_measurement_files
from chip2grid.validation.cases import Case
from chip2grid.validation.errors import case_regime, error_table, write_error_table
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
        if scope.startswith("hopper/")
        and scope.count("/") == 1  # family/engine, not a regime of one
        and scope != "hopper/*"
        and "throughput" in cell
    ]
    assert sum(hopper_engines) == table["hopper/*"]["throughput"]["seen_n"]
    assert everything["seen_n"] > table["hopper/*"]["throughput"]["seen_n"] > 0
    assert 0 < everything["seen_mape"] < 1
    assert everything["unseen_n"] > 0
    # the regimes split every scope: their counts add up to the scope's
    for scope in ("*/*", "hopper/*", "hopper/tensorrt-llm"):
        for split in ("seen_n", "unseen_n"):
            parts = [
                table.get(f"{scope}/{reg}", {}).get("throughput", {}).get(split, 0)
                for reg in REGIMES
            ]
            assert sum(parts) == table[scope]["throughput"].get(split, 0), (scope, split)
    # the DLI sweeps put runs in every regime
    assert all(table[f"*/*/{reg}"]["tpot"]["seen_n"] >= MIN_ROWS for reg in REGIMES)


def test_a_runs_regime_comes_from_its_layout_and_load() -> None:
    base = dict(
        case_id="x", source_family="f", source="s", model="llama-3.1-8b",
        accelerator="h100-sxm", num_accelerators=8, engine="vllm", engine_version="",
        weight_precision="bf16", kv_precision="bf16", tp=1, pp=1, ep=1, input_tokens=100.0,
        output_tokens=100.0, input_tokens_assumed=False, beam_width=1, max_batch_size=0,
        power_limit_w=0.0, dataset="", mode="single", request_rate_per_s=0.0, batch_size=0,
    )  # fmt: skip
    case = Case(**base)
    assert case_regime(case) == "whole-light"
    assert case_regime(dataclasses.replace(case, tp=2)) == "split-light"
    batch = dataclasses.replace(case, mode="static_batch", batch_size=LIGHT_LOAD_MAX_SEQUENCES)
    assert case_regime(batch) == "whole-light"
    assert case_regime(dataclasses.replace(batch, batch_size=17)) == "whole-heavy"
    # a closed loop of 64 users over 8 copies of the model puts 8 in each
    loop = dataclasses.replace(case, mode="concurrency", concurrency=64.0)
    assert case_regime(loop) == "whole-light"
    assert case_regime(dataclasses.replace(loop, tp=2, pp=2)) == "split-heavy"  # 2 copies
    # attention TP 4 beside EP 4 spans 4 accelerators (Deployment.instance_size), not 16: 2 copies
    assert case_regime(dataclasses.replace(loop, concurrency=24.0, tp=4, ep=4)) == "split-light"
    # Offline and Server runs load the engine to its limits, whatever batch they state
    for mode in ("offline", "server"):
        assert case_regime(dataclasses.replace(case, mode=mode, batch_size=4)) == "whole-heavy"


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


def test_lookup_answers_from_the_regime_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def cell(mape: float, n: int) -> dict:
        return {"tpot": {"seen_mape": mape, "seen_median_error": mape, "seen_n": n}}

    fake = {
        "hopper/tensorrt-llm": cell(0.1, 1000),
        "hopper/tensorrt-llm/split-light": cell(0.9, MIN_ROWS - 1),
        "hopper/*/split-light": cell(0.7, MIN_ROWS),
        "*/*/whole-heavy": cell(0.05, 500),
        "*/*": cell(0.2, 5000),
    }
    monkeypatch.setattr(validated, "_table", lambda: fake)
    # too few runs of the family and engine at this regime: the family's runs at it answer,
    # before the family and engine's runs at every regime
    light = validated_error("hopper", "tensorrt-llm", "split-light")["tpot"]["seen"]
    assert (light.scope, light.mape_frac) == ("hopper/*/split-light", 0.7)
    heavy = validated_error("hopper", "tensorrt-llm", "whole-heavy")["tpot"]["seen"]
    assert heavy.scope == "*/*/whole-heavy"
    # a regime nobody measured falls back to the scopes without one
    assert validated_error("hopper", "tensorrt-llm", "split-heavy")["tpot"]["seen"].scope == (
        "hopper/tensorrt-llm"
    )
    assert validated_error("hopper", "tensorrt-llm")["tpot"]["seen"].scope == "hopper/tensorrt-llm"
    with pytest.raises(ValueError, match="regime: got 'tp2'; allowed: whole-light"):
        validated_error("hopper", "tensorrt-llm", "tp2")


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
    assert seen.scope == "hopper/tensorrt-llm/whole-heavy"
    # the error of what an estimate gives (means), not of the medians validation also scores
    assert set(est.validated_error) == {"throughput", "ttft", "tpot", "e2e", "energy"}
    # one user on a model split over two accelerators reads the runs of that regime
    split = dataclasses.replace(dep, num_accelerators=2, tp=2)
    one = c2g.estimate(split, work, c2g.Load(mode="concurrency", concurrency=1))
    assert one.validated_error["tpot"]["seen"].scope.endswith("/split-light")
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
    assert (
        "--holdout" in proc.stderr
        and "mlperf,lambda,trtblog,nimdli,inferencex,amdperf,oracleblog,vllmblog" in proc.stderr
    )


def test_the_table_states_a_large_median_error_beside_the_mape() -> None:
    def est(median: float) -> SimpleNamespace:
        fig = ValidatedFigure(0.6, median, 40, "hopper/tensorrt-llm/split-light")
        return SimpleNamespace(validated_error={"tpot": {"seen": fig, "unseen": None}})

    assert "median error TPOT +58%" in _validated_text(est(0.58))  # type: ignore[arg-type]
    assert "median error" not in _validated_text(est(0.1))  # type: ignore[arg-type]
