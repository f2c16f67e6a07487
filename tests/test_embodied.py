"""Embodied carbon: the catalog (``embodied.toml``), its amortization per token, the CLI."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any

import numpy as np
import pytest

from chip2grid.catalog import build_entry, catalog_names, load_table
from chip2grid.catalog.embodied import (
    AcceleratorEmbodied,
    FacilityEmbodied,
    PlatformEmbodied,
    accelerator_embodied,
    accelerator_embodied_fallback_kg_co2e,
    facility_embodied,
    host_embodied_fallback_kg_co2e,
    platform_embodied,
)
from chip2grid.economics import (
    CostBreakdown,
    Finance,
    cost_breakdown,
    default_finance,
    fleet_embodied,
    monte_carlo,
)
from chip2grid.energy import energy_supply
from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.facility import get_cooling, get_platform, get_region
from tests.test_cli import run

PLATFORM = get_platform("hgx-h100")


def _cost(**overrides: Any) -> CostBreakdown:
    kwargs: dict[str, Any] = {
        "num_accelerators": 16,
        "platform": PLATFORM,
        "supply": energy_supply("grid"),
        "finance": default_finance(),
        "accelerator_power_w": 600.0,
        "output_tokens_per_s": 20_000.0,
        "input_tokens_per_s": 60_000.0,
        "region": get_region("us-virginia"),
        "cooling": get_cooling("dlc"),
        "busy_frac": 0.5,
        "pue": 1.2,
    }
    kwargs.update(overrides)
    return cost_breakdown(**kwargs)


# ------------------------------------------------------------------ the catalog


def test_every_catalog_entry_has_a_source_and_estimates_say_how() -> None:
    table = load_table("embodied")
    entries = [
        (f"{section}.{name}", entry)
        for section, children in table.items()
        for name, entry in children.items()
    ]
    assert len(entries) >= 10
    for where, entry in entries:
        assert str(entry.get("source", "")).strip(), where
        if entry.get("estimate"):
            assert len(str(entry.get("notes", ""))) > 40, f"{where}: an estimate says how"


def test_catalog_ids_name_real_accelerators_and_platforms() -> None:
    table = load_table("embodied")
    assert set(table["accelerator"]) <= set(catalog_names("accelerators"))
    assert set(table["platform"]) <= set(catalog_names("platforms"))
    # the accelerators and platforms of the default scenario's families have their own entries
    for acc in ("h100-sxm", "h200-sxm", "b200", "gb200", "mi300x"):
        assert acc in table["accelerator"]
    for plat in ("hgx-h100", "hgx-h200", "hgx-b200", "gb200-nvl72", "mi300x-platform"):
        assert plat in table["platform"]


@pytest.mark.parametrize("acc_id", catalog_names("accelerators"))
def test_every_accelerator_gets_a_number(acc_id: str) -> None:
    figure = accelerator_embodied(acc_id)
    assert math.isfinite(figure.kg_co2e) and 10.0 < figure.kg_co2e < 2_000.0
    assert figure.source
    if acc_id not in load_table("embodied")["accelerator"]:
        assert figure.estimate and "fallback" in figure.source


@pytest.mark.parametrize("plat_id", catalog_names("platforms"))
def test_every_platform_gets_a_host_number(plat_id: str) -> None:
    figure = platform_embodied(plat_id)
    assert math.isfinite(figure.host_kg_co2e_per_node) and figure.host_kg_co2e_per_node > 0
    if plat_id not in load_table("embodied")["platform"]:
        per_node = get_platform(plat_id).accelerators_per_node
        assert figure.host_kg_co2e_per_node == host_embodied_fallback_kg_co2e(per_node)


def test_aliases_resolve_and_unknown_names_list_close_ones() -> None:
    assert accelerator_embodied("h100").id == "h100-sxm"
    with pytest.raises(UnknownEntryError, match="h100"):
        accelerator_embodied("h100-sxm9")
    with pytest.raises(UnknownEntryError):
        platform_embodied("hgx-h900")


def test_fallback_rule_reproduces_its_anchor_and_predicts_b200() -> None:
    """The rule is fitted to the NVIDIA HGX H100 PCF (164 kg per GPU) only; the HGX B200 PCF
    (2,274 kg / 8 = 284.25 kg per GPU, cite="NVIDIA HGX B200 PCF Summary") was not used."""
    accs = load_table("accelerators")

    def rule(acc_id: str) -> float:
        entry = accs[acc_id]
        return accelerator_embodied_fallback_kg_co2e(entry["memory_bytes"], entry["tdp_w"])

    assert rule("h100-sxm") == pytest.approx(accelerator_embodied("h100-sxm").kg_co2e, rel=1e-3)
    assert rule("b200") == pytest.approx(accelerator_embodied("b200").kg_co2e, rel=0.03)


def test_facility_figure_is_the_data4_lca_arithmetic() -> None:
    """cite="Data4/APL LCA white paper 2026": 39 % of 12.6 Gg CO2e for a 5 MW IT facility."""
    assert facility_embodied().kg_co2e_per_w == pytest.approx(0.39 * 12.6e6 / 5e6, rel=0.01)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: AcceleratorEmbodied(id="x", kg_co2e=-1.0, source="s"), "kg_co2e"),
        (
            lambda: PlatformEmbodied(id="x", host_kg_co2e_per_node=math.nan, source="s"),
            "host_kg_co2e_per_node",
        ),
        (lambda: FacilityEmbodied(id="x", kg_co2e_per_w=-0.1, source="s"), "kg_co2e_per_w"),
        (lambda: accelerator_embodied_fallback_kg_co2e(-1.0, 700.0), "memory_bytes"),
        (lambda: host_embodied_fallback_kg_co2e(0), "accelerators_per_node"),
    ],
)
def test_bad_catalog_values_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        build()
    assert info.value.field == field


def test_catalog_entries_reject_unknown_keys() -> None:
    from chip2grid.errors import CatalogError

    with pytest.raises(CatalogError, match="kg_co2"):
        build_entry(AcceleratorEmbodied, "x", {"kg_co2": 1.0, "source": "s"}, "embodied")


# ------------------------------------------------------------------ the model


def test_fleet_embodied_hand_arithmetic() -> None:
    e = fleet_embodied(
        num_accelerators=16,
        num_nodes=2,
        critical_it_power_w=20_000.0,
        accelerator_kg_co2e=200.0,
        host_kg_co2e_per_node=5_000.0,
        facility_kg_co2e_per_w=1.0,
        accelerator_lifetime_years=4.0,
        facility_lifetime_years=20.0,
    )
    assert e.total_kg_co2e == pytest.approx(3_200.0 + 10_000.0 + 20_000.0)
    assert e.accelerators_g_co2_per_year == pytest.approx(3_200e3 / 4)
    assert e.hosts_g_co2_per_year == pytest.approx(10_000e3 / 4)
    assert e.facility_g_co2_per_year == pytest.approx(20_000e3 / 20)
    assert e.total_g_co2_per_year == pytest.approx(4.3e6)
    assert e.per_output_token(4.3e12) == pytest.approx(1e-6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accelerator_kg_co2e", -1.0),
        ("host_kg_co2e_per_node", math.inf),
        ("facility_kg_co2e_per_w", -0.5),
        ("accelerator_lifetime_years", 0.0),
        ("facility_lifetime_years", -3.0),
        ("num_nodes", -1.0),
    ],
)
def test_fleet_embodied_bad_input_names_the_field(field: str, value: float) -> None:
    kwargs: dict[str, Any] = {
        "num_accelerators": 8,
        "num_nodes": 1,
        "critical_it_power_w": 10_000.0,
        "accelerator_kg_co2e": 164.0,
        "host_kg_co2e_per_node": 5_700.0,
        "facility_kg_co2e_per_w": 0.98,
        "accelerator_lifetime_years": 5.0,
        "facility_lifetime_years": 15.0,
    }
    kwargs[field] = value
    with pytest.raises(InvalidParameterError) as info:
        fleet_embodied(**kwargs)
    assert info.value.field == field


def test_cost_breakdown_bad_embodied_input_and_zero_lifetime() -> None:
    with pytest.raises(InvalidParameterError) as info:
        _cost(accelerator_kg_co2e=-5.0)
    assert info.value.field == "accelerator_kg_co2e"
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(default_finance(), facility_lifetime_years=0.0)
    assert info.value.field == "facility_lifetime_years"


def test_per_token_embodied_is_inverse_in_utilization() -> None:
    half = _cost(busy_frac=0.5)
    quarter = _cost(busy_frac=0.25)
    full = _cost(busy_frac=1.0)
    assert quarter.embodied_g_co2_per_output_token == pytest.approx(
        2.0 * half.embodied_g_co2_per_output_token, rel=1e-12
    )
    assert half.embodied_g_co2_per_output_token == pytest.approx(
        2.0 * full.embodied_g_co2_per_output_token, rel=1e-12
    )


def test_per_token_embodied_is_inverse_in_lifetime() -> None:
    base = default_finance()
    longer = dataclasses.replace(
        base,
        accelerator_lifetime_years=2 * base.accelerator_lifetime_years,
        facility_lifetime_years=2 * base.facility_lifetime_years,
    )
    a, b = _cost(finance=base), _cost(finance=longer)
    assert b.embodied_g_co2_per_output_token == pytest.approx(
        a.embodied_g_co2_per_output_token / 2, rel=1e-12
    )
    # the server life moves the accelerator and host parts only
    servers_only = _cost(
        finance=dataclasses.replace(
            base, accelerator_lifetime_years=3 * base.accelerator_lifetime_years
        )
    )
    assert servers_only.accelerator_embodied_g_co2_per_year == pytest.approx(
        a.accelerator_embodied_g_co2_per_year / 3, rel=1e-12
    )
    assert servers_only.host_embodied_g_co2_per_year == pytest.approx(
        a.host_embodied_g_co2_per_year / 3, rel=1e-12
    )
    assert servers_only.facility_embodied_g_co2_per_year == a.facility_embodied_g_co2_per_year


def test_twice_the_accelerators_per_token_doubles_it() -> None:
    one = _cost(num_accelerators=16)
    two = _cost(num_accelerators=32)  # same tokens, twice the fleet
    assert two.embodied_g_co2_per_output_token == pytest.approx(
        2.0 * one.embodied_g_co2_per_output_token, rel=1e-12
    )


def test_catalog_defaults_add_up_and_leave_operational_figures_unchanged() -> None:
    b = _cost()
    per_year = 16 * 164.0 * 1e3 / 5.0 + 2 * 5_700.0 * 1e3 / 5.0
    per_year += b.critical_it_power_w * 0.98 * 1e3 / 15.0
    assert b.embodied_g_co2_per_year == pytest.approx(per_year, rel=1e-9)
    assert b.embodied_g_co2_per_output_token == pytest.approx(
        per_year / b.output_tokens_per_year, rel=1e-9
    )
    split = (
        b.accelerator_embodied_g_co2_per_year
        + b.host_embodied_g_co2_per_year
        + b.facility_embodied_g_co2_per_year
    )
    assert split == pytest.approx(b.embodied_g_co2_per_year, rel=1e-12)
    assert b.accelerator_embodied_g_co2_per_year == pytest.approx(16 * 164.0 * 1e3 / 5.0)
    assert b.g_co2_per_output_token_with_embodied == pytest.approx(
        b.g_co2_per_output_token + b.embodied_g_co2_per_output_token, rel=1e-12
    )
    assert b.embodied_carbon_frac == pytest.approx(
        b.embodied_g_co2_per_output_token / b.g_co2_per_output_token_with_embodied
    )
    # overriding the embodied inputs changes no operational field
    zero = _cost(accelerator_kg_co2e=0.0, host_kg_co2e_per_node=0.0, facility_kg_co2e_per_w=0.0)
    assert zero.embodied_g_co2_per_output_token == 0.0 and zero.embodied_carbon_frac == 0.0
    for name in (
        "g_co2_per_output_token",
        "usd_per_mtok_output",
        "meter_energy_j_per_output_token",
    ):
        assert getattr(zero, name) == getattr(b, name)


def test_monte_carlo_carries_embodied_through_the_lifetime() -> None:
    base: Finance = default_finance()

    def priced(accelerator_lifetime_years: Any) -> CostBreakdown:
        finance = dataclasses.replace(base, accelerator_lifetime_years=accelerator_lifetime_years)
        return _cost(finance=finance)

    spread = monte_carlo(
        functools.partial(priced),
        {"accelerator_lifetime_years": {"dist": "triangular", "low": 3, "mode": 5, "high": 6}},
        2_000,
        seed=1,
    )
    s = spread["embodied_g_co2_per_output_token"]
    at_5, at_3 = _cost(), _cost(finance=dataclasses.replace(base, accelerator_lifetime_years=3.0))
    # lives of 3-6 years (mode 5): the spread straddles the 5-year point, below the 3-year one
    assert s.p10 < at_5.embodied_g_co2_per_output_token < s.p90
    assert s.p90 < at_3.embodied_g_co2_per_output_token
    fixed = monte_carlo(priced, {"accelerator_lifetime_years": 5.0}, 10)
    point = _cost().embodied_g_co2_per_output_token
    assert fixed["embodied_g_co2_per_output_token"].p50 == pytest.approx(point, rel=1e-12)
    assert np.all(spread.samples["g_co2_per_output_token"] == _cost().g_co2_per_output_token)


# ------------------------------------------------------------------ the CLI


def test_cost_cli_reports_embodied_in_json() -> None:
    base = ["cost", "--model", "llama-3.3-70b", "--accelerator", "h100-sxm", "--tp", "8"]
    proc = run(*base, "--json")
    assert proc.returncode == 0, proc.stderr
    b = json.loads(proc.stdout)["breakdown"]
    assert b["embodied_g_co2_per_output_token"] > 0
    assert b["g_co2_per_output_token_with_embodied"] == pytest.approx(
        b["g_co2_per_output_token"] + b["embodied_g_co2_per_output_token"], rel=1e-9
    )
    assert 0.0 < b["embodied_carbon_frac"] < 1.0


def test_cost_table_shows_embodied_rows() -> None:
    from chip2grid.cli.app import console
    from chip2grid.cli.cost import print_cost
    from chip2grid.economics import DeploymentCost, ServiceLoad, market_comparison

    load = ServiceLoad(
        num_accelerators=16,
        accelerator_power_w=600.0,
        busy_frac=0.5,
        output_tokens_per_s=20_000.0,
        input_tokens_per_s=60_000.0,
        prefill_time_frac=0.5,
        source="test",
    )
    cost = DeploymentCost(
        load=load,
        platform=PLATFORM,
        region="us-virginia",
        cooling="dlc",
        supply="grid",
        colocation=False,
        breakdown=_cost(),
        market=market_comparison("llama-3.3-70b", "h100-sxm"),
    )
    width = console.width
    console.width = 200  # no wrapping whatever the terminal
    try:
        with console.capture() as captured:
            print_cost(cost, "test")
    finally:
        console.width = width
    text = captured.get()
    assert "embodied carbon per 1k output tokens" in text
    assert "embodied)" in text


def test_cost_uncertainty_scales_each_embodied_part() -> None:
    """Multipliers on the accelerator, host and building figures move only their own share."""
    from chip2grid.economics import cost_uncertainty, deployment_cost
    from tests.test_scenario_climate import eight_h100_llama8b

    dep, load = eight_h100_llama8b()
    cost = deployment_cost(dep, load)
    b = cost.breakdown
    per_year = b.embodied_g_co2_per_output_token / b.embodied_g_co2_per_year
    for name, part, factor in (
        ("accelerator_embodied_frac", b.accelerator_embodied_g_co2_per_year, 2.0),
        ("host_embodied_frac", b.host_embodied_g_co2_per_year, 0.5),
        ("facility_embodied_frac", b.facility_embodied_g_co2_per_year, 3.0),
    ):
        out = cost_uncertainty(cost, inputs={name: factor}, num_draws=5)
        expected = b.embodied_g_co2_per_output_token + (factor - 1.0) * part * per_year
        got = out["embodied_g_co2_per_output_token"]
        assert got.p10 == pytest.approx(expected, rel=1e-9) == got.p90, name
        # money and operational carbon do not move
        assert out["usd_per_mtok_output"].p50 == pytest.approx(b.usd_per_mtok_output, rel=1e-12)
    spread = cost_uncertainty(
        cost, inputs={"host_embodied_frac": {"dist": "uniform", "low": 0.5, "high": 2.0}}
    )
    s = spread["embodied_g_co2_per_output_token"]
    assert s.p10 < b.embodied_g_co2_per_output_token < s.p90
    with pytest.raises(InvalidParameterError, match="uncertain input"):
        cost_uncertainty(cost, inputs={"embodied_frac": 1.0})
