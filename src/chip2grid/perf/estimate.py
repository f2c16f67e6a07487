"""Steady-state estimates for one deployment: throughput, TTFT, TPOT, latency, power, energy."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.hardware import (
    QUICK_REDUCE_RANKS,
    SWITCH_REDUCTION_MIN_BYTES,
    Accelerator,
    ServerPower,
    accelerator_power_w,
    quantized_allreduce,
    ring_all_reduce_bus_factor,
    switch_all_reduce_bus_factor,
)
from chip2grid.llm import Architecture
from chip2grid.perf.attribution import prefill_time_share
from chip2grid.perf.calibration import Calibration, calibration_for, moe_pair_parts
from chip2grid.perf.deployment import Deployment, parallel_layouts
from chip2grid.perf.engine import EngineProfile, get_engine
from chip2grid.perf.memory import MemoryPlan, require_fit
from chip2grid.perf.speculative import SpeculativeDecoding
from chip2grid.perf.steady import (
    ClosedLoopTimes,
    Cycle,
    admission_wait_s,
    arrival_ttft_s,
    batch_at_rate,
    closed_loop_times,
    continuous_batching,
    decode_context_tokens,
    lockstep_wave,
    prefill_context_tokens,
    slot_time_s,
    static_batching,
)
from chip2grid.perf.step import (
    ALLREDUCE_BYTES_PER_ELEMENT,
    OPERATORS,
    RankShape,
    StepBatch,
    StepTimes,
    clock_frac,
    full_activity_power,
    nvls_enabled,
    rank_shape,
    step_time,
)
from chip2grid.perf.validated import ValidatedFigure, regime, validated_error
from chip2grid.units import MIB

Mode = Literal["max_load", "concurrency", "request_rate", "static"]
MODES: tuple[str, ...] = ("max_load", "concurrency", "request_rate", "static")
SLOWER_FRAC = 0.10
"""How much longer every engine step is taken in the latency sensitivity of an estimate
(:attr:`Estimate.ttft_s_mean_if_slower`): the order of the step-time error chip2grid's
validation finds on runs its fit did not see (README, Validation)."""
MAX_LENGTH_CV = 10.0
"""Largest coefficient of variation of request lengths accepted (a heavy tail of 100x the
median is about 5)."""


class RequestShape(Protocol):
    """A record that states a request's mean lengths and their spread (:meth:`Workload.of`)."""

    @property
    def input_tokens(self) -> float: ...
    @property
    def output_tokens(self) -> float: ...
    @property
    def input_tokens_cv(self) -> float: ...
    @property
    def output_tokens_cv(self) -> float: ...


def length_spread_label(input_cv: float, output_cv: float) -> str:
    """``cv <in> / <out>`` for a workload whose lengths vary, empty for fixed lengths (the
    printed form of the spread in tables and trace names)."""
    return f"cv {input_cv:g} / {output_cv:g}" if input_cv or output_cv else ""


def check_length_cv(name: str, value: float) -> None:
    """Raise :class:`InvalidParameterError` naming ``name`` unless ``value`` is a coefficient
    of variation of request lengths from 0 to :data:`MAX_LENGTH_CV`."""
    if not 0 <= value <= MAX_LENGTH_CV:
        raise InvalidParameterError(
            name, value, f"a coefficient of variation from 0 (fixed lengths) to {MAX_LENGTH_CV:g}"
        )


def mesh_subset_note(acc: Accelerator, group: int, pp: int = 1) -> str:
    """A note where a layout uses part of a full mesh (``scale_up_topology``): a group of
    ``group`` chips smaller than the domain reaches only the ``group - 1`` links among them, and
    a pipeline stage sends over one link; the step model costs them so
    (:meth:`~chip2grid.hardware.Accelerator.collective_bandwidth_bytes_per_s`). Empty where the
    layout reaches every link, or the domain is a switch."""
    domain = acc.scale_up_domain_size
    if acc.scale_up_topology != "full_mesh" or domain <= 2:
        return ""
    parts = []
    if 1 < group < domain:
        parts.append(
            f"a {group}-chip collective group reaches {group - 1} of the {domain - 1} peer links "
            f"({acc.collective_bandwidth_bytes_per_s(group) / 1e9:.0f} GB/s a direction)"
        )
    if pp > 1 and group * pp <= domain:
        parts.append(
            f"a pipeline stage sends over one link "
            f"({acc.point_to_point_bandwidth_bytes_per_s(group * pp) / 1e9:.0f} GB/s)"
        )
    if not parts:
        return ""
    return (
        f"{acc.id} links each chip directly to its {domain - 1} peers: "
        + " and ".join(parts)
        + f", not the chip's whole {acc.scale_up_bandwidth_bytes_per_s / 1e9:.0f} GB/s; "
        "communication is costed over those links"
    )


