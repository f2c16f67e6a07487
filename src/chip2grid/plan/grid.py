"""The steady state of continuous batching over a grid of batch caps x token budgets, fast.

:func:`chip2grid.perf.continuous_batching` evaluated on every (shape, ``max_num_seqs``,
``max_num_batched_tokens``) point gives the same numbers (tested to rounding) but spends five
step-time evaluations per point. Here the structure of the fluid model is used instead:

- with mixed (chunked-prefill) batching the requests admitted per iteration are
  ``r = min(r_b, r_c)``, the smaller of a batch-limited rate (a function of the batch cap only)
  and a budget-limited rate (of the budget only), and the iteration depends on ``r`` alone; so
  iterations, throughputs and everything derived from them are tabulated once per batch cap and
  once per budget (a table of ``nb + nc`` entries per shape) and each grid point holds an index
  into that table;
- the prefill latency depends on the budget as well, but only where the prompt must be chunked
  beside a batch-limited decode batch; every other point reuses a tabulated chunk step, checked
  by exact equality of the step's inputs, and the rest are evaluated directly;
- without mixed batching the iteration depends on both axes and everything is evaluated on the
  grid (the prefill step takes a handful of distinct prompt counts, evaluated once each).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.perf.step import Array, RankShape, StepBatch, step_time

IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class AggregatedGrid:
    """Steady state of ``S`` shapes over ``nb`` batch caps x ``nc`` budgets.

    Table quantities have shape ``(S, T)``; ``index`` (``(S, nb * nc)``) says which table entry
    each grid point takes, row-major over (cap, budget).
    """

    index: IntArray
    iteration_s: Array
    requests_per_iteration: Array
    flops_per_iteration: Array
    bytes_per_iteration: Array
    ttft_s: Array
    """Half an iteration of waiting plus the prompt's prefill, per grid point ``(S, nb * nc)``."""

    def gather(self, table: Array) -> Array:
        """Grid values ``(S, nb * nc)`` of a table quantity ``(S, T)``."""
        return np.take_along_axis(np.broadcast_to(table, self.iteration_s.shape), self.index, 1)


def column(shape: RankShape) -> RankShape:
    """A stacked shape (fields of length ``S``) as a column (fields ``(S, 1)``) to broadcast."""
    return RankShape(
        **{
            f.name: np.asarray(getattr(shape, f.name), dtype=float)[:, None]
            for f in dataclasses.fields(RankShape)
        }
    )


def rows(shape: RankShape, which: IntArray) -> RankShape:
    """The stacked shape's entries ``which`` (one per element of the result)."""
    return RankShape(
        **{
            f.name: np.asarray(getattr(shape, f.name), dtype=float)[which]
            for f in dataclasses.fields(RankShape)
        }
    )


