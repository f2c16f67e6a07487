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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.perf.steady import (
    IntArray,
    admitted_prefill,
    bracketed_root,
    chunk_step_batch,
    decode_context_tokens,
    draft_step_work,
    fused_step_batch,
    prefill_chunking,
    prefill_context_tokens,
    prompts_per_prefill_step,
    slot_time_s,
)
from chip2grid.perf.step import Array, RankShape, StepBatch, step_time


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
    input_cv: float = 0.0,
    output_cv: float = 0.0,
) -> AggregatedGrid:
    """Continuous batching of the stacked ``shape`` over every cap x budget (see module notes).

    ``max_seqs`` (length ``S``) caps the batch at what the KV cache holds; ``output_steps``
    counts decode steps as :func:`chip2grid.perf.continuous_batching` does under speculative
    decoding. Draft work counts in the iteration and in the FLOPs and bytes. ``batch_caps``
    (``nb``) and ``budgets`` (``nc``) are an instance's caps, shared by the shapes, or one row
    per shape (``(S, nb)``, ``(S, nc)``: per-scheduler knobs times the attention-DP ranks).
    """
    isl = max(float(input_tokens), 1.0)
    osl = max(float(output_steps), 1.0)
    num_s = len(max_seqs)
    caps, budget = per_shape(batch_caps, num_s), per_shape(budgets, num_s)
    caps = np.maximum(caps, 1.0)
    nb, nc = caps.shape[1], budget.shape[1]
    col = column(shape)
    draft_col = column(draft_shape) if draft_shape is not None else None
    decode_len = osl - 1.0
    ctx = float(decode_context_tokens(isl, osl, output_cv))
    p_ctx = float(prefill_context_tokens(isl, input_cv))
    bq = np.maximum(np.minimum(caps, np.asarray(max_seqs, dtype=float)[:, None]), 1.0)
    r_b = bq / max(decode_len, 1.0)

    def draft_part(d_seqs: Array) -> tuple[Array | float, Array | float, Array | float]:
        return draft_step_work(draft_col, num_draft_steps, d_seqs, ctx)

    if not mixed:
        return _separate(
            col, isl, decode_len, (ctx, p_ctx), bq, r_b, budget, query_tokens, draft_part
        )
    r_c = budget / (isl + decode_len)
    r_tab = np.concatenate([r_b, np.broadcast_to(r_c, (num_s, nc))], axis=1)
    d_tab = np.where(decode_len > 0, r_tab * decode_len, 0.0)
    step = step_time(
        col, fused_step_batch(isl, r_tab * isl, r_tab, d_tab, ctx, query_tokens, p_ctx)
    )
    draft_s, draft_f, draft_b = draft_part(d_tab)
    iteration = step.total_s + draft_s
    batch_limited = r_b[:, :, None] <= r_c[:, None, :]
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
    c3 = np.broadcast_to(np.tile(budget, (1, nb)), r3.shape)
    chunks, chunk_tokens = prefill_chunking(isl, c3, d3, r3)
    # on the table: a batch-limited entry leaves the prompt whole (no budget binds)
    ct_c = prefill_chunking(isl, budget, d_tab[:, nb:], r_c)[1]
    ct_tab = np.concatenate([isl + r_b * isl, ct_c], axis=1)

    def chunk_step(tokens: Array, d_seqs: Array, shp: RankShape) -> Array:
        batch = chunk_step_batch(isl, tokens, d_seqs, ctx, query_tokens, p_ctx)
        return step_time(shp, batch).total_s

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
    contexts: tuple[float, float],
    bq: Array,
    r_b: Array,
    budget: Array,
    query_tokens: float,
    draft_part: object,
) -> AggregatedGrid:
    """Prefill and decode in separate steps: evaluated on the whole grid. ``contexts``: the
    decode batch's and a prefill token's mean context."""
    ctx, p_ctx = contexts
    num_s, nb = bq.shape
    nc = budget.shape[1]
    d_b = np.where(decode_len > 0, r_b * decode_len, 0.0)
    dec = step_time(col, StepBatch.decode(d_b, ctx, query_tokens))
    draft_s, draft_f, draft_b = draft_part(d_b)  # type: ignore[operator]
    per_prefill = prompts_per_prefill_step(isl, budget[:, None, :], bq[:, :, None]).reshape(
        num_s, nb * nc
    )
    counts = np.unique(per_prefill)
    pre = step_time(col, StepBatch.prefill(counts[None, :], isl, context=p_ctx))
    at = np.searchsorted(counts, per_prefill)
    pre_s = np.take_along_axis(pre.total_s, at, 1)
    pre_f = np.take_along_axis(np.broadcast_to(pre.flops, pre.total_s.shape), at, 1)
    pre_b = np.take_along_axis(np.broadcast_to(pre.bytes, pre.total_s.shape), at, 1)

    def grid_of(x: Array | float) -> Array:
        return np.repeat(np.broadcast_to(x, (num_s, nb)), nc, axis=1)

    r3 = grid_of(r_b)
    share = r3 / per_prefill
    iteration = grid_of(np.where(decode_len > 0, dec.total_s + draft_s, 0.0)) + share * pre_s
    single = step_time(col, admitted_prefill(isl, r3, per_prefill, p_ctx)).total_s
    return AggregatedGrid(
        index=np.broadcast_to(np.arange(nb * nc), (num_s, nb * nc)),
        iteration_s=iteration,
        requests_per_iteration=r3,
        flops_per_iteration=grid_of(dec.flops + draft_f) + share * pre_f,
        bytes_per_iteration=grid_of(dec.bytes + draft_b) + share * pre_b,
        ttft_s=0.5 * iteration + single,
    )


