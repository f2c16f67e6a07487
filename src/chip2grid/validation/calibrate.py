"""Fit an accelerator family's efficiencies (and its engines' overheads) to a user's benchmarks.

Inputs are rows in the ``measurements.csv`` schema, or result JSON files of vLLM's
``benchmark_serving.py`` / ``vllm bench serve`` and SGLang's ``bench_serving`` (which carry no
model or hardware, so those come from options). The error is reported before (shipped
catalog calibration) and after fitting, the latter k-fold cross-validated: each fold is
predicted by a fit that never saw it. The final fit on all cases is written as a user
calibration file that ``perf.calibration.calibration_for`` reads (``docs/calibration.md``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import get_accelerator
from chip2grid.perf.calibration import is_moe_pair, moe_pair_parts
from chip2grid.profile.writer import to_toml, write_atomic
from chip2grid.validation.cases import Case, load_cases
from chip2grid.validation.fit import FitResult, fit, scored_metric
from chip2grid.validation.predict import (
    ENGINE_PARAMS,
    HW_PARAMS,
    MOE_PARAM,
    POWER_PARAMS,
    Prepared,
    catalog_parameters,
    predict,
    prepare,
)

PREDICTED_METRICS = (
    "output_tokens_per_s",
    "requests_per_s",
    "total_tokens_per_s",
    "ttft_s_mean",
    "tpot_s_mean",
    "itl_s_mean",
    "itl_s_median",
    "e2e_latency_s_mean",
    "prefill_time_s",
    "decode_time_s_per_token",
    "gpu_power_w_mean",
    "energy_j_per_output_token",
    "energy_j_per_request",
    "system_power_w_mean",
)
"""Metrics the steady-state predictions give; others (p99 tails) are read but not scored."""

_BENCH_FIELDS = {
    # JSON field -> (chip2grid metric, scale to SI)
    "request_throughput": ("requests_per_s", 1.0),
    "output_throughput": ("output_tokens_per_s", 1.0),
    "total_token_throughput": ("total_tokens_per_s", 1.0),
    "mean_ttft_ms": ("ttft_s_mean", 1e-3),
    "median_ttft_ms": ("ttft_s_median", 1e-3),
    "p99_ttft_ms": ("ttft_s_p99", 1e-3),
    "mean_tpot_ms": ("tpot_s_mean", 1e-3),
    "median_tpot_ms": ("tpot_s_median", 1e-3),
    "p99_tpot_ms": ("tpot_s_p99", 1e-3),
    "mean_itl_ms": ("itl_s_mean", 1e-3),
    "median_itl_ms": ("itl_s_median", 1e-3),
    "p99_itl_ms": ("itl_s_p99", 1e-3),
    "mean_e2el_ms": ("e2e_latency_s_mean", 1e-3),  # vLLM
    "median_e2el_ms": ("e2e_latency_s_median", 1e-3),
    "p99_e2el_ms": ("e2e_latency_s_p99", 1e-3),
    "mean_e2e_latency_ms": ("e2e_latency_s_mean", 1e-3),  # SGLang
    "median_e2e_latency_ms": ("e2e_latency_s_median", 1e-3),
    "p99_e2e_latency_ms": ("e2e_latency_s_p99", 1e-3),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchSetup:
    """What a benchmark JSON does not say: the model, the hardware and how it was served."""

    model: str
    accelerator: str
    num_accelerators: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    engine: str = "vllm"
    engine_version: str = ""
    weight_precision: str = "bf16"
    kv_precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("num_accelerators", "tp", "pp", "ep"):
            if getattr(self, name) < 1:
                raise InvalidParameterError(
                    f"--{name.replace('_', '-')}", getattr(self, name), "an integer >= 1"
                )


def _number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(f"{where}: {key}", value, "a number")
    return float(value)


def read_bench_json(path: str | Path, setup: BenchSetup, *, kind: str) -> Case:
    """One benchmark run (vLLM ``benchmark_serving.py`` or SGLang ``bench_serving``) as a case.

    Mean lengths are ``total_input_tokens / completed`` and ``total_output_tokens /
    completed``. A finite ``request_rate`` makes a ``server`` case (Poisson arrivals); else a
    ``max_concurrency`` makes a closed-loop ``max_num_seqs`` case with that batch; else the
    run is ``offline`` (all requests at once). SGLang writes one JSON object per line
    (``--output-file`` appends); every line is read, the last one is used.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidParameterError(
            f"--{kind}-json", str(path), "a path to a benchmark result JSON"
        )
    text = file.read_text(encoding="utf-8").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            data = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(
                f"{path}:{len(lines)}", lines[-1][:60], f"a JSON object ({exc.msg})"
            ) from None
    if not isinstance(data, dict):
        raise InvalidParameterError(str(path), type(data).__name__, "a JSON object")
    where = str(path)
    completed = _number(data, "completed", where)
    total_in = _number(data, "total_input_tokens", where)
    total_out = _number(data, "total_output_tokens", where)
    if not completed or completed <= 0:
        raise InvalidParameterError(f"{where}: completed", data.get("completed"), "a number > 0")
    if total_in is None or total_out is None or total_out <= 0:
        raise InvalidParameterError(
            f"{where}: total_input_tokens/total_output_tokens",
            (data.get("total_input_tokens"), data.get("total_output_tokens")),
            "token counts > 0",
        )
    metrics: dict[str, float] = {}
    for key, (metric, scale) in _BENCH_FIELDS.items():
        value = _number(data, key, where)
        if value is not None and value > 0 and metric not in metrics:
            metrics[metric] = value * scale
    if "output_tokens_per_s" not in metrics:
        raise InvalidParameterError(f"{where}: output_throughput", None, "a number > 0")
    rate = data.get("request_rate")
    rate_f = (
        float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else math.inf
    )
    concurrency = data.get("max_concurrency")
    if math.isfinite(rate_f) and rate_f > 0:
        mode, batch = "server", 0
    elif isinstance(concurrency, int) and concurrency > 0:
        mode, batch = "max_num_seqs", concurrency
    else:
        mode, batch = "offline", 0
    return Case(
        case_id=f"user-{kind}-{file.stem}",
        source_family="user",
        source=f"{kind}:{file.name}",
        model=setup.model,
        accelerator=setup.accelerator,
        num_accelerators=setup.num_accelerators,
        engine=setup.engine,
        engine_version=setup.engine_version,
        weight_precision=setup.weight_precision,
        kv_precision=setup.kv_precision,
        tp=setup.tp,
        pp=setup.pp,
        ep=setup.ep,
        input_tokens=total_in / completed,
        output_tokens=total_out / completed,
        input_tokens_assumed=False,
        beam_width=1,
        max_batch_size=0,
        power_limit_w=0.0,
        dataset=str(data.get("dataset_name", "") or data.get("backend", "")),
        mode=mode,
        request_rate_per_s=rate_f if mode == "server" else 0.0,
        batch_size=batch,
        metrics=metrics,
    )


