"""How the first change of binding layer moves when each input moves.

Every numeric input is varied by ``+-step_frac`` (lead times and lifetimes by +-1 year) one at a
time; each variant is a full run of :func:`~chip2grid.industry.run_industry`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.industry.model import run_industry
from chip2grid.industry.scenario import IndustryScenario, with_parameter

__all__ = ["IndustrySensitivity", "industry_sensitivity", "sensitivity_parameters"]

_SKIP = {"id", "unit", "source", "estimate", "capacity_factor", "relax_from_year", "region"}
_YEAR_FIELDS = {"lead_time_years", "lifetime_years"}


@dataclass(frozen=True, slots=True, kw_only=True)
class IndustrySensitivity:
    """One input varied down and up, and the first transition year of each run.

    ``None`` for a year means the binding layer never changes within the horizon.
    """

    parameter: str
    base_value: float
    low_value: float
    high_value: float
    base_transition_year: int | None
    low_transition_year: int | None
    high_transition_year: int | None
    base_first_layer: str
    low_next_layer: str | None
    high_next_layer: str | None

    @property
    def shift_years(self) -> int | None:
        """The largest move of the transition year either way (``None`` if one run has none)."""
        base = self.base_transition_year
        if base is None or self.low_transition_year is None or self.high_transition_year is None:
            return None
        return max(abs(self.low_transition_year - base), abs(self.high_transition_year - base))


def sensitivity_parameters(scenario: IndustryScenario) -> list[str]:
    """The dotted paths of every numeric input that :func:`industry_sensitivity` varies."""
    paths: list[str] = []
    for layer in scenario.layers:
        for f in dataclasses.fields(layer):
            value = getattr(layer, f.name)
            if (
                f.name not in _SKIP
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                paths.append(f"layers.{layer.id}.{f.name}")
    for block in ("hardware", "demand", "economics", "grid"):
        obj = getattr(scenario, block)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if (
                f.name not in _SKIP
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                paths.append(f"{block}.{f.name}")
    return paths


def _value(scenario: IndustryScenario, path: str) -> float:
    parts = path.split(".")
    if parts[0] == "layers":
        return float(getattr(scenario.layer(parts[1]), parts[2]))
    return float(getattr(getattr(scenario, parts[0]), parts[1]))


def _next_layer(result_layers: tuple[str, ...]) -> str | None:
    first = result_layers[0]
    return next((layer for layer in result_layers if layer != first), None)


def industry_sensitivity(
    scenario: IndustryScenario, *, step_frac: float = 0.1, parameters: list[str] | None = None
) -> tuple[IndustrySensitivity, ...]:
    """Vary each input by ``+-step_frac`` and report the first transition year of each run.

    Lead times and lifetimes move by one year instead. A variant outside an input's allowed
    range (a fraction above 1, a lead time below 0) is clipped to the range's edge; rows are
    sorted by how far the transition year moves, largest first.
    """
    if not (math.isfinite(step_frac) and 0 < step_frac < 1):
        raise InvalidParameterError("step_frac", step_frac, "a fraction in (0, 1)")
    base = run_industry(scenario)
    base_year = base.first_transition_year()
    rows: list[IndustrySensitivity] = []
    for path in parameters if parameters is not None else sensitivity_parameters(scenario):
        value = _value(scenario, path)
        field_name = path.rsplit(".", 1)[-1]
        if field_name in _YEAR_FIELDS:
            minimum = 1 if field_name == "lifetime_years" else 0
            variants: list[float] = [max(minimum, int(value) - 1), int(value) + 1]
        else:
            variants = [value * (1 - step_frac), value * (1 + step_frac)]
            if field_name.endswith("_frac") or field_name == "pue":
                lo, hi = (1.0, math.inf) if field_name == "pue" else (0.0, 1.0)
                variants = [min(max(v, lo), hi) for v in variants]
        years: list[int | None] = []
        nexts: list[str | None] = []
        for v in variants:
            cast: float | int = int(v) if field_name in _YEAR_FIELDS else v
            try:
                result = run_industry(with_parameter(scenario, path, cast))
            except InvalidParameterError:
                years.append(None)
                nexts.append(None)
                continue
            years.append(result.first_transition_year())
            nexts.append(_next_layer(result.binding_layer))
        rows.append(
            IndustrySensitivity(
                parameter=path,
                base_value=value,
                low_value=float(variants[0]),
                high_value=float(variants[1]),
                base_transition_year=base_year,
                low_transition_year=years[0],
                high_transition_year=years[1],
                base_first_layer=base.binding_layer[0],
                low_next_layer=nexts[0],
                high_next_layer=nexts[1],
            )
        )

    def key(row: IndustrySensitivity) -> tuple[int, str]:
        shift = row.shift_years
        changed = row.low_transition_year != base_year or row.high_transition_year != base_year
        return (-(shift if shift is not None else (99 if changed else 0)), row.parameter)

    return tuple(sorted(rows, key=key))