def aggregated_grid(
    shape: RankShape,
    input_tokens: float,
    output_steps: float,
    batch_caps: Array,
    max_seqs: Array,
    budgets: Array,
    mixed: bool,
    *,
    query_tokens: float = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: float = 0.0,
) -> AggregatedGrid:
    """Continuous batching of the stacked ``shape`` over every cap x budget (see module notes).

    ``max_seqs`` (length ``S``) caps the batch at what the KV cache holds; ``output_steps``
    counts decode steps as :func:`chip2grid.perf.continuous_batching` does under speculative
    decoding. Draft work counts in the iteration and in the FLOPs and bytes.
    """
    isl = max(float(input_tokens), 1.0)
    osl = max(float(output_steps), 1.0)
    caps = np.maximum(np.asarray(batch_caps, dtype=float), 1.0)
    budget = np.asarray(budgets, dtype=float)
    num_s, nb, nc = len(max_seqs), caps.size, budget.size
    col = column(shape)
    draft_col = column(draft_shape) if draft_shape is not None else None
    decode_len = osl - 1.0
    ctx = isl + osl / 2.0
    bq = np.maximum(np.minimum(caps[None, :], np.asarray(max_seqs, dtype=float)[:, None]), 1.0)
    r_b = bq / max(decode_len, 1.0)

    def draft_part(d_seqs: Array) -> tuple[Array | float, Array | float, Array | float]:
        if draft_col is None or num_draft_steps <= 0:
            return 0.0, 0.0, 0.0
        d = step_time(draft_col, StepBatch.decode(d_seqs, ctx))
        k = num_draft_steps
        return k * d.total_s, k * d.flops, k * d.bytes

    if not mixed:
        return _separate(col, isl, decode_len, ctx, bq, r_b, budget, query_tokens, draft_part)
    r_c = budget / (isl + decode_len)
    r_tab = np.concatenate([r_b, np.broadcast_to(r_c, (num_s, nc))], axis=1)
    d_tab = np.where(decode_len > 0, r_tab * decode_len, 0.0)
    step = step_time(
        col,
        StepBatch(
            prefill_tokens=r_tab * isl,
            prefill_seqs=r_tab,
            prefill_context=(isl + 1.0) / 2.0,
            decode_seqs=d_tab,
            decode_context=ctx,
            decode_query_tokens=query_tokens,
        ),
    )
    draft_s, draft_f, draft_b = draft_part(d_tab)
    iteration = step.total_s + draft_s
    batch_limited = r_b[:, :, None] <= r_c[None, None, :]
    index = np.where(
        batch_limited, np.arange(nb)[None, :, None], nb + np.arange(nc)[None, None, :]
    ).reshape(num_s, nb * nc)
    grid = AggregatedGrid(
        index=index,
        iteration_s=iteration,
        requests_per_iteration=r_tab,
        flops_per_iteration=step.flops + draft_f,
        bytes_per_iteration=step.bytes + draft_b,
        ttft_s=np.empty(0),
    )
    # prefill latency: chunks of what the budget leaves beside the decode batch
    r3 = grid.gather(r_tab)
    d3 = grid.gather(d_tab)
    c3 = np.broadcast_to(np.tile(budget, nb)[None, :], r3.shape)
    room = np.maximum(c3 - d3, c3 * 0.1)
    chunk = np.minimum(isl, room)
    chunks = np.ceil(isl / chunk)
    chunk_tokens = np.minimum(np.maximum(chunk, r3 * isl), room)
    d_c = d_tab[:, nb:]
    room_c = np.maximum(budget[None, :] - d_c, budget[None, :] * 0.1)
    ct_c = np.minimum(np.maximum(np.minimum(isl, room_c), r_c[None, :] * isl), room_c)
    ct_tab = np.concatenate([np.maximum(isl, r_b * isl), ct_c], axis=1)

    def chunk_step(tokens: Array, d_seqs: Array, shp: RankShape) -> Array:
        return step_time(
            shp,
            StepBatch(
                prefill_tokens=tokens,
                prefill_seqs=np.maximum(tokens / isl, 1.0),
                prefill_context=(isl + 1.0) / 2.0,
                decode_seqs=d_seqs,
                decode_context=ctx,
                decode_query_tokens=query_tokens,
            ),
        ).total_s

    chunk_s = grid.gather(chunk_step(ct_tab, d_tab, col))
    miss = chunk_tokens != grid.gather(ct_tab)
    if miss.any():
        which = np.nonzero(miss)
        chunk_s[which] = chunk_step(chunk_tokens[which], d3[which], rows(shape, which[0]))
    ttft = 0.5 * grid.gather(iteration) + chunks * chunk_s
    return dataclasses.replace(grid, ttft_s=ttft)


def _separate(
    col: RankShape,
    isl: float,
    decode_len: float,
    ctx: float,
    bq: Array,
    r_b: Array,
    budget: Array,
    query_tokens: float,
    draft_part: object,
) -> AggregatedGrid:
    """Prefill and decode in separate steps: evaluated on the whole grid."""
    num_s, nb = bq.shape
    nc = budget.size
    d_b = np.where(decode_len > 0, r_b * decode_len, 0.0)
    dec = step_time(col, StepBatch.decode(d_b, ctx, query_tokens))
    draft_s, draft_f, draft_b = draft_part(d_b)  # type: ignore[operator]
    per_prefill = np.minimum(
        np.maximum(np.floor(budget / isl), 1.0)[None, None, :], bq[:, :, None]
    ).reshape(num_s, nb * nc)
    counts = np.unique(per_prefill)
    pre = step_time(col, StepBatch.prefill(counts[None, :], isl))
    at = np.searchsorted(counts, per_prefill)
    pre_s = np.take_along_axis(pre.total_s, at, 1)
    pre_f = np.take_along_axis(np.broadcast_to(pre.flops, pre.total_s.shape), at, 1)
    pre_b = np.take_along_axis(np.broadcast_to(pre.bytes, pre.total_s.shape), at, 1)

    def grid_of(x: Array | float) -> Array:
        return np.repeat(np.broadcast_to(x, (num_s, nb)), nc, axis=1)

    r3 = grid_of(r_b)
    share = r3 / per_prefill
    iteration = grid_of(np.where(decode_len > 0, dec.total_s + draft_s, 0.0)) + share * pre_s
    single = step_time(col, StepBatch.prefill(1.0, isl)).total_s
    return AggregatedGrid(
        index=np.broadcast_to(np.arange(nb * nc), (num_s, nb * nc)),
        iteration_s=iteration,
        requests_per_iteration=r3,
        flops_per_iteration=grid_of(dec.flops + draft_f) + share * pre_f,
        bytes_per_iteration=grid_of(dec.bytes + draft_b) + share * pre_b,
        ttft_s=0.5 * iteration + single,
    )
