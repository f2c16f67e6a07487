"""The best configuration under SLOs and constraints, and fleets under power caps."""

from __future__ import annotations

from chip2grid.plan.planner import Plan, PlanOption, closest_to_feasible, plan
from chip2grid.plan.screen import PlanRequest, Screened, pareto_mask, screen

__all__ = [
    "Plan",
    "PlanOption",
    "PlanRequest",
    "Screened",
    "closest_to_feasible",
    "pareto_mask",
    "plan",
    "screen",
]