def allreduce_tokens(deployment: Deployment, message_bytes: float) -> float:
    """Tokens a step must carry for its tensor-parallel all-reduce to reach ``message_bytes``."""
    return message_bytes / (ALLREDUCE_BYTES_PER_ELEMENT * deployment.model.hidden_size)


def switch_reduction_note(deployment: Deployment) -> str:
    """A note where the tensor-parallel group sits on a switch that reduces in the fabric
    (:meth:`~chip2grid.hardware.Accelerator.switch_reduction_eff`): the bytes a large all-reduce
    sends per byte of message through the switch and as a ring, and whether the deployment
    (its ``nccl_nvls``, else its engine) uses the switch's. Empty where the switch cannot reduce
    for this group, or would save under 1 % of a ring's bytes (small groups)."""
    acc, tp = deployment.accelerator, deployment.tp
    eff = acc.switch_reduction_eff(tp)
    if eff <= 0.0:
        return ""
    ring = ring_all_reduce_bus_factor(tp)
    switch = switch_all_reduce_bus_factor(tp, eff)
    if switch > 0.99 * ring:  # at 4 GPUs it saves 0.2 %: nothing worth a note
        return ""
    tokens = allreduce_tokens(deployment, SWITCH_REDUCTION_MIN_BYTES)
    large = (
        f"all-reduces of {SWITCH_REDUCTION_MIN_BYTES / MIB:.0f} MiB and more "
        f"({tokens:,.0f} tokens a step and more)"
    )
    if nvls_enabled(deployment):
        return (
            f"{large} over the {tp} GPUs reduce in the switch (NVLink SHARP, NCCL's NVLS): "
            f"{switch:.2f} bytes through each link per byte, not a ring's {ring:.2f}"
        )
    who = (
        "nccl_nvls off"
        if deployment.nccl_nvls == "off"
        else f"{deployment.engine} turns it off by default"
    )
    return (
        f"NCCL's in-switch all-reduce (NVLS) is not used ({who}): all-reduces are costed as "
        f"rings, {ring:.2f} bytes through each link per byte; with it on, {large} would send "
        f"{switch:.2f}"
    )


