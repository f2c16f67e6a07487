"""Where a site stands: electricity price, grid carbon and water, climate, build costs.

A :class:`Region` is one entry of ``catalog/regions.toml`` (schema in
``docs/facility-catalogs.md``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from chip2grid.catalog import catalog_names, get_entry
from chip2grid.errors import InvalidParameterError, require_finite_non_negative
from chip2grid.facility.climate import (
    CLIMATE_RESOLUTIONS,
    DAYS_PER_MONTH,
    HourlyClimate,
    hourly_temperatures_c,
    read_hourly_climate_csv,
    seasonal_curve,
    vapour_pressure_pa,
    wet_bulb_c,
    wet_bulb_diurnal_range_c,
)

__all__ = [
    "DAYS_PER_MONTH",
    "Region",
    "get_region",
    "list_regions",
    "region_hourly_climate",
    "with_climate",
]

MAX_DIURNAL_RANGE_C = 30.0
"""Largest mean daily range accepted (deserts reach about 20 °C; 30 °C leaves margin)."""

_NON_NEGATIVE = (
    "electricity_price_usd_per_kwh",
    "grid_carbon_g_per_kwh",
    "grid_water_l_per_kwh",
    "colocation_usd_per_kw_month",
    "facility_capex_usd_per_w",
    "grid_connection_lead_time_years",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """A region a site can stand in. Prices in US dollars, intensities per kWh delivered.

    Attributes
    ----------
    electricity_price_usd_per_kwh
        Industrial or large-commercial average price including delivery, excluding VAT.
    grid_carbon_g_per_kwh
        Average location-based operational carbon intensity of the grid (gCO2e/kWh).
    grid_water_l_per_kwh
        Water consumed in generating one kWh of the grid's mix (litres).
    monthly_mean_temperature_c, monthly_mean_wet_bulb_c
        Mean dry-bulb and wet-bulb temperatures per month, January first.
    monthly_mean_diurnal_range_c
        Mean daily range of the dry bulb per month (mean daily maximum minus mean daily
        minimum), January first; with the means it builds the hourly year
        (:func:`region_hourly_climate`).
    colocation_usd_per_kw_month
        Wholesale colocation rate per kW of critical IT power.
    facility_capex_usd_per_w
        Construction cost per W of critical IT power (shell, power and cooling plant).
    grid_connection_lead_time_years
        Typical wait to connect a large new load.
    climate_resolution
        ``"hourly"`` (default): annual PUE and WUE average 8,760 hours; ``"monthly"``: they
        average the 12 monthly means (the hot hours are then understated).
    hourly_climate
        A site's own year of hourly temperatures (e.g. from :func:`with_climate`), used
        instead of the hours built from the monthly normals.
    """

    id: str
    name: str
    country: str
    grid_operator: str
    electricity_price_usd_per_kwh: float
    electricity_price_year: int
    grid_carbon_g_per_kwh: float
    grid_carbon_year: int
    grid_water_l_per_kwh: float
    monthly_mean_temperature_c: tuple[float, ...]
    monthly_mean_wet_bulb_c: tuple[float, ...]
    monthly_mean_diurnal_range_c: tuple[float, ...]
    colocation_usd_per_kw_month: float
    facility_capex_usd_per_w: float
    grid_connection_lead_time_years: float
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)
    climate_resolution: str = "hourly"
    hourly_climate: HourlyClimate | None = None

    def __post_init__(self) -> None:
        require_finite_non_negative(self, _NON_NEGATIVE, f"in region {self.id!r}")
        for name in (
            "monthly_mean_temperature_c",
            "monthly_mean_wet_bulb_c",
            "monthly_mean_diurnal_range_c",
        ):
            months = getattr(self, name)
            if len(months) != 12 or not all(math.isfinite(m) for m in months):
                raise InvalidParameterError(
                    name,
                    months,
                    "12 finite monthly values, January first",
                    f"in region {self.id!r}",
                )
        for month, spread in enumerate(self.monthly_mean_diurnal_range_c, start=1):
            if not 0.0 <= spread <= MAX_DIURNAL_RANGE_C:
                raise InvalidParameterError(
                    "monthly_mean_diurnal_range_c",
                    spread,
                    f"a daily range in [0, {MAX_DIURNAL_RANGE_C:g}] °C",
                    f"month {month} of region {self.id!r}",
                )
        if self.climate_resolution not in CLIMATE_RESOLUTIONS:
            raise InvalidParameterError(
                "climate_resolution",
                self.climate_resolution,
                " or ".join(repr(r) for r in CLIMATE_RESOLUTIONS),
                f"in region {self.id!r}",
            )
        for month, (dry, wet) in enumerate(
            zip(self.monthly_mean_temperature_c, self.monthly_mean_wet_bulb_c, strict=True),
            start=1,
        ):
            if wet > dry + 0.05:  # the wet bulb never exceeds the dry bulb
                raise InvalidParameterError(
                    "monthly_mean_wet_bulb_c",
                    wet,
                    f"at most the dry bulb of that month ({dry} °C)",
                    f"month {month} of region {self.id!r}",
                )


def get_region(name: str) -> Region:
    """Return a catalog region by id or alias (case-insensitive).

    Raises
    ------
    UnknownEntryError
        If no region has that id; the message lists the closest ids.
    """
    return get_entry(Region, "regions", "region", name)


def list_regions() -> list[str]:
    """Ids of all catalog regions, sorted."""
    return catalog_names("regions")


def with_climate(
    region: Region,
    *,
    climate_file: str | Path | None = None,
    climate_resolution: str | None = None,
) -> Region:
    """``region`` with a site's own hourly climate file and/or another climate resolution.

    Parameters
    ----------
    climate_file
        CSV of 8,760 hourly temperatures (see :func:`read_hourly_climate_csv`); ``None``
        keeps the region's hours.
    climate_resolution
        ``"hourly"`` or ``"monthly"``; ``None`` keeps the region's.

    Raises
    ------
    InvalidParameterError
        Field ``climate_file``, ``temperature_c`` or ``wet_bulb_c`` for a bad file (the
        message names the row); ``climate_resolution`` for an unknown resolution.
    """
    changes: dict[str, object] = {}
    if climate_file is not None:
        changes["hourly_climate"] = read_hourly_climate_csv(climate_file)
    if climate_resolution is not None:
        changes["climate_resolution"] = climate_resolution
    return replace(region, **changes) if changes else region  # type: ignore[arg-type]


def climate_key(region: Region) -> tuple[object, ...]:
    """The fields of ``region`` its climate depends on: a cache key that other changes (a
    price swept over) leave alone."""
    return (
        region.id,
        region.monthly_mean_temperature_c,
        region.monthly_mean_wet_bulb_c,
        region.monthly_mean_diurnal_range_c,
        region.hourly_climate,
        region.climate_resolution,
    )


def region_hourly_climate(region: Region) -> HourlyClimate:
    """The 8,760-hour dry and wet bulbs of ``region``.

    The site's own file (``region.hourly_climate``) when it has one, else hours built from the
    monthly normals: the dry bulb by :func:`~chip2grid.facility.climate.hourly_temperatures_c`
    from the monthly means and daily ranges; the wet bulb the same way from its monthly means
    and the daily range of :func:`~chip2grid.facility.climate.wet_bulb_diurnal_range_c`,
    capped at the dry bulb of each hour. A file without a wet-bulb column gets one from its
    dry bulbs and the region's seasonal vapour pressure (the monthly mean vapour pressure of
    the normals, interpolated across the year and held over each day).

    Cached on the fields it depends on (:func:`climate_key`), so a region that differs only
    in, say, its electricity price reuses the hours.
    """
    return _hourly_climate(
        region.id,
        region.monthly_mean_temperature_c,
        region.monthly_mean_wet_bulb_c,
        region.monthly_mean_diurnal_range_c,
        region.hourly_climate,
    )


@functools.lru_cache(maxsize=128)
def _hourly_climate(
    region_id: str,
    monthly_dry_c: tuple[float, ...],
    monthly_wet_c: tuple[float, ...],
    monthly_range_c: tuple[float, ...],
    own: HourlyClimate | None,
) -> HourlyClimate:
    dry_months = np.asarray(monthly_dry_c)
    wet_months = np.minimum(np.asarray(monthly_wet_c), dry_months)
    if own is not None:
        if own.wet_bulb_c is not None:
            return own
        vapour = seasonal_curve(vapour_pressure_pa(dry_months, wet_months))
        return HourlyClimate(
            temperature_c=own.temperature_c,
            wet_bulb_c=wet_bulb_c(own.temperature_c, vapour),
            source=f"{own.source}; wet bulb derived from region {region_id!r}",
        )
    ranges = np.asarray(monthly_range_c)
    dry = hourly_temperatures_c(dry_months, ranges)
    wet = hourly_temperatures_c(
        wet_months, wet_bulb_diurnal_range_c(dry_months, wet_months, ranges)
    )
    return HourlyClimate(
        temperature_c=dry,
        wet_bulb_c=np.minimum(wet, dry),
        source=f"region {region_id!r}: monthly normals and mean daily ranges",
    )
