"""Steady-state serving estimates in closed form, vectorized over configurations.

Continuous (iteration-level) batching in a fluid approximation: with ``B`` sequences decoding,
each iteration finishes ``r = B / (osl - 1)`` requests and admits as many, so it carries
``r * isl`` prefill tokens (mixed into the step when the engine fuses prefill and decode, in
separate prefill steps otherwise) and ``B`` decode tokens at the mean context
``isl + osl / 2``. A request yields ``osl`` tokens: one from its prefill, the rest from decode
steps. Static batching prefills a whole batch, then decodes it ``osl - 1`` steps (summed by a
midpoint rule over the growing context).

Lengths that vary between requests change the mean context, not the token counts: a request
stays in the decode batch for as many steps as it generates, so the batch over-represents long
outputs (length-biased sampling) and its mean context is ``isl + osl (1 + cv_out^2) / 2``; a
prefill token attends on average to ``(isl (1 + cv_in^2) + 1) / 2`` tokens, since a prompt's
attention work grows with the square of its length. ``cv`` is the coefficient of variation
(standard deviation over mean) of the lengths; 0, fixed lengths, gives the formulas above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chip2grid.perf.step import Array, FloatOrArray, RankShape, StepBatch, StepTimes, step_time

IntArray = NDArray[np.intp]
STATIC_QUADRATURE_POINTS = 16


def decode_context_tokens(
    input_tokens: FloatOrArray, output_tokens: FloatOrArray, output_cv: FloatOrArray = 0.0
) -> Array:
    """Mean context of a sequence in the decode batch (see module notes).

    With output lengths of mean ``osl`` and coefficient of variation ``cv``, a sequence in the
    batch has generated half of a length-biased output, ``E[o^2] / (2 E[o])``.
    """
    isl = np.asarray(input_tokens, dtype=float)
    osl = np.asarray(output_tokens, dtype=float)
    out: Array = isl + osl * (1.0 + np.square(output_cv)) / 2.0
    return out


def prefill_context_tokens(input_tokens: FloatOrArray, input_cv: FloatOrArray = 0.0) -> Array:
    """Mean context a prefill token attends to: ``E[i^2] / (2 E[i]) + 1/2`` (see module notes)."""
    isl = np.asarray(input_tokens, dtype=float)
    out: Array = (isl * (1.0 + np.square(input_cv)) + 1.0) / 2.0
    return out


@dataclass(frozen=True, slots=True)
class Cycle:
    """One steady-state iteration of continuous batching (arrays)."""

    iteration_s: Array
    requests_per_iteration: Array
    decode_seqs: Array
    step: StepTimes
    prefill_step: StepTimes
    prefill_latency_s: Array
    output_tokens_per_s: Array
    flops_per_iteration: Array
    bytes_per_iteration: Array

    @property
    def requests_per_s(self) -> Array:
        """Completed requests per second of one instance."""
        return self.requests_per_iteration / self.iteration_s


def continuous_batching(
    shape: RankShape,
    input_tokens: FloatOrArray,
    output_tokens: FloatOrArray,
    num_seqs: FloatOrArray,
    mixed: FloatOrArray,
    max_num_batched_tokens: FloatOrArray,
    *,
    query_tokens: FloatOrArray = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: FloatOrArray = 0.0,
    input_cv: FloatOrArray = 0.0,
    output_cv: FloatOrArray = 0.0,
) -> Cycle:
    """Steady state of one instance holding ``num_seqs`` sequences (see module notes).

    With speculative decoding a decode step scores ``query_tokens`` positions per sequence and
    is preceded by ``num_draft_steps`` steps of ``draft_shape``; ``output_tokens`` then counts
    verification steps, not tokens. ``input_cv`` and ``output_cv`` are the coefficients of
    variation of the request lengths (0: every request has the mean lengths).
    """
    isl = np.maximum(np.asarray(input_tokens, dtype=float), 1.0)
    osl = np.maximum(np.asarray(output_tokens, dtype=float), 1.0)
    b = np.maximum(np.asarray(num_seqs, dtype=float), 1.0)
    budget = np.asarray(max_num_batched_tokens, dtype=float)
    mixed_b = np.asarray(mixed, dtype=bool)
    decode_len = osl - 1.0
    ctx = decode_context_tokens(isl, osl, output_cv)
    p_ctx = prefill_context_tokens(isl, input_cv)
    # requests per iteration: limited by the batch and, when mixed, by the token budget
    r_batch = b / np.maximum(decode_len, 1.0)
    r_budget = budget / (isl + decode_len)
    r = np.where(mixed_b, np.minimum(r_batch, r_budget), r_batch)
    d_seqs = np.where(decode_len > 0, r * decode_len, 0.0)
    # mixed: prefill tokens ride in the same step, chunked by the budget
    mixed_step = step_time(
        shape, fused_step_batch(isl, r * isl, r, d_seqs, ctx, query_tokens, p_ctx)
    )
    # separate: prefill steps of as many whole prompts as the budget admits
    per_prefill = prompts_per_prefill_step(isl, budget, b)
    prefill_step = step_time(shape, StepBatch.prefill(per_prefill, isl, context=p_ctx))
    decode_step = step_time(shape, StepBatch.decode(d_seqs, ctx, query_tokens))
    draft_s = draft_step_work(draft_shape, num_draft_steps, d_seqs, ctx)[0]
    separate_iter = (
        np.where(decode_len > 0, decode_step.total_s + draft_s, 0.0)
        + r * prefill_step.total_s / per_prefill
    )
    iteration = np.where(mixed_b, mixed_step.total_s + draft_s, separate_iter)
    # latency of one prompt's prefill once admitted
    chunks, chunk_tokens = prefill_chunking(isl, budget, d_seqs, r)
    chunk_step = step_time(
        shape, chunk_step_batch(isl, chunk_tokens, d_seqs, ctx, query_tokens, p_ctx)
    )
    own_prefill = step_time(shape, admitted_prefill(isl, r, per_prefill, p_ctx))
    prefill_latency = np.where(mixed_b, chunks * chunk_step.total_s, own_prefill.total_s)
    step = _select(mixed_b, mixed_step, decode_step)
    return Cycle(
        iteration_s=iteration,
        requests_per_iteration=r,
        decode_seqs=d_seqs,
        step=step,
        prefill_step=prefill_step,
        prefill_latency_s=prefill_latency,
        output_tokens_per_s=r * osl / iteration,
        flops_per_iteration=np.where(
            mixed_b, mixed_step.flops, decode_step.flops + r * prefill_step.flops / per_prefill
        ),
        bytes_per_iteration=np.where(
            mixed_b, mixed_step.bytes, decode_step.bytes + r * prefill_step.bytes / per_prefill
        ),
    )


@dataclass(frozen=True, slots=True)
class Lockstep:
    """A closed loop of fixed-length requests that moves in waves (arrays)."""

    ttft_s: Array
    """Mean time to the first token of a wave's request, from the wave's start."""
    e2e_s: Array
    """Length of one wave: every request of the wave ends with it."""
    decode_step_s: Array
    """One decode step of the whole wave (no prefill in it), drafting included."""
    decode_step: StepTimes
    """The target model's decode step of the wave, by operator (no drafting)."""
    ttft_median_s: Array
    """Median time to the first token of a wave's request: the middle prompt's prefill step."""

    def closed_loop(self, users: FloatOrArray, batch: FloatOrArray) -> ClosedLoopTimes:
        """The loop's times when ``users`` share waves of ``batch`` sequences: the users beyond
        the batch wait for a slot, a wave's length for each batch of them. The median TTFT is
        given only where no user waits (the wait's spread is not modelled): NaN otherwise."""
        b = np.maximum(np.asarray(batch, dtype=float), 1.0)
        wait = np.maximum(np.asarray(users, dtype=float) - b, 0.0) * self.e2e_s / b
        return ClosedLoopTimes(
            ttft_s=self.ttft_s + wait,
            e2e_s=self.e2e_s + wait,
            wait_s=wait,
            ttft_median_s=np.where(wait > 0, np.nan, self.ttft_median_s),
        )


