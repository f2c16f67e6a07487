"""What power costs and emits: a supply is a mix of sources with shares of the energy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chip2grid.energy.source import EnergySource, get_energy_source
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import Region
from chip2grid.units import KILO

__all__ = [
    "EnergySupply",
    "energy_supply",
    "source_price_usd_per_kwh",
    "supply_carbon_g_per_kwh",
    "supply_lead_time_years",
    "supply_price_usd_per_kwh",
    "supply_water_l_per_kwh",
]

SHARE_TOLERANCE = 1e-6
"""How far the shares may sum from 1 (rounding in a scenario file)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergySupply:
    """A mix of energy sources; ``shares_frac[i]`` of the energy comes from ``sources[i]``.

    The shares are of annual energy (a PPA matched on an annual basis), not of every hour.
    """

    sources: tuple[EnergySource, ...]
    shares_frac: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.sources:
            raise InvalidParameterError("sources", self.sources, "at least one energy source")
        if len(self.sources) != len(self.shares_frac):
            raise InvalidParameterError(
                "shares_frac",
                self.shares_frac,
                f"one share per source ({len(self.sources)})",
            )
        ids = [s.id for s in self.sources]
        if len(set(ids)) != len(ids):
            raise InvalidParameterError("sources", ids, "each source at most once")
        for source, share in zip(self.sources, self.shares_frac, strict=True):
            if not (share >= 0 and math.isfinite(share)):
                raise InvalidParameterError(
                    "shares_frac", share, "fractions >= 0", f"share of {source.id!r}"
                )
        total = math.fsum(self.shares_frac)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise InvalidParameterError(
                "shares_frac",
                self.shares_frac,
                "fractions that sum to 1",
                f"they sum to {total:g}",
            )

    @classmethod
    def single(cls, source: EnergySource) -> EnergySupply:
        """All energy from one source."""
        return cls(sources=(source,), shares_frac=(1.0,))


def energy_supply(shares: Mapping[str, float] | str = "grid") -> EnergySupply:
    """Build a supply from catalog ids: ``energy_supply({"grid": 0.4, "solar-ppa": 0.6})``.

    A single id means all energy from that source.
    """
    if isinstance(shares, str):
        return EnergySupply.single(get_energy_source(shares))
    return EnergySupply(
        sources=tuple(get_energy_source(name) for name in shares),
        shares_frac=tuple(float(v) for v in shares.values()),
    )


def source_price_usd_per_kwh(source: EnergySource, region: Region) -> float:
    """Price of one kWh from ``source`` delivered in ``region``.

    The grid charges the region's price; other sources cost their central LCOE
    (:math:`\\$/kWh = LCOE_{central} / 1000`), which leaves out transmission and firming.
    """
    if source.uses_region or source.lcoe_usd_per_mwh_central is None:
        return region.electricity_price_usd_per_kwh
    return source.lcoe_usd_per_mwh_central / KILO


def _carbon(source: EnergySource, region: Region) -> float:
    if source.uses_region or source.carbon_g_per_kwh is None:
        return region.grid_carbon_g_per_kwh
    return source.carbon_g_per_kwh


def _water(source: EnergySource, region: Region) -> float:
    if source.uses_region or source.water_l_per_kwh is None:
        return region.grid_water_l_per_kwh
    return source.water_l_per_kwh


def _mix(supply: EnergySupply, values: list[float]) -> float:
    return math.fsum(share * v for share, v in zip(supply.shares_frac, values, strict=True))


def supply_price_usd_per_kwh(supply: EnergySupply, region: Region) -> float:
    """Share-weighted price of the supply in ``region``, US dollars per kWh.

    Notes
    -----
    .. math::  p = \\sum_i s_i \\, p_i

    with :math:`p_i` the region's retail price for the grid and :math:`LCOE_i / 1000` for
    other sources (Lazard's LCOE+ [1]_ for the central figures).

    References
    ----------
    .. [1] Lazard, "Levelized Cost of Energy+", June 2025, https://www.lazard.com/research-insights/.
    """
    return _mix(supply, [source_price_usd_per_kwh(s, region) for s in supply.sources])


def supply_carbon_g_per_kwh(supply: EnergySupply, region: Region) -> float:
    """Share-weighted carbon intensity, gCO2e per kWh at the meter.

    Notes
    -----
    :math:`c = \\sum_i s_i c_i`, the grid at the region's average location-based intensity
    (GHG Protocol Scope 2 guidance [1]_), other sources at their life-cycle medians (IPCC AR5
    WGIII Annex III [2]_). Annual matching: hourly mismatch between a PPA and the load is
    not modelled.

    References
    ----------
    .. [1] World Resources Institute, "GHG Protocol Scope 2 Guidance" (2015).
    .. [2] S. Schlömer et al., "Annex III: Technology-specific cost and performance
       parameters", in IPCC AR5 WGIII (2014), table A.III.2.
    """
    return _mix(supply, [_carbon(s, region) for s in supply.sources])


def supply_water_l_per_kwh(supply: EnergySupply, region: Region) -> float:
    """Share-weighted water consumed in generation, litres per kWh at the meter.

    Notes
    -----
    :math:`w = \\sum_i s_i w_i`, with consumptive water factors per technology of Macknick
    et al. [1]_ (the grid at the region's figure).

    References
    ----------
    .. [1] J. Macknick et al., "Operational water consumption and withdrawal factors for
       electricity generating technologies", Environ. Res. Lett. 7 (2012) 045802,
       doi:10.1088/1748-9326/7/4/045802.
    """
    return _mix(supply, [_water(s, region) for s in supply.sources])


def supply_lead_time_years(
    supply: EnergySupply,
    region: Region,
    which: Literal["low", "central", "high"] = "central",
) -> float:
    """Years until every source with a share > 0 delivers: the slowest one binds.

    The grid waits ``region.grid_connection_lead_time_years``; other sources take their
    ``lead_time_years_low``, ``_high`` or the midpoint of the two (``which="central"``).
    """
    if which not in ("low", "central", "high"):
        raise InvalidParameterError("which", which, "low, central or high")
    years = []
    for source, share in zip(supply.sources, supply.shares_frac, strict=True):
        if share <= 0:
            continue
        if source.uses_region:
            years.append(region.grid_connection_lead_time_years)
        elif which == "low":
            years.append(source.lead_time_years_low)
        elif which == "high":
            years.append(source.lead_time_years_high)
        else:
            years.append(0.5 * (source.lead_time_years_low + source.lead_time_years_high))
    return max(years)
