"""Disaggregated serving, simulated: a prefill pool, KV transfers, a decode pool.

A prefill pool of ``X`` instances (its own deployment and engine settings) runs prompts only:
each request enters it with one output token, so its engine prefills the prompt (chunked within
``max_num_batched_tokens``), emits the first token and lets the request go. The request's KV
cache then crosses the scale-out link to a decode instance chosen, when the prefill ends, by the
decode router (least-outstanding by default) among ``Y`` decode instances, which only decode:
the request joins the decoding batch on admission (:meth:`Engine.submit_prefilled`), so no
decode step ever carries a prompt.

Definitions
-----------
- KV bytes per rank: ``kv_bytes_per_token_per_accelerator(I) * I`` of each pool's deployment
  (:func:`chip2grid.perf.kv_transfer_bytes_per_rank`, as :mod:`chip2grid.perf.disaggregated`).
- Transfer: every rank sends (receives) its shard over its own scale-out link of bandwidth
  ``W`` (the catalog's ``scale_out_bandwidth_bytes_per_s``) at the calibrated ``comm_eff``;
  the links of an instance are one FIFO server on each side. A transfer starts when the prefill
  is done, the sender's links are free and the receiver's links are free; it holds both for
  ``max(b_p / (W_p eta_p), b_d / (W_d eta_d))`` and the KV is there ``latency`` later.
- TTFT = arrival to the decode instance's admission of the request: prefill queue + prefill +
  link wait + transfer + any wait for room in the decode instance. The first token is
  computed by the prefill and delivered when the decode instance takes the request over (the
  first decode step is not included). A one-token output ends at the prefill (no transfer).
- TPOT = (last token - admission) / (O - 1): decode steps only.

Simplifications: a prefill instance frees a prompt's KV blocks when its prefill ends (not when
its transfer ends); the network's own energy is not counted; the prefill pool never waits for
the decode pool (no back-pressure), so the prefill pool is simulated first and its completions
then feed the links and the decode pool in time order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import ServerPower
from chip2grid.perf import (
    Calibration,
    Deployment,
    calibration_for,
    get_engine,
    kv_transfer_bytes_per_rank,
    rank_shape,
)
from chip2grid.perf.disaggregated import (
    Disaggregated,
    decode_at_rate,
    decode_pool,
    disaggregated,
    prefill_pool,
)
from chip2grid.serving.cluster import get_router, simulate_cluster
from chip2grid.serving.simulate import (
    ServingResult,
    energy_figures,
    engine_config_for,
    step_timers,
    timeline_energy_j,
    traffic_figures,
)
from chip2grid.serving.simulator import (
    Engine,
    EngineConfig,
    RequestLatencies,
    SimulationResult,
    percentiles,
)
from chip2grid.serving.workload import RequestTrace

__all__ = [
    "DisaggregatedResult",
    "disaggregated_steady_state",
    "pool_energy_j",
    "simulate_disaggregated",
    "step_timers",
]


def pool_energy_j(
    deployment: Deployment,
    calibration: Calibration,
    results: tuple[SimulationResult, ...] | list[SimulationResult],
    server: ServerPower,
    spans_s: list[float],
) -> tuple[float, float]:
    """Accelerator and system energy (J) of instances each held for ``spans_s[k]`` seconds.

    Each instance draws its timeline's power while busy and idles for the rest of its span
    (:func:`~chip2grid.serving.timeline_energy_j` over its own first arrival to last
    completion, plus idle power for the remainder of ``spans_s[k]``).
    """
    n = deployment.instance_size
    idle_w = float(deployment.accelerator.idle_power_w)
    acc_total = sys_total = 0.0
    for res, span in zip(results, spans_s, strict=True):
        acc_j, _ = timeline_energy_j(deployment, calibration, res, server)
        span = max(span, res.duration_s)
        acc_j += idle_w * n * (span - res.duration_s)
        acc_total += acc_j
        if span > 0:
            sys_total += server.system_power_w(acc_j / span / n, n) * span
    return acc_total, sys_total


@dataclass(frozen=True, slots=True, kw_only=True)
class DisaggregatedResult(RequestLatencies):
    """Per-request times in trace order (s; NaN where rejected) and both pools' results.

    ``prefill.replicas`` are the prefill instances (each request with one output token);
    ``decode.replicas`` the decode instances, whose ``arrival_s`` is the time the KV arrived.
    ``ttft_s`` runs from arrival to the decode instance's admission (see module notes).
    """

    prefill: ServingResult
    decode: ServingResult
    arrival_s: NDArray[np.float64]
    prefill_done_s: NDArray[np.float64]
    kv_ready_s: NDArray[np.float64]
    """KV cache in the decode instance's memory (NaN for one-token outputs)."""
    first_token_s: NDArray[np.float64]
    finish_s: NDArray[np.float64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    rejected: NDArray[np.bool_]
    prefill_replica: NDArray[np.int64]
    decode_replica: NDArray[np.int64]
    """-1 where the request never reached the decode pool."""
    kv_link_wait_s: NDArray[np.float64]
    """Time the prompt's KV waited for busy links before its transfer started."""
    accelerator_energy_j: float
    system_energy_j: float

    @property
    def num_requests(self) -> int:
        return len(self.arrival_s)

    @property
    def num_rejected(self) -> int:
        return int(self.rejected.sum())

    @property
    def prefill_queue_wait_s(self) -> NDArray[np.float64]:
        return self._in_trace_order(self.prefill, "queue_wait_s")

    @property
    def kv_transfer_s(self) -> NDArray[np.float64]:
        """Prefill done to KV in place: link wait, transfer and latency."""
        return self.kv_ready_s - self.prefill_done_s

    def _in_trace_order(self, pool: ServingResult, name: str) -> NDArray[np.float64]:
        out = np.full(self.num_requests, math.nan)
        for res, idx in zip(pool.replicas, pool.request_indices, strict=True):
            out[idx] = getattr(res, name)
        return out

    @property
    def duration_s(self) -> float:
        done = ~self.rejected
        if not done.any():
            return 0.0
        return float(np.max(self.finish_s[done]) - np.min(self.arrival_s))

    @property
    def output_tokens_done(self) -> int:
        return int(self.output_tokens[~self.rejected].sum())

    @property
    def input_tokens_done(self) -> int:
        return int(self.input_tokens[~self.rejected].sum())

    def summary(self) -> dict[str, object]:
        """Figures in the shape of :meth:`ServingResult.summary`, plus each pool's own."""
        n_acc = self.prefill.deployment.num_accelerators + self.decode.deployment.num_accelerators
        return {
            "mode": "disaggregated",
            "num_prefill_replicas": len(self.prefill.replicas),
            "num_decode_replicas": len(self.decode.replicas),
            "num_accelerators": n_acc,
            **traffic_figures(self),
            "prefill_queue_wait_s": percentiles(self.prefill_queue_wait_s),
            "kv_transfer_s": percentiles(self.kv_transfer_s),
            "kv_link_wait_s": percentiles(self.kv_link_wait_s),
            **energy_figures(self, n_acc),
            "prefill": self.prefill.summary(),
            "decode": self.decode.summary(),
        }


def _link(deployment: Deployment, calibration: Calibration) -> tuple[float, float, float]:
    """Scale-out bandwidth, calibrated efficiency and latency of one rank's link."""
    shape = rank_shape(deployment, calibration)
    return (
        float(deployment.accelerator.scale_out_bandwidth_bytes_per_s),
        float(shape.comm_eff),
        float(shape.comm_latency_s),
    )


def _calibration(deployment: Deployment, calibration: Calibration | None) -> Calibration:
    if calibration is not None:
        return calibration
    engine = get_engine(deployment.engine)
    return calibration_for(deployment.accelerator.family, engine.calibration)


def simulate_disaggregated(
    prefill: Deployment,
    decode: Deployment,
    trace: RequestTrace,
    *,
    prefill_config: EngineConfig | None = None,
    decode_config: EngineConfig | None = None,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
    prefill_router: str = "least-outstanding",
    decode_router: str = "least-outstanding",
) -> DisaggregatedResult:
    """Serve ``trace`` with ``prefill.num_replicas`` prefill and ``decode.num_replicas`` decode
    instances (see module notes). Both pools' energy spans the whole run."""
    cal_p = _calibration(prefill, calibration)
    cal_d = _calibration(decode, calibration)
    cfg_p = prefill_config or engine_config_for(prefill)
    cfg_d = decode_config or engine_config_for(decode)
    if cfg_d.enable_prefix_caching:
        raise InvalidParameterError(
            "decode_config.enable_prefix_caching", True, "False (prompts are prefilled elsewhere)"
        )
    server = server or ServerPower()
    n = trace.num_requests
    isl = trace.input_tokens.astype(np.int64)
    osl = trace.output_tokens.astype(np.int64)
    if n:
        ctx = float(np.max(isl + osl))
        cal_p.check_coverage(
            gemm_m_tokens=[1.0, float(cfg_p.max_num_batched_tokens)], context_tokens=ctx
        )
        cal_d.check_coverage(gemm_m_tokens=[1.0, float(cfg_d.max_num_seqs)], context_tokens=ctx)
    # phase 1: prompts only (one output token each)
    timer_p, _ = step_timers(prefill, cfg_p, cal_p)
    prompts = RequestTrace(
        arrival_s=trace.arrival_s,
        input_tokens=isl,
        output_tokens=np.ones(n, dtype=np.int64),
        prefix_hashes=trace.prefix_hashes,
        block_tokens=trace.block_tokens,
        source=trace.source,
    )
    res_p, idx_p = simulate_cluster(timer_p, cfg_p, prompts, prefill.num_replicas, prefill_router)
    done_p = np.full(n, math.nan)
    rejected = np.zeros(n, dtype=bool)
    replica_p = np.full(n, -1, dtype=np.int64)
    for k, (res, idx) in enumerate(zip(res_p, idx_p, strict=True)):
        done_p[idx] = res.first_token_s
        rejected[idx] = res.rejected
        replica_p[idx] = k
    # phase 2: KV over the links, then the decode pool, in order of prefill completion
    bw_p, eff_p, lat_p = _link(prefill, cal_p)
    bw_d, eff_d, lat_d = _link(decode, cal_d)
    latency = max(lat_p, lat_d)
    timer_d, draft_d = step_timers(decode, cfg_d, cal_d)
    engines = [
        Engine(timer_d, cfg_d, block_tokens=trace.block_tokens, draft_timer=draft_d)
        for _ in range(decode.num_replicas)
    ]
    router = get_router(decode_router)
    send_free = [0.0] * prefill.num_replicas
    recv_free = [0.0] * decode.num_replicas
    ready = np.full(n, math.nan)
    wait = np.full(n, math.nan)
    replica_d = np.full(n, -1, dtype=np.int64)
    busy_by_isl: dict[int, float] = {}
    to_decode = np.flatnonzero(~rejected & (osl >= 2))
    order = to_decode[np.argsort(done_p[to_decode], kind="stable")]
    local: list[list[int]] = [[] for _ in engines]
    for i in order.tolist():
        t = float(done_p[i])
        for engine in engines:
            engine.advance_to(t)
        k = router.choose(engines, i, ())
        p_tok = int(isl[i])
        hold = busy_by_isl.get(p_tok)
        if hold is None:
            hold = max(
                kv_transfer_bytes_per_rank(prefill, p_tok) / (bw_p * eff_p),
                kv_transfer_bytes_per_rank(decode, p_tok) / (bw_d * eff_d),
            )
            busy_by_isl[p_tok] = hold
        p = int(replica_p[i])
        start = max(t, send_free[p], recv_free[k])
        send_free[p] = recv_free[k] = start + hold
        wait[i] = start - t
        ready[i] = start + hold + latency
        engines[k].submit_prefilled(float(ready[i]), p_tok, int(osl[i]))
        local[k].append(i)
        replica_d[i] = k
    res_d = [engine.finish() for engine in engines]
    idx_d = [np.asarray(ix, dtype=np.int64) for ix in local]
    first = np.where(osl >= 2, math.nan, done_p)
    finish = np.where(osl >= 2, math.nan, done_p)
    for res, idx in zip(res_d, idx_d, strict=True):
        first[idx] = res.first_token_s
        finish[idx] = res.finish_s
        rejected[idx] |= res.rejected
        replica_d[idx[res.rejected]] = -1
    first[rejected] = finish[rejected] = math.nan
    # energy: every instance of both pools is held from the first arrival to the last token
    t0 = float(trace.arrival_s.min()) if n else 0.0
    t_end = float(np.nanmax(finish)) if np.isfinite(finish).any() else t0
    span = t_end - t0
    acc_p, sys_p = pool_energy_j(prefill, cal_p, res_p, server, [span] * len(res_p))
    acc_d, sys_d = pool_energy_j(decode, cal_d, res_d, server, [span] * len(res_d))
    prefill_result = ServingResult.of_pool(
        prefill, cfg_p, cal_p, res_p, (acc_p, sys_p), router=prefill_router, request_indices=idx_p
    )
    decode_result = ServingResult.of_pool(
        decode, cfg_d, cal_d, res_d, (acc_d, sys_d), router=decode_router, request_indices=idx_d
    )
    return DisaggregatedResult(
        prefill=prefill_result,
        decode=decode_result,
        arrival_s=trace.arrival_s.astype(float),
        prefill_done_s=done_p,
        kv_ready_s=ready,
        first_token_s=first,
        finish_s=finish,
        input_tokens=isl,
        output_tokens=osl,
        rejected=rejected,
        prefill_replica=replica_p,
        decode_replica=replica_d,
        kv_link_wait_s=wait,
        accelerator_energy_j=acc_p + acc_d,
        system_energy_j=sys_p + sys_d,
    )


def disaggregated_steady_state(
    prefill: Deployment,
    decode: Deployment,
    request_rate_per_s: float,
    input_tokens: float,
    output_tokens: float,
    *,
    prefill_config: EngineConfig | None = None,
    decode_config: EngineConfig | None = None,
    calibration: Calibration | None = None,
) -> tuple[Disaggregated, float]:
    """:mod:`chip2grid.perf.disaggregated`'s steady state of the same pools, and its TPOT (s)
    at the batch each decode instance holds at its share of the rate (``decode_at_rate``)."""
    cal_p = _calibration(prefill, calibration)
    cal_d = _calibration(decode, calibration)
    cfg_p = prefill_config or engine_config_for(prefill)
    cfg_d = decode_config or engine_config_for(decode)
    bw_p = prefill.accelerator.scale_out_bandwidth_bytes_per_s
    pre = prefill_pool(
        rank_shape(prefill, cal_p),
        input_tokens,
        float(cfg_p.max_num_batched_tokens),
        kv_bytes_per_rank=kv_transfer_bytes_per_rank(prefill, input_tokens),
        link_bandwidth_bytes_per_s=bw_p,
    )
    shape_d = rank_shape(decode, cal_d)
    y = decode.num_replicas
    at_cap = decode_pool(shape_d, input_tokens, output_tokens, float(cfg_d.max_num_seqs))
    state = disaggregated(pre, at_cap, request_rate_per_s, prefill.num_replicas, y, output_tokens)
    at_rate = decode_at_rate(
        shape_d, input_tokens, output_tokens, request_rate_per_s / y, float(cfg_d.max_num_seqs)
    )
    return state, float(at_rate.tpot_s)