def per_shape(values: Array, num_shapes: int) -> Array:
    """Knob values ``(n,)`` shared by every shape, or one row per shape ``(S, n)``, as ``(S, n)``."""
    a = np.asarray(values, dtype=float)
    return np.broadcast_to(a if a.ndim == 2 else a[None, :], (num_shapes, a.shape[-1]))


def expand(shape: RankShape, ndim: int) -> RankShape:
    """A stacked shape (fields of length ``S``) with ``ndim - 1`` trailing axes to broadcast."""
    index = (slice(None),) + (None,) * (ndim - 1)
    return RankShape(
        **{
            f.name: np.asarray(getattr(shape, f.name), dtype=float)[index]
            for f in dataclasses.fields(RankShape)
        }
    )


@dataclass(frozen=True, slots=True)
class CycleAt:
    """One steady-state iteration of continuous batching holding ``num_seqs`` (arrays)."""

    iteration_s: Array
    prefill_latency_s: Array
    flops_per_iteration: Array
    bytes_per_iteration: Array


def cycle_at(
    shape: RankShape,
    input_tokens: float,
    output_steps: float,
    num_seqs: Array,
    budget: Array,
    mixed: bool,
    *,
    query_tokens: float = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: float = 0.0,
    input_cv: float = 0.0,
    output_cv: float = 0.0,
) -> CycleAt:
    """:func:`chip2grid.perf.continuous_batching` at ``num_seqs``, with only the steps it needs.

    The same fluid model (tested to rounding): two step evaluations (three with a draft)
    instead of five, as the planner evaluates it many times per candidate to find the batch a
    request rate sustains.
    """
    isl = max(float(input_tokens), 1.0)
    osl = max(float(output_steps), 1.0)
    b = np.maximum(np.asarray(num_seqs, dtype=float), 1.0)
    budget = np.asarray(budget, dtype=float)
    decode_len = osl - 1.0
    ctx = float(decode_context_tokens(isl, osl, output_cv))
    p_ctx = float(prefill_context_tokens(isl, input_cv))
    r_b = b / max(decode_len, 1.0)
    r = np.minimum(r_b, budget / (isl + decode_len)) if mixed else r_b
    d = r * decode_len if decode_len > 0 else np.zeros_like(r)
    draft_s, draft_f, draft_b = draft_step_work(draft_shape, num_draft_steps, d, ctx)
    if mixed:
        step = step_time(shape, fused_step_batch(isl, r * isl, r, d, ctx, query_tokens, p_ctx))
        chunks, chunk_tokens = prefill_chunking(isl, budget, d, r)
        chunk_step = step_time(
            shape, chunk_step_batch(isl, chunk_tokens, d, ctx, query_tokens, p_ctx)
        )
        return CycleAt(
            iteration_s=step.total_s + draft_s,
            prefill_latency_s=chunks * chunk_step.total_s,
            flops_per_iteration=step.flops + draft_f,
            bytes_per_iteration=step.bytes + draft_b,
        )
    dec = step_time(shape, StepBatch.decode(d, ctx, query_tokens))
    per_prefill = prompts_per_prefill_step(isl, budget, b)
    pre = step_time(shape, StepBatch.prefill(per_prefill, isl, context=p_ctx))
    share = r / per_prefill
    single = step_time(shape, admitted_prefill(isl, r, per_prefill, p_ctx)).total_s
    on = 1.0 if decode_len > 0 else 0.0
    return CycleAt(
        iteration_s=on * (dec.total_s + draft_s) + share * pre.total_s,
        prefill_latency_s=np.broadcast_to(single, np.shape(share)),
        flops_per_iteration=dec.flops + draft_f + share * pre.flops,
        bytes_per_iteration=dec.bytes + draft_b + share * pre.bytes,
    )