@dataclass(frozen=True, slots=True)
class ErrorTable:
    """Mean absolute percentage error (fraction) and count, per metric and per accelerator."""

    by_metric: dict[str, tuple[float, int]]
    by_accelerator: dict[str, tuple[float, int]]
    overall: tuple[float, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationReport:
    """Errors before and after (cross-validated), and the final fit on all cases."""

    family: str
    accelerators: list[str]
    engines: list[str]
    num_cases: int
    skipped: list[tuple[str, str]]
    folds: int
    max_nfev: int
    before: ErrorTable
    after_cv: ErrorTable
    after_in_sample: ErrorTable
    hardware: dict[str, float]
    engine_params: dict[str, dict[str, float]]
    power: dict[str, float]
    elapsed_s: float
    sources: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)
    group_by: str = "case"
    """What each cross-validation fold kept together (:data:`GROUPINGS`)."""

    def to_document(self, command: str) -> dict[str, Any]:
        """The tables of the calibration file (``docs/calibration.md``)."""
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        try:
            version = importlib.metadata.version("chip2grid")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        accelerator = self.accelerators[0] if len(self.accelerators) == 1 else ""
        source = f"fitted {now.date().isoformat()} by `{command}` on {self.num_cases} cases"
        return {
            "provenance": {
                "kind": "calibrate",
                "family": self.family,
                "accelerator": accelerator,
                "accelerators": list(self.accelerators),
                "engines": list(self.engines),
                "created_utc": now.isoformat().replace("+00:00", "Z"),
                "chip2grid": version,
                "command": command,
                "measurements": list(self.sources),
                "num_cases": self.num_cases,
            },
            "hardware": {**self.hardware, "source": source},
            "engine": {k: {**v, "source": source} for k, v in self.engine_params.items()},
            "power": {**self.power, "source": source},
            "coverage": dict(self.coverage),
            "fit": {
                "folds": self.folds,
                "group_by": self.group_by,
                "max_nfev": self.max_nfev,
                "elapsed_s": self.elapsed_s,
                "mape_before_frac": self.before.overall[0],
                "mape_after_cv_frac": self.after_cv.overall[0],
                "mape_after_in_sample_frac": self.after_in_sample.overall[0],
                "num_residuals": self.before.overall[1],
                "before": {m: v[0] for m, v in self.before.by_metric.items()},
                "after_cv": {m: v[0] for m, v in self.after_cv.by_metric.items()},
            },
        }

    def write(self, path: str | Path, command: str) -> Path:
        """Write the calibration file atomically."""
        header = (
            "chip2grid calibration file written by `chip2grid calibrate`; do not edit by hand.\n"
            "Use it with CHIP2GRID_CALIBRATION=<this file> or calibration_for(..., override=<this file>)."
        )
        return write_atomic(path, to_toml(self.to_document(command), header=header))


