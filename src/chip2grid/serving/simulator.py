"""A discrete-event simulator of one engine instance (continuous or static batching).

State lives in one object per run; time advances from event to event (arrival, completion,
prefill chunk, KV blocks running out). Between two events the running batch only decodes, so
the loop advances the whole run of decode steps at once (one vectorized evaluation, or a few
scalar ones) instead of one Python iteration per step. ``step_by_step=True`` runs the same
policy one step at a time; tests check that both agree.

Policy, with vLLM's knob names:

- first-come first-served admission while ``max_num_seqs`` allows and the paged KV cache
  (``num_gpu_blocks`` blocks of ``block_size`` tokens) has room for the prompt;
- ``batching="static"`` (request-level scheduling, as in FasterTransformer or TensorRT-LLM's
  static batching): an idle engine forms a batch of up to ``max_num_seqs`` queued requests,
  first come first served, and runs it until its last request finishes. It does not wait
  for a full batch: it takes what is queued, after waiting at most
  ``static_batch_timeout_s`` from the oldest queued arrival for more (0 by default). The
  batch is prefilled as the prefill policy says (one step of whole prompts within
  ``max_num_batched_tokens``, or chunks, whose finished prompts then decode in the same
  steps), then decodes together; a request that finishes leaves an idle slot (its KV
  blocks are freed) that nobody takes, and arrivals wait for the next batch. Each
  request's whole KV (prompt + output) is reserved at admission (``kv_reservation="full"``
  is required), so a batch is cut where the cache is full;
- ``kv_reservation="on_demand"`` (vLLM): a running sequence takes a new block whenever its
  tokens fill the last one; when no block is free the most recently admitted request is
  preempted and later recomputed (its prompt plus the tokens it had generated are prefilled
  again). ``"full"`` (TensorRT-LLM GUARANTEED_NO_EVICT): the blocks of the whole request are
  reserved at admission and nothing is ever preempted;
- ``enable_chunked_prefill``: each step carries every running decode plus prompt chunks within
  ``max_num_batched_tokens``; without it a step is either a prefill of whole prompts within
  that budget (a longer prompt runs alone) or a decode step, prefills first;
- a request that could not fit in the KV cache even alone is rejected, with the reason;
- ``enable_prefix_caching`` (vLLM's automatic prefix caching, off by default): prompt blocks
  named by the trace's hashes (``RequestTrace.prefix_hashes``, one per ``block_tokens``
  tokens) are shared between requests; a request skips the prefill of its longest cached
  run of leading blocks (attention still reads them), and blocks no request uses stay cached
  until evicted least recently used (:mod:`chip2grid.serving.prefix_cache`);
- ``preemption_mode="swap"``: a preempted decoding request's KV blocks are copied to host
  memory (up to ``swap_space_bytes``) and back before new requests are admitted; the engine
  waits for each copy over the host link;
- ``speculative``: every decode step drafts ``k`` tokens per sequence and verifies ``k + 1``
  positions; a sequence emits one token plus its accepted drafts, drawn per sequence and step
  from the acceptance model of :mod:`chip2grid.perf.speculative` (independent positions of
  acceptance rate ``a``: ``P(j or more accepted) = a^j``). A sequence's draws are made when
  it joins the decoding batch, one per verification step it will need
  (:class:`AcceptanceDraws`), so its finishing step is known then, as without speculation,
  and the batch's accepted drafts per step add up in one array: decode runs jump between
  events here too. Draws come from one seeded stream in the order sequences join, which is
  the same with and without ``step_by_step``, so both give the same tokens and steps.
"""

from __future__ import annotations

import array
import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.perf.speculative import SpeculativeDecoding
from chip2grid.perf.step import attention_decode_layer
from chip2grid.perf.timer import StepTimer
from chip2grid.serving.prefix_cache import PrefixCache
from chip2grid.serving.workload import MOONCAKE_BLOCK_TOKENS, RequestTrace
from chip2grid.units import GIB

