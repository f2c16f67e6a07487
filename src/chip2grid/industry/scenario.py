"""The parameters of the industry model: frozen dataclasses, each validated on construction.

A scenario bundles the supply layers (each with a capacity path, an expansion rule and a
conversion to accelerators), the hardware trend, the demand for training and inference, the
economics that fund the build-out and the grid it is compared with. Scenario files are parsed
by :mod:`chip2grid.industry.schema` into these objects; :func:`relax_layer` and
:func:`with_parameter` vary them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.industry.layers import DEMAND_LAYER_ID, DERIVED_LAYER_IDS, SUPPLY_LAYER_IDS

__all__ = [
    "Economics",
    "Grid",
    "HardwareTrend",
    "IndustryDemand",
    "IndustryScenario",
    "SupplyLayer",
    "relax_layer",
    "with_parameter",
]


def _rate(field_name: str, value: float) -> None:
    """A yearly growth rate: above -100 % (a rate of -1 would wipe the quantity out)."""
    if not math.isfinite(value) or value <= -1.0:
        raise InvalidParameterError(
            field_name,
            value,
            "a finite growth rate per year > -1 (-100 %)",
            "0.25 means +25 %/year",
        )


def _positive(field_name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        raise InvalidParameterError(
            field_name, value, "a finite number >= 0" if allow_zero else "a finite number > 0"
        )


def _fraction(field_name: str, value: float, *, allow_zero: bool = True) -> None:
    low = value >= 0 if allow_zero else value > 0
    if not (low and value <= 1):
        raise InvalidParameterError(
            field_name, value, "a fraction in [0, 1]" if allow_zero else "a fraction in (0, 1]"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SupplyLayer:
    """One supply layer: a yearly capacity in its own unit and how it turns into accelerators.

    Parameters
    ----------
    id
        One of :data:`~chip2grid.industry.layers.SUPPLY_LAYER_IDS`.
    capacity
        Capacity in the start year, in ``unit`` per year (capital: investor capital, USD/year).
    unit
        The unit of ``capacity``, in words (``"CoWoS wafers/year"``, ``"GB/year"``, ``"GW/year"``).
    growth_rate_per_year
        Organic growth of the capacity (expansions already committed), e.g. 0.3 for +30 %/year.
    max_expansion_rate_per_year
        The most that induced investment can add in one year, as a fraction of the capacity.
    lead_time_years
        Years between an order (placed when the layer binds or nears binding) and its capacity.
        0 and 1 both mean "next year": the model steps in whole years.
    units_per_accelerator
        ``unit`` needed per accelerator deployed in the start year (e.g. 0.06 CoWoS wafers, 100 GB
        of HBM). Must be left out for ``dc_power``, ``cooling_supply`` and ``capital_supply``,
        whose conversions come from the hardware trend.
    units_per_accelerator_growth_per_year
        Yearly change of ``units_per_accelerator`` (larger interposers, more HBM per package).
    capacity_factor
        Multiplies the capacity from ``relax_from_year`` on (``inf``: the layer is unlimited).
    relax_from_year
        The first year ``capacity_factor`` applies; ``None`` means the start year.
    """

    id: str
    capacity: float
    unit: str = ""
    growth_rate_per_year: float = 0.0
    max_expansion_rate_per_year: float = 0.0
    lead_time_years: int = 1
    units_per_accelerator: float | None = None
    units_per_accelerator_growth_per_year: float = 0.0
    capacity_factor: float = 1.0
    relax_from_year: int | None = None
    source: str = ""
    estimate: bool = False

    def __post_init__(self) -> None:
        where = f"layers.{self.id}"
        if self.id not in SUPPLY_LAYER_IDS:
            raise UnknownEntryError("industry layer", self.id, SUPPLY_LAYER_IDS)
        _positive(f"{where}.capacity", self.capacity, allow_zero=self.id == "capital_supply")
        _rate(f"{where}.growth_rate_per_year", self.growth_rate_per_year)
        _positive(
            f"{where}.max_expansion_rate_per_year",
            self.max_expansion_rate_per_year,
            allow_zero=True,
        )
        if (
            isinstance(self.lead_time_years, bool)
            or not isinstance(self.lead_time_years, int)
            or self.lead_time_years < 0
        ):
            raise InvalidParameterError(
                f"{where}.lead_time_years", self.lead_time_years, "an integer >= 0 (years)"
            )
        if self.id in DERIVED_LAYER_IDS:
            if self.units_per_accelerator is not None:
                raise InvalidParameterError(
                    f"{where}.units_per_accelerator",
                    self.units_per_accelerator,
                    "nothing: this layer's conversion follows from [hardware]",
                    "remove the field",
                )
        elif self.units_per_accelerator is None:
            raise InvalidParameterError(
                f"{where}.units_per_accelerator",
                None,
                f"a number > 0 of {self.unit or 'units'} per accelerator",
                "without it the layer has no path to accelerators",
            )
        else:
            _positive(f"{where}.units_per_accelerator", self.units_per_accelerator)
        _rate(
            f"{where}.units_per_accelerator_growth_per_year",
            self.units_per_accelerator_growth_per_year,
        )
        if math.isnan(self.capacity_factor) or self.capacity_factor <= 0:
            raise InvalidParameterError(
                f"{where}.capacity_factor", self.capacity_factor, "a number > 0, or inf (unlimited)"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareTrend:
    """The accelerator shipped in each year, and the fleet at the start.

    Figures are for the average accelerator shipped in the start year; FLOP/s is dense 16-bit.
    Capex per accelerator and power per accelerator follow from FLOP/s per accelerator and the
    improvement of FLOP/s per dollar and per watt:
    ``capex(k) = capex0 ((1 + g_flop) / (1 + g_usd))^k``, ``power(k) = power0 ((1 + g_flop) / (1 + g_w))^k``.
    """

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
    source: str = ""
    estimate: bool = False

    def __post_init__(self) -> None:
        for name in (
            "flop_per_s_per_accelerator",
            "capex_usd_per_accelerator",
            "power_w_per_accelerator",
        ):
            _positive(f"hardware.{name}", getattr(self, name))
        for name in (
            "flop_per_s_growth_per_year",
            "flop_per_s_per_usd_growth_per_year",
            "flop_per_s_per_w_growth_per_year",
        ):
            _rate(f"hardware.{name}", getattr(self, name))
        _positive(
            "hardware.facility_capex_usd_per_w", self.facility_capex_usd_per_w, allow_zero=True
        )
        if not (math.isfinite(self.pue) and self.pue >= 1.0):
            raise InvalidParameterError("hardware.pue", self.pue, "a number >= 1")
        if (
            isinstance(self.lifetime_years, bool)
            or not isinstance(self.lifetime_years, int)
            or self.lifetime_years < 1
        ):
            raise InvalidParameterError(
                "hardware.lifetime_years", self.lifetime_years, "an integer >= 1"
            )
        _fraction("hardware.liquid_cooled_frac", self.liquid_cooled_frac)
        if not math.isfinite(self.liquid_cooled_frac_increase_per_year):
            raise InvalidParameterError(
                "hardware.liquid_cooled_frac_increase_per_year",
                self.liquid_cooled_frac_increase_per_year,
                "a finite number",
            )
        _positive(
            "hardware.initial_installed_accelerators",
            self.initial_installed_accelerators,
            allow_zero=True,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IndustryDemand:
    """Training compute and inference tokens demanded, before supply limits.

    Inference tokens follow adoption and the price (Jevons):
    ``tokens(k) = tokens0 A(k) (price(k) / price(0))^(-elasticity)`` with ``A`` the adoption level.
    Training compute and adoption grow at rates that shrink by ``growth_slowdown_frac_per_year``
    each year: ``level(k) = prod_{i<k} (1 + g (1 - s)^i)``.
    FLOP per token grows with model size and reasoning and falls with software efficiency:
    ``flop_per_token(k) = flop_per_token0 ((1 + g_model) / (1 + g_software))^k``.
    """

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
    source: str = ""
    estimate: bool = False

    def __post_init__(self) -> None:
        _fraction("demand.growth_slowdown_frac_per_year", self.growth_slowdown_frac_per_year)
        _positive(
            "demand.training_compute_flop_per_year",
            self.training_compute_flop_per_year,
            allow_zero=True,
        )
        _positive(
            "demand.inference_tokens_per_year", self.inference_tokens_per_year, allow_zero=True
        )
        if self.training_compute_flop_per_year == 0 and self.inference_tokens_per_year == 0:
            raise InvalidParameterError(
                "demand.inference_tokens_per_year",
                0.0,
                "> 0 when demand.training_compute_flop_per_year is 0",
            )
        _positive("demand.flop_per_token", self.flop_per_token)
        for name in (
            "training_compute_growth_per_year",
            "inference_adoption_growth_per_year",
            "flop_per_token_growth_per_year",
            "software_efficiency_gain_per_year",
        ):
            _rate(f"demand.{name}", getattr(self, name))
        _positive("demand.price_elasticity", self.price_elasticity, allow_zero=True)
        _fraction(
            "demand.training_utilization_frac", self.training_utilization_frac, allow_zero=False
        )
        _fraction(
            "demand.inference_utilization_frac", self.inference_utilization_frac, allow_zero=False
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Economics:
    """What a token costs and sells for, and how revenue funds capex.

    Capital available in year ``k`` is ``investor capital(k) + capex_to_revenue_ratio x
    revenue(k - 1)``; ``initial_revenue_usd_per_year`` is the revenue of the year before the start.
    """

    electricity_usd_per_kwh: float
    price_markup_frac: float
    capex_to_revenue_ratio: float
    initial_revenue_usd_per_year: float
    source: str = ""
    estimate: bool = False

    def __post_init__(self) -> None:
        _positive(
            "economics.electricity_usd_per_kwh", self.electricity_usd_per_kwh, allow_zero=True
        )
        _positive("economics.price_markup_frac", self.price_markup_frac, allow_zero=True)
        _positive("economics.capex_to_revenue_ratio", self.capex_to_revenue_ratio, allow_zero=True)
        _positive(
            "economics.initial_revenue_usd_per_year",
            self.initial_revenue_usd_per_year,
            allow_zero=True,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid:
    """The electricity total that the AI fleet's draw is compared with."""

    region: str
    electricity_twh_per_year: float
    electricity_growth_per_year: float
    region_share_of_fleet_frac: float
    load_factor_frac: float
    source: str = ""
    estimate: bool = False

    def __post_init__(self) -> None:
        _positive("grid.electricity_twh_per_year", self.electricity_twh_per_year)
        _rate("grid.electricity_growth_per_year", self.electricity_growth_per_year)
        _fraction("grid.region_share_of_fleet_frac", self.region_share_of_fleet_frac)
        _fraction("grid.load_factor_frac", self.load_factor_frac)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndustryScenario:
    """Everything the industry model needs: layers, hardware, demand, economics, grid, years."""

    name: str
    description: str = ""
    start_year: int
    end_year: int
    utilization_threshold_frac: float = 0.9
    layers: tuple[SupplyLayer, ...]
    hardware: HardwareTrend
    demand: IndustryDemand
    economics: Economics
    grid: Grid
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("start_year", "end_year"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterError(name, value, "an integer year")
        if self.end_year < self.start_year:
            raise InvalidParameterError(
                "end_year", self.end_year, f"a year >= start_year ({self.start_year})"
            )
        if self.end_year - self.start_year > 200:
            raise InvalidParameterError(
                "end_year", self.end_year, f"at most 200 years after start_year ({self.start_year})"
            )
        _fraction("utilization_threshold_frac", self.utilization_threshold_frac, allow_zero=False)
        ids = [layer.id for layer in self.layers]
        if not ids:
            raise InvalidParameterError(
                "layers", "{}", f"at least one of {', '.join(SUPPLY_LAYER_IDS)}"
            )
        if len(set(ids)) != len(ids):
            raise InvalidParameterError("layers", ids, "each layer once")

    @property
    def layer_ids(self) -> tuple[str, ...]:
        """The ids of the modelled supply layers, in model order."""
        return tuple(layer.id for layer in self.layers)

    def layer(self, layer_id: str) -> SupplyLayer:
        """The supply layer ``layer_id``; :class:`UnknownEntryError` lists the modelled ones."""
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise UnknownEntryError("industry layer", layer_id, self.layer_ids)


def relax_layer(
    scenario: IndustryScenario, layer: str, factor: float, *, from_year: int | None = None
) -> IndustryScenario:
    """Multiply one layer's capacity by ``factor`` from ``from_year`` on (``inf``: unlimited).

    A factor below 1 cuts the layer. From ``from_year`` the layer evolves from the scaled
    capacity (its orders, too, respond to the scaled capacity).

    Raises
    ------
    UnknownEntryError
        ``layer`` is not modelled in the scenario (the demand is not a supply layer).
    InvalidParameterError
        ``factor`` is not > 0, or ``from_year`` lies outside the scenario's years.
    """
    if layer == DEMAND_LAYER_ID:
        raise UnknownEntryError("industry layer", layer, scenario.layer_ids)
    current = scenario.layer(layer)
    if from_year is not None and not scenario.start_year <= from_year <= scenario.end_year:
        raise InvalidParameterError(
            "from_year", from_year, f"a year in {scenario.start_year}..{scenario.end_year}"
        )
    if math.isnan(factor) or factor <= 0:
        raise InvalidParameterError("factor", factor, "a number > 0, or inf (unlimited)")
    relaxed = dataclasses.replace(
        current, capacity_factor=current.capacity_factor * factor, relax_from_year=from_year
    )
    layers = tuple(relaxed if item.id == layer else item for item in scenario.layers)
    return dataclasses.replace(scenario, layers=layers)


def with_parameter(scenario: IndustryScenario, path: str, value: Any) -> IndustryScenario:
    """A copy of ``scenario`` with the field at ``path`` set to ``value``.

    ``path`` is dotted as in a scenario file: ``"layers.packaging.lead_time_years"``,
    ``"demand.price_elasticity"``, ``"utilization_threshold_frac"``.
    """
    parts = path.split(".")
    if parts[0] == "layers" and len(parts) == 3:
        current = scenario.layer(parts[1])
        _check_field(current, parts[2], path)
        new_layer = dataclasses.replace(current, **{parts[2]: value})
        layers = tuple(new_layer if item.id == parts[1] else item for item in scenario.layers)
        return dataclasses.replace(scenario, layers=layers)
    if len(parts) == 2 and parts[0] in ("hardware", "demand", "economics", "grid"):
        block = getattr(scenario, parts[0])
        _check_field(block, parts[1], path)
        return dataclasses.replace(
            scenario, **{parts[0]: dataclasses.replace(block, **{parts[1]: value})}
        )
    if len(parts) == 1 and parts[0] in ("start_year", "end_year", "utilization_threshold_frac"):
        return dataclasses.replace(scenario, **{parts[0]: value})
    raise InvalidParameterError(
        "parameter",
        path,
        "layers.<id>.<field>, hardware.<field>, demand.<field>, economics.<field>, grid.<field>",
    )


def _check_field(obj: Any, name: str, path: str) -> None:
    names = {f.name for f in dataclasses.fields(obj)}
    if name not in names or name == "id":
        raise InvalidParameterError(
            "parameter", path, f"one of {', '.join(sorted(names - {'id'}))}"
        )
