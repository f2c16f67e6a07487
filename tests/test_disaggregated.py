"""Disaggregated prefill/decode pools in steady state (chip2grid.perf.disaggregated)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.errors import InvalidParameterError
from chip2grid.perf import (
    Deployment,
    calibration_for,
    decode_pool,
    disaggregated,
    kv_transfer_bytes_per_rank,
    kv_transfer_time_s,
    pool_sizes,
    prefill_pool,
    rank_shape,
)
from chip2grid.plan import PlanRequest, screen


def _pools(isl: float = 4096.0, osl: float = 256.0, tp: int = 1) -> tuple[Any, ...]:
    """Llama 3.1 8B on H100: pools over budgets (rows) x decode batches (columns)."""
    m, acc = c2g.get_model("llama-3.1-8b"), c2g.get_accelerator("h100-sxm")
    dep = Deployment(model=m, accelerator=acc, num_accelerators=tp, tp=tp, weight_precision="fp8")
    shape = rank_shape(dep, calibration_for(acc.family, "tensorrt-llm"))
    kv = kv_transfer_bytes_per_rank(dep, isl)
    link = acc.scale_out_bandwidth_bytes_per_s
    pre = prefill_pool(
        shape,
        isl,
        np.array([[2048.0], [8192.0]]),
        kv_bytes_per_rank=kv,
        link_bandwidth_bytes_per_s=link,
    )
    dec = decode_pool(
        shape,
        isl,
        osl,
        np.array([[8.0, 64.0, 256.0]]),
        kv_bytes_per_rank=kv,
        link_bandwidth_bytes_per_s=link,
    )
    return dep, shape, pre, dec


def test_kv_transfer_is_bytes_over_the_calibrated_link() -> None:
    dep, shape, pre, _ = _pools()
    kv = kv_transfer_bytes_per_rank(dep, 4096.0)
    per_token = dep.model.kv_cache_bytes_per_token(dep.kv_bytes_per_element, 4096.0)
    assert kv == pytest.approx(per_token * 4096.0)  # TP1 PP1: one rank holds it all
    link = dep.accelerator.scale_out_bandwidth_bytes_per_s
    expected = shape.comm_latency_s + kv / (link * shape.comm_eff)
    assert np.allclose(pre.kv_transfer_s, expected, rtol=1e-12)
    # more bandwidth never slows the transfer
    assert kv_transfer_time_s(kv, 2 * link, shape.comm_eff, 0.0) < kv_transfer_time_s(
        kv, link, shape.comm_eff, 0.0
    )


def test_pools_never_beat_the_roofline() -> None:
    dep, _, pre, dec = _pools()
    acc, m = dep.accelerator, dep.model
    # a prompt's prefill does at least 2 FLOPs per weight per token at peak
    floor_prefill_s = 2.0 * m.num_matmul_params_per_token * 4096.0 / acc.peak_flops("fp8")
    assert np.all(pre.latency_s >= floor_prefill_s)
    # a decode step reads every weight once at full bandwidth
    floor_step_s = dep.weight_bytes_per_accelerator / acc.memory_bandwidth_bytes_per_s
    assert np.all(dec.step_s >= floor_step_s) and np.all(dec.tpot_s >= floor_step_s)
    # and emits at most one token per sequence per step without speculation
    assert np.all(dec.requests_per_s <= dec.num_seqs / (255.0 * floor_step_s))


def test_flow_is_conserved_through_both_pools() -> None:
    _, _, pre, dec = _pools()
    lam = np.array([0.5, 5.0, 50.0, 500.0])[:, None, None]
    n_pre, n_dec = pool_sizes(pre, dec, lam, 1.0, 2.0)
    res = disaggregated(pre, dec, lam, n_pre, n_dec, 256.0)
    # sized pools keep up: requests in = out of the prefill pool = out of the decode pool
    assert not res.saturated.any()
    assert np.allclose(res.prefill_out_per_s, res.requests_in_per_s)
    assert np.allclose(res.decode_out_per_s, res.requests_in_per_s)
    assert np.allclose(res.output_tokens_per_s, res.decode_out_per_s * 256.0)
    assert np.all(n_dec == 2.0 * n_pre / 1.0)
    assert np.all(res.ttft_s >= pre.latency_s + pre.kv_transfer_s)
    # one instance each under too much demand: each pool passes on at most its capacity
    over = disaggregated(pre, dec, 1e4, 1.0, 1.0, 256.0)
    assert over.saturated.all() and np.isinf(over.ttft_s).all()
    assert np.all(over.prefill_out_per_s <= pre.requests_per_s + 1e-9)
    assert np.all(over.decode_out_per_s <= np.minimum(over.prefill_out_per_s, dec.requests_per_s))


def test_queueing_grows_with_load() -> None:
    _, _, pre, dec = _pools()
    lam = np.linspace(0.1, 0.95, 5) * float(np.min(pre.requests_per_s))
    res = disaggregated(pre, dec, lam[:, None, None], 1.0, 1e3, 256.0)
    assert np.all(np.diff(res.queue_wait_s, axis=0) > 0)


def test_bad_input_names_the_field() -> None:
    _, shape, pre, dec = _pools()
    with pytest.raises(InvalidParameterError, match="input_tokens"):
        prefill_pool(shape, 0.0, 2048.0, kv_bytes_per_rank=1.0, link_bandwidth_bytes_per_s=1e9)
    with pytest.raises(InvalidParameterError, match="tokens_per_step"):
        decode_pool(shape, 10.0, 10.0, 8.0, tokens_per_step=3.0, query_tokens=2.0)
    with pytest.raises(InvalidParameterError, match="demand"):
        disaggregated(pre, dec, -1.0, 1.0, 1.0, 256.0)


def _cheapest(isl: float, osl: float, tpot_slo_s: float, demand: float) -> tuple[float, float]:
    """Cheapest feasible aggregated and disaggregated cost per Mtok of Llama 3.1 8B on H100."""
    s = screen(
        PlanRequest(
            model=c2g.get_model("llama-3.1-8b"),
            input_tokens=isl,
            output_tokens=osl,
            demand_requests_per_s=demand,
            ttft_slo_s=2.0,
            tpot_slo_s=tpot_slo_s,
            accelerators=("h100-sxm",),
            precisions=("fp8",),
            speculative=("off",),
            max_accelerators_per_replica=8,
        )
    )
    ok, dis = s.feasible, s.disaggregated
    assert (ok & dis).any() and (ok & ~dis).any()
    return float(s.cost_usd_per_mtok[ok & ~dis].min()), float(s.cost_usd_per_mtok[ok & dis].min())


def test_disaggregation_wins_with_long_prompts_and_a_tight_tpot() -> None:
    # decode steps with 8k-token prefill chunks in them cannot meet 15 ms; decode-only can
    aggregated, disagg = _cheapest(8192.0, 256.0, 0.015, 50.0)
    assert disagg < 0.9 * aggregated


def test_disaggregation_does_not_win_with_short_prompts() -> None:
    # 64-token prompts barely load a step: a prefill pool is mostly idle capital
    aggregated, disagg = _cheapest(64.0, 256.0, 0.05, 1000.0)
    assert aggregated < disagg


def test_plan_flags_disaggregated_candidates_as_steady_state_only() -> None:
    from chip2grid.plan import plan

    p = plan(
        PlanRequest(
            model=c2g.get_model("llama-3.1-8b"),
            input_tokens=8192.0,
            output_tokens=256.0,
            demand_requests_per_s=50.0,
            ttft_slo_s=2.0,
            tpot_slo_s=0.015,
            accelerators=("h100-sxm",),
            precisions=("fp8",),
            speculative=("off",),
            max_accelerators_per_replica=8,
        ),
        top_k=3,
        num_requests=100,
    )
    assert p.chosen.disaggregated and p.chosen.steady_state_only
    assert p.chosen.prefill_replicas >= 1 and p.chosen.kv_transfer_s > 0
    assert "not simulated" in p.chosen.verdict


def test_decode_pool_at_a_rate_holds_the_batch_littles_law_gives() -> None:
    from chip2grid.perf.disaggregated import decode_at_rate

    _, shape, _, _dec = _pools()
    cap = 256.0
    full = decode_pool(shape, 4096.0, 256.0, cap)
    rates = np.array([0.5, 2.0, 8.0]) * float(full.requests_per_s) / 10.0
    at = decode_at_rate(shape, 4096.0, 256.0, rates, cap)
    # B = rate x (O - 1) x t_step(B): the batch that arrivals keep decoding
    assert np.allclose(at.num_seqs, rates * 255.0 * at.step_s, rtol=1e-5)
    assert np.all(np.diff(at.num_seqs) > 0) and np.all(np.diff(at.tpot_s) > 0)
    assert np.all(at.tpot_s < full.tpot_s) and np.all(at.num_seqs < cap)
    # past the capacity at the cap the batch stays at the cap
    over = decode_at_rate(shape, 4096.0, 256.0, 2.0 * float(full.requests_per_s), cap)
    assert float(over.num_seqs) == cap


def _disaggregated_at(demand: float) -> tuple[Any, int]:
    s = screen(
        PlanRequest(
            model=c2g.get_model("llama-3.1-8b"),
            input_tokens=8192.0,
            output_tokens=256.0,
            demand_requests_per_s=demand,
            ttft_slo_s=2.0,
            tpot_slo_s=0.015,
            accelerators=("h100-sxm",),
            precisions=("fp8",),
            speculative=("off",),
            max_accelerators_per_replica=2,
            batch_caps=(256,),
            token_budgets=(8192,),
            disaggregated_ratios=((4, 1),),
        )
    )
    hit = np.flatnonzero(s.disaggregated & (s.tp == 1) & (s.pp == 1) & (s.prefill_tp == 1))
    assert hit.size == 1
    return s, int(hit[0])


def test_disaggregated_latency_follows_the_demand_per_pool() -> None:
    from chip2grid.perf.disaggregated import decode_at_rate

    light, i = _disaggregated_at(2.0)
    heavy, j = _disaggregated_at(6.0)
    assert light.replicas[i] == heavy.replicas[j] == 1  # one decode instance: 2 vs 6 req/s
    assert light.tpot_s[i] < heavy.tpot_s[j] and light.ttft_s[i] < heavy.ttft_s[j]
    # the screen's TPOT is the decode pool's at the rate one decode instance gets
    dep = Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        weight_precision="fp8",
    )
    shape = rank_shape(dep, calibration_for("hopper", "tensorrt-llm"))
    for s, k, demand in ((light, i, 2.0), (heavy, j, 6.0)):
        at = decode_at_rate(shape, 8192.0, 256.0, demand / float(s.replicas[k]), 256.0)
        assert s.tpot_s[k] == pytest.approx(float(at.tpot_s), rel=0.01)
