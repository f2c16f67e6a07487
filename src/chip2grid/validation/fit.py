"""Fit efficiencies and overheads to measurements, and write them with their provenance.

Residuals are log errors ``ln(predicted / measured)``, weighted so that each source family
counts alike (``1 / sqrt(n_family)``), with a soft-L1 loss against outliers; a family of fewer
than :data:`FAMILY_MIN_CASES` runs counts in proportion to its size instead, so that a handful
of runs (five vLLM developer runs) cannot outweigh thousands in the parameters they share.
Efficiencies are bounded to ``(0, 1]`` so that no prediction beats the roofline.
"""

from __future__ import annotations

import dataclasses
import datetime
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from chip2grid.atomic import write_text_atomic
from chip2grid.errors import InvalidParameterError
from chip2grid.perf.calibration import (
    CLOCK_POWER_EXPONENT_RANGE,
    MOE_PAIR_SEP,
    hardware_calibration_key,
    is_moe_pair,
    moe_pair_parts,
)
from chip2grid.perf.engine import host_bound_calibrations
from chip2grid.validation.bursts import replayed_metrics
from chip2grid.validation.cases import Case
from chip2grid.validation.predict import (
    AT_MEASURED_BATCH,
    ENERGY_METRICS,
    ENGINE_PARAMS,
    HW_PARAMS,
    MEDIAN_METRICS,
    MOE_PARAM,
    POWER_PARAMS,
    THROUGHPUT_METRICS,
    Prepared,
    predict,
)

HW_BOUNDS = {
    "gemm_compute_eff": (0.2, 1.0, 0.7),
    "gemm_m_half_tokens": (0.5, 512.0, 16.0),
    "attention_compute_eff": (0.1, 1.0, 0.5),
    "memory_eff": (0.3, 1.0, 0.8),
    "comm_eff": (0.1, 1.0, 0.7),
    "comm_latency_s": (1e-6, 2e-4, 1e-5),
    "tdp_clock_frac": (0.5, 1.0, 1.0),
}
TDP_CLOCK = HW_PARAMS.index("tdp_clock_frac")
"""Fitted only for hardware families with fit cases above their reference part's TDP
(``Prepared.above_reference``): elsewhere it is absorbed by the efficiencies, and stays at its
start value (the prior 1 in a fit from the priors)."""
ENGINE_BOUNDS = {
    "step_overhead_s": (0.0, 0.05, 2e-3),
    "per_sequence_overhead_s": (0.0, 2e-4, 5e-6),
    "per_layer_overhead_s": (0.0, 2e-4, 1e-5),
    "moe_gemm_eff_frac": (0.2, 1.0, 1.0),
    "collective_overhead_s": (0.0, 2e-4, 0.0),
}
"""Bounds and start values of the engine parameters. ``moe_gemm_eff_frac`` (``MOE_PARAM``) is
fitted only for engines with MoE runs in the fit set, :data:`MOE_UNIDENTIFIED` apart
(:func:`_moe_counts`); the others keep their start value (the prior 1 in a fit from the priors).
An ``ENGINE@FAMILY`` pair (``Prepared.moe_index``) has only this parameter: it is fitted on
the engine's MoE runs on that family, and the engine's own share on its other MoE runs."""
NUM_HW, NUM_ENG = len(HW_PARAMS), len(ENGINE_PARAMS)
_PRIOR = {p: b[2] for p, b in (HW_BOUNDS | ENGINE_BOUNDS).items()}
"""Values of parameters a calibration table written before they existed does not give."""
POWER_BOUNDS = {
    "compute_power_coeff": (0.0, 2.0, 0.9),
    "memory_power_coeff": (0.0, 2.0, 0.6),
    "clock_power_exponent": (*CLOCK_POWER_EXPONENT_RANGE, 2.0),
}
"""The power coefficients are fitted on measured power after the performance parameters;
``clock_power_exponent`` sets the clock of power-limited parts, so it is fitted between two
fits of the performance parameters, on the fit set's power-limited single-accelerator runs
(without them it keeps its start value)."""