@dataclass(frozen=True, slots=True)
class ClosedLoopTimes:
    """Mean latencies of a closed loop's requests (arrays); the users over the number of
    instances' batch wait for admission, which TTFT and end-to-end latency include."""

    ttft_s: Array
    e2e_s: Array
    wait_s: Array
    ttft_median_s: FloatOrArray = float("nan")
    """Median TTFT where the loop's model gives the spread of first tokens (waves); NaN
    where it gives only the mean."""


@dataclass(frozen=True, slots=True)
class BulkPrefill:
    """Prompts that reach an engine together, prefilled one after another (arrays)."""

    ttft_s: Array
    """Mean time from their arrival to a prompt's first token."""
    ttft_median_s: Array
    """Median of that time: the middle prompt's prefill step."""
    total_s: Array
    """Time to prefill them all."""


def bulk_prefill(
    shape: RankShape,
    input_tokens: FloatOrArray,
    max_num_batched_tokens: FloatOrArray,
    num_prompts: FloatOrArray,
    mixed: FloatOrArray = False,
    input_cv: FloatOrArray = 0.0,
) -> BulkPrefill:
    """``num_prompts`` prompts that arrive at once (a closed loop's wave, a batch a client hands
    the engine): prefilled as many whole prompts a step as the token budget admits (a prompt
    longer than a mixed step's budget in chunks of it), each prompt's first token at the end of
    the step that completes it."""
    isl = np.maximum(np.asarray(input_tokens, dtype=float), 1.0)
    b = np.maximum(np.asarray(num_prompts, dtype=float), 1.0)
    budget = np.asarray(max_num_batched_tokens, dtype=float)
    mixed_b = np.asarray(mixed, dtype=bool)
    p_ctx = prefill_context_tokens(isl, input_cv)
    # whole prompts per prefill step (as many as the budget admits, at least one); a prompt
    # longer than a mixed step's budget is prefilled in chunks of the budget instead
    chunked = mixed_b & (isl > budget)
    per_step = prompts_per_prefill_step(isl, budget, b)
    full_steps = np.floor(b / per_step)
    rest = b - full_steps * per_step
    full = step_time(shape, StepBatch.prefill(per_step, isl, context=p_ctx)).total_s
    last = np.where(
        rest > 0, step_time(shape, StepBatch.prefill(rest, isl, context=p_ctx)).total_s, 0.0
    )
    # prompt j completes with step ceil(j / per_step): the mean over the wave
    whole_ttft = (
        per_step * full * full_steps * (full_steps + 1.0) / 2.0 + rest * (full_steps * full + last)
    ) / b
    whole_prefill = full_steps * full + last

    def completes(j: Array) -> Array:
        """When whole prompt ``j`` (1-based) of the wave gets its first token."""
        k = np.ceil(j / per_step)
        return np.where(k <= full_steps, k * full, full_steps * full + last)

    # the median prompt: the mean of the two middle ones where the wave is even
    middle = (b + 1.0) / 2.0
    whole_median = (completes(np.floor(middle)) + completes(np.ceil(middle))) / 2.0
    # chunks: prompt j completes after j * isl / budget budget-sized steps
    chunk = step_time(shape, StepBatch.prefill(budget / isl, isl, context=p_ctx)).total_s
    steps_per_prompt = isl / budget
    chunk_ttft = chunk * steps_per_prompt * (b + 1.0) / 2.0
    chunk_prefill = chunk * steps_per_prompt * b
    ttft = np.where(chunked, chunk_ttft, whole_ttft)
    # chunks complete prompts evenly: the median is the mean
    ttft_median = np.where(chunked, chunk_ttft, whole_median)
    prefill_s = np.where(chunked, chunk_prefill, whole_prefill)
    return BulkPrefill(ttft_s=ttft, ttft_median_s=ttft_median, total_s=prefill_s)