@dataclass(frozen=True, slots=True)
class AtRate:
    """Every grid point's steady state at the request rate its replicas get (arrays).

    Grid points sharing a shape, a token budget and a number of replicas share a request rate
    per replica and so the batch that rate sustains: one *key* each. ``key`` (``(S, G)``)
    says which key a grid point takes; ``at_cap`` marks the points whose batch cap binds
    first (they run at the cap: the grid's full-load figures apply). The other arrays have
    one element per key.
    """

    key: IntArray
    at_cap: NDArray[np.bool_]
    shape_index: IntArray
    budget_index: IntArray
    replicas: Array
    rate_per_s: Array
    num_seqs: Array
    """The running batch the rate sustains (at least 1)."""
    cycle: CycleAt
    busy_frac: Array
    """Share of time the replica works: ``min(1, rate x time in system at num_seqs)``."""


def smallest_root(
    h_nodes: Array,
    nodes: Array,
    h: Callable[[IntArray, Array], Array],
    *,
    rel_tol: float = 1e-4,
    max_iter: int = 60,
) -> Array:
    """The smallest ``x`` in ``[nodes[:, 0], nodes[:, -1]]`` with ``h(x) <= 0``, per row.

    ``h_nodes`` holds ``h`` at ``nodes`` (``(K, J)``, increasing along rows). The first node
    where ``h <= 0`` brackets the root with the node before it (``nodes[:, 0]`` when ``h``
    starts at or below 0; ``nodes[:, -1]`` when it never gets there); the bracket is then
    closed by :func:`chip2grid.perf.steady.bracketed_root` (regula falsi, Illinois variant), which
    keeps a sign change in the bracket (so it also ends at a jump of ``h``). ``h(rows, x)`` evaluates rows ``rows`` at ``x``.
    """
    num = nodes.shape[0]
    down = h_nodes <= 0.0
    first = np.argmax(down, axis=1)
    never = ~down[np.arange(num), first]
    result = np.where(never, nodes[:, -1], nodes[np.arange(num), first])
    inner = np.flatnonzero(~never & (first > 0))
    result[inner] = bracketed_root(
        lambda rows, x: h(inner[rows], x),
        nodes[inner, first[inner] - 1],
        nodes[inner, first[inner]],
        h_nodes[inner, first[inner] - 1],
        h_nodes[inner, first[inner]],
        rel_tol=rel_tol,
        max_iter=max_iter,
    )
    return result


