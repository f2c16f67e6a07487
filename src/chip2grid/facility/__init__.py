"""What the building allows: servers, racks, power density, cooling and PUE versus load and
climate, site power, water.

Three levels, as elsewhere in chip2grid: pure functions on floats or arrays (:func:`pue`,
:func:`wue_l_per_kwh`, :func:`annual_pue`, :func:`node_power_w`); frozen objects built from
the catalogs (:class:`Region`, :class:`Cooling`, :class:`Platform`, :class:`Site`); and the
planners :func:`plan_racks` and :func:`site_capacity`.
"""

from __future__ import annotations

from chip2grid.facility.cooling import (
    Cooling,
    annual_pue,
    annual_wue_l_per_kwh,
    get_cooling,
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
from chip2grid.facility.rack import RackPlan, plan_racks
from chip2grid.facility.region import DAYS_PER_MONTH, Region, get_region, list_regions
from chip2grid.facility.site import DEFAULT_DESIGN_IT_LOAD_FRAC, Site, SiteCapacity, site_capacity

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_DESIGN_IT_LOAD_FRAC",
    "Cooling",
    "Platform",
    "RackPlan",
    "Region",
    "Site",
    "SiteCapacity",
    "accelerators_with_platform",
    "annual_pue",
    "annual_wue_l_per_kwh",
    "default_platform_for",
    "get_cooling",
    "get_platform",
    "get_region",
    "list_coolings",
    "list_platforms",
    "list_regions",
    "monthly_temperatures_c",
    "node_power_w",
    "plan_racks",
    "pue",
    "site_capacity",
    "wue_l_per_kwh",
]
