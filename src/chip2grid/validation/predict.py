"""Vectorized predictions for validation cases, with the calibration as free parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chip2grid.errors import Chip2GridError, InvalidParameterError
from chip2grid.hardware import (
    ServerPower,
    accelerator_power_w,
    full_activity_power_w,
    get_accelerator,
    sustained_clock_frac,
)
from chip2grid.llm import get_model
from chip2grid.perf import (
    Deployment,
    EngineProfile,
    RankShape,
    calibration_for,
    continuous_batching,
    get_engine,
    rank_shape,
    require_fit,
    static_batching,
)
from chip2grid.perf.calibration import (
    CLOCK_POWER_EXPONENT_RANGE,
    EngineCalibration,
    HardwareCalibration,
    PowerCalibration,
    catalog_calibration_for,
    catalog_moe_pair,
    moe_pair_key,
    moe_pair_parts,
)
from chip2grid.perf.estimate import max_concurrency
from chip2grid.perf.steady import (
    ADMISSION_QUEUES,
    Cycle,
    admission_wait_s,
    arrival_ttft_s,
    batch_at_rate,
    bulk_prefill,
    closed_loop_times,
    lockstep_wave,
    md1_wait_s,
)
from chip2grid.perf.step import attention_precision, head_peak_flops_per_s
from chip2grid.validation.bench_settings import TRTLLM_BENCH, trtllm_bench_limits
from chip2grid.validation.cases import Case

Array = np.ndarray


def _fitted_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "source")


HW_PARAMS = _fitted_fields(HardwareCalibration)
ENGINE_PARAMS = _fitted_fields(EngineCalibration)
POWER_PARAMS = _fitted_fields(PowerCalibration)
MOE_PARAM = ENGINE_PARAMS.index("moe_gemm_eff_frac")
TDP_CLOCK_PARAM = HW_PARAMS.index("tdp_clock_frac")
"""The engine parameter that a ``[moe.ENGINE.FAMILY]`` pair sets for one family
(``Prepared.moe_index``)."""
THROUGHPUT_METRICS = ("output_tokens_per_s", "requests_per_s", "total_tokens_per_s")
AT_MEASURED_BATCH = "tpot_s_at_measured_batch"
"""A diagnostic of Server runs, never fitted: the run's measured mean TPOT against the model's
decode iteration at the batch the run held. Little's law gives that batch from the run's own
measurements, completed requests a second times the time a request spends past its first
token (mean end-to-end latency less mean TTFT), over its replicas. Near capacity a Server
run's TPOT grows as ``1 / (1 - load)``, so a few per cent of capacity error becomes tens of
per cent of latency at the measured rate; at the measured batch the step's own error is left
(README, Validation)."""
ENERGY_METRICS = (
    "gpu_power_w_mean",
    "energy_j_per_output_token",
    "energy_j_per_request",
    "system_power_w_mean",
)
MEDIAN_METRICS = ("ttft_s_median", "tpot_s_median")
"""Medians the model predicts only where it gives the spread of requests (closed loops in
waves, static batches): scored there, never fitted."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """Cases that chip2grid can express, as arrays, plus the reasons the others were skipped."""

    cases: list[Case]
    skipped: list[tuple[Case, str]]
    shape: RankShape
    hw_keys: list[str]
    engine_keys: list[str]
    hw_index: Array
    engine_index: Array
    moe_index: Array
    """The ``engine_keys`` row whose ``moe_gemm_eff_frac`` each case's routed experts use: the
    case's engine, or for a MoE case whose engine has a share of its own on the case's family
    (``ENGINE@FAMILY``, a ``[moe.ENGINE.FAMILY]`` table or a pair named to be fitted) that
    pair's row. A pair's row holds its engine's other parameters, which nothing reads."""
    isl: Array
    osl: Array
    input_cv: Array
    output_cv: Array
    batch: Array
    full_batch: Array
    replicas: Array
    num_accelerators: Array
    mixed: Array
    budget: Array
    rate_per_instance: Array
    users_per_instance: Array
    """The closed loop's requests in flight per instance (mode ``concurrency``; 0 otherwise)."""
    mode: Array
    identical_inputs: Array
    """Cases whose prompts are one token repeated (``Case.identical_inputs``; static batches)."""
    idle_w: Array
    tdp_w: Array
    """The power each accelerator may draw: the run's cap, else the TDP."""
    datasheet_tdp_w: Array
    """The accelerator's own TDP, at which its power model is fitted."""
    peak: Array
    """The GEMM peak at the datasheet clock, like ``peak_attn_flops_per_s`` for attention;
    :func:`with_parameters` scales both by the sustained clock
    (:func:`chip2grid.hardware.sustained_clock_frac`)."""
    bandwidth: Array
    peak_attn_flops_per_s: Array
    peak_head_flops_per_s: Array
    reference_dynamic_power_w: Array
    reference_clock_frac: Array
    harness_window_s: Array
    """How long the harness gathers requests before it hands them to an instance in one batch
    (``Case.harness_batch_window_s``; 0: each as it arrives)."""
    harness_max: Array
    """The most requests one harness batch holds (``Case.harness_batch_max``; 0: no limit)."""
    admission_steps: Array
    """Decode steps between the engine's intakes of new requests (``Case.admission_every_steps``)."""
    measured_batch: Array
    """The running batch per replica a Server run held by its own measurements
    (:func:`measured_batch`; :data:`AT_MEASURED_BATCH`), NaN where they do not give it."""
    admission: str = "slots"
    """How a server-mode case waits for admission (:data:`chip2grid.perf.steady.ADMISSION_QUEUES`)."""

    @property
    def is_moe(self) -> Array:
        """Cases of mixture-of-experts models (their routed experts use the MoE efficiency)."""
        return np.asarray(self.shape.moe_frac, dtype=float) > 0

    @property
    def may_throttle(self) -> Array:
        """Cases whose power limit is below what the die needs at its datasheet clock."""
        # the need D k^beta is largest at the smallest exponent
        return self.clock_frac(CLOCK_POWER_EXPONENT_RANGE[0]) < 1.0

    @property
    def above_reference(self) -> Array:
        """Cases whose power limit exceeds what their die's full-power part has at its TDP (the
        need ``D k^beta`` at the smallest exponent): the only cases in which the fitted
        ``tdp_clock_frac`` is not absorbed by the efficiencies."""
        return (self.tdp_w - self.idle_w) > (
            self.reference_dynamic_power_w * self.reference_clock_frac
        ) * (1.0 + 1e-9)

    def full_activity_w(self, clock_power_exponent: float, tdp_clock_frac: Array) -> Array:
        """Each case's power at full activity before its limit clips it
        (:func:`chip2grid.hardware.full_activity_power_w`)."""
        at_tdp = sustained_clock_frac(
            self.datasheet_tdp_w,
            self.idle_w,
            self.reference_dynamic_power_w,
            self.reference_clock_frac,
            clock_power_exponent,
            tdp_clock_frac,
        )
        return full_activity_power_w(
            self.datasheet_tdp_w,
            self.idle_w,
            self.clock_frac(clock_power_exponent, tdp_clock_frac),
            at_tdp,
            clock_power_exponent,
        )

    def clock_frac(self, clock_power_exponent: float, tdp_clock_frac: Array | float = 1.0) -> Array:
        """The clock each case's matrix units sustain under full load, with the reference part
        at ``tdp_clock_frac`` of its datasheet clock at its TDP (per case, or one value)."""
        return sustained_clock_frac(
            self.tdp_w,
            self.idle_w,
            self.reference_dynamic_power_w,
            self.reference_clock_frac,
            clock_power_exponent,
            tdp_clock_frac,
        )


