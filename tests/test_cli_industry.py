"""``chip2grid industry`` through its real entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import run

YEAR_KEYS = {
    "year",
    "binding_layer",
    "accelerators_deployed",
    "installed_accelerators",
    "shortfall_accelerators",
    "power_gw",
    "electricity_share_frac",
    "cost_usd_per_mtok",
    "inference_share_frac",
}


def test_industry_json_keys_and_years() -> None:
    proc = run("industry", "baseline", "--start-year", "2024", "--end-year", "2030", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["scenario"] == "baseline"
    assert [y["year"] for y in data["years"]] == list(range(2024, 2031))
    for year in data["years"]:
        assert set(year) >= YEAR_KEYS
        assert year["shortfall_accelerators"] >= 0
    assert data["transitions"] and {"year", "from_layer", "to_layer"} <= set(data["transitions"][0])
    assert data["transitions"][0]["from_layer"] == data["years"][0]["binding_layer"]
    assert data["sensitivities"] == []


def test_industry_table_shows_cascade() -> None:
    proc = run("industry", "analysts", "--sensitivity")
    assert proc.returncode == 0, proc.stderr
    assert "cascade:" in proc.stdout and "packaging" in proc.stdout
    assert "first change of binding layer" in proc.stdout


def test_industry_compare_with_sensitivity() -> None:
    proc = run("industry", "--compare", "--sensitivity", "--end-year", "2030", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"baseline", "analysts", "fast-power"} <= {item["scenario"] for item in data}
    for item in data:
        assert item["years"][-1]["year"] == 2030
        params = {row["parameter"] for row in item["sensitivities"]}
        assert "layers.dc_power.lead_time_years" in params


def test_industry_user_file(tmp_path: Path) -> None:
    path = tmp_path / "slow.toml"
    path.write_text('extends = "baseline"\nname = "slow"\n[layers.dc_power]\nlead_time_years = 8\n')
    data = json.loads(run("industry", str(path), "--json").stdout)
    assert data["scenario"] == "slow"


def test_industry_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = run("industry", "atlantis")
    assert proc.returncode == 2 and "atlantis" in proc.stderr and "Traceback" not in proc.stderr
    path = tmp_path / "bad.toml"
    path.write_text('extends = "baseline"\n[layers.euv]\nlead_time_years = -2\n')
    proc = run("industry", str(path))
    assert proc.returncode == 2 and "layers.euv.lead_time_years" in proc.stderr
    proc = run("industry", "--start-year", "2030", "--end-year", "2020")
    assert proc.returncode == 2 and "end_year" in proc.stderr


def test_industry_binds_finds_thresholds() -> None:
    proc = run(
        "industry",
        "analysts",
        "--binds",
        "capital_supply",
        "--binds-from",
        "2027",
        "--binds-by",
        "2029",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["binding_thresholds"]
    ratio = {row["parameter"]: row for row in rows}["economics.capex_to_revenue_ratio"]
    assert ratio["direction"] == "below" and ratio["value"] < ratio["base_value"]
    assert 2027 <= ratio["first_year"] <= 2029
    proc = run("industry", "--binds", "warp", "--binds-by", "2030")
    assert proc.returncode == 2 and "warp" in proc.stderr and "Traceback" not in proc.stderr
