"""What power costs and emits: energy sources, a site's supply mix, its price, carbon
intensity, water and lead time."""

from __future__ import annotations

from chip2grid.energy.source import (
    SOURCE_KINDS,
    EnergySource,
    get_energy_source,
    list_energy_sources,
)
from chip2grid.energy.supply import (
    EnergySupply,
    energy_supply,
    source_price_usd_per_kwh,
    supply_carbon_g_per_kwh,
    supply_lead_time_years,
    supply_price_usd_per_kwh,
    supply_water_l_per_kwh,
)

__all__ = [
    "SOURCE_KINDS",
    "EnergySource",
    "EnergySupply",
    "energy_supply",
    "get_energy_source",
    "list_energy_sources",
    "source_price_usd_per_kwh",
    "supply_carbon_g_per_kwh",
    "supply_lead_time_years",
    "supply_price_usd_per_kwh",
    "supply_water_l_per_kwh",
]
