"""Disaggregated serving in steady state: separate prefill and decode pools, KV sent between.

A prefill instance runs prefill-only steps; a decode instance runs decode-only steps, so the
decode batch never waits behind a prompt (no prefill interference). Every request crosses both
pools and its KV cache crosses the scale-out link once. Vectorized: every argument may be an
array and the results broadcast (the planner evaluates thousands of pool pairs at once).

Notes
-----
Prefill instance with a token budget ``c`` per step and prompts of ``I`` tokens: a step
prefills ``n = max(floor(c / I), 1)`` whole prompts, or, when ``I > c``, one prompt in
``ceil(I / c)`` chunks. Its capacity is ``mu_p = n / t_step`` (whole prompts) or
``1 / (chunks * t_chunk)``, and at most ``1 / t_link`` where ``t_link`` is the time the KV of
one prompt occupies the instance's links.

KV transfer: each rank sends its shard, ``b = kv_bytes_per_token_per_rank * I`` bytes, over
its own scale-out link at the calibrated efficiency,
``t_kv = latency + b / (W_out * eta_comm)``
(:func:`chip2grid.hardware.point_to_point_time_s`); the receiving decode ranks pay the same
on their links.

Decode instance holding ``B`` sequences at the mean context ``I + O / 2``: one step (a
verification step of ``k + 1`` positions plus ``k`` draft steps under speculative decoding)
emits ``E`` tokens per sequence, so a request needs ``(O - 1) / E`` steps (its first token comes
from the prefill) and ``TPOT = t_step / E``; capacity ``mu_d = B E / ((O - 1) t_step)``.

At a request rate ``lambda_d`` per decode instance below its capacity, the batch it holds in
steady state follows Little's law over the decode time of a request:
``B = lambda_d (O - 1) / E * t_step(B)``, at least 1 and at most the batch cap
(:func:`decode_at_rate`). Since a decode step's time over its batch never grows with the batch
(each step reads the weights once), the capacity ``B E / ((O - 1) t_step(B))`` grows with
``B`` and the equation has one root: the decode pool's TPOT is ``t_step(B) / E`` at that
root, not at the cap.

Pools of ``x`` prefill and ``y`` decode instances at a demand ``lambda`` (requests/s): the
prefill queue is an M/D/1 queue of batches with utilization ``rho_p = lambda / (x mu_p)`` and
service ``t_prefill`` (a full batch of prompts, or all chunks of one), so
``TTFT = W_q + t_prefill + t_kv`` with ``W_q = rho_p t_prefill / (2 (1 - rho_p))``
(Pollaczek-Khinchine). A step is assumed to carry a full budget of prompts, which overstates
the prefill latency at light load (conservative). When
``lambda >= x mu_p`` or ``lambda >= y mu_d`` the pool saturates: requests leave it at its
capacity and its queue grows without bound (TTFT infinite).

References
----------
Zhong et al., "DistServe: disaggregating prefill and decoding for goodput-optimized large
language model serving", OSDI 2024. Patel et al., "Splitwise: efficient generative LLM
inference using phase splitting", ISCA 2024.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import point_to_point_time_s
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.steady import (
    IntArray,
    bracketed_root,
    decode_context_tokens,
    draft_step_work,
    md1_wait_s,
    prefill_context_tokens,
)
from chip2grid.perf.step import Array, FloatOrArray, RankShape, StepBatch, step_time

__all__ = [
    "DecodePool",
    "Disaggregated",
    "PrefillPool",
    "decode_at_rate",
    "decode_pool",
    "disaggregated",
    "kv_transfer_bytes_per_rank",
    "kv_transfer_time_s",
    "pool_sizes",
    "prefill_pool",
]


@dataclass(frozen=True, slots=True)
class PrefillPool:
    """One prefill instance in steady state (arrays)."""

    step_s: Array
    """One prefill step (whole prompts, or one chunk)."""
    prompts_per_step: Array
    latency_s: Array
    """Prefill of one prompt once it is scheduled (all its chunks)."""
    requests_per_s: Array
    """Capacity: prompts per second, limited by compute and by the KV link."""
    flops_per_step: Array
    bytes_per_step: Array
    kv_transfer_s: Array
    """Time to send one prompt's KV cache to the decode pool."""


