"""How the first change of binding layer moves when each input moves, and what makes a layer bind.

:func:`industry_sensitivity` varies every numeric input by ``+-step_frac`` (lead times and
lifetimes by +-1 year) one at a time; each variant is a full run of
:func:`~chip2grid.industry.run_industry`. :func:`binding_thresholds` searches, one input at a
time, the value nearest the scenario's at which a chosen layer binds by a chosen year.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.industry.model import IndustryResult, run_industry
from chip2grid.industry.scenario import IndustryScenario, with_parameter

__all__ = [
    "BindingThreshold",
    "IndustrySensitivity",
    "binding_thresholds",
    "first_binding_year",
    "industry_sensitivity",
    "sensitivity_parameters",
]

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


def first_binding_year(result: IndustryResult, layer: str) -> int | None:
    """The first year in which ``layer`` binds, or ``None`` if it never does."""
    for i, name in enumerate(result.binding_layer):
        if name == layer:
            return int(result.years[i])
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingThreshold:
    """The value of one input, nearest its base value, at which ``layer`` first binds in a window.

    ``direction`` is ``"below"`` when the layer binds for values at or below ``value`` (the
    input was lowered), ``"above"`` when it binds at or above it; ``first_year`` is the first
    year the layer binds at ``value``.
    """

    parameter: str
    layer: str
    by_year: int
    base_value: float
    value: float
    direction: str
    first_year: int

    @property
    def change_frac(self) -> float:
        """``value / base_value - 1`` (``nan`` when the base value is 0)."""
        return self.value / self.base_value - 1.0 if self.base_value else math.nan


def _binds_by(
    scenario: IndustryScenario, path: str, value: float, layer: str, window: tuple[int, int]
) -> int | None:
    """The first year ``layer`` binds with ``path`` set to ``value``, if it lies in ``window``."""
    field_name = path.rsplit(".", 1)[-1]
    cast: float | int = round(value) if field_name in _YEAR_FIELDS else value
    try:
        year = first_binding_year(run_industry(with_parameter(scenario, path, cast)), layer)
    except InvalidParameterError:
        return None
    return year if year is not None and window[0] <= year <= window[1] else None


def binding_thresholds(
    scenario: IndustryScenario,
    layer: str,
    *,
    by_year: int,
    from_year: int | None = None,
    parameters: list[str] | None = None,
    max_factor: float = 10.0,
    rel_tol: float = 1e-3,
) -> tuple[BindingThreshold, ...]:
    """For each input, the value nearest the scenario's at which ``layer`` first binds in
    ``from_year..by_year`` (``from_year`` defaults to the start year).

    Each input is moved alone, down and up by factors of 1.25 up to ``max_factor`` (fractions
    stay in [0, 1]; lead times and lifetimes step by one year up to 10 years away); the first
    value at which ``layer`` binds in some year up to ``by_year`` is then refined by bisection
    to ``rel_tol``. The direction with the smaller relative change wins; inputs that cannot
    make the layer bind within the range are left out. Rows are sorted by the relative change
    needed, smallest first. If the layer already binds by ``by_year``, the thresholds are
    where it stops doing so.

    Notes
    -----
    The bisection assumes the outcome flips once between the base value and the first value
    found; the value returned is the edge nearest the base on that side.
    """
    if not (math.isfinite(max_factor) and max_factor > 1.0):
        raise InvalidParameterError("max_factor", max_factor, "a number > 1")
    if not scenario.start_year <= by_year <= scenario.end_year:
        raise InvalidParameterError(
            "by_year", by_year, f"a year in {scenario.start_year}..{scenario.end_year}"
        )
    scenario.layer(layer)  # an unknown layer raises UnknownEntryError
    first = scenario.start_year if from_year is None else from_year
    if not scenario.start_year <= first <= by_year:
        raise InvalidParameterError(
            "from_year", first, f"a year in {scenario.start_year}..{by_year} (by_year)"
        )
    window = (first, by_year)
    base_year = first_binding_year(run_industry(scenario), layer)
    base_binds = base_year is not None and first <= base_year <= by_year
    rows: list[BindingThreshold] = []
    for path in parameters if parameters is not None else sensitivity_parameters(scenario):
        base_value = _value(scenario, path)
        field_name = path.rsplit(".", 1)[-1]
        best: BindingThreshold | None = None
        for direction in ("below", "above"):
            found = _search(
                scenario,
                path,
                field_name,
                base_value,
                direction,
                layer,
                window,
                base_binds,
                max_factor,
                rel_tol,
            )
            if found is None:
                continue
            value, year = found
            row = BindingThreshold(
                parameter=path,
                layer=layer,
                by_year=by_year,
                base_value=base_value,
                value=value,
                direction=direction,
                first_year=year,
            )
            if best is None or abs(math.log(max(value, 1e-300) / base_value)) < abs(
                math.log(max(best.value, 1e-300) / base_value)
            ):
                best = row
        if best is not None:
            rows.append(best)
    return tuple(sorted(rows, key=lambda r: (abs(r.change_frac), r.parameter)))


def _candidates(
    field_name: str, base_value: float, direction: str, max_factor: float
) -> list[float]:
    sign = -1 if direction == "below" else 1
    if field_name in _YEAR_FIELDS:
        minimum = 1 if field_name == "lifetime_years" else 0
        values = [base_value + sign * step for step in range(1, 11)]
        return [v for v in values if v >= minimum]
    if base_value == 0:
        return []
    values = [
        base_value * 1.25 ** (sign * i) for i in range(1, 1 + int(math.log(max_factor, 1.25)))
    ]
    if field_name.endswith("_frac"):
        values = [v for v in values if 0.0 <= v <= 1.0]
    if field_name == "pue":
        values = [v for v in values if v >= 1.0]
    return values


def _search(
    scenario: IndustryScenario,
    path: str,
    field_name: str,
    base_value: float,
    direction: str,
    layer: str,
    window: tuple[int, int],
    base_binds: bool,
    max_factor: float,
    rel_tol: float,
) -> tuple[float, int] | None:
    """The edge nearest ``base_value`` where "first binds in ``window``" flips, and the year then."""
    inside = base_value
    for value in _candidates(field_name, base_value, direction, max_factor):
        year = _binds_by(scenario, path, value, layer, window)
        if (year is not None) != base_binds:
            outside = value
            break
        inside = value
    else:
        return None
    if field_name in _YEAR_FIELDS:
        edge = outside if not base_binds else inside
        year = _binds_by(scenario, path, edge, layer, window)
        return (edge, year) if year is not None else None
    while abs(outside - inside) > rel_tol * abs(base_value):
        mid = 0.5 * (inside + outside)
        if (_binds_by(scenario, path, mid, layer, window) is not None) != base_binds:
            outside = mid
        else:
            inside = mid
    edge = outside if not base_binds else inside
    year = _binds_by(scenario, path, edge, layer, window)
    return (edge, year) if year is not None else None