def case_deployment(case: Case) -> Deployment:
    """The deployment a measured case ran: model, accelerator, layout, precisions, engine."""
    acc = get_accelerator(case.accelerator).with_scale_up(
        case.scale_up_domain_size, case.scale_up_topology
    )
    return Deployment(
        model=get_model(case.model),
        accelerator=acc,
        power_limit_w=min(case.power_limit_w, acc.max_power_w),
        num_accelerators=case.num_accelerators,
        tp=case.tp,
        pp=case.pp,
        ep=case.ep,
        weight_precision=case.weight_precision,
        kv_precision=case.kv_precision,
        activation_precision=case.activation_precision,
        engine=get_engine(case.engine_profile).id,
        allreduce_quantization=case.allreduce_quantization,
    )


def measured_batch(case: Case) -> float:
    """Requests a Server run held past their first token, on average over all its replicas:
    Little's law on its measured completions a second (else its target rate) and the mean time
    from a request's first token to its last. NaN for other modes or where the run does not
    publish its mean latencies."""
    m = case.metrics
    rate = m.get("requests_per_s") or case.request_rate_per_s
    if case.mode != "server" or not rate or "e2e_latency_s_mean" not in m:
        return float("nan")
    decoding_s = m["e2e_latency_s_mean"] - m.get("ttft_s_mean", 0.0)
    return float(rate * decoding_s) if decoding_s > 0 else float("nan")


