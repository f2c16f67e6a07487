"""The birth-death chain behind benchmarks/server_batch_spread.py, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.repo_scripts import load_script, run_on_measurements

SCRIPT = "benchmarks/server_batch_spread.py"


def _module():  # type: ignore[no-untyped-def]
    return load_script(SCRIPT)


def test_one_server_at_a_constant_rate_is_mm1() -> None:
    # a rate that does not grow with the batch: M/M/1, mean rho / (1 - rho) whatever the cap
    mean_in_flight = _module().mean_in_flight
    for cap in (1, 5, 200):
        assert mean_in_flight(3.0, np.full(cap, 4.0)) == pytest.approx(3.0, rel=1e-9)


def test_a_rate_proportional_to_the_batch_is_poisson() -> None:
    # n sequences served n times as fast, far below the cap: M/M/inf, mean lambda / mu
    mean_in_flight = _module().mean_in_flight
    n = np.arange(1, 401, dtype=float)
    assert mean_in_flight(30.0, 2.0 * n) == pytest.approx(15.0, rel=1e-6)


def test_at_or_above_the_capped_rate_it_is_unbounded() -> None:
    mean_in_flight = _module().mean_in_flight
    assert math.isinf(mean_in_flight(4.0, np.array([1.0, 2.0, 4.0])))


def test_the_script_runs_on_the_shared_rows(measurements_path) -> None:
    out = run_on_measurements(SCRIPT, measurements_path, timeout_s=300)
    assert "median chain / fluid" in out
    assert "Server runs served less than their Offline run bounds" in out