def lockstep_wave(
    shape: RankShape,
    input_tokens: FloatOrArray,
    output_tokens: FloatOrArray,
    num_seqs: FloatOrArray,
    mixed: FloatOrArray,
    max_num_batched_tokens: FloatOrArray,
    *,
    query_tokens: FloatOrArray = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: FloatOrArray = 0.0,
    input_cv: FloatOrArray = 0.0,
) -> Lockstep:
    """One wave of a closed loop whose requests all generate the same number of tokens.

    Users that start together and generate equal outputs finish at the same step and send
    their next requests together (a benchmark client such as GenAI-Perf or ``vllm bench
    serve --max-concurrency`` with fixed lengths): each wave prefills ``num_seqs`` prompts at
    once, as many whole prompts a step as the token budget admits (a prompt longer than a
    mixed step's budget in chunks of it), then decodes the whole batch. A prompt's TTFT is the
    time to the end of the step that completes it; every request of the wave ends with the
    wave. ``output_tokens`` counts decode steps (verifications under speculative decoding), as
    in :func:`continuous_batching`.
    """
    isl = np.maximum(np.asarray(input_tokens, dtype=float), 1.0)
    osl = np.maximum(np.asarray(output_tokens, dtype=float), 1.0)
    b = np.maximum(np.asarray(num_seqs, dtype=float), 1.0)
    prefill = bulk_prefill(shape, isl, max_num_batched_tokens, b, mixed, input_cv)
    ctx = decode_context_tokens(isl, osl)
    decode = step_time(shape, StepBatch.decode(b, ctx, query_tokens))
    draft_s = draft_step_work(draft_shape, num_draft_steps, b, ctx)[0]
    decode_s = decode.total_s + draft_s
    e2e = prefill.total_s + (osl - 1.0) * decode_s
    return Lockstep(
        ttft_s=prefill.ttft_s,
        e2e_s=np.maximum(e2e, prefill.ttft_s),
        decode_step_s=decode_s,
        decode_step=decode,
        ttft_median_s=prefill.ttft_median_s,
    )


