"""``chip2grid fleet``, ``chip2grid sweep`` and ``chip2grid results`` through the real entry
point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import run


def test_fleet_json_meets_demand_under_caps() -> None:
    proc = run("fleet", "--accelerators", "h100-sxm,b200", "--years", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["status"] == "Optimal"
    for year in plan["years"]:
        assert year["capacity_output_tokens_per_s"] >= year["demand_output_tokens_per_s"]
    for p in plan["site_power"]:
        assert p["facility_power_w"] <= p["power_cap_w"] + 1e-6
    assert any(c["kind"] == "demand" for c in plan["binding"])


def test_fleet_table_and_infeasible(tmp_path: Path) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[small]\nregion = "us-texas"\ncooling = "dlc"\npower_cap_w = 1e6\n'
        'available_year = 2027\nsource = "test"\n'
    )
    proc = run("fleet", "--accelerators", "h100-sxm", "--sites", str(sites), "--years", "2")
    assert proc.returncode == 2
    assert "2026" in proc.stderr and "short by" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = run(
        "fleet", "--accelerators", "h100-sxm", "--years", "2", "--demand-tokens-per-day", "5e9"
    )
    assert ok.returncode == 0, ok.stderr
    assert "purchases" in ok.stdout and "USD per Mtok" in ok.stdout


def test_sweep_results_roundtrip(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    args = [
        "sweep", "--grid", "deployment.num_accelerators=8,16",
        "--grid", "site.region=us-virginia,us-texas", "--store", str(store), "--workers", "1",
        "--json",
    ]  # fmt: skip
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["num_rows"] == 4 and summary["num_ok"] == 4
    again = json.loads(run(*args).stdout)
    assert again["num_skipped"] == 4 and again["num_rows"] == 4
    rows = json.loads(
        run(
            "results", str(store), "--where", "site.region = 'us-texas'", "--sort",
            "cost_usd_per_mtok_output", "--json",
        ).stdout
    )  # fmt: skip
    assert len(rows) == 2 and {r["site.region"] for r in rows} == {"us-texas"}
    assert rows[0]["cost_usd_per_mtok_output"] <= rows[1]["cost_usd_per_mtok_output"]
    grouped = json.loads(run("results", str(store), "--group-by", "site.region", "--json").stdout)
    assert {g["site.region"] for g in grouped} == {"us-virginia", "us-texas"}
    out = tmp_path / "out.csv"
    assert run("results", str(store), "--export", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["sweep", "--grid", "deployment.num_acelerators=8"],
            "closest: deployment.num_accelerators",
        ),
        (["sweep"], "--grid"),
        (["results", "/nonexistent/x.duckdb"], "store"),
    ],
)
def test_bad_input_is_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    if args[0] == "sweep":
        args = [*args, "--store", str(tmp_path / "x.duckdb")]
    proc = run(*args)
    assert proc.returncode == 2, proc.stdout
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_results_rejects_injection(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    run("sweep", "--grid", "deployment.num_accelerators=8", "--store", str(store), "--workers", "1")
    proc = run("results", str(store), "--where", "status = 'ok'; DROP TABLE points")
    assert proc.returncode == 2 and "--where" in proc.stderr
    assert run("results", str(store), "--json").returncode == 0
