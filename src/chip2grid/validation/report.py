"""Predicted vs measured for every expressible case, with error statistics."""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chip2grid.atomic import atomic_open
from chip2grid.errors import Chip2GridError, InvalidParameterError
from chip2grid.perf.calibration import is_moe_pair
from chip2grid.validation.bursts import replay_all, with_burst_metrics
from chip2grid.validation.cases import Case, load_measurement_files
from chip2grid.validation.fit import FitResult, fit, only_groups, scored_metric
from chip2grid.validation.predict import (
    Prepared,
    catalog_parameters,
    predict,
    prepare,
    with_measured_batch_metric,
)

DEFAULT_HOLDOUT = (
    "mlperf",
    "lambda",
    "trtblog",
    "nimdli",
    "inferencex",
    "amdperf",
    "oracleblog",
    "vllmblog",
)
"""Source families the shipped calibration never saw: the error on them is the honest one."""


def holdout_mask(prep: Prepared, holdout: tuple[str, ...]) -> np.ndarray:
    """True for the prepared cases that ``holdout`` keeps out of the fit.

    Each entry names a source family (``mlperf``), an accelerator (``h200-sxm``: every family's
    runs on it) or a hardware calibration family (``blackwell``: a whole generation, which the
    fit then meets with the ``default`` hardware parameters, as a new chip would be).

    A family of :data:`DEFAULT_HOLDOUT` may be absent (a run on one file holds out what it has).

    Raises
    ------
    InvalidParameterError
        Field ``holdout`` for another entry that names none of these among the cases.
    """
    fams = np.array([c.source_family for c in prep.cases])
    accs = np.array([c.accelerator for c in prep.cases])
    archs = np.array([prep.hw_keys[k] for k in prep.hw_index])
    known = {
        "a source family": set(fams),
        "an accelerator": set(accs),
        "a hardware family": set(archs),
    }
    for entry in holdout:
        if entry not in DEFAULT_HOLDOUT and not any(entry in names for names in known.values()):
            allowed = "; ".join(f"{kind}: {', '.join(sorted(v))}" for kind, v in known.items())
            raise InvalidParameterError("holdout", entry, allowed)
    held = list(holdout)
    return np.isin(fams, held) | np.isin(accs, held) | np.isin(archs, held)


METRIC_GROUPS = {
    "throughput": ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s"),
    "ttft": ("ttft_s_mean", "prefill_time_s"),
    "tpot": ("tpot_s_mean", "itl_s_mean", "itl_s_median", "decode_time_s_per_token"),
    "e2e": ("e2e_latency_s_mean",),
    "ttft_median": ("ttft_s_median",),
    "tpot_median": ("tpot_s_median",),
    "energy": (
        "gpu_power_w_mean",
        "energy_j_per_output_token",
        "energy_j_per_request",
        "system_power_w_mean",
    ),
}


def metric_group(metric: str) -> str | None:
    """The group of :data:`METRIC_GROUPS` a measured metric belongs to (None: none)."""
    return next((g for g, metrics in METRIC_GROUPS.items() if metric in metrics), None)


def error_summary(errors: Sequence[float]) -> dict[str, float | int]:
    """``mape`` (mean absolute error, fraction), ``median_error`` (median signed error: above 0
    the model over-predicts, throughput too high or latency too long) and ``n`` of signed
    relative errors."""
    e = np.asarray(errors, dtype=float)
    return {"mape": float(np.mean(np.abs(e))), "median_error": float(np.median(e)), "n": e.size}


