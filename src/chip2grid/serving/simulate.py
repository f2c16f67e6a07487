"""Simulate a deployment serving a trace: engine settings from the catalog, replicas behind a
router, energy from the step-level power model, and the summary users ask for."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.hardware import ServerPower, accelerator_power_w
from chip2grid.perf import (
    Calibration,
    Deployment,
    SpeculativeDecoding,
    StepBatch,
    calibration_for,
    full_activity_power,
    get_engine,
    memory_plan,
    rank_shape,
    step_time,
)
from chip2grid.perf.timer import StepTimer
from chip2grid.serving.cluster import ROUTERS, simulate_cluster
from chip2grid.serving.simulator import (
    SWAP_SPACE_BYTES,
    EngineConfig,
    SimulationResult,
    Simulator,
    percentiles,
)
from chip2grid.serving.workload import RequestTrace

__all__ = [
    "ROUTERS",
    "ServingResult",
    "engine_config_for",
    "simulate",
    "split_round_robin",
    "timeline_energy_j",
]
ENERGY_CHUNK_ROWS = 65_536
TIMER_TABLE_TOKENS = 65_536
"""Step tokens the step timer tabulates at most (larger steps, such as the prefill of a whole
static batch under a 1 M-token budget, are timed by ``step_time`` itself, to rounding the same):
a table of 1 M tokens costs 1.4 s to build, 65 k tokens 0.06 s."""


class _Served(Protocol):
    """What :func:`traffic_figures` and :func:`energy_figures` read from a serving result."""

    @property
    def duration_s(self) -> float: ...
    @property
    def num_requests(self) -> int: ...
    @property
    def num_rejected(self) -> int: ...
    @property
    def input_tokens_done(self) -> int: ...
    @property
    def output_tokens_done(self) -> int: ...
    @property
    def ttft_s(self) -> NDArray[np.float64]: ...
    @property
    def tpot_s(self) -> NDArray[np.float64]: ...
    @property
    def e2e_latency_s(self) -> NDArray[np.float64]: ...
    @property
    def accelerator_energy_j(self) -> float: ...
    @property
    def system_energy_j(self) -> float: ...


def traffic_figures(result: _Served) -> dict[str, object]:
    """Duration, token and request rates and latency percentiles of a serving result (the
    shared part of :meth:`ServingResult.summary` and the disaggregated one)."""
    dur = result.duration_s
    return {
        "num_requests": result.num_requests,
        "num_rejected": result.num_rejected,
        "simulated_duration_s": dur,
        "output_tokens_per_s": result.output_tokens_done / dur if dur else 0.0,
        "input_tokens_per_s": result.input_tokens_done / dur if dur else 0.0,
        "requests_per_s": (result.num_requests - result.num_rejected) / dur if dur else 0.0,
        "ttft_s": percentiles(result.ttft_s),
        "tpot_s": percentiles(result.tpot_s),
        "e2e_latency_s": percentiles(result.e2e_latency_s),
    }


def energy_figures(result: _Served, num_accelerators: int) -> dict[str, object]:
    """Energy, energy per output token and mean accelerator power of a serving result."""
    dur, out_tok = result.duration_s, result.output_tokens_done
    acc_j, sys_j = result.accelerator_energy_j, result.system_energy_j
    return {
        "accelerator_energy_j": acc_j,
        "system_energy_j": sys_j,
        "energy_j_per_output_token": acc_j / out_tok if out_tok else math.nan,
        "system_energy_j_per_output_token": sys_j / out_tok if out_tok else math.nan,
        "mean_accelerator_power_w": acc_j / dur / num_accelerators if dur else math.nan,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingResult:
    """What a simulated deployment did: per-request results, engine settings, energy."""

    deployment: Deployment
    engine: str
    config: EngineConfig
    calibration: str
    replicas: tuple[SimulationResult, ...]
    accelerator_energy_j: float
    system_energy_j: float
    step_by_step: bool
    router: str = "round-robin"
    request_indices: tuple[NDArray[np.int64], ...] = ()
    """Per replica, the trace index of each request it served (in its result order)."""

    @classmethod
    def of_pool(
        cls,
        deployment: Deployment,
        config: EngineConfig,
        calibration: Calibration,
        results: Sequence[SimulationResult],
        energy_j: tuple[float, float],
        *,
        router: str,
        request_indices: Sequence[NDArray[np.int64]] = (),
        step_by_step: bool = False,
    ) -> ServingResult:
        """The result of one pool of replicas of ``deployment``; ``energy_j`` is its
        (accelerator, system) energy."""
        return cls(
            deployment=deployment,
            engine=get_engine(deployment.engine).id,
            config=config,
            calibration=calibration.label,
            replicas=tuple(results),
            accelerator_energy_j=energy_j[0],
            system_energy_j=energy_j[1],
            step_by_step=step_by_step,
            router=router,
            request_indices=tuple(request_indices),
        )

    def _cat(self, name: str) -> NDArray[np.float64]:
        return np.concatenate([np.asarray(getattr(r, name), dtype=float) for r in self.replicas])

    @property
    def num_requests(self) -> int:
        return sum(r.num_requests for r in self.replicas)

    @property
    def num_rejected(self) -> int:
        return int(sum(int(r.rejected.sum()) for r in self.replicas))

    @property
    def ttft_s(self) -> NDArray[np.float64]:
        return self._cat("ttft_s")

    @property
    def tpot_s(self) -> NDArray[np.float64]:
        return self._cat("tpot_s")

    @property
    def e2e_latency_s(self) -> NDArray[np.float64]:
        return self._cat("e2e_latency_s")

    @property
    def queue_wait_s(self) -> NDArray[np.float64]:
        return self._cat("queue_wait_s")

    @property
    def output_tokens_done(self) -> int:
        return int(sum(int(r.output_tokens[~r.rejected].sum()) for r in self.replicas))

    @property
    def input_tokens_done(self) -> int:
        return int(sum(int(r.input_tokens[~r.rejected].sum()) for r in self.replicas))

    @property
    def cached_tokens_done(self) -> int:
        """Prompt tokens of completed requests served from the prefix cache."""
        return int(
            sum(
                int(r.cached_tokens[~r.rejected].sum())
                for r in self.replicas
                if len(r.cached_tokens)
            )
        )

    @property
    def speculative_tokens_per_step(self) -> float:
        """Tokens a decoding sequence emitted per decode step, over all replicas."""
        seq_steps = [
            float((r.timeline.decode_seqs * r.timeline.num_steps).sum()) for r in self.replicas
        ]
        total = sum(seq_steps)
        if not total:
            return 1.0
        return (
            sum(
                r.speculative_tokens_per_step * w
                for r, w in zip(self.replicas, seq_steps, strict=True)
            )
            / total
        )

    @property
    def prefix_cache_hit_frac(self) -> float:
        """Cached prompt tokens over all prompt tokens of completed requests."""
        total = self.input_tokens_done
        return self.cached_tokens_done / total if total else 0.0

    @property
    def duration_s(self) -> float:
        """First arrival to last completion over all replicas."""
        starts = [float(r.arrival_s.min()) for r in self.replicas if r.num_requests]
        ends = [float(np.nanmax(r.finish_s)) for r in self.replicas if (~r.rejected).any()]
        return max(ends) - min(starts) if ends else 0.0

    def goodput_requests_per_s(self, ttft_slo_s: float, tpot_slo_s: float) -> float:
        """Requests per second that met both SLOs (TTFT <= x and TPOT <= y)."""
        ttft, tpot = self.ttft_s, self.tpot_s
        ok = (ttft <= ttft_slo_s) & ((tpot <= tpot_slo_s) | np.isnan(tpot)) & np.isfinite(ttft)
        return float(ok.sum()) / self.duration_s if self.duration_s else 0.0

    def summary(
        self, ttft_slo_s: float | None = None, tpot_slo_s: float | None = None
    ) -> dict[str, object]:
        """The figures of ``chip2grid simulate --json``."""
        dur = self.duration_s
        busy = sum(r.busy_s for r in self.replicas)
        d = self.deployment
        summary: dict[str, object] = {
            "model": d.model.id,
            "accelerator": d.accelerator.id,
            "num_accelerators": d.num_accelerators,
            "layout": d.layout,
            "engine": self.engine,
            "calibration": self.calibration,
            "router": self.router,
            "num_replicas": len(self.replicas),
            **traffic_figures(self),
            "queue_wait_s": percentiles(self.queue_wait_s),
            "num_preemptions": int(sum(int(r.num_preemptions.sum()) for r in self.replicas)),
            "num_swaps": int(sum(int(r.num_swaps.sum()) for r in self.replicas)),
            "speculative_tokens_per_step": self.speculative_tokens_per_step,
            "swap_transfer_s": sum(r.swap_transfer_s for r in self.replicas),
            "kv_cache_peak_frac": max(r.kv_cache_peak_frac for r in self.replicas),
            "prefix_cache_hit_frac": self.prefix_cache_hit_frac,
            "num_cached_tokens": self.cached_tokens_done,
            "num_evicted_blocks": sum(r.num_evicted_blocks for r in self.replicas),
            "num_steps": sum(r.num_steps for r in self.replicas),
            "busy_frac": busy / (dur * len(self.replicas)) if dur else 0.0,
            **energy_figures(self, d.num_accelerators),
            "engine_config": {
                "max_num_seqs": self.config.max_num_seqs,
                "max_num_batched_tokens": self.config.max_num_batched_tokens,
                "block_size": self.config.block_size,
                "num_gpu_blocks": self.config.num_gpu_blocks,
                "enable_chunked_prefill": self.config.enable_chunked_prefill,
                "kv_reservation": self.config.kv_reservation,
                "batching": self.config.batching,
                "static_batch_timeout_s": self.config.static_batch_timeout_s,
                "enable_prefix_caching": self.config.enable_prefix_caching,
                "preemption_mode": self.config.preemption_mode,
                "swap_space_bytes": self.config.swap_space_bytes,
                "swap_bandwidth_bytes_per_s": self.config.swap_bandwidth_bytes_per_s,
                "speculative": None
                if self.config.speculative is None
                else {
                    "method": self.config.speculative.method,
                    "num_speculative_tokens": self.config.speculative.num_speculative_tokens,
                    "acceptance_rate": self.config.speculative.acceptance_rate,
                },
            },
            "step_by_step": self.step_by_step,
        }
        if ttft_slo_s is not None and tpot_slo_s is not None:
            summary["goodput_requests_per_s"] = self.goodput_requests_per_s(ttft_slo_s, tpot_slo_s)
            summary["slo"] = {"ttft_s": ttft_slo_s, "tpot_s": tpot_slo_s}
        return summary


def engine_config_for(
    deployment: Deployment,
    *,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    block_size: int = 16,
    gpu_memory_utilization: float | None = None,
    enable_chunked_prefill: bool | None = None,
    kv_reservation: str | None = None,
    enable_prefix_caching: bool = False,
    preemption_mode: str = "recompute",
    swap_space_bytes: float | None = None,
    speculative: SpeculativeDecoding | None = None,
    seed: int = 0,
    batching: str = "continuous",
    static_batch_timeout_s: float = 0.0,
) -> EngineConfig:
    """Engine settings of ``deployment``: the catalog engine's defaults, then the overrides.

    The KV cache gets what the memory plan leaves after weights, activations and reserve;
    a swap moves the plan's KV bytes per token per accelerator over each accelerator's host
    link (``swap_space_bytes`` per accelerator, vLLM's 4 GiB by default). Static batching
    (``batching="static"``, batches of ``max_num_seqs``) reserves each request's whole KV
    cache at admission, so ``kv_reservation`` defaults to ``full`` there.
    """
    engine = get_engine(deployment.engine)
    if not isinstance(block_size, int) or block_size < 1:
        raise InvalidParameterError("block_size", block_size, "an integer >= 1 (16 is usual)")
    if gpu_memory_utilization is not None and not 0.0 < gpu_memory_utilization <= 1.0:
        raise InvalidParameterError(
            "gpu_memory_utilization", gpu_memory_utilization, "a fraction in (0, 1]"
        )
    if gpu_memory_utilization is not None:
        engine = replace(engine, gpu_memory_utilization=gpu_memory_utilization)
    if max_num_batched_tokens is not None:
        engine = replace(engine, max_num_batched_tokens=max_num_batched_tokens)
    plan = memory_plan(deployment, engine)
    tokens = plan.kv_cache_tokens * deployment.attention_dp
    if not tokens >= block_size:
        raise InfeasibleError(
            f"{deployment.model.id} on {deployment.layout} x {deployment.accelerator.id}: no room "
            f"for a KV cache (weights {plan.weight_bytes / 1e9:.1f} GB of "
            f"{plan.usable_bytes / 1e9:.1f} GB usable per accelerator); use more accelerators, "
            "a larger --tp or a smaller --weight-precision"
        )
    seqs, tokens_per_step = deployment.instance_caps(
        max_num_seqs or engine.max_num_seqs, engine.max_num_batched_tokens
    )
    return EngineConfig(
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens_per_step,
        block_size=block_size,
        num_gpu_blocks=int(tokens // block_size),
        enable_chunked_prefill=engine.mixed_batching
        if enable_chunked_prefill is None
        else enable_chunked_prefill,
        kv_reservation=kv_reservation
        or ("full" if batching == "static" else engine.kv_reservation.replace("-", "_")),
        enable_prefix_caching=enable_prefix_caching,
        preemption_mode=preemption_mode,
        swap_space_bytes=SWAP_SPACE_BYTES if swap_space_bytes is None else swap_space_bytes,
        kv_bytes_per_token=float(plan.kv_bytes_per_token),
        speculative=speculative,
        seed=seed,
        batching=batching,
        static_batch_timeout_s=static_batch_timeout_s,
    )


def split_round_robin(trace: RequestTrace, num_replicas: int) -> list[RequestTrace]:
    """Request ``i`` goes to replica ``i mod n`` (arrival times kept)."""
    return [
        trace.select(np.arange(k, trace.num_requests, num_replicas)) for k in range(num_replicas)
    ]


def timeline_energy_j(
    deployment: Deployment,
    calibration: Calibration,
    result: SimulationResult,
    server: ServerPower,
) -> tuple[float, float]:
    """Accelerator and system energy of one instance over the run (J).

    Each timeline segment draws the power the utilization model gives for its steps'
    FLOPs and bytes; the instance idles between segments until the last completion and
    during swap transfers (segments of zero steps: host-link copies, no compute).
    """
    tl = result.timeline
    acc = deployment.accelerator
    n = deployment.instance_size
    span = result.duration_s
    idle_w = float(acc.idle_power_w)
    if not len(tl.duration_s):
        return idle_w * n * span, server.system_power_w(idle_w, n) * span
    shape = rank_shape(deployment, calibration)
    full_activity_w = full_activity_power(deployment, calibration)
    busy_w_s = 0.0
    for lo in range(0, len(tl.duration_s), ENERGY_CHUNK_ROWS):  # chunks bound the memory
        part = slice(lo, lo + ENERGY_CHUNK_ROWS)
        steps = step_time(
            shape,
            StepBatch(
                prefill_tokens=tl.prefill_tokens[part],
                prefill_seqs=tl.prefill_seqs[part],
                prefill_context=tl.prefill_context[part],
                decode_seqs=tl.decode_seqs[part],
                decode_context=tl.decode_context[part],
            ),
        )
        duration = tl.duration_s[part]
        per_step_s = duration / np.maximum(tl.num_steps[part], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            u_c = np.minimum(1.0, steps.flops / (per_step_s * float(shape.peak_gemm_flops_per_s)))
            u_m = np.minimum(1.0, steps.bytes / (per_step_s * acc.memory_bandwidth_bytes_per_s))
        transfer = tl.num_steps[part] == 0
        if transfer.any():
            u_c = np.where(transfer, 0.0, u_c)
            u_m = np.where(transfer, 0.0, u_m)
        p = accelerator_power_w(
            idle_w,
            full_activity_w,
            np.nan_to_num(u_c),
            np.nan_to_num(u_m),
            calibration.power.compute_power_coeff,
            calibration.power.memory_power_coeff,
            power_limit_w=deployment.power_limit_resolved_w,
        )
        busy_w_s += float(np.sum(p * duration))
    busy_j = busy_w_s * n
    idle_s = max(span - float(tl.duration_s.sum()), 0.0)
    acc_j = busy_j + idle_w * n * idle_s
    system_j = server.system_power_w(acc_j / max(span, 1e-12) / n, n) * span
    return acc_j, system_j


def step_timers(
    deployment: Deployment, config: EngineConfig, calibration: Calibration
) -> tuple[StepTimer, StepTimer | None]:
    """Step times of one instance of ``deployment`` and of its draft network (speculative)."""
    # the table stops at TIMER_TABLE_TOKENS; larger steps are timed exactly without it
    max_tokens = min(config.max_num_batched_tokens, TIMER_TABLE_TOKENS) + config.max_num_seqs
    timer = StepTimer(
        rank_shape(deployment, calibration), max_tokens=max_tokens, max_seqs=config.max_num_seqs
    )
    spec = config.speculative
    if spec is None:
        return timer, None
    draft = deployment.replace(model=spec.draft_architecture(deployment.model), ep=1)
    return timer, StepTimer(
        rank_shape(draft, calibration).for_drafting(),
        max_tokens=max_tokens,
        max_seqs=config.max_num_seqs,
    )


def simulation_setup(
    deployment: Deployment,
    trace: RequestTrace,
    config: EngineConfig | None,
    calibration: Calibration | None,
    server: ServerPower | None,
) -> tuple[EngineConfig, Calibration, ServerPower, StepTimer, StepTimer | None]:
    """The engine settings, calibration, server power and step timers (target, draft) of a
    simulation: the given ones, else the deployment's defaults. Warns where the trace's
    shapes lie outside a user calibration's coverage."""
    engine = get_engine(deployment.engine)
    config = config or engine_config_for(deployment)
    calibration = calibration or calibration_for(deployment.accelerator.family, engine.calibration)
    server = server or ServerPower()
    if trace.num_requests:
        calibration.check_coverage(
            gemm_m_tokens=[1.0, float(config.max_num_batched_tokens)],
            context_tokens=float(np.max(trace.input_tokens + trace.output_tokens)),
        )
    timer, draft_timer = step_timers(deployment, config, calibration)
    return config, calibration, server, timer, draft_timer


def simulate(
    deployment: Deployment,
    trace: RequestTrace,
    *,
    config: EngineConfig | None = None,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
    router: str = "round-robin",
    step_by_step: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ServingResult:
    """Simulate ``deployment`` (all its replicas) serving ``trace``.

    ``config`` defaults to :func:`engine_config_for` of the deployment's engine. Replicas are
    independent instances. ``round-robin`` sends request ``i`` to replica ``i mod n`` and
    simulates each replica on its own; the state-aware routers (:mod:`.cluster`) route each
    arrival from the replicas' state at that time.
    """
    if router not in ROUTERS:
        raise InvalidParameterError("router", router, " or ".join(ROUTERS))
    config, calibration, server, timer, draft_timer = simulation_setup(
        deployment, trace, config, calibration, server
    )
    num = deployment.num_replicas
    results: list[SimulationResult] = []
    if router == "round-robin":  # state-blind: each replica is simulated on its own
        sim = Simulator(timer, config, step_by_step=step_by_step, draft_timer=draft_timer)
        indices = [np.arange(k, trace.num_requests, num) for k in range(num)]
        for i, part in enumerate(split_round_robin(trace, num)):
            results.append(sim.run(part))
            if progress is not None:
                progress(i + 1, num)
    else:
        results, indices = simulate_cluster(
            timer,
            config,
            trace,
            num,
            router,
            step_by_step=step_by_step,
            draft_timer=draft_timer,
            progress=progress,
        )
    acc_j = sys_j = 0.0
    for res in results:
        a, s = timeline_energy_j(deployment, calibration, res, server)
        acc_j += a
        sys_j += s
    return ServingResult.of_pool(
        deployment,
        config,
        calibration,
        results,
        (acc_j, sys_j),
        router=router,
        request_indices=indices,
        step_by_step=step_by_step,
    )