@dataclass(frozen=True, slots=True)
class DecodePool:
    """One decode instance in steady state (arrays)."""

    step_s: Array
    """One decode step, draft steps included."""
    num_seqs: Array
    tpot_s: Array
    requests_per_s: Array
    """Capacity: requests finished per second, limited by compute and by the KV link."""
    flops_per_step: Array
    bytes_per_step: Array


@dataclass(frozen=True, slots=True)
class Disaggregated:
    """Both pools serving a demand in steady state (arrays)."""

    num_prefill: Array
    num_decode: Array
    requests_in_per_s: Array
    prefill_out_per_s: Array
    decode_out_per_s: Array
    output_tokens_per_s: Array
    prefill_util_frac: Array
    decode_util_frac: Array
    queue_wait_s: Array
    ttft_s: Array
    tpot_s: Array
    saturated: Array


def kv_transfer_bytes_per_rank(deployment: Deployment, input_tokens: float) -> float:
    """KV bytes of one prompt held by (and sent from or to) one rank of ``deployment``."""
    return deployment.kv_bytes_per_token_per_accelerator(input_tokens) * input_tokens


def kv_transfer_time_s(
    kv_bytes: FloatOrArray,
    link_bandwidth_bytes_per_s: FloatOrArray,
    comm_eff: FloatOrArray,
    latency_s: FloatOrArray,
) -> FloatOrArray:
    """Time to send ``kv_bytes`` over one link at the calibrated efficiency ``comm_eff``."""
    return point_to_point_time_s(
        kv_bytes, np.multiply(link_bandwidth_bytes_per_s, comm_eff), latency_s
    )


def _link_requests_per_s(
    kv_bytes_per_rank: FloatOrArray,
    link_bandwidth_bytes_per_s: FloatOrArray,
    comm_eff: FloatOrArray,
) -> Array:
    """Prompts per second one instance's KV links carry: one over the time a prompt's KV
    occupies them (infinite when no KV is sent)."""
    link_busy = np.asarray(kv_bytes_per_rank) / (
        np.asarray(link_bandwidth_bytes_per_s) * np.asarray(comm_eff)
    )
    with np.errstate(divide="ignore"):
        out: Array = np.where(link_busy > 0, 1.0 / np.maximum(link_busy, 1e-300), np.inf)
    return out


def prefill_pool(
    shape: RankShape,
    input_tokens: float,
    max_num_batched_tokens: FloatOrArray,
    *,
    kv_bytes_per_rank: FloatOrArray,
    link_bandwidth_bytes_per_s: FloatOrArray,
    input_cv: float = 0.0,
) -> PrefillPool:
    """Steady state of one prefill instance (see module notes).

    ``input_cv``: spread of the prompt lengths (coefficient of variation); attention work
    grows with a prompt's square, so a spread raises the mean context a prefill token sees by
    :func:`chip2grid.perf.steady.prefill_context_tokens` over its fixed-length value.
    """
    isl = float(input_tokens)
    if not isl >= 1:
        raise InvalidParameterError("input_tokens", input_tokens, "a number of tokens >= 1")
    budget = np.asarray(max_num_batched_tokens, dtype=float)
    whole = budget >= isl
    n = np.where(whole, np.floor(budget / isl), 1.0)
    chunks = np.where(whole, 1.0, np.ceil(isl / budget))
    chunk = isl / chunks
    # a chunk attends to the chunks before it (half of them on average) plus half itself, so
    # over the prompt a token sees the whole prompt's mean context, spread included
    context = prefill_context_tokens(isl, input_cv)
    step = step_time(shape, StepBatch.prefill(n, chunk, context=context))
    latency = chunks * step.total_s
    transfer = kv_transfer_time_s(
        kv_bytes_per_rank, link_bandwidth_bytes_per_s, shape.comm_eff, shape.comm_latency_s
    )
    compute_rps = n / latency
    link_rps = _link_requests_per_s(kv_bytes_per_rank, link_bandwidth_bytes_per_s, shape.comm_eff)
    return PrefillPool(
        step_s=step.total_s,
        prompts_per_step=n,
        latency_s=latency,
        requests_per_s=np.minimum(compute_rps, link_rps),
        flops_per_step=step.flops,
        bytes_per_step=step.bytes,
        kv_transfer_s=np.asarray(transfer, dtype=float),
    )