def fused_step_batch(
    input_tokens: FloatOrArray,
    prompt_tokens: FloatOrArray,
    num_prompts: FloatOrArray,
    decode_seqs: FloatOrArray,
    decode_context: FloatOrArray,
    query_tokens: FloatOrArray = 1.0,
    prefill_context: FloatOrArray | None = None,
) -> StepBatch:
    """One fused (mixed) step of the fluid model: prefill beside the decode batch.

    ``prompt_tokens`` new tokens of ``num_prompts`` prompts of ``input_tokens`` (attending to
    ``prefill_context`` tokens, by default half the prompt), fused with ``decode_seqs``
    sequences at ``decode_context`` scoring ``query_tokens`` positions each. Shared by
    :func:`continuous_batching` and the planner's tabulated steady state
    (:mod:`chip2grid.plan.grid`), so both compute one model.
    """
    return StepBatch(
        prefill_tokens=prompt_tokens,
        prefill_seqs=num_prompts,
        prefill_context=prefill_context_tokens(input_tokens)
        if prefill_context is None
        else prefill_context,
        decode_seqs=decode_seqs,
        decode_context=decode_context,
        decode_query_tokens=query_tokens,
    )


def chunk_step_batch(
    input_tokens: FloatOrArray,
    chunk_tokens: FloatOrArray,
    decode_seqs: FloatOrArray,
    decode_context: FloatOrArray,
    query_tokens: FloatOrArray = 1.0,
    prefill_context: FloatOrArray | None = None,
) -> StepBatch:
    """The step that carries one prefill chunk of ``chunk_tokens`` (see :func:`prefill_chunking`).

    Its prompts count as ``chunk_tokens / input_tokens``, at least one.
    """
    return fused_step_batch(
        input_tokens,
        chunk_tokens,
        np.maximum(np.divide(chunk_tokens, input_tokens), 1.0),
        decode_seqs,
        decode_context,
        query_tokens,
        prefill_context,
    )


def prefill_chunking(
    input_tokens: FloatOrArray,
    max_num_batched_tokens: FloatOrArray,
    decode_seqs: FloatOrArray,
    requests_per_iteration: FloatOrArray,
) -> tuple[Array, Array]:
    """Chunks of one prompt under mixed batching, and the prefill tokens of each chunk's step.

    A prompt is prefilled in chunks of what the budget leaves beside the decode tokens (at
    least a tenth of the budget); each chunk's step also carries the other prompts admitted
    with it, up to that room. Arrivals at random (Poisson) are independent of one another, so
    the prompts admitted beside a given one are as many as in any step
    (``requests_per_iteration``): the step that carries a prompt holds that prompt more than
    the average step does. Returns ``(num_chunks, chunk_step_tokens)``.
    """
    budget = np.asarray(max_num_batched_tokens, dtype=float)
    room = np.maximum(budget - decode_seqs, budget * 0.1)
    chunk = np.minimum(input_tokens, room)
    chunks = np.ceil(np.divide(input_tokens, chunk))
    chunk_tokens = np.minimum(chunk + np.multiply(requests_per_iteration, input_tokens), room)
    return chunks, chunk_tokens


def admitted_prefill(
    input_tokens: FloatOrArray,
    requests_per_iteration: FloatOrArray,
    prompts_per_step: FloatOrArray,
    prefill_context: FloatOrArray,
) -> StepBatch:
    """The separate prefill step that carries a given prompt: that prompt and the others that
    arrived with it (``requests_per_iteration`` of them, Poisson arrivals being independent),
    at most the ``prompts_per_step`` the budget admits."""
    prompts = np.minimum(1.0 + np.asarray(requests_per_iteration, dtype=float), prompts_per_step)
    return StepBatch.prefill(prompts, input_tokens, context=prefill_context)


