"""The industry, year by year: supply layers against training and inference demand.

>>> from chip2grid.industry import load_industry_scenario, run_industry
>>> result = run_industry(load_industry_scenario("baseline"))
>>> [span.layer for span in result.cascade()][:1]
['packaging']
"""

from __future__ import annotations

from chip2grid.industry.layers import (
    ANALYST_LAYERS,
    DEMAND_LAYER_ID,
    DEPLOYMENT_LAYER_IDS,
    INDUSTRY_LAYER_IDS,
    SUPPLY_LAYER_IDS,
    StackLayer,
    get_stack_layer,
    list_stack_layers,
)
from chip2grid.industry.model import BindingSpan, IndustryResult, IndustryYear, run_industry
from chip2grid.industry.scenario import (
    Economics,
    Grid,
    HardwareTrend,
    IndustryDemand,
    IndustryScenario,
    SupplyLayer,
    relax_layer,
    with_parameter,
)
from chip2grid.industry.schema import list_industry_scenarios, load_industry_scenario
from chip2grid.industry.sensitivity import (
    BindingThreshold,
    IndustrySensitivity,
    binding_thresholds,
    first_binding_year,
    industry_sensitivity,
    sensitivity_parameters,
)

__all__ = [
    "ANALYST_LAYERS",
    "DEMAND_LAYER_ID",
    "DEPLOYMENT_LAYER_IDS",
    "INDUSTRY_LAYER_IDS",
    "SUPPLY_LAYER_IDS",
    "BindingSpan",
    "BindingThreshold",
    "Economics",
    "Grid",
    "HardwareTrend",
    "IndustryDemand",
    "IndustryResult",
    "IndustryScenario",
    "IndustrySensitivity",
    "IndustryYear",
    "StackLayer",
    "SupplyLayer",
    "binding_thresholds",
    "first_binding_year",
    "get_stack_layer",
    "industry_sensitivity",
    "list_industry_scenarios",
    "list_stack_layers",
    "load_industry_scenario",
    "relax_layer",
    "run_industry",
    "sensitivity_parameters",
    "with_parameter",
]
