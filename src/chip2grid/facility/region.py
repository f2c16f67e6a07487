"""Where a site stands: electricity price, grid carbon and water, climate, build costs.

A :class:`Region` is one entry of ``catalog/regions.toml`` (schema in
``docs/facility-catalogs.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chip2grid.catalog import catalog_names, get_entry
from chip2grid.errors import InvalidParameterError, require_finite_non_negative

__all__ = ["DAYS_PER_MONTH", "Region", "get_region", "list_regions"]

DAYS_PER_MONTH: tuple[int, ...] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days of each month of a common (non-leap) year, January first."""

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
    colocation_usd_per_kw_month
        Wholesale colocation rate per kW of critical IT power.
    facility_capex_usd_per_w
        Construction cost per W of critical IT power (shell, power and cooling plant).
    grid_connection_lead_time_years
        Typical wait to connect a large new load.
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
    colocation_usd_per_kw_month: float
    facility_capex_usd_per_w: float
    grid_connection_lead_time_years: float
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        require_finite_non_negative(self, _NON_NEGATIVE, f"in region {self.id!r}")
        for name in ("monthly_mean_temperature_c", "monthly_mean_wet_bulb_c"):
            months = getattr(self, name)
            if len(months) != 12:
                raise InvalidParameterError(
                    name, months, "12 monthly values, January first", f"in region {self.id!r}"
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
