"""``chip2grid cost`` and the catalog listings through the real entry point."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import run

BASE = ["cost", "--model", "llama-3.3-70b", "--accelerator", "h100-sxm", "--tp", "8"]


def test_cost_json_has_breakdown_market_and_load() -> None:
    proc = run(*BASE, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    b = data["breakdown"]
    assert data["platform"] == "hgx-h100" and data["region"] == "us-virginia"
    assert 1.0 < b["usd_per_accelerator_hour"] < 5.0
    assert b["pue"] >= 1.0
    # the meter sees the server's energy times the PUE
    assert b["meter_energy_j_per_output_token"] == pytest.approx(
        b["server_energy_j_per_output_token"] * b["pue"], rel=1e-9
    )
    assert data["market"]["min_rental_usd_per_accelerator_hour"] > 0
    assert data["load"]["busy_frac"] == 1.0


def test_cost_changes_with_place_and_supply() -> None:
    cheap = json.loads(run(*BASE, "--region", "nordics", "--energy", "ppa-wind", "--json").stdout)
    dear = json.loads(
        run(*BASE, "--region", "singapore", "--cooling", "air-economized", "--json").stdout
    )
    assert (
        cheap["breakdown"]["g_co2_per_output_token"] < dear["breakdown"]["g_co2_per_output_token"]
    )
    assert cheap["breakdown"]["pue"] < dear["breakdown"]["pue"]


def test_cost_table() -> None:
    proc = run(*BASE, "--colocation")
    assert proc.returncode == 0, proc.stderr
    assert "colocation" in proc.stdout and "cost per accelerator-hour" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--region", "atlantis"], "region"),
        (["--cooling", "ice"], "cooling"),
        (["--energy", "grid=0.5,ppa-solar=0.2"], "shares"),
        (["--energy", "grid=abc"], "--energy"),
        (["--platform", "hgx-b200"], "platform"),
    ],
)
def test_cost_bad_input_is_one_line(args: list[str], needle: str) -> None:
    proc = run(*BASE, *args)
    assert proc.returncode == 2, proc.stdout
    assert needle in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        ("regions", "us-virginia"),
        ("cooling", "dlc"),
        ("platforms", "hgx-h200"),
        ("energy-sources", "ppa-solar"),
    ],
)
def test_list_facility_catalogs(kind: str, entry: str) -> None:
    proc = run("list", kind)
    assert proc.returncode == 0, proc.stderr
    assert entry in proc.stdout


def test_cost_monte_carlo_spreads_and_fixed_inputs_reproduce_the_point() -> None:
    proc = run(*BASE, "--monte-carlo", "2000", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    out = data["uncertainty"]["outputs"]["usd_per_mtok_output"]
    assert out["p10"] < out["p50"] < out["p90"]
    point = data["breakdown"]["usd_per_mtok_output"]
    fixed = run(
        *BASE,
        "--uncertain",
        "wacc_frac=fixed:0.10",
        "--uncertain",
        "node_price_frac=fixed:1",
        "--monte-carlo",
        "50",
        "--json",
    )
    assert fixed.returncode == 0, fixed.stderr
    same = json.loads(fixed.stdout)["uncertainty"]["outputs"]["usd_per_mtok_output"]
    assert same["p10"] == pytest.approx(point, rel=1e-9) == same["p90"]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("wacc_frac=beta:1:2", "--uncertain"), ("price=uniform:1:2", "uncertain input")],
)
def test_cost_bad_uncertain_inputs(spec: str, needle: str) -> None:
    proc = run(*BASE, "--uncertain", spec)
    assert proc.returncode == 2 and needle in proc.stderr


@pytest.mark.parametrize(("accelerator", "cooling"), [("l40s", "air"), ("h100-sxm", "dlc")])
def test_cost_without_cooling_takes_one_the_platform_can_use(
    accelerator: str, cooling: str
) -> None:
    proc = run("cost", "--model", "llama-3.1-8b", "--accelerator", accelerator, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cooling"] == cooling
    # a cooling the user names that cannot take the server is still refused, in one line
    if cooling == "air":
        bad = run(
            "cost", "--model", "llama-3.1-8b", "--accelerator", accelerator, "--cooling", "dlc"
        )
        assert bad.returncode == 2 and "cooling" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("kind", ["models", "accelerators", "engines", "platforms"])
def test_list_prints_every_id_whole_at_80_columns(kind: str) -> None:
    """The ids are what users type: a narrow terminal may wrap the other columns, never them."""
    import chip2grid as c2g
    from chip2grid import facility

    ids = {
        "models": c2g.list_models,
        "accelerators": c2g.list_accelerators,
        "engines": c2g.list_engines,
        "platforms": facility.list_platforms,
    }[kind]()
    proc = run("list", kind)  # not a terminal: rich lays it out 80 columns wide
    assert proc.returncode == 0, proc.stderr
    cells = {line.split("│")[1].strip() for line in proc.stdout.splitlines() if "│" in line}
    assert set(ids) <= cells
