"""Where power comes from: the grid, power-purchase agreements (PPAs), on-site generation.

An :class:`EnergySource` is one entry of ``catalog/energy_sources.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chip2grid.catalog import catalog_names, get_entry
from chip2grid.errors import InvalidParameterError

__all__ = ["SOURCE_KINDS", "EnergySource", "get_energy_source", "list_energy_sources"]

SOURCE_KINDS = ("grid", "ppa", "onsite")

_OWN_FIGURES = (
    "lcoe_usd_per_mwh_low",
    "lcoe_usd_per_mwh_central",
    "lcoe_usd_per_mwh_high",
    "carbon_g_per_kwh",
    "water_l_per_kwh",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergySource:
    """One source of electricity.

    Attributes
    ----------
    kind
        ``grid``, ``ppa`` or ``onsite``.
    uses_region
        True for the grid: price, carbon and water come from the site's :class:`Region`, and
        the LCOE, carbon and water fields are absent (``None``).
    lcoe_usd_per_mwh_low, lcoe_usd_per_mwh_central, lcoe_usd_per_mwh_high
        Levelized cost of electricity, US dollars per MWh.
    carbon_g_per_kwh
        Life-cycle median emissions, gCO2e per kWh generated.
    water_l_per_kwh
        Consumptive water per kWh generated, litres.
    capacity_factor
        Mean output over nameplate, 0..1.
    firm
        Whether it can carry a 24/7 load alone.
    lead_time_years_low, lead_time_years_high
        From decision to power delivered.
    """

    id: str
    name: str
    kind: str
    uses_region: bool
    capacity_factor: float
    firm: bool
    lead_time_years_low: float
    lead_time_years_high: float
    source: str
    lcoe_usd_per_mwh_low: float | None = None
    lcoe_usd_per_mwh_central: float | None = None
    lcoe_usd_per_mwh_high: float | None = None
    lcoe_year: int | None = None
    carbon_g_per_kwh: float | None = None
    water_l_per_kwh: float | None = None
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"in energy source {self.id!r}"
        if self.kind not in SOURCE_KINDS:
            raise InvalidParameterError("kind", self.kind, f"one of {', '.join(SOURCE_KINDS)}")
        for name in _OWN_FIGURES:
            value = getattr(self, name)
            if value is None:
                if not self.uses_region:
                    raise InvalidParameterError(
                        name, None, "a number >= 0 (required unless uses_region)", where
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameterError(name, value, "a number >= 0", where)
            if not (value >= 0 and math.isfinite(value)):
                raise InvalidParameterError(name, value, "a finite number >= 0", where)
        low, central, high = (
            self.lcoe_usd_per_mwh_low,
            self.lcoe_usd_per_mwh_central,
            self.lcoe_usd_per_mwh_high,
        )
        if (
            low is not None
            and central is not None
            and high is not None
            and not low <= central <= high
        ):
            raise InvalidParameterError(
                "lcoe_usd_per_mwh_central",
                central,
                f"between lcoe_usd_per_mwh_low ({low}) and lcoe_usd_per_mwh_high ({high})",
                where,
            )
        if not 0 < self.capacity_factor <= 1:
            raise InvalidParameterError(
                "capacity_factor", self.capacity_factor, "a fraction in (0, 1]", where
            )
        if not 0 <= self.lead_time_years_low <= self.lead_time_years_high:
            raise InvalidParameterError(
                "lead_time_years_low",
                self.lead_time_years_low,
                f"a number in [0, lead_time_years_high ({self.lead_time_years_high})]",
                where,
            )


def get_energy_source(name: str) -> EnergySource:
    """Return a catalog energy source by id or alias.

    Raises
    ------
    UnknownEntryError
        If no source has that id (kind ``"energy-source"``); lists the closest ids.
    """
    return get_entry(EnergySource, "energy_sources", "energy-source", name)


def list_energy_sources() -> list[str]:
    """Ids of all catalog energy sources, sorted."""
    return catalog_names("energy_sources")