def with_measured_batch_metric(cases: list[Case]) -> list[Case]:
    """The cases, each Server run whose measurements give its batch (:func:`measured_batch`)
    and its mean TPOT gaining that TPOT as :data:`AT_MEASURED_BATCH` too."""
    out = []
    for case in cases:
        tpot = case.metrics.get("tpot_s_mean")
        if tpot and np.isfinite(measured_batch(case)):
            case = dataclasses.replace(case, metrics={**case.metrics, AT_MEASURED_BATCH: tpot})
        out.append(case)
    return out


def _batch_limits(case: Case, dep: Deployment, engine: EngineProfile) -> tuple[int, int]:
    """Per-scheduler ``(max_num_seqs, max_num_batched_tokens)`` the measured run used: the
    submitter's stated batch (MLPerf ``gpu_batch_size``, TensorRT-LLM ``max_batch_size``, vLLM's
    ``max_num_seqs`` and ``max_num_batched_tokens`` in a harness YAML), the
    limits trtllm-bench sized the engine with, else the engine's defaults."""
    if case.sized_by == TRTLLM_BENCH:
        sized = trtllm_bench_limits(
            dep.model,
            weight_precision=case.weight_precision,
            tp=dep.tp,
            pp=dep.pp,
            device_memory_bytes=dep.accelerator.memory_bytes,
            input_tokens=case.input_tokens,
            output_tokens=case.output_tokens,
        )
        if sized is not None:
            return sized
    return (
        case.max_batch_size or engine.max_num_seqs,
        case.max_num_batched_tokens or engine.max_num_batched_tokens,
    )


