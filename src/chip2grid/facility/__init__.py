"""What the building allows: servers, racks, power density, cooling and PUE versus load and
climate, site power, water.

Three levels, as elsewhere in chip2grid: pure functions on floats or arrays (:func:`pue`,
:func:`wue_l_per_kwh`, :func:`annual_pue`, :func:`hourly_temperatures_c`,
:func:`node_power_w`); frozen objects built from
the catalogs (:class:`Region`, :class:`Cooling`, :class:`Platform`, :class:`Site`); and the
planners :func:`plan_racks` and :func:`site_capacity`.
"""

from __future__ import annotations

from chip2grid.facility.climate import (
    CLIMATE_RESOLUTIONS,
    HOURS_PER_YEAR,
    HourlyClimate,
    hourly_temperatures_c,
    read_hourly_climate_csv,
    wet_bulb_diurnal_range_c,
)
from chip2grid.facility.cooling import (
    HEAT_PATHS,
    Cooling,
    annual_pue,
    annual_wue_l_per_kwh,
    climate_temperatures_c,
    get_cooling,
    hourly_temperatures_for,
    list_coolings,
    monthly_temperatures_c,
    pue,
    wue_l_per_kwh,
)
from chip2grid.facility.platform import (
    Platform,
    accelerators_with_platform,
    default_platform_for,
    get_platform,
    list_platforms,
    node_power_w,
)
from chip2grid.facility.rack import (
    RackLayout,
    RackPlan,
    compatible_coolings,
    default_cooling_for,
    plan_racks,
    rack_layout,
)
from chip2grid.facility.region import (
    DAYS_PER_MONTH,
    Region,
    get_region,
    list_regions,
    region_hourly_climate,
    with_climate,
)
from chip2grid.facility.site import DEFAULT_DESIGN_IT_LOAD_FRAC, Site, SiteCapacity, site_capacity

__all__ = [
    "CLIMATE_RESOLUTIONS",
    "DAYS_PER_MONTH",
    "DEFAULT_DESIGN_IT_LOAD_FRAC",
    "HEAT_PATHS",
    "HOURS_PER_YEAR",
    "Cooling",
    "HourlyClimate",
    "Platform",
    "RackLayout",
    "RackPlan",
    "Region",
    "Site",
    "SiteCapacity",
    "accelerators_with_platform",
    "annual_pue",
    "annual_wue_l_per_kwh",
    "climate_temperatures_c",
    "compatible_coolings",
    "default_cooling_for",
    "default_platform_for",
    "get_cooling",
    "get_platform",
    "get_region",
    "hourly_temperatures_c",
    "hourly_temperatures_for",
    "list_coolings",
    "list_platforms",
    "list_regions",
    "monthly_temperatures_c",
    "node_power_w",
    "plan_racks",
    "pue",
    "rack_layout",
    "read_hourly_climate_csv",
    "region_hourly_climate",
    "site_capacity",
    "wet_bulb_diurnal_range_c",
    "with_climate",
    "wue_l_per_kwh",
]
