"""Hourly climate: an 8,760-hour year of outdoor dry-bulb and wet-bulb temperatures.

PUE and WUE are convex in the outdoor temperature (a floor where free cooling suffices, a
slope where chillers or evaporation work), so their annual mean over the hours of a year is at
least their value at the monthly mean temperatures (Jensen's inequality). This module builds
the hours from what a climate normal publishes, the monthly mean and the mean daily range
(daily maximum minus daily minimum), or reads them from a user's file.

The functions are pure and work on numpy arrays; :class:`HourlyClimate` holds one year.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chip2grid.errors import InvalidParameterError

__all__ = [
    "CLIMATE_RESOLUTIONS",
    "DAYS_PER_MONTH",
    "DIURNAL_PEAK_HOUR",
    "HOURS_PER_YEAR",
    "STANDARD_PRESSURE_PA",
    "HourlyClimate",
    "hourly_temperatures_c",
    "month_of_hour",
    "monthly_means",
    "read_hourly_climate_csv",
    "saturation_vapour_pressure_pa",
    "seasonal_curve",
    "vapour_pressure_pa",
    "wet_bulb_c",
    "wet_bulb_diurnal_range_c",
]

DAYS_PER_MONTH: tuple[int, ...] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days of each month of a common (non-leap) year, January first."""

HOURS_PER_DAY = 24
HOURS_PER_YEAR = HOURS_PER_DAY * sum(DAYS_PER_MONTH)
"""8,760: the hours of a common year; hour 0 starts at 00:00 local standard time, 1 January."""

DIURNAL_PEAK_HOUR = 15.0
"""Local hour of the daily temperature maximum. ASHRAE's design-day profile (Handbook of
Fundamentals, ch. 14, table of fractions of the daily range) peaks at 15:00 and bottoms out
near sunrise; a sinusoid through 15:00 keeps the daily mean and range and puts its minimum
at 03:00."""

STANDARD_PRESSURE_PA = 101_325.0
"""Sea-level standard atmospheric pressure (ISO 2533), used by the psychrometric equation."""

CLIMATE_RESOLUTIONS: tuple[str, ...] = ("hourly", "monthly")
"""How annual PUE and WUE average the climate: over 8,760 hours or over 12 monthly means."""

DRY_BULB_RANGE_C = (-70.0, 60.0)
"""Plausible hourly dry bulb at a site (records: -89.2 °C Vostok, 56.7 °C Death Valley)."""

WET_BULB_RANGE_C = (-70.0, 40.0)
"""Plausible hourly wet bulb (the highest observed are about 35-36 °C: Raymond et al.,
Sci. Adv. 6 (2020) eaaw1838)."""

_WET_ABOVE_DRY_TOLERANCE_C = 0.05

# WMO-No. 8 (2018), Annex 4.B: saturation vapour pressure over water and the psychrometer
# coefficient of a ventilated (Assmann) psychrometer.
_MAGNUS_HPA = 6.112
_MAGNUS_A = 17.62
_MAGNUS_B_C = 243.12
_PSYCHRO_A_PER_K = 6.53e-4
_PSYCHRO_B_PER_K = 9.44e-4
_PA_PER_HPA = 100.0

_HOURS = np.arange(HOURS_PER_YEAR, dtype=np.float64)
_MONTH_OF_HOUR = np.repeat(np.arange(12), np.asarray(DAYS_PER_MONTH) * HOURS_PER_DAY)
_MONTH_OF_HOUR.setflags(write=False)
_HOURS_PER_MONTH = np.asarray(DAYS_PER_MONTH, dtype=np.float64) * HOURS_PER_DAY


def month_of_hour() -> NDArray[np.int_]:
    """Month index (0 = January) of each of the 8,760 hours; a read-only array."""
    return _MONTH_OF_HOUR


def monthly_means(hourly: ArrayLike) -> NDArray[np.float64]:
    """The 12 monthly means of an 8,760-hour series (last axis)."""
    values = np.asarray(hourly, dtype=np.float64)
    sums = np.add.reduceat(values, np.r_[0, np.cumsum(_HOURS_PER_MONTH[:-1]).astype(int)], -1)
    return np.asarray(sums / _HOURS_PER_MONTH)


def _seasonal_matrix() -> NDArray[np.float64]:
    # Periodic piecewise-linear interpolation between one node per month, placed at the
    # month's mean hour, with node values chosen so that each month's mean is kept exactly.
    starts = np.r_[0.0, np.cumsum(_HOURS_PER_MONTH)[:-1]]
    nodes = starts + (_HOURS_PER_MONTH - 1.0) / 2.0
    extended = np.r_[nodes[-1] - HOURS_PER_YEAR, nodes, nodes[0] + HOURS_PER_YEAR]
    right = np.searchsorted(extended, _HOURS, side="right")
    left = right - 1
    frac = (_HOURS - extended[left]) / (extended[right] - extended[left])
    weights = np.zeros((HOURS_PER_YEAR, 12))
    rows = np.arange(HOURS_PER_YEAR)
    np.add.at(weights, (rows, (left - 1) % 12), 1.0 - frac)
    np.add.at(weights, (rows, (right - 1) % 12), frac)
    averaging = np.stack([monthly_means(weights[:, j]) for j in range(12)], axis=1)
    matrix = weights @ np.linalg.inv(averaging)
    matrix.setflags(write=False)
    return matrix


