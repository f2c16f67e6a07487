"""Validation against measurements published by others, and fitting of the efficiencies."""

from __future__ import annotations

from chip2grid.validation.cases import (
    Case,
    load_cases,
    load_measurement_files,
    shipped_measurement_files,
    shipped_measurements,
)
from chip2grid.validation.fit import FitResult, fit, write_calibration
from chip2grid.validation.predict import prepare
from chip2grid.validation.report import (
    DEFAULT_HOLDOUT,
    METRIC_GROUPS,
    Row,
    ValidationReport,
    holdout_mask,
    run_validation,
)

__all__ = [
    "DEFAULT_HOLDOUT",
    "METRIC_GROUPS",
    "Case",
    "FitResult",
    "Row",
    "ValidationReport",
    "fit",
    "holdout_mask",
    "load_cases",
    "load_measurement_files",
    "prepare",
    "run_validation",
    "shipped_measurement_files",
    "shipped_measurements",
    "write_calibration",
]