def prompts_per_prefill_step(
    input_tokens: FloatOrArray, max_num_batched_tokens: FloatOrArray, num_seqs: FloatOrArray
) -> Array:
    """Whole prompts a separate prefill step takes: what the budget admits, 1 to ``num_seqs``."""
    fits = np.maximum(np.floor(np.divide(max_num_batched_tokens, input_tokens)), 1.0)
    out: Array = np.minimum(fits, num_seqs)
    return out


def draft_step_work(
    draft_shape: RankShape | None,
    num_draft_steps: FloatOrArray,
    decode_seqs: FloatOrArray,
    decode_context: FloatOrArray,
) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray]:
    """Time, FLOPs and bytes of the ``num_draft_steps`` draft steps before one verification.

    The draft steps run inside the verifying iteration (:meth:`RankShape.for_drafting`): the
    iteration's scheduling and per-sequence host time are the verification step's. Zero
    without a draft (``draft_shape`` None or no draft steps).
    """
    if draft_shape is None or not np.any(np.asarray(num_draft_steps) > 0):
        return 0.0, 0.0, 0.0
    k = np.asarray(num_draft_steps) if np.ndim(num_draft_steps) else float(num_draft_steps)
    step = step_time(draft_shape.for_drafting(), StepBatch.decode(decode_seqs, decode_context))
    return k * step.total_s, k * step.flops, k * step.bytes


def _select(mask: Array, a: StepTimes, b: StepTimes) -> StepTimes:
    def pick(x: Array, y: Array) -> Array:
        return np.where(mask, x, y)

    return StepTimes(
        total_s=pick(a.total_s, b.total_s),
        operators={k: pick(a.operators[k], b.operators[k]) for k in a.operators},
        compute_s=pick(a.compute_s, b.compute_s),
        memory_s=pick(a.memory_s, b.memory_s),
        comm_s=pick(a.comm_s, b.comm_s),
        overhead_s=pick(a.overhead_s, b.overhead_s),
        flops=pick(a.flops, b.flops),
        bytes=pick(a.bytes, b.bytes),
        tokens=pick(a.tokens, b.tokens),
    )


@dataclass(frozen=True, slots=True)
class StaticRun:
    """A static batch: one prefill, then ``osl - 1`` decode steps (arrays)."""

    prefill_s: Array
    decode_s: Array
    prefill_step: StepTimes
    decode_step: StepTimes

    @property
    def total_s(self) -> Array:
        """Time from the start of the prefill to the last token."""
        return self.prefill_s + self.decode_s


def static_batching(
    shape: RankShape,
    input_tokens: FloatOrArray,
    output_tokens: FloatOrArray,
    batch_size: FloatOrArray,
    *,
    identical_inputs: bool | Array = False,
) -> StaticRun:
    """Time a static batch of ``batch_size`` requests of ``input_tokens`` in, ``output_tokens`` out.

    ``identical_inputs``: every prompt is the same token repeated (TensorRT-LLM's
    ``gptSessionBenchmark``), so every token of a step routes to the same experts
    (:attr:`chip2grid.perf.step.StepBatch.routing_token_frac` 0).
    """
    isl = np.maximum(np.asarray(input_tokens, dtype=float), 1.0)
    osl = np.maximum(np.asarray(output_tokens, dtype=float), 1.0)
    b = np.maximum(np.asarray(batch_size, dtype=float), 1.0)
    routing = np.where(np.asarray(identical_inputs, dtype=bool), 0.0, 1.0)

    def routed(batch: StepBatch) -> StepBatch:
        return replace(batch, routing_token_frac=routing)

    prefill = step_time(shape, routed(StepBatch.prefill(b, isl)))
    steps = osl - 1.0
    n = STATIC_QUADRATURE_POINTS
    total = np.zeros(np.broadcast(isl, osl, b, prefill.total_s).shape)
    mid_step = step_time(shape, routed(StepBatch.decode(b, isl + steps / 2.0)))
    for i in range(n):
        ctx = isl + (i + 0.5) / n * steps
        total = total + step_time(shape, routed(StepBatch.decode(b, ctx))).total_s
    decode = np.where(steps > 0, total / n * steps, 0.0)
    return StaticRun(
        prefill_s=prefill.total_s, decode_s=decode, prefill_step=prefill, decode_step=mid_step
    )


BATCH_SOLVE_REL_TOL = 1e-6
"""Relative precision of the running batch :func:`batch_at_rate` solves for."""