def prepare(
    cases: list[Case], *, admission: str = "slots", moe_pairs: tuple[str, ...] = ()
) -> Prepared:
    """Build deployments for every expressible case (default calibration in the shapes);
    ``admission`` names the queue a server-mode case waits in (``ADMISSION_QUEUES``).

    MoE cases of an engine with a share of its own on their family use that pair's row
    (``Prepared.moe_index``): the pairs of ``calibration.toml`` and ``moe_pairs``
    (``ENGINE@FAMILY`` keys, pairs to be fitted that it does not have yet)."""
    if admission not in ADMISSION_QUEUES:
        raise InvalidParameterError("admission-queue", admission, ", ".join(ADMISSION_QUEUES))
    kept: list[Case] = []
    skipped: list[tuple[Case, str]] = []
    shapes: list[RankShape] = []
    rows: list[dict[str, float]] = []
    hw_keys: list[str] = []
    engine_keys: list[str] = []
    hw_idx: list[int] = []
    eng_idx: list[int] = []
    moe_idx: list[int] = []
    modes: list[str] = []
    for case in cases:
        try:
            acc = get_accelerator(case.accelerator)
            engine = get_engine(case.engine_profile)
            if case.input_tokens <= 0 or case.output_tokens <= 0:
                raise Chip2GridError("input or output length unknown")
            if case.beam_width > 1:
                raise Chip2GridError(f"beam search ({case.beam_width} beams) is not modelled yet")
            if case.mode == "concurrency" and case.concurrency < 1:
                raise Chip2GridError("a concurrency run that states no number of requests")
            if case.unstated:
                raise Chip2GridError(f"the source does not state its {' or '.join(case.unstated)}")
            dep = case_deployment(case)
            plan = require_fit(dep, engine, case.input_tokens + case.output_tokens)
            cap = max_concurrency(dep, plan, engine, case.workload)
            if cap < 1:
                raise Chip2GridError("no sequence fits in the KV cache")
            calibration = calibration_for(acc.family, engine.calibration)
        except (Chip2GridError, ValueError) as exc:
            skipped.append((case, str(exc).split("\n")[0][:200]))
            continue
        # the submitter's configured batch (MLPerf gpu_batch_size: TensorRT-LLM max_batch_size)
        # is per scheduler, as the engine's default is
        max_seqs, budget = dep.instance_caps(*_batch_limits(case, dep, engine))
        if case.mode == "max_num_seqs" and case.batch_size and not case.max_batch_size:
            max_seqs = case.batch_size  # the client's concurrency: the instance's total
        full_b = float(min(max_seqs, cap))
        batch = float(case.batch_size or 1) if case.mode in ("static_batch", "single") else full_b
        hw_key, engine_key = acc.family, engine.calibration
        if hw_key not in hw_keys:
            hw_keys.append(hw_key)
        if engine_key not in engine_keys:
            engine_keys.append(engine_key)
        hw_idx.append(hw_keys.index(hw_key))
        eng_idx.append(engine_keys.index(engine_key))
        moe_key = engine_key
        if dep.model.num_moe_layers:
            named = moe_pair_key(engine_key, hw_key)
            moe_key = (
                named if named in moe_pairs else catalog_moe_pair(engine_key, hw_key) or moe_key
            )
        if moe_key not in engine_keys:
            engine_keys.append(moe_key)
        moe_idx.append(engine_keys.index(moe_key))
        shapes.append(rank_shape(dep, calibration))
        modes.append(case.mode)
        rows.append(
            {
                "isl": case.input_tokens,
                "osl": case.output_tokens,
                "input_cv": case.input_tokens_cv,
                "output_cv": case.output_tokens_cv,
                "batch": batch,
                "full_batch": full_b,
                "replicas": dep.num_replicas,
                "n": dep.num_accelerators,
                "mixed": float(engine.mixed_batching),
                "identical": float(case.identical_inputs),
                "budget": float(budget),
                "rate": case.request_rate_per_s / dep.num_replicas,
                "users": case.concurrency / dep.num_replicas if case.mode == "concurrency" else 0.0,
                "idle": acc.idle_power_w,
                "tdp": dep.power_limit_resolved_w,
                "tdp_datasheet": acc.tdp_w,
                "peak": acc.peak_flops(dep.compute_precision),
                "bw": acc.memory_bandwidth_bytes_per_s,
                "peak_attn": acc.peak_flops(attention_precision(dep)),
                "peak_head": head_peak_flops_per_s(dep),
                "ref_dyn": acc.full_load_dynamic_power_w,
                "ref_clock": acc.reference_clock_frac,
                "window": case.harness_batch_window_s,
                "window_max": float(case.harness_batch_max),
                "admit_every": float(case.admission_every_steps),
                "measured_batch": measured_batch(case) / dep.num_replicas,
            }
        )
        kept.append(case)

    def col(name: str) -> Array:
        return np.array([r[name] for r in rows], dtype=float)

    return Prepared(
        cases=kept,
        skipped=skipped,
        shape=RankShape.stack(shapes) if shapes else RankShape.stack([]),
        hw_keys=hw_keys,
        engine_keys=engine_keys,
        hw_index=np.array(hw_idx, dtype=int),
        engine_index=np.array(eng_idx, dtype=int),
        moe_index=np.array(moe_idx, dtype=int),
        isl=col("isl"),
        osl=col("osl"),
        input_cv=col("input_cv"),
        output_cv=col("output_cv"),
        batch=col("batch"),
        full_batch=col("full_batch"),
        replicas=col("replicas"),
        num_accelerators=col("n"),
        mixed=col("mixed"),
        budget=col("budget"),
        rate_per_instance=col("rate"),
        users_per_instance=col("users"),
        mode=np.array(modes),
        identical_inputs=col("identical") > 0,
        idle_w=col("idle"),
        tdp_w=col("tdp"),
        datasheet_tdp_w=col("tdp_datasheet"),
        peak=col("peak"),
        bandwidth=col("bw"),
        peak_attn_flops_per_s=col("peak_attn"),
        peak_head_flops_per_s=col("peak_head"),
        reference_dynamic_power_w=col("ref_dyn"),
        reference_clock_frac=col("ref_clock"),
        harness_window_s=col("window"),
        harness_max=col("window_max"),
        admission_steps=col("admit_every"),
        measured_batch=col("measured_batch"),
        admission=admission,
    )


