"""Step times of one instance, fast enough to call once per simulated event.

:func:`~chip2grid.perf.step_time` evaluates the per-operator roofline for any batch; a serving
simulator calls it tens of thousands of times with plain numbers, where the bookkeeping of a
general function costs more than the arithmetic. :class:`StepTimer` splits the same step time
into parts that each depend on one integer and tabulates them once, exactly:

.. math::  t = O(s) + \\max(G, K), \\quad G = X(x) + H(\\ell) + L \\, (A_p(\\ldots) + A_d(\\ldots))

with ``x`` the tokens of the step (prefill tokens plus decode positions), ``X`` every
weight-streaming operator, norm and collective (functions of ``x`` only), ``H`` the output
projection over ``l`` sequences that emit logits, ``O`` the serial host overheads over ``s``
sequences, the two attention terms of ``L`` layers evaluated directly (they depend on the
contexts), and ``K`` the host's kernel launches, hidden behind the device time ``G`` unless
longer. With pipeline parallelism the micro-batch count couples the parts, so the timer
falls back to :func:`step_time`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from chip2grid.perf.step import (
    ACTIVATION_BYTES,
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
SCALAR_RUN_STEPS = 64
"""Steps of a decode run cut by a time limit evaluated one at a time before the array."""


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
        self._overhead0 = float(shape.step_overhead_s)
        self._launch = float(shape.per_layer_overhead_s) * float(shape.num_layers)
        self._overhead_seq = float(shape.per_sequence_host_s)
        self._max_x = max_tokens
        self._max_l = max_seqs + max_tokens
        self._window = float(shape.window)
        self._sliding = float(shape.sliding_frac)
        self._decode_coeff: dict[int, tuple[float, float, float, float]] = {}
        self._floor: dict[int, float] = {}
        self._prefill_coeff = None if self._direct else self._prefill_coefficients()
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
            if self._prefill_coeff is not None:  # no sliding window: linear in the contexts
                a_f, a_kv, a_x = self._prefill_coeff
                p_new = prefill_tokens / prefill_seqs if prefill_seqs > 0 else 0.0
                kv_tokens = prefill_seqs * max(prefill_context + 0.5 * p_new - 0.5, 0.0)
                tc = a_f * prefill_tokens * prefill_context
                tm = a_kv * kv_tokens + a_x * prefill_tokens
                attn += tc if tc >= tm else tm
            else:
                attn += attention_prefill_layer(
                    self.shape,
                    float(prefill_tokens),
                    float(prefill_seqs),
                    float(prefill_context),
                    self._adp,
                    _ScalarMath,
                )[0]
        if decode_seqs:
            b = int(decode_seqs)
            coeff = self._decode_coeff.get(b)
            if coeff is None and b == decode_seqs and decode_query_tokens == 1.0:
                coeff = self._decode_coefficients(b)
            if coeff is not None and decode_query_tokens == 1.0:
                _, c_slope, m0, m_slope = coeff
                e = self._effective_context(decode_context)
                tc, tm = c_slope * e, m0 + m_slope * e
                attn += tc if tc >= tm else tm
            else:
                attn += attention_decode_layer(
                    self.shape,
                    float(decode_seqs),
                    float(decode_query_tokens),
                    float(decode_context),
                    self._adp,
                    _ScalarMath,
                )[0]
        device = self._x[xi] + self._h[li] + self._layers * attn
        return (
            self._overhead0
            + self._overhead_seq * (prefill_seqs + decode_seqs)
            + (device if device >= self._launch else self._launch)
        )

    def mixed_step_s(
        self,
        prefill_tokens: int,
        prefill_seqs: int,
        prefill_context: float,
        decode_seqs: int,
        decode_context: float,
    ) -> float:
        """:meth:`total_s` of a step of prompt chunks and one-token decodes, for integer
        counts: the same arithmetic with fewer checks (a simulator calls it once per prefill
        step)."""
        xi = prefill_tokens + decode_seqs
        li = decode_seqs + prefill_seqs
        pc = self._prefill_coeff
        coeff = self._decode_coeff.get(decode_seqs) if decode_seqs else None
        if (
            pc is None
            or xi > self._max_x
            or li > self._max_l
            or (decode_seqs and coeff is None)
            or prefill_seqs < 1
        ):
            return self.total_s(
                float(prefill_tokens),
                float(prefill_seqs),
                prefill_context,
                float(decode_seqs),
                decode_context,
            )
        attn = 0.0
        if prefill_tokens:
            a_f, a_kv, a_x = pc
            p_new = prefill_tokens / prefill_seqs
            kv_tokens = prefill_seqs * max(prefill_context + 0.5 * p_new - 0.5, 0.0)
            tc = a_f * prefill_tokens * prefill_context
            tm = a_kv * kv_tokens + a_x * prefill_tokens
            attn += tc if tc >= tm else tm
        if coeff is not None:
            _, c_slope, m0, m_slope = coeff
            e = decode_context
            if self._window > 0.0:
                e = (1.0 - self._sliding) * e + self._sliding * min(e, self._window)
            tc, tm = c_slope * e, m0 + m_slope * e
            attn += tc if tc >= tm else tm
        device = self._x[xi] + self._h[li] + self._layers * attn
        return (
            self._overhead0
            + self._overhead_seq * float(prefill_seqs + decode_seqs)
            + (device if device >= self._launch else self._launch)
        )

    def decode_step_s(self, decode_seqs: int, decode_context: float) -> float:
        """Time of one decode-only step (plain numbers; the common case in a simulator).

        For a batch of ``b`` sequences the attention FLOPs and bytes are linear in the
        effective context, so the step is ``fixed(b) + max(L max(c e, m_0 + m e), K(b))`` with
        the coefficients taken once per ``b`` from :func:`attention_decode_layer`, and ``K(b)``
        the kernel launches less the rest of the device time (below ``L m_0``: always hidden).
        """
        coeff = self._decode_coeff.get(decode_seqs)
        if coeff is None:
            if self._direct or decode_seqs > self._max_x:
                return self.total_s(0.0, 0.0, 0.0, float(decode_seqs), decode_context)
            coeff = self._decode_coefficients(decode_seqs)
        fixed, c_slope, m0, m_slope = coeff
        e = self._effective_context(decode_context)
        tc, tm = c_slope * e, m0 + m_slope * e
        attn = self._layers * (tc if tc >= tm else tm)
        floor = self._floor[decode_seqs]
        return fixed + (attn if attn >= floor else floor)

    def decode_coefficients(self, decode_seqs: int) -> tuple[float, float, float, float] | None:
        """``(fixed, c, m_0, m)`` of :meth:`decode_step_s` for ``decode_seqs`` sequences, or
        None where it goes through :func:`step_time` instead or where the host's kernel
        launches can outlast the device's work (then ask :meth:`decode_step_s`).

        A caller that inlines the step time computes, with ``e`` from
        :attr:`sliding_window`: ``fixed + num_layers * max(c e, m_0 + m e)``."""
        coeff = self._decode_coeff.get(decode_seqs)
        if coeff is None:
            if self._direct or decode_seqs > self._max_x:
                return None
            coeff = self._decode_coefficients(decode_seqs)
        if self._floor[decode_seqs] > self._layers * coeff[2]:
            return None
        return coeff

    def launch_bound_s(self, seqs: float) -> float:
        """The step time of ``seqs`` sequences where the host's kernel launches outlast the
        device's work (a step never takes less)."""
        return self._overhead0 + self._overhead_seq * seqs + self._launch

    @property
    def tabulated(self) -> bool:
        """Whether steps come from the tables (scalar-fast); False with pipeline parallelism,
        where every step goes through :func:`step_time` and whole decode runs should be
        evaluated as arrays."""
        return not self._direct

    @property
    def num_layers(self) -> float:
        """Layers ``L`` of the attention term."""
        return self._layers

    @property
    def sliding_window(self) -> tuple[float, float]:
        """``(window, frac)``: the effective context of a mean context ``c`` is ``c`` when
        ``window`` is 0, else ``(1 - frac) c + frac min(c, window)``."""
        return self._window, self._sliding

    def _effective_context(self, ctx: float) -> float:
        if self._window > 0.0:
            return (1.0 - self._sliding) * ctx + self._sliding * min(ctx, self._window)
        return ctx

    def _prefill_coefficients(self) -> tuple[float, float, float] | None:
        """Prefill attention is ``max(a_f x c, a_kv kv + a_x x)`` without sliding windows:
        FLOPs grow with tokens x context, bytes with the KV tokens read and the tokens."""
        if self._window > 0.0:
            return None
        s = self.shape

        def probe(ctx: float) -> tuple[float, float]:
            _, _, _, f, b = attention_prefill_layer(s, 1.0, 1.0, ctx, self._adp, _ScalarMath)
            return float(f), float(b)

        compute = float(s.peak_attn_flops_per_s) * float(s.attention_compute_eff)
        memory = float(s.memory_bandwidth_bytes_per_s) * float(s.memory_eff)
        f1, b_half = probe(0.5)  # one token attending to 0.5 -> kv tokens 0.5
        _, b_one = probe(1.5)  # kv tokens 1.5
        a_kv = (b_one - b_half) / memory
        return (f1 / 0.5 / compute, a_kv, b_half / memory - 0.5 * a_kv)

    def _decode_coefficients(self, b: int) -> tuple[float, float, float, float]:
        s = self.shape
        bf = float(b)
        _, _, _, f0, b0 = attention_decode_layer(s, bf, 1.0, 0.0, self._adp, _ScalarMath)
        _, _, _, f1, b1 = attention_decode_layer(s, bf, 1.0, 1.0, self._adp, _ScalarMath)
        compute = float(s.peak_attn_flops_per_s) * float(s.attention_compute_eff)
        memory = float(s.memory_bandwidth_bytes_per_s) * float(s.memory_eff)
        device = self._x[b] + self._h[b]
        fixed = device + self._overhead0 + self._overhead_seq * bf
        coeff = (fixed, (f1 - f0) / compute, b0 / memory, (b1 - b0) / memory)
        self._decode_coeff[b] = coeff
        self._floor[b] = self._launch - device
        return coeff

    def _decode_fixed(self, b: int) -> tuple[float, float]:
        """``fixed(b)`` of a decode step of ``b`` sequences and the floor its kernel launches
        put under the attention time (tabulated with the coefficients, once per ``b``)."""
        coeff = self._decode_coeff.get(b)
        if coeff is None:
            coeff = self._decode_coefficients(b)
        return coeff[0], self._floor[b]

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
        fixed, floor = self._decode_fixed(decode_seqs)
        b = float(decode_seqs)
        ctx = context_start + np.arange(num_steps, dtype=float)
        attn = attention_decode_layer(self.shape, b, 1.0, ctx, self._adp, _ArrayMath)[0]
        return fixed + np.maximum(self._layers * np.asarray(attn, dtype=float), floor)

    def decode_run_until(
        self, decode_seqs: int, context_start: float, num_steps: int, limit_s: float
    ) -> tuple[int, float]:
        """The steps of :meth:`decode_run_s` up to the first whose end reaches ``limit_s``
        (at most ``num_steps``): how many, and their total time.

        A run that a limit cuts within :data:`SCALAR_RUN_STEPS` steps is evaluated one step
        at a time with the arithmetic of the array evaluation, element by element (the same
        IEEE operations in the same order, hence the same numbers; tested), and summed in the
        same order as ``numpy.cumsum``.
        """
        if limit_s < math.inf and not (self._direct or decode_seqs > self._max_x):
            s = self.shape
            b = float(decode_seqs)
            adp = self._adp
            window, sliding = float(s.window), float(s.sliding_frac)
            keep = 1.0 - sliding
            pair = float(s.attn_pair_flops_decode)
            kvb = float(s.kv_bytes_per_token_layer)
            act = 2.0 * b * 1.0 * float(s.attn_params) / float(s.hidden) * ACTIVATION_BYTES
            compute = float(s.peak_attn_flops_per_s) * float(s.attention_compute_eff)
            memory = float(s.memory_bandwidth_bytes_per_s) * float(s.memory_eff)
            fixed, floor = self._decode_fixed(decode_seqs)
            layers = self._layers
            elapsed = 0.0
            for i in range(min(num_steps, SCALAR_RUN_STEPS)):
                ctx = context_start + i
                e = keep * ctx + sliding * min(ctx, window) if window > 0.0 else ctx
                t_c = b * 1.0 * e * pair / adp / compute
                t_m = (b * e * kvb + act) / adp / memory
                attn = layers * (t_c if t_c >= t_m else t_m)
                elapsed += fixed + (attn if attn >= floor else floor)
                if elapsed >= limit_s:
                    return i + 1, elapsed
            if num_steps <= SCALAR_RUN_STEPS:
                return num_steps, elapsed
        cum = np.cumsum(self.decode_run_s(decode_seqs, context_start, num_steps))
        if limit_s < math.inf:
            num_steps = max(1, min(num_steps, int(np.searchsorted(cum, limit_s, side="left")) + 1))
        return num_steps, float(cum[num_steps - 1])
