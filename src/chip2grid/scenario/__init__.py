"""The scenario file: one pydantic schema that every interface uses, and its evaluation.

>>> from chip2grid.scenario import load_scenario, evaluate
>>> result = evaluate(load_scenario("default"), simulate=False)  # doctest: +SKIP
"""

from __future__ import annotations

from chip2grid.scenario.compare import compare_metrics, flatten_fields
from chip2grid.scenario.evaluate import (
    PACKAGED_TRACES,
    ScenarioResult,
    evaluate,
    scenario_deployment,
    scenario_finance,
    scenario_trace,
)
from chip2grid.scenario.load import (
    ScenarioError,
    apply_overrides,
    builtin_scenario_text,
    deep_merge,
    default_scenario,
    get_model_or_config,
    list_scenarios,
    load_scenario,
    scenario_fields,
    scenario_from_dict,
    scenario_region,
)
from chip2grid.scenario.schema import (
    BudgetSpec,
    BuildoutPhase,
    DeploymentSpec,
    EnergySpec,
    FinanceSpec,
    Scenario,
    ServingSpec,
    SiteSpec,
    SLOSpec,
    SyntheticLoad,
    WorkloadSpec,
    scenario_json_schema,
)
from chip2grid.scenario.site_plan import SiteYear, site_buildout

__all__ = [
    "PACKAGED_TRACES",
    "BudgetSpec",
    "BuildoutPhase",
    "DeploymentSpec",
    "EnergySpec",
    "FinanceSpec",
    "SLOSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ServingSpec",
    "SiteSpec",
    "SiteYear",
    "SyntheticLoad",
    "WorkloadSpec",
    "apply_overrides",
    "builtin_scenario_text",
    "compare_metrics",
    "deep_merge",
    "default_scenario",
    "evaluate",
    "flatten_fields",
    "get_model_or_config",
    "list_scenarios",
    "load_scenario",
    "scenario_deployment",
    "scenario_fields",
    "scenario_finance",
    "scenario_from_dict",
    "scenario_json_schema",
    "scenario_region",
    "scenario_trace",
    "site_buildout",
]