def with_parameters(
    prep: Prepared, hw: Array, engine: Array, clock_power_exponent: float
) -> RankShape:
    """The stacked shape with hardware (``[n_hw, len(HW_PARAMS)]``) and engine
    (``[n_engine, len(ENGINE_PARAMS)]``) parameters, its peaks at the clock that
    ``clock_power_exponent`` gives each case."""
    changes = {name: hw[prep.hw_index, i] for i, name in enumerate(HW_PARAMS)}
    changes.update({name: engine[prep.engine_index, i] for i, name in enumerate(ENGINE_PARAMS)})
    changes[ENGINE_PARAMS[MOE_PARAM]] = engine[prep.moe_index, MOE_PARAM]
    clock = prep.clock_frac(clock_power_exponent, changes.pop("tdp_clock_frac"))
    changes["peak_gemm_flops_per_s"] = prep.peak * clock
    changes["peak_attn_flops_per_s"] = prep.peak_attn_flops_per_s * clock
    changes["peak_head_flops_per_s"] = prep.peak_head_flops_per_s * clock
    return dataclasses.replace(prep.shape, **changes)


def harness_batch_delay_s(
    prep: Prepared, rows: Array, own_prefill_s: Array, shape: RankShape
) -> Array:
    """What a harness that hands an instance its requests in batches adds to the mean TTFT of
    server-mode cases ``rows`` (``Prepared.harness_window_s``): the wait for the batch to be
    sent (half its window: requests arrive at random within it; the window closes early once
    ``harness_max`` are waiting) and the prefill of the whole batch, delivered at once to one
    instance, in place of the request's own prefill (``own_prefill_s``)."""
    total_rate = prep.rate_per_instance[rows] * prep.replicas[rows]
    window = prep.harness_window_s[rows]
    limit = prep.harness_max[rows]
    fill_s = np.where(limit > 0, limit / np.maximum(total_rate, 1e-12), np.inf)
    window = np.minimum(window, fill_s)
    return _intake_delay_s(prep, rows, 0.5 * window, total_rate * window, own_prefill_s, shape)