def decode_pool(
    shape: RankShape,
    input_tokens: float,
    output_tokens: float,
    num_seqs: FloatOrArray,
    *,
    kv_bytes_per_rank: FloatOrArray = 0.0,
    link_bandwidth_bytes_per_s: FloatOrArray = np.inf,
    tokens_per_step: float = 1.0,
    query_tokens: float = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: float = 0.0,
    output_cv: float = 0.0,
) -> DecodePool:
    """Steady state of one decode instance holding ``num_seqs`` sequences (see module notes).

    ``output_cv``: spread of the output lengths; the batch's mean context is then
    :func:`chip2grid.perf.steady.decode_context_tokens` (length-biased).
    """
    isl, osl = float(input_tokens), float(output_tokens)
    if not (isl >= 1 and osl >= 1):
        raise InvalidParameterError(
            "input_tokens/output_tokens", (input_tokens, output_tokens), "numbers of tokens >= 1"
        )
    if not 1.0 <= tokens_per_step <= query_tokens:
        raise InvalidParameterError(
            "tokens_per_step", tokens_per_step, f"between 1 and query_tokens ({query_tokens})"
        )
    b = np.maximum(np.asarray(num_seqs, dtype=float), 1.0)
    ctx = decode_context_tokens(isl, osl, output_cv)
    step = step_time(shape, StepBatch.decode(b, ctx, query_tokens))
    draft_s, draft_f, draft_b = draft_step_work(draft_shape, num_draft_steps, b, ctx)
    total, flops, nbytes = step.total_s + draft_s, step.flops + draft_f, step.bytes + draft_b
    steps_per_request = max(osl - 1.0, 0.0) / tokens_per_step
    with np.errstate(divide="ignore"):
        compute_rps = np.where(
            steps_per_request > 0, b / (np.maximum(steps_per_request, 1e-300) * total), np.inf
        )
    link_rps = _link_requests_per_s(kv_bytes_per_rank, link_bandwidth_bytes_per_s, shape.comm_eff)
    return DecodePool(
        step_s=total,
        num_seqs=b,
        tpot_s=total / tokens_per_step,
        requests_per_s=np.minimum(compute_rps, link_rps),
        flops_per_step=flops,
        bytes_per_step=nbytes,
    )


def pool_sizes(
    prefill: PrefillPool,
    decode: DecodePool,
    demand_requests_per_s: FloatOrArray,
    prefill_per_unit: FloatOrArray,
    decode_per_unit: FloatOrArray,
) -> tuple[Array, Array]:
    """Instances of each pool: the fewest ``xPyD`` units whose both pools keep up with demand.

    ``units = ceil(max(lambda / (x mu_p), lambda / (y mu_d)))``; returns ``(x units, y units)``.
    """
    lam = np.asarray(demand_requests_per_s, dtype=float)
    x = np.asarray(prefill_per_unit, dtype=float)
    y = np.asarray(decode_per_unit, dtype=float)
    units = np.maximum(
        np.ceil(np.maximum(lam / (x * prefill.requests_per_s), lam / (y * decode.requests_per_s))),
        1.0,
    )
    return x * units, y * units


