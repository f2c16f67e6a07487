"""How heat leaves the rack: cooling types, PUE versus load and climate, site water (WUE).

A :class:`Cooling` is one entry of ``catalog/cooling.toml``. The functions here are pure and
broadcast over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chip2grid.catalog import catalog_names, get_entry
from chip2grid.errors import InvalidParameterError, require_finite_non_negative
from chip2grid.facility._arrays import Real, as_real, check
from chip2grid.facility.climate import DAYS_PER_MONTH, HOURS_PER_YEAR, monthly_means
from chip2grid.facility.region import Region, climate_key, region_hourly_climate

__all__ = [
    "HEAT_PATHS",
    "Cooling",
    "annual_pue",
    "annual_wue_l_per_kwh",
    "climate_temperatures_c",
    "get_cooling",
    "hourly_temperatures_for",
    "list_coolings",
    "monthly_temperatures_c",
    "pue",
    "wue_l_per_kwh",
]

HEAT_PATHS: tuple[str, ...] = ("air", "liquid")
"""How a cooling type takes heat from the servers: ``"air"`` (server fans blow it into air the
cooling removes, so any air-cooled server fits, density permitting) or ``"liquid"`` (cold
plates or immersion: only servers built for it)."""

_NON_NEGATIVE = (
    "max_rack_power_w",
    "typical_rack_power_w",
    "electrical_loss_frac",
    "fixed_overhead_frac",
    "cooling_overhead_frac",
    "min_cooling_overhead_frac",
    "wue_l_per_kwh",
    "capex_usd_per_w",
    "floor_area_m2_per_rack",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cooling:
    """A cooling type and the parameters of its PUE and water model.

    See :func:`pue` and :func:`wue_l_per_kwh` for the equations the fields enter.

    Attributes
    ----------
    max_rack_power_w, typical_rack_power_w
        Largest and usual power one rack (or immersion tank) may draw under this cooling.
    heat_path
        ``"air"`` or ``"liquid"`` (:data:`HEAT_PATHS`); decides which servers it can take.
    floor_area_m2_per_rack
        White-space floor per rack or tank, its share of the aisles and in-room cooling
        units included, in m².
    """

    id: str
    name: str
    max_rack_power_w: float
    typical_rack_power_w: float
    electrical_loss_frac: float
    fixed_overhead_frac: float
    cooling_overhead_frac: float
    cooling_overhead_slope_per_c: float
    min_cooling_overhead_frac: float
    reference_temperature_c: float
    uses_wet_bulb: bool
    wue_l_per_kwh: float
    wue_slope_per_c: float
    capex_usd_per_w: float
    heat_path: str
    floor_area_m2_per_rack: float
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        require_finite_non_negative(self, _NON_NEGATIVE, f"in cooling {self.id!r}")
        if self.max_rack_power_w <= 0:
            raise InvalidParameterError(
                "max_rack_power_w", self.max_rack_power_w, "a number > 0", f"cooling {self.id!r}"
            )
        if self.heat_path not in HEAT_PATHS:
            raise InvalidParameterError(
                "heat_path",
                self.heat_path,
                " or ".join(map(repr, HEAT_PATHS)),
                f"cooling {self.id!r}",
            )
        if not self.floor_area_m2_per_rack > 0:
            raise InvalidParameterError(
                "floor_area_m2_per_rack",
                self.floor_area_m2_per_rack,
                "a number > 0 (m² per rack, aisles included)",
                f"cooling {self.id!r}",
            )
        if self.typical_rack_power_w > self.max_rack_power_w:
            raise InvalidParameterError(
                "typical_rack_power_w",
                self.typical_rack_power_w,
                f"at most max_rack_power_w ({self.max_rack_power_w} W)",
                f"in cooling {self.id!r}",
            )


def get_cooling(name: str) -> Cooling:
    """Return a catalog cooling type by id or alias (``air``, ``dlc``, ``immersion`` ...).

    Raises
    ------
    UnknownEntryError
        If no cooling type has that id; the message lists the closest ids.
    """
    return get_entry(Cooling, "cooling", "cooling", name)


def list_coolings() -> list[str]:
    """Ids of all catalog cooling types, sorted."""
    return catalog_names("cooling")


def _check_load(it_load_frac: ArrayLike) -> NDArray[np.float64]:
    load = np.asarray(it_load_frac, dtype=np.float64)
    check(
        "it_load_frac",
        load,
        (load > 0) & (load <= 1),
        "a fraction in (0, 1] of the design critical IT power",
        "PUE is undefined at zero IT load",
    )
    return load


def pue(cooling: Cooling, it_load_frac: ArrayLike, temperature_c: ArrayLike) -> Real:
    """Power usage effectiveness at an IT load and an outdoor temperature.

    Parameters
    ----------
    cooling
        The cooling type.
    it_load_frac
        IT power as a fraction of the design critical IT power, in (0, 1].
    temperature_c
        Outdoor temperature in °C: the wet bulb when ``cooling.uses_wet_bulb``, else the dry
        bulb. Broadcasts against ``it_load_frac``.

    Returns
    -------
    float or numpy.ndarray
        Facility power over IT power, >= 1.

    Notes
    -----
    With load :math:`L`, temperature :math:`T` and the cooling parameters (electrical loss
    :math:`e`, fixed overhead :math:`f`, cooling overhead :math:`c_0` with slope :math:`s`
    and floor :math:`c_{min}` at reference temperature :math:`T_0`):

    .. math::

        \\mathrm{PUE}(L, T) = 1 + e + \\frac{f}{L} + \\max\\left(c_{min},\\;
        c_0 + s\\,(T - T_0)\\right)

    The fixed overhead (lighting, controls, idle UPS and transformer losses, standby cooling
    plant) is paid whatever the load, so PUE rises as the load falls; the cooling term follows
    the climate, floored by fans and pumps that never stop. The form follows the component
    breakdown of Lei & Masanet [1]_ reduced to one temperature driver, with the partial-load
    behaviour reported by Barroso et al. [2]_.

    References
    ----------
    .. [1] N. Lei and E. Masanet, "Statistical analysis for predicting location-specific data
       center PUE and its improvement potential", Energy 201 (2020) 117556,
       doi:10.1016/j.energy.2020.117556.
    .. [2] L. A. Barroso, U. Hölzle and P. Ranganathan, "The Datacenter as a Computer",
       3rd ed., Morgan & Claypool (2018), ch. 5, doi:10.2200/S00874ED3V01Y201809CAC046.
    """
    load = _check_load(it_load_frac)
    value = _load_term(cooling, load) + _cooling_term(cooling, temperature_c)
    return as_real(value)


def _load_term(cooling: Cooling, load: NDArray[np.float64]) -> NDArray[np.float64]:
    """The part of PUE that follows the IT load and not the climate."""
    return np.asarray(1.0 + cooling.electrical_loss_frac + cooling.fixed_overhead_frac / load)


def _cooling_term(cooling: Cooling, temperature_c: ArrayLike) -> NDArray[np.float64]:
    """The part of PUE that follows the climate and not the IT load."""
    temperature = np.asarray(temperature_c, dtype=np.float64)
    return np.maximum(
        cooling.min_cooling_overhead_frac,
        cooling.cooling_overhead_frac
        + cooling.cooling_overhead_slope_per_c * (temperature - cooling.reference_temperature_c),
    )


def wue_l_per_kwh(cooling: Cooling, temperature_c: ArrayLike) -> Real:
    """Site water usage effectiveness: litres of water consumed per kWh of IT energy.

    Notes
    -----
    .. math::

        \\mathrm{WUE}(T) = \\max\\left(0,\\; w_0 + s_w\\,(T - T_0)\\right)

    with :math:`w_0` the WUE at the reference temperature :math:`T_0` and :math:`s_w` its slope
    per °C. Evaporative systems follow the wet bulb (``uses_wet_bulb``). WUE is defined by
    The Green Grid [1]_; the climate dependence follows Lei & Masanet [2]_.

    References
    ----------
    .. [1] The Green Grid, "Water Usage Effectiveness (WUE): a Green Grid data center
       sustainability metric", White Paper 35 (2011).
    .. [2] N. Lei and E. Masanet, "Climate- and technology-specific PUE and WUE estimations
       for U.S. data centers using a hybrid statistical and thermodynamics-based approach",
       Resources, Conservation & Recycling 182 (2022) 106323.
    """
    temperature = np.asarray(temperature_c, dtype=np.float64)
    value = np.maximum(
        0.0,
        cooling.wue_l_per_kwh
        + cooling.wue_slope_per_c * (temperature - cooling.reference_temperature_c),
    )
    return as_real(value)


def hourly_temperatures_for(cooling: Cooling, region: Region) -> NDArray[np.float64]:
    """The 8,760 hourly temperatures that drive ``cooling`` in ``region``: wet bulb or dry bulb
    per its type (see :func:`~chip2grid.facility.region.region_hourly_climate`)."""
    climate = region_hourly_climate(region)
    if cooling.uses_wet_bulb and climate.wet_bulb_c is not None:
        return climate.wet_bulb_c
    return climate.temperature_c


def monthly_temperatures_c(cooling: Cooling, region: Region) -> NDArray[np.float64]:
    """The 12 monthly temperatures that drive ``cooling``: wet bulb or dry bulb per its type.

    The region's monthly normals, or the monthly means of its own hourly file when it has one.
    """
    if region.hourly_climate is not None:
        return monthly_means(hourly_temperatures_for(cooling, region))
    months = (
        region.monthly_mean_wet_bulb_c
        if cooling.uses_wet_bulb
        else region.monthly_mean_temperature_c
    )
    return np.asarray(months, dtype=np.float64)


_MONTH_WEIGHTS = np.asarray(DAYS_PER_MONTH, dtype=np.float64) / sum(DAYS_PER_MONTH)
_HOUR_WEIGHTS = np.full(HOURS_PER_YEAR, 1.0 / HOURS_PER_YEAR)


def climate_temperatures_c(
    cooling: Cooling, region: Region
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The temperatures an annual mean runs over and their weights (summing to 1).

    ``region.climate_resolution == "hourly"``: the 8,760 hours, equally weighted;
    ``"monthly"``: the 12 monthly means, weighted by days.
    """
    if region.climate_resolution == "monthly":
        return monthly_temperatures_c(cooling, region), _MONTH_WEIGHTS
    return hourly_temperatures_for(cooling, region), _HOUR_WEIGHTS


