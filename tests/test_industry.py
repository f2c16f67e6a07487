"""The industry model: properties (relaxation, monotonicity, conservation), scenarios, errors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chip2grid.catalog import load_table
from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.industry import (
    ANALYST_LAYERS,
    DEMAND_LAYER_ID,
    DEPLOYMENT_LAYER_IDS,
    INDUSTRY_LAYER_IDS,
    SUPPLY_LAYER_IDS,
    IndustryScenario,
    binding_thresholds,
    first_binding_year,
    get_stack_layer,
    industry_sensitivity,
    list_industry_scenarios,
    list_stack_layers,
    load_industry_scenario,
    relax_layer,
    run_industry,
    with_parameter,
)

SCENARIOS = list_industry_scenarios()
LOADED = {name: load_industry_scenario(name) for name in SCENARIOS}

scenario_names = st.sampled_from(SCENARIOS)
layer_ids = st.sampled_from(SUPPLY_LAYER_IDS)


def test_builtin_scenarios_exist_and_every_table_has_a_source() -> None:
    assert {"baseline", "analysts", "fast-power"} <= set(SCENARIOS)
    for name, scenario in LOADED.items():
        assert scenario.name == name
        assert set(scenario.layer_ids) == set(SUPPLY_LAYER_IDS)
        for layer in scenario.layers:
            assert layer.source.strip(), (name, layer.id)
        for block in (scenario.hardware, scenario.demand, scenario.economics, scenario.grid):
            assert block.source.strip(), (name, type(block).__name__)


@settings(max_examples=40, deadline=None)
@given(name=scenario_names, layer=layer_ids)
def test_an_unlimited_layer_never_binds(name: str, layer: str) -> None:
    result = run_industry(relax_layer(LOADED[name], layer, math.inf))
    assert layer not in result.binding_layer
    assert np.all(np.isinf(result.supply_accelerators[layer]))


def _frozen_investment(name: str) -> IndustryScenario:
    scenario = LOADED[name]
    for layer in scenario.layer_ids:
        scenario = with_parameter(scenario, f"layers.{layer}.max_expansion_rate_per_year", 0.0)
    return scenario


cuts = {
    "name": scenario_names,
    "layer": layer_ids,
    "factor": st.floats(min_value=0.05, max_value=0.999),
    "from_offset": st.integers(min_value=0, max_value=11),
}


@settings(max_examples=60, deadline=None)
@given(**cuts)
def test_cutting_a_layer_never_raises_deployment_in_the_year_of_the_cut(
    name: str, layer: str, factor: float, from_offset: int
) -> None:
    base = LOADED[name]
    cut = relax_layer(base, layer, factor, from_year=base.start_year + from_offset)
    before, after = run_industry(base), run_industry(cut)
    k = from_offset
    np.testing.assert_array_equal(after.accelerators_deployed[:k], before.accelerators_deployed[:k])
    assert after.accelerators_deployed[k] <= before.accelerators_deployed[k] * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(**cuts)
def test_without_investment_a_cut_never_raises_cumulative_deployment(
    name: str, layer: str, factor: float, from_offset: int
) -> None:
    """With orders switched off, fewer accelerators are deployed up to every year."""
    base = _frozen_investment(name)
    cut = relax_layer(base, layer, factor, from_year=base.start_year + from_offset)
    before, after = run_industry(base), run_industry(cut)
    assert np.all(
        np.cumsum(after.accelerators_deployed)
        <= np.cumsum(before.accelerators_deployed) * (1 + 1e-9)
    )


@settings(max_examples=150, deadline=None)
@given(**cuts)
def test_with_investment_a_cut_never_raises_cumulative_deployment(
    name: str, layer: str, factor: float, from_offset: int
) -> None:
    """With orders on, too: layers invest for the underlying demand, not for the shortfall
    a cut creates, and never beyond what the other layers could supply, so a cut cannot
    induce orders that deploy more than it removed (the counterexample of the old rule:
    fast-power, dc_power x0.9 from 2024, +19 % by 2032)."""
    base = LOADED[name]
    cut = relax_layer(base, layer, factor, from_year=base.start_year + from_offset)
    before, after = run_industry(base), run_industry(cut)
    assert np.all(
        np.cumsum(after.accelerators_deployed)
        <= np.cumsum(before.accelerators_deployed) * (1 + 1e-9)
    )


def test_the_old_counterexample_is_monotone_and_investment_still_responds() -> None:
    base = LOADED["fast-power"]
    cut = relax_layer(base, "dc_power", 0.9, from_year=2024)
    before, after = run_industry(base), run_industry(cut)
    assert np.all(np.cumsum(after.accelerators_deployed) <= np.cumsum(before.accelerators_deployed))
    # orders respond to the binding layer: power, binding from 2025, grows faster than organic
    frozen = run_industry(_frozen_investment("fast-power"))
    power = before.capacity_units["dc_power"]
    assert power[5] > frozen.capacity_units["dc_power"][5] * 1.5
    # and a layer that never nears binding (EUV in 2024-2030) orders nothing
    np.testing.assert_allclose(
        before.capacity_units["euv"][:7], frozen.capacity_units["euv"][:7], rtol=1e-12
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_binding_layer_is_the_one_whose_relaxation_gains_most(name: str) -> None:
    base = LOADED[name]
    result = run_industry(base)
    for k, year in enumerate(result.years):
        gains = {}
        for layer in SUPPLY_LAYER_IDS:
            relaxed = run_industry(relax_layer(base, layer, 1.2, from_year=int(year)))
            gains[layer] = relaxed.accelerators_deployed[k] - result.accelerators_deployed[k]
        best = max(gains, key=lambda layer: gains[layer])
        if result.binding_layer[k] == DEMAND_LAYER_ID:
            assert max(gains.values()) == pytest.approx(0.0, abs=1e-6)
        else:
            assert best == result.binding_layer[k], (year, gains)
            assert gains[best] > 0


@pytest.mark.parametrize("name", SCENARIOS)
def test_installed_base_is_additions_minus_retirements(name: str) -> None:
    r = run_industry(LOADED[name])
    expected = (
        r.initial_installed_accelerators
        + np.cumsum(r.accelerators_deployed)
        - np.cumsum(r.retired_accelerators)
    )
    np.testing.assert_allclose(r.installed_accelerators, expected, rtol=1e-12)
    # a cohort retires after its lifetime
    life = LOADED[name].hardware.lifetime_years
    np.testing.assert_allclose(r.retired_accelerators[life:], r.accelerators_deployed[:-life])
    np.testing.assert_allclose(
        r.shortfall_accelerators, r.demand_accelerators - r.accelerators_deployed
    )


@settings(max_examples=40, deadline=None)
@given(
    name=scenario_names,
    layer=layer_ids,
    factor=st.floats(min_value=0.01, max_value=100.0),
    elasticity=st.floats(min_value=0.0, max_value=3.0),
)
def test_no_negative_outputs(name: str, layer: str, factor: float, elasticity: float) -> None:
    scenario = with_parameter(
        relax_layer(LOADED[name], layer, factor), "demand.price_elasticity", elasticity
    )
    r = run_industry(scenario)
    for values in (
        r.accelerators_deployed,
        r.installed_accelerators,
        r.retired_accelerators,
        r.demand_accelerators,
        r.shortfall_accelerators,
        r.power_gw,
        r.electricity_share_frac,
        r.cost_usd_per_mtok,
        r.tokens_served,
        r.revenue_usd,
        r.capex_usd,
    ):
        assert np.all(np.isfinite(values)) and np.all(values >= -1e-6)
    assert np.all((r.inference_share_frac >= 0) & (r.inference_share_frac <= 1))
    assert np.all(r.accelerators_deployed <= r.demand_accelerators * (1 + 1e-12))


def test_baseline_starts_packaging_bound_and_the_cascade_follows_lead_times() -> None:
    base = LOADED["baseline"]
    r = run_industry(base)
    assert r.binding_layer[0] == "packaging"
    # the cascade is not scripted: with power expandable at 40 %/year, its lead time decides
    # whether and when power stops binding
    quick = with_parameter(base, "layers.dc_power.max_expansion_rate_per_year", 0.4)
    cascades = {
        lead: [
            s.layer
            for s in run_industry(
                with_parameter(quick, "layers.dc_power.lead_time_years", lead)
            ).cascade()
        ]
        for lead in (1, 4)
    }
    assert cascades[4] == ["packaging", "dc_power"]
    assert cascades[1][:2] == ["packaging", "dc_power"] and len(cascades[1]) > 2
    # cost per token falls with hardware and software efficiency
    assert np.all(np.diff(r.cost_usd_per_mtok) < 0)


def test_years_are_configurable() -> None:
    r = run_industry(LOADED["baseline"], start_year=2025, end_year=2040)
    assert r.years[0] == 2025 and r.years[-1] == 2040 and len(r.records()) == 16


def test_three_scenarios_run_in_well_under_two_seconds() -> None:
    import time

    t0 = time.perf_counter()
    for scenario in LOADED.values():
        run_industry(scenario)
    assert time.perf_counter() - t0 < 2.0


def test_sensitivity_table_covers_each_input() -> None:
    base = LOADED["fast-power"]
    rows = industry_sensitivity(
        base, parameters=["layers.dc_power.lead_time_years", "demand.price_elasticity"]
    )
    by_name = {row.parameter: row for row in rows}
    lead = by_name["layers.dc_power.lead_time_years"]
    assert (lead.low_value, lead.base_value, lead.high_value) == (1.0, 2.0, 3.0)
    assert lead.base_transition_year == run_industry(base).first_transition_year()
    elastic = by_name["demand.price_elasticity"]
    assert elastic.low_value == pytest.approx(1.08) and elastic.high_value == pytest.approx(1.32)
    assert len(industry_sensitivity(base)) > 40


def test_binding_threshold_is_the_edge_where_capital_starts_to_bind() -> None:
    base = LOADED["analysts"]
    assert first_binding_year(run_industry(base), "capital_supply") is None
    path = "economics.capex_to_revenue_ratio"
    (row,) = binding_thresholds(
        base, "capital_supply", from_year=2027, by_year=2029, parameters=[path]
    )
    assert row.direction == "below" and row.value < row.base_value
    assert 2027 <= row.first_year <= 2029

    def first(value: float) -> int | None:
        return first_binding_year(run_industry(with_parameter(base, path, value)), "capital_supply")

    year = first(row.value * 0.99)
    assert year is not None and 2027 <= year <= 2029
    above = first(row.value * 1.01)
    assert above is None or not 2027 <= above <= 2029
    with pytest.raises(InvalidParameterError, match="by_year"):
        binding_thresholds(base, "capital_supply", by_year=2050)
    with pytest.raises(UnknownEntryError):
        binding_thresholds(base, "warp", by_year=2030)


# --- bad input -------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, suffix: str = ".toml") -> Path:
    path = tmp_path / f"user{suffix}"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "[layers.packaging]\ngrowth_rate_per_year = -1.5\n",
            "layers.packaging.growth_rate_per_year",
        ),
        ("[layers.hbm_supply]\nlead_time_years = -1\n", "layers.hbm_supply.lead_time_years"),
        ("[layers.foundry]\ncapacity = 0.0\n", "layers.foundry.capacity"),
        (
            "[demand]\nsoftware_efficiency_gain_per_year = -2.0\n",
            "demand.software_efficiency_gain_per_year",
        ),
        ("[layers.packaging]\ncapcity = 3.0\n", "layers.packaging.capcity"),
        ("[hardware]\npue = 0.9\n", "hardware.pue"),
        ("start_year = 2030\nend_year = 2025\n", "end_year"),
    ],
)
def test_bad_input_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, 'extends = "baseline"\n' + text)
    with pytest.raises(InvalidParameterError) as info:
        load_industry_scenario(path)
    assert info.value.field == field
    assert field in str(info.value)


def test_a_layer_without_a_conversion_has_no_path(tmp_path: Path) -> None:
    text = 'extends = "baseline"\nname = "x"\n[layers.packaging]\ncapacity = 1.0\n'
    scenario = load_industry_scenario(_write(tmp_path, text))
    layer = scenario.layer("packaging")
    with pytest.raises(InvalidParameterError, match="units_per_accelerator"):
        dataclasses.replace(layer, units_per_accelerator=None)
    with pytest.raises(InvalidParameterError, match=r"layers.dc_power.units_per_accelerator"):
        load_industry_scenario(
            _write(
                tmp_path, 'extends = "baseline"\n[layers.dc_power]\nunits_per_accelerator = 1.0\n'
            )
        )


def test_unknown_layers_and_scenarios(tmp_path: Path) -> None:
    with pytest.raises(UnknownEntryError, match="packging"):
        relax_layer(LOADED["baseline"], "packging", 2.0)
    with pytest.raises(UnknownEntryError):
        load_industry_scenario(
            _write(tmp_path, 'extends = "baseline"\n[layers.lasers]\ncapacity = 1.0\n')
        )
    with pytest.raises(UnknownEntryError, match="baselin"):
        load_industry_scenario("baselin")
    with pytest.raises(UnknownEntryError):
        load_industry_scenario(_write(tmp_path, 'extends = "nope"\n'))
    with pytest.raises(InvalidParameterError, match="factor"):
        relax_layer(LOADED["baseline"], "euv", 0.0)
    with pytest.raises(InvalidParameterError, match="from_year"):
        relax_layer(LOADED["baseline"], "euv", 2.0, from_year=1990)


def test_yaml_file_extends_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "extends: baseline\nname: mine\nend_year: 2030\nlayers:\n  dc_power:\n    lead_time_years: 2\n",
        ".yaml",
    )
    scenario = load_industry_scenario(path)
    assert scenario.name == "mine" and scenario.end_year == 2030
    assert scenario.layer("dc_power").lead_time_years == 2
    assert scenario.layer("dc_power").capacity == LOADED["baseline"].layer("dc_power").capacity


# --- the stack-layer catalog -------------------------------------------------------------------


def test_every_stack_layer_parses_and_has_a_source() -> None:
    ids = list_stack_layers()
    assert set(DEPLOYMENT_LAYER_IDS) <= set(ids)
    assert set(INDUSTRY_LAYER_IDS) <= set(ids)
    raw = load_table("stack_layers")
    for layer_id in ids:
        layer = get_stack_layer(layer_id)
        assert layer.source.strip() and layer.name and layer.relief and layer.key_companies
        assert layer.analyst_layer in ANALYST_LAYERS
        assert set(raw[layer_id]) <= {f.name for f in dataclasses.fields(layer)}
    with pytest.raises(UnknownEntryError):
        get_stack_layer("warp-drive")
