"""Scoring a fit made earlier (``run_validation(fitted=...)``), as the refit benchmark does to
put the same fitted parameters under the other admission queue."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from chip2grid.errors import InvalidParameterError
from chip2grid.validation import run_validation
from chip2grid.validation.fit import FitResult
from chip2grid.validation.predict import HW_PARAMS, catalog_parameters
from chip2grid.validation.report import prepare_measurements

SHARED = "../shared/validation/measurements.csv"


@pytest.fixture(scope="module")
def shipped_as_fit() -> FitResult:
    """The shipped calibration's parameters, packed as a fit of the shared set's groups."""
    prep = prepare_measurements(SHARED)
    hw, engine, power = catalog_parameters(prep)
    return FitResult(
        hw=hw,
        engine=engine,
        power=power,
        hw_keys=list(prep.hw_keys),
        engine_keys=list(prep.engine_keys),
        num_cases=len(prep.cases),
        num_residuals=0,
        cost=0.0,
        fitted_on="the shipped calibration",
        hw_counts={},
        engine_counts={},
    )


def _predictions(report) -> dict[tuple[str, str], float]:
    return {(r.case.case_id, r.metric): r.predicted for r in [*report.rows, *report.unbounded]}


def test_a_fit_is_scored_with_its_own_parameters(shipped_as_fit: FitResult) -> None:
    shipped = run_validation(SHARED)
    same = run_validation(SHARED, fitted=shipped_as_fit)
    assert same.calibration == "refit on the shipped calibration"
    assert same.fit_result is shipped_as_fit
    assert _predictions(same) == _predictions(shipped)
    # other parameters give other predictions: every GEMM at half the efficiency
    hw = shipped_as_fit.hw.copy()
    hw[:, HW_PARAMS.index("gemm_compute_eff")] *= 0.5
    slower = run_validation(SHARED, fitted=dataclasses.replace(shipped_as_fit, hw=hw))
    before, after = _predictions(shipped), _predictions(slower)
    throughput = [k for k in before if k[1] == "output_tokens_per_s" and k in after]
    assert throughput
    assert all(after[k] <= before[k] * (1 + 1e-9) for k in throughput)
    assert np.median([after[k] / before[k] for k in throughput]) < 0.9


def test_a_fit_is_scored_under_either_admission_queue(shipped_as_fit: FitResult) -> None:
    slots = run_validation(SHARED, admission="slots", fitted=shipped_as_fit)
    instance = run_validation(SHARED, admission="instance", fitted=shipped_as_fit)
    a, b = _predictions(slots), _predictions(instance)
    ttft = [k for k in a if k[1] == "ttft_s_mean" and k[0].endswith("-server")]
    assert ttft and any(not math.isclose(a[k], b[k]) for k in ttft if math.isfinite(b[k]))


def test_a_fit_of_other_groups_or_with_a_refit_is_refused(shipped_as_fit: FitResult) -> None:
    other = dataclasses.replace(shipped_as_fit, hw_keys=[*shipped_as_fit.hw_keys[1:], "x"])
    with pytest.raises(InvalidParameterError, match="fitted"):
        run_validation(SHARED, fitted=other)
    with pytest.raises(InvalidParameterError, match="fitted"):
        run_validation(SHARED, refit=True, fitted=shipped_as_fit)
