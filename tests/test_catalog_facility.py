"""The facility, energy and economics catalogs against their schema (docs/facility-catalogs.md).

Checks field sets, types and ranges of every entry, cross-references to accelerators.toml and
models.toml (by id or alias), and a few figures against published values with the tolerance and
source named at each check. The PUE model of the schema is re-implemented here so that the cooling
parameters are tested independently of the facility layer.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

import pytest

from chip2grid.catalog import load_table

COMMON = {"source", "estimate", "estimated_fields", "notes", "aliases"}

REGION_FIELDS = {
    "name": str,
    "country": str,
    "grid_operator": str,
    "electricity_price_usd_per_kwh": float,
    "electricity_price_year": int,
    "grid_carbon_g_per_kwh": float,
    "grid_carbon_year": int,
    "grid_water_l_per_kwh": float,
    "monthly_mean_temperature_c": list,
    "monthly_mean_wet_bulb_c": list,
    "monthly_mean_diurnal_range_c": list,
    "colocation_usd_per_kw_month": float,
    "facility_capex_usd_per_w": float,
    "grid_connection_lead_time_years": float,
}
COOLING_FIELDS = {
    "name": str,
    "max_rack_power_w": float,
    "typical_rack_power_w": float,
    "electrical_loss_frac": float,
    "fixed_overhead_frac": float,
    "cooling_overhead_frac": float,
    "cooling_overhead_slope_per_c": float,
    "min_cooling_overhead_frac": float,
    "reference_temperature_c": float,
    "uses_wet_bulb": bool,
    "wue_l_per_kwh": float,
    "wue_slope_per_c": float,
    "capex_usd_per_w": float,
    "heat_path": str,
    "floor_area_m2_per_rack": float,
}
ENERGY_FIELDS = {
    "name": str,
    "kind": str,
    "uses_region": bool,
    "capacity_factor": float,
    "firm": bool,
    "lead_time_years_low": float,
    "lead_time_years_high": float,
}
ENERGY_OWN_FIELDS = {
    "lcoe_usd_per_mwh_low": float,
    "lcoe_usd_per_mwh_central": float,
    "lcoe_usd_per_mwh_high": float,
    "lcoe_year": int,
    "carbon_g_per_kwh": float,
    "water_l_per_kwh": float,
}
PLATFORM_FIELDS = {
    "name": str,
    "accelerator": str,
    "accelerators_per_node": int,
    "node_max_power_w": float,
    "node_host_power_w": float,
    "psu_efficiency_frac": float,
    "nodes_per_rack": int,
    "rack_power_w": float,
    "cooling": list,
    "scale_up_domain_size": int,
    "fabric": str,
    "node_price_usd": float,
    "node_price_date": str,
    "network_usd_per_accelerator": float,
    "network_power_w_per_accelerator": float,
}
ECONOMICS_FIELDS = {
    "wacc_frac": float,
    "accelerator_lifetime_years": float,
    "network_lifetime_years": float,
    "facility_lifetime_years": float,
    "power_infrastructure_lifetime_years": float,
    "maintenance_frac_per_year": float,
    "staff_usd_per_mw_year": float,
    "insurance_property_tax_frac_per_year": float,
    "power_infrastructure_usd_per_w": float,
}
RENTAL_FIELDS = {
    "accelerator": str,
    "provider": str,
    "kind": str,
    "usd_per_accelerator_hour": float,
    "date": str,
}
API_FIELDS = {
    "model": str,
    "provider": str,
    "usd_per_mtok_input": float,
    "usd_per_mtok_output": float,
    "date": str,
}
API_OPTIONAL = {"usd_per_mtok_cached_input": float}

REQUIRED_REGIONS = {
    "us-virginia",
    "us-texas",
    "us-oregon",
    "us-california",
    "us-georgia",
    "us-arizona",
    "ireland",
    "germany",
    "france",
    "nordics",
    "netherlands",
    "uk",
    "singapore",
    "japan",
    "india",
    "middle-east",
}
REQUIRED_ENERGY = {
    "grid",
    "ppa-wind",
    "ppa-solar",
    "ppa-nuclear",
    "onsite-gas-ccgt",
    "onsite-gas-turbine",
    "nuclear-smr",
    "solar-plus-storage",
    "wind-plus-storage",
    "geothermal",
}
REQUIRED_PLATFORMS = {
    "hgx-a100",
    "hgx-h100",
    "dgx-h100",
    "hgx-h200",
    "hgx-b200",
    "dgx-b200",
    "gb200-nvl72",
    "gb300-nvl72",
    "mi300x-platform",
    "mi325x-platform",
    "mi355x-platform",
    "l40s-server",
    "gaudi3-platform",
}
RENTAL_KINDS = {
    "hyperscaler-on-demand",
    "hyperscaler-1yr",
    "hyperscaler-3yr",
    "neocloud",
    "market-index",
}

# Published ranges that the schema's PUE model must reproduce at 80 % load and 20 C:
# air = Uptime Institute industry average 1.54-1.58 (2023-2025 surveys); air-economized = hyperscale
# fleets 1.08-1.18 (Google 1.10, AWS 1.14-1.15, Meta 1.08-1.09, Microsoft 1.12-1.18); rear-door =
# 1.28-1.36 (a PUE-1.4 room with 10-30 % of its overhead removed); dlc = 1.1-1.2; immersion =
# 1.03-1.1 (measured two-phase pPUE 1.037-1.053, Energies 2021 14(5) 1395, plus UPS losses).
PUE_RANGES = {
    "air": (1.50, 1.65),
    "air-economized": (1.08, 1.20),
    "rear-door": (1.20, 1.40),
    "dlc": (1.08, 1.20),
    "immersion": (1.02, 1.10),
}


def pue(entry: Mapping[str, Any], load: float, temperature_c: float) -> float:
    """PUE(load, T) exactly as docs/facility-catalogs.md writes it."""
    cooling = entry["cooling_overhead_frac"] + entry["cooling_overhead_slope_per_c"] * (
        temperature_c - entry["reference_temperature_c"]
    )
    return (
        1.0
        + entry["electrical_loss_frac"]
        + entry["fixed_overhead_frac"] / load
        + max(entry["min_cooling_overhead_frac"], cooling)
    )


def wue(entry: Mapping[str, Any], temperature_c: float) -> float:
    """Site WUE (L per kWh of IT energy) as the schema writes it."""
    delta = temperature_c - entry["reference_temperature_c"]
    return max(0.0, entry["wue_l_per_kwh"] + entry["wue_slope_per_c"] * delta)


def known_ids(table: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Ids and aliases of a catalog, lower-cased (lookups are case-insensitive)."""
    ids = {key.lower() for key in table}
    for entry in table.values():
        ids.update(alias.lower() for alias in entry.get("aliases", []))
    return ids