def _errors(prep: Prepared, pred_rows: list[tuple[int, str, float, float]]) -> ErrorTable:
    by_metric: dict[str, list[float]] = defaultdict(list)
    by_acc: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    for i, metric, measured, predicted in pred_rows:
        err = abs(predicted / measured - 1.0)
        by_metric[metric].append(err)
        by_acc[prep.cases[i].accelerator].append(err)
        every.append(err)

    def summary(values: list[float]) -> tuple[float, int]:
        return (float(np.mean(values)) if values else math.nan, len(values))

    return ErrorTable(
        by_metric={k: summary(v) for k, v in sorted(by_metric.items())},
        by_accelerator={k: summary(v) for k, v in sorted(by_acc.items())},
        overall=summary(every),
    )


def _scored(
    prep: Prepared, pred: dict[str, np.ndarray], rows: np.ndarray
) -> list[tuple[int, str, float, float]]:
    out = []
    for i in rows:
        case = prep.cases[int(i)]
        for metric, value in case.metrics.items():
            target = scored_metric(case, metric)
            if target is None or target not in pred or value <= 0:
                continue
            p = float(pred[target][i])
            if math.isfinite(p):
                out.append((int(i), metric, value, p))
    return out


def _matches_engine(case: Case, engine: str) -> bool:
    return engine in (case.engine, case.engine_profile) or case.engine.startswith(engine + "+")


def _engine_params(prep: Prepared, final: FitResult) -> dict[str, dict[str, float]]:
    """The fitted parameters of each engine. A calibration file is for one family, so an
    engine's MoE share on it is its ``ENGINE@FAMILY`` pair's where the catalog has one (the
    engine's MoE cases were fitted there, :func:`chip2grid.validation.predict.prepare`)."""
    out = {
        k: {p: float(v) for p, v in zip(ENGINE_PARAMS, final.engine[i], strict=True)}
        for i, k in enumerate(prep.engine_keys)
        if not is_moe_pair(k)
    }
    for i, k in enumerate(prep.engine_keys):
        engine, family = moe_pair_parts(k)
        if family and engine in out:
            out[engine][ENGINE_PARAMS[MOE_PARAM]] = float(final.engine[i, MOE_PARAM])
    return out


GROUPINGS: dict[str, Callable[[Case], tuple[object, ...]]] = {
    "case": lambda c: (c.case_id,),
    "model": lambda c: (c.model,),
    "layout": lambda c: (c.model, c.tp, c.pp, c.ep, c.weight_precision, c.num_accelerators),
    "source": lambda c: (c.source_family,),
}
"""What ``--group-by`` keeps together in one fold: each case alone (``case``, plain k-fold),
every run of a model (``model``: the error on a model that was never measured), of a model at
one layout and precision (``layout``: on a deployment never measured, the runs of a sweep
staying together), or of a source family (``source``: on another team's harness)."""


def _grouping(group_by: str) -> Callable[[Case], tuple[object, ...]]:
    """The key of :data:`GROUPINGS` named ``group_by``; a field-named error otherwise."""
    key = GROUPINGS.get(group_by)
    if key is None:
        raise InvalidParameterError("--group-by", group_by, ", ".join(GROUPINGS))
    return key


def fold_indices(
    cases: list[Case], folds: int, seed: int = 0, group_by: str = "case"
) -> list[np.ndarray]:
    """The cases (by index) each of ``folds`` folds holds out: the groups of ``group_by``
    (:data:`GROUPINGS`) shuffled with ``seed`` and dealt into ``folds`` parts, so that no group
    is split between a fit and its test."""
    key = _grouping(group_by)
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(key(case), []).append(i)
    if len(groups) < folds:
        raise InvalidParameterError(
            "--folds",
            folds,
            f"at most the number of groups by {group_by} ({len(groups)})",
        )
    members = list(groups.values())
    order = np.random.default_rng(seed).permutation(len(members))
    return [
        np.array(sorted(i for g in part for i in members[g]), dtype=np.int64)
        for part in np.array_split(order, folds)
    ]


