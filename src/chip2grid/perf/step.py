"""The time of one engine step: a per-operator roofline, vectorized over configurations.

For every operator of a layer the time on one accelerator is the roofline bound

.. math::  t = \\max\\left(\\frac{F}{P \\, \\eta_c(M)}, \\frac{B}{W \\, \\eta_m}\\right)

with ``F`` FLOPs, ``B`` bytes moved, ``P`` peak FLOP/s at the compute precision, ``W`` memory
bandwidth and fitted efficiencies ``eta <= 1`` (so no prediction beats the roofline). GEMM
efficiency falls for thin matrices: ``eta_c(M) = eta_max * M / (M + M_half)`` with ``M`` the
rows (tokens) of the GEMM. Collectives use ring formulas over the scale-up or scale-out link;
the engine adds fixed overheads per step, per sequence and per layer.

Every function broadcasts over numpy arrays, so one call evaluates millions of
configurations (:func:`step_time`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chip2grid.hardware import (
    QUICK_REDUCE_MAX_BYTES,
    SWITCH_REDUCTION_MIN_BYTES,
    all_reduce_time_s,
    all_to_all_time_s,
    full_activity_power_w,
    point_to_point_time_s,
    quantized_allreduce,
    ring_all_reduce_bus_factor,
    switch_all_reduce_bus_factor,
)
from chip2grid.perf.calibration import Calibration
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.engine import get_engine

Array = NDArray[np.float64]
FloatOrArray = Any  # float or numpy array; numpy broadcasts both

ALLREDUCE_BYTES_PER_ELEMENT = 2.0
"""Collectives carry 16-bit activations (FP8 deployments keep 16-bit residual streams)."""
ACTIVATION_BYTES = 2.0
"""Activations between kernels are 16-bit."""
TABLE_BYTES_PER_PARAM = 2.0
"""Embedding and output-projection weights stay 16-bit in quantized checkpoints."""


@dataclass(frozen=True, slots=True)
class RankShape:
    """What one accelerator of an instance holds and computes, per layer, plus its hardware.

    Fields are floats, or equally shaped numpy arrays for many configurations at once
    (:meth:`stack`).
    """

    num_layers: FloatOrArray
    pp: FloatOrArray
    tp: FloatOrArray
    ep: FloatOrArray
    attention_dp: FloatOrArray
    hidden: FloatOrArray
    attn_params: FloatOrArray
    attn_pair_flops_prefill: FloatOrArray
    attn_pair_flops_decode: FloatOrArray
    kv_bytes_per_token_layer: FloatOrArray
    window: FloatOrArray
    sliding_frac: FloatOrArray
    dense_frac: FloatOrArray
    dense_mlp_params: FloatOrArray
    dense_ffn: FloatOrArray
    moe_frac: FloatOrArray
    num_experts: FloatOrArray
    topk: FloatOrArray
    experts_local: FloatOrArray
    expert_params: FloatOrArray
    expert_ffn: FloatOrArray
    shared_params: FloatOrArray
    vocab_local: FloatOrArray
    weight_bytes: FloatOrArray
    act_bytes: FloatOrArray
    peak_gemm_flops_per_s: FloatOrArray
    peak_attn_flops_per_s: FloatOrArray
    peak_head_flops_per_s: FloatOrArray
    """The output projection's peak: the 16-bit one (or the compute precision's where slower),
    as its weights stay 16-bit in quantized checkpoints (:data:`TABLE_BYTES_PER_PARAM`)."""
    memory_bandwidth_bytes_per_s: FloatOrArray
    collective_bandwidth_bytes_per_s: FloatOrArray
    pipeline_bandwidth_bytes_per_s: FloatOrArray
    gemm_compute_eff: FloatOrArray
    gemm_m_half_tokens: FloatOrArray
    attention_compute_eff: FloatOrArray
    memory_eff: FloatOrArray
    comm_eff: FloatOrArray
    comm_latency_s: FloatOrArray
    step_overhead_s: FloatOrArray
    per_sequence_overhead_s: FloatOrArray
    per_layer_overhead_s: FloatOrArray
    moe_gemm_eff_frac: FloatOrArray = 1.0
    collective_overhead_s: FloatOrArray = 0.0
    allreduce_wire_frac: FloatOrArray = 1.0
    """Bytes a tensor-parallel all-reduce sends per byte of its 16-bit message, for messages of
    ``allreduce_quant_min_bytes`` and more (a quantized all-reduce); 1: unquantized."""
    allreduce_quant_min_bytes: FloatOrArray = float("inf")
    allreduce_switch_bus_factor: FloatOrArray = float("inf")
    """Bytes through each rank's links per byte of an all-reduce the scale-up switch reduces
    (NVLS), for messages of :data:`~chip2grid.hardware.interconnect.SWITCH_REDUCTION_MIN_BYTES`
    and more (:func:`~chip2grid.hardware.interconnect.switch_all_reduce_bus_factor`); ``inf``:
    no in-switch reduction, every all-reduce a ring."""
    host_work_factor: FloatOrArray = 1.0
    """The per-sequence host time over the engine's own (``per_sequence_overhead_s``): above 1
    where an in-process API server adds its work for each running request
    (:attr:`chip2grid.perf.engine.EngineProfile.host_work_factor`)."""

    @property
    def per_sequence_host_s(self) -> FloatOrArray:
        """Host time per running sequence and step: the engine's own times
        :attr:`host_work_factor`."""
        return self.per_sequence_overhead_s * self.host_work_factor

    def for_drafting(self) -> RankShape:
        """This shape as the draft network of speculative decoding runs it: inside the engine
        iteration that verifies its drafts. The iteration schedules its batch and does its
        per-sequence host work once, and the verification step pays for both, so a draft
        step pays only its own kernels (device time and launches)."""
        return dataclasses.replace(
            self,
            step_overhead_s=0.0 * self.step_overhead_s,  # zeros of the same shape
            per_sequence_overhead_s=0.0 * self.per_sequence_overhead_s,
        )

    @classmethod
    def stack(cls, shapes: list[RankShape]) -> RankShape:
        """Stack scalar shapes into one shape of arrays."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: np.array([getattr(s, n) for s in shapes], dtype=float) for n in names})

    def with_calibration(self, calibration: Calibration) -> RankShape:
        """The same shape with another calibration's efficiencies and overheads."""
        hw, eng = calibration.hardware, calibration.engine
        return dataclasses.replace(
            self,
            gemm_compute_eff=hw.gemm_compute_eff,
            gemm_m_half_tokens=hw.gemm_m_half_tokens,
            attention_compute_eff=hw.attention_compute_eff,
            memory_eff=hw.memory_eff,
            comm_eff=hw.comm_eff,
            comm_latency_s=hw.comm_latency_s,
            step_overhead_s=eng.step_overhead_s,
            per_sequence_overhead_s=eng.per_sequence_overhead_s,
            per_layer_overhead_s=eng.per_layer_overhead_s,
            moe_gemm_eff_frac=eng.moe_gemm_eff_frac,
            collective_overhead_s=eng.collective_overhead_s,
        )