def bracketed_root(
    h: Callable[[IntArray, Array], Array],
    lo: Array,
    hi: Array,
    f_lo: Array,
    f_hi: Array,
    *,
    rel_tol: float = 1e-4,
    max_iter: int = 60,
) -> Array:
    """Close each bracket ``[lo, hi]`` with ``h(lo) > 0 >= h(hi)`` on a sign change of ``h``.

    The Illinois variant of regula falsi (Dowell & Jarratt, BIT 11 (1971) 168-174): the
    bracket always holds the sign change and shrinks superlinearly on smooth functions; a
    step that falls outside the open bracket bisects. ``h(rows, x)`` evaluates rows ``rows``
    (indices into the brackets) at ``x``. Returns the upper end of each closed bracket (the
    root within ``rel_tol``, or the point where ``h`` jumps below zero).
    """
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    f_lo, f_hi = np.array(f_lo, dtype=float), np.array(f_hi, dtype=float)
    side = np.zeros(lo.size, dtype=np.int8)
    active = np.arange(lo.size)
    for _ in range(max_iter):
        active = active[hi[active] - lo[active] > rel_tol * hi[active]]
        if active.size == 0:
            break
        a, c, fa, fc = lo[active], hi[active], f_lo[active], f_hi[active]
        x = (a * fc - c * fa) / (fc - fa)
        x = np.where((x > a) & (x < c), x, 0.5 * (a + c))
        fx = h(active, x)
        up = fx > 0.0
        # a side kept twice in a row halves its function value (the Illinois step)
        f_hi[active[up & (side[active] == 1)]] *= 0.5
        f_lo[active[~up & (side[active] == -1)]] *= 0.5
        moved_lo, moved_hi = active[up], active[~up]
        lo[moved_lo], f_lo[moved_lo] = x[up], fx[up]
        hi[moved_hi], f_hi[moved_hi] = x[~up], fx[~up]
        side[moved_lo], side[moved_hi] = 1, -1
        on_root = np.abs(fx) <= rel_tol * x  # the bracket closes on x
        lo[active[on_root]] = hi[active[on_root]] = x[on_root]
    return hi


def batch_at_rate(
    cycle: Callable[[IntArray, Array], Cycle],
    rate_per_s: FloatOrArray,
    decode_steps: FloatOrArray,
    full_batch: FloatOrArray,
    low: FloatOrArray = 1.0,
) -> Array:
    """The running batch ``b`` at which an instance finishes requests as fast as they arrive.

    Little's law on the batch: ``b = rate x (prefill latency + (decode_steps - 1) x
    iteration)``, both times those of ``cycle`` at ``b`` sequences. ``cycle(rows, b)`` gives
    the cycles of instances ``rows`` (indices into the flattened arguments) at batches ``b``
    (one per row), so each step of the search evaluates only the instances still open.
    ``rate x time(b) - b`` falls from ``low`` (at least one sequence) to ``full_batch`` whenever
    the rate is below the capacity at the full batch, so :func:`bracketed_root` closes the
    bracket. A rate at or above that capacity gives the full batch; a rate too light to keep
    one sequence busy gives ``rate x time(low)``, the share of time a sequence is in flight. A
    known solution at a lower rate is a valid ``low``.
    """
    rate, steps, low_b, full_b = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (rate_per_s, decode_steps, low, full_batch))
    )
    shape = rate.shape
    rate, steps = rate.ravel(), steps.ravel()
    lo = np.maximum(low_b.ravel(), 1.0)
    hi = np.maximum(full_b.ravel(), lo)

    def in_flight(rows: IntArray, b: Array) -> Array:
        time = slot_time_s(cycle(rows, b), steps[rows])
        return rate[rows] * np.broadcast_to(time, b.shape)

    every = np.arange(rate.size)
    t_lo, t_hi = in_flight(every, lo), in_flight(every, hi)
    f_lo, f_hi = t_lo - lo, t_hi - hi
    b = np.where(f_hi >= 0.0, hi, np.where(f_lo <= 0.0, t_lo, lo))
    inner = np.flatnonzero((f_lo > 0.0) & (f_hi < 0.0))
    if inner.size:

        def excess(rows: IntArray, x: Array) -> Array:
            return in_flight(inner[rows], x) - x

        b[inner] = bracketed_root(
            excess, lo[inner], hi[inner], f_lo[inner], f_hi[inner], rel_tol=BATCH_SOLVE_REL_TOL
        )
    return b.reshape(shape)


class CycleTimes(Protocol):
    """The two times of a steady-state cycle a request's TTFT depends on (:class:`Cycle`, the
    planner's tabulated ``CycleAt``)."""

    @property
    def iteration_s(self) -> Array: ...
    @property
    def prefill_latency_s(self) -> Array: ...