def check_draft_model(target: Architecture, speculative: SpeculativeDecoding | None) -> list[str]:
    """Check a speculative draft model against its ``target``: raise where it is no smaller;
    return a note where its vocabulary differs (a draft must share the target's tokenizer)."""
    drafter = speculative.draft_model if speculative is not None else None
    if drafter is None:
        return []
    if drafter.num_params >= target.num_params:
        raise InvalidParameterError(
            "draft_model",
            drafter.id,
            f"a model smaller than the target {target.id} "
            f"({target.num_params / 1e9:.1f} B parameters; {drafter.id} has "
            f"{drafter.num_params / 1e9:.1f} B)",
        )
    if drafter.vocab_size == target.vocab_size:
        return []
    return [
        f"draft model {drafter.id} has a {drafter.vocab_size:,d}-token vocabulary and "
        f"{target.id} {target.vocab_size:,d}: a draft must share the target's tokenizer, so "
        "the acceptance rate given is unlikely to hold"
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """Mean request shape: prompt tokens in, generated tokens out.

    ``input_tokens_cv`` and ``output_tokens_cv`` are the coefficients of variation (standard
    deviation over mean) of the lengths; 0 means every request has the mean lengths. A spread
    of output lengths lengthens the mean context of the decode batch, which over-represents long
    outputs (:func:`chip2grid.perf.steady.decode_context_tokens`); a spread of input lengths
    adds prefill attention work.
    """

    input_tokens: float
    output_tokens: float
    input_tokens_cv: float = 0.0
    output_tokens_cv: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens"):
            value = getattr(self, name)
            if not (value >= 1 and math.isfinite(value)):
                raise InvalidParameterError(
                    name.replace("_", "-"), value, "a finite number of tokens >= 1"
                )
        for name in ("input_tokens_cv", "output_tokens_cv"):
            check_length_cv(name.replace("_", "-"), getattr(self, name))

    @classmethod
    def of(cls, request: RequestShape) -> Workload:
        """The workload of any record that states a request's mean lengths and their spread
        (a plan request, a validation case)."""
        return cls(
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            input_tokens_cv=request.input_tokens_cv,
            output_tokens_cv=request.output_tokens_cv,
        )

    @property
    def decode_context_tokens(self) -> float:
        """Mean context of a sequence in the decode batch."""
        return float(
            decode_context_tokens(self.input_tokens, self.output_tokens, self.output_tokens_cv)
        )


MAX_CONCURRENCY = 1e9
"""The most users a closed loop takes: far past any KV cache's slots, and where the admission
wait still leaves the time past the first token resolved in double precision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """How the deployment is driven.

    ``max_load``: all requests queued (offline throughput); ``concurrency``: a closed loop of
    ``concurrency`` users; ``request_rate``: Poisson arrivals at ``request_rate_per_s``;
    ``static``: static batches of ``batch_size``.
    """

    mode: Mode = "max_load"
    concurrency: float = 0.0
    in_waves: bool | None = None
    """A closed loop whose users start together and stay in step (a benchmark client with fixed
    lengths: :func:`chip2grid.perf.steady.lockstep_wave`); False: they send at random moments,
    as a service's users do. None: in waves when every output has the same length."""
    request_rate_per_s: float = 0.0
    batch_size: int = 0
    max_num_seqs: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidParameterError("mode", self.mode, ", ".join(MODES))
        if self.mode == "concurrency" and not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise InvalidParameterError(
                "concurrency",
                self.concurrency,
                f"a finite number of users from 1 to {MAX_CONCURRENCY:.0e} (a mean may be fractional)",
            )
        if self.mode == "request_rate" and not (
            self.request_rate_per_s > 0 and math.isfinite(self.request_rate_per_s)
        ):
            raise InvalidParameterError(
                "request-rate",
                self.request_rate_per_s,
                "a finite number of requests per second > 0",
            )
        if self.mode == "static" and self.batch_size < 1:
            raise InvalidParameterError("batch-size", self.batch_size, "an integer >= 1")
        if self.max_num_seqs < 0:
            raise InvalidParameterError("max-num-seqs", self.max_num_seqs, "an integer >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseBreakdown:
    """Time of one step of a phase by operator, and what bounds it."""

    step_s: float
    bound: str
    operators_s: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """The steady-state estimate of one deployment under one load (all totals over all accelerators)."""

    model: str
    accelerator: str
    num_accelerators: int
    tp: int
    pp: int
    ep: int
    num_replicas: int
    engine: str
    weight_precision: str
    kv_precision: str
    compute_precision: str
    mode: str
    input_tokens: float
    output_tokens: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    requests_per_s: float
    ttft_s_mean: float
    tpot_s_mean: float
    e2e_latency_s_mean: float
    max_concurrency: int
    """Sequences the KV caches of all replicas hold at once."""
    batch_size: float
    """The running decode batch of one replica."""
    saturated: bool
    load_frac: float
    """Requests per second over the instance's capacity (1 at max load and for a static batch):
    how close a fixed request rate runs to the rate at which queues grow without bound."""
    queue_wait_s: float
    """Mean wait for admission included in ``ttft_s_mean``: for a sequence slot at a fixed
    request rate (:func:`chip2grid.perf.steady.admission_wait_s`; inf when saturated), for a
    slot beyond the batch in a closed loop, 0 otherwise."""
    ttft_s_mean_if_slower: float
    """Mean TTFT if every engine step took :data:`SLOWER_FRAC` longer than estimated (inf where
    the rate would then exceed the capacity): under a fixed request rate near capacity, latency
    grows far faster than the step time, so this is the estimate's sensitivity to an error in
    it."""
    tpot_s_mean_if_slower: float
    """Mean TPOT if every engine step took :data:`SLOWER_FRAC` longer (as ``ttft_s_mean_if_slower``)."""
    accelerator_power_w: float
    system_power_w: float
    energy_j_per_output_token: float
    system_energy_j_per_output_token: float
    compute_util_frac: float
    memory_bandwidth_util_frac: float
    prefill: PhaseBreakdown
    decode: PhaseBreakdown
    memory_gb: dict[str, float]
    calibration: str
    speculative_tokens_per_step: float = 1.0
    power_limit_w: float = 0.0
    """Power each accelerator may draw (its cap, else its TDP)."""
    clock_frac: float = 1.0
    """Share of the datasheet clock the matrix units sustain under full load (below 1 when the
    power limit binds: :func:`chip2grid.perf.step.clock_frac`)."""
    input_tokens_cv: float = 0.0
    """Coefficient of variation of the input lengths the estimate assumed (:class:`Workload`)."""
    output_tokens_cv: float = 0.0
    """Coefficient of variation of the output lengths the estimate assumed."""
    prefill_time_frac: float = 0.0
    """Share of busy time charged to input tokens by stand-alone cost
    (:func:`chip2grid.perf.attribution.prefill_time_share`); it splits cost per token. NaN
    when the estimate was made with ``cost_split=False``."""
    validated_error: dict[str, dict[str, ValidatedFigure | None]] | None = None
    """Per metric group (throughput, ttft, tpot, e2e, energy), the error chip2grid's validation
    measured on runs of the same accelerator family, engine calibration and regime (the model
    whole on one accelerator or split over several; at most 16 sequences a step or more), or
    the nearest wider pool with enough of them, on runs the shipped calibration was fitted on (``seen``)
    and on runs it never saw (``unseen``): :func:`chip2grid.perf.validated.validated_error`.
    None with a user calibration file, which that validation did not measure."""
    notes: list[str] = field(default_factory=list)

    @property
    def layout(self) -> str:
        """``replicas x (TP PP EP)``."""
        return f"{self.num_replicas}x(TP{self.tp} PP{self.pp} EP{self.ep})"


def _phase(step: StepTimes) -> PhaseBreakdown:
    return PhaseBreakdown(
        step_s=float(step.total_s),
        bound=str(step.bound),
        operators_s={name: float(step.operators[name]) for name in OPERATORS},
    )


def kv_tokens_per_seq(engine: EngineProfile, workload: Workload) -> float:
    """KV tokens a sequence of the running batch holds on average.

    An engine that reserves a request's whole length at admission holds its input plus its
    output; one that allocates as tokens arrive holds its current context. Either way the
    running batch over-represents long outputs when lengths vary (see :class:`Workload`).
    """
    if engine.kv_reservation == "full":
        return workload.input_tokens + workload.output_tokens * (1.0 + workload.output_tokens_cv**2)
    return workload.decode_context_tokens


def max_concurrency(
    deployment: Deployment, plan: MemoryPlan, engine: EngineProfile, workload: Workload
) -> int:
    """Sequences one instance can hold in its KV cache (per instance, all attention replicas)."""
    per_seq = kv_tokens_per_seq(engine, workload)
    per_replica = math.floor(plan.kv_cache_tokens / per_seq)
    return max(per_replica, 0) * deployment.attention_dp


def estimate(
    deployment: Deployment,
    workload: Workload,
    load: Load | None = None,
    *,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
    speculative: SpeculativeDecoding | None = None,
    cost_split: bool = True,
) -> Estimate:
    """Estimate throughput, latencies, power and energy of ``deployment`` serving ``workload``.

    ``cost_split=False`` skips :attr:`Estimate.prefill_time_frac` (two or more extra step
    evaluations, about a third of an estimate) for searches that discard most estimates.
    Raises :class:`InfeasibleError` when the model and one sequence do not fit in memory.
    """
    load = load or Load()
    engine = get_engine(deployment.engine)
    if load.mode == "static" and engine.id == "tensorrt-llm":
        engine = get_engine("tensorrt-llm-static")
    calibration = calibration or calibration_for(deployment.accelerator.family, engine.calibration)
    server = server or ServerPower()
    seq_tokens = workload.input_tokens + workload.output_tokens
    plan = require_fit(deployment, engine, seq_tokens)
    cap = max_concurrency(deployment, plan, engine, workload)
    if cap < 1:
        raise InfeasibleError(
            f"{deployment.model.id}: not even one {seq_tokens:.0f}-token sequence fits in the KV cache"
        )
    shape = rank_shape(deployment, calibration)
    calibration.check_coverage(
        gemm_m_tokens=[1.0, float(engine.max_num_batched_tokens)],
        context_tokens=workload.input_tokens + workload.output_tokens,
    )
    spec_tokens, query_tokens, draft_steps = 1.0, 1.0, 0.0
    draft_shape: RankShape | None = None
    if speculative is not None:
        spec_tokens = speculative.tokens_per_step
        query_tokens = float(speculative.num_speculative_tokens + 1)
        draft_steps = float(speculative.num_speculative_tokens)
        draft = deployment.replace(model=speculative.draft_architecture(deployment.model), ep=1)
        draft_shape = rank_shape(draft, calibration)
    isl, osl = workload.input_tokens, workload.output_tokens
    # speculative decoding: each step yields spec_tokens per sequence, so decode needs fewer steps
    osl_steps = 1.0 + (osl - 1.0) / spec_tokens
    replicas = deployment.num_replicas
    per_rank_seqs = load.max_num_seqs or engine.max_num_seqs
    max_seqs, budget = deployment.instance_caps(per_rank_seqs, engine.max_num_batched_tokens)
    notes: list[str] = []
    notes.extend(check_draft_model(deployment.model, speculative))
    if (
        speculative is not None
        and speculative.method == "mtp"
        and deployment.model.num_mtp_layers == 0
    ):
        notes.append(
            f"{deployment.model.id} ships no multi-token-prediction layers "
            "(num_nextn_predict_layers 0): the drafter is costed as one of its decoder layers, "
            "as a draft head trained for it (EAGLE-style) would be; the acceptance rate is the "
            "one given"
        )
    context_window = deployment.model.max_context_tokens
    if context_window and seq_tokens > context_window:
        notes.append(
            f"{seq_tokens:,.0f} tokens a request ({isl:,.0f} in, {osl:,.0f} out) exceed "
            f"{deployment.model.id}'s context window of {context_window:,d} tokens: the model "
            "was not trained for such sequences; the estimate is of the work alone"
        )
    wait = 0.0
    saturated = False
    slower: tuple[float, float] | None = None
    wave_decode: StepTimes | None = None
    single_prefill = step_time(
        shape,
        StepBatch.prefill(1.0, isl, context=prefill_context_tokens(isl, workload.input_tokens_cv)),
    )
    if load.mode == "static":
        if workload.input_tokens_cv or workload.output_tokens_cv:
            notes.append(
                "static batching is estimated at the mean lengths: the length spread is not "
                "applied (a static batch runs until its longest request ends)"
            )
        batch = float(load.batch_size)
        if batch > cap:
            raise InfeasibleError(
                f"batch-size {load.batch_size} does not fit: the KV cache holds at most {cap} sequences of "
                f"{seq_tokens:.0f} tokens on {deployment.layout}; use --batch-size {cap} or more accelerators"
            )
        run = static_batching(shape, isl, osl_steps, batch)
        total = float(run.total_s)
        out_tps = batch * osl / total * replicas
        req_ps = batch / total * replicas
        ttft = float(run.prefill_s)
        tpot = float(run.decode_s) / max(osl - 1.0, 1.0)
        e2e = total
        prefill_step, decode_step = run.prefill_step, run.decode_step
        iteration_flops = float(run.prefill_step.flops) + float(run.decode_step.flops) * (
            osl_steps - 1.0
        )
        iteration_bytes = float(run.prefill_step.bytes) + float(run.decode_step.bytes) * (
            osl_steps - 1.0
        )
        busy_s = total
        batch_size = batch
        load_frac = 1.0
    else:
        mixed = engine.mixed_batching

        def cycle(num_seqs: float) -> Cycle:
            return continuous_batching(
                shape,
                isl,
                osl_steps,
                num_seqs,
                mixed,
                budget,
                query_tokens=query_tokens,
                draft_shape=draft_shape,
                num_draft_steps=draft_steps,
                input_cv=workload.input_tokens_cv,
                output_cv=workload.output_tokens_cv,
            )

        full_b = float(min(max_seqs, cap))
        full = cycle(full_b)
        capacity_rps = float(full.requests_per_s)
        closed: ClosedLoopTimes | None = None  # a closed loop's latencies
        if load.mode == "max_load":
            cyc, b = full, full_b
            rate = capacity_rps
            busy = 1.0
            wait = 0.0
        elif load.mode == "concurrency":
            per_instance = load.concurrency / replicas
            b = min(per_instance, full_b)
            cyc = cycle(b)
            in_waves = load.in_waves
            if in_waves is None:
                in_waves = workload.output_tokens_cv == 0
            if in_waves:
                # equal outputs: the users finish together and the loop moves in waves, whose
                # decode steps carry no prefill (the breakdown shows that step)
                wave = lockstep_wave(
                    shape,
                    isl,
                    osl_steps,
                    max(b, 1.0),
                    mixed,
                    budget,
                    query_tokens=query_tokens,
                    draft_shape=draft_shape,
                    num_draft_steps=draft_steps,
                    input_cv=workload.input_tokens_cv,
                )
                wave_decode = wave.decode_step
                closed = wave.closed_loop(per_instance, b)
            else:
                closed = closed_loop_times(cyc, per_instance, b, osl_steps)
            wait = float(closed.wait_s)
            rate = per_instance / float(closed.e2e_s)
            busy = 1.0
            if per_instance > full_b:
                notes.append(
                    f"{per_instance:.0f} users per instance exceed the {full_b:.0f} that fit; the rest queue"
                )
        else:
            rate = load.request_rate_per_s / replicas
            if rate >= capacity_rps:
                saturated = True
                notes.append(
                    f"request rate {load.request_rate_per_s:g}/s exceeds the capacity "
                    f"{capacity_rps * replicas:.3g}/s: queues grow without bound"
                )
                cyc, b, busy, wait = full, full_b, 1.0, float("inf")
                rate = capacity_rps
            else:
                cyc, b, busy, wait = _serve_rate(
                    cycle, rate, osl_steps, full_b, workload.output_tokens_cv
                )
        t_iter = float(cyc.iteration_s)
        tpot = t_iter * (osl_steps - 1.0) / max(osl - 1.0, 1e-9) if osl > 1 else t_iter
        if closed is None:
            ttft = float(arrival_ttft_s(cyc, wait))
        else:
            ttft = float(closed.ttft_s)
            if osl > 1:  # the time after the first token, over the tokens after it
                tpot = float(closed.e2e_s - closed.ttft_s) / (osl - 1.0)
        load_frac = min(rate / capacity_rps, 1.0) if capacity_rps > 0 else 1.0
        if load.mode == "request_rate":
            # every step k times longer is the same queue as k times the rate on the fitted
            # engine, with every time k times longer (the fixed point depends on rate x time);
            # a saturated rate was set to the capacity, so it takes the first branch
            k = 1.0 + SLOWER_FRAC
            if rate * k >= capacity_rps:
                slower = (math.inf, math.inf)
            else:
                s_cyc, _, _, s_wait = _serve_rate(
                    cycle, rate * k, osl_steps, full_b, workload.output_tokens_cv, b_start=b
                )
                slower = (
                    k * float(arrival_ttft_s(s_cyc, s_wait)),
                    k * float(s_cyc.iteration_s) * tpot / max(t_iter, 1e-30),
                )
                if not math.isfinite(slower[0]):  # the slots' queue is unstable: no steady
                    slower = (math.inf, math.inf)  # state, whatever the step's time
        e2e = ttft + (osl - 1.0) * tpot
        req_ps = rate * replicas
        out_tps = req_ps * osl
        prefill_step, decode_step = single_prefill, wave_decode or cyc.step
        if wave_decode is not None and tpot > 1.05 * float(wave_decode.total_s):
            notes.append(
                f"closed loop in waves: the decode step below ({wave_decode.total_s * 1e3:.3g} "
                f"ms) carries no prefill; the mean TPOT ({tpot * 1e3:.3g} ms) also spans the "
                "prefill steps of the prompts its wave admits after a request's first token"
            )
        iteration_flops = float(cyc.flops_per_iteration)
        iteration_bytes = float(cyc.bytes_per_iteration)
        busy_s = t_iter / busy if busy > 0 else float("inf")
        batch_size = float(cyc.decode_seqs)
    if slower is None:
        # a closed loop (fixed users, a full batch or a static batch) keeps its batch: every
        # latency grows in proportion to the step time
        slower = ((1.0 + SLOWER_FRAC) * ttft, (1.0 + SLOWER_FRAC) * tpot)
    acc = deployment.accelerator
    peak = float(shape.peak_gemm_flops_per_s)
    u_c = min(1.0, iteration_flops / (busy_s * peak)) if busy_s > 0 else 0.0
    u_m = (
        min(1.0, iteration_bytes / (busy_s * acc.memory_bandwidth_bytes_per_s))
        if busy_s > 0
        else 0.0
    )
    p_acc = float(
        accelerator_power_w(
            acc.idle_power_w,
            full_activity_power(deployment, calibration),
            u_c,
            u_m,
            calibration.power.compute_power_coeff,
            calibration.power.memory_power_coeff,
            power_limit_w=deployment.power_limit_resolved_w,
        )
    )
    n = deployment.num_accelerators
    p_sys = server.system_power_w(p_acc, n)
    clock = clock_frac(deployment, calibration)
    if clock < 1.0:
        notes.append(
            f"{acc.id} at {deployment.power_limit_resolved_w:g} W sustains {clock:.0%} of its "
            "datasheet clock under full matrix load (power-limited)"
        )
    if engine.id.startswith("tensorrt-llm") and acc.vendor != "nvidia":
        notes.append(
            f"{engine.id} runs on NVIDIA GPUs only: {acc.id} is priced with its scheduling and "
            "overheads as a stand-in; --engine vllm-v1 or sglang for an engine that runs there"
        )
    above = deployment.power_limit_resolved_w > acc.tdp_w
    if above and calibration.hardware.tdp_clock_frac >= 1.0:
        notes.append(
            f"{acc.id} at {deployment.power_limit_resolved_w:g} W, above its {acc.tdp_w:g} W TDP: "
            f"the {calibration.hardware_key} calibration holds the datasheet clock at the TDP "
            "(tdp_clock_frac 1), so the higher limit adds neither speed nor power"
        )
    adp = deployment.attention_dp
    if adp > 1 and load.mode != "static":
        notes.append(
            f"attention DP: each of the {adp} attention ranks schedules up to {per_rank_seqs} "
            f"sequences and {engine.max_num_batched_tokens} tokens a step (max-num-seqs and the "
            "token budget are per rank)"
        )
    quant = deployment.allreduce_quantization
    if quant != "none" and deployment.tp > 1:
        wire_frac, min_bytes = quantized_allreduce(quant, deployment.tp)
        notes.append(
            f"all-reduce messages of {min_bytes / MIB:g} MiB and more (a step of "
            f"{allreduce_tokens(deployment, min_bytes):,.0f} "
            f"tokens and more) are sent as {quant}: {wire_frac:.2f} of their bytes"
            if wire_frac < 1
            else f"{quant} all-reduce: QuickReduce serves "
            f"{', '.join(map(str, QUICK_REDUCE_RANKS[:-1]))} or {QUICK_REDUCE_RANKS[-1]} ranks, "
            f"not TP {deployment.tp}; its all-reduces are costed unquantized"
        )
    if calibration.moe_key and deployment.model.num_moe_layers:
        engine_key, family = moe_pair_parts(calibration.moe_key)
        notes.append(
            f"routed experts at {engine_key}'s MoE share on {family}, "
            f"{calibration.engine.moe_gemm_eff_frac:.2f} of the dense GEMM efficiency "
            f"(calibration.toml, table moe.{engine_key}.{family})"
        )
    mesh_note = mesh_subset_note(acc, max(deployment.tp, deployment.ep), deployment.pp)
    if mesh_note:
        notes.append(mesh_note)
    switch_note = switch_reduction_note(deployment)
    if switch_note:
        notes.append(switch_note)
    if acc.estimate:
        notes.append(f"{acc.id}: most catalog figures are estimates (see its estimated_fields)")
    if calibration.hardware_key != acc.family:
        borrowed = (
            "the default fit"
            if calibration.hardware_key == "default"
            else f"the {calibration.hardware_key} family's fit, whose kernels it runs"
        )
        notes.append(
            f"no fitted efficiencies for the {acc.family} family: using {borrowed} (uncertain)"
        )
    return Estimate(
        model=deployment.model.id,
        accelerator=acc.id,
        num_accelerators=n,
        tp=deployment.tp,
        pp=deployment.pp,
        ep=deployment.ep,
        num_replicas=replicas,
        engine=engine.id,
        weight_precision=deployment.weight_precision,
        kv_precision=deployment.kv_precision_resolved,
        compute_precision=deployment.compute_precision,
        mode=load.mode,
        input_tokens=isl,
        output_tokens=osl,
        output_tokens_per_s=out_tps,
        input_tokens_per_s=req_ps * isl,
        requests_per_s=req_ps,
        ttft_s_mean=ttft,
        tpot_s_mean=tpot,
        e2e_latency_s_mean=e2e,
        max_concurrency=cap * replicas,
        batch_size=batch_size,
        saturated=saturated,
        load_frac=load_frac,
        queue_wait_s=wait,
        ttft_s_mean_if_slower=slower[0],
        tpot_s_mean_if_slower=slower[1],
        accelerator_power_w=p_acc * n,
        system_power_w=p_sys,
        energy_j_per_output_token=p_acc * n / out_tps,
        system_energy_j_per_output_token=p_sys / out_tps,
        compute_util_frac=u_c,
        memory_bandwidth_util_frac=u_m,
        prefill=_phase(prefill_step),
        decode=_phase(decode_step),
        memory_gb={
            "capacity": plan.memory_bytes / 1e9,
            "weights": plan.weight_bytes / 1e9,
            "activations": plan.activation_bytes / 1e9,
            "reserved": plan.reserved_bytes / 1e9,
            "kv_cache": plan.kv_cache_bytes / 1e9,
        },
        calibration=calibration.label,
        validated_error=(
            validated_error(
                acc.family, engine.calibration, regime(deployment.instance_size, batch_size)
            )
            if calibration.origin == "catalog"
            else None
        ),
        speculative_tokens_per_step=spec_tokens,
        power_limit_w=deployment.power_limit_resolved_w,
        clock_frac=clock,
        input_tokens_cv=workload.input_tokens_cv,
        output_tokens_cv=workload.output_tokens_cv,
        prefill_time_frac=prefill_time_share(
            shape,
            isl,
            osl,
            batch_size,
            float(
                engine.max_num_batched_tokens
                if load.mode != "static"
                else max(isl * batch_size, 1.0)
            ),
        )
        if cost_split
        else math.nan,
        notes=notes,
    )


def _serve_rate(
    cycle: Callable[[float], Cycle],
    rate: float,
    osl_steps: float,
    full_b: float,
    output_cv: float = 0.0,
    b_start: float = 1.0,
) -> tuple[Cycle, float, float, float]:
    """The running batch at which an instance serving ``rate`` requests per second (below its
    capacity) finishes them as fast as they come (Little's law on the batch), its cycle, the
    busy share of its time and the mean wait for one of its ``full_b`` sequence slots
    (:func:`chip2grid.perf.steady.admission_wait_s`). ``b_start`` is the lower end of the
    search: one sequence, or the solution at a lower rate
    (:func:`chip2grid.perf.steady.batch_at_rate`)."""
    b = float(
        batch_at_rate(
            lambda _rows, num_seqs: cycle(float(num_seqs[0])), rate, osl_steps, full_b, low=b_start
        )
    )
    cyc = cycle(max(b, 1.0))
    busy = min(1.0, rate * float(slot_time_s(cyc, osl_steps)))
    wait = float(admission_wait_s(cyc, rate, full_b, osl_steps, output_cv))
    return cyc, b, busy, wait


def best_layout(
    deployment: Deployment,
    workload: Workload,
    load: Load | None = None,
    *,
    fix_tp: int | None = None,
    fix_pp: int | None = None,
    fix_ep: int | None = None,
    speculative: SpeculativeDecoding | None = None,
) -> Estimate:
    """Try every valid ``replicas x TP x PP x EP`` split and return the best estimate.

    Best is the highest output throughput; under a request rate, the lowest mean end-to-end
    latency among the splits that keep up. Fixed values restrict the search.
    """
    load = load or Load()
    candidates: list[Estimate] = []
    errors: list[str] = []
    layouts = parallel_layouts(deployment.model, deployment.num_accelerators)
    matching = [
        (tp, pp, ep)
        for tp, pp, ep in layouts
        if not ((fix_tp and tp != fix_tp) or (fix_pp and pp != fix_pp) or (fix_ep and ep != fix_ep))
    ]
    if not matching and (fix_tp or fix_pp or fix_ep):
        # the fixed values themselves are wrong: name the one that is (ep not dividing the
        # experts, tp not dividing the heads), else list the splits there are
        deployment.replace(tp=fix_tp or 1, pp=fix_pp or 1, ep=fix_ep or 1)
        fixed = ", ".join(
            f"{name} {value}"
            for name, value in (("tp", fix_tp), ("pp", fix_pp), ("ep", fix_ep))
            if value
        )
        valid = "; ".join(f"tp {tp} pp {pp} ep {ep}" for tp, pp, ep in layouts[:12])
        raise InvalidParameterError(
            "layout",
            fixed,
            f"a split of {deployment.num_accelerators} accelerators for {deployment.model.id}: "
            f"{valid}" + (" ..." if len(layouts) > 12 else ""),
        )
    for tp, pp, ep in matching:
        try:
            trial = deployment.replace(tp=tp, pp=pp, ep=ep)
            candidates.append(
                estimate(trial, workload, load, speculative=speculative, cost_split=False)
            )
        except (InfeasibleError, InvalidParameterError) as exc:
            errors.append(str(exc))
    if not candidates:
        raise InfeasibleError(
            f"no split of {deployment.num_accelerators} x {deployment.accelerator.id} fits {deployment.model.id}"
            + (f"; e.g. {errors[-1]}" if errors else "")
        )
    if load.mode == "request_rate":
        stable = [c for c in candidates if not c.saturated] or candidates
        best = min(stable, key=lambda c: (c.e2e_latency_s_mean, -c.output_tokens_per_s))
    else:
        best = max(candidates, key=lambda c: (c.output_tokens_per_s, -c.tpot_s_mean))
    chosen = deployment.replace(tp=best.tp, pp=best.pp, ep=best.ep)
    return estimate(chosen, workload, load, speculative=speculative)


@dataclass(frozen=True, slots=True, kw_only=True)
class SloLimit:
    """The most users a deployment serves while its mean TTFT and TPOT meet their targets."""

    concurrency: float
    """Closed-loop users; 0 when one user already misses a target."""
    estimate: Estimate
    """The steady state at ``concurrency`` (at one user when it is 0)."""
    limited_by: str
    """``slo`` (a target stops more users), ``max_users`` (the top of the search meets the
    targets: the KV cache or the caller's cap stops first) or ``one_user``."""


def concurrency_within_slo(
    deployment: Deployment,
    workload: Workload,
    ttft_s: float,
    tpot_s: float,
    *,
    max_users: float | None = None,
    rel_tol: float = 0.02,
    abs_tol: float = 0.0,
) -> SloLimit:
    """Bisect the closed-loop concurrency for the most users within both latency targets.

    TTFT and TPOT grow with the number of users, so the largest concurrency between 1 and
    ``max_users`` (default: the sequences the KV cache holds) whose steady-state means meet
    ``ttft_s`` and ``tpot_s`` is found by geometric bisection, to a ratio of ``1 + rel_tol`` or
    a gap of ``abs_tol`` users. Means, not tails: a percentile target needs the simulator.
    The users are a service's: they send at random moments, never in benchmark waves.
    """

    def at(users: float, cost_split: bool = False) -> Estimate:
        load = Load(mode="concurrency", concurrency=users, in_waves=False)
        return estimate(deployment, workload, load, cost_split=cost_split)

    def meets(est: Estimate) -> bool:
        return est.ttft_s_mean <= ttft_s and est.tpot_s_mean <= tpot_s and not est.saturated

    low_est = at(1.0)
    if not meets(low_est):
        return SloLimit(concurrency=0.0, estimate=at(1.0, True), limited_by="one_user")
    top = float(max(max_users if max_users is not None else low_est.max_concurrency, 1.0))
    top_est = at(top)
    if meets(top_est):
        return SloLimit(concurrency=top, estimate=at(top, True), limited_by="max_users")
    low, high = 1.0, top
    while high / low > 1.0 + rel_tol and high - low > abs_tol:
        mid = math.sqrt(low * high)
        trial = at(mid)
        if meets(trial):
            low = mid
        else:
            high = mid
    return SloLimit(concurrency=low, estimate=at(low, True), limited_by="slo")


__all__ = [
    "Estimate",
    "Load",
    "PhaseBreakdown",
    "RankShape",
    "SloLimit",
    "Workload",
    "best_layout",
    "concurrency_within_slo",
    "estimate",
    "max_concurrency",
]
