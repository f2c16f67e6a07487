"""What it all costs: finance, capex and opex, cost per million tokens, the energy, carbon and
water per token, the embodied (manufacturing) carbon per token, market prices to compare with,
and Monte Carlo uncertainty."""

from __future__ import annotations

from chip2grid.economics.cost import HOURS_PER_YEAR, CostBreakdown, cost_breakdown
from chip2grid.economics.deployment import (
    DEFAULT_UNCERTAINTY,
    DeploymentCost,
    ServiceLoad,
    cost_uncertainty,
    deployment_cost,
    load_from_estimate,
    load_from_simulation,
)
from chip2grid.economics.embodied import FleetEmbodied, fleet_embodied
from chip2grid.economics.finance import Finance, annuity_factor, default_finance
from chip2grid.economics.market import (
    RENTAL_KINDS,
    ApiPrice,
    MarketComparison,
    RentalPrice,
    api_prices,
    market_comparison,
    rental_prices,
)
from chip2grid.economics.uncertainty import (
    DISTRIBUTION_KINDS,
    Distribution,
    Fixed,
    LogNormal,
    MonteCarloResult,
    Normal,
    Summary,
    Triangular,
    Uniform,
    monte_carlo,
    parse_distribution,
    sample,
)

__all__ = [
    "DEFAULT_UNCERTAINTY",
    "DISTRIBUTION_KINDS",
    "HOURS_PER_YEAR",
    "RENTAL_KINDS",
    "ApiPrice",
    "CostBreakdown",
    "DeploymentCost",
    "Distribution",
    "Finance",
    "Fixed",
    "FleetEmbodied",
    "LogNormal",
    "MarketComparison",
    "MonteCarloResult",
    "Normal",
    "RentalPrice",
    "ServiceLoad",
    "Summary",
    "Triangular",
    "Uniform",
    "annuity_factor",
    "api_prices",
    "cost_breakdown",
    "cost_uncertainty",
    "default_finance",
    "deployment_cost",
    "fleet_embodied",
    "load_from_estimate",
    "load_from_simulation",
    "market_comparison",
    "monte_carlo",
    "parse_distribution",
    "rental_prices",
    "sample",
]
