"""The birth-death chain behind benchmarks/server_batch_spread.py, against closed forms."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "server_batch_spread.py"


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("server_batch_spread", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--measurements", str(measurements_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "median chain / fluid" in out
    assert "Server runs served less than their Offline run bounds" in out