def clock_frac(deployment: Deployment, calibration: Calibration) -> float:
    """Share of the datasheet clock the matrix units sustain under full load: below 1 for a
    part with less power than its die's full-power part, or under a power cap
    (:mod:`chip2grid.hardware.power`). The peaks of :func:`rank_shape` are scaled by it."""
    return deployment.accelerator.clock_frac(
        deployment.power_limit_w,
        calibration.power.clock_power_exponent,
        calibration.hardware.tdp_clock_frac,
    )


def full_activity_power(deployment: Deployment, calibration: Calibration) -> float:
    """Power of one accelerator of ``deployment`` at full activity before its power limit
    clips it (:func:`chip2grid.hardware.full_activity_power_w`): the TDP, or more where a limit
    above the TDP raises a clock the TDP held back."""
    acc = deployment.accelerator
    beta = calibration.power.clock_power_exponent
    s0 = calibration.hardware.tdp_clock_frac
    return float(
        full_activity_power_w(
            acc.tdp_w,
            acc.idle_power_w,
            acc.clock_frac(deployment.power_limit_w, beta, s0),
            acc.clock_frac(0.0, beta, s0),
            beta,
        )
    )


def attention_precision(deployment: Deployment) -> str:
    """The precision attention's matrix products run at: FP8 where the KV cache and the GEMMs
    are FP8 and the chip computes it, else the chip's 16-bit type."""
    d, acc = deployment, deployment.accelerator
    kv_prec = d.kv_precision_resolved
    fp8 = kv_prec == "fp8" and kv_prec in acc.peak_flops_per_s and d.compute_precision == "fp8"
    return kv_prec if fp8 else acc.sixteen_bit