def multi_step_delay_s(
    prep: Prepared, rows: Array, iteration_s: Array, own_prefill_s: Array, shape: RankShape
) -> Array:
    """What an engine that takes in new requests only every ``admission_steps`` decode steps
    (``Prepared.admission_steps``) adds to the mean TTFT of server-mode cases ``rows``: a request
    waits half that interval for the next intake (half an iteration of it is already counted, the
    step in progress) and is prefilled with all that arrived in the interval, in place of its
    own prefill (``own_prefill_s``)."""
    steps = prep.admission_steps[rows]
    bulk = prep.rate_per_instance[rows] * steps * iteration_s
    return _intake_delay_s(
        prep, rows, 0.5 * (steps - 1.0) * iteration_s, bulk, own_prefill_s, shape
    )


def _intake_delay_s(
    prep: Prepared,
    rows: Array,
    wait_s: Array,
    bulk: Array,
    own_prefill_s: Array,
    shape: RankShape,
) -> Array:
    """What requests that reach an instance of cases ``rows`` in batches of ``bulk`` add to
    the mean TTFT: ``wait_s`` for their batch to go in, and the mean first token of the whole
    batch prefilled at once (:func:`chip2grid.perf.steady.bulk_prefill`) in place of a
    request's own prefill (``own_prefill_s``)."""
    prefill = bulk_prefill(
        _subset(shape, rows),
        prep.isl[rows],
        prep.budget[rows],
        bulk,
        prep.mixed[rows],
        prep.input_cv[rows],
    )
    out: Array = wait_s + prefill.ttft_s - own_prefill_s
    return out