@dataclass(frozen=True, slots=True)
class LatencyTimes:
    """The two :class:`CycleTimes` as plain arrays (e.g. picked per point from two cycles)."""

    iteration_s: Array
    prefill_latency_s: Array


def slot_time_s(cycle: CycleTimes, decode_steps: FloatOrArray) -> Array:
    """How long a request holds its sequence slot in ``cycle``: its prefill, then the
    iterations of its other ``decode_steps - 1`` decode steps (Little's law multiplies it by
    the rate to give the sequences in flight)."""
    out: Array = cycle.prefill_latency_s + (np.asarray(decode_steps, dtype=float) - 1.0) * (
        cycle.iteration_s
    )
    return out


def arrival_ttft_s(
    cycle: CycleTimes, wait_s: FloatOrArray = 0.0, *, busy_frac: FloatOrArray = 1.0
) -> Array:
    """Mean TTFT of a request that arrives at a random moment of ``cycle``: half an iteration
    until the next step starts (for the ``busy_frac`` of arrivals that find one in progress),
    its prefill once admitted, and any wait for admission."""
    out: Array = (
        np.asarray(busy_frac) * 0.5 * cycle.iteration_s
        + cycle.prefill_latency_s
        + np.asarray(wait_s)
    )
    return out


def closed_loop_ttft_s(
    cycle: CycleTimes, users_per_instance: FloatOrArray, wait_s: FloatOrArray = 0.0
) -> Array:
    """Mean TTFT in a closed loop of ``users_per_instance`` users (a client that sends the next
    request when one completes): like :func:`arrival_ttft_s`, but a request waits for the step
    in progress only when other users keep the engine busy. A lone user finds it idle and is
    admitted at once; between one and two users, the share of the time another is in flight."""
    others = np.clip(np.asarray(users_per_instance, dtype=float) - 1.0, 0.0, 1.0)
    return arrival_ttft_s(cycle, wait_s, busy_frac=others)


def closed_loop_times(
    cycle: Cycle, users: FloatOrArray, batch: FloatOrArray, decode_steps: FloatOrArray
) -> ClosedLoopTimes:
    """The times of a closed loop whose ``users`` send at random moments (out of step), running
    ``batch`` sequences of ``cycle``: those beyond the batch queue for a slot (Little's law on
    the instance's completions), then wait as :func:`closed_loop_ttft_s` says."""
    queued = np.maximum(np.asarray(users, dtype=float) - np.asarray(batch, dtype=float), 0.0)
    wait = queued / np.maximum(cycle.requests_per_s, 1e-12)
    ttft = closed_loop_ttft_s(cycle, users, wait)
    e2e = ttft + (np.asarray(decode_steps, dtype=float) - 1.0) * cycle.iteration_s
    return ClosedLoopTimes(ttft_s=ttft, e2e_s=e2e, wait_s=wait)


ADMISSION_QUEUES = ("slots", "instance")
"""How a request arriving at random waits for admission to a continuous-batching instance below
its capacity. ``slots`` (what estimates and the planner use): only when every sequence slot of
the batch is taken (:func:`admission_wait_s`), since the fluid batch already grows with the
load; it agrees with the serving simulator (``benchmarks/queue_vs_simulator.py``).
``instance``: the whole instance as one server whose service time is one over its capacity, an
M/D/1 queue at the share of the capacity in use (:func:`md1_wait_s`); ``chip2grid validate
--admission-queue instance`` scores it (README, Validation)."""


def md1_wait_s(utilization: Array, service_s: Array) -> Array:
    """Mean wait in an M/D/1 queue (Pollaczek–Khinchine with deterministic service)."""
    rho = np.clip(utilization, 0.0, 0.999999)
    return rho * service_s / (2.0 * (1.0 - rho))


