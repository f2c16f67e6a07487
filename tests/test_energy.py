"""Tests of the energy layer: sources, supply mixes and their price, carbon, water, lead time."""

from __future__ import annotations

import dataclasses

import pytest

from chip2grid.catalog import build_entry
from chip2grid.energy import (
    EnergySource,
    EnergySupply,
    energy_supply,
    get_energy_source,
    list_energy_sources,
    supply_carbon_g_per_kwh,
    supply_lead_time_years,
    supply_price_usd_per_kwh,
    supply_water_l_per_kwh,
)
from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.facility import Region, get_region, list_regions

GRID_ENTRY = {
    "name": "Grid",
    "kind": "grid",
    "uses_region": True,
    "capacity_factor": 1.0,
    "firm": True,
    "lead_time_years_low": 1.0,
    "lead_time_years_high": 7.0,
    "source": "test fixture",
}
SOLAR_ENTRY = {
    "name": "Solar PPA",
    "kind": "ppa",
    "uses_region": False,
    "lcoe_usd_per_mwh_low": 30.0,
    "lcoe_usd_per_mwh_central": 40.0,
    "lcoe_usd_per_mwh_high": 60.0,
    "lcoe_year": 2024,
    "carbon_g_per_kwh": 43.0,
    "water_l_per_kwh": 0.1,
    "capacity_factor": 0.25,
    "firm": False,
    "lead_time_years_low": 1.0,
    "lead_time_years_high": 3.0,
    "source": "test fixture",
}
GAS_ENTRY = {
    **SOLAR_ENTRY,
    "name": "Gas turbines on site",
    "kind": "onsite",
    "lcoe_usd_per_mwh_low": 60.0,
    "lcoe_usd_per_mwh_central": 80.0,
    "lcoe_usd_per_mwh_high": 110.0,
    "carbon_g_per_kwh": 490.0,
    "water_l_per_kwh": 0.8,
    "capacity_factor": 0.9,
    "firm": True,
    "lead_time_years_low": 2.0,
    "lead_time_years_high": 4.0,
}


@pytest.fixture
def grid() -> EnergySource:
    return build_entry(EnergySource, "grid", GRID_ENTRY, "test")


@pytest.fixture
def solar() -> EnergySource:
    return build_entry(EnergySource, "solar-ppa", SOLAR_ENTRY, "test")


@pytest.fixture
def gas() -> EnergySource:
    return build_entry(EnergySource, "gas", GAS_ENTRY, "test")


@pytest.fixture
def region() -> Region:
    return dataclasses.replace(
        get_region("us-virginia"),
        electricity_price_usd_per_kwh=0.08,
        grid_carbon_g_per_kwh=400.0,
        grid_water_l_per_kwh=2.0,
        grid_connection_lead_time_years=5.0,
    )


def test_grid_takes_the_regions_figures(grid: EnergySource, region: Region) -> None:
    supply = EnergySupply.single(grid)
    assert supply_price_usd_per_kwh(supply, region) == 0.08
    assert supply_carbon_g_per_kwh(supply, region) == 400.0
    assert supply_water_l_per_kwh(supply, region) == 2.0
    assert supply_lead_time_years(supply, region) == 5.0


def test_mix_is_share_weighted(
    grid: EnergySource, solar: EnergySource, gas: EnergySource, region: Region
) -> None:
    supply = EnergySupply(sources=(grid, solar, gas), shares_frac=(0.5, 0.3, 0.2))
    # price: 0.5 * 0.08 + 0.3 * 40/1000 + 0.2 * 80/1000 = 0.04 + 0.012 + 0.016
    assert supply_price_usd_per_kwh(supply, region) == pytest.approx(0.068, rel=1e-12)
    # carbon: 0.5 * 400 + 0.3 * 43 + 0.2 * 490 = 200 + 12.9 + 98
    assert supply_carbon_g_per_kwh(supply, region) == pytest.approx(310.9, rel=1e-12)
    # water: 0.5 * 2 + 0.3 * 0.1 + 0.2 * 0.8 = 1.19
    assert supply_water_l_per_kwh(supply, region) == pytest.approx(1.19, rel=1e-12)