def calibrate(
    cases: list[Case],
    *,
    accelerator: str | None = None,
    engine: str | None = None,
    folds: int = 5,
    max_nfev: int = 20,
    seed: int = 0,
    sources: list[str] | None = None,
    group_by: str = "case",
) -> CalibrationReport:
    """Fit one accelerator family's efficiencies (and the engines' overheads) to ``cases``.

    ``accelerator`` and ``engine`` filter the cases (required when they span several
    families). Reports MAPE before (catalog), after in k-fold cross-validation (``folds``
    >= 2, folds of cases, shuffled with ``seed``; whole groups of ``group_by`` per fold,
    :func:`fold_indices`), and in-sample for the final fit on all.
    """
    t0 = time.perf_counter()
    if accelerator is not None:
        get_accelerator(accelerator)
        cases = [
            c for c in cases if c.accelerator == accelerator or _alias(c.accelerator) == accelerator
        ]
    if engine is not None:
        cases = [c for c in cases if _matches_engine(c, engine)]
    if folds < 2:
        raise InvalidParameterError("--folds", folds, "an integer >= 2")
    _grouping(group_by)  # a bad name stops before the cases are prepared
    if max_nfev < 1:
        raise InvalidParameterError("--max-nfev", max_nfev, "an integer >= 1")
    # only metrics the steady state predicts enter the fit (tails are read, not scored)
    cases = [
        replace(c, metrics={k: v for k, v in c.metrics.items() if k in PREDICTED_METRICS})
        for c in cases
    ]
    cases = [c for c in cases if c.metrics]
    prep = prepare(cases)
    families = sorted(set(prep.hw_keys))
    if len(families) > 1:
        accs = sorted({c.accelerator for c in prep.cases})
        raise InvalidParameterError(
            "--accelerator",
            accelerator,
            f"one accelerator (family) at a time; the cases span {', '.join(accs)}",
        )
    if len(prep.cases) < folds:
        raise InvalidParameterError(
            "--folds",
            folds,
            f"at most the number of usable cases ({len(prep.cases)}"
            + (f"; {len(prep.skipped)} skipped" if prep.skipped else "")
            + ")",
        )
    hw0, eng0, pw0 = catalog_parameters(prep)
    everyone = np.arange(len(prep.cases))
    before = _scored(prep, predict(prep, hw0, eng0, pw0), everyone)
    cv_rows: list[tuple[int, str, float, float]] = []
    for test in fold_indices(prep.cases, folds, seed, group_by):
        mask = np.ones(len(prep.cases), dtype=bool)
        mask[test] = False
        result = fit(prep, mask, start=(hw0, eng0, pw0), max_nfev=max_nfev)
        cv_rows += _scored(prep, predict(prep, result.hw, result.engine, result.power), test)
    final: FitResult = fit(
        prep, np.ones(len(prep.cases), dtype=bool), start=(hw0, eng0, pw0), max_nfev=max_nfev
    )
    in_sample = _scored(prep, predict(prep, final.hw, final.engine, final.power), everyone)
    contexts = np.concatenate([prep.isl, prep.isl + prep.osl])
    return CalibrationReport(
        family=families[0],
        accelerators=sorted({c.accelerator for c in prep.cases}),
        engines=[k for k in prep.engine_keys if not is_moe_pair(k)],
        num_cases=len(prep.cases),
        skipped=[(c.case_id, reason) for c, reason in prep.skipped],
        folds=folds,
        group_by=group_by,
        max_nfev=max_nfev,
        before=_errors(prep, before),
        after_cv=_errors(prep, cv_rows),
        after_in_sample=_errors(prep, in_sample),
        hardware={p: float(v) for p, v in zip(HW_PARAMS, final.hw[0], strict=True)},
        engine_params=_engine_params(prep, final),
        power={p: float(v) for p, v in zip(POWER_PARAMS, final.power, strict=True)},
        elapsed_s=time.perf_counter() - t0,
        sources=list(sources or []),
        coverage={
            "context_min_tokens": float(contexts.min()),
            "context_max_tokens": float(contexts.max()),
        },
    )


def _alias(name: str) -> str:
    try:
        return get_accelerator(name).id
    except LookupError:
        return name


def load_measurements(
    csv_paths: list[Path], vllm_json: list[Path], sglang_json: list[Path], setup: BenchSetup | None
) -> list[Case]:
    """Cases from measurement CSVs and benchmark JSONs (which need ``setup``)."""
    cases: list[Case] = []
    for path in csv_paths:
        cases += load_cases(path)
    if vllm_json or sglang_json:
        if setup is None:
            raise InvalidParameterError(
                "--model",
                None,
                "a catalog model id (with --accelerator) to read benchmark JSON files",
            )
        cases += [read_bench_json(p, setup, kind="vllm") for p in vllm_json]
        cases += [read_bench_json(p, setup, kind="sglang") for p in sglang_json]
    if not cases:
        raise InvalidParameterError(
            "--measurements", None, "a CSV, --vllm-json or --sglang-json file"
        )
    return cases