def head_peak_flops_per_s(deployment: Deployment) -> float:
    """The output projection's peak at the datasheet clock: the 16-bit one, as quantized
    checkpoints keep the projection 16-bit, or the compute precision's where that is slower."""
    acc = deployment.accelerator
    return min(acc.peak_flops(acc.sixteen_bit), acc.peak_flops(deployment.compute_precision))


def nvls_enabled(deployment: Deployment) -> bool:
    """Whether ``deployment`` leaves NCCL's in-switch all-reduce on: its ``nccl_nvls``, or for
    ``auto`` its engine's default."""
    if deployment.nccl_nvls == "auto":
        return get_engine(deployment.engine).nccl_nvls
    return deployment.nccl_nvls == "on"


def rank_shape(deployment: Deployment, calibration: Calibration) -> RankShape:
    """Describe one accelerator of ``deployment`` for :func:`step_time`."""
    d = deployment
    m, acc = d.model, d.accelerator
    tp, ep, etp = d.tp, d.ep, d.expert_tp
    heads_local = m.num_attention_heads / tp
    if m.is_mla:
        decode_pair = 2.0 * heads_local * (2 * m.kv_lora_rank + m.qk_rope_head_dim)
    else:
        decode_pair = 2.0 * heads_local * (m.qk_head_dim + m.v_dim)
    prefill_pair = 2.0 * heads_local * (m.qk_head_dim + m.v_dim)
    compute = d.compute_precision
    attn_prec = attention_precision(d)
    collective_bw = acc.collective_bandwidth_bytes_per_s(max(tp, ep))
    pipeline_bw = acc.point_to_point_bandwidth_bytes_per_s(d.instance_size)
    hw, eng = calibration.hardware, calibration.engine
    clock = clock_frac(d, calibration)
    wire_frac, quant_min_bytes = quantized_allreduce(d.allreduce_quantization, tp)
    engine = get_engine(d.engine)
    switch_eff = acc.switch_reduction_eff(tp) if nvls_enabled(d) else 0.0
    return RankShape(
        num_layers=float(m.num_layers),
        pp=float(d.pp),
        tp=float(tp),
        ep=float(ep),
        attention_dp=float(d.attention_dp),
        hidden=float(m.hidden_size),
        attn_params=m.attention_params_per_layer / tp,
        attn_pair_flops_prefill=prefill_pair,
        attn_pair_flops_decode=decode_pair,
        kv_bytes_per_token_layer=m.kv_elements_per_token_per_layer
        * d.kv_bytes_per_element
        / d.kv_split,
        window=float(m.sliding_window_tokens or 0),
        sliding_frac=(m.num_sliding_window_layers / m.num_layers)
        if m.sliding_window_tokens
        else 0.0,
        dense_frac=m.num_dense_mlp_layers / m.num_layers,
        dense_mlp_params=m.dense_mlp_params_per_layer / tp,
        dense_ffn=m.intermediate_size / tp,
        moe_frac=m.num_moe_layers / m.num_layers,
        num_experts=float(max(m.num_experts, 1)),
        topk=float(m.num_experts_per_token),
        experts_local=m.num_experts / ep,
        expert_params=m.expert_params / etp,
        expert_ffn=m.moe_intermediate_size / etp,
        shared_params=m.shared_expert_params_per_layer / tp + m.router_params_per_layer,
        vocab_local=m.vocab_size / tp,
        weight_bytes=d.weight_bytes_per_param,
        act_bytes=d.activation_bytes_per_element,
        peak_gemm_flops_per_s=acc.peak_flops(compute) * clock,
        peak_attn_flops_per_s=acc.peak_flops(attn_prec) * clock,
        peak_head_flops_per_s=head_peak_flops_per_s(d) * clock,
        memory_bandwidth_bytes_per_s=acc.memory_bandwidth_bytes_per_s,
        collective_bandwidth_bytes_per_s=collective_bw,
        pipeline_bandwidth_bytes_per_s=pipeline_bw,
        gemm_compute_eff=hw.gemm_compute_eff,
        gemm_m_half_tokens=hw.gemm_m_half_tokens,
        attention_compute_eff=hw.attention_compute_eff,
        memory_eff=hw.memory_eff,
        comm_eff=hw.comm_eff,
        comm_latency_s=hw.comm_latency_s,
        step_overhead_s=eng.step_overhead_s,
        per_sequence_overhead_s=eng.per_sequence_overhead_s,
        per_layer_overhead_s=eng.per_layer_overhead_s,
        moe_gemm_eff_frac=eng.moe_gemm_eff_frac,
        collective_overhead_s=eng.collective_overhead_s,
        allreduce_wire_frac=wire_frac,
        allreduce_quant_min_bytes=quant_min_bytes,
        allreduce_switch_bus_factor=switch_all_reduce_bus_factor(tp, switch_eff),
        host_work_factor=engine.host_work_factor,
    )


