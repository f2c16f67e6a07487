"""Power-limited clocks: parts with less power than their die's full-power part, and power caps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chip2grid import (
    InvalidParameterError,
    Load,
    Workload,
    estimate,
    get_accelerator,
)
from chip2grid.cli.app import app
from chip2grid.errors import CatalogError
from chip2grid.hardware import sustained_clock_frac
from chip2grid.perf import calibration_for
from chip2grid.perf.calibration import CLOCK_POWER_EXPONENT_RANGE, PowerCalibration
from tests.test_cli import ISSUE_FORM
from tests.test_perf import dep as _deployment


def test_clock_is_full_when_the_limit_covers_the_need() -> None:
    assert sustained_clock_frac(700.0, 75.0, 625.0, 1.0, 2.0) == 1.0
    assert sustained_clock_frac(900.0, 75.0, 625.0, 0.9, 1.5) == 1.0


def test_clock_follows_the_power_law() -> None:
    # half the dynamic power at beta = 2 gives 1/sqrt(2) of the clock
    got = float(sustained_clock_frac(75.0 + 312.5, 75.0, 625.0, 1.0, 2.0))
    assert got == pytest.approx(2**-0.5)
    # a part whose datasheet clock is already lower needs less: k^beta of the reference's power
    lower = float(sustained_clock_frac(75.0 + 312.5, 75.0, 625.0, 0.8, 2.0))
    assert lower == pytest.approx(min(1.0, (312.5 / (625.0 * 0.64)) ** 0.5))


def test_clock_falls_with_the_limit_and_rises_with_the_exponent() -> None:
    limits = np.linspace(100.0, 700.0, 13)
    clocks = sustained_clock_frac(limits, 75.0, 625.0, 1.0, 2.0)
    assert np.all(np.diff(clocks) >= 0)
    assert clocks[-1] == 1.0
    by_beta = [float(sustained_clock_frac(400.0, 75.0, 625.0, 1.0, b)) for b in (1.0, 2.0, 3.0)]
    assert by_beta[0] < by_beta[1] < by_beta[2] < 1.0


def test_reduced_power_parts_refer_to_their_full_power_die() -> None:
    nvl, sxm = get_accelerator("h100-nvl"), get_accelerator("h100-sxm")
    assert nvl.power_reference == "h100-sxm"
    assert nvl.reference_dynamic_power_w == pytest.approx(sxm.tdp_w - sxm.idle_power_w)
    assert nvl.reference_clock_frac == pytest.approx(
        nvl.peak_flops_per_s["bf16"] / sxm.peak_flops_per_s["bf16"]
    )
    pcie = get_accelerator("h100-pcie")
    assert pcie.reference_dynamic_power_w == pytest.approx(
        (sxm.tdp_w - sxm.idle_power_w) * pcie.compute_units_frac
    )
    for beta in CLOCK_POWER_EXPONENT_RANGE:
        assert sxm.clock_frac(0.0, beta) == 1.0
        assert 0.5 < nvl.clock_frac(0.0, beta) < 1.0
        assert get_accelerator("a100-pcie-80gb").clock_frac(0.0, beta) < 1.0


def test_a_cap_at_the_tdp_changes_nothing_and_a_lower_cap_slows_the_clock() -> None:
    sxm = get_accelerator("h100-sxm")
    assert sxm.clock_frac(sxm.tdp_w, 2.0) == 1.0
    assert sxm.clock_frac(0.0, 2.0) == 1.0
    assert sxm.clock_frac(500.0, 2.0) < sxm.clock_frac(600.0, 2.0) < 1.0


@pytest.mark.parametrize("limit", [900.0, 50.0, -1.0])
def test_a_cap_outside_idle_to_tdp_is_a_clear_error(limit: float) -> None:
    with pytest.raises(InvalidParameterError) as err:
        _deployment(power_limit_w=limit)
    message = str(err.value)
    assert "power_limit_w" in message and "700" in message and "75" in message


def test_a_cap_slows_compute_bound_work_and_spares_memory_bound_decode() -> None:
    offline = Workload(input_tokens=2048, output_tokens=128)
    free, capped = (
        estimate(_deployment(power_limit_w=w), offline, Load(mode="max_load")) for w in (0.0, 400.0)
    )
    assert capped.clock_frac < 1.0 and free.clock_frac == 1.0
    assert capped.power_limit_w == 400.0 and free.power_limit_w == 700.0
    assert capped.output_tokens_per_s < 0.95 * free.output_tokens_per_s
    assert capped.accelerator_power_w <= 400.0 * 8 + 1e-6
    assert any("power-limited" in n for n in capped.notes)
    # one user, short prompt: decode mostly reads the weights, so it slows far less than the
    # clock (the model slows the thin GEMMs' compute share too: README, power-limited clocks)
    chat = Workload(input_tokens=64, output_tokens=256)
    one = Load(mode="concurrency", concurrency=1)
    free_1, capped_1 = (estimate(_deployment(power_limit_w=w), chat, one) for w in (0.0, 400.0))
    slowdown = capped_1.tpot_s_mean / free_1.tpot_s_mean - 1.0
    assert 0.0 <= slowdown < 0.5 * (1.0 / capped_1.clock_frac - 1.0)
    assert capped_1.ttft_s_mean > free_1.ttft_s_mean


def test_the_nvl_card_is_slower_than_its_datasheet_peak_alone_says() -> None:
    """The H100 NVL's 400 W hold its GH100 below the datasheet clock under full load."""
    work = Workload(input_tokens=2048, output_tokens=128)
    nvl = _deployment(accelerator=get_accelerator("h100-nvl"), tp=2, num_accelerators=2)
    cal = calibration_for("hopper", "tensorrt-llm")
    got = estimate(nvl, work, Load(mode="max_load"))
    unthrottled = estimate(
        nvl,
        work,
        Load(mode="max_load"),
        calibration=cal.__class__(
            hardware=cal.hardware,
            engine=cal.engine,
            power=PowerCalibration(
                compute_power_coeff=cal.power.compute_power_coeff,
                memory_power_coeff=cal.power.memory_power_coeff,
                clock_power_exponent=CLOCK_POWER_EXPONENT_RANGE[1],
            ),
            hardware_key=cal.hardware_key,
            engine_key=cal.engine_key,
            origin=cal.origin,
        ),
    )
    assert got.clock_frac <= unthrottled.clock_frac < 1.0
    assert got.output_tokens_per_s <= unthrottled.output_tokens_per_s


def test_the_clock_exponent_is_bounded_to_its_physical_range() -> None:
    with pytest.raises(CatalogError, match="clock_power_exponent"):
        PowerCalibration(clock_power_exponent=0.5)
    shipped = calibration_for("hopper", "tensorrt-llm").power.clock_power_exponent
    assert CLOCK_POWER_EXPONENT_RANGE[0] <= shipped <= CLOCK_POWER_EXPONENT_RANGE[1]


def test_estimate_cli_takes_a_power_cap() -> None:
    args = [*ISSUE_FORM, "--json"]
    result = CliRunner().invoke(app, [*args, "--power-limit-w", "450"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["power_limit_w"] == 450.0 and data["clock_frac"] < 1.0
    bad = CliRunner().invoke(app, [*args, "--power-limit-w", "2000"])
    assert isinstance(bad.exception, InvalidParameterError)  # main() prints it on one line
    assert "power_limit_w" in str(bad.exception) and "700" in str(bad.exception)