def is_type(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_entry(
    name: str,
    key: str,
    entry: Mapping[str, Any],
    required: Mapping[str, type],
    optional: Mapping[str, type] | None = None,
) -> None:
    optional = optional or {}
    where = f"{name}.toml [{key}]"
    missing = set(required) - set(entry)
    assert not missing, f"{where}: missing {sorted(missing)}"
    unknown = set(entry) - set(required) - set(optional) - COMMON
    assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
    for field, kind in {**required, **optional}.items():
        if field in entry:
            assert is_type(entry[field], kind), f"{where}: {field} must be {kind.__name__}"
            if kind is float:
                assert math.isfinite(entry[field]), f"{where}: {field} is not finite"
    assert isinstance(entry.get("source"), str) and entry["source"].strip(), where
    assert isinstance(entry.get("estimate", False), bool), where
    estimated = entry.get("estimated_fields", [])
    assert isinstance(estimated, list), where
    stray = set(estimated) - set(required) - set(optional)
    assert not stray, f"{where}: estimated_fields names no field: {sorted(stray)}"
    assert isinstance(entry.get("notes", ""), str), where


def iso_date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# --- regions -------------------------------------------------------------------------------------


def test_regions_schema_and_ranges() -> None:
    regions = load_table("regions")
    assert set(regions) >= REQUIRED_REGIONS
    for key, entry in regions.items():
        check_entry("regions", key, entry, REGION_FIELDS)
        assert len(entry["country"]) == 2 and entry["country"].isupper(), key
        for field in ("monthly_mean_temperature_c", "monthly_mean_wet_bulb_c"):
            months = entry[field]
            assert len(months) == 12, (key, field)
            assert all(is_type(t, float) and -40.0 <= t <= 50.0 for t in months), (key, field)
        for dry, wet in zip(
            entry["monthly_mean_temperature_c"], entry["monthly_mean_wet_bulb_c"], strict=True
        ):
            assert wet <= dry + 0.5, key
        assert 0.02 < entry["electricity_price_usd_per_kwh"] < 0.5, key
        assert 2015 <= entry["electricity_price_year"] <= 2026, key
        assert 0.0 <= entry["grid_carbon_g_per_kwh"] < 1200.0, key
        assert 2015 <= entry["grid_carbon_year"] <= 2026, key
        assert 0.0 <= entry["grid_water_l_per_kwh"] < 20.0, key
        assert 0.0 < entry["colocation_usd_per_kw_month"] < 1000.0, key
        assert 1.0 < entry["facility_capex_usd_per_w"] < 30.0, key
        assert 0.0 < entry["grid_connection_lead_time_years"] <= 15.0, key


def test_regions_against_published_values() -> None:
    regions = load_table("regions")
    carbon = {key: entry["grid_carbon_g_per_kwh"] for key, entry in regions.items()}
    # Ember / OWID 2023 life-cycle intensities: Ireland 291, France 56, Sweden 41, India 713.
    assert 250.0 <= carbon["ireland"] <= 450.0
    assert carbon["france"] < 100.0
    assert carbon["nordics"] < 100.0
    assert carbon["india"] > 600.0
    # EIA Electric Power Annual 2023: Virginia industrial 8.92 c/kWh, California 18.64 c/kWh,
    # Texas 6.60 c/kWh.
    price = {key: entry["electricity_price_usd_per_kwh"] for key, entry in regions.items()}
    assert 0.05 <= price["us-virginia"] <= 0.12
    assert price["us-california"] > price["us-texas"]
    # Cushman & Wakefield APAC 2025: Singapore 19.19 c/kWh, among the dearest in APAC.
    assert 0.15 <= price["singapore"] <= 0.25
    # Climate normals: Singapore is hot all year (26-29 C), Stockholm freezes in winter,
    # Phoenix is dry (wet bulb far below dry bulb in summer), Dulles July mean ~25.5 C.
    assert min(regions["singapore"]["monthly_mean_temperature_c"]) > 24.0
    assert min(regions["nordics"]["monthly_mean_temperature_c"]) < 1.0
    phoenix = regions["us-arizona"]
    assert phoenix["monthly_mean_temperature_c"][6] - phoenix["monthly_mean_wet_bulb_c"][6] > 10.0
    assert 24.0 <= regions["us-virginia"]["monthly_mean_temperature_c"][6] <= 27.0


# --- cooling -------------------------------------------------------------------------------------


def test_cooling_schema_and_ranges() -> None:
    cooling = load_table("cooling")
    assert set(cooling) == {"air", "air-legacy", "air-economized", "rear-door", "dlc", "immersion"}
    for key, entry in cooling.items():
        check_entry("cooling", key, entry, COOLING_FIELDS)
        for field in (
            "electrical_loss_frac",
            "fixed_overhead_frac",
            "cooling_overhead_frac",
            "min_cooling_overhead_frac",
        ):
            assert 0.0 <= entry[field] <= 1.0, (key, field)
        assert entry["min_cooling_overhead_frac"] <= entry["cooling_overhead_frac"], key
        assert entry["cooling_overhead_slope_per_c"] >= 0.0, key
        assert entry["wue_l_per_kwh"] >= 0.0 and entry["wue_slope_per_c"] >= 0.0, key
        assert 0.0 < entry["typical_rack_power_w"] <= entry["max_rack_power_w"], key
        assert entry["capex_usd_per_w"] >= 0.0, key
    assert cooling["air"]["capex_usd_per_w"] == 0.0


@pytest.mark.parametrize("cooling_id", sorted(PUE_RANGES))
def test_cooling_pue_reproduces_published_range(cooling_id: str) -> None:
    low, high = PUE_RANGES[cooling_id]
    assert low <= pue(load_table("cooling")[cooling_id], 0.8, 20.0) <= high


def test_cooling_ordering_and_climate() -> None:
    cooling = load_table("cooling")
    at = {key: pue(entry, 0.8, 20.0) for key, entry in cooling.items()}
    assert at["immersion"] < at["dlc"] < at["rear-door"] < at["air"]
    assert at["air-economized"] < at["rear-door"]
    for entry in cooling.values():
        # hotter is never better, part load is never better
        assert pue(entry, 0.8, 35.0) >= pue(entry, 0.8, 5.0)
        assert pue(entry, 0.4, 20.0) >= pue(entry, 1.0, 20.0)
        assert wue(entry, 35.0) >= wue(entry, 5.0) >= 0.0
    # Rack densities (reference pack 02): air tops out near 30-40 kW, NVL72 racks need ~120-140 kW.
    assert cooling["air"]["max_rack_power_w"] <= 41_000.0
    assert cooling["dlc"]["max_rack_power_w"] >= 120_000.0
    assert cooling["immersion"]["max_rack_power_w"] >= 100_000.0
    # Hyperscale WUE (Meta 0.26, Microsoft 0.30 L/kWh fleet averages) sits far below an
    # evaporative enterprise plant (LBNL 2014 on-site average 1.8 L/kWh).
    assert wue(cooling["air-economized"], 10.0) < 0.5 < wue(cooling["air"], 20.0)


def test_cooling_annual_pue_in_a_temperate_region() -> None:
    """Annual PUE over Ashburn's monthly climate stays within the published bands."""
    cooling = load_table("cooling")
    virginia = load_table("regions")["us-virginia"]

    def annual(key: str) -> float:
        entry = cooling[key]
        field = (
            "monthly_mean_wet_bulb_c" if entry["uses_wet_bulb"] else "monthly_mean_temperature_c"
        )
        return sum(pue(entry, 0.8, t) for t in virginia[field]) / 12.0

    assert 1.40 <= annual("air") <= 1.65
    assert 1.05 <= annual("air-economized") <= 1.20
    assert 1.05 <= annual("dlc") <= 1.20


# --- energy sources ------------------------------------------------------------------------------


def test_energy_sources_schema_and_ranges() -> None:
    sources = load_table("energy_sources")
    assert set(sources) >= REQUIRED_ENERGY
    for key, entry in sources.items():
        if entry.get("uses_region"):
            check_entry("energy_sources", key, entry, ENERGY_FIELDS)
            assert not set(ENERGY_OWN_FIELDS) & set(entry), key
            assert entry["kind"] == "grid", key
            continue
        check_entry("energy_sources", key, entry, {**ENERGY_FIELDS, **ENERGY_OWN_FIELDS})
        assert entry["kind"] in {"ppa", "onsite"}, key
        low, mid, high = (
            entry["lcoe_usd_per_mwh_low"],
            entry["lcoe_usd_per_mwh_central"],
            entry["lcoe_usd_per_mwh_high"],
        )
        assert 0.0 < low <= mid <= high < 500.0, key
        assert 2015 <= entry["lcoe_year"] <= 2026, key
        assert 0.0 <= entry["carbon_g_per_kwh"] < 1200.0, key
        assert 0.0 <= entry["water_l_per_kwh"] < 10.0, key
        assert 0.0 < entry["capacity_factor"] <= 1.0, key
        assert 0.0 < entry["lead_time_years_low"] <= entry["lead_time_years_high"] <= 15.0, key
    assert sources["grid"]["uses_region"] is True


def test_energy_sources_against_published_values() -> None:
    sources = load_table("energy_sources")
    carbon = {key: e["carbon_g_per_kwh"] for key, e in sources.items() if "carbon_g_per_kwh" in e}
    # IPCC AR5 WG3 Annex III medians: wind 11, nuclear 12, geothermal 38, solar PV 48, gas CC 490.
    assert carbon["ppa-wind"] == pytest.approx(11.0, abs=2.0)
    assert carbon["ppa-nuclear"] == pytest.approx(12.0, abs=2.0)
    assert carbon["ppa-solar"] == pytest.approx(48.0, abs=5.0)
    assert carbon["onsite-gas-ccgt"] == pytest.approx(490.0, abs=30.0)
    assert max(carbon[k] for k in ("ppa-wind", "ppa-solar", "ppa-nuclear", "geothermal")) < 100.0
    assert carbon["onsite-gas-turbine"] > carbon["onsite-gas-ccgt"]
    # Lazard LCOE+ v18 (2025): onshore wind 37-86, utility PV 38-78, gas CC 48-107 $/MWh.
    assert sources["ppa-wind"]["lcoe_usd_per_mwh_low"] == pytest.approx(37.0, abs=5.0)
    assert sources["ppa-solar"]["lcoe_usd_per_mwh_high"] == pytest.approx(78.0, abs=10.0)
    assert sources["onsite-gas-ccgt"]["lcoe_usd_per_mwh_high"] == pytest.approx(107.0, abs=10.0)
    # Firmness: variable renewables alone cannot carry a 24/7 load.
    assert not sources["ppa-wind"]["firm"] and not sources["ppa-solar"]["firm"]
    assert sources["ppa-nuclear"]["firm"] and sources["onsite-gas-ccgt"]["firm"]
    # Macknick et al. 2012: wind consumes no water, nuclear with towers ~2.5 L/kWh.
    assert sources["ppa-wind"]["water_l_per_kwh"] == 0.0
    assert 2.0 <= sources["ppa-nuclear"]["water_l_per_kwh"] <= 3.0


# --- platforms -----------------------------------------------------------------------------------


def test_platforms_schema_and_references() -> None:
    platforms = load_table("platforms")
    accelerators = load_table("accelerators")
    accelerator_ids = known_ids(accelerators)
    cooling = load_table("cooling")
    assert set(platforms) >= REQUIRED_PLATFORMS
    for key, entry in platforms.items():
        check_entry("platforms", key, entry, PLATFORM_FIELDS)
        assert entry["accelerator"].lower() in accelerator_ids, key
        assert entry["cooling"] and set(entry["cooling"]) <= set(cooling), key
        assert entry["accelerators_per_node"] >= 1 and entry["nodes_per_rack"] >= 1, key
        assert 0.8 <= entry["psu_efficiency_frac"] <= 1.0, key
        assert 0.0 < entry["node_host_power_w"] < entry["node_max_power_w"], key
        assert entry["scale_up_domain_size"] >= 1, key
        assert entry["node_price_usd"] > 0.0, key
        iso_date(entry["node_price_date"])
        assert entry["network_usd_per_accelerator"] >= 0.0, key
        assert 0.0 <= entry["network_power_w_per_accelerator"] < 1000.0, key
        # the rack holds its nodes (NVL72 adds up to ~5 % for the NVLink switch trays)
        nodes_w = entry["nodes_per_rack"] * entry["node_max_power_w"]
        assert nodes_w <= entry["rack_power_w"] <= 1.05 * nodes_w, key
        # every listed cooling can shed the rack at the default packing
        for cooling_id in entry["cooling"]:
            assert cooling[cooling_id]["max_rack_power_w"] >= entry["rack_power_w"], (
                key,
                cooling_id,
            )


def test_platforms_against_published_values() -> None:
    platforms = load_table("platforms")
    accelerators = load_table("accelerators")
    for key, entry in platforms.items():
        tdp = accelerators[entry["accelerator"]]["tdp_w"]
        # the accelerators fit within the node's maximum power
        assert entry["accelerators_per_node"] * tdp < entry["node_max_power_w"], key
    # NVIDIA DGX user guides: DGX H100 10.2 kW max, DGX B200 14.3 kW max.
    assert platforms["dgx-h100"]["node_max_power_w"] == pytest.approx(10_200.0)
    assert platforms["dgx-b200"]["node_max_power_w"] == pytest.approx(14_300.0)
    # GB200 / GB300 NVL72: 18 compute trays of 4 GPUs, 72 GPUs in one NVLink domain, ~120-140 kW.
    for key in ("gb200-nvl72", "gb300-nvl72"):
        nvl = platforms[key]
        assert nvl["accelerators_per_node"] * nvl["nodes_per_rack"] == 72
        assert nvl["scale_up_domain_size"] == 72
        assert 115_000.0 <= nvl["rack_power_w"] <= 140_000.0
        assert nvl["cooling"] == ["dlc"]
    # SemiAnalysis: a DGX H100 sold for ~$270k (2023); H100 all-in cluster cost $47-52k per GPU.
    h100 = platforms["hgx-h100"]
    per_gpu = h100["node_price_usd"] / 8 + h100["network_usd_per_accelerator"]
    assert 35_000.0 <= per_gpu <= 55_000.0


# --- economics -----------------------------------------------------------------------------------


def test_economics_finance_default() -> None:
    economics = load_table("economics")
    assert set(economics) == {"finance-default"}
    entry = economics["finance-default"]
    check_entry("economics", "finance-default", entry, ECONOMICS_FIELDS)
    assert 0.0 < entry["wacc_frac"] < 0.3
    for field in (
        "accelerator_lifetime_years",
        "network_lifetime_years",
        "facility_lifetime_years",
        "power_infrastructure_lifetime_years",
    ):
        assert 1.0 <= entry[field] <= 50.0, field
    # hyperscalers depreciate servers over 5-6 years (Amazon, Microsoft, Alphabet, Meta 10-Ks)
    assert 3.0 <= entry["accelerator_lifetime_years"] <= 6.0
    assert entry["facility_lifetime_years"] >= entry["accelerator_lifetime_years"]
    assert 0.0 <= entry["maintenance_frac_per_year"] <= 0.2
    assert 0.0 <= entry["insurance_property_tax_frac_per_year"] <= 0.05
    assert 0.0 <= entry["staff_usd_per_mw_year"] <= 1e6
    assert 0.0 <= entry["power_infrastructure_usd_per_w"] <= 5.0


# --- market --------------------------------------------------------------------------------------


def test_rental_prices_schema_and_references() -> None:
    rentals = load_table("rental_prices")
    accelerator_ids = known_ids(load_table("accelerators"))
    assert len(rentals) >= 20
    for key, entry in rentals.items():
        check_entry("rental_prices", key, entry, RENTAL_FIELDS)
        assert entry["accelerator"].lower() in accelerator_ids, key
        assert entry["kind"] in RENTAL_KINDS, key
        assert 0.0 < entry["usd_per_accelerator_hour"] < 50.0, key
        assert datetime.date(2020, 1, 1) <= iso_date(entry["date"]) <= datetime.date(2027, 1, 1)


def test_rental_prices_against_published_values() -> None:
    rentals = load_table("rental_prices")
    # Epoch's archive of aws.amazon.com (2025-03-17): p5.48xlarge $98.32 / 8 = $12.29 per GPU-hour.
    assert rentals["h100-sxm.aws-on-demand-2025-03"]["usd_per_accelerator_hour"] == pytest.approx(
        98.32 / 8, abs=0.01
    )
    # Commitments are cheaper than on-demand at the same provider and date.
    gcp = [
        rentals[f"h100-sxm.gcp-{term}-2025-03"]["usd_per_accelerator_hour"]
        for term in ("on-demand", "1yr", "3yr")
    ]
    assert gcp[0] > gcp[1] > gcp[2]
    # H100 market levels 2024-2026 stayed within $1.5-4.5 outside hyperscaler list prices.
    h100 = [
        e["usd_per_accelerator_hour"]
        for e in rentals.values()
        if e["accelerator"] == "h100-sxm" and e["kind"] in {"neocloud", "market-index"}
    ]
    assert h100 and all(1.4 <= price <= 6.5 for price in h100)


def test_api_prices_schema_and_references() -> None:
    prices = load_table("api_prices")
    model_ids = known_ids(load_table("models"))
    assert len(prices) >= 10
    for key, entry in prices.items():
        check_entry("api_prices", key, entry, API_FIELDS, API_OPTIONAL)
        assert entry["model"].lower() in model_ids, key
        assert entry["usd_per_mtok_input"] > 0.0 and entry["usd_per_mtok_output"] > 0.0, key
        assert entry["usd_per_mtok_input"] < 50.0 and entry["usd_per_mtok_output"] < 100.0, key
        if "usd_per_mtok_cached_input" in entry:
            assert 0.0 < entry["usd_per_mtok_cached_input"] <= entry["usd_per_mtok_input"], key
        assert datetime.date(2023, 1, 1) <= iso_date(entry["date"]) <= datetime.date(2027, 1, 1)


def test_api_prices_against_published_values() -> None:
    prices = load_table("api_prices")
    # pydantic/genai-prices groq.yml: llama-3.3-70b-versatile $0.59 in / $0.79 out (2025-08-12).
    groq = prices["llama-3.3-70b.groq"]
    assert (groq["usd_per_mtok_input"], groq["usd_per_mtok_output"]) == (0.59, 0.79)
    # A 70B dense model costs more per output token than an 8B one at the same provider.
    assert (
        prices["llama-3.3-70b.groq"]["usd_per_mtok_output"]
        > prices["llama-3.1-8b.groq"]["usd_per_mtok_output"]
    )