FAMILY_MIN_CASES = 100
"""Runs below which a source family's weight in the fit grows with its size rather than
counting as much as any other family (see the module docstring)."""


def scored_metric(case: Case, metric: str) -> str | None:
    """The prediction that a measured metric is compared with, or None if it is not scored.

    A burst with published per-request lengths, or a finite run of fixed-length requests, is
    scored on its replay (:mod:`.bursts`).

    Throughput under a fixed arrival rate equals the rate whenever the system keeps up, so it
    is a capacity check, not a prediction, and is left out of the error statistics.
    MLPerf energy per token is wall power of the whole system.
    """
    if metric in replayed_metrics(case):
        return metric  # replayed request by request (validation.bursts)
    if case.mode == "server" and metric in THROUGHPUT_METRICS:
        return None
    if case.mode == "offline" and metric in ("ttft_s_mean", "ttft_s_median", "e2e_latency_s_mean"):
        return None  # depends on how many requests were queued at once
    if case.source_family == "mlperf" and metric == "energy_j_per_output_token":
        return "system_energy_j_per_output_token"
    return metric


@dataclass(frozen=True, slots=True)
class FitResult:
    """Fitted parameters and what they were fitted on."""

    hw: np.ndarray
    engine: np.ndarray
    power: np.ndarray
    hw_keys: list[str]
    engine_keys: list[str]
    num_cases: int
    num_residuals: int
    cost: float
    fitted_on: str
    hw_counts: dict[str, int]
    engine_counts: dict[str, int]
    engine_moe_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    """MoE cases per engine calibration whose ``moe_gemm_eff_frac`` was fitted."""
    only: tuple[str, ...] = ()
    """The groups a partial fit moved (``fit(only=...)``); empty for a full fit."""


