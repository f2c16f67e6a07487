"""Industry scenario files: the pydantic schema, ``extends``, and the built-in scenarios.

A file (TOML, or YAML when it ends in ``.yaml``/``.yml``) has top-level ``name``,
``start_year``, ``end_year`` and tables ``[layers.<id>]``, ``[hardware]``, ``[demand]``,
``[economics]``, ``[grid]``; every table carries a ``source`` and ``estimate = true`` where its
figures are estimates. ``extends = "baseline"`` starts from a built-in scenario and overrides only
the fields given. Errors name the field: ``layers.packaging.lead_time_years: got -1; allowed ...``.
"""

from __future__ import annotations

import functools
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.industry.layers import SUPPLY_LAYER_IDS
from chip2grid.industry.scenario import (
    Economics,
    Grid,
    HardwareTrend,
    IndustryDemand,
    IndustryScenario,
    SupplyLayer,
)

__all__ = [
    "IndustryScenarioFile",
    "list_industry_scenarios",
    "load_industry_scenario",
    "parse_industry_scenario",
]

_SCENARIO_DIR = "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sourced(_Strict):
    source: str = Field(min_length=1, description="URL or document and date of the figures")
    estimate: bool = False
    notes: str = ""


class LayerFile(_Sourced):
    """``[layers.<id>]``: see :class:`~chip2grid.industry.scenario.SupplyLayer`."""

    capacity: float
    unit: str = ""
    growth_rate_per_year: float = 0.0
    max_expansion_rate_per_year: float = 0.0
    lead_time_years: int = 1
    units_per_accelerator: float | None = None
    units_per_accelerator_growth_per_year: float = 0.0


class HardwareFile(_Sourced):
    """``[hardware]``: see :class:`~chip2grid.industry.scenario.HardwareTrend`."""

    flop_per_s_per_accelerator: float
    flop_per_s_growth_per_year: float
    capex_usd_per_accelerator: float
    flop_per_s_per_usd_growth_per_year: float
    power_w_per_accelerator: float
    flop_per_s_per_w_growth_per_year: float
    facility_capex_usd_per_w: float
    pue: float
    lifetime_years: int
    liquid_cooled_frac: float
    liquid_cooled_frac_increase_per_year: float
    initial_installed_accelerators: float


class DemandFile(_Sourced):
    """``[demand]``: see :class:`~chip2grid.industry.scenario.IndustryDemand`."""

    training_compute_flop_per_year: float
    training_compute_growth_per_year: float
    training_utilization_frac: float
    inference_tokens_per_year: float
    inference_adoption_growth_per_year: float
    price_elasticity: float
    flop_per_token: float
    flop_per_token_growth_per_year: float
    software_efficiency_gain_per_year: float
    inference_utilization_frac: float
    growth_slowdown_frac_per_year: float = 0.0


class EconomicsFile(_Sourced):
    """``[economics]``: see :class:`~chip2grid.industry.scenario.Economics`."""

    electricity_usd_per_kwh: float
    price_markup_frac: float
    capex_to_revenue_ratio: float
    initial_revenue_usd_per_year: float


class GridFile(_Sourced):
    """``[grid]``: see :class:`~chip2grid.industry.scenario.Grid`."""

    region: str
    electricity_twh_per_year: float
    electricity_growth_per_year: float
    region_share_of_fleet_frac: float
    load_factor_frac: float


class IndustryScenarioFile(_Strict):
    """The whole file, after ``extends`` is resolved."""

    name: str
    description: str = ""
    source: str = ""
    notes: list[str] = Field(default_factory=list)
    start_year: int
    end_year: int
    utilization_threshold_frac: float = 0.9
    layers: dict[str, LayerFile]
    hardware: HardwareFile
    demand: DemandFile
    economics: EconomicsFile
    grid: GridFile