@dataclass(frozen=True, slots=True)
class StepBatch:
    """The work of one engine step for one model instance (floats or arrays).

    ``prefill_context`` is the mean context a prefill token attends to (cached tokens plus half
    its chunk); ``decode_context`` the mean context of a decoding sequence.

    ``routing_token_frac`` is the share of the step's tokens that choose their experts for
    themselves (1: real, varied inputs). Tokens with identical hidden states choose identical
    experts: a benchmark that feeds every prompt the same token everywhere (TensorRT-LLM's
    ``gptSessionBenchmark`` fills its inputs with the pad id) routes the whole step as one
    token, ``0``, so only ``top-k`` experts a layer are read however large the batch. Under
    expert parallelism the step is still timed on the average rank, so below 1 it suits tensor
    parallelism only (the rank holding the chosen experts would do all their work).
    """

    prefill_tokens: FloatOrArray = 0.0
    prefill_seqs: FloatOrArray = 0.0
    prefill_context: FloatOrArray = 0.0
    decode_seqs: FloatOrArray = 0.0
    decode_context: FloatOrArray = 0.0
    decode_query_tokens: FloatOrArray = 1.0
    routing_token_frac: FloatOrArray = 1.0

    @classmethod
    def prefill(
        cls,
        num_seqs: FloatOrArray,
        prompt_tokens: FloatOrArray,
        cached_tokens: FloatOrArray = 0.0,
        *,
        context: FloatOrArray | None = None,
    ) -> StepBatch:
        """``num_seqs`` prompts of ``prompt_tokens`` new tokens after ``cached_tokens`` cached ones.

        A new token attends on average to ``cached_tokens + (prompt_tokens + 1) / 2`` tokens, or
        to ``context`` where given (prompts of varying length:
        :func:`chip2grid.perf.steady.prefill_context_tokens`)."""
        n = np.asarray(prompt_tokens, dtype=float)
        return cls(
            prefill_tokens=np.asarray(num_seqs) * n,
            prefill_seqs=np.asarray(num_seqs, dtype=float),
            prefill_context=np.asarray(cached_tokens) + (n + 1.0) / 2.0
            if context is None
            else np.asarray(context, dtype=float),
        )

    @classmethod
    def decode(
        cls, num_seqs: FloatOrArray, context_tokens: FloatOrArray, query_tokens: FloatOrArray = 1.0
    ) -> StepBatch:
        """``num_seqs`` sequences after ``context_tokens``, each scoring ``query_tokens`` positions
        (1 for plain decoding, ``k + 1`` when verifying ``k`` speculative tokens)."""
        return cls(
            decode_seqs=np.asarray(num_seqs, dtype=float),
            decode_context=np.asarray(context_tokens, dtype=float),
            decode_query_tokens=np.asarray(query_tokens, dtype=float),
        )

    def mixed_with(self, other: StepBatch) -> StepBatch:
        """A step that fuses this batch's prefill with ``other``'s decode (chunked prefill)."""
        return StepBatch(
            prefill_tokens=self.prefill_tokens,
            prefill_seqs=self.prefill_seqs,
            prefill_context=self.prefill_context,
            decode_seqs=other.decode_seqs,
            decode_context=other.decode_context,
            decode_query_tokens=other.decode_query_tokens,
            routing_token_frac=self.routing_token_frac,
        )