def _pairs(
    prep: Prepared,
    fit_mask: np.ndarray,
    metrics_filter: tuple[str, ...] | None,
    exclude: tuple[str, ...],
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    idx, names, measured, weights = [], [], [], []
    fams = Counter(c.source_family for c, m in zip(prep.cases, fit_mask, strict=True) if m)
    for i, case in enumerate(prep.cases):
        if not fit_mask[i]:
            continue
        replayed = replayed_metrics(case)
        for metric, value in case.metrics.items():
            if (
                metric in replayed  # no steady state
                or metric == AT_MEASURED_BATCH  # a diagnostic: the batch is measured
                or metric in exclude
                or (metrics_filter and metric not in metrics_filter)
            ):
                continue
            target = scored_metric(case, metric)
            if target is None:
                continue
            idx.append(i)
            names.append(target)
            measured.append(value)
            weights.append(1.0 / np.sqrt(max(fams[case.source_family], FAMILY_MIN_CASES)))
    return np.array(idx, dtype=int), names, np.array(measured), np.array(weights)


def fit(
    prep: Prepared,
    fit_mask: np.ndarray,
    *,
    start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    max_nfev: int = 60,
    only: tuple[str, ...] = (),
) -> FitResult:
    """Fit hardware and engine parameters on the cases where ``fit_mask`` is true, then power.

    With ``only`` (calibration keys: hardware families or engine calibrations), only those
    groups' parameters move; every other parameter, the clock exponent and the power
    coefficients stay at ``start``. This adds a group (a new engine) to a calibration without
    refitting the rest, which a fit from the priors would move as well.
    """
    n_hw, n_eng = len(prep.hw_keys), len(prep.engine_keys)
    if only:
        if start is None:
            raise ValueError("fit(only=...) needs the start parameters it holds")
        _check_only(prep, fit_mask, only)
    beta = POWER_BOUNDS["clock_power_exponent"]
    lo = np.array(
        [HW_BOUNDS[p][0] for p in HW_PARAMS] * n_hw
        + [ENGINE_BOUNDS[p][0] for p in ENGINE_PARAMS] * n_eng
        + [beta[0]]
    )
    hi = np.array(
        [HW_BOUNDS[p][1] for p in HW_PARAMS] * n_hw
        + [ENGINE_BOUNDS[p][1] for p in ENGINE_PARAMS] * n_eng
        + [beta[1]]
    )
    if start is None:
        power0 = np.array([POWER_BOUNDS[p][2] for p in POWER_PARAMS])
        x0 = np.array(
            [HW_BOUNDS[p][2] for p in HW_PARAMS] * n_hw
            + [ENGINE_BOUNDS[p][2] for p in ENGINE_PARAMS] * n_eng
            + [power0[2]]
        )
    else:
        power0 = np.asarray(start[2], dtype=float).copy()
        x0 = np.concatenate([start[0].ravel(), start[1].ravel(), power0[2:3]])
    x_given = x0.copy()
    x0 = np.clip(x0, lo + 1e-12, hi - 1e-12)
    # medians are scored, not fitted: the model gives them only where it gives the spread
    idx, names, measured, weights = _pairs(prep, fit_mask, None, ENERGY_METRICS + MEDIAN_METRICS)
    by_metric: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        by_metric.setdefault(name, []).append(k)
    groups = {name: np.array(v) for name, v in by_metric.items()}

    # scale: optimize in log space of each parameter's range
    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        power = power0.copy()
        power[2] = x[-1]
        return (
            x[: NUM_HW * n_hw].reshape(n_hw, NUM_HW),
            x[NUM_HW * n_hw : -1].reshape(n_eng, NUM_ENG),
            power,
        )

    def residuals(x: np.ndarray) -> np.ndarray:
        hw, eng, power = unpack(x)
        pred = predict(prep, hw, eng, power)
        out = np.empty(len(idx))
        for name, ks in groups.items():
            out[ks] = np.log(np.maximum(pred[name][idx[ks]], 1e-30) / measured[ks])
        out = np.where(np.isfinite(out), out, 5.0)
        return out * weights

    # only parameters of groups that appear in the fit set move; the clock exponent apart
    used_hw = set(prep.hw_index[fit_mask].tolist())
    above_hw = set(prep.hw_index[fit_mask & prep.above_reference].tolist())
    used_eng = set(prep.engine_index[fit_mask].tolist())
    moe_counts = _moe_counts(prep, fit_mask)
    moe_eng = {i for i, key in enumerate(prep.engine_keys) if key in moe_counts}
    free = np.array(
        [
            (i // NUM_HW) in (above_hw if i % NUM_HW == TDP_CLOCK else used_hw)
            for i in range(NUM_HW * n_hw)
        ]
        + [
            (i // NUM_ENG) in (moe_eng if i % NUM_ENG == MOE_PARAM else used_eng)
            for i in range(NUM_ENG * n_eng)
        ]
        + [False]
    )
    if only:
        free &= np.array(
            [
                _named(only, prep.hw_keys[i // NUM_HW], HW_PARAMS[i % NUM_HW])
                for i in range(NUM_HW * n_hw)
            ]
            + [
                _named(only, prep.engine_keys[i // NUM_ENG], ENGINE_PARAMS[i % NUM_ENG])
                for i in range(NUM_ENG * n_eng)
            ]
            + [False]
        )
        x0[~free] = x_given[~free]  # held exactly, even at a bound

    def solve(x_start: np.ndarray) -> tuple[np.ndarray, float]:
        def residuals_free(z: np.ndarray) -> np.ndarray:
            x = x_start.copy()
            x[free] = z
            return residuals(x)

        result = least_squares(
            residuals_free,
            x_start[free],
            bounds=(lo[free], hi[free]),
            loss="soft_l1",
            f_scale=0.1,
            x_scale=np.maximum(x_start[free], 1e-6),
            max_nfev=max_nfev,
            diff_step=1e-3,
        )
        x = x_start.copy()
        x[free] = result.x
        return x, float(result.cost)

    x_full, cost = solve(x0)
    if only:
        return _partial_result(prep, fit_mask, x_full, unpack, cost, len(idx), only)
    # The clock exponent is identified on power-limited parts serving from one accelerator:
    # on several, a collective model that errs on their links (PCIe) would stand in for it.
    single = fit_mask & prep.may_throttle & (prep.shape.tp * prep.shape.pp * prep.shape.ep == 1)
    rows = np.isin(idx, np.flatnonzero(single))
    if rows.any():

        def clock_residuals(b: np.ndarray) -> np.ndarray:
            x = x_full.copy()
            x[-1] = b[0]
            return residuals(x)[rows]

        x_full[-1] = least_squares(
            clock_residuals, x_full[-1:], bounds=(lo[-1:], hi[-1:]), loss="soft_l1", f_scale=0.1
        ).x[0]
        x_full, cost = solve(x_full)
    hw, eng, power0 = unpack(x_full)
    hw_counts = dict(Counter(prep.hw_keys[i] for i in prep.hw_index[fit_mask]))
    engine_counts = dict(Counter(prep.engine_keys[i] for i in prep.engine_index[fit_mask]))
    hw_default, eng_default = default_parameters(
        hw, eng, prep.hw_keys, prep.engine_keys, hw_counts, engine_counts
    )
    # groups without data of their own take their fallback family's fit or the defaults, as they
    # will from the written file
    for i, key in enumerate(prep.hw_keys):
        if key not in hw_counts:
            use = hardware_calibration_key(key, hw_counts)
            hw[i] = hw_default if use == "default" else hw[prep.hw_keys.index(use)]
    for i, key in enumerate(prep.engine_keys):
        if key not in engine_counts and not is_moe_pair(key):
            eng[i] = eng_default
    # power coefficients on the energy metrics of the fit set
    pidx, _names, pmeas, pw = _pairs(prep, fit_mask, ("gpu_power_w_mean",), ())
    power = power0
    if len(pidx):

        def power_residuals(p: np.ndarray) -> np.ndarray:
            pred = predict(prep, hw, eng, np.append(p, power0[2]))["gpu_power_w_mean"][pidx]
            return np.log(pred / pmeas) * pw

        coeffs = least_squares(
            power_residuals,
            power0[:2],
            bounds=(
                [POWER_BOUNDS[p][0] for p in POWER_PARAMS[:2]],
                [POWER_BOUNDS[p][1] for p in POWER_PARAMS[:2]],
            ),
            loss="soft_l1",
            f_scale=0.1,
        ).x
        power = np.append(coeffs, power0[2])
    return _result(
        prep, fit_mask, (hw, eng, power), cost, len(idx), hw_counts, engine_counts, moe_counts
    )


MOE_UNIDENTIFIED = frozenset({"vllm-host-bound"})
"""Engine calibrations whose MoE runs do not fit ``moe_gemm_eff_frac``: ML.ENERGY's vLLM runs
on a host-bound server, whose Mixtral throughput is short of batch / TPOT for reasons (host CPU
work between steps, not measured) that the fit cannot tell apart from slow expert kernels. vLLM
0.5's own profile (``vllm-sync``) fits it on its developers' batch-1 to 64 latency runs."""


def _moe_counts(prep: Prepared, mask: np.ndarray) -> dict[str, int]:
    """Engine calibration key or ``ENGINE@FAMILY`` pair -> the MoE cases among ``mask`` whose
    share it sets (``Prepared.moe_index``), for the engines whose MoE efficiency the fit
    identifies (all but :data:`MOE_UNIDENTIFIED`)."""
    counts = Counter(prep.engine_keys[i] for i in prep.moe_index[mask & prep.is_moe])
    return {k: n for k, n in counts.items() if moe_pair_parts(k)[0] not in MOE_UNIDENTIFIED}


def _named(only: tuple[str, ...], key: str, param: str) -> bool:
    """Whether ``--fit-only`` keys move ``param`` of group ``key`` (the group named whole, or
    ``KEY.PARAMETER``)."""
    return key in only or f"{key}.{param}" in only


def only_groups(only: tuple[str, ...]) -> tuple[str, ...]:
    """The calibration groups of ``--fit-only`` keys (``tensorrt-llm.moe_gemm_eff_frac`` names
    one parameter of the group ``tensorrt-llm``)."""
    return tuple(dict.fromkeys(key.split(".", 1)[0] for key in only))


def _check_only(prep: Prepared, fit_mask: np.ndarray, only: tuple[str, ...]) -> None:
    with_data = (
        {prep.hw_keys[i] for i in prep.hw_index[fit_mask]}
        | {prep.engine_keys[i] for i in prep.engine_index[fit_mask]}
        | set(_moe_counts(prep, fit_mask))
    )
    for key in only:
        group, _, param = key.partition(".")
        if is_moe_pair(group) and param not in ("", ENGINE_PARAMS[MOE_PARAM]):
            raise InvalidParameterError(
                "--fit-only",
                key,
                f"ENGINE{MOE_PAIR_SEP}FAMILY or ENGINE{MOE_PAIR_SEP}FAMILY.moe_gemm_eff_frac (a pair"
                " has its MoE share only)",
            )
        if group not in with_data:
            raise InvalidParameterError(
                "--fit-only",
                key,
                "a hardware family or engine calibration with cases in the fit set, or an "
                f"ENGINE{MOE_PAIR_SEP}FAMILY pair with MoE cases there: "
                + ", ".join(sorted(with_data)),
            )
        if param and param not in HW_PARAMS + ENGINE_PARAMS:
            raise InvalidParameterError(
                "--fit-only",
                key,
                "GROUP or GROUP.PARAMETER with a parameter of "
                + ", ".join(HW_PARAMS + ENGINE_PARAMS),
            )


def _partial_result(
    prep: Prepared,
    fit_mask: np.ndarray,
    x_full: np.ndarray,
    unpack: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    cost: float,
    num_residuals: int,
    only: tuple[str, ...],
) -> FitResult:
    """The result of a fit of ``only`` some groups: the families it saw are those of its groups."""
    hw, eng, power = unpack(x_full)
    groups = only_groups(only)
    in_groups = [i for i, k in enumerate(prep.engine_keys) if k in groups]
    mine = fit_mask & (
        np.isin(prep.hw_index, [i for i, k in enumerate(prep.hw_keys) if k in groups])
        | np.isin(prep.engine_index, in_groups)
        | (np.isin(prep.moe_index, in_groups) & prep.is_moe)
    )
    hw_counts = dict(
        Counter(prep.hw_keys[i] for i in prep.hw_index[mine] if prep.hw_keys[i] in groups)
    )
    engine_counts = dict(
        Counter(
            prep.engine_keys[i] for i in prep.engine_index[mine] if prep.engine_keys[i] in groups
        )
    )
    # a pair's cases: its engine's MoE runs on its family
    engine_counts |= {
        k: n for k, n in _moe_counts(prep, mine).items() if is_moe_pair(k) and k in groups
    }
    # the MoE share moved only where the group, or that one parameter of it, was named
    moe_counts = {
        k: n
        for k, n in _moe_counts(prep, mine).items()
        if _named(only, k, ENGINE_PARAMS[MOE_PARAM])
    }
    return _result(
        prep,
        mine,
        (hw, eng, power),
        cost,
        num_residuals,
        hw_counts,
        engine_counts,
        moe_counts,
        only,
    )


def _result(
    prep: Prepared,
    mask: np.ndarray,
    params: tuple[np.ndarray, np.ndarray, np.ndarray],
    cost: float,
    num_residuals: int,
    hw_counts: dict[str, int],
    engine_counts: dict[str, int],
    moe_counts: dict[str, int],
    only: tuple[str, ...] = (),
) -> FitResult:
    """A :class:`FitResult` of the parameters fitted on the cases ``mask`` selects."""
    fams = sorted({c.source_family for c, m in zip(prep.cases, mask, strict=True) if m})
    return FitResult(
        hw=params[0],
        engine=params[1],
        power=params[2],
        hw_keys=list(prep.hw_keys),
        engine_keys=list(prep.engine_keys),
        num_cases=int(mask.sum()),
        num_residuals=num_residuals,
        cost=cost,
        fitted_on=", ".join(fams),
        hw_counts=hw_counts,
        engine_counts=engine_counts,
        engine_moe_counts=moe_counts,
        only=only,
    )


def default_parameters(
    hw: np.ndarray,
    engine: np.ndarray,
    hw_keys: list[str],
    engine_keys: list[str],
    hw_counts: dict[str, int],
    engine_counts: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """The ``default`` hardware and engine parameters, for groups without data of their own.

    Hardware: the geometric mean of the fitted families. Engine: the median of the fitted
    engines, leaving out calibrations whose steps are bound by host CPU work
    (:func:`chip2grid.perf.engine.host_bound_calibrations`: a slow host, or vLLM 0.5's
    synchronous CPU work), which a current engine does not pay. Without any fitted group, the
    priors.
    """
    host_bound = host_bound_calibrations()
    used_hw = [i for i, key in enumerate(hw_keys) if key in hw_counts]
    used_eng = [
        i for i, key in enumerate(engine_keys) if key in engine_counts and key not in host_bound
    ]
    hw_default = (
        np.exp(np.log(np.maximum(hw[used_hw], 1e-30)).mean(axis=0))
        if used_hw
        else np.array([HW_BOUNDS[p][2] for p in HW_PARAMS])
    )
    eng_default = (
        np.median(engine[used_eng], axis=0)
        if used_eng
        else np.array([ENGINE_BOUNDS[p][2] for p in ENGINE_PARAMS])
    )
    # MoE kernels are each engine's own: the default, like an engine without MoE runs, keeps the
    # prior (routed experts as fast as a dense GEMM)
    eng_default[MOE_PARAM] = ENGINE_BOUNDS["moe_gemm_eff_frac"][2]
    return hw_default, eng_default


def _tables(
    section: str, rows: list[tuple[str, np.ndarray, str]], params: tuple[str, ...]
) -> list[str]:
    lines = []
    for key, values, source in rows:
        lines.append(f"[{section}.{key}]" if key else f"[{section}]")
        lines += [f"{name} = {float(v):.6g}" for name, v in zip(params, values, strict=True)]
        lines += [f'source = "{source}"', ""]
    return lines


def write_calibration(result: FitResult, path: Path, command: str) -> None:
    """Write ``calibration.toml``: one table per family and engine, with provenance.

    After a partial fit (``result.only``) the file keeps every other table as it was, with its
    own provenance, and replaces or adds the tables of the groups that were fitted."""
    if result.only:
        _update_calibration(result, path, command)
        return
    today = datetime.date.today().isoformat()
    used_hw = [i for i, key in enumerate(result.hw_keys) if key in result.hw_counts]
    used_eng = [i for i, key in enumerate(result.engine_keys) if key in result.engine_counts]
    counts_hw, counts_eng = result.hw_counts, result.engine_counts
    prov = (
        f"fitted {today} by `{command}` on {result.fitted_on} (shared/validation/measurements.csv)"
    )
    lines = [
        "# Fitted efficiencies and overheads. Written by `chip2grid validate --fit`; do not edit by hand.",
        f"# {prov}; {result.num_cases} cases, {result.num_residuals} residuals.",
        "# hardware.default is the geometric mean of the fitted families (used for families without data).",
        "",
    ]
    default, eng_default = default_parameters(
        result.hw, result.engine, result.hw_keys, result.engine_keys, counts_hw, counts_eng
    )
    rows = [("default", default, f"geometric mean of the fitted families; {prov}")]
    rows += [
        (result.hw_keys[i], result.hw[i], f"{prov}; {counts_hw[result.hw_keys[i]]} cases")
        for i in used_hw
    ]
    lines += _tables("hardware", rows, HW_PARAMS)
    erows = [
        (
            "default",
            eng_default,
            f"median of the fitted engines, host-bound servers left out; {prov}",
        )
    ]
    erows += [
        (
            result.engine_keys[i],
            result.engine[i],
            f"{prov}; {_engine_cases(result, result.engine_keys[i])}",
        )
        for i in used_eng
    ]
    lines += _tables("engine", erows, ENGINE_PARAMS)
    # the pairs this fit had no MoE runs for keep their tables and provenance
    moe = _moe_entries(tomllib.loads(path.read_text()) if path.is_file() else {})
    for i, key in enumerate(result.engine_keys):
        if key in result.engine_moe_counts and is_moe_pair(key):
            moe[moe_pair_parts(key)] = _moe_entry(result, i, prov, result.engine_moe_counts[key])
    lines += _moe_tables(moe)
    lines += _tables(
        "power",
        [
            (
                "",
                result.power,
                "coefficients: gpu_power_w_mean of the fit set; clock_power_exponent: with the "
                f"efficiencies, on the power-limited parts of the fit set; {prov}",
            )
        ],
        POWER_PARAMS,
    )
    write_text_atomic(path, "\n".join(lines).rstrip("\n") + "\n")


def _moe_entries(table: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``[moe.ENGINE.FAMILY]`` tables of a parsed ``calibration.toml``, by (engine, family)."""
    return {
        (engine, family): dict(entry)
        for engine, families in table.get("moe", {}).items()
        for family, entry in families.items()
    }


def _moe_entry(result: FitResult, i: int, prov: str, num_cases: int) -> dict[str, Any]:
    """The ``[moe.ENGINE.FAMILY]`` table of the pair in engine row ``i``, fitted on
    ``num_cases`` MoE cases."""
    return {
        ENGINE_PARAMS[MOE_PARAM]: result.engine[i, MOE_PARAM],
        "source": f"{prov}; {num_cases} MoE cases",
    }


def _moe_tables(moe: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """``[moe.ENGINE.FAMILY]`` tables: an engine's MoE share on one family, with provenance."""
    param = ENGINE_PARAMS[MOE_PARAM]
    rows = [
        (f"{e}.{f}", np.array([float(entry[param])]), str(entry["source"]))
        for (e, f), entry in sorted(moe.items())
    ]
    return _tables("moe", rows, (param,))


def _engine_cases(result: FitResult, key: str) -> str:
    moe = result.engine_moe_counts.get(key, 0)
    text = f"{result.engine_counts[key]} cases"
    return text + (f" (moe_gemm_eff_frac on its {moe} MoE cases)" if moe else "")


def _update_calibration(result: FitResult, path: Path, command: str) -> None:
    today = datetime.date.today().isoformat()
    text = path.read_text()
    table = tomllib.loads(text)
    prov = (
        f"fitted {today} by `{command}` on {result.fitted_on} with the other groups held"
        " at their values"
    )
    groups = only_groups(result.only)
    for i, key in enumerate(result.hw_keys):
        if key in groups:
            table["hardware"][key] = dict(zip(HW_PARAMS, result.hw[i], strict=True))
            table["hardware"][key]["source"] = f"{prov}; {result.hw_counts[key]} cases"
    moe = _moe_entries(table)
    for i, key in enumerate(result.engine_keys):
        if key in groups and is_moe_pair(key):
            moe[moe_pair_parts(key)] = _moe_entry(result, i, prov, result.engine_counts[key])
        elif key in groups:
            table["engine"][key] = dict(zip(ENGINE_PARAMS, result.engine[i], strict=True))
            table["engine"][key]["source"] = f"{prov}; {_engine_cases(result, key)}"
    mark = f"# {', '.join(result.only)}: "
    header = [
        line for line in text.splitlines() if line.startswith("#") and not line.startswith(mark)
    ]
    header.append(f"{mark}{prov}.")
    lines = [*header, ""]
    for section, params in (("hardware", HW_PARAMS), ("engine", ENGINE_PARAMS)):
        rows = [
            (
                key,
                np.array([entry.get(p, _PRIOR[p]) for p in params], dtype=float),
                str(entry["source"]),
            )
            for key, entry in table[section].items()
        ]
        lines += _tables(section, rows, params)
    lines += _moe_tables(moe)
    power = table["power"]
    lines += _tables(
        "power",
        [("", np.array([power[p] for p in POWER_PARAMS], dtype=float), str(power["source"]))],
        POWER_PARAMS,
    )
    write_text_atomic(path, "\n".join(lines).rstrip("\n") + "\n")