def _annual_cooling_term(cooling: Cooling, region: Region) -> float:
    return _annual_means(cooling, climate_key(region), region)[0]


def _annual_wue(cooling: Cooling, region: Region) -> float:
    return _annual_means(cooling, climate_key(region), region)[1]


_ANNUAL_CACHE: dict[tuple[Cooling, tuple[object, ...]], tuple[float, float]] = {}
_ANNUAL_CACHE_SIZE = 1024


def _annual_means(cooling: Cooling, key: tuple[object, ...], region: Region) -> tuple[float, float]:
    """(annual mean cooling term of PUE, annual WUE), cached per cooling and climate."""
    found = _ANNUAL_CACHE.get((cooling, key))
    if found is None:
        temperatures, weights = climate_temperatures_c(cooling, region)
        found = (
            float(_cooling_term(cooling, temperatures) @ weights),
            float(np.asarray(wue_l_per_kwh(cooling, temperatures)) @ weights),
        )
        if len(_ANNUAL_CACHE) >= _ANNUAL_CACHE_SIZE:
            _ANNUAL_CACHE.pop(next(iter(_ANNUAL_CACHE)))
        _ANNUAL_CACHE[(cooling, key)] = found
    return found


def annual_pue(cooling: Cooling, region: Region, it_load_frac: ArrayLike) -> Real:
    """Annual PUE: facility energy over IT energy across a year of ``region``'s climate.

    Notes
    -----
    With a constant IT load :math:`L` the IT energy of every hour is the same, so the
    IT-energy-weighted mean over the hours :math:`t` of the year is

    .. math::

        \\overline{\\mathrm{PUE}} = \\sum_t w_t\\, \\mathrm{PUE}(L, T_t)
        = 1 + e + \\frac{f}{L} + \\sum_t w_t \\max\\left(c_{min},\\; c_0 + s\\,(T_t - T_0)\\right)

    with :math:`w_t = 1/8760` over the hours of :func:`region_hourly_climate` (the default,
    ``region.climate_resolution == "hourly"``) or :math:`w_m = d_m / 365` over the monthly
    means (``"monthly"``). Only the cooling term depends on the climate, so its annual mean is
    computed once per cooling and region and a Monte Carlo over loads costs no more than
    before. The cooling term is convex in :math:`T`, so the hourly mean is at least the
    monthly one: monthly means hide the hot afternoons when chillers work hardest. The Green
    Grid defines annual PUE as this ratio of annual energies [1]_.

    References
    ----------
    .. [1] The Green Grid, "PUE: a comprehensive examination of the metric", White Paper 49
       (2012).
    """
    load = _check_load(it_load_frac)
    return as_real(_load_term(cooling, load) + _annual_cooling_term(cooling, region))


def annual_wue_l_per_kwh(cooling: Cooling, region: Region) -> float:
    """Annual site WUE (litres per kWh of IT energy), averaged over the hours or months of
    ``region`` as :func:`annual_pue`."""
    return _annual_wue(cooling, region)