OPERATORS = (
    "qkv_o_proj",
    "attention_prefill",
    "attention_decode",
    "mlp",
    "moe_experts",
    "elementwise",
    "lm_head",
    "tp_allreduce",
    "ep_alltoall",
    "pp_send",
    "overhead",
)


@dataclass(frozen=True, slots=True)
class StepTimes:
    """Time of one step and its parts (seconds, arrays of the broadcast shape).

    ``compute_s``, ``memory_s``, ``comm_s`` and ``overhead_s`` split ``total_s`` by what bound
    each operator; ``flops`` and ``bytes`` are the work of one accelerator in the step.
    """

    total_s: Array
    operators: dict[str, Array]
    compute_s: Array
    memory_s: Array
    comm_s: Array
    overhead_s: Array
    flops: Array
    bytes: Array
    tokens: Array

    @property
    def bound(self) -> NDArray[np.str_]:
        """What bounds the step: compute, memory, communication or overhead."""
        parts = np.stack(
            np.broadcast_arrays(self.compute_s, self.memory_s, self.comm_s, self.overhead_s)
        )
        names = np.array(["compute", "memory", "communication", "overhead"])
        return names[np.argmax(parts, axis=0)]


class _ScalarMath:
    """The numpy functions step_time uses, for plain floats: ten times cheaper than 0-d arrays."""

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if a >= b else b

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a if a <= b else b

    @staticmethod
    def where(cond: bool, a: float, b: float) -> float:
        return a if cond else b

    @staticmethod
    def clip(x: float, low: float, high: float) -> float:
        return low if x < low else high if x > high else x

    @staticmethod
    def power(a: float, b: float) -> float:
        return float(a**b)

    @staticmethod
    def asarray(x: float, dtype: Any = None) -> float:
        return float(x)


class _ArrayMath:
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    where = staticmethod(np.where)
    clip = staticmethod(np.clip)
    power = staticmethod(np.power)
    asarray = staticmethod(np.asarray)


def _math_for(shape: RankShape, batch: StepBatch) -> Any:
    """Plain-float arithmetic when every input is one number (a Python number, a numpy scalar
    or a 0-d array, as ``np.asarray`` leaves a scalar: a single estimate's steps), numpy
    otherwise."""
    for obj in (batch, shape):
        for name in obj.__slots__:
            value = getattr(obj, name)
            if type(value) not in (float, int) and not (
                isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0
            ):
                return _ArrayMath
    return _ScalarMath


def _roofline(
    flops: Array,
    nbytes: Array,
    peak: Array,
    eff_c: Array,
    bw: Array,
    eff_m: Array,
    xp: Any = _ArrayMath,
) -> tuple[Array, Array, Array]:
    t_c = flops / (peak * eff_c)
    t_m = nbytes / (bw * eff_m)
    t = xp.maximum(t_c, t_m)
    return t, xp.where(t_c >= t_m, t, 0.0), xp.where(t_c >= t_m, 0.0, t)


def _eff_ctx(s: RankShape, ctx: Array, xp: Any) -> Array:
    """Context a token attends to, with sliding-window layers capped at the window."""
    win, sf = xp.asarray(s.window), xp.asarray(s.sliding_frac)
    return xp.where(
        win > 0, (1.0 - sf) * ctx + sf * xp.minimum(ctx, xp.where(win > 0, win, 1.0)), ctx
    )


def attention_prefill_layer(
    s: RankShape,
    p_x: FloatOrArray,
    p_seq_x: FloatOrArray,
    p_ctx: FloatOrArray,
    adp: FloatOrArray,
    xp: Any = _ArrayMath,
) -> tuple[Any, Any, Any, Any, Any]:
    """Prefill attention of one layer: ``(time, compute-bound part, memory-bound part, flops, bytes)``.

    ``p_x`` prefill tokens and ``p_seq_x`` prompts of one micro-batch, ``p_ctx`` the mean context
    a prefill token attends to, ``adp`` the attention data-parallel width.
    """
    f = xp.asarray
    attn_w, hid = f(s.attn_params), f(s.hidden)
    kvb = f(s.kv_bytes_per_token_layer)
    pf = p_x * _eff_ctx(s, p_ctx, xp) * f(s.attn_pair_flops_prefill) / adp
    p_new = xp.where(p_seq_x > 0, p_x / xp.maximum(p_seq_x, 1e-12), 0.0)
    p_kv_tokens = p_seq_x * _eff_ctx(s, xp.maximum(p_ctx + 0.5 * p_new - 0.5, 0.0), xp)
    pb = (p_kv_tokens * kvb + 2.0 * p_x * attn_w / hid * ACTIVATION_BYTES) / adp
    t, c, m = _roofline(
        pf,
        pb,
        f(s.peak_attn_flops_per_s),
        f(s.attention_compute_eff),
        f(s.memory_bandwidth_bytes_per_s),
        f(s.memory_eff),
        xp=xp,
    )
    return t, c, m, pf, pb