def _field_names(loc: tuple[int | str, ...]) -> list[str]:
    """The fields allowed in the table at ``loc`` (for an error message)."""
    model: Any = IndustryScenarioFile
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            if typing.get_origin(model) is dict:
                model = typing.get_args(model)[1]
                continue
            return []
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        model = info.annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _invalid(exc: ValidationError, where: str) -> InvalidParameterError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    name = ".".join(str(p) for p in loc) or "scenario"
    if err["type"] == "extra_forbidden":
        allowed = "one of " + ", ".join(_field_names(loc)) if _field_names(loc) else "no such field"
        return InvalidParameterError(name, err.get("input"), allowed, f"unknown field in {where}")
    if err["type"] == "missing":
        return InvalidParameterError(name, None, "a value (the field is required)", f"in {where}")
    return InvalidParameterError(name, err.get("input"), err["msg"], f"in {where}")


def parse_industry_scenario(data: dict[str, Any], *, where: str = "scenario") -> IndustryScenario:
    """Validate a scenario mapping (``extends`` already resolved) and build the scenario."""
    try:
        model = IndustryScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, where) from None
    for layer_id in model.layers:
        if layer_id not in SUPPLY_LAYER_IDS:
            raise UnknownEntryError("industry layer", layer_id, SUPPLY_LAYER_IDS)
    layers = tuple(
        SupplyLayer(
            id=layer_id,
            **model.layers[layer_id].model_dump(exclude={"notes"}),
        )
        for layer_id in SUPPLY_LAYER_IDS
        if layer_id in model.layers
    )
    return IndustryScenario(
        name=model.name,
        description=model.description,
        start_year=model.start_year,
        end_year=model.end_year,
        utilization_threshold_frac=model.utilization_threshold_frac,
        layers=layers,
        hardware=HardwareTrend(**model.hardware.model_dump(exclude={"notes"})),
        demand=IndustryDemand(**model.demand.model_dump(exclude={"notes"})),
        economics=Economics(**model.economics.model_dump(exclude={"notes"})),
        grid=Grid(**model.grid.model_dump(exclude={"notes"})),
        notes=tuple(model.notes),
    )


def list_industry_scenarios() -> list[str]:
    """The names of the built-in industry scenarios."""
    folder = resources.files(__package__).joinpath(_SCENARIO_DIR)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


@functools.cache
def _builtin_raw(name: str) -> dict[str, Any]:
    ref = resources.files(__package__).joinpath(_SCENARIO_DIR, f"{name}.toml")
    try:
        return tomllib.loads(ref.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"{name}.toml", "", "valid TOML", str(exc)) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameterError(
            "scenario", str(path), "a readable file", exc.strerror or ""
        ) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidParameterError(
                "scenario", str(path), "valid YAML", " ".join(str(exc).split())
            ) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParameterError("scenario", str(path), "valid TOML", str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidParameterError("scenario", str(path), "a table of fields at the top level")
    data.setdefault("name", path.stem)
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(data: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    parent = data.get("extends")
    data = {k: v for k, v in data.items() if k != "extends"}
    if parent is None:
        return data
    if not isinstance(parent, str) or parent not in list_industry_scenarios():
        raise UnknownEntryError("industry scenario", str(parent), list_industry_scenarios())
    if parent in seen:
        raise InvalidParameterError("extends", parent, "a scenario that does not extend itself")
    layers = data.get("layers", {})
    base = _resolve(_builtin_raw(parent), (*seen, parent))
    if isinstance(layers, dict):
        for layer_id in layers:
            if layer_id not in base.get("layers", {}) and layer_id not in SUPPLY_LAYER_IDS:
                raise UnknownEntryError("industry layer", layer_id, SUPPLY_LAYER_IDS)
    return _merge(base, data)


def load_industry_scenario(name_or_path: str | Path) -> IndustryScenario:
    """Load a built-in scenario by name, or a TOML/YAML file (which may ``extends`` one).

    Raises
    ------
    UnknownEntryError
        Neither a built-in name nor an existing file; or an unknown layer or parent.
    InvalidParameterError
        A field outside what is allowed; the message names it.
    """
    text = str(name_or_path)
    if text in list_industry_scenarios():
        return parse_industry_scenario(_resolve(_builtin_raw(text), (text,)), where=f"{text}.toml")
    path = Path(text)
    if not path.is_file():
        raise UnknownEntryError("industry scenario", text, list_industry_scenarios())
    return parse_industry_scenario(_resolve(_read_file(path), ()), where=str(path))
