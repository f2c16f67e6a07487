"""Hourly climate: the 8,760-hour year built from monthly normals and daily ranges, the wet bulb
derived from it, user climate files, and annual PUE/WUE averaged over hours versus months."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chip2grid.catalog import build_entry
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import (
    HOURS_PER_YEAR,
    Cooling,
    HourlyClimate,
    Region,
    annual_pue,
    annual_wue_l_per_kwh,
    get_cooling,
    get_region,
    hourly_temperatures_c,
    list_coolings,
    list_regions,
    pue,
    read_hourly_climate_csv,
    region_hourly_climate,
    wet_bulb_diurnal_range_c,
    with_climate,
    wue_l_per_kwh,
)
from chip2grid.facility.climate import (
    monthly_means,
    vapour_pressure_pa,
    wet_bulb_c,
)

MONTHS = np.array([0.9, 2.4, 6.8, 13.0, 18.1, 22.9, 25.5, 24.5, 20.6, 14.1, 8.0, 3.1])
RANGES = np.array([10.6, 11.6, 12.6, 13.9, 13.3, 12.7, 12.4, 12.1, 12.1, 12.9, 12.1, 10.6])


def monthly(region: Region) -> Region:
    return dataclasses.replace(region, climate_resolution="monthly")


def test_hourly_profile_keeps_monthly_means_and_daily_ranges() -> None:
    for smooth in (True, False):
        hours = hourly_temperatures_c(MONTHS, RANGES, smooth=smooth)
        assert hours.shape == (HOURS_PER_YEAR,)
        assert monthly_means(hours) == pytest.approx(MONTHS, abs=1e-9)
        days = hours.reshape(365, 24)
        assert np.all(days.argmax(axis=1) == 15)  # peak mid-afternoon
        assert np.all(days.argmin(axis=1) == 3)
    # held constant within a month: every January day spans exactly January's range
    days = hourly_temperatures_c(MONTHS, RANGES, smooth=False).reshape(365, 24)
    assert days[:31].max(axis=1) - days[:31].min(axis=1) == pytest.approx(
        np.full(31, RANGES[0]), abs=1e-9
    )


def test_hourly_profile_is_smooth_across_month_boundaries() -> None:
    largest_step = float(np.max(np.abs(np.diff(np.r_[MONTHS, MONTHS[0]]))))  # Sep -> Oct
    assert largest_step == pytest.approx(6.5)
    stepped = hourly_temperatures_c(MONTHS, np.zeros(12), smooth=False)
    assert np.max(np.abs(np.diff(stepped))) == pytest.approx(largest_step, abs=1e-9)
    # smooth: no step at a month boundary; an hour changes by at most the largest
    # month-to-month change spread over about a month (720 h), doubled for the node overshoot
    hours = hourly_temperatures_c(MONTHS, np.zeros(12))
    assert np.max(np.abs(np.diff(hours))) < 2 * largest_step / 720


def test_hourly_profile_rejects_bad_input() -> None:
    with pytest.raises(InvalidParameterError) as info:
        hourly_temperatures_c(MONTHS, -RANGES)
    assert info.value.field == "monthly_diurnal_range_c"
    with pytest.raises(InvalidParameterError) as info:
        hourly_temperatures_c(MONTHS[:11], RANGES)
    assert info.value.field == "monthly_mean_c"


# --- psychrometrics ----------------------------------------------------------------------


def test_wet_bulb_against_stull() -> None:
    # Stull (2011), J. Appl. Meteor. Climatol. 50, 2267: T = 20 °C, RH = 50 % -> Tw = 13.7 °C
    # (his empirical fit is good to about 0.3 °C); the psychrometric equation solved here
    # is an independent method, so allow 0.3 °C.
    vapour = 0.5 * 2337.0  # saturation vapour pressure at 20 °C is 2.337 kPa (WMO-No. 8)
    assert wet_bulb_c(20.0, vapour) == pytest.approx(13.7, abs=0.3)


@given(
    dry=st.floats(-30.0, 45.0),
    depression=st.floats(0.0, 15.0),
)
@settings(max_examples=60, deadline=None)
def test_wet_bulb_inverts_the_psychrometric_equation(dry: float, depression: float) -> None:
    wet = dry - depression
    vapour = vapour_pressure_pa(dry, wet)
    if vapour <= 0:  # too dry to exist
        return
    assert wet_bulb_c(dry, vapour) == pytest.approx(wet, abs=1e-6)


def test_wet_bulb_range_is_smaller_than_the_dry_range() -> None:
    for region_id in list_regions():
        region = get_region(region_id)
        wet_range = wet_bulb_diurnal_range_c(
            region.monthly_mean_temperature_c,
            region.monthly_mean_wet_bulb_c,
            region.monthly_mean_diurnal_range_c,
        )
        dry_range = np.asarray(region.monthly_mean_diurnal_range_c)
        assert np.all(wet_range > 0.0), region_id
        assert np.all(wet_range < dry_range), region_id
        climate = region_hourly_climate(region)
        assert climate.wet_bulb_c is not None
        assert np.all(climate.wet_bulb_c <= climate.temperature_c), region_id
        assert monthly_means(climate.temperature_c) == pytest.approx(
            region.monthly_mean_temperature_c, abs=1e-9
        )
        # the night cap at saturation lowers the monthly wet-bulb mean by a few mK at most
        assert monthly_means(climate.wet_bulb_c) == pytest.approx(
            np.minimum(region.monthly_mean_wet_bulb_c, region.monthly_mean_temperature_c),
            abs=0.01,
        )


def test_dry_heat_has_the_smallest_wet_bulb_swing_fraction() -> None:
    # Phoenix in June (RH ~15 %) vs Dublin in June (RH ~78 %): with little water in the air the
    # wet bulb follows the dry bulb less.
    def june_fraction(region_id: str) -> float:
        region = get_region(region_id)
        wet = wet_bulb_diurnal_range_c(
            region.monthly_mean_temperature_c,
            region.monthly_mean_wet_bulb_c,
            region.monthly_mean_diurnal_range_c,
        )
        return float(wet[5] / region.monthly_mean_diurnal_range_c[5])

    assert june_fraction("us-arizona") < june_fraction("ireland")


# --- annual PUE and WUE: hourly versus monthly -------------------------------------------


def test_hourly_at_least_monthly_for_every_catalog_region_and_cooling() -> None:
    for region_id in list_regions():
        region = get_region(region_id)
        for cooling_id in list_coolings():
            cooling = get_cooling(cooling_id)
            # the cooling term and WUE are convex in temperature (a floor, then a slope);
            # the wet bulb's saturation cap may lower its means by < 0.01 °C (see above),
            # worth < 1e-4 of PUE or WUE at the catalog's slopes
            slack = 1e-4 if cooling.uses_wet_bulb else 1e-12
            hourly = annual_pue(cooling, region, 0.8)
            assert hourly >= annual_pue(cooling, monthly(region), 0.8) - slack
            wue = annual_wue_l_per_kwh(cooling, region)
            assert wue >= annual_wue_l_per_kwh(cooling, monthly(region)) - slack


def test_hourly_matters_where_the_floor_is_crossed() -> None:
    # DLC water use in Dublin: the 20 °C reference, slope 0.02 L/kWh per °C, floor 0 at
    # 15 °C; monthly means never pass 15.5 °C but summer afternoons do.
    dlc, dublin = get_cooling("dlc"), get_region("ireland")
    assert annual_wue_l_per_kwh(dlc, dublin) > 3 * annual_wue_l_per_kwh(dlc, monthly(dublin))


def test_equals_monthly_when_the_diurnal_range_is_zero_and_months_held() -> None:
    # Independent of the region path: PUE over an 8,760-hour step profile with no daily swing
    # is the day-weighted mean of the 12 monthly PUEs.
    cooling = get_cooling("air")
    cold_months = MONTHS - 15.0  # crosses the air floor at -2 °C in winter
    hours = hourly_temperatures_c(cold_months, np.zeros(12), smooth=False)
    region = dataclasses.replace(
        get_region("us-virginia"),
        monthly_mean_temperature_c=tuple(cold_months),
        monthly_mean_wet_bulb_c=tuple(cold_months - 2.0),
        monthly_mean_diurnal_range_c=(0.0,) * 12,
        climate_resolution="monthly",
    )
    assert float(np.mean(pue(cooling, 0.8, hours))) == pytest.approx(
        annual_pue(cooling, region, 0.8), rel=1e-12
    )
    # and through the region path: a site file holding those hours
    with_hours = dataclasses.replace(
        region, hourly_climate=HourlyClimate(temperature_c=hours), climate_resolution="hourly"
    )
    assert annual_pue(cooling, with_hours, 0.8) == pytest.approx(
        annual_pue(cooling, region, 0.8), rel=1e-12
    )


def test_zero_range_in_a_linear_climate_equals_monthly() -> None:
    # Every hour above the floor: PUE is affine in T, so only the mean counts (1e-12).
    cooling = get_cooling("air")
    region = dataclasses.replace(get_region("singapore"), monthly_mean_diurnal_range_c=(0.0,) * 12)
    assert annual_pue(cooling, region, 0.8) == pytest.approx(
        annual_pue(cooling, monthly(region), 0.8), rel=1e-12
    )


@given(
    means=st.lists(st.floats(-25.0, 35.0), min_size=12, max_size=12),
    ranges=st.lists(st.floats(0.0, 20.0), min_size=12, max_size=12),
    smooth=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_jensen_hourly_never_below_monthly(
    means: list[float], ranges: list[float], smooth: bool
) -> None:
    cooling: Cooling = get_cooling("air")
    hours = hourly_temperatures_c(means, ranges, smooth=smooth)
    per_hour = float(np.mean(pue(cooling, 0.8, hours)))
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]) / 365
    per_month = float(np.asarray(pue(cooling, 0.8, np.asarray(means))) @ days)
    assert per_hour >= per_month - 1e-12
    water_hour = float(np.mean(wue_l_per_kwh(cooling, hours)))
    water_month = float(np.asarray(wue_l_per_kwh(cooling, np.asarray(means))) @ days)
    assert water_hour >= water_month - 1e-12


def test_monte_carlo_load_array_matches_scalars() -> None:
    cooling, region = get_cooling("rear-door"), get_region("us-texas")
    loads = np.linspace(0.3, 1.0, 8)
    values = annual_pue(cooling, region, loads)
    assert isinstance(values, np.ndarray)
    for load, value in zip(loads, values, strict=True):
        assert value == pytest.approx(annual_pue(cooling, region, float(load)), rel=1e-12)


def test_region_rejects_unknown_resolution_and_bad_ranges() -> None:
    region = get_region("uk")
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(region, climate_resolution="daily")
    assert info.value.field == "climate_resolution"
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(region, monthly_mean_diurnal_range_c=(-1.0,) + (5.0,) * 11)
    assert info.value.field == "monthly_mean_diurnal_range_c"
    with pytest.raises(InvalidParameterError) as info:
        dataclasses.replace(region, monthly_mean_diurnal_range_c=(5.0,) * 11)
    assert info.value.field == "monthly_mean_diurnal_range_c"


def test_catalog_entry_needs_the_diurnal_range() -> None:
    from chip2grid.catalog import load_table
    from chip2grid.errors import CatalogError

    entry = dict(load_table("regions")["uk"])
    del entry["monthly_mean_diurnal_range_c"]
    with pytest.raises(CatalogError, match="monthly_mean_diurnal_range_c"):
        build_entry(Region, "uk", entry, "regions")


# --- user climate files ------------------------------------------------------------------


def write_csv(path: Path, dry: np.ndarray, wet: np.ndarray | None = None) -> Path:
    lines = ["hour,temperature_c" + (",wet_bulb_c" if wet is not None else "")]
    for i, t in enumerate(dry):
        lines.append(f"{i},{t:.3f}" + (f",{wet[i]:.3f}" if wet is not None else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_climate_file_round_trips_the_region_hours(tmp_path: Path) -> None:
    region = get_region("us-virginia")
    own = region_hourly_climate(region)
    assert own.wet_bulb_c is not None
    path = write_csv(tmp_path / "dulles.csv", own.temperature_c, own.wet_bulb_c)
    site = with_climate(region, climate_file=path)
    assert site.hourly_climate is not None
    assert site.hourly_climate.source == str(path)
    for cooling_id in list_coolings():
        cooling = get_cooling(cooling_id)
        assert annual_pue(cooling, site, 0.8) == pytest.approx(
            annual_pue(cooling, region, 0.8), abs=1e-5
        )  # the file holds the hours rounded to 1 mK
        # monthly resolution with a file: the monthly means of its hours
        assert annual_pue(cooling, with_climate(site, climate_resolution="monthly"), 0.8) == (
            pytest.approx(annual_pue(cooling, monthly(region), 0.8), abs=1e-5)
        )


def test_hotter_site_file_raises_pue(tmp_path: Path) -> None:
    region = get_region("germany")
    own = region_hourly_climate(region)
    hot = with_climate(
        region, climate_file=write_csv(tmp_path / "hot.csv", own.temperature_c + 5.0)
    )
    air = get_cooling("air")
    # air is above its floor almost all year in Frankfurt: +5 °C adds about 0.010 x 5
    assert annual_pue(air, hot, 0.8) - annual_pue(air, region, 0.8) == pytest.approx(
        0.05, abs=0.002
    )


def test_file_without_wet_bulb_gets_one_from_the_region(tmp_path: Path) -> None:
    region = get_region("us-georgia")
    own = region_hourly_climate(region)
    site = with_climate(region, climate_file=write_csv(tmp_path / "dry.csv", own.temperature_c))
    derived = region_hourly_climate(site)
    assert derived.wet_bulb_c is not None and own.wet_bulb_c is not None
    assert np.all(derived.wet_bulb_c <= derived.temperature_c + 1e-9)
    # the derivation holds the day's vapour pressure: close to the normals' monthly wet bulbs
    assert monthly_means(derived.wet_bulb_c) == pytest.approx(
        region.monthly_mean_wet_bulb_c, abs=0.8
    )
    economized = get_cooling("air-economized")
    assert annual_pue(economized, site, 0.8) == pytest.approx(
        annual_pue(economized, region, 0.8), abs=0.005
    )


def test_climate_file_errors_name_the_field(tmp_path: Path) -> None:
    hours = np.full(HOURS_PER_YEAR, 12.0)
    cases: list[tuple[str, str, str]] = []

    short = write_csv(tmp_path / "short.csv", hours[:-24])
    cases.append((str(short), "temperature_c", "8760"))
    leap = write_csv(tmp_path / "leap.csv", np.full(8784, 12.0))
    cases.append((str(leap), "temperature_c", "29 February"))
    hot = hours.copy()
    hot[100] = 75.0
    cases.append((str(write_csv(tmp_path / "hot.csv", hot)), "temperature_c", "hour 100"))
    wet = hours.copy()
    wet[7] = 13.0
    cases.append(
        (str(write_csv(tmp_path / "wet.csv", hours, wet)), "wet_bulb_c", "at most the dry bulb")
    )
    text = tmp_path / "text.csv"
    text.write_text("temperature_c\n" + "12\n" * 10 + "warm\n", encoding="utf-8")
    cases.append((str(text), "temperature_c", "data row 11"))
    header = tmp_path / "header.csv"
    header.write_text("temp\n" + "12\n" * HOURS_PER_YEAR, encoding="utf-8")
    cases.append((str(header), "climate_file", "temperature_c column"))
    cases.append((str(tmp_path / "missing.csv"), "climate_file", "readable"))

    for path, field, words in cases:
        with pytest.raises(InvalidParameterError) as info:
            read_hourly_climate_csv(path)
        assert info.value.field == field, path
        assert words in str(info.value), (path, str(info.value))
        assert "\n" not in str(info.value)


def test_hourly_climate_validates_arrays() -> None:
    with pytest.raises(InvalidParameterError) as info:
        HourlyClimate(temperature_c=np.full(HOURS_PER_YEAR, np.nan))
    assert info.value.field == "temperature_c"
    climate = HourlyClimate(temperature_c=np.zeros(HOURS_PER_YEAR))
    with pytest.raises(ValueError):
        climate.temperature_c[0] = 1.0  # read-only: the cache hands the same array out
