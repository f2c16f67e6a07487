"""The best configuration under SLOs and constraints, and fleets under power caps."""

from __future__ import annotations

from chip2grid.plan.fleet import (
    DemandForecast,
    FleetConstraint,
    FleetLine,
    FleetOffer,
    FleetPlan,
    FleetSite,
    FleetYear,
    SitePower,
    SloCapacity,
    growing_demand,
    load_sites,
    plan_fleet,
    plan_fleet_offers,
    slo_capacity,
)
from chip2grid.plan.planner import Plan, PlanOption, closest_to_feasible, plan
from chip2grid.plan.screen import PlanRequest, Screened, pareto_mask, screen

__all__ = [
    "DemandForecast",
    "FleetConstraint",
    "FleetLine",
    "FleetOffer",
    "FleetPlan",
    "FleetSite",
    "FleetYear",
    "Plan",
    "PlanOption",
    "PlanRequest",
    "Screened",
    "SitePower",
    "SloCapacity",
    "closest_to_feasible",
    "growing_demand",
    "load_sites",
    "pareto_mask",
    "plan",
    "plan_fleet",
    "plan_fleet_offers",
    "screen",
    "slo_capacity",
]