@dataclass(frozen=True, slots=True)
class Row:
    """One measured metric and its prediction."""

    case: Case
    metric: str
    measured: float
    predicted: float
    split: str

    @property
    def error_frac(self) -> float:
        """Signed relative error, ``predicted / measured - 1``."""
        return self.predicted / self.measured - 1.0


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """All rows, skipped cases with reasons, and the calibration used."""

    rows: list[Row]
    skipped: list[tuple[Case, str]]
    calibration: str
    holdout: tuple[str, ...]
    fit_result: FitResult | None = None
    notes: list[str] = field(default_factory=list)
    unbounded: list[Row] = field(default_factory=list)
    """Measured latencies whose prediction is unbounded (``predicted`` is infinite): the run's
    request rate is above the capacity chip2grid predicts, so its queue grows without end. They
    cannot enter a MAPE; :meth:`unbounded_count` counts them per split."""

    def unbounded_count(self, *, split: str | None = None) -> int:
        """How many measured values the model predicts unbounded (in ``split``, or all)."""
        return sum(1 for r in self.unbounded if split is None or r.split == split)

    def errors(self, *, split: str | None = None, key: str = "group") -> dict[str, list[float]]:
        """Signed relative errors (``predicted / measured - 1``) grouped by ``key``.

        ``key`` is ``group`` (throughput, ttft, tpot, e2e, energy), ``metric``,
        ``source_family`` or ``accelerator``.
        """
        buckets: dict[str, list[float]] = defaultdict(list)
        for row in self.rows:
            if split and row.split != split:
                continue
            if key == "group":
                name = metric_group(row.metric) or row.metric
            elif key == "metric":
                name = row.metric
            elif key == "source_family":
                name = row.case.source_family
            else:
                name = row.case.accelerator
            buckets[name].append(row.error_frac)
        return dict(sorted(buckets.items()))

    def summary(
        self, *, split: str | None = None, key: str = "group"
    ) -> dict[str, dict[str, float | int]]:
        """Per group of ``key`` (as :meth:`errors`), the :func:`error_summary` of its rows."""
        return {
            name: error_summary(errors)
            for name, errors in self.errors(split=split, key=key).items()
        }

    def mape(self, *, split: str | None = None, key: str = "group") -> dict[str, tuple[float, int]]:
        """Mean absolute percentage error (fraction) and count, grouped by ``key``
        (:meth:`summary`)."""
        return {
            k: (float(v["mape"]), int(v["n"]))
            for k, v in self.summary(split=split, key=key).items()
        }

    def median_error(self, *, split: str | None = None, key: str = "group") -> dict[str, float]:
        """Median signed error (fraction), grouped by ``key`` (:meth:`summary`)."""
        return {k: float(v["median_error"]) for k, v in self.summary(split=split, key=key).items()}

    def worst(self, n: int = 10, split: str | None = None) -> list[Row]:
        """The rows with the largest absolute error."""
        rows = [r for r in self.rows if split is None or r.split == split]
        return sorted(rows, key=lambda r: -abs(r.error_frac))[:n]

    def write_csv(self, path: str | Path) -> None:
        """Write every row, then the unbounded ones (``predicted`` and ``error_frac`` read
        ``inf``); the file is written to a temporary name first, then renamed."""
        with atomic_open(path, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "case_id",
                    "source_family",
                    "model",
                    "accelerator",
                    "num_accelerators",
                    "engine",
                    "mode",
                    "tp",
                    "pp",
                    "ep",
                    "weight_precision",
                    "kv_precision",
                    "input_tokens",
                    "input_tokens_assumed",
                    "output_tokens",
                    "metric",
                    "measured",
                    "predicted",
                    "error_frac",
                    "split",
                ]
            )
            for r in [*self.rows, *self.unbounded]:
                c = r.case
                writer.writerow(
                    [
                        c.case_id,
                        c.source_family,
                        c.model,
                        c.accelerator,
                        c.num_accelerators,
                        c.engine_profile,
                        c.mode,
                        c.tp,
                        c.pp,
                        c.ep,
                        c.weight_precision,
                        c.kv_precision,
                        c.input_tokens,
                        c.input_tokens_assumed,
                        c.output_tokens,
                        r.metric,
                        f"{r.measured:.6g}",
                        f"{r.predicted:.6g}",
                        f"{r.error_frac:.4f}",
                        r.split,
                    ]
                )


def prepare_measurements(
    measurements: str | Path | Sequence[str | Path],
    *,
    families: tuple[str, ...] | None = None,
    length_spread: bool = False,
    admission: str = "slots",
    moe_pairs: tuple[str, ...] = (),
) -> Prepared:
    """The cases of the measurement files, prepared as :func:`run_validation` predicts them:
    Lambda's bursts with their replayed metrics, only ``families`` where given, every request
    at the mean lengths unless ``length_spread``, waiting in the ``admission`` queue; with
    rows for the ``ENGINE@FAMILY`` MoE pairs ``moe_pairs`` (:func:`prepare`)."""
    paths = [measurements] if isinstance(measurements, str | Path) else list(measurements)
    cases = with_measured_batch_metric(with_burst_metrics(load_measurement_files(paths)))
    if families:
        cases = [c for c in cases if c.source_family in families]
    if not length_spread:
        cases = [c.at_mean_lengths() for c in cases]
    return prepare(cases, admission=admission, moe_pairs=moe_pairs)