def attention_decode_layer(
    s: RankShape,
    d_x: FloatOrArray,
    d_q: FloatOrArray,
    d_ctx: FloatOrArray,
    adp: FloatOrArray,
    xp: Any = _ArrayMath,
) -> tuple[Any, Any, Any, Any, Any]:
    """Decode attention of one layer: ``(time, compute-bound part, memory-bound part, flops, bytes)``.

    ``d_x`` decoding sequences of one micro-batch scoring ``d_q`` positions each after a mean
    context of ``d_ctx`` tokens.
    """
    f = xp.asarray
    attn_w, hid = f(s.attn_params), f(s.hidden)
    e = _eff_ctx(s, d_ctx, xp)
    df = d_x * d_q * e * f(s.attn_pair_flops_decode) / adp
    db = (
        d_x * e * f(s.kv_bytes_per_token_layer) + 2.0 * d_x * d_q * attn_w / hid * ACTIVATION_BYTES
    ) / adp
    t, c, m = _roofline(
        df,
        db,
        f(s.peak_attn_flops_per_s),
        f(s.attention_compute_eff),
        f(s.memory_bandwidth_bytes_per_s),
        f(s.memory_eff),
        xp=xp,
    )
    return t, c, m, df, db


def step_time(shape: RankShape, batch: StepBatch) -> StepTimes:
    """Time of one engine step of ``batch`` on the instance described by ``shape``.

    With pipeline parallelism the batch is split into ``min(pp, seqs)`` micro-batches kept in
    flight; a step is one round of all of them, ``pp * tau(micro-batch)``.
    """
    s = shape
    xp = _math_for(shape, batch)
    f = xp.asarray
    p_tok, p_seq, p_ctx = (
        f(batch.prefill_tokens, float),
        f(batch.prefill_seqs, float),
        f(batch.prefill_context, float),
    )
    d_seq, d_ctx = f(batch.decode_seqs, float), f(batch.decode_context, float)
    d_q = f(batch.decode_query_tokens, float)
    seqs = p_seq + d_seq
    pp = f(s.pp)
    micro = xp.clip(seqs, 1.0, pp)
    # tokens of one micro-batch over the whole instance, then per attention replica
    p_x, d_x = p_tok / micro, d_seq / micro
    p_seq_x = p_seq / micro
    x = p_x + d_x * d_q
    adp = f(s.attention_dp)
    x_a = x / adp
    layers = f(s.num_layers) / pp  # layers per stage
    c_eff, m_eff = f(s.gemm_compute_eff), f(s.memory_eff)
    peak, bw = f(s.peak_gemm_flops_per_s), f(s.memory_bandwidth_bytes_per_s)
    wb = f(s.weight_bytes)
    ab = ACTIVATION_BYTES
    m_half = f(s.gemm_m_half_tokens)

    def gemm_eff(rows: Array) -> Array:
        rows = xp.maximum(rows, 1e-9)
        return c_eff * rows / (rows + m_half)

    eff_x = gemm_eff(x_a)  # the dense GEMMs' rows: every token of the attention replica

    # --- attention projections (Q, K, V, O): one GEMM family on x_a rows
    attn_w = f(s.attn_params)
    hid = f(s.hidden)
    t_proj, c_proj, mem_proj = _roofline(
        2.0 * x_a * attn_w,
        attn_w * wb + x_a * (2.0 * hid + attn_w / hid) * ab,
        peak,
        eff_x,
        bw,
        m_eff,
        xp=xp,
    )
    # --- attention core
    t_ap, c_ap, mem_ap, pf, pb = attention_prefill_layer(s, p_x, p_seq_x, p_ctx, adp, xp)
    t_ad, c_ad, mem_ad, df, db = attention_decode_layer(s, d_x, d_q, d_ctx, adp, xp)
    # --- dense MLP
    dense_w = f(s.dense_mlp_params)
    t_mlp, c_mlp, mem_mlp = _roofline(
        2.0 * x_a * dense_w,
        dense_w * wb + x_a * (2.0 * hid + 3.0 * f(s.dense_ffn)) * ab,
        peak,
        eff_x,
        bw,
        m_eff,
        xp=xp,
    )
    dense_frac = f(s.dense_frac)
    # --- MoE: routed experts (grouped GEMM) + shared experts
    moe_frac, n_exp, k = f(s.moe_frac), f(s.num_experts), f(s.topk)
    is_moe = moe_frac > 0
    # tokens routed independently (uniform routing); at least one where the step has any
    routed = xp.maximum(x * f(batch.routing_token_frac, float), xp.minimum(x, 1.0))
    touched = f(s.experts_local) * (1.0 - xp.power(xp.clip(1.0 - k / n_exp, 0.0, 1.0), routed))
    assignments = x * k / xp.maximum(f(s.ep), 1.0)
    exp_w = f(s.expert_params)
    # rows of each expert that runs (the GEMM's M): a small batch spreads its k choices per
    # token over few experts, so those few see whole rows, not x*k/n of a row
    rows_per_expert = xp.maximum(assignments / xp.maximum(touched, 1e-9), 1e-9)
    routed_flops = 2.0 * assignments * exp_w
    shared_flops = 2.0 * x_a * f(s.shared_params)
    moe_flops = routed_flops + shared_flops
    moe_bytes = (
        touched * exp_w * wb
        + f(s.shared_params) * wb
        + assignments * (2.0 * hid + 3.0 * f(s.expert_ffn)) * ab
    )
    # routed experts reach the engine's grouped-GEMM share of the dense efficiency at large M,
    # with the dense GEMM's small-M slope (a few rows per expert stream the weights as a dense
    # GEMM does); shared experts run as dense GEMMs: one efficiency for the sum, the
    # flop-weighted harmonic mean of the two
    moe_frac_eff = f(s.moe_gemm_eff_frac)
    eff_routed = c_eff * moe_frac_eff * rows_per_expert / (rows_per_expert + m_half * moe_frac_eff)
    eff_moe = xp.where(
        moe_flops > 0,
        moe_flops / xp.maximum(routed_flops / eff_routed + shared_flops / eff_x, 1e-30),
        eff_routed,
    )
    t_moe, c_moe, mem_moe = _roofline(moe_flops, moe_bytes, peak, eff_moe, bw, m_eff, xp=xp)
    t_moe = xp.where(is_moe, t_moe, 0.0)
    c_moe, mem_moe = xp.where(is_moe, c_moe, 0.0), xp.where(is_moe, mem_moe, 0.0)
    # --- elementwise (norms, residuals, rotary): memory bound
    t_elem = x_a * 10.0 * hid * ab / (bw * m_eff)
    # --- per-layer sum
    ffn_t = dense_frac * t_mlp + moe_frac * t_moe
    layer_t = t_proj + t_ap + t_ad + ffn_t + t_elem
    layer_c = c_proj + c_ap + c_ad + dense_frac * c_mlp + moe_frac * c_moe
    layer_m = mem_proj + mem_ap + mem_ad + dense_frac * mem_mlp + moe_frac * mem_moe + t_elem
    # --- communication per layer
    tp = f(s.tp)
    link = f(s.collective_bandwidth_bytes_per_s) * f(s.comm_eff)
    lat = f(s.comm_latency_s) + f(s.collective_overhead_s)  # the link's, then the engine's
    # a quantized all-reduce sends its large messages as block-scaled integers
    ar_msg = x_a * hid * ALLREDUCE_BYTES_PER_ELEMENT
    ar_quantized = xp.where(
        ar_msg >= f(s.allreduce_quant_min_bytes),
        xp.where(ar_msg <= QUICK_REDUCE_MAX_BYTES, f(s.allreduce_wire_frac), 1.0),
        1.0,
    )
    # the switch reduces the large ones where it can (NVLS), when that moves fewer bytes
    switch = xp.where(
        ar_msg >= SWITCH_REDUCTION_MIN_BYTES, f(s.allreduce_switch_bus_factor), float("inf")
    )
    bus = xp.minimum(ring_all_reduce_bus_factor(tp), switch)
    ar = all_reduce_time_s(ar_msg * ar_quantized, tp, link, lat, bus)
    ep = f(s.ep)
    width = xp.maximum(tp, ep)
    a2a = all_to_all_time_s(x / width * k * hid * ALLREDUCE_BYTES_PER_ELEMENT, ep, link, lat)
    # attention all-reduce in every layer; the FFN all-reduce where experts are not expert-parallel
    ffn_ar = dense_frac * ar + moe_frac * xp.where(ep > 1, 0.0, ar)
    comm_tp_layer = ar + ffn_ar
    comm_ep_layer = moe_frac * 2.0 * a2a
    # --- once per stage: output projection (last stage) and embedding lookup (first)
    logits = (d_x * d_q + p_seq_x) / adp
    vocab = f(s.vocab_local)
    t_head, c_head, _ = _roofline(
        2.0 * logits * hid * vocab,
        hid * vocab * TABLE_BYTES_PER_PARAM + logits * vocab * 4.0,
        f(s.peak_head_flops_per_s),
        gemm_eff(logits),
        bw,
        m_eff,
        xp=xp,
    )
    pp_send = xp.where(
        pp > 1,
        point_to_point_time_s(
            x_a * hid * ab, f(s.pipeline_bandwidth_bytes_per_s) * f(s.comm_eff), lat
        ),
        0.0,
    )
    # engines split the layers evenly over the stages, so the last stage, which also holds the
    # output projection, is the slowest: one micro-batch passes every stage once (the head
    # once), and ``micro`` micro-batches in flight pass the last stage one after another. The
    # head's share of the step (``head_path``) is then up to one head per micro-batch: the
    # other stages wait on it
    body = layers * (layer_t + comm_tp_layer + comm_ep_layer) + pp_send
    pp_body = pp * body
    pipeline = xp.maximum(pp_body + t_head, micro * (body + t_head))
    head_path = pipeline - pp_body
    head_computes = c_head > 0  # the head's roofline bound, for the whole head path
    # the host launches each stage's kernels while the device runs them: the launch time shows
    # only where it exceeds the stage's device time; scheduling and per-sequence host work
    # stay serial (an engine that waits for each step's tokens)
    launch = f(s.per_layer_overhead_s) * layers
    exposed = pp * xp.maximum(launch - (body + t_head / pp), 0.0)
    overhead = f(s.step_overhead_s) + f(s.per_sequence_host_s) * seqs + exposed
    total = pipeline + overhead
    n_layers = f(s.num_layers)
    operators = {
        "qkv_o_proj": n_layers * t_proj,
        "attention_prefill": n_layers * t_ap,
        "attention_decode": n_layers * t_ad,
        "mlp": n_layers * dense_frac * t_mlp,
        "moe_experts": n_layers * moe_frac * t_moe,
        "elementwise": n_layers * t_elem,
        "lm_head": head_path,
        "tp_allreduce": n_layers * comm_tp_layer,
        "ep_alltoall": n_layers * comm_ep_layer,
        "pp_send": pp * pp_send,
        "overhead": overhead + 0.0 * total,
    }
    flops_stage = layers * (
        2.0 * x_a * attn_w + pf + df + dense_frac * 2.0 * x_a * dense_w + moe_frac * moe_flops
    )
    bytes_stage = layers * (
        attn_w * wb
        + pb
        + db
        + dense_frac * dense_w * wb
        + moe_frac * moe_bytes
        + x_a * 10.0 * hid * ab
    )
    return StepTimes(
        total_s=total,
        operators=operators,
        compute_s=n_layers * layer_c + xp.where(head_computes, head_path, 0.0),
        memory_s=n_layers * layer_m + xp.where(head_computes, 0.0, head_path),
        comm_s=n_layers * (comm_tp_layer + comm_ep_layer) + pp * pp_send,
        overhead_s=overhead + 0.0 * total,
        flops=micro * flops_stage,
        bytes=micro * bytes_stage,
        tokens=p_tok + d_seq * d_q,
    )