def disaggregated(
    prefill: PrefillPool,
    decode: DecodePool,
    demand_requests_per_s: FloatOrArray,
    num_prefill: FloatOrArray,
    num_decode: FloatOrArray,
    output_tokens: float,
) -> Disaggregated:
    """Serve ``demand_requests_per_s`` with ``num_prefill`` and ``num_decode`` instances.

    Flow is conserved: what leaves the prefill pool enters the decode pool; a pool at or past
    its capacity passes on only its capacity (and is marked saturated).
    """
    lam = np.asarray(demand_requests_per_s, dtype=float)
    if np.any(lam < 0):
        raise InvalidParameterError("demand_requests_per_s", demand_requests_per_s, ">= 0")
    n_p = np.asarray(num_prefill, dtype=float)
    n_d = np.asarray(num_decode, dtype=float)
    cap_p = n_p * prefill.requests_per_s
    cap_d = n_d * decode.requests_per_s
    prefill_out = np.minimum(lam, cap_p)
    decode_out = np.minimum(prefill_out, cap_d)
    rho_p = lam / cap_p
    rho_d = prefill_out / cap_d
    saturated = (rho_p >= 1.0) | (rho_d >= 1.0)
    # the queue is one of batches: a batch of prompts_per_step served in one step
    wait = np.where(saturated, math.inf, md1_wait_s(np.asarray(rho_p, dtype=float), prefill.step_s))
    ttft = wait + prefill.latency_s + prefill.kv_transfer_s
    return Disaggregated(
        num_prefill=n_p,
        num_decode=n_d,
        requests_in_per_s=lam,
        prefill_out_per_s=prefill_out,
        decode_out_per_s=decode_out,
        output_tokens_per_s=decode_out * float(output_tokens),
        prefill_util_frac=np.minimum(rho_p, 1.0),
        decode_util_frac=np.minimum(rho_d, 1.0),
        queue_wait_s=wait,
        ttft_s=ttft,
        tpot_s=np.broadcast_to(decode.tpot_s, np.shape(ttft)),
        saturated=saturated,
    )


def decode_at_rate(
    shape: RankShape,
    input_tokens: float,
    output_tokens: float,
    rate_per_s: FloatOrArray,
    max_num_seqs: FloatOrArray,
    *,
    tokens_per_step: float = 1.0,
    query_tokens: float = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: float = 0.0,
    output_cv: float = 0.0,
) -> DecodePool:
    """One decode instance receiving ``rate_per_s`` requests per second (see module notes).

    The pool is evaluated at the batch the rate sustains (``num_seqs``; ``max_num_seqs`` when
    the rate reaches the capacity at the cap). ``requests_per_s`` is then the capacity at that
    batch, which equals the rate unless the batch is 1 or the cap.
    """
    kw = dict(
        tokens_per_step=tokens_per_step,
        query_tokens=query_tokens,
        num_draft_steps=num_draft_steps,
        output_cv=output_cv,
    )
    names = [f.name for f in dataclasses.fields(RankShape)]
    rate = np.asarray(rate_per_s, dtype=float)
    top = np.maximum(np.asarray(max_num_seqs, dtype=float), 1.0)
    common = np.broadcast_shapes(
        rate.shape, top.shape, *(np.shape(getattr(shape, n)) for n in names)
    )
    if draft_shape is not None:
        common = np.broadcast_shapes(common, *(np.shape(getattr(draft_shape, n)) for n in names))

    def flat(s: RankShape) -> RankShape:
        return RankShape(**{n: np.broadcast_to(getattr(s, n), common).ravel() for n in names})

    def pick(s: RankShape, which: IntArray) -> RankShape:
        return RankShape(**{n: getattr(s, n)[which] for n in names})

    shp, drf = flat(shape), flat(draft_shape) if draft_shape is not None else None
    lam, cap = np.broadcast_to(rate, common).ravel(), np.broadcast_to(top, common).ravel()
    steps = max(float(output_tokens) - 1.0, 0.0) / tokens_per_step

    def h(which: IntArray, b: Array) -> Array:
        pool = decode_pool(
            pick(shp, which),
            input_tokens,
            output_tokens,
            b,
            draft_shape=pick(drf, which) if drf is not None else None,
            **kw,
        )
        out: Array = lam[which] * steps * pool.step_s - b
        return out

    every = np.arange(lam.size)
    ones = np.ones(lam.size)
    f_one, f_cap = np.split(h(np.concatenate([every, every]), np.concatenate([ones, cap])), 2)
    b = np.where(f_one <= 0.0, 1.0, cap)
    inner = np.flatnonzero((f_one > 0.0) & (f_cap <= 0.0))
    if inner.size:
        b[inner] = bracketed_root(
            lambda rows, x: h(inner[rows], x), ones[inner], cap[inner], f_one[inner], f_cap[inner]
        )
    return decode_pool(
        shape,
        input_tokens,
        output_tokens,
        b.reshape(common),
        draft_shape=draft_shape,
        **kw,
    )
