"""Tests of the facility layer: PUE and WUE models, catalogs, rack and site planning."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chip2grid.catalog import build_entry, load_table
from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.facility import (
    DAYS_PER_MONTH,
    Cooling,
    Region,
    Site,
    annual_pue,
    annual_wue_l_per_kwh,
    default_platform_for,
    get_cooling,
    get_platform,
    get_region,
    list_coolings,
    list_platforms,
    list_regions,
    node_power_w,
    plan_racks,
    pue,
    site_capacity,
    wue_l_per_kwh,
)

# A cooling entry as a catalog would hold it: the "air" archetype's figures (cooling.toml notes:
# PUE 1.57 at load 0.8 and 20 °C).
COOLING_ENTRY = {
    "name": "test air",
    "max_rack_power_w": 30000.0,
    "typical_rack_power_w": 12000.0,
    "electrical_loss_frac": 0.10,
    "fixed_overhead_frac": 0.04,
    "cooling_overhead_frac": 0.42,
    "cooling_overhead_slope_per_c": 0.010,
    "min_cooling_overhead_frac": 0.20,
    "reference_temperature_c": 20.0,
    "uses_wet_bulb": False,
    "wue_l_per_kwh": 1.8,
    "wue_slope_per_c": 0.06,
    "capex_usd_per_w": 0.0,
    "heat_path": "air",
    "floor_area_m2_per_rack": 2.6,
    "source": "test fixture",
}

REGION_ENTRY = {
    "name": "Testland",
    "country": "TL",
    "grid_operator": "TSO",
    "electricity_price_usd_per_kwh": 0.08,
    "electricity_price_year": 2024,
    "grid_carbon_g_per_kwh": 400.0,
    "grid_carbon_year": 2024,
    "grid_water_l_per_kwh": 2.0,
    # January at 30 °C, every other month at 20 °C
    "monthly_mean_temperature_c": [30.0] + [20.0] * 11,
    "monthly_mean_wet_bulb_c": [25.0] + [10.0] * 11,
    "monthly_mean_diurnal_range_c": [8.0] * 12,
    "colocation_usd_per_kw_month": 150.0,
    "facility_capex_usd_per_w": 11.7,
    "grid_connection_lead_time_years": 4.0,
    "source": "test fixture",
}


@pytest.fixture
def cooling() -> Cooling:
    return build_entry(Cooling, "test-air", COOLING_ENTRY, "test")


@pytest.fixture
def region() -> Region:
    return build_entry(Region, "testland", REGION_ENTRY, "test")


# --- PUE and WUE -------------------------------------------------------------------------


def test_pue_hand_arithmetic(cooling: Cooling) -> None:
    # 1 + 0.10 + 0.04/0.8 + 0.42 = 1.57 (exact to rounding)
    assert pue(cooling, 0.8, 20.0) == pytest.approx(1.57, rel=1e-12)
    # 10 °C warmer: cooling term 0.42 + 0.10 = 0.52 -> 1.67
    assert pue(cooling, 0.8, 30.0) == pytest.approx(1.67, rel=1e-12)
    # very cold: 0.42 - 0.30 = 0.12 is below the 0.20 floor -> 1 + 0.10 + 0.05 + 0.20
    assert pue(cooling, 0.8, -10.0) == pytest.approx(1.35, rel=1e-12)
    # half load doubles the fixed term: 1 + 0.10 + 0.08 + 0.42
    assert pue(cooling, 0.5, 20.0) == pytest.approx(1.60, rel=1e-12)


def test_pue_broadcasts(cooling: Cooling) -> None:
    loads = np.array([0.5, 0.8, 1.0])
    values = pue(cooling, loads[:, None], np.array([20.0, 30.0]))
    assert isinstance(values, np.ndarray)
    assert values.shape == (3, 2)
    assert values[1, 0] == pytest.approx(1.57)
    assert isinstance(pue(cooling, 0.8, 20.0), float)


def test_wue_hand_arithmetic(cooling: Cooling) -> None:
    assert wue_l_per_kwh(cooling, 20.0) == pytest.approx(1.8)
    assert wue_l_per_kwh(cooling, 30.0) == pytest.approx(2.4)  # 1.8 + 0.06 * 10
    assert wue_l_per_kwh(cooling, -20.0) == 0.0  # 1.8 - 2.4 floored at 0


def test_annual_pue_weights_months_by_days(cooling: Cooling, region: Region) -> None:
    region = dataclasses.replace(region, climate_resolution="monthly")
    # January (31 of 365 days) at PUE 1.67, the rest at 1.57
    expected = (31 * 1.67 + 334 * 1.57) / 365
    assert annual_pue(cooling, region, 0.8) == pytest.approx(expected, rel=1e-12)
    wet = dataclasses.replace(cooling, uses_wet_bulb=True)
    # wet bulb: January 25 °C -> 0.47; other months 10 °C -> 0.32 (above the 0.20 floor)
    expected_wet = 1.15 + (31 * 0.47 + 334 * 0.32) / 365
    assert annual_pue(wet, region, 0.8) == pytest.approx(expected_wet, rel=1e-12)
    assert sum(DAYS_PER_MONTH) == 365


def test_annual_pue_vectorized(cooling: Cooling, region: Region) -> None:
    loads = np.linspace(0.2, 1.0, 5)
    values = annual_pue(cooling, region, loads)
    assert isinstance(values, np.ndarray)
    for load, value in zip(loads, values, strict=True):
        assert value == pytest.approx(annual_pue(cooling, region, float(load)))


def test_annual_wue(cooling: Cooling, region: Region) -> None:
    region = dataclasses.replace(region, climate_resolution="monthly")
    expected = (31 * 2.4 + 334 * 1.8) / 365
    assert annual_wue_l_per_kwh(cooling, region) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("load", [0.0, -0.1, 1.5, math.nan])
def test_pue_rejects_bad_load(cooling: Cooling, load: float) -> None:
    with pytest.raises(InvalidParameterError) as info:
        pue(cooling, load, 20.0)
    assert info.value.field == "it_load_frac"


cooling_params = st.fixed_dictionaries(
    {
        "electrical_loss_frac": st.floats(0, 0.3),
        "fixed_overhead_frac": st.floats(0, 0.2),
        "cooling_overhead_frac": st.floats(0, 1.0),
        "cooling_overhead_slope_per_c": st.floats(-0.05, 0.05),
        "min_cooling_overhead_frac": st.floats(0, 0.3),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    params=cooling_params,
    load=st.floats(1e-3, 1.0),
    temperature=st.floats(-40.0, 50.0),
)
def test_pue_is_at_least_one(params: dict[str, float], load: float, temperature: float) -> None:
    cooling = build_entry(Cooling, "h", {**COOLING_ENTRY, **params}, "test")
    assert pue(cooling, load, temperature) >= 1.0


@settings(max_examples=200, deadline=None)
@given(
    params=cooling_params,
    loads=st.tuples(st.floats(1e-3, 1.0), st.floats(1e-3, 1.0)).map(sorted),
    temperature=st.floats(-40.0, 50.0),
)
def test_pue_falls_as_load_rises(
    params: dict[str, float], loads: list[float], temperature: float
) -> None:
    cooling = build_entry(Cooling, "h", {**COOLING_ENTRY, **params}, "test")
    low, high = loads
    assert pue(cooling, high, temperature) <= pue(cooling, low, temperature)


# --- catalog objects ---------------------------------------------------------------------


def test_region_validation(region: Region) -> None:
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(region, electricity_price_usd_per_kwh=-0.01)
    assert info.value.field == "electricity_price_usd_per_kwh"
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(region, monthly_mean_temperature_c=(20.0,) * 11)
    assert info.value.field == "monthly_mean_temperature_c"


def test_cooling_validation(cooling: Cooling) -> None:
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(cooling, fixed_overhead_frac=-0.1)
    assert info.value.field == "fixed_overhead_frac"


def test_unknown_names_list_close_ones() -> None:
    with pytest.raises(UnknownEntryError) as info:
        get_region("us-virgina")
    assert info.value.kind == "region"
    assert "us-virginia" in info.value.close
    with pytest.raises(UnknownEntryError) as info:
        get_cooling("immersoin")
    assert info.value.kind == "cooling"
    assert "immersion" in info.value.close
    with pytest.raises(UnknownEntryError) as info:
        get_platform("hgx-h10")
    assert info.value.kind == "platform"
    assert "hgx-h100" in info.value.close


def test_real_catalogs_load() -> None:
    regions = [get_region(r) for r in list_regions()]
    coolings = [get_cooling(c) for c in list_coolings()]
    platforms = [get_platform(p) for p in list_platforms()]
    assert {"air", "air-economized", "rear-door", "dlc", "immersion"} <= set(list_coolings())
    assert len(regions) >= 5
    cooling_ids = set(list_coolings())
    accelerators = set(load_table("accelerators"))
    for platform in platforms:
        assert set(platform.cooling) <= cooling_ids, platform.id
        assert platform.accelerator in accelerators, platform.id
        # the platform's default packing fits under at least one of its cooling types
        best = max(get_cooling(c).max_rack_power_w for c in platform.cooling)
        assert platform.nodes_per_rack * platform.node_max_power_w <= best * 1.001, platform.id
        for cooling_id in platform.cooling:  # every listed cooling holds at least one node
            plan_racks(platform, get_cooling(cooling_id), platform.node_max_power_w)
    for cooling in coolings:
        for region in regions:
            assert 1.0 <= annual_pue(cooling, region, 0.8) < 2.5
            assert annual_wue_l_per_kwh(cooling, region) >= 0


def test_real_catalog_pue_matches_its_notes() -> None:
    # cooling.toml notes: annual PUE at load 0.8, us-virginia 1.50 (air), ireland 1.10
    # (air-economized); quoted to two decimals, so 0.006.
    assert annual_pue(get_cooling("air"), get_region("us-virginia"), 0.8) == pytest.approx(
        1.50, abs=0.006
    )
    assert annual_pue(get_cooling("air-economized"), get_region("ireland"), 0.8) == pytest.approx(
        1.10, abs=0.006
    )


def test_default_platform_for() -> None:
    platform = default_platform_for("h100")  # an alias of h100-sxm
    assert platform.accelerator == "h100-sxm"
    platforms = load_table("platforms")
    with_platform = {str(e["accelerator"]) for e in platforms.values()}
    without = sorted(set(load_table("accelerators")) - with_platform)
    if without:
        with pytest.raises(InvalidParameterError) as info:
            default_platform_for(without[0])
        assert info.value.field == "accelerator"
    with pytest.raises(UnknownEntryError):
        default_platform_for("no-such-chip")


def test_node_power_w() -> None:
    platform = get_platform("hgx-h100")
    expected = (8 * 700.0 + platform.node_host_power_w) / platform.psu_efficiency_frac
    assert node_power_w(platform, 700.0) == pytest.approx(expected)
    with pytest.raises(InvalidParameterError) as info:
        node_power_w(platform, -1.0)
    assert info.value.field == "accelerator_power_w"


# --- racks -------------------------------------------------------------------------------


def test_plan_racks_platform_packing_binds() -> None:
    platform = get_platform("hgx-h100")
    plan = plan_racks(platform, get_cooling("rear-door"), platform.node_max_power_w)
    assert plan.nodes_per_rack == platform.nodes_per_rack
    assert plan.binding == "platform"
    assert plan.rack_power_w == pytest.approx(platform.nodes_per_rack * platform.node_max_power_w)
    assert plan.accelerators_per_rack == platform.nodes_per_rack * 8


def test_plan_racks_power_limit_binds() -> None:
    platform = get_platform("hgx-h100")
    plan = plan_racks(platform, get_cooling("rear-door"), 10200.0, rack_power_limit_w=25000.0)
    assert plan.nodes_per_rack == 2  # floor(25000 / 10200)
    assert plan.binding == "rack_power_limit_w"
    tight = dataclasses.replace(
        get_cooling("rear-door"), max_rack_power_w=30000.0, typical_rack_power_w=20000.0
    )
    plan = plan_racks(platform, tight, 10200.0)
    assert plan.nodes_per_rack == 2  # floor(30000 / 10200)
    assert plan.binding == "cooling"


def test_plan_racks_density_cooling_cannot_remove() -> None:
    platform = get_platform("hgx-h100")
    weak = dataclasses.replace(
        get_cooling("air-economized"), max_rack_power_w=8000.0, typical_rack_power_w=8000.0
    )
    with pytest.raises(InvalidParameterError) as info:
        plan_racks(platform, weak, 10200.0)
    assert info.value.field == "cooling"
    message = str(info.value)
    assert "10200 W" in message
    assert "cannot remove" in message
    assert "rear-door" in message  # a cooling type that could remove it


def test_plan_racks_rack_limit_below_one_node() -> None:
    platform = get_platform("hgx-h100")
    with pytest.raises(InvalidParameterError) as info:
        plan_racks(platform, get_cooling("rear-door"), 10200.0, rack_power_limit_w=5000.0)
    assert info.value.field == "rack_power_limit_w"


def test_plan_racks_cooling_platform_cannot_use() -> None:
    platform = get_platform("gb200-nvl72")
    with pytest.raises(InvalidParameterError) as info:
        plan_racks(platform, get_cooling("air"), platform.node_max_power_w)
    assert info.value.field == "cooling"
    assert "dlc" in info.value.allowed


# --- sites -------------------------------------------------------------------------------


def test_site_validation(region: Region) -> None:
    cooling = get_cooling("rear-door")
    for power in (0.0, -1.0, math.nan):
        with pytest.raises(InvalidParameterError) as info:
            Site(critical_it_power_w=power, region=region, cooling=cooling)
        assert info.value.field == "critical_it_power_w"
    with pytest.raises(InvalidParameterError) as info:
        Site(
            critical_it_power_w=10e6,
            region=region,
            cooling=cooling,
            buildout=((2026, 5e6), (2027, 4e6)),
        )
    assert info.value.field == "buildout"
    with pytest.raises(InvalidParameterError) as info:
        Site(critical_it_power_w=10e6, region=region, cooling=cooling, design_it_load_frac=0)
    assert info.value.field == "design_it_load_frac"


def test_site_buildout_power_by_year(region: Region) -> None:
    site = Site(
        critical_it_power_w=10e6,
        region=region,
        cooling=get_cooling("rear-door"),
        buildout=((2026, 4e6), (2028, 10e6)),
    )
    assert site.critical_it_power_w_in(2025) == 0.0
    assert site.critical_it_power_w_in(2027) == 4e6
    assert site.critical_it_power_w_in(2030) == 10e6
    assert site.critical_it_power_w_in() == 10e6


def test_site_capacity_hand_arithmetic(region: Region) -> None:
    platform = get_platform("hgx-h100")
    cooling = get_cooling("rear-door")
    site = Site(critical_it_power_w=1e6, region=region, cooling=cooling)
    plan = plan_racks(platform, cooling, platform.node_max_power_w)
    node_it = platform.node_max_power_w + 8 * platform.network_power_w_per_accelerator
    nodes = math.floor(1e6 / node_it)
    capacity = site_capacity(site, plan)
    assert capacity.num_nodes == nodes
    assert capacity.num_accelerators == 8 * nodes
    assert capacity.num_racks == math.ceil(nodes / plan.nodes_per_rack)
    assert capacity.it_power_w == pytest.approx(nodes * node_it)
    site_pue = annual_pue(cooling, region, site.design_it_load_frac)
    assert capacity.facility_power_w == pytest.approx(nodes * node_it * site_pue)
    assert capacity.num_accelerators_stranded == 0
    assert capacity.spare_it_power_w == pytest.approx(1e6 - nodes * node_it)


def test_site_capacity_counts_nvl72_switch_trays(region: Region) -> None:
    # GB200 NVL72: 18 compute trays of 6.5 kW plus 3.6 kW of NVLink switch trays per rack
    # (platforms.toml). A site of exactly 2 racks' power holds 2 racks, not the 37 trays that
    # the trays' power alone would allow, and its IT power holds the switch trays.
    platform = get_platform("gb200-nvl72")
    cooling = get_cooling("dlc")
    plan = plan_racks(platform, cooling, platform.node_max_power_w)
    network_w = 4 * platform.network_power_w_per_accelerator
    switch_w = platform.rack_power_w - 18 * platform.node_max_power_w
    assert switch_w == pytest.approx(3600.0)
    rack_it_w = 18 * (platform.node_max_power_w + network_w) + switch_w
    site = Site(critical_it_power_w=2 * rack_it_w + 1.0, region=region, cooling=cooling)
    capacity = site_capacity(site, plan)
    assert math.floor(site.critical_it_power_w / (platform.node_max_power_w + network_w)) == 37
    assert capacity.num_nodes == 36
    assert capacity.num_racks == 2
    assert capacity.it_power_w == pytest.approx(2 * rack_it_w)
    assert capacity.spare_it_power_w == pytest.approx(1.0)
    # a third rack's switch trays plus one tray: the rest powers that one tray
    one_more = platform.node_max_power_w + network_w + switch_w
    bigger = Site(critical_it_power_w=2 * rack_it_w + one_more, region=region, cooling=cooling)
    assert site_capacity(bigger, plan).num_nodes == 37
    assert site_capacity(bigger, plan).it_power_w == pytest.approx(2 * rack_it_w + one_more)
    short = Site(critical_it_power_w=2 * rack_it_w + one_more - 1.0, region=region, cooling=cooling)
    assert site_capacity(short, plan).num_nodes == 36
    # a site below one tray and its rack's switch trays names both
    tiny = Site(critical_it_power_w=one_more - 1.0, region=region, cooling=cooling)
    with pytest.raises(InvalidParameterError) as info:
        site_capacity(tiny, plan)
    assert info.value.field == "critical_it_power_w"
    assert "switch trays" in str(info.value)


def test_site_capacity_strands_what_it_cannot_power(region: Region) -> None:
    platform = get_platform("hgx-h100")
    cooling = get_cooling("rear-door")
    site = Site(critical_it_power_w=1e6, region=region, cooling=cooling)
    plan = plan_racks(platform, cooling, platform.node_max_power_w)
    full = site_capacity(site, plan)
    wanted = full.num_accelerators + 100
    short = site_capacity(site, plan, wanted)
    assert short.num_accelerators == full.num_accelerators
    assert short.num_accelerators_stranded == 100
    small = site_capacity(site, plan, 12)  # 12 accelerators take 2 nodes
    assert small.num_nodes == 2
    assert small.num_accelerators == 12
    assert small.num_accelerators_stranded == 0


def test_site_smaller_than_one_server(region: Region) -> None:
    platform = get_platform("hgx-h100")
    cooling = get_cooling("rear-door")
    site = Site(critical_it_power_w=5000.0, region=region, cooling=cooling)
    plan = plan_racks(platform, cooling, platform.node_max_power_w)
    with pytest.raises(InvalidParameterError) as info:
        site_capacity(site, plan)
    assert info.value.field == "critical_it_power_w"
    assert "smaller than one server" in str(info.value)


def test_site_capacity_needs_the_sites_cooling(region: Region) -> None:
    platform = get_platform("hgx-h100")
    site = Site(critical_it_power_w=1e6, region=region, cooling=get_cooling("dlc"))
    plan = plan_racks(platform, get_cooling("rear-door"), platform.node_max_power_w)
    with pytest.raises(InvalidParameterError) as info:
        site_capacity(site, plan)
    assert info.value.field == "cooling"