def erlang_c(offered: FloatOrArray, servers: FloatOrArray) -> Array:
    """Probability that a Poisson arrival finds all ``servers`` busy (Erlang C) at ``offered``
    load (mean busy servers, below ``servers``); 1 at or above it.

    Through Erlang B, ``B = p(c) / P(N <= c)`` for ``N`` Poisson with mean ``a``: the
    log-probability and the regularized incomplete gamma stay finite for thousands of servers,
    and accept a fractional count (a KV-limited batch need not be whole).
    """
    from scipy.special import gammaincc, gammaln

    a = np.maximum(np.asarray(offered, dtype=float), 0.0)
    c = np.maximum(np.asarray(servers, dtype=float), 1.0)
    a, c = np.broadcast_arrays(a, c)
    stable = a < c
    safe_a = np.where(stable & (a > 0.0), a, 1.0)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        log_pmf = c * np.log(safe_a) - safe_a - gammaln(c + 1.0)
        cdf = gammaincc(c + 1.0, safe_a)
        blocking = np.where(cdf > 0.0, np.exp(log_pmf) / cdf, 1.0)
        blocking = np.clip(blocking, 0.0, 1.0)
        out = c * blocking / (c - safe_a * (1.0 - blocking))
    out = np.where(a > 0.0, np.clip(out, 0.0, 1.0), 0.0)
    result: Array = np.where(stable, out, 1.0)
    return result


def admission_wait_s(
    cycle: CycleTimes,
    rate_per_s: FloatOrArray,
    slots: FloatOrArray,
    decode_steps: FloatOrArray,
    output_cv: FloatOrArray = 0.0,
) -> Array:
    """Mean wait for a slot of an instance that runs ``cycle`` at ``rate_per_s`` requests per
    second with at most ``slots`` sequences (:func:`slot_wait_s`): a request holds its slot for
    :func:`slot_time_s`, whose spread is that of its decode steps (``output_cv``)."""
    in_slot = slot_time_s(cycle, decode_steps)
    steps = np.asarray(decode_steps, dtype=float)
    cv = np.asarray(output_cv, dtype=float) * steps * cycle.iteration_s / np.maximum(in_slot, 1e-12)
    return slot_wait_s(np.asarray(rate_per_s, dtype=float) * in_slot, slots, in_slot, cv)


def slot_wait_s(
    in_flight: FloatOrArray,
    slots: FloatOrArray,
    service_s: FloatOrArray,
    service_cv: FloatOrArray = 0.0,
) -> Array:
    """Mean wait for admission to an engine that runs at most ``slots`` sequences at once.

    A request holds a slot from admission to its last token (``service_s``); Little's law puts
    ``in_flight`` of them in flight on average. It waits only when every slot is taken, so the
    engine is an M/G/c queue over its batch, not one server: Erlang C's share of arrivals that
    wait times ``service_s / (slots - in_flight)``, scaled by ``(1 + cv^2) / 2`` for the spread
    of service times (Allen–Cunneen; ``cv`` 0, every request as long, halves the exponential
    case). One slot and fixed service is M/D/1 exactly. At or above ``slots``, the wait is
    unbounded.
    """
    a = np.asarray(in_flight, dtype=float)
    c = np.maximum(np.asarray(slots, dtype=float), 1.0)
    spread = (1.0 + np.square(np.asarray(service_cv, dtype=float))) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = erlang_c(a, c) * np.asarray(service_s, dtype=float) / (c - a) * spread
    out: Array = np.where(a < c, np.maximum(wait, 0.0), np.inf)
    return out


@dataclass(frozen=True, slots=True)
class Screen:
    """Throughput and TPOT of many configurations at once (arrays)."""

    output_tokens_per_s: Array
    tpot_s: Array
    bound: NDArray[np.str_]


def screen(
    shape: RankShape,
    input_tokens: FloatOrArray,
    output_tokens: FloatOrArray,
    num_seqs: FloatOrArray,
    max_num_batched_tokens: FloatOrArray,
) -> Screen:
    """Steady-state throughput per instance and TPOT under mixed (chunked-prefill) batching.

    The same fluid model as :func:`continuous_batching`, with only the one step it needs: the
    fast path for screening millions of candidate configurations.
    """
    isl = np.maximum(np.asarray(input_tokens, dtype=float), 1.0)
    osl = np.maximum(np.asarray(output_tokens, dtype=float), 1.0)
    b = np.maximum(np.asarray(num_seqs, dtype=float), 1.0)
    budget = np.asarray(max_num_batched_tokens, dtype=float)
    decode_len = osl - 1.0
    r = np.minimum(b / np.maximum(decode_len, 1.0), budget / (isl + decode_len))
    step = step_time(
        shape,
        StepBatch(
            prefill_tokens=r * isl,
            prefill_seqs=r,
            prefill_context=(isl + 1.0) / 2.0,
            decode_seqs=np.where(decode_len > 0, r * decode_len, 0.0),
            decode_context=isl + osl / 2.0,
        ),
    )
    return Screen(output_tokens_per_s=r * osl / step.total_s, tpot_s=step.total_s, bound=step.bound)