def aggregated_at_rate(
    shape: RankShape,
    input_tokens: float,
    output_steps: float,
    grid: AggregatedGrid,
    replicas: Array,
    demand_requests_per_s: float,
    max_seqs: Array,
    batch_caps: Array,
    budgets: Array,
    mixed: bool,
    *,
    query_tokens: float = 1.0,
    draft_shape: RankShape | None = None,
    num_draft_steps: float = 0.0,
    num_nodes: int = 16,
    input_cv: float = 0.0,
    output_cv: float = 0.0,
) -> AtRate:
    """The running batch each grid point sustains at ``demand / replicas`` requests per second.

    ``replicas`` is a table quantity of ``grid`` (``(S, T)``). As in
    :func:`chip2grid.perf.estimate` in ``request_rate`` mode the batch ``B`` is the fixed point
    ``B = rate x ((steps - 1) t_iter(B) + t_prefill(B))`` (Little's law over the time a request
    spends in the engine), at least 1 and at most the batch cap: the smallest root, found on a
    geometric scan of ``num_nodes`` batches per shape and budget and closed by regula falsi
    (:func:`smallest_root`) once per key (see :class:`AtRate`).
    """
    isl = max(float(input_tokens), 1.0)
    osl = max(float(output_steps), 1.0)
    kv = np.asarray(max_seqs, dtype=float)
    num_s = kv.size
    caps = np.maximum(per_shape(batch_caps, num_s), 1.0)
    budgets = per_shape(budgets, num_s)
    nb, nc = caps.shape[1], budgets.shape[1]
    kw = dict(
        query_tokens=query_tokens,
        num_draft_steps=num_draft_steps,
        input_cv=input_cv,
        output_cv=output_cv,
    )
    # keys: (shape, replicas) pairs on the table, crossed with the budgets
    reps = np.broadcast_to(np.asarray(replicas, dtype=np.int64), grid.iteration_s.shape)
    span = int(reps.max()) + 1
    codes, pair_of = np.unique(np.arange(num_s)[:, None] * span + reps, return_inverse=True)
    pair_pt = grid.gather(pair_of.reshape(reps.shape).astype(float)).astype(np.int64)
    raw = pair_pt * nc + np.tile(np.arange(nc), nb)[None, :]
    used = np.zeros(codes.size * nc, dtype=bool)
    used[raw] = True
    ids = np.cumsum(used) - 1
    key = ids[raw]
    raw_k = np.flatnonzero(used)
    code_k = codes[raw_k // nc]
    s_k, j_k = code_k // span, raw_k % nc
    reps_k = (code_k % span).astype(float)
    rate_k = demand_requests_per_s / reps_k
    # scan: time in system at geometric batches from 1 to the largest batch of each shape
    top = np.maximum(np.minimum(caps.max(axis=1), kv), 1.0)
    nodes = np.broadcast_to(
        top[:, None, None] ** np.linspace(0.0, 1.0, num_nodes)[None, None, :],
        (num_s, nc, num_nodes),
    )
    if mixed:  # a node where the budget starts to bind (a kink of the cycle time)
        kink = budgets * max(osl - 1.0, 1.0) / (isl + osl - 1.0)
        kink = np.clip(kink, 1.0, top[:, None])[:, :, None]
        nodes = np.sort(np.concatenate([nodes, kink], axis=2), axis=2)
    scan = cycle_at(
        expand(shape, 3),
        isl,
        osl,
        nodes,
        budgets[:, :, None],
        mixed,
        draft_shape=expand(draft_shape, 3) if draft_shape is not None else None,
        **kw,
    )
    in_system = slot_time_s(scan, osl)
    nodes_k = nodes[s_k, j_k]
    h_nodes = rate_k[:, None] * in_system[s_k, j_k] - nodes_k

    def at(which: IntArray, b: Array) -> CycleAt:
        return cycle_at(
            rows(shape, s_k[which]),
            isl,
            osl,
            b,
            budgets[s_k[which], j_k[which]],
            mixed,
            draft_shape=rows(draft_shape, s_k[which]) if draft_shape is not None else None,
            **kw,
        )

    def h(which: IntArray, b: Array) -> Array:
        out: Array = rate_k[which] * slot_time_s(at(which, b), osl) - b
        return out

    b_k = smallest_root(h_nodes, nodes_k, h)
    cyc = at(np.arange(b_k.size), b_k)
    busy = np.minimum(1.0, rate_k * slot_time_s(cyc, osl))
    full_b = np.repeat(np.maximum(np.minimum(caps, kv[:, None]), 1.0), nc, axis=1)
    return AtRate(
        key=key,
        at_cap=b_k[key] >= full_b,
        shape_index=s_k,
        budget_index=j_k,
        replicas=reps_k,
        rate_per_s=rate_k,
        num_seqs=b_k,
        cycle=cyc,
        busy_frac=busy,
    )