def predict(
    prep: Prepared, hw: Array, engine: Array, power: Array, server: ServerPower | None = None
) -> dict[str, Array]:
    """Predict every steady-state metric for every prepared case (NaN where not defined)."""
    server = server or ServerPower()
    shape = with_parameters(prep, hw, engine, float(power[2]))
    n = len(prep.cases)
    isl, osl = prep.isl, prep.osl
    mode = prep.mode
    nan = np.full(n, np.nan)
    out_tps, ttft, tpot, prefill_s, flops_it, bytes_it, busy_s, gap, wait_s, at_batch = (
        nan.copy() for _ in range(10)
    )
    # medians where the model gives the spread (closed loops in waves, static batches): NaN
    # elsewhere, which leaves the measured median unscored
    ttft_median, tpot_median = nan.copy(), nan.copy()
    continuous = np.isin(mode, ["offline", "max_num_seqs", "server", "concurrency"])
    static = ~continuous
    if continuous.any():
        idx = np.flatnonzero(continuous)

        def cycles(rows: Array) -> Callable[[Array], Cycle]:
            """The steady state of cases ``rows`` as a function of their running batches."""
            sub = _subset(shape, rows)

            def cycle(num_seqs: Array) -> Cycle:
                return continuous_batching(
                    sub,
                    isl[rows],
                    osl[rows],
                    num_seqs,
                    prep.mixed[rows],
                    prep.budget[rows],
                    input_cv=prep.input_cv[rows],
                    output_cv=prep.output_cv[rows],
                )

            return cycle

        cycle = cycles(idx)
        full = cycle(prep.full_batch[idx])
        cap_rps = full.requests_per_s
        rate = np.where(mode[idx] == "server", prep.rate_per_instance[idx], cap_rps)
        b = prep.full_batch[idx].copy()
        server_rows = mode[idx] == "server"
        closed = mode[idx] == "concurrency"
        users = prep.users_per_instance[idx]
        b = np.where(closed, np.minimum(users, b), b)
        if server_rows.any():
            sv = np.flatnonzero(server_rows)
            b[sv] = batch_at_rate(
                lambda rows, num_seqs: cycles(idx[sv][rows])(num_seqs),
                rate[sv],
                osl[idx][sv],
                b[sv],
            )
        cyc = cycle(np.maximum(b, 1.0))
        held = server_rows & np.isfinite(prep.measured_batch[idx])
        if held.any():
            h = np.flatnonzero(held)
            at_batch[idx[h]] = cycles(idx[h])(
                np.clip(prep.measured_batch[idx[h]], 1.0, prep.full_batch[idx[h]])
            ).iteration_s
        saturated = server_rows & (rate >= cap_rps)
        if prep.admission == "slots":
            queue = admission_wait_s(cyc, rate, prep.full_batch[idx], osl[idx], prep.output_cv[idx])
        else:
            queue = md1_wait_s(rate / cap_rps, 1.0 / cap_rps)
        wait = np.where(server_rows, queue, 0.0)
        wait = np.where(saturated, np.inf, wait)
        # closed loops: out of step, or in waves where every output has the same length
        loop = closed_loop_times(cyc, users, b, osl[idx])
        closed_ttft, closed_e2e, closed_wait = loop.ttft_s, loop.e2e_s, loop.wait_s
        waves = closed & (prep.output_cv[idx] == 0)
        if waves.any():
            w = np.flatnonzero(waves)
            rows = idx[w]
            in_waves = lockstep_wave(
                _subset(shape, rows),
                isl[rows],
                osl[rows],
                np.maximum(b[w], 1.0),
                prep.mixed[rows],
                prep.budget[rows],
                input_cv=prep.input_cv[rows],
            ).closed_loop(users[w], b[w])
            closed_ttft[w], closed_e2e[w] = in_waves.ttft_s, in_waves.e2e_s
            closed_wait[w] = in_waves.wait_s
            ttft_median[rows] = in_waves.ttft_median_s
            # the median request's first token comes at the median time; all end together
            tpot_median[rows] = (in_waves.e2e_s - in_waves.ttft_median_s) / np.maximum(
                osl[rows] - 1.0, 1.0
            )
        wait = np.where(closed, closed_wait, wait)
        rps = np.where(server_rows, np.minimum(rate, cap_rps), cyc.requests_per_s)
        rps = np.where(closed, users / np.maximum(closed_e2e, 1e-12), rps)
        out_tps[idx] = rps * osl[idx] * prep.replicas[idx]
        ttft[idx] = np.where(server_rows, arrival_ttft_s(cyc, wait), np.nan)
        batched = server_rows & (prep.harness_window_s[idx] > 0)
        if batched.any():
            hb = np.flatnonzero(batched)
            ttft[idx[hb]] += harness_batch_delay_s(prep, idx[hb], cyc.prefill_latency_s[hb], shape)
        stepped = server_rows & (prep.admission_steps[idx] > 1)
        if stepped.any():
            ms = np.flatnonzero(stepped)
            ttft[idx[ms]] += multi_step_delay_s(
                prep, idx[ms], cyc.iteration_s[ms], cyc.prefill_latency_s[ms], shape
            )
        ttft[idx] = np.where(closed, closed_ttft, ttft[idx])
        wait_s[idx] = np.where(server_rows | closed, wait, np.nan)
        # a closed loop's ITL: the time after the first token over the tokens after it
        closed_tpot = (closed_e2e - closed_ttft) / np.maximum(osl[idx] - 1.0, 1.0)
        tpot[idx] = np.where(closed & (osl[idx] > 1), closed_tpot, cyc.iteration_s)
        gap[idx] = cyc.step.total_s  # a typical gap: one decode (or mixed) step, no prefill stall
        flops_it[idx] = cyc.flops_per_iteration
        bytes_it[idx] = cyc.bytes_per_iteration
        busy = np.where(server_rows, np.minimum(1.0, b), 1.0)
        busy_s[idx] = cyc.iteration_s / np.maximum(busy, 1e-9)
    if static.any():
        idx = np.flatnonzero(static)
        sub = _subset(shape, idx)
        run = static_batching(
            sub, isl[idx], osl[idx], prep.batch[idx], identical_inputs=prep.identical_inputs[idx]
        )
        out_tps[idx] = prep.batch[idx] * osl[idx] / run.total_s * prep.replicas[idx]
        ttft[idx] = run.prefill_s
        ttft_median[idx] = run.prefill_s  # every request of a static batch alike
        prefill_s[idx] = run.prefill_s
        tpot[idx] = np.where(osl[idx] > 1, run.decode_s / np.maximum(osl[idx] - 1.0, 1.0), np.nan)
        gap[idx] = tpot[idx]
        tpot_median[idx] = tpot[idx]
        flops_it[idx] = run.prefill_step.flops + run.decode_step.flops * (osl[idx] - 1.0)
        bytes_it[idx] = run.prefill_step.bytes + run.decode_step.bytes * (osl[idx] - 1.0)
        busy_s[idx] = run.total_s
    u_c = np.minimum(1.0, flops_it / (busy_s * shape.peak_gemm_flops_per_s))  # at the clock
    u_m = np.minimum(1.0, bytes_it / (busy_s * prep.bandwidth))
    full_activity_w = prep.full_activity_w(float(power[2]), hw[prep.hw_index, TDP_CLOCK_PARAM])
    p_acc = accelerator_power_w(
        prep.idle_w, full_activity_w, u_c, u_m, power[0], power[1], power_limit_w=prep.tdp_w
    )
    gpu_w = p_acc * prep.num_accelerators
    sys_w = (
        (p_acc + server.host_power_w_per_accelerator)
        * prep.num_accelerators
        / server.psu_efficiency_frac
    )
    e2e = ttft + (osl - 1.0) * tpot
    return {
        "output_tokens_per_s": out_tps,
        "requests_per_s": out_tps / osl,
        "total_tokens_per_s": out_tps * (isl + osl) / osl,
        "ttft_s_mean": ttft,
        "ttft_s_median": ttft_median,
        "tpot_s_mean": tpot,
        "tpot_s_median": tpot_median,
        AT_MEASURED_BATCH: at_batch,
        "itl_s_mean": tpot,
        "itl_s_median": gap,
        "e2e_latency_s_mean": np.where(static, prefill_s + (osl - 1.0) * tpot, e2e),
        "prefill_time_s": prefill_s,
        "queue_wait_s": wait_s,  # the part of a Server or closed-loop run's TTFT spent queued
        "decode_time_s_per_token": np.where(static, tpot, np.nan),
        "gpu_power_w_mean": gpu_w,
        "energy_j_per_output_token": gpu_w / out_tps,
        "energy_j_per_request": gpu_w / out_tps * osl,
        "system_power_w_mean": sys_w,
        "system_energy_j_per_output_token": sys_w / out_tps,
    }


def _subset(shape: RankShape, idx: Array) -> RankShape:
    return RankShape(
        **{
            f.name: (
                np.asarray(getattr(shape, f.name))[idx]
                if np.ndim(getattr(shape, f.name))
                else getattr(shape, f.name)
            )
            for f in dataclasses.fields(RankShape)
        }
    )


def _catalog_engine(key: str) -> EngineCalibration:
    """The shipped engine calibration of an engine key, or of an ``ENGINE@FAMILY`` pair (the
    engine's, with its MoE share on that family: the pair's table, else the engine's own)."""
    engine, family = moe_pair_parts(key)
    return catalog_calibration_for(family or "default", engine).engine


def catalog_parameters(prep: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shipped catalog's parameters (never a user calibration file) for the prepared
    hardware and engine groups, and the power coefficients."""
    hw = [
        [getattr(catalog_calibration_for(k, "default").hardware, p) for p in HW_PARAMS]
        for k in prep.hw_keys
    ]
    eng = [[getattr(_catalog_engine(k), p) for p in ENGINE_PARAMS] for k in prep.engine_keys]
    power = catalog_calibration_for("default", "default").power
    return np.array(hw), np.array(eng), np.array([getattr(power, p) for p in POWER_PARAMS])