MAX_JUMP_STEPS = 4096
"""Longest run of decode steps evaluated at once."""
SCALAR_JUMP_STEPS = 16
"""Runs up to this many steps are evaluated one step at a time (cheaper than numpy)."""
KV_RESERVATIONS = ("on_demand", "full")
BATCHING_MODES = ("continuous", "static")
PREEMPTION_MODES = ("recompute", "swap")
SWAP_SPACE_BYTES = 4 * GIB
"""vLLM's default CPU swap space per GPU (``--swap-space 4``, GiB)."""
PCIE5_X16_BYTES_PER_S = 64e9
"""Host link of one accelerator when the catalog gives none: PCIe 5.0 x16, 32 GT/s x 16 lanes
with 128b/130b encoding = 63 GB/s per direction (PCI-SIG PCIe 5.0 base specification); the
H100 datasheet gives "PCIe Gen5: 128 GB/s" (both directions). A theoretical peak: measured
host-to-device copies reach about 50-55 GB/s, so swap times are a lower bound."""
WATERMARK_FRAC = 0.01
"""Share of KV blocks kept free at admission in on-demand mode (vLLM's default watermark)."""
ACCEPTANCE_DRAW_BLOCK = 65_536
"""Uniform numbers drawn at a time for speculative decoding's acceptance draws."""
LOG_FIELDS = 9
"""Numbers in one timeline row (the fields of :class:`Timeline`)."""
_INACTIVE = -1e18


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Scheduling limits of one engine instance (vLLM's names)."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    block_size: int = 16
    num_gpu_blocks: int = 65_536
    enable_chunked_prefill: bool = True
    kv_reservation: str = "on_demand"
    enable_prefix_caching: bool = False
    preemption_mode: str = "recompute"
    swap_space_bytes: float = SWAP_SPACE_BYTES
    kv_bytes_per_token: float = 0.0
    """KV-cache bytes of one token on one accelerator (what a swap moves over its link)."""
    swap_bandwidth_bytes_per_s: float = PCIE5_X16_BYTES_PER_S
    """Host link bandwidth of one accelerator, per direction."""
    batching: str = "continuous"
    """``continuous`` (iteration-level: requests join and leave the running batch at every
    step) or ``static`` (a batch of up to ``max_num_seqs`` runs until its last request ends)."""
    static_batch_timeout_s: float = 0.0
    """Static batching: how long after the oldest queued arrival an idle engine waits for more
    requests before it starts a batch that is not full (0: it takes what is queued)."""
    speculative: SpeculativeDecoding | None = None
    """Speculative decoding: each decode step drafts ``k`` tokens per sequence, verifies
    ``k + 1`` positions, and emits 1 + the accepted drafts (random, drawn with ``seed``)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "max_num_batched_tokens", "block_size", "num_gpu_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(name, value, "an integer >= 1")
        if self.kv_reservation not in KV_RESERVATIONS:
            raise InvalidParameterError(
                "kv_reservation", self.kv_reservation, " or ".join(KV_RESERVATIONS)
            )
        if self.preemption_mode not in PREEMPTION_MODES:
            raise InvalidParameterError(
                "preemption_mode", self.preemption_mode, " or ".join(PREEMPTION_MODES)
            )
        if self.batching not in BATCHING_MODES:
            raise InvalidParameterError("batching", self.batching, " or ".join(BATCHING_MODES))
        if not 0.0 <= self.static_batch_timeout_s < math.inf:
            raise InvalidParameterError(
                "static_batch_timeout_s", self.static_batch_timeout_s, "seconds >= 0"
            )
        if self.batching == "static" and self.kv_reservation != "full":
            raise InvalidParameterError(
                "kv_reservation",
                self.kv_reservation,
                "full with static batching (a batch reserves its whole KV cache at admission)",
            )
        if not self.swap_space_bytes >= 0:
            raise InvalidParameterError("swap_space_bytes", self.swap_space_bytes, "bytes >= 0")
        if not self.kv_bytes_per_token >= 0:
            raise InvalidParameterError("kv_bytes_per_token", self.kv_bytes_per_token, ">= 0")
        if not self.swap_bandwidth_bytes_per_s > 0:
            raise InvalidParameterError(
                "swap_bandwidth_bytes_per_s", self.swap_bandwidth_bytes_per_s, "bytes/s > 0"
            )

    @property
    def kv_cache_tokens(self) -> int:
        """Tokens the KV cache holds."""
        return self.num_gpu_blocks * self.block_size


@dataclass(frozen=True, slots=True)
class Timeline:
    """One row per simulated segment: a prefill step or a run of decode steps."""

    start_s: NDArray[np.float64]
    duration_s: NDArray[np.float64]
    num_steps: NDArray[np.int64]
    prefill_tokens: NDArray[np.float64]
    prefill_seqs: NDArray[np.float64]
    prefill_context: NDArray[np.float64]
    decode_seqs: NDArray[np.float64]
    decode_context: NDArray[np.float64]
    kv_tokens: NDArray[np.float64]


class RequestLatencies:
    """TTFT, TPOT and end-to-end latency per request, from the times a result records
    (``arrival_s``, ``first_token_s``, ``finish_s``, ``output_tokens``)."""

    __slots__ = ()
    arrival_s: NDArray[np.float64]
    first_token_s: NDArray[np.float64]
    finish_s: NDArray[np.float64]
    output_tokens: NDArray[np.int64]

    @property
    def ttft_s(self) -> NDArray[np.float64]:
        """Time to first token of every request."""
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> NDArray[np.float64]:
        """Mean time per output token after the first (NaN for one-token outputs)."""
        gaps = np.maximum(self.output_tokens - 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gaps > 0, (self.finish_s - self.first_token_s) / gaps, np.nan)

    @property
    def e2e_latency_s(self) -> NDArray[np.float64]:
        """Arrival to last token."""
        return self.finish_s - self.arrival_s


@dataclass(frozen=True, slots=True)
class SimulationResult(RequestLatencies):
    """Per-request times (s; NaN for rejected requests), counts and the engine timeline."""

    arrival_s: NDArray[np.float64]
    scheduled_s: NDArray[np.float64]
    first_token_s: NDArray[np.float64]
    finish_s: NDArray[np.float64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    rejected: NDArray[np.bool_]
    num_preemptions: NDArray[np.int64]
    num_steps: int
    busy_s: float
    kv_cache_peak_frac: float
    timeline: Timeline
    reject_reasons: dict[int, str] = field(default_factory=dict)
    cached_tokens: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Prompt tokens found in the prefix cache at each request's first admission."""
    num_evicted_blocks: int = 0
    """Prefix-cache blocks (of the trace's hash block size) evicted to make room."""
    num_swaps: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Times each request was preempted by swapping out (also counted in num_preemptions)."""
    swap_transfer_s: float = 0.0
    """Time the engine spent copying KV blocks to and from host memory (in busy_s)."""
    speculative_tokens_per_step: float = 1.0
    """Tokens a decoding sequence emitted per decode step (1 without speculative decoding)."""

    @property
    def num_requests(self) -> int:
        """Requests in the trace, rejected ones included."""
        return len(self.arrival_s)

    @property
    def prefix_cache_hit_frac(self) -> float:
        """Prompt tokens served from the prefix cache over all prompt tokens (done requests)."""
        done = ~self.rejected
        total = int(self.input_tokens[done].sum())
        if not total or not len(self.cached_tokens):
            return 0.0
        return int(self.cached_tokens[done].sum()) / total

    @property
    def queue_wait_s(self) -> NDArray[np.float64]:
        """Arrival to first scheduled."""
        return self.scheduled_s - self.arrival_s

    @property
    def duration_s(self) -> float:
        """First arrival to last completion."""
        done = ~self.rejected
        return float(np.max(self.finish_s[done]) - np.min(self.arrival_s)) if done.any() else 0.0

    @property
    def output_tokens_per_s(self) -> float:
        """Generated tokens per second over the run."""
        d = self.duration_s
        return float(self.output_tokens[~self.rejected].sum()) / d if d else 0.0


Schedule = tuple[NDArray[np.int64], NDArray[np.int64], int, int, int]
"""Verification steps of one decoding sequence: ``(cum, drafts, start, steps, over)``: its
steps are the draws ``start .. start + steps - 1`` (``drafts[i]``: drafts accepted at draw
``i``; ``cum[i]``: tokens of the draws before it), the last one cut by ``over`` tokens at the
sequence's length."""


class AcceptanceDraws:
    """Tokens emitted per verification step, drawn in advance from one seeded stream.

    A step emits ``1 + x`` tokens, ``x`` the drafts accepted before the first rejection, at
    most ``k``: ``P(x >= j) = a^j``. With ``u`` uniform in [0, 1), ``x`` is the number of
    ``j <= k`` with ``a^j > u`` (exact comparisons, no logarithms). Uniforms are drawn in
    blocks of :data:`ACCEPTANCE_DRAW_BLOCK` and steps handed out in order.
    """

    def __init__(self, rng: np.random.Generator, acceptance_rate: float, num_draft: int) -> None:
        self.rng = rng
        self.num_draft = num_draft
        a = acceptance_rate
        self.thresholds = np.array([a**j for j in range(num_draft, 0, -1)])  # ascending
        self.cum = np.zeros(1, np.int64)
        self.drafts = np.zeros(0, np.int64)
        self.pos = 0
        self.base = 0  # cum[pos]
        self.size = 0  # draws in cum

    def schedule(self, tokens: int) -> Schedule:
        """The steps one sequence needs to emit ``tokens`` more tokens (taken from the stream)."""
        if self.size - self.pos < tokens:  # every step emits a token: enough draws
            self.refill(tokens)
        cum, pos = self.cum, self.pos
        target = self.base + tokens
        end = int(cum.searchsorted(target))  # the first step whose end reaches the target
        reached = int(cum[end])
        self.pos, self.base = end, reached
        return cum, self.drafts, pos, end - pos, reached - target

    def refill(self, tokens: int) -> None:
        """Keep the draws not handed out yet and add whole blocks: ``tokens`` draws at least."""
        left = self.drafts[self.pos :]
        blocks = -(-(tokens - len(left)) // ACCEPTANCE_DRAW_BLOCK)
        u = self.rng.random(blocks * ACCEPTANCE_DRAW_BLOCK)
        accepted = self.num_draft - np.searchsorted(self.thresholds, u, side="right")
        self.drafts = np.concatenate((left, accepted))
        self.cum = np.concatenate((np.zeros(1, np.int64), np.cumsum(self.drafts + 1)))
        self.pos = self.base = 0
        self.size = len(self.drafts)


def accepted_drafts(sched: Schedule, done: int) -> int:
    """Drafts a sequence has accepted after ``done`` of its verification steps."""
    cum, _, pos, steps, over = sched
    return int(cum[pos + done]) - int(cum[pos]) - done - (over if done >= steps else 0)


class VerifyStepTimer:
    """Time of one decode-only speculative step: the target verifying ``k + 1`` positions of
    ``b`` sequences of mean context ``c``, plus ``k`` draft steps.

    Both attention terms are linear in the effective context ``e`` on each side of the
    roofline, so for ``b`` sequences the step takes ``F + L max(c_1 e, m_0 + m_1 e) + k (F' +
    L' max(c'_1 e, m'_0 + m'_1 e))``, the target's coefficients taken once from
    :func:`~chip2grid.perf.step.attention_decode_layer` and its step timer, the draft's from
    :meth:`StepTimer.decode_coefficients` (equal to ``StepTimer.total_s`` plus the draft
    steps to rounding; tested). Where both are memory-bound at every context (``c_1 <= m_1``,
    no sliding window: the usual decode), the step is linear, ``A + B c`` (:meth:`linear`).
    The same operations run on floats (:meth:`step_s`) and on arrays (:meth:`run_s`), so a
    jump and single steps give the same numbers. Untabulated timers (pipeline parallelism)
    have no coefficients: :meth:`step_s` then asks the timers.
    """

    def __init__(self, timer: StepTimer, draft: StepTimer, num_draft: int) -> None:
        self.timer, self.draft = timer, draft
        self.num_draft = float(num_draft)
        self.query = float(num_draft + 1)
        self.layers, self.draft_layers = timer.num_layers, draft.num_layers
        self.window, sliding = timer.sliding_window
        self.keep, self.sliding = 1.0 - sliding, sliding
        self.d_window, d_sliding = draft.sliding_window
        self.d_keep, self.d_sliding = 1.0 - d_sliding, d_sliding
        self.fast = timer.tabulated and draft.tabulated
        self.overhead_seq_s = float(timer.shape.per_sequence_host_s)
        self.coeff: dict[int, tuple[float, ...] | None] = {}
        self.lines: dict[int, tuple[float, float] | None] = {}

    def linear(self, b: int) -> tuple[float, float] | None:
        """``(A, B)``: the step of ``b`` sequences takes ``A + B c`` at every context ``c``; or
        None where a roofline side or a sliding window bends it."""
        if b in self.lines:
            return self.lines[b]
        co = self.coefficients(b)
        line = None
        if co is not None and self.window <= 0.0 and self.d_window <= 0.0:
            fixed, c1, m0, m1, d_fixed, d_c1, d_m0, d_m1 = co
            if c1 <= m1 and d_c1 <= d_m1:  # memory-bound at every context (m_0 >= 0)
                k, ld = self.num_draft, self.draft_layers
                line = (
                    fixed + self.layers * m0 + k * (d_fixed + ld * d_m0),
                    self.layers * m1 + k * ld * d_m1,
                )
        self.lines[b] = line
        return line

    def coefficients(self, b: int) -> tuple[float, ...] | None:
        """``(F, c_1, m_0, m_1, F', c'_1, m'_0, m'_1)`` for ``b`` sequences, or None."""
        if b in self.coeff:
            return self.coeff[b]
        draft = self.draft.decode_coefficients(b) if self.fast else None
        if draft is None:
            self.coeff[b] = None
            return None
        s = self.timer.shape
        _, _, _, df, db = attention_decode_layer(
            s, float(b), self.query, np.array([0.0, 1.0]), float(s.attention_dp)
        )
        compute = float(s.peak_attn_flops_per_s) * float(s.attention_compute_eff)
        memory = float(s.memory_bandwidth_bytes_per_s) * float(s.memory_eff)
        m0 = float(db[0]) / memory
        at_zero = self.timer.total_s(0.0, 0.0, 0.0, float(b), 0.0, self.query)
        if at_zero <= self.timer.launch_bound_s(float(b)):  # kernel launches can show
            self.coeff[b] = None
            return None
        coeff = (
            at_zero - self.layers * m0,
            float(df[1] - df[0]) / compute,
            m0,
            float(db[1] - db[0]) / memory,
            *draft,
        )
        self.coeff[b] = coeff
        return coeff

    def step_s(self, b: int, ctx: float) -> float:
        """One step of ``b`` sequences at mean context ``ctx``."""
        line = self.lines[b] if b in self.lines else self.linear(b)
        if line is not None:
            return line[0] + line[1] * ctx
        co = self.coefficients(b)
        if co is None:
            target_s = self.timer.total_s(0.0, 0.0, 0.0, float(b), ctx, self.query)
            return target_s + self.num_draft * self.draft.decode_step_s(b, ctx)
        fixed, c1, m0, m1, d_fixed, d_c1, d_m0, d_m1 = co
        e = self.keep * ctx + self.sliding * min(ctx, self.window) if self.window > 0.0 else ctx
        tc, tm = c1 * e, m0 + m1 * e
        target = fixed + self.layers * (tc if tc >= tm else tm)
        w = self.d_window
        e = self.d_keep * ctx + self.d_sliding * min(ctx, w) if w > 0.0 else ctx
        tc, tm = d_c1 * e, d_m0 + d_m1 * e
        return target + self.num_draft * (d_fixed + self.draft_layers * (tc if tc >= tm else tm))

    def mixed_s(self, tokens: int, seqs: int, p_ctx: float, b: int, ctx: float) -> float:
        """A step of prompt chunks (``tokens`` of ``seqs`` prompts at mean context ``p_ctx``)
        with the verification of ``b`` sequences, plus their draft steps.

        ``StepTimer.total_s`` with ``k + 1`` query tokens per sequence, composed from the
        timer's one-token step of ``b (k + 1)`` sequences at context 0 (the same step tokens,
        logits and attention activations), less the per-sequence overheads of the extra
        ``b k`` sequences, plus the attention over the contexts: the terms of
        :class:`StepTimer`, so equal to rounding, at the cost of a tabulated step.
        """
        co = self.coefficients(b)
        if co is None:
            target_s = self.timer.total_s(
                float(tokens), float(seqs), p_ctx, float(b), ctx, self.query
            )
            return target_s + self.num_draft * self.draft.decode_step_s(b, ctx)
        _, c1, m0, m1, d_fixed, d_c1, d_m0, d_m1 = co
        bq = b * int(self.query)
        base = self.timer.mixed_step_s(tokens, seqs, p_ctx, bq, 0.0)
        e = self.keep * ctx + self.sliding * min(ctx, self.window) if self.window > 0.0 else ctx
        tc, tm = c1 * e, m0 + m1 * e
        target = (
            base - self.overhead_seq_s * (bq - b) + self.layers * ((tc if tc >= tm else tm) - m0)
        )
        w = self.d_window
        e = self.d_keep * ctx + self.d_sliding * min(ctx, w) if w > 0.0 else ctx
        tc, tm = d_c1 * e, d_m0 + d_m1 * e
        return target + self.num_draft * (d_fixed + self.draft_layers * (tc if tc >= tm else tm))

    def run_s(self, b: int, ctx: NDArray[np.float64]) -> NDArray[np.float64]:
        """:meth:`step_s` at every context of ``ctx``."""
        line = self.linear(b)
        if line is not None:
            return line[0] + line[1] * ctx
        co = self.coefficients(b)
        if co is None:
            return np.array([self.step_s(b, c) for c in ctx.tolist()])
        fixed, c1, m0, m1, d_fixed, d_c1, d_m0, d_m1 = co
        e = ctx
        if self.window > 0.0:
            e = self.keep * ctx + self.sliding * np.minimum(ctx, self.window)
        target = fixed + self.layers * np.maximum(c1 * e, m0 + m1 * e)
        e = ctx
        if self.d_window > 0.0:
            e = self.d_keep * ctx + self.d_sliding * np.minimum(ctx, self.d_window)
        draft = d_fixed + self.draft_layers * np.maximum(d_c1 * e, d_m0 + d_m1 * e)
        return np.asarray(target + self.num_draft * draft, dtype=float)


class Simulator:
    """Simulate one engine instance serving a trace, with step times from ``timer``."""

    def __init__(
        self,
        timer: StepTimer,
        config: EngineConfig,
        *,
        step_by_step: bool = False,
        draft_timer: StepTimer | None = None,
    ) -> None:
        self.timer = timer
        self.config = config
        self.step_by_step = step_by_step
        self.draft_timer = draft_timer
        """Step times of the draft network (speculative decoding only)."""

    def run(self, trace: RequestTrace) -> SimulationResult:
        """Simulate the whole trace."""
        return _Run(self.timer, self.config, trace, self.step_by_step, self.draft_timer).result()


class Engine:
    """One engine instance fed request by request, for a router in front of replicas.

    ``advance_to(t)`` runs the engine up to the first step boundary at or after ``t`` (a step
    in flight is not cut); ``submit`` adds a request arriving at ``t``; ``num_outstanding``
    and ``cached_prefix_blocks`` describe the state a router sees; ``finish`` runs to the
    end. Submitting a trace's requests at their arrivals and finishing gives the results of
    :meth:`Simulator.run` on that trace (to rounding: decode runs are split at every
    ``advance_to``).
    """

    def __init__(
        self,
        timer: StepTimer,
        config: EngineConfig,
        *,
        block_tokens: int = MOONCAKE_BLOCK_TOKENS,
        step_by_step: bool = False,
        draft_timer: StepTimer | None = None,
    ) -> None:
        empty = RequestTrace(
            arrival_s=np.zeros(0),
            input_tokens=np.zeros(0, np.int64),
            output_tokens=np.zeros(0, np.int64),
            block_tokens=block_tokens,
        )
        self._run = _Run(timer, config, empty, step_by_step, draft_timer)

    @property
    def now_s(self) -> float:
        """The engine's clock: the end of the last step it ran."""
        return self._run.now

    @property
    def num_outstanding(self) -> int:
        """Requests submitted and not finished: queued, running or preempted."""
        return self._run.num_outstanding

    def cached_prefix_blocks(self, prefix_hashes: Sequence[int]) -> int:
        """Leading blocks of ``prefix_hashes`` this engine holds in its prefix cache."""
        run = self._run
        return run.cache.match(prefix_hashes, len(prefix_hashes)) if run.caching else 0

    def advance_to(self, time_s: float) -> None:
        """Run up to the first step boundary at or after ``time_s``."""
        self._run.advance(time_s)

    def submit(
        self,
        arrival_s: float,
        input_tokens: int,
        output_tokens: int,
        prefix_hashes: tuple[int, ...] = (),
    ) -> int:
        """Add a request; returns its index in this engine's results."""
        return self._run.submit(arrival_s, input_tokens, output_tokens, prefix_hashes)

    def submit_prefilled(self, arrival_s: float, input_tokens: int, output_tokens: int) -> int:
        """Add a request prefilled elsewhere (disaggregated serving): its prompt's KV cache
        arrives with it at ``arrival_s`` and its first token was generated there, so on
        admission it joins the decoding batch at once (``first_token_s`` = admission). If it
        is preempted later, it is recomputed here like any request. Returns its index."""
        return self._run.submit(arrival_s, input_tokens, output_tokens, (), kv_ready=True)

    @property
    def busy_s(self) -> float:
        """Time spent running steps (and swap copies) so far."""
        return self._run.busy

    def finish(self) -> SimulationResult:
        """Run every submitted request to completion and return the results."""
        return self._run.result()


class _Run:
    """The state of one simulation.

    Decoding requests advance one token per step together, so their state is kept as
    aggregates: a decode-step counter ``d``, each request's join step, a heap of the steps at
    which they finish (stale entries skipped by version), the sum of their contexts, and one
    slot per running request holding ``stored tokens - d`` for the exact block count. With
    speculative decoding each decoding request also holds its verification steps (drawn at
    join), and ``batch_drafts`` the drafts all of them accept at each decode step, so the
    contexts of a run of steps and the finishing steps need no per-request work.
    """

    def __init__(
        self,
        timer: StepTimer,
        cfg: EngineConfig,
        trace: RequestTrace,
        step_by_step: bool,
        draft_timer: StepTimer | None = None,
    ) -> None:
        self.timer, self.cfg, self.step_by_step = timer, cfg, step_by_step
        n = trace.num_requests
        self.n = n
        self.arrival = trace.arrival_s.astype(float)
        self.isl = trace.input_tokens.astype(np.int64)
        self.osl = trace.output_tokens.astype(np.int64)
        self.arrival_l: list[float] = self.arrival.tolist()
        self.isl_l: list[int] = self.isl.tolist()
        self.osl_l: list[int] = self.osl.tolist()
        bs = cfg.block_size
        self.bs = bs
        self.full = cfg.kv_reservation == "full"
        self.watermark = 0 if self.full else int(WATERMARK_FRAC * cfg.num_gpu_blocks)
        need = -(-(self.isl + self.osl) // bs)
        self.rejected = need > cfg.num_gpu_blocks
        self.reasons: dict[int, str] = {}
        for r in np.flatnonzero(self.rejected).tolist():
            self.reasons[r] = (
                f"needs {int(need[r])} KV blocks of {bs} tokens for "
                f"{self.isl_l[r]} + {self.osl_l[r]} tokens; the cache holds {cfg.num_gpu_blocks}"
            )
        self.rejected_l: list[bool] = self.rejected.tolist()
        self.first = [math.nan] * n
        self.finish = [math.nan] * n
        self.scheduled = [math.nan] * n
        self.preempts = [0] * n
        self.generated = [0] * n
        self.prompt = list(self.isl_l)  # tokens to prefill on (re)admission
        self.version = [0] * n
        self.waiting: deque[int] = deque()
        self.pending: deque[int] = deque()  # admitted, prompt not fully prefilled (FCFS)
        self.prefilled: dict[int, int] = {}
        self.held_blocks: dict[int, int] = {}  # blocks held outside the slots
        self.blocks_other = 0  # sum of held_blocks
        self.order: dict[int, None] = {}  # running requests in admission order
        self.join: dict[int, int] = {}
        self.gen_at_join: dict[int, int] = {}
        self.slot_of: dict[int, int] = {}
        self.free_slots = list(range(cfg.max_num_seqs - 1, -1, -1))
        self.slot_base = np.full(cfg.max_num_seqs, _INACTIVE)
        self.base_sum = 0.0  # sum of slot bases over decoding requests
        self.finishing: list[tuple[int, int, int]] = []  # (decode step when done, id, version)
        self.num_dec = 0
        self.ctx_base = 0.0  # sum over decoding requests of (context - d)
        self.d = 0
        self.now = 0.0
        self.nxt = 0
        self.steps = 0
        self.busy = 0.0
        self.peak_blocks = 0
        self.log = array.array("d")  # timeline rows of LOG_FIELDS numbers, flattened
        self.log_blocks: list[NDArray[np.float64]] = []  # buffers handed to results
        # prefix caching: blocks of ``hb`` prompt tokens (``bpe`` KV blocks each) named by hashes
        hb = trace.block_tokens
        self.caching = cfg.enable_prefix_caching
        if self.caching and (hb < 1 or hb % bs):
            raise InvalidParameterError(
                "block_size",
                bs,
                f"a divisor of the trace's {hb}-token prefix hash blocks (prefix caching is on)",
            )
        self.hb = hb
        self.bpe = hb // bs if self.caching else 0
        self.hashes: list[tuple[int, ...]] = (
            list(trace.prefix_hashes) if trace.prefix_hashes else [()] * n
        )
        self.cache = PrefixCache()
        self.nshared = [0] * n  # leading hash blocks a request holds in the cache
        self.cached = [0] * n  # prompt tokens found cached at first admission
        self.horizon = math.inf
        # preemption by swap: KV of preempted requests parked in host memory
        self.swap = cfg.preemption_mode == "swap"
        if self.swap and not cfg.kv_bytes_per_token > 0:
            raise InvalidParameterError(
                "kv_bytes_per_token",
                cfg.kv_bytes_per_token,
                "KV bytes per token per accelerator > 0 when preemption_mode is swap",
            )
        self.swapped: deque[int] = deque()
        self.swapped_tokens: dict[int, int] = {}
        self.swap_used_bytes = 0.0
        self.swaps = [0] * n
        self.swap_s = 0.0
        # speculative decoding: accepted drafts of each decoding request since it joined
        spec = cfg.speculative
        self.spec = spec is not None
        self.num_draft = spec.num_speculative_tokens if spec is not None else 0
        self.accept_p = spec.acceptance_rate if spec is not None else 0.0
        self.lookahead = 1 + self.num_draft  # KV slots a sequence may fill in one step
        if self.spec and draft_timer is None:
            raise InvalidParameterError(
                "draft_timer", None, "step times of the draft network for speculative decoding"
            )
        self.draft_timer = draft_timer
        self.rng = np.random.default_rng(cfg.seed)
        self.draws = AcceptanceDraws(self.rng, self.accept_p, self.num_draft)
        self.verify = (
            VerifyStepTimer(timer, draft_timer, self.num_draft)
            if self.spec and draft_timer is not None
            else None
        )
        self.sched: dict[int, Schedule] = {}  # each decoding request's verification steps
        self.spec_total: dict[int, int] = {}  # the drafts each will have accepted at its end
        self.spec_extra = 0  # drafts the decoding requests have accepted so far, summed
        self.batch_drafts = np.zeros(0, np.int64)  # drafts the batch accepts at each step
        self.batch_drafts0 = 0  # the decode step of batch_drafts[0]
        self.spec_seq_steps = 0
        self.spec_tokens = 0
        self.static = cfg.batching == "static"
        self.batch_wait_s = cfg.static_batch_timeout_s
        self.kv_ready: set[int] = set()  # submitted with their prompt KV (prefilled elsewhere)
        self.remote_kv = False  # any such request: admit() handles them, not advance_reserved
        self.reserved_loop = (
            self.full
            and not (self.caching or step_by_step)
            and self.timer.tabulated
            and (self.verify is None or self.verify.fast)
        )
        """Whether :meth:`advance` may run :meth:`advance_reserved` (the same results). Not
        with an untabulated timer (pipeline parallelism): its per-step calls cost ~0.1 ms each,
        where the general loop evaluates whole decode runs as arrays."""

    # --- KV blocks -------------------------------------------------------------------------
    def decode_blocks(self, dd: int) -> int:
        """Exact blocks held by decoding requests after decode step ``dd`` (on-demand mode)."""
        if not self.num_dec or self.full:
            return 0
        base = self.slot_base
        if self.spec_extra:  # accepted drafts are stored too
            base = base.copy()
            for r, slot in self.slot_of.items():
                base[slot] += self.accepted(r)
        return int(np.maximum(np.ceil((base + dd) / self.bs), 0.0).sum())

    def decode_blocks_bound(self, dd: int) -> float:
        """An upper bound of :meth:`decode_blocks` that costs no array work."""
        if self.full:
            return 0.0
        return (self.base_sum + self.spec_extra + self.num_dec * dd) / self.bs + self.num_dec

    def fits(self, dd: int, extra: int = 0) -> bool:
        """Whether the blocks needed at decode step ``dd`` (plus ``extra``) fit the cache."""
        cap = self.cfg.num_gpu_blocks - self.blocks_other - extra
        if self.decode_blocks_bound(dd) <= cap:
            return True
        return self.decode_blocks(dd) <= cap

    def note_peak(self) -> None:
        if self.blocks_other + self.decode_blocks_bound(self.d) > self.peak_blocks:
            used = self.blocks_other + self.decode_blocks(self.d)
            self.peak_blocks = max(self.peak_blocks, used)

    def kv_tokens(self) -> float:
        stored = self.base_sum + self.spec_extra + self.num_dec * self.d if not self.full else 0.0
        return stored + self.blocks_other * self.bs

    # --- request movements -----------------------------------------------------------------
    def admit(self) -> None:
        cfg = self.cfg
        if self.static and self.order:  # a static batch runs to its end; nobody joins it
            return
        if self.swapped:  # vLLM resumes swapped requests before admitting new ones
            self.swap_in()
            if self.swapped:
                return
        while self.waiting and len(self.order) < cfg.max_num_seqs:
            r = self.waiting[0]
            p = self.prompt[r]
            tokens = p + (self.osl_l[r] - self.generated[r] if self.full else 0)
            hits = revive = 0
            if self.caching:  # vLLM recomputes at least the last prompt token
                hs = self.hashes[r]
                hits = self.cache.match(hs, min(self.isl_l[r], p - 1) // self.hb)
                revive = self.cache.num_unused(hs[:hits]) * self.bpe
                tokens -= hits * self.hb
            need = -(-tokens // self.bs)
            # vLLM keeps a watermark of free blocks and lets running sequences take their next
            # block first, so a request just preempted is not readmitted into the same squeeze;
            # an idle engine takes any request that fits (else one within the watermark of the
            # whole cache would wait forever)
            if not self.fits(self.d + 1, need + revive + (self.watermark if self.order else 0)):
                break
            self.waiting.popleft()
            if self.kv_ready and r in self.kv_ready:
                self.join_prefilled(r, need)
                continue
            self.pending.append(r)
            self.prefilled[r] = 0
            self.held_blocks[r] = need
            self.blocks_other += need
            self.order[r] = None
            if self.caching:
                self.blocks_other += self.cache.acquire(self.hashes[r][:hits]) * self.bpe
                self.nshared[r] = hits
                self.prefilled[r] = hits * self.hb
                if self.scheduled[r] != self.scheduled[r]:
                    self.cached[r] = hits * self.hb
                self.evict()
            if self.scheduled[r] != self.scheduled[r]:
                self.scheduled[r] = self.now

    def join_prefilled(self, r: int, need: int) -> None:
        """Admit ``r``, whose prompt KV (``need`` blocks) came from a prefill instance."""
        self.kv_ready.discard(r)
        self.held_blocks[r] = need
        self.blocks_other += need
        self.order[r] = None
        self.scheduled[r] = self.first[r] = self.now
        self.start_decode(r)

    # --- prefix cache ----------------------------------------------------------------------
    def publish(self, r: int) -> None:
        """Move the full prompt blocks ``r`` just prefilled into the prefix cache."""
        hs = self.hashes[r]
        m = min(len(hs), self.isl_l[r] // self.hb)
        h = self.nshared[r]
        if m > h:
            newly = self.cache.acquire(hs[h:m])
            own = (m - h) * self.bpe  # blocks a copy already cached is deduplicated into
            self.held_blocks[r] -= own
            self.blocks_other += newly * self.bpe - own
            self.nshared[r] = m

    def release(self, r: int) -> None:
        """``r`` stops using its cached blocks; unused ones stay cached, evictable."""
        k = self.nshared[r]
        if k:
            self.blocks_other -= self.cache.release(self.hashes[r][:k]) * self.bpe
            self.nshared[r] = 0

    def evict(self) -> None:
        """Evict unused cached blocks, least recently used first, while the cache overflows."""
        cache = self.cache
        if not cache.num_free:
            return
        excess = self.blocks_other + cache.num_free * self.bpe - self.cfg.num_gpu_blocks
        if excess + self.decode_blocks_bound(self.d) <= 0:
            return
        excess += self.decode_blocks(self.d)
        if excess > 0:
            cache.evict(-(-excess // self.bpe))

    def prefill_done(self, r: int) -> None:
        self.pending.popleft()
        del self.prefilled[r]
        if self.caching:
            self.publish(r)
        self.generated[r] += 1
        if self.first[r] != self.first[r]:
            self.first[r] = self.now
        if self.generated[r] >= self.osl_l[r]:
            self.finish[r] = self.now
            self.blocks_other -= self.held_blocks.pop(r)
            self.release(r)
            del self.order[r]
            return
        self.start_decode(r)

    def start_decode(self, r: int) -> None:
        """``r`` joins the decoding batch with ``prompt[r]`` tokens in its KV cache."""
        d = self.d
        self.join[r] = d
        self.gen_at_join[r] = self.generated[r]
        p = self.prompt[r]
        self.num_dec += 1
        self.ctx_base += p + 1 - d
        if not self.full:
            self.blocks_other -= self.held_blocks.pop(r)
            slot = self.free_slots.pop()
            self.slot_of[r] = slot
            base = p - self.nshared[r] * self.hb - d  # tokens in its own blocks, less d
            self.slot_base[slot] = base
            self.base_sum += base
        if self.spec:  # its verification steps, drawn now: it finishes after the last
            sched = self.draws.schedule(self.osl_l[r] - self.generated[r])
            self.sched[r] = sched
            self.spec_total[r] = self.osl_l[r] - self.generated[r] - sched[3]
            self.add_batch_drafts(d, sched)
            heapq.heappush(self.finishing, (d + sched[3], r, self.version[r]))
            return
        heapq.heappush(self.finishing, (d + self.osl_l[r] - self.generated[r], r, self.version[r]))

    def leave_decode(self, r: int) -> None:
        self.num_dec -= 1
        self.ctx_base -= self.prompt[r] + 1 - self.join[r]
        if self.spec:
            sched = self.sched.pop(r)
            del self.spec_total[r]
            done = self.d - self.join[r]
            x = accepted_drafts(sched, done)
            self.ctx_base -= x
            self.spec_extra -= x
            if done < sched[3]:  # preempted: its later steps leave the batch's drafts
                self.add_batch_drafts(self.join[r], sched, done, -1)
        if self.full:
            self.blocks_other -= self.held_blocks.pop(r)
        else:
            slot = self.slot_of.pop(r)
            self.base_sum -= self.slot_base[slot]
            self.slot_base[slot] = _INACTIVE
            self.free_slots.append(slot)
        if self.caching:
            self.release(r)
        del self.order[r]

    def retire(self) -> None:
        fin = self.finishing
        while fin and fin[0][0] <= self.d:
            _, r, ver = heapq.heappop(fin)
            if ver != self.version[r]:
                continue
            self.generated[r] = self.osl_l[r]
            self.finish[r] = self.now
            self.leave_decode(r)

    def clean_heap(self) -> None:
        fin = self.finishing
        while fin and fin[0][2] != self.version[fin[0][1]]:
            heapq.heappop(fin)

    def preempt(self) -> None:
        """Preempt the most recently admitted request (swap it out, or recompute it later)."""
        if len(self.order) <= 1:  # cannot happen: requests that cannot fit alone are rejected
            raise RuntimeError("KV cache exhausted with a single running request")
        r = next(reversed(self.order))
        if self.swap and r not in self.prefilled and self.swap_out(r):
            return
        if r in self.prefilled:
            self.pending.remove(r)
            del self.prefilled[r]
            self.blocks_other -= self.held_blocks.pop(r)
            self.release(r)
            del self.order[r]
        else:
            self.generated[r] = self.gen_at_join[r] + (self.d - self.join[r]) + self.accepted(r)
            self.leave_decode(r)
            self.version[r] += 1
        self.prompt[r] = self.isl_l[r] + self.generated[r]
        self.preempts[r] += 1
        self.waiting.appendleft(r)

    # --- preemption by swap ------------------------------------------------------------------
    def transfer(self, tokens: int) -> None:
        """Copy the KV of ``tokens`` between accelerator and host memory; the engine waits."""
        dt = tokens * self.cfg.kv_bytes_per_token / self.cfg.swap_bandwidth_bytes_per_s
        self.log.extend((self.now, dt, 0, 0.0, 0.0, 0.0, 0.0, 0.0, self.kv_tokens()))
        self.now += dt
        self.busy += dt
        self.swap_s += dt

    def swap_out(self, r: int) -> bool:
        """Move decoding ``r``'s KV blocks to host memory if the swap space has room."""
        stored = self.prompt[r] + (self.d - self.join[r]) + self.accepted(r)
        tokens = -(-stored // self.bs) * self.bs  # whole blocks move
        nbytes = tokens * self.cfg.kv_bytes_per_token
        if self.swap_used_bytes + nbytes > self.cfg.swap_space_bytes:
            return False  # no room on the host: recompute instead
        self.generated[r] = self.gen_at_join[r] + (self.d - self.join[r]) + self.accepted(r)
        self.leave_decode(r)
        self.version[r] += 1
        self.swapped.append(r)
        self.swapped_tokens[r] = stored
        self.swap_used_bytes += nbytes
        self.preempts[r] += 1
        self.swaps[r] += 1
        self.transfer(tokens)
        return True

    def swap_in(self) -> None:
        """Bring swapped requests back, oldest first, while blocks and batch slots allow."""
        cfg = self.cfg
        while self.swapped and len(self.order) < cfg.max_num_seqs:
            r = self.swapped[0]
            stored = self.swapped_tokens[r]
            need = -(-stored // self.bs)
            if not self.fits(self.d + 1, need + (self.watermark if self.order else 0)):
                return
            self.swapped.popleft()
            del self.swapped_tokens[r]
            self.swap_used_bytes -= need * self.bs * cfg.kv_bytes_per_token
            self.order[r] = None
            self.prompt[r] = stored
            self.held_blocks[r] = need
            self.blocks_other += need
            self.start_decode(r)
            if self.caching:
                self.evict()
            self.transfer(need * self.bs)

    def flush_log(self) -> None:
        """Hand the timeline buffer to an array without copying it; later rows go to a new one
        (the array keeps the buffer, which is never resized again)."""
        if self.log or not self.log_blocks:
            rows = np.frombuffer(self.log, dtype=float).reshape(-1, LOG_FIELDS)
            self.log_blocks.append(rows)
            self.log = array.array("d")

    # --- requests fed one by one (a router in front of replicas) ----------------------------
    def submit(
        self,
        arrival_s: float,
        input_tokens: int,
        output_tokens: int,
        hashes: tuple[int, ...],
        kv_ready: bool = False,
    ) -> int:
        """Add a request arriving at ``arrival_s`` (not before the last one); returns its index.

        ``kv_ready``: its prompt was prefilled elsewhere (first token included) and its KV
        arrives with it.
        """
        if kv_ready and (output_tokens < 2 or self.caching):
            raise InvalidParameterError(
                "prefilled request",
                f"output_tokens={output_tokens}, prefix caching {self.caching}",
                "output_tokens >= 2 (one-token outputs end at the prefill) and no prefix caching",
            )
        if self.n and arrival_s < self.arrival_l[-1]:
            raise InvalidParameterError(
                "arrival_s", arrival_s, f"a time >= the last arrival ({self.arrival_l[-1]} s)"
            )
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if value < 1:
                raise InvalidParameterError(name, value, "an integer >= 1")
        r = self.n
        need = -(-(input_tokens + output_tokens) // self.bs)
        rejected = need > self.cfg.num_gpu_blocks
        if rejected:
            self.reasons[r] = (
                f"needs {need} KV blocks of {self.bs} tokens for {input_tokens} + "
                f"{output_tokens} tokens; the cache holds {self.cfg.num_gpu_blocks}"
            )
        self.arrival_l.append(arrival_s)
        self.isl_l.append(input_tokens)
        self.osl_l.append(output_tokens)
        self.rejected_l.append(rejected)
        self.prompt.append(input_tokens)
        self.hashes.append(hashes)
        for floats in (self.first, self.finish, self.scheduled):
            floats.append(math.nan)
        for ints in (self.preempts, self.generated, self.version, self.nshared, self.cached):
            ints.append(0)
        self.swaps.append(0)
        if kv_ready:
            self.kv_ready.add(r)
            self.remote_kv = True
            self.generated[r] = 1
        self.n += 1
        return r

    @property
    def num_outstanding(self) -> int:
        """Requests submitted and not finished (waiting, running, or not yet seen)."""
        return len(self.waiting) + len(self.order) + len(self.swapped) + self.n - self.nxt

    # --- the loop --------------------------------------------------------------------------
    def advance(self, horizon: float = math.inf) -> None:
        """Run until no work is left, or until the first step boundary at or after ``horizon``.

        With a finite horizon, decode runs stop at the horizon as they stop at an arrival, so
        the state seen there is exact.
        """
        cfg, n = self.cfg, self.n
        timer = self.timer
        arrival_l, rejected_l = self.arrival_l, self.rejected_l
        chunked = cfg.enable_chunked_prefill
        self.horizon = horizon
        if self.reserved_loop and not self.remote_kv:
            self.advance_reserved(horizon)
            return
        while self.nxt < n or self.waiting or self.order or self.swapped:
            while self.nxt < n and arrival_l[self.nxt] <= self.now:
                if not rejected_l[self.nxt]:
                    self.waiting.append(self.nxt)
                self.nxt += 1
            if self.static and not self.order and self.waiting:
                start = self.batch_start_s()
                if start > self.now:  # an idle static engine waits for a fuller batch
                    nxt_s = arrival_l[self.nxt] if self.nxt < n else math.inf
                    if min(start, nxt_s) > horizon:
                        break
                    self.now = min(start, nxt_s)
                    continue
            self.admit()
            if not self.order:
                if self.nxt < n and arrival_l[self.nxt] <= horizon:
                    self.now = max(self.now, arrival_l[self.nxt])
                    continue
                break
            if self.now >= horizon:
                break
            if self.pending:
                self.prefill_step(timer, chunked)
                continue
            self.decode_run(timer)

    def batch_start_s(self) -> float:
        """When an idle static-batching engine starts a batch of the queued requests: at once
        if they fill it, else ``static_batch_timeout_s`` after the oldest one arrived."""
        if self.batch_wait_s <= 0.0 or len(self.waiting) >= self.cfg.max_num_seqs:
            return self.now
        return self.arrival_l[self.waiting[0]] + self.batch_wait_s

    def advance_reserved(self, horizon: float) -> None:
        """:meth:`advance` when every request reserves its blocks at admission ("full"), with
        no prefix caching or step-by-step mode: the same policy and the same arithmetic, in one
        loop over local variables (the common case, and the hot one).

        Reserved blocks never run out after admission, so nothing is preempted or swapped and
        the running requests' blocks are ``blocks_other`` alone.
        """
        cfg, timer = self.cfg, self.timer
        n, bs = self.n, self.bs
        num_blocks, max_seqs = cfg.num_gpu_blocks, cfg.max_num_seqs
        max_batched = cfg.max_num_batched_tokens
        chunked = cfg.enable_chunked_prefill
        arrival_l, rejected_l, osl_l = self.arrival_l, self.rejected_l, self.osl_l
        waiting, pending, order = self.waiting, self.pending, self.order
        prefilled, held_blocks = self.prefilled, self.held_blocks
        prompt, generated, version = self.prompt, self.generated, self.version
        scheduled, first, finish = self.scheduled, self.first, self.finish
        join, fin = self.join, self.finishing
        log = self.log
        mixed_step_s, decode_step_s = timer.mixed_step_s, timer.decode_step_s
        coefficients = timer.decode_coefficients
        coeff_of: dict[int, tuple[float, float, float, float] | None] = {}
        layers = timer.num_layers
        window, sliding = timer.sliding_window
        keep = 1.0 - sliding
        heappush, heappop = heapq.heappush, heapq.heappop
        inf = math.inf
        d, now, busy, steps = self.d, self.now, self.busy, self.steps
        nxt, num_dec, ctx_base = self.nxt, self.num_dec, self.ctx_base
        blocks_other, peak_blocks = self.blocks_other, self.peak_blocks
        running = len(order)
        static = self.static
        verify, draws, sched = self.verify, self.draws, self.sched
        spec = verify is not None
        lookahead = self.lookahead
        spec_extra, spec_seq_steps, spec_tokens = (
            self.spec_extra,
            self.spec_seq_steps,
            self.spec_tokens,
        )
        spec_total = self.spec_total
        bd, bd0 = self.batch_drafts, self.batch_drafts0  # (refreshed where a join grows it)
        add = np.add
        spec_b = -1
        v_fixed = v_c = v_m0 = v_m = d_fixed = d_c = d_m0 = d_m = 0.0
        plain_ctx = verify is not None and verify.window <= 0.0 and verify.d_window <= 0.0
        inline = False
        line: tuple[float, float] | None = None
        line_b = -1
        line_a = line_b_s = 0.0
        num_draft = float(self.num_draft)
        query = self.lookahead
        overhead_seq_s = verify.overhead_seq_s if verify is not None else 0.0
        draft_layers = verify.draft_layers if verify is not None else 0.0
        coeff_b = -1
        fixed = c_slope = m0 = m_slope = 0.0
        direct = False
        while nxt < n or waiting or order:
            while nxt < n and arrival_l[nxt] <= now:
                if not rejected_l[nxt]:
                    waiting.append(nxt)
                nxt += 1
            if static and waiting and not running:
                self.now = now
                start = self.batch_start_s()
                if start > now:  # an idle static engine waits for a fuller batch
                    nxt_s = arrival_l[nxt] if nxt < n else inf
                    if min(start, nxt_s) > horizon:
                        break
                    now = min(start, nxt_s)
                    continue
            # admission: first come, first served while the whole request's blocks fit (static
            # batching: only into an idle engine)
            open_batch = not (static and running)
            while open_batch and waiting and running < max_seqs:
                r = waiting[0]
                need = -(-(prompt[r] + osl_l[r] - generated[r]) // bs)
                if num_blocks - blocks_other - need < 0:
                    break
                waiting.popleft()
                pending.append(r)
                prefilled[r] = 0
                held_blocks[r] = need
                blocks_other += need
                order[r] = None
                running += 1
                if scheduled[r] != scheduled[r]:
                    scheduled[r] = now
            if not running:
                if nxt < n and arrival_l[nxt] <= horizon:
                    if arrival_l[nxt] > now:
                        now = arrival_l[nxt]
                    continue
                break
            if now >= horizon:
                break
            if pending:  # a step of prompt chunks (and, chunked, every running decode)
                nd = num_dec if chunked else 0
                budget = max_batched - nd * lookahead
                tokens = seqs = 0
                ctx = 0.0
                progress: list[tuple[int, int]] = []
                for r in pending:
                    if budget <= 0:
                        break
                    done = prefilled[r]
                    left = prompt[r] - done
                    if not chunked:  # whole prompts; one longer than the budget runs alone
                        if left > budget and progress:
                            break
                        take = left
                    else:
                        take = left if left < budget else budget
                    ctx += take * (done + (take + 1) / 2.0)
                    tokens += take
                    seqs += 1
                    budget -= take
                    progress.append((r, take))
                p_ctx = ctx / (tokens if tokens > 1 else 1)
                d_ctx = ctx_base / nd + d if nd else 0.0
                if verify is None or not nd:
                    dt = mixed_step_s(tokens, seqs, p_ctx, nd, d_ctx)
                else:
                    if nd != spec_b:
                        spec_coeff = verify.coefficients(nd)
                        inline = plain_ctx and spec_coeff is not None
                        if spec_coeff is not None:
                            v_fixed, v_c, v_m0, v_m, d_fixed, d_c, d_m0, d_m = spec_coeff
                        spec_b = nd
                    if inline:  # VerifyStepTimer.mixed_s
                        dt = mixed_step_s(tokens, seqs, p_ctx, nd * query, 0.0)
                        tc, tm = v_c * d_ctx, v_m0 + v_m * d_ctx
                        dt = dt - overhead_seq_s * (nd * query - nd)
                        dt += layers * ((tc if tc >= tm else tm) - v_m0)
                        tc, tm = d_c * d_ctx, d_m0 + d_m * d_ctx
                        dt += num_draft * (d_fixed + draft_layers * (tc if tc >= tm else tm))
                    else:
                        dt = verify.mixed_s(tokens, seqs, p_ctx, nd, d_ctx)
                log.extend((now, dt, 1, tokens, seqs, p_ctx, nd, d_ctx, blocks_other * bs + 0.0))
                now += dt
                busy += dt
                steps += 1
                if nd:
                    d += 1
                    if spec:  # the drafts the batch accepted in this step
                        x = int(bd[d - 1 - bd0])
                        ctx_base += x
                        spec_extra += x
                        spec_seq_steps += nd
                        spec_tokens += nd + x
                    if blocks_other > peak_blocks:
                        peak_blocks = blocks_other
                    while fin and fin[0][0] <= d:
                        _, r, ver = heappop(fin)
                        if ver != version[r]:
                            continue
                        generated[r] = osl_l[r]
                        finish[r] = now
                        num_dec -= 1
                        ctx_base -= prompt[r] + 1 - join.pop(r)
                        if spec:
                            x = spec_total.pop(r)
                            del sched[r]
                            ctx_base -= x
                            spec_extra -= x
                        blocks_other -= held_blocks.pop(r)
                        del order[r]
                        running -= 1
                for r, take in progress:
                    done = prefilled[r] + take
                    prefilled[r] = done
                    if done < prompt[r]:
                        continue
                    pending.popleft()
                    del prefilled[r]
                    g = generated[r] + 1
                    generated[r] = g
                    if first[r] != first[r]:
                        first[r] = now
                    if g >= osl_l[r]:
                        finish[r] = now
                        blocks_other -= held_blocks.pop(r)
                        del order[r]
                        running -= 1
                        continue
                    join[r] = d  # (gen_at_join is read only by preemption)
                    num_dec += 1
                    ctx_base += prompt[r] + 1 - d
                    if spec:  # its verification steps, drawn now
                        left = osl_l[r] - g
                        schedule = sched[r] = draws.schedule(left)
                        _, drafts_a, pos, n_steps, over = schedule
                        spec_total[r] = left - n_steps
                        # and the drafts it accepts join the batch's (add_batch_drafts, inline)
                        hi = d + n_steps - bd0
                        if hi > len(bd):
                            self.d = d
                            self.grow_batch_drafts(d + n_steps)
                            bd, bd0 = self.batch_drafts, self.batch_drafts0
                            hi = d + n_steps - bd0
                        view = bd[hi - n_steps : hi]
                        add(view, drafts_a[pos : pos + n_steps], view)
                        if over:
                            bd[hi - 1] -= over
                        heappush(fin, (d + n_steps, r, version[r]))
                        continue
                    heappush(fin, (d + osl_l[r] - g, r, version[r]))
                continue
            # decode-only steps up to the next completion, arrival or horizon
            while fin[0][2] != version[fin[0][1]]:
                heappop(fin)
            k = fin[0][0] - d
            if k > MAX_JUMP_STEPS:
                k = MAX_JUMP_STEPS
            elif k < 1:
                k = 1
            b = num_dec
            ctx0 = ctx_base / b + d
            limit = inf
            if nxt < n and running < max_seqs and not static:
                limit = arrival_l[nxt] - now
            if horizon != inf:
                limit = min(limit, horizon - now)
            if spec:  # verification steps: contexts grow by 1 + the batch's accepted drafts
                assert verify is not None
                if b != spec_b:
                    spec_coeff = verify.coefficients(b)
                    inline = plain_ctx and spec_coeff is not None
                    if spec_coeff is not None:
                        v_fixed, v_c, v_m0, v_m, d_fixed, d_c, d_m0, d_m = spec_coeff
                    spec_b = b
                if b != line_b:
                    line = verify.linear(b)
                    if line is not None:
                        line_a, line_b_s = line
                    line_b = b
                if limit < inf and k > SCALAR_JUMP_STEPS:  # no step is shorter than the first
                    first_s = verify.step_s(b, ctx0)
                    if k > limit / first_s + 2:
                        k = int(limit / first_s) + 2
                lo = d - bd0
                if k == 1:  # one step: its context has no drafts of this run yet
                    c = ctx_base / b + d
                    elapsed = line_a + line_b_s * c if line is not None else verify.step_s(b, c)
                    ctx_sum = c
                    x = int(bd[lo])
                elif k <= SCALAR_JUMP_STEPS:
                    drafts = bd[lo : lo + k].tolist()
                    elapsed = ctx_sum = 0.0
                    x = taken = 0
                    while taken < k:
                        c = (ctx_base + x) / b + (d + taken)
                        if line is not None:  # VerifyStepTimer.step_s, inline
                            dt = line_a + line_b_s * c
                        elif inline:
                            tc, tm = v_c * c, v_m0 + v_m * c
                            dt = v_fixed + layers * (tc if tc >= tm else tm)
                            tc, tm = d_c * c, d_m0 + d_m * c
                            dt += num_draft * (d_fixed + draft_layers * (tc if tc >= tm else tm))
                        else:
                            dt = verify.step_s(b, c)
                        elapsed += dt
                        ctx_sum += c
                        x += drafts[taken]
                        taken += 1
                        if elapsed >= limit:
                            break
                    k = taken
                else:
                    part = bd[lo : lo + k]
                    before = np.concatenate((np.zeros(1, np.int64), np.cumsum(part[:-1])))
                    ctx_arr = (ctx_base + before) / b + (d + np.arange(k))
                    cum = np.cumsum(verify.run_s(b, ctx_arr))
                    if limit < inf:
                        k = max(1, min(k, int(np.searchsorted(cum, limit, side="left")) + 1))
                    elapsed = float(cum[k - 1])
                    ctx_sum = float(ctx_arr[:k].sum())
                    x = int(part[:k].sum())
                ctx_mean = ctx_sum / k
                ctx_base += x
                spec_extra += x
                spec_seq_steps += b * k
                spec_tokens += b * k + x
            elif k <= SCALAR_JUMP_STEPS:
                if b != coeff_b:
                    if b in coeff_of:
                        coeff = coeff_of[b]
                    else:
                        coeff = coeff_of[b] = coefficients(b)
                    direct = coeff is None
                    if coeff is not None:
                        fixed, c_slope, m0, m_slope = coeff
                    coeff_b = b
                elapsed = 0.0
                taken = 0
                if not direct and window <= 0.0:  # the usual case: e = c
                    while taken < k:
                        c = ctx0 + taken
                        tc, tm = c_slope * c, m0 + m_slope * c
                        elapsed += fixed + layers * (tc if tc >= tm else tm)
                        taken += 1
                        if elapsed >= limit:
                            break
                else:
                    while taken < k:
                        c = ctx0 + taken
                        if direct:
                            elapsed += decode_step_s(b, c)
                        else:
                            e = keep * c + sliding * min(c, window) if window > 0.0 else c
                            tc, tm = c_slope * e, m0 + m_slope * e
                            elapsed += fixed + layers * (tc if tc >= tm else tm)
                        taken += 1
                        if elapsed >= limit:
                            break
                k = taken
                ctx_mean = ctx0 + (k - 1) / 2.0
            else:
                k, elapsed = timer.decode_run_until(b, ctx0, k, limit)
                ctx_mean = ctx0 + (k - 1) / 2.0
            log.extend((now, elapsed, k, 0.0, 0.0, 0.0, b, ctx_mean, blocks_other * bs + 0.0))
            now += elapsed
            busy += elapsed
            steps += k
            d += k
            if blocks_other > peak_blocks:
                peak_blocks = blocks_other
            while fin and fin[0][0] <= d:
                _, r, ver = heappop(fin)
                if ver != version[r]:
                    continue
                generated[r] = osl_l[r]
                finish[r] = now
                num_dec -= 1
                ctx_base -= prompt[r] + 1 - join.pop(r)
                if spec:
                    x = spec_total.pop(r)
                    del sched[r]
                    ctx_base -= x
                    spec_extra -= x
                blocks_other -= held_blocks.pop(r)
                del order[r]
                running -= 1
        self.d, self.now, self.busy, self.steps = d, now, busy, steps
        self.nxt, self.num_dec, self.ctx_base = nxt, num_dec, ctx_base
        self.blocks_other, self.peak_blocks = blocks_other, peak_blocks
        self.spec_extra, self.spec_seq_steps, self.spec_tokens = (
            spec_extra,
            spec_seq_steps,
            spec_tokens,
        )

    def result(self) -> SimulationResult:
        """Run to the end and collect the results."""
        self.advance()
        cfg = self.cfg
        if self.n != len(self.arrival):  # requests were submitted one by one
            self.arrival = np.array(self.arrival_l, dtype=float)
            self.isl = np.array(self.isl_l, dtype=np.int64)
            self.osl = np.array(self.osl_l, dtype=np.int64)
            self.rejected = np.array(self.rejected_l, dtype=bool)
        self.note_peak()
        self.flush_log()
        blocks = self.log_blocks
        log = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        timeline = Timeline(
            start_s=log[:, 0],
            duration_s=log[:, 1],
            num_steps=log[:, 2].astype(np.int64),
            prefill_tokens=log[:, 3],
            prefill_seqs=log[:, 4],
            prefill_context=log[:, 5],
            decode_seqs=log[:, 6],
            decode_context=log[:, 7],
            kv_tokens=log[:, 8],
        )
        return SimulationResult(
            arrival_s=self.arrival,
            scheduled_s=np.fromiter(self.scheduled, float, self.n),
            first_token_s=np.fromiter(self.first, float, self.n),
            finish_s=np.fromiter(self.finish, float, self.n),
            input_tokens=self.isl,
            output_tokens=self.osl,
            rejected=self.rejected,
            num_preemptions=np.fromiter(self.preempts, np.int64, self.n),
            num_steps=self.steps,
            busy_s=self.busy,
            kv_cache_peak_frac=self.peak_blocks / cfg.num_gpu_blocks,
            timeline=timeline,
            reject_reasons=self.reasons,
            cached_tokens=np.fromiter(self.cached, np.int64, self.n),
            num_evicted_blocks=self.cache.num_evicted,
            num_swaps=np.fromiter(self.swaps, np.int64, self.n),
            swap_transfer_s=self.swap_s,
            speculative_tokens_per_step=self.spec_tokens / self.spec_seq_steps
            if self.spec_seq_steps
            else 1.0,
        )

    def prefill_step(self, timer: StepTimer, chunked: bool) -> None:
        """One step with prompt chunks (and, with chunked prefill, every running decode)."""
        with_decodes = chunked and self.num_dec > 0
        if with_decodes:
            while self.num_dec and not self.fits(self.d + self.lookahead):
                self.preempt()
            if not self.pending:
                return
            with_decodes = self.num_dec > 0
        num_dec = self.num_dec if with_decodes else 0
        budget = self.cfg.max_num_batched_tokens - num_dec * self.lookahead
        tokens = seqs = 0
        ctx = 0.0
        progress: list[tuple[int, int]] = []
        for r in self.pending:
            if budget <= 0:
                break
            done = self.prefilled[r]
            left = self.prompt[r] - done
            if not chunked:  # whole prompts; one longer than the budget runs alone
                if left > budget and progress:
                    break
                take = left
            else:
                take = min(left, budget)
            ctx += take * (done + (take + 1) / 2.0)
            tokens += take
            seqs += 1
            budget -= take
            progress.append((r, take))
        p_ctx = ctx / max(tokens, 1)
        d_ctx = self.ctx_base / num_dec + self.d if num_dec else 0.0
        if self.verify is not None and num_dec:
            dt = self.verify.mixed_s(tokens, seqs, p_ctx, num_dec, d_ctx)
        else:
            dt = timer.total_s(float(tokens), float(seqs), p_ctx, float(num_dec), d_ctx)
        self.log.extend((self.now, dt, 1, tokens, seqs, p_ctx, num_dec, d_ctx, self.kv_tokens()))
        self.now += dt
        self.busy += dt
        self.steps += 1
        if num_dec:
            self.d += 1
            if self.spec:
                self.verified(num_dec, 1)
            self.note_peak()
            if self.caching:
                self.evict()
            self.retire()
        for r, take in progress:
            self.prefilled[r] += take
            if self.prefilled[r] >= self.prompt[r]:
                self.prefill_done(r)

    # --- speculative decoding ----------------------------------------------------------------
    def accepted(self, r: int) -> int:
        """Drafts decoding request ``r`` has accepted since it joined (0 without speculation)."""
        sched = self.sched.get(r) if self.spec else None
        return accepted_drafts(sched, self.d - self.join[r]) if sched is not None else 0

    def add_batch_drafts(self, join: int, sched: Schedule, first: int = 0, sign: int = 1) -> None:
        """Add (``sign`` 1) or remove (-1) the drafts of a sequence that joined at decode step
        ``join``, from its step ``first`` on, to the batch's drafts per decode step."""
        _, drafts, pos, steps, over = sched
        if join + steps - self.batch_drafts0 > len(self.batch_drafts):
            self.grow_batch_drafts(join + steps)
        lo = join + first - self.batch_drafts0
        hi = join + steps - self.batch_drafts0
        part = drafts[pos + first : pos + steps]
        if sign > 0:
            self.batch_drafts[lo:hi] += part
            self.batch_drafts[hi - 1] -= over  # its last step is cut at its length
        else:
            self.batch_drafts[lo:hi] -= part
            self.batch_drafts[hi - 1] += over

    def grow_batch_drafts(self, end: int) -> None:
        """Make room for the batch's drafts up to decode step ``end``, dropping the steps run."""
        keep = self.batch_drafts[self.d - self.batch_drafts0 :]
        grown = np.zeros(max(2 * len(keep), end - self.d, 4096), np.int64)
        grown[: len(keep)] = keep
        self.batch_drafts, self.batch_drafts0 = grown, self.d

    def verified(self, num_seqs: int, num_steps: int) -> None:
        """After ``num_steps`` verification steps of ``num_seqs`` sequences ending at decode step
        ``d``: their accepted drafts join the contexts."""
        lo = self.d - num_steps - self.batch_drafts0
        x = (
            int(self.batch_drafts[lo])
            if num_steps == 1
            else int(self.batch_drafts[lo : lo + num_steps].sum())
        )
        self.ctx_base += x
        self.spec_extra += x
        self.spec_seq_steps += num_seqs * num_steps
        self.spec_tokens += num_seqs * num_steps + x

    def spec_blocks(self, ahead: int) -> int:
        """Exact KV blocks the decoding requests need before the verification step ``ahead``
        steps from now (their stored tokens then, plus the ``k + 1`` positions it writes)."""
        bs, dd = self.bs, self.d + ahead + self.lookahead
        slot_base, join, sched = self.slot_base, self.join, self.sched
        blocks = 0
        for r, slot in self.slot_of.items():
            tokens = (
                int(slot_base[slot]) + dd + accepted_drafts(sched[r], dd - self.lookahead - join[r])
            )
            if tokens > 0:
                blocks += -(-tokens // bs)
        return blocks

    def spec_steps_that_fit(self, num_steps: int) -> int:
        """How many of the next ``num_steps`` steps run before one needs a preemption."""
        cap = self.cfg.num_gpu_blocks - self.blocks_other
        if self.spec_blocks(0) > cap:
            return 0
        lo, hi = 0, num_steps  # the step at lo fits; find the first that does not, if any
        if self.spec_blocks(hi - 1) <= cap:
            return num_steps
        hi -= 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.spec_blocks(mid) <= cap:
                lo = mid
            else:
                hi = mid
        return hi

    def spec_decode_step(self) -> None:
        """One decode-only step with speculative decoding: draft, verify, accept."""
        assert self.verify is not None  # speculative runs have one
        self.clean_heap()
        while self.num_dec > 1 and not self.fits(self.d + self.lookahead):
            self.preempt()
        b = self.num_dec
        ctx = self.ctx_base / b + self.d
        dt = self.verify.step_s(b, ctx)
        self.log.extend((self.now, dt, 1, 0.0, 0.0, 0.0, b, ctx, self.kv_tokens()))
        self.now += dt
        self.busy += dt
        self.steps += 1
        self.d += 1
        self.verified(b, 1)
        self.note_peak()
        if self.caching:
            self.evict()
        self.retire()

    def spec_decode_run(self) -> None:
        """Advance speculative decode-only steps up to the next event, at once.

        The steps run to the first completion (known from the schedules), the first step whose
        end reaches the next arrival or the horizon, or the first step that needs a
        preemption (taken alone by :meth:`spec_decode_step`, as step by step)."""
        verify = self.verify
        assert verify is not None  # speculative runs have one
        if self.step_by_step:
            self.spec_decode_step()
            return
        self.clean_heap()
        d, b = self.d, self.num_dec
        k = max(1, min(self.finishing[0][0] - d, MAX_JUMP_STEPS))
        cb = self.ctx_base
        limit = math.inf
        if self.nxt < self.n and len(self.order) < self.cfg.max_num_seqs and not self.static:
            limit = self.arrival_l[self.nxt] - self.now
        if self.horizon != math.inf:
            limit = min(limit, self.horizon - self.now)
        if limit < math.inf:  # contexts only grow, so no step is shorter than the first
            k = min(k, int(limit / verify.step_s(b, cb / b + d)) + 2)
        lo = d - self.batch_drafts0
        if not self.full and b > 1:
            later = int(self.batch_drafts[lo : lo + k - 1].sum())
            bound = self.base_sum + self.spec_extra + later + b * (d + k - 1 + self.lookahead)
            if bound / self.bs + b > self.cfg.num_gpu_blocks - self.blocks_other:
                k = self.spec_steps_that_fit(k)
                if k == 0:
                    self.spec_decode_step()
                    return
        if k <= SCALAR_JUMP_STEPS or verify.coefficients(b) is None:
            drafts = self.batch_drafts[lo : lo + k].tolist()
            elapsed = ctx_sum = 0.0
            x = taken = 0
            while taken < k:
                ctx = (cb + x) / b + (d + taken)
                elapsed += verify.step_s(b, ctx)
                ctx_sum += ctx
                x += drafts[taken]
                taken += 1
                if elapsed >= limit:
                    break
            k = taken
        else:
            drafts_arr = self.batch_drafts[lo : lo + k]
            before = np.concatenate((np.zeros(1, np.int64), np.cumsum(drafts_arr[:-1])))
            ctx_arr = (cb + before) / b + (d + np.arange(k))
            cum = np.cumsum(verify.run_s(b, ctx_arr))
            if limit < math.inf:
                k = max(1, min(k, int(np.searchsorted(cum, limit, side="left")) + 1))
            elapsed = float(cum[k - 1])
            ctx_sum = float(ctx_arr[:k].sum())
        self.log.extend((self.now, elapsed, k, 0.0, 0.0, 0.0, b, ctx_sum / k, self.kv_tokens()))
        self.now += elapsed
        self.busy += elapsed
        self.steps += k
        self.d += k
        self.verified(b, k)
        self.note_peak()
        if self.caching:
            self.evict()
        self.retire()

    def decode_run(self, timer: StepTimer) -> None:
        """Advance decode-only steps up to the next event."""
        if self.spec:
            self.spec_decode_run()
            return
        self.clean_heap()
        d = self.d
        k = 1 if self.step_by_step else max(1, min(self.finishing[0][0] - d, MAX_JUMP_STEPS))
        if not self.fits(d + k):
            lo, hi = 0, k  # largest k' in [0, k) that fits
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self.fits(d + mid):
                    lo = mid
                else:
                    hi = mid
            if lo == 0:
                self.preempt()
                return
            k = lo
        b = self.num_dec
        ctx0 = self.ctx_base / b + d
        limit = math.inf
        if self.nxt < self.n and len(self.order) < self.cfg.max_num_seqs and not self.static:
            limit = self.arrival_l[self.nxt] - self.now
        if self.horizon != math.inf:
            limit = min(limit, self.horizon - self.now)
        if k <= SCALAR_JUMP_STEPS:
            elapsed = 0.0
            taken = 0
            while taken < k:
                elapsed += timer.decode_step_s(b, ctx0 + taken)
                taken += 1
                if elapsed >= limit:
                    break
            k = taken
        else:
            k, elapsed = timer.decode_run_until(b, ctx0, k, limit)
        self.log.extend(
            (self.now, elapsed, k, 0.0, 0.0, 0.0, b, ctx0 + (k - 1) / 2.0, self.kv_tokens())
        )
        self.now += elapsed
        self.busy += elapsed
        self.steps += k
        self.d += k
        self.note_peak()
        if self.caching:
            self.evict()
        self.retire()


def percentiles(
    values: NDArray[np.float64], qs: tuple[float, ...] = (50, 90, 99)
) -> dict[str, float]:
    """p50/p90/p99 and mean of the finite values."""
    v = values[np.isfinite(values)]
    if not len(v):
        return {**{f"p{int(q)}": math.nan for q in qs}, "mean": math.nan}
    out = {f"p{int(q)}": float(np.percentile(v, q)) for q in qs}
    out["mean"] = float(v.mean())
    return out
