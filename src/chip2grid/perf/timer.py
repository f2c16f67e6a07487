"""Step times of one instance, fast enough to call once per simulated event.

:func:`~chip2grid.perf.step_time` evaluates the per-operator roofline for any batch; a serving
simulator calls it tens of thousands of times with plain numbers, where the bookkeeping of a
general function costs more than the arithmetic. :class:`StepTimer` splits the same step time
into parts that each depend on one integer and tabulates them once, exactly:

.. math::  t = X(x) + H(\\ell) + O(s) + L \\, (A_p(\\ldots) + A_d(\\ldots))

with ``x`` the tokens of the step (prefill tokens plus decode positions), ``X`` every
weight-streaming operator, norm and collective (functions of ``x`` only), ``H`` the output
projection over ``l`` sequences that emit logits, ``O`` the fixed overheads over ``s``
sequences, and the two attention terms of ``L`` layers evaluated directly (they depend on the
contexts). With pipeline parallelism the micro-batch count couples the parts, so the timer
falls back to :func:`step_time`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from chip2grid.perf.step import (
    RankShape,
    StepBatch,
    _ArrayMath,
    _ScalarMath,
    attention_decode_layer,
    attention_prefill_layer,
    step_time,
)

TOKEN_OPERATORS = (
    "qkv_o_proj",
    "mlp",
    "moe_experts",
    "elementwise",
    "tp_allreduce",
    "ep_alltoall",
    "pp_send",
)
"""Operators whose time depends only on the number of tokens in the step."""


class StepTimer:
    """Exact step times of ``shape`` (a shape of plain floats), tabulated up to ``max_tokens``.

    Agrees with :func:`step_time` to rounding (tested); steps beyond the tables, fractional
    token counts and pipeline-parallel shapes go through :func:`step_time` itself.
    """

    def __init__(self, shape: RankShape, *, max_tokens: int, max_seqs: int) -> None:
        self.shape = shape
        self._direct = float(shape.pp) != 1.0
        self._layers = float(shape.num_layers)
        self._adp = float(shape.attention_dp)
        self._overhead0 = float(shape.step_overhead_s) + float(shape.per_layer_overhead_s) * float(
            shape.num_layers
        )
        self._overhead_seq = float(shape.per_sequence_overhead_s)
        self._max_x = max_tokens
        self._max_l = max_seqs + max_tokens
        if self._direct:
            self._x: list[float] = []
            self._h: list[float] = []
            return
        x = np.arange(max_tokens + 1, dtype=float)
        ops = step_time(shape, StepBatch(prefill_tokens=x)).operators
        self._x = np.sum([ops[name] for name in TOKEN_OPERATORS], axis=0).tolist()
        ell = np.arange(self._max_l + 1, dtype=float)
        self._h = step_time(shape, StepBatch.decode(ell, 0.0)).operators["lm_head"].tolist()

    def total_s(
        self,
        prefill_tokens: float,
        prefill_seqs: float,
        prefill_context: float,
        decode_seqs: float,
        decode_context: float,
        decode_query_tokens: float = 1.0,
    ) -> float:
        """Time of one step (arguments as :class:`StepBatch`, plain numbers)."""
        x = prefill_tokens + decode_seqs * decode_query_tokens
        ell = decode_seqs * decode_query_tokens + prefill_seqs
        xi, li = int(x), int(ell)
        if self._direct or xi != x or li != ell or xi > self._max_x or li > self._max_l:
            return float(
                step_time(
                    self.shape,
                    StepBatch(
                        prefill_tokens=float(prefill_tokens),
                        prefill_seqs=float(prefill_seqs),
                        prefill_context=float(prefill_context),
                        decode_seqs=float(decode_seqs),
                        decode_context=float(decode_context),
                        decode_query_tokens=float(decode_query_tokens),
                    ),
                ).total_s
            )
        attn = 0.0
        if prefill_tokens:
            attn += attention_prefill_layer(
                self.shape,
                float(prefill_tokens),
                float(prefill_seqs),
                float(prefill_context),
                self._adp,
                _ScalarMath,
            )[0]
        if decode_seqs:
            attn += attention_decode_layer(
                self.shape,
                float(decode_seqs),
                float(decode_query_tokens),
                float(decode_context),
                self._adp,
                _ScalarMath,
            )[0]
        return (
            self._x[xi]
            + self._h[li]
            + self._overhead0
            + self._overhead_seq * (prefill_seqs + decode_seqs)
            + self._layers * attn
        )

    def decode_step_s(self, decode_seqs: int, decode_context: float) -> float:
        """Time of one decode-only step (plain numbers; the common case in a simulator)."""
        if self._direct or decode_seqs > self._max_x:
            return self.total_s(0.0, 0.0, 0.0, float(decode_seqs), decode_context)
        return (
            self._x[decode_seqs]
            + self._h[decode_seqs]
            + self._overhead0
            + self._overhead_seq * decode_seqs
            + self._layers
            * attention_decode_layer(
                self.shape, float(decode_seqs), 1.0, decode_context, self._adp, _ScalarMath
            )[0]
        )

    def decode_run_s(
        self, decode_seqs: int, context_start: float, num_steps: int
    ) -> NDArray[np.float64]:
        """Times of ``num_steps`` decode-only steps whose mean context starts at
        ``context_start`` and grows by one token a step."""
        if self._direct or decode_seqs > self._max_x:
            ctx = context_start + np.arange(num_steps, dtype=float)
            return np.asarray(
                step_time(
                    self.shape, StepBatch.decode(np.full(num_steps, float(decode_seqs)), ctx)
                ).total_s,
                dtype=float,
            )
        fixed = (
            self._x[decode_seqs]
            + self._h[decode_seqs]
            + self._overhead0
            + self._overhead_seq * decode_seqs
        )
        b = float(decode_seqs)
        ctx = context_start + np.arange(num_steps, dtype=float)
        attn = attention_decode_layer(self.shape, b, 1.0, ctx, self._adp, _ArrayMath)[0]
        return fixed + self._layers * np.asarray(attn, dtype=float)
