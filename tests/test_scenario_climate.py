"""Scenario fields site.climate_file and site.climate_resolution reach PUE, WUE and the cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.economics import ServiceLoad, deployment_cost
from chip2grid.facility import annual_pue, get_cooling, get_region
from chip2grid.scenario import ScenarioError, apply_overrides, default_scenario, scenario_region


def _hot_file(tmp_path: Path, offset_c: float) -> Path:
    hours = np.arange(8760)
    base = get_region("us-virginia")
    monthly = np.repeat(np.asarray(base.monthly_mean_temperature_c, dtype=float), 730)[:8760]
    temps = monthly + offset_c + 4.0 * np.sin(hours / 24.0 * 2 * np.pi)
    path = tmp_path / "climate.csv"
    path.write_text("temperature_c\n" + "\n".join(f"{t:.3f}" for t in temps) + "\n")
    return path


def eight_h100_llama8b() -> tuple[c2g.Deployment, ServiceLoad]:
    """A priced load for cost tests: Llama-3.1-8B FP8 on 8 x H100, one replica per GPU."""
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=8,
        tp=1,
        weight_precision="fp8",
    )
    load = ServiceLoad(
        num_accelerators=8,
        accelerator_power_w=600.0,
        busy_frac=1.0,
        output_tokens_per_s=20_000.0,
        input_tokens_per_s=40_000.0,
        prefill_time_frac=0.3,
        source="test",
    )
    return dep, load


def test_default_is_hourly_and_monthly_is_selectable() -> None:
    scenario = default_scenario()
    hourly = scenario_region(scenario)
    assert hourly.climate_resolution == "hourly"
    monthly = scenario_region(apply_overrides(scenario, {"site.climate_resolution": "monthly"}))
    assert monthly.climate_resolution == "monthly"
    cooling = get_cooling(scenario.site.cooling)
    # hourly averages a convex curve over the hours: never below the monthly-mean figure
    assert float(annual_pue(cooling, hourly, 0.8)) >= float(annual_pue(cooling, monthly, 0.8))


def test_a_hotter_site_file_raises_pue_and_reaches_the_cost(tmp_path: Path) -> None:
    scenario = default_scenario()
    hot = apply_overrides(scenario, {"site.climate_file": str(_hot_file(tmp_path, 15.0))})
    region_hot = scenario_region(hot)
    cooling = get_cooling("air")
    assert float(annual_pue(cooling, region_hot, 0.8)) > float(
        annual_pue(cooling, scenario_region(scenario), 0.8)
    )
    dep, load = eight_h100_llama8b()
    cool = deployment_cost(dep, load, region="us-virginia", cooling="air")
    warm = deployment_cost(dep, load, region=region_hot, cooling="air")
    assert warm.region == "us-virginia"
    assert warm.breakdown.pue > cool.breakdown.pue
    assert warm.region_spec is region_hot  # kept for repricing (Monte Carlo)


def test_a_bad_climate_file_names_the_scenario_field(tmp_path: Path) -> None:
    bad = tmp_path / "short.csv"
    bad.write_text("temperature_c\n1\n2\n")
    scenario = apply_overrides(default_scenario(), {"site.climate_file": str(bad)})
    with pytest.raises(ScenarioError) as info:
        scenario_region(scenario)
    assert info.value.field == "site.climate_file"
    assert "8760" in str(info.value)