def run_validation(
    measurements: str | Path | Sequence[str | Path],
    *,
    holdout: tuple[str, ...] = DEFAULT_HOLDOUT,
    refit: bool = False,
    families: tuple[str, ...] | None = None,
    max_nfev: int = 60,
    fit_only: tuple[str, ...] = (),
    length_spread: bool = False,
    admission: str = "slots",
    fitted: FitResult | None = None,
) -> ValidationReport:
    """Predict every case chip2grid can express and compare with the measurement.

    ``length_spread`` applies the spread of request lengths that
    ``catalog/validation_workloads.toml`` records for a data set (MLPerf's); by default every
    request is taken at the mean lengths, as the shipped calibration was fitted (README,
    Validation limitations, has both sets of figures). ``admission`` is the queue a server-mode
    case waits in (:data:`chip2grid.perf.steady.ADMISSION_QUEUES`; estimates use ``slots``).

    With ``refit`` the parameters are fitted anew on the cases ``holdout`` leaves in (source
    families, accelerators or hardware families: :func:`holdout_mask`; the result is in
    ``fit_result``); otherwise the shipped calibration is used. ``fit_only`` (calibration keys)
    refits only those groups, holding the rest at the shipped calibration. ``fitted`` scores a
    fit made earlier on the same measurements (another report's ``fit_result``), for example
    under the other admission queue, instead of the shipped calibration. The split of the rows
    follows ``holdout`` either way.
    """
    prep = prepare_measurements(
        measurements,
        families=families,
        length_spread=length_spread,
        admission=admission,
        moe_pairs=tuple(g for g in only_groups(fit_only) if is_moe_pair(g)),
    )
    if not prep.cases and not prep.skipped:
        files = [measurements] if isinstance(measurements, str | Path) else list(measurements)
        raise InvalidParameterError(
            "measurements", ", ".join(str(f) for f in files), "at least one measured row"
        )
    if not prep.cases:
        commonest = Counter(reason for _, reason in prep.skipped).most_common(3)
        raise Chip2GridError(
            f"none of the {len(prep.skipped)} measured cases can be predicted; why: "
            + "; ".join(reason for reason, _ in commonest)
        )
    fit_mask = ~holdout_mask(prep, holdout)
    result = None
    if fitted is not None:
        if refit:
            raise InvalidParameterError("fitted", "a fit", "no fit with refit=True")
        if (fitted.hw_keys, fitted.engine_keys) != (prep.hw_keys, prep.engine_keys):
            raise InvalidParameterError(
                "fitted",
                f"a fit of {fitted.hw_keys} x {fitted.engine_keys}",
                f"a fit of these measurements' groups, {prep.hw_keys} x {prep.engine_keys}",
            )
        hw, eng, power = fitted.hw, fitted.engine, fitted.power
        label = f"refit on {fitted.fitted_on}"
        result = fitted
    elif refit:
        start = catalog_parameters(prep) if fit_only else None
        result = fit(prep, fit_mask, start=start, max_nfev=max_nfev, only=fit_only)
        hw, eng, power = result.hw, result.engine, result.power
        label = f"refit on {result.fitted_on}"
    else:
        hw, eng, power = catalog_parameters(prep)
        label = "shipped calibration.toml"
    pred = predict(prep, hw, eng, power)
    replayed = replay_all(prep, hw, eng, power)
    rows = []
    unbounded = []
    for i, case in enumerate(prep.cases):
        split = "fit" if fit_mask[i] else "holdout"
        for metric, value in case.metrics.items():
            target = scored_metric(case, metric)
            if target is None or target not in pred or value <= 0:
                continue
            p = float(replayed[i][target] if target in replayed.get(i, {}) else pred[target][i])
            row = Row(case=case, metric=metric, measured=value, predicted=p, split=split)
            if math.isfinite(p):
                rows.append(row)
            elif p > 0:
                unbounded.append(row)
    return ValidationReport(
        rows=rows,
        skipped=prep.skipped,
        calibration=label,
        holdout=holdout,
        fit_result=result,
        unbounded=unbounded,
    )