def test_lead_time_is_the_slowest_source_with_a_share(
    grid: EnergySource, solar: EnergySource, gas: EnergySource, region: Region
) -> None:
    supply = EnergySupply(sources=(solar, gas), shares_frac=(0.5, 0.5))
    assert supply_lead_time_years(supply, region) == pytest.approx(3.0)  # gas midpoint (2+4)/2
    assert supply_lead_time_years(supply, region, "high") == 4.0
    assert supply_lead_time_years(supply, region, "low") == 2.0
    with_grid = EnergySupply(sources=(grid, solar), shares_frac=(0.0, 1.0))
    assert supply_lead_time_years(with_grid, region) == 2.0  # the grid has no share
    with_grid = EnergySupply(sources=(grid, solar), shares_frac=(0.1, 0.9))
    assert supply_lead_time_years(with_grid, region) == 5.0
    with pytest.raises(InvalidParameterError) as info:
        supply_lead_time_years(supply, region, "median")  # type: ignore[arg-type]
    assert info.value.field == "which"


@pytest.mark.parametrize("shares", [(0.5, 0.4), (0.7, 0.7), (1.0, 0.1)])
def test_shares_must_sum_to_one(
    grid: EnergySource, solar: EnergySource, shares: tuple[float, float]
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        EnergySupply(sources=(grid, solar), shares_frac=shares)
    assert info.value.field == "shares_frac"
    assert "sum to 1" in str(info.value)


def test_negative_share_and_mismatched_lengths(grid: EnergySource, solar: EnergySource) -> None:
    with pytest.raises(InvalidParameterError) as info:
        EnergySupply(sources=(grid, solar), shares_frac=(1.2, -0.2))
    assert info.value.field == "shares_frac"
    with pytest.raises(InvalidParameterError) as info:
        EnergySupply(sources=(grid, solar), shares_frac=(1.0,))
    assert info.value.field == "shares_frac"
    with pytest.raises(InvalidParameterError) as info:
        EnergySupply(sources=(), shares_frac=())
    assert info.value.field == "sources"


def test_negative_prices_are_field_named_errors() -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_entry(EnergySource, "bad", {**SOLAR_ENTRY, "lcoe_usd_per_mwh_low": -5.0}, "test")
    assert info.value.field == "lcoe_usd_per_mwh_low"
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(get_region("us-virginia"), electricity_price_usd_per_kwh=-0.1)
    assert info.value.field == "electricity_price_usd_per_kwh"


def test_source_validation() -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_entry(EnergySource, "bad", {**SOLAR_ENTRY, "kind": "nuclear"}, "test")
    assert info.value.field == "kind"
    missing = {k: v for k, v in SOLAR_ENTRY.items() if k != "carbon_g_per_kwh"}
    with pytest.raises(InvalidParameterError) as info:
        build_entry(EnergySource, "bad", missing, "test")
    assert info.value.field == "carbon_g_per_kwh"
    with pytest.raises(InvalidParameterError) as info:
        build_entry(EnergySource, "bad", {**SOLAR_ENTRY, "lcoe_usd_per_mwh_central": 100.0}, "t")
    assert info.value.field == "lcoe_usd_per_mwh_central"
    with pytest.raises(InvalidParameterError) as info:
        build_entry(EnergySource, "bad", {**SOLAR_ENTRY, "capacity_factor": 1.5}, "test")
    assert info.value.field == "capacity_factor"


# --- the real catalog (energy_sources.toml) ----------------------------------------------


def test_real_catalog_loads_and_prices_in_every_region() -> None:
    sources = [get_energy_source(s) for s in list_energy_sources()]
    assert any(s.kind == "grid" and s.uses_region for s in sources)
    for source in sources:
        supply = EnergySupply.single(source)
        for region_id in list_regions():
            region = get_region(region_id)
            assert 0 <= supply_price_usd_per_kwh(supply, region) < 1.0
            assert 0 <= supply_carbon_g_per_kwh(supply, region) < 1500
            assert 0 <= supply_water_l_per_kwh(supply, region) < 20
            assert 0 <= supply_lead_time_years(supply, region) < 20


def test_energy_supply_from_ids() -> None:
    grid_id = next(s for s in list_energy_sources() if get_energy_source(s).uses_region)
    other = next(s for s in list_energy_sources() if not get_energy_source(s).uses_region)
    region = get_region("us-texas")
    supply = energy_supply({grid_id: 0.25, other: 0.75})
    expected = (
        0.25 * region.electricity_price_usd_per_kwh
        + 0.75 * (get_energy_source(other).lcoe_usd_per_mwh_central or 0.0) / 1000
    )
    assert supply_price_usd_per_kwh(supply, region) == pytest.approx(expected)
    assert energy_supply(grid_id).shares_frac == (1.0,)
    with pytest.raises(UnknownEntryError) as info:
        get_energy_source("sollar")
    assert info.value.kind == "energy-source"