_SEASONAL = _seasonal_matrix()


def _twelve(field: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.shape[-1:] != (12,):
        raise InvalidParameterError(field, values, "12 monthly values, January first")
    if not np.all(np.isfinite(array)):
        raise InvalidParameterError(field, values, "finite numbers")
    return array


def seasonal_curve(monthly: ArrayLike, *, smooth: bool = True) -> NDArray[np.float64]:
    """An 8,760-hour curve whose mean over each month is ``monthly`` (last axis, 12 values).

    ``smooth=True`` interpolates linearly between one node per month (periodic over the
    year, so December runs into January) with node values solved so that every month keeps
    its mean exactly; ``smooth=False`` holds each month's value for all its hours.
    """
    values = _twelve("monthly", monthly)
    if smooth:
        return np.asarray(values @ _SEASONAL.T)
    return np.asarray(values[..., _MONTH_OF_HOUR])


def _diurnal_shape(peak_hour: float) -> NDArray[np.float64]:
    hour_of_day = _HOURS % HOURS_PER_DAY
    return np.asarray(np.cos(2.0 * math.pi * (hour_of_day - peak_hour) / HOURS_PER_DAY))


def hourly_temperatures_c(
    monthly_mean_c: ArrayLike,
    monthly_diurnal_range_c: ArrayLike,
    *,
    smooth: bool = True,
    peak_hour: float = DIURNAL_PEAK_HOUR,
) -> NDArray[np.float64]:
    """An 8,760-hour temperature year from 12 monthly means and 12 mean daily ranges.

    Parameters
    ----------
    monthly_mean_c
        Mean temperature of each month (the mean of daily means), January first.
    monthly_diurnal_range_c
        Mean daily range of each month: mean daily maximum minus mean daily minimum, >= 0.
    smooth
        Interpolate the monthly means and ranges smoothly across month boundaries
        (:func:`seasonal_curve`); ``False`` holds them constant within each month.
    peak_hour
        Local hour of the daily maximum.

    Returns
    -------
    numpy.ndarray
        8,760 temperatures, hour 0 starting at 00:00 on 1 January.

    Notes
    -----
    With the seasonal mean :math:`\\bar T(t)` and range :math:`R(t)` of hour :math:`t` and its
    hour of day :math:`h`:

    .. math::

        T(t) = \\bar T(t) + \\frac{R(t)}{2} \\cos\\left(2\\pi\\frac{h - h_{peak}}{24}\\right)

    :math:`R` is held for each day at its daily mean, so the cosine averages to zero over the
    24 hours of every day: each month keeps its mean exactly, and a day's maximum minus
    minimum is :math:`R` (sampled at 15:00 and 03:00). The
    sinusoid is the simplest profile with the published mean and range; real days rise faster
    in the morning than they fall at night (ASHRAE, Handbook of Fundamentals, ch. 14).
    """
    ranges = _twelve("monthly_diurnal_range_c", monthly_diurnal_range_c)
    if np.any(ranges < 0):
        raise InvalidParameterError(
            "monthly_diurnal_range_c", monthly_diurnal_range_c, "12 ranges >= 0 (°C)"
        )
    mean = seasonal_curve(_twelve("monthly_mean_c", monthly_mean_c), smooth=smooth)
    hourly_range = np.maximum(seasonal_curve(ranges, smooth=smooth), 0.0)
    # one range per day (its mean over the day), so that every day keeps its mean exactly
    days = hourly_range.reshape(*hourly_range.shape[:-1], -1, HOURS_PER_DAY)
    daily_range = np.repeat(days.mean(axis=-1), HOURS_PER_DAY, axis=-1)
    return np.asarray(mean + daily_range / 2.0 * _diurnal_shape(peak_hour))


# --- psychrometrics ----------------------------------------------------------------------


def saturation_vapour_pressure_pa(temperature_c: ArrayLike) -> NDArray[np.float64]:
    """Saturation vapour pressure over water, Pa (Magnus form of WMO-No. 8, Annex 4.B).

    .. math:: e_s(T) = 611.2 \\exp\\left(\\frac{17.62\\,T}{243.12 + T}\\right)
    """
    t = np.asarray(temperature_c, dtype=np.float64)
    return np.asarray(_PA_PER_HPA * _MAGNUS_HPA * np.exp(_MAGNUS_A * t / (_MAGNUS_B_C + t)))


def _psychro_coefficient_per_k(wet_c: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(_PSYCHRO_A_PER_K * (1.0 + _PSYCHRO_B_PER_K * wet_c))


def vapour_pressure_pa(
    dry_bulb_c: ArrayLike, wet_bulb_c: ArrayLike, pressure_pa: float = STANDARD_PRESSURE_PA
) -> NDArray[np.float64]:
    """Vapour pressure of air from its dry and wet bulbs (the psychrometric equation), Pa.

    .. math:: e = e_s(T_w) - A(T_w)\\,p\\,(T - T_w), \\quad A = 6.53\\times 10^{-4}
       (1 + 9.44\\times 10^{-4}\\,T_w)\\ \\mathrm{K^{-1}}

    (WMO-No. 8, 2018, Annex 4.B, ventilated psychrometer over water).
    """
    dry = np.asarray(dry_bulb_c, dtype=np.float64)
    wet = np.asarray(wet_bulb_c, dtype=np.float64)
    return np.asarray(
        saturation_vapour_pressure_pa(wet)
        - _psychro_coefficient_per_k(wet) * pressure_pa * (dry - wet)
    )


def wet_bulb_c(
    dry_bulb_c: ArrayLike, vapour_pressure_pa: ArrayLike, pressure_pa: float = STANDARD_PRESSURE_PA
) -> NDArray[np.float64]:
    """Wet bulb of air at ``dry_bulb_c`` holding ``vapour_pressure_pa`` (inverse of
    :func:`vapour_pressure_pa`, by Newton's method; broadcasts).

    A vapour pressure above saturation at the dry bulb is capped there (the air is saturated
    and the wet bulb equals the dry bulb).
    """
    dry = np.asarray(dry_bulb_c, dtype=np.float64)
    vapour = np.minimum(
        np.asarray(vapour_pressure_pa, dtype=np.float64), saturation_vapour_pressure_pa(dry)
    )
    wet = np.array(np.broadcast_to(dry, np.broadcast_shapes(dry.shape, vapour.shape)))
    for _ in range(50):
        es = saturation_vapour_pressure_pa(wet)
        coefficient = _psychro_coefficient_per_k(wet)
        residual = es - coefficient * pressure_pa * (dry - wet) - vapour
        slope = (
            es * _MAGNUS_A * _MAGNUS_B_C / (_MAGNUS_B_C + wet) ** 2
            + coefficient * pressure_pa
            - _PSYCHRO_A_PER_K * _PSYCHRO_B_PER_K * pressure_pa * (dry - wet)
        )
        step = residual / slope
        wet = np.minimum(wet - step, dry)
        if float(np.max(np.abs(step), initial=0.0)) < 1e-9:
            break
    return wet


def wet_bulb_diurnal_range_c(
    monthly_mean_c: ArrayLike,
    monthly_mean_wet_bulb_c: ArrayLike,
    monthly_diurnal_range_c: ArrayLike,
    pressure_pa: float = STANDARD_PRESSURE_PA,
) -> NDArray[np.float64]:
    """The mean daily range of the wet bulb, derived from the dry bulb's.

    Notes
    -----
    Over a day the air's moisture (vapour pressure :math:`e`, i.e. its dew point) changes far
    less than its temperature, so relative humidity falls as the air warms. Holding each
    month's mean vapour pressure :math:`e_m = e(\\bar T_m, \\bar T_{w,m})` over the day, the wet
    bulb range is

    .. math:: R_{w,m} = T_w(\\bar T_m + R_m/2,\\, e_m) - T_w(\\bar T_m - R_m/2,\\, e_m)

    with :math:`T_w(T, e)` from :func:`wet_bulb_c` (capped at saturation at night), and at
    least :math:`R_m - 2(\bar T_m - \bar T_{w,m})` so that a wet-bulb sinusoid about its
    monthly mean never passes the dry bulb's at night (where night air saturates, the wet
    bulb falls with the dry bulb). It is smaller than :math:`R_m`: about 0.3-0.6 of it in the
    catalog's climates, least in humid heat (Mumbai, Singapore) and in summer.
    """
    dry = _twelve("monthly_mean_c", monthly_mean_c)
    wet = _twelve("monthly_mean_wet_bulb_c", monthly_mean_wet_bulb_c)
    half = _twelve("monthly_diurnal_range_c", monthly_diurnal_range_c) / 2.0
    vapour = vapour_pressure_pa(dry, np.minimum(wet, dry), pressure_pa)
    high = wet_bulb_c(dry + half, vapour, pressure_pa)
    low = wet_bulb_c(dry - half, vapour, pressure_pa)
    # a wet-bulb sinusoid with this range around the mean wet bulb must stay below the dry
    # bulb's at 03:00: where night air saturates, the wet bulb falls with the dry bulb
    saturated_night = 2.0 * half - 2.0 * (dry - np.minimum(wet, dry))
    return np.asarray(np.maximum(np.maximum(high - low, saturated_night), 0.0))


# --- one year of hours -------------------------------------------------------------------


def _read_only(values: ArrayLike) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


def _check_series(
    field: str, values: NDArray[np.float64], bounds: tuple[float, float], source: str
) -> None:
    where = f" (from {source})" if source else ""
    if values.shape != (HOURS_PER_YEAR,):
        raise InvalidParameterError(
            field,
            f"{values.size} values",
            f"{HOURS_PER_YEAR} hourly values, one per hour of a common year from 1 January 00:00",
            f"drop 29 February from a leap year{where}",
        )
    low, high = bounds
    bad = ~(np.isfinite(values) & (values >= low) & (values <= high))
    if np.any(bad):
        row = int(np.argmax(bad))
        raise InvalidParameterError(
            field,
            float(values[row]),
            f"a temperature in [{low:g}, {high:g}] °C",
            f"hour {row} (data row {row + 1}){where}",
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class HourlyClimate:
    """One year of hourly outdoor temperatures at a site.

    Attributes
    ----------
    temperature_c
        8,760 dry-bulb temperatures (°C), hour 0 starting at 00:00 on 1 January.
    wet_bulb_c
        8,760 wet-bulb temperatures (°C), or ``None`` when only the dry bulb is known (a
        region then derives them from its monthly humidity; see ``Region``).
    source
        Where the hours came from (a file path, or the region whose normals built them).

    Compared by identity: two objects are equal only if they are the same object.
    """

    temperature_c: NDArray[np.float64]
    wet_bulb_c: NDArray[np.float64] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        dry = _read_only(self.temperature_c)
        _check_series("temperature_c", dry, DRY_BULB_RANGE_C, self.source)
        object.__setattr__(self, "temperature_c", dry)
        if self.wet_bulb_c is not None:
            wet = _read_only(self.wet_bulb_c)
            _check_series("wet_bulb_c", wet, WET_BULB_RANGE_C, self.source)
            above = wet > dry + _WET_ABOVE_DRY_TOLERANCE_C
            if np.any(above):
                row = int(np.argmax(above))
                where = f" (from {self.source})" if self.source else ""
                raise InvalidParameterError(
                    "wet_bulb_c",
                    float(wet[row]),
                    f"at most the dry bulb of that hour ({float(dry[row])} °C)",
                    f"hour {row} (data row {row + 1}){where}; the wet bulb never exceeds the "
                    "dry bulb",
                )
            object.__setattr__(self, "wet_bulb_c", wet)


def _parse_number(text: str, column: str, row: int, path: Path) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(
            column, text, "a number (°C)", f"data row {row} of {path}"
        ) from None


def read_hourly_climate_csv(path: str | Path) -> HourlyClimate:
    """Read a year of hourly temperatures from a CSV file.

    The file has a header row naming a ``temperature_c`` column (dry bulb, °C) and optionally
    a ``wet_bulb_c`` column; other columns (a timestamp, say) are ignored. It holds 8,760 data
    rows, one per hour of a common year from 1 January 00:00 local standard time.

    Raises
    ------
    InvalidParameterError
        Field ``climate_file`` when the file cannot be read or lacks the ``temperature_c``
        column; ``temperature_c`` or ``wet_bulb_c`` when a value is not a number, out of the
        plausible range, or the row count is not 8,760 (the message names the row).
    """
    file = Path(path)
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "temperature_c" not in columns:
                raise InvalidParameterError(
                    "climate_file",
                    str(file),
                    "a CSV file whose header names a temperature_c column (and optionally "
                    "wet_bulb_c)",
                    f"header found: {', '.join(columns) or 'none'}",
                )
            reader.fieldnames = columns
            has_wet = "wet_bulb_c" in columns
            dry: list[float] = []
            wet: list[float] = []
            for row_number, row in enumerate(reader, start=1):
                dry.append(
                    _parse_number(row["temperature_c"] or "", "temperature_c", row_number, file)
                )
                if has_wet:
                    wet.append(
                        _parse_number(row["wet_bulb_c"] or "", "wet_bulb_c", row_number, file)
                    )
    except OSError as exc:
        raise InvalidParameterError(
            "climate_file", str(file), "a readable CSV file", exc.strerror or str(exc)
        ) from None
    except UnicodeDecodeError:
        raise InvalidParameterError(
            "climate_file", str(file), "a UTF-8 text CSV file", "the file is not text"
        ) from None
    return HourlyClimate(
        temperature_c=np.asarray(dry),
        wet_bulb_c=np.asarray(wet) if has_wet else None,
        source=str(file),
    )
