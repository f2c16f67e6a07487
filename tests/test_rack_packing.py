"""Rack packing under low air-cooled rack limits: servers per rack, which cooling types can take
a platform, racks, floor space and stranded rack power."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chip2grid.errors import InvalidParameterError
from chip2grid.facility import (
    HEAT_PATHS,
    Site,
    compatible_coolings,
    get_cooling,
    get_platform,
    get_region,
    list_coolings,
    list_platforms,
    plan_racks,
    rack_layout,
    site_capacity,
)


def test_dgx_h100_in_a_legacy_air_room_fits_once_per_rack() -> None:
    # DGX H100: 10.2 kW max input (NVIDIA DGX H100 User Guide); air-legacy: 15 kW per rack.
    dgx, legacy = get_platform("dgx-h100"), get_cooling("air-legacy")
    assert dgx.node_max_power_w == 10_200.0 and legacy.max_rack_power_w == 15_000.0
    plan = plan_racks(dgx, legacy, dgx.node_max_power_w)
    assert plan.nodes_per_rack == 1  # floor(15 / 10.2)
    assert plan.binding == "cooling"
    assert plan.rack_power_w == pytest.approx(10_200.0)
    assert plan.stranded_power_w_per_rack == pytest.approx(4_800.0)
    assert plan.accelerators_per_rack == 8
    # 64 GPUs = 8 servers: 8 racks, 8 x 2.6 m2, 8 x 4.8 kW stranded
    layout = rack_layout(plan, 8)
    assert layout.num_racks == 8
    assert layout.floor_area_m2 == pytest.approx(8 * legacy.floor_area_m2_per_rack)
    assert layout.stranded_rack_power_w == pytest.approx(8 * 4_800.0)


def test_the_same_servers_in_denser_rooms_take_fewer_racks() -> None:
    dgx = get_platform("dgx-h100")
    racks = {}
    for cooling_id, per_rack in (("air-legacy", 1), ("air", 2), ("air-economized", 4)):
        plan = plan_racks(dgx, get_cooling(cooling_id), dgx.node_max_power_w)
        assert plan.nodes_per_rack == per_rack, cooling_id  # 15, 30, 41 kW over 10.2 kW
        racks[cooling_id] = rack_layout(plan, 32).num_racks
    assert racks == {"air-legacy": 32, "air": 16, "air-economized": 8}
    air = plan_racks(dgx, get_cooling("air"), dgx.node_max_power_w)
    assert air.stranded_power_w_per_rack == pytest.approx(30_000.0 - 2 * 10_200.0)


def test_platform_packing_binds_and_strands_the_coolings_headroom() -> None:
    hgx = get_platform("hgx-h100")
    plan = plan_racks(hgx, get_cooling("rear-door"), hgx.node_max_power_w)
    assert plan.binding == "platform"
    assert plan.nodes_per_rack == 4
    assert plan.stranded_power_w_per_rack == pytest.approx(75_000.0 - 40_800.0)


def test_gb200_nvl72_cannot_be_air_cooled_at_all() -> None:
    nvl72 = get_platform("gb200-nvl72")
    assert compatible_coolings(nvl72) == ["dlc"]
    for cooling_id in ("air-legacy", "air", "air-economized", "rear-door", "immersion"):
        with pytest.raises(InvalidParameterError) as info:
            plan_racks(nvl72, get_cooling(cooling_id), nvl72.node_max_power_w)
        assert info.value.field == "cooling", cooling_id
        assert "dlc" in info.value.allowed, cooling_id
        assert "liquid-cooled" in str(info.value), cooling_id


def test_nvl72_rack_holds_its_whole_nvlink_domain() -> None:
    nvl72 = get_platform("gb200-nvl72")
    plan = plan_racks(nvl72, get_cooling("dlc"), nvl72.node_max_power_w)
    assert plan.nodes_per_rack == 18
    assert plan.accelerators_per_rack == 72
    # 18 trays x 6.5 kW + 9 switch trays = platforms.toml rack_power_w
    assert plan.rack_power_w == pytest.approx(nvl72.rack_power_w)
    assert plan.stranded_power_w_per_rack == pytest.approx(140_000.0 - nvl72.rack_power_w)
    # a site limit below one NVL72 rack cannot split the domain into two racks
    with pytest.raises(InvalidParameterError) as info:
        plan_racks(nvl72, get_cooling("dlc"), nvl72.node_max_power_w, rack_power_limit_w=100e3)
    assert info.value.field == "rack_power_limit_w"
    assert "scale-up domain" in str(info.value)
    # a half-filled NVL72 rack still carries all its switch trays
    half = rack_layout(plan, 9)
    assert half.num_racks == 1
    assert half.rack_power_w == pytest.approx(9 * 6_500.0 + nvl72.rack_power_w - 18 * 6_500.0)


def test_an_air_cooled_server_no_air_room_can_hold() -> None:
    hot = dataclasses.replace(
        get_platform("dgx-h100"), node_max_power_w=45_000.0, rack_power_w=180_000.0
    )
    with pytest.raises(InvalidParameterError) as info:
        plan_racks(hot, get_cooling("air-legacy"), hot.node_max_power_w)
    assert info.value.field == "cooling"
    message = str(info.value)
    assert "45000 W" in message and "cannot remove" in message
    assert "rear-door" in info.value.allowed  # 75 kW doors remove it
    assert "air-legacy" not in info.value.allowed and "air-economized" not in info.value.allowed


def test_compatible_coolings_follow_the_heat_path() -> None:
    coolings = {c: get_cooling(c) for c in list_coolings()}
    for cooling in coolings.values():
        assert cooling.heat_path in HEAT_PATHS
        assert 1.0 <= cooling.floor_area_m2_per_rack <= 10.0, cooling.id
    air_paths = {c for c, v in coolings.items() if v.heat_path == "air"}
    assert {"air-legacy", "air", "air-economized", "rear-door"} <= air_paths
    for platform_id in list_platforms():
        platform = get_platform(platform_id)
        able = set(compatible_coolings(platform))
        assert set(platform.cooling) <= able, platform_id
        if set(platform.cooling) & air_paths:
            assert air_paths <= able, platform_id  # fan-cooled: any air room, fewer per rack
        else:
            assert able == set(platform.cooling), platform_id


def test_rack_layout_conserves_power_and_rejects_bad_counts() -> None:
    a100 = get_platform("hgx-a100")
    plan = plan_racks(a100, get_cooling("air-legacy"), a100.node_max_power_w)
    assert plan.nodes_per_rack == 2  # 2 x 6.5 kW under 15 kW
    layout = rack_layout(plan, 5)
    assert layout.num_racks == 3  # the last rack half full
    assert layout.rack_power_w + layout.stranded_rack_power_w == pytest.approx(3 * 15_000.0)
    assert rack_layout(plan, 0).num_racks == 0
    for bad in (-1, 2.5, True):
        with pytest.raises(InvalidParameterError) as info:
            rack_layout(plan, bad)  # type: ignore[arg-type]
        assert info.value.field == "num_nodes"


@given(
    node_power_w=st.floats(1_000.0, 15_000.0),
    limit_w=st.one_of(st.none(), st.floats(15_000.0, 200_000.0)),
)
@settings(max_examples=80, deadline=None)
def test_packing_properties(node_power_w: float, limit_w: float | None) -> None:
    platform = get_platform("hgx-h100")
    cooling = get_cooling("rear-door")
    plan = plan_racks(platform, cooling, node_power_w, limit_w)
    cap = min(cooling.max_rack_power_w, limit_w or math.inf)
    assert 1 <= plan.nodes_per_rack <= platform.nodes_per_rack
    assert plan.nodes_per_rack == min(platform.nodes_per_rack, math.floor(cap / node_power_w))
    assert plan.rack_power_w <= plan.rack_power_limit_w + 1e-6
    assert plan.stranded_power_w_per_rack >= -1e-6
    if plan.binding != "platform":  # power binds: not even one more node would fit
        assert plan.stranded_power_w_per_rack < node_power_w


def test_site_capacity_reports_floor_space_and_stranded_rack_power() -> None:
    dgx, legacy = get_platform("dgx-h100"), get_cooling("air-legacy")
    site = Site(critical_it_power_w=1e6, region=get_region("us-virginia"), cooling=legacy)
    plan = plan_racks(dgx, legacy, dgx.node_max_power_w)
    capacity = site_capacity(site, plan, num_accelerators_wanted=64)
    assert capacity.num_nodes == 8 and capacity.num_racks == 8
    assert capacity.floor_area_m2 == pytest.approx(8 * 2.6)
    assert capacity.stranded_rack_power_w == pytest.approx(8 * 4_800.0)
