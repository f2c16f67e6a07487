from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chip2grid as c2g
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import RequestTrace, poisson_arrivals
from chip2grid.serving.simulator import SCALAR_JUMP_STEPS, EngineConfig, Simulator, percentiles


def deployment(model: str = "llama-3.1-8b", tp: int = 1) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model(model),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=tp,
        tp=tp,
        weight_precision="fp8",
    )


LAUNCH_S = 150e-6
"""A host launch time per layer that outlasts small steps' device work (Llama-3.1-8B FP8 on
one H100: 4.8 ms of launches against about 3 ms of weights at batch 1) and hides behind
large ones."""


def shape(model: str = "llama-3.1-8b", tp: int = 1, launch_s: float = 0.0) -> c2g.perf.RankShape:
    s = rank_shape(deployment(model, tp), calibration_for("hopper", "tensorrt-llm"))
    return dataclasses.replace(s, per_layer_overhead_s=launch_s) if launch_s else s


def timer(cfg: EngineConfig, model: str = "llama-3.1-8b", launch_s: float = 0.0) -> StepTimer:
    return StepTimer(
        shape(model, launch_s=launch_s),
        max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs,
        max_seqs=cfg.max_num_seqs,
    )


def synthetic(n: int, rate: float, seed: int = 0, max_out: int = 400) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 2048, n),
        output_tokens=rng.integers(1, max_out, n),
    )


@pytest.mark.parametrize("launch_s", [0.0, LAUNCH_S])
@pytest.mark.parametrize("model", ["llama-3.1-8b", "mixtral-8x7b", "gemma-2-9b", "deepseek-v3"])
def test_step_timer_equals_step_time(model: str, launch_s: float) -> None:
    tp = 8 if model == "deepseek-v3" else 1
    s = shape(model, tp, launch_s)
    t = StepTimer(s, max_tokens=4096, max_seqs=256)
    rng = np.random.default_rng(1)
    for _ in range(200):
        pt = float(rng.integers(0, 3000))
        ps = float(rng.integers(1, 4)) if pt else 0.0
        ds = float(rng.integers(0, 200))
        batch = c2g.StepBatch(
            prefill_tokens=pt,
            prefill_seqs=ps,
            prefill_context=float(rng.uniform(1, 4000)) if pt else 0.0,
            decode_seqs=ds,
            decode_context=float(rng.uniform(1, 9000)) if ds else 0.0,
        )
        want = float(c2g.step_time(s, batch).total_s)
        got = t.total_s(
            batch.prefill_tokens,
            batch.prefill_seqs,
            batch.prefill_context,
            batch.decode_seqs,
            batch.decode_context,
        )
        assert got == pytest.approx(want, rel=1e-12)
        if ds and not pt:
            assert t.decode_step_s(int(ds), batch.decode_context) == pytest.approx(want, rel=1e-12)
            run = t.decode_run_s(int(ds), batch.decode_context, 3)
            assert run[0] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("rate", "blocks", "reservation", "launch_s"),
    [
        (2.0, 4000, "on_demand", 0.0),
        (40.0, 4000, "on_demand", 0.0),
        (40.0, 600, "on_demand", 0.0),
        (40.0, 600, "full", 0.0),
        (2.0, 4000, "on_demand", LAUNCH_S),
        (40.0, 600, "full", LAUNCH_S),
    ],
)
def test_event_jump_equals_step_by_step(
    rate: float, blocks: int, reservation: str, launch_s: float
) -> None:
    trace = synthetic(150, rate)
    cfg = EngineConfig(
        max_num_seqs=64,
        max_num_batched_tokens=4096,
        num_gpu_blocks=blocks,
        kv_reservation=reservation,
    )
    fast = Simulator(timer(cfg, launch_s=launch_s), cfg).run(trace)
    slow = Simulator(timer(cfg, launch_s=launch_s), cfg, step_by_step=True).run(trace)
    assert fast.num_steps == slow.num_steps
    assert list(fast.num_preemptions) == list(slow.num_preemptions)
    assert list(fast.output_tokens) == list(slow.output_tokens)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    np.testing.assert_allclose(fast.first_token_s, slow.first_token_s, rtol=1e-9)
    if blocks == 600 and reservation == "on_demand":
        assert fast.num_preemptions.sum() > 0  # the small cache does preempt
    if reservation == "full":
        assert fast.num_preemptions.sum() == 0


def test_conservation_and_littles_law() -> None:
    trace = synthetic(400, 20.0, seed=3)
    cfg = EngineConfig(max_num_seqs=128, num_gpu_blocks=12_500)
    r = Simulator(timer(cfg), cfg).run(trace)
    assert not r.rejected.any()
    assert np.all(np.isfinite(r.finish_s))  # no request lost
    assert np.all(r.first_token_s >= r.arrival_s) and np.all(r.finish_s >= r.first_token_s)
    assert np.all(r.scheduled_s >= r.arrival_s) and np.all(r.first_token_s > r.scheduled_s)
    # Little's law: time-average number in system = throughput x mean time in system
    horizon = r.finish_s.max()
    grid = np.linspace(0.0, horizon, 20_001)
    in_system = ((r.arrival_s[:, None] <= grid) & (r.finish_s[:, None] > grid)).sum(axis=0).mean()
    assert in_system == pytest.approx(
        len(trace.arrival_s) / horizon * r.e2e_latency_s.mean(), rel=0.02
    )
    # the timeline accounts for every busy second and every step
    assert r.timeline.duration_s.sum() == pytest.approx(r.busy_s, rel=1e-12)
    assert int(r.timeline.num_steps.sum()) == r.num_steps


def test_requests_that_never_fit_are_rejected_with_a_reason() -> None:
    trace = RequestTrace(
        arrival_s=np.array([0.0, 0.1]),
        input_tokens=np.array([100, 90_000]),
        output_tokens=np.array([10, 10]),
    )
    cfg = EngineConfig(num_gpu_blocks=3125)  # 50,000 tokens
    r = Simulator(timer(cfg), cfg).run(trace)
    assert list(r.rejected) == [False, True]
    assert np.isnan(r.finish_s[1]) and np.isfinite(r.finish_s[0])
    assert "3125" in r.reject_reasons[1] and "90000" in r.reject_reasons[1]


def test_low_load_latency_matches_steady_state_estimate() -> None:
    # one request at a time: TTFT = one prefill step, TPOT = a batch-1 decode step
    n = 20
    trace = RequestTrace(
        arrival_s=np.arange(n) * 100.0, input_tokens=np.full(n, 1000), output_tokens=np.full(n, 200)
    )
    s = shape()
    cfg = EngineConfig()
    r = Simulator(timer(cfg), cfg).run(trace)
    prefill = float(c2g.step_time(s, c2g.StepBatch.prefill(1, 1000)).total_s)
    assert percentiles(r.ttft_s)["mean"] == pytest.approx(prefill, rel=1e-6)
    decode = float(c2g.step_time(s, c2g.StepBatch.decode(1, 1100)).total_s)
    assert percentiles(r.tpot_s)["mean"] == pytest.approx(decode, rel=0.01)


def _single_server(rate_frac: float, outputs: np.ndarray, seed: int) -> tuple[float, float]:
    """Mean queue wait measured and predicted by Pollaczek-Khinchine for an M/G/1 queue."""
    n = len(outputs)
    cfg = EngineConfig(max_num_seqs=1, num_gpu_blocks=100_000)
    t = timer(cfg)
    isl = 200
    # service times of a lone request, exactly as the simulator's steps add them up
    service = {}
    for osl in np.unique(outputs).tolist():
        s = t.total_s(isl, 1, (isl + 1) / 2, 0, 0)
        s += sum(t.decode_step_s(1, isl + 1 + i) for i in range(osl - 1))
        service[osl] = s
    s_arr = np.array([service[o] for o in outputs.tolist()])
    mean_s, mean_s2 = s_arr.mean(), (s_arr**2).mean()
    lam = rate_frac / mean_s
    rng = np.random.default_rng(seed)
    trace = RequestTrace(
        arrival_s=poisson_arrivals(lam, n, rng),
        input_tokens=np.full(n, isl),
        output_tokens=outputs,
    )
    r = Simulator(t, cfg).run(trace)
    assert r.num_steps > 0
    wait = float(np.mean(r.queue_wait_s))
    return wait, lam * mean_s2 / (2.0 * (1.0 - rate_frac))


def test_md1_queue_matches_pollaczek_khinchine() -> None:
    # constant service: M/D/1, W_q = rho S / (2 (1 - rho)); 20,000 requests: ~4 % sampling error
    waits = [_single_server(0.6, np.full(20_000, 50), seed)[0:2] for seed in (1, 2)]
    for measured, theory in waits:
        assert measured == pytest.approx(theory, rel=0.08)


def test_mg1_queue_with_geometric_outputs_matches_pollaczek_khinchine() -> None:
    rng = np.random.default_rng(7)
    outputs = rng.geometric(1 / 60, 20_000)  # near-exponential service: M/M/1-like
    measured, theory = _single_server(0.5, outputs, seed=3)
    assert measured == pytest.approx(theory, rel=0.1)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), blocks=st.integers(300, 3000))
def test_same_seed_same_result_and_tokens_conserved(seed: int, blocks: int) -> None:
    cfg = EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048, num_gpu_blocks=blocks)
    t = timer(cfg)
    a = Simulator(t, cfg).run(synthetic(60, 30.0, seed=seed, max_out=200))
    b = Simulator(t, cfg).run(synthetic(60, 30.0, seed=seed, max_out=200))
    np.testing.assert_array_equal(a.finish_s, b.finish_s)
    done = ~a.rejected
    assert np.all(np.isfinite(a.finish_s[done]))  # nobody lost, even with preemptions
    assert a.kv_cache_peak_frac <= 1.0
    # every decode step emits one token per running sequence: decode-seq steps add up
    tl = a.timeline
    decode_tokens = float((tl.decode_seqs * tl.num_steps).sum())
    outputs = float(a.output_tokens[done].sum())
    prefills = int(done.sum()) + int(a.num_preemptions.sum())
    # each prefill completion emits one token; recomputed tokens are re-emitted by decodes
    assert decode_tokens + prefills >= outputs


def test_simulate_a_deployment_with_replicas_and_energy() -> None:
    dep = deployment().replace(num_accelerators=2)
    trace = synthetic(300, 10.0, seed=5)
    res = c2g.simulate(dep, trace)
    s = res.summary(ttft_slo_s=1.0, tpot_slo_s=0.05)
    assert len(res.replicas) == 2 and s["num_requests"] == 300
    assert res.output_tokens_done == int(trace.output_tokens.sum())
    acc = dep.accelerator
    power = s["mean_accelerator_power_w"]
    assert isinstance(power, float) and acc.idle_power_w <= power <= acc.tdp_w
    assert s["system_energy_j"] > s["accelerator_energy_j"] > 0  # type: ignore[operator]
    assert 0 < s["goodput_requests_per_s"] <= s["requests_per_s"]  # type: ignore[operator]


def test_engine_config_takes_the_kv_cache_from_the_memory_plan() -> None:
    dep = deployment()
    cfg = c2g.engine_config_for(dep, block_size=16)
    plan = c2g.perf.memory_plan(dep, c2g.get_engine(dep.engine))
    assert cfg.num_gpu_blocks == int(plan.kv_cache_tokens // 16)
    with pytest.raises(c2g.InvalidParameterError, match="gpu_memory_utilization"):
        c2g.engine_config_for(dep, gpu_memory_utilization=1.5)
    with pytest.raises(c2g.InvalidParameterError, match="block_size"):
        EngineConfig(block_size=0)
    with pytest.raises(c2g.InvalidParameterError, match="kv_reservation"):
        EngineConfig(kv_reservation="sometimes")


# --- preemption by swap -------------------------------------------------------------------
KV_BYTES_PER_TOKEN = 65_536.0  # llama-3.1-8b, FP8 KV: 32 layers x 8 KV heads x 128 x 2 x 1 B


def swap_config(mode: str, swap_space_bytes: float = 4e9) -> EngineConfig:
    return EngineConfig(
        max_num_seqs=64,
        max_num_batched_tokens=4096,
        num_gpu_blocks=600,
        preemption_mode=mode,
        kv_bytes_per_token=KV_BYTES_PER_TOKEN,
        swap_space_bytes=swap_space_bytes,
    )


def emitted_tokens(r: c2g.serving.SimulationResult) -> float:
    return float((r.timeline.decode_seqs * r.timeline.num_steps).sum())


def test_swap_and_recompute_both_conserve_tokens_and_swap_pays_transfer_time() -> None:
    trace = synthetic(300, 40.0)
    rec = Simulator(timer(swap_config("recompute")), swap_config("recompute")).run(trace)
    cfg = swap_config("swap")
    swp = Simulator(timer(cfg), cfg).run(trace)
    for r in (rec, swp):
        assert not r.rejected.any() and np.all(np.isfinite(r.finish_s))
        assert r.num_preemptions.sum() > 0
    # every preemption swapped: each prompt prefilled once, each output token emitted once
    assert swp.num_swaps.sum() == swp.num_preemptions.sum()
    assert swp.timeline.prefill_tokens.sum() == trace.input_tokens.sum()
    assert emitted_tokens(swp) + trace.num_requests == trace.output_tokens.sum()
    # recompute prefills again what it dropped, and emits nothing twice
    assert rec.num_swaps.sum() == 0 and rec.swap_transfer_s == 0.0
    assert rec.timeline.prefill_tokens.sum() > trace.input_tokens.sum()
    assert emitted_tokens(rec) + trace.num_requests <= trace.output_tokens.sum()
    # transfers: one out and one in per swap, whole blocks over the host link, engine stalled
    copies = swp.timeline.num_steps == 0
    assert copies.sum() == 2 * swp.num_swaps.sum()
    block_s = cfg.block_size * KV_BYTES_PER_TOKEN / cfg.swap_bandwidth_bytes_per_s
    blocks = swp.timeline.duration_s[copies] / block_s
    np.testing.assert_allclose(blocks, np.round(blocks), rtol=1e-9)
    assert swp.swap_transfer_s == pytest.approx(swp.timeline.duration_s[copies].sum(), rel=1e-12)
    assert swp.swap_transfer_s >= 2 * swp.num_swaps.sum() * block_s
    assert swp.timeline.duration_s.sum() == pytest.approx(swp.busy_s, rel=1e-12)


def test_swap_space_bounds_swapping() -> None:
    trace = synthetic(300, 40.0)
    rec_cfg = swap_config("recompute")
    rec = Simulator(timer(rec_cfg), rec_cfg).run(trace)
    none = Simulator(timer(rec_cfg), swap_config("swap", 1e6)).run(trace)  # < one block
    assert none.num_swaps.sum() == 0
    np.testing.assert_array_equal(none.finish_s, rec.finish_s)
    some = Simulator(timer(rec_cfg), swap_config("swap", 8e7)).run(trace)  # ~1,200 tokens
    assert 0 < some.num_swaps.sum() < some.num_preemptions.sum()
    assert np.all(np.isfinite(some.finish_s))


def test_event_jump_equals_step_by_step_with_swap() -> None:
    trace = synthetic(150, 40.0)
    cfg = swap_config("swap")
    fast = Simulator(timer(cfg), cfg).run(trace)
    slow = Simulator(timer(cfg), cfg, step_by_step=True).run(trace)
    assert fast.num_steps == slow.num_steps and fast.num_swaps.sum() > 0
    np.testing.assert_array_equal(fast.num_swaps, slow.num_swaps)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    assert fast.swap_transfer_s == pytest.approx(slow.swap_transfer_s, rel=1e-12)


def test_swap_settings_are_checked() -> None:
    with pytest.raises(c2g.InvalidParameterError, match="preemption_mode"):
        EngineConfig(preemption_mode="pause")
    with pytest.raises(c2g.InvalidParameterError, match="kv_bytes_per_token"):
        Simulator(timer(EngineConfig()), EngineConfig(preemption_mode="swap")).run(synthetic(3, 1))
    cfg = c2g.engine_config_for(deployment(), preemption_mode="swap")
    assert cfg.kv_bytes_per_token == KV_BYTES_PER_TOKEN and cfg.swap_space_bytes == 4 * 2**30


# --- speculative decoding -----------------------------------------------------------------
def speculative_run(
    trace: RequestTrace, spec: c2g.SpeculativeDecoding, seed: int = 0, **kw: object
) -> c2g.serving.SimulationResult:
    cfg = EngineConfig(max_num_seqs=64, speculative=spec, seed=seed, **kw)  # type: ignore[arg-type]
    dep = deployment()
    draft = dep.replace(model=spec.draft_architecture(dep.model), ep=1)
    draft_timer = StepTimer(
        rank_shape(draft, calibration_for("hopper", "tensorrt-llm")),
        max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs,
        max_seqs=cfg.max_num_seqs,
    )
    return Simulator(timer(cfg), cfg, draft_timer=draft_timer).run(trace)


@pytest.mark.parametrize(("k", "alpha"), [(1, 0.6), (3, 0.7), (5, 0.85)])
def test_speculative_tokens_per_step_match_the_acceptance_model(k: int, alpha: float) -> None:
    rng = np.random.default_rng(4)
    n = 60
    trace = RequestTrace(
        arrival_s=poisson_arrivals(20.0, n, rng),
        input_tokens=rng.integers(16, 1024, n),
        output_tokens=rng.integers(2000, 4000, n),
    )
    spec = c2g.SpeculativeDecoding(num_speculative_tokens=k, acceptance_rate=alpha)
    r = speculative_run(trace, spec)
    assert np.all(np.isfinite(r.finish_s)) and r.num_preemptions.sum() == 0
    seq_steps = float((r.timeline.decode_seqs * r.timeline.num_steps).sum())
    # tokens out = tokens in: one per prefill, the rest from verification steps
    emitted = r.speculative_tokens_per_step * seq_steps
    assert emitted + n == pytest.approx(float(trace.output_tokens.sum()), rel=1e-12)
    # tokens per step T = 1 + min(G, k), G geometric: E[T] = (1 - a^(k+1)) / (1 - a)
    expected = c2g.perf.expected_tokens_per_step(alpha, k)
    t = np.arange(1, k + 2)
    p = np.append((1 - alpha) * alpha ** (t[:-1] - 1), alpha**k)
    assert float((t * p).sum()) == pytest.approx(expected, rel=1e-12)
    se = float(np.sqrt(((t - expected) ** 2 * p).sum() / seq_steps))
    truncation = k * n / seq_steps  # each request's last step may be cut by its length
    assert expected - 4 * se - truncation <= r.speculative_tokens_per_step <= expected + 4 * se


def test_speculative_decoding_is_seeded_and_conserves_tokens_under_preemption() -> None:
    trace = synthetic(150, 40.0)
    spec = c2g.SpeculativeDecoding(num_speculative_tokens=2, acceptance_rate=0.7)
    for mode in ("recompute", "swap"):
        kw = dict(num_gpu_blocks=600, preemption_mode=mode, kv_bytes_per_token=KV_BYTES_PER_TOKEN)
        a = speculative_run(trace, spec, seed=1, **kw)
        b = speculative_run(trace, spec, seed=1, **kw)
        c = speculative_run(trace, spec, seed=2, **kw)
        np.testing.assert_array_equal(a.finish_s, b.finish_s)
        assert not np.array_equal(a.finish_s, c.finish_s)
        assert a.num_preemptions.sum() > 0 and np.all(np.isfinite(a.finish_s))
        assert 1.0 < a.speculative_tokens_per_step <= 3.0
        if mode == "swap":
            assert a.num_swaps.sum() == a.num_preemptions.sum()
            seq_steps = float((a.timeline.decode_seqs * a.timeline.num_steps).sum())
            emitted = a.speculative_tokens_per_step * seq_steps
            assert emitted + 150 == pytest.approx(float(trace.output_tokens.sum()), rel=1e-12)
    always = speculative_run(
        trace, c2g.SpeculativeDecoding(num_speculative_tokens=3, acceptance_rate=1.0)
    )
    # every draft accepted: 4 tokens a step, except where a request's last step is cut short
    assert 3.5 < always.speculative_tokens_per_step <= 4.0
    seq_steps = float((always.timeline.decode_seqs * always.timeline.num_steps).sum())
    assert seq_steps == float(np.ceil((always.output_tokens - 1) / 4).sum())
    with pytest.raises(c2g.InvalidParameterError, match="draft_timer"):
        cfg = EngineConfig(speculative=c2g.SpeculativeDecoding())
        Simulator(timer(cfg), cfg).run(trace)


def test_a_request_within_the_watermark_of_the_whole_cache_is_served() -> None:
    # needs 998 of 1,000 blocks: more than the cache less vLLM's 1 % watermark, so it used to
    # wait forever; an idle engine now takes it
    trace = RequestTrace(
        arrival_s=np.array([0.0, 1.0]),
        input_tokens=np.array([15_900, 100]),
        output_tokens=np.array([50, 10]),
    )
    cfg = EngineConfig(num_gpu_blocks=1000)
    r = Simulator(timer(cfg), cfg).run(trace)
    assert not r.rejected.any() and np.all(np.isfinite(r.finish_s))


# --- the fast paths of the step timer are the same arithmetic ------------------------------
@pytest.mark.parametrize("launch_s", [0.0, LAUNCH_S])
@pytest.mark.parametrize("model", ["llama-3.1-8b", "mixtral-8x7b", "gemma-2-9b", "deepseek-v3"])
def test_step_timer_fast_paths_equal_the_general_ones_exactly(model: str, launch_s: float) -> None:
    """decode_run_until steps one at a time with decode_run_s's array arithmetic, and
    mixed_step_s is total_s for integer counts: both must give the very same numbers."""
    tp = 8 if model == "deepseek-v3" else 1
    t = StepTimer(shape(model, tp, launch_s), max_tokens=4096, max_seqs=256)
    rng = np.random.default_rng(7)
    for _ in range(40):
        b = int(rng.integers(1, 256))
        ctx0 = float(rng.uniform(1, 9000)) + 0.5 * int(rng.integers(0, 2))
        steps = int(rng.integers(1, 200))
        cum = np.cumsum(t.decode_run_s(b, ctx0, steps))
        limit = float(rng.uniform(0.2, 1.2) * cum[-1])
        k = max(1, min(steps, int(np.searchsorted(cum, limit, side="left")) + 1))
        assert t.decode_run_until(b, ctx0, steps, limit) == (k, float(cum[k - 1]))
        assert t.decode_run_until(b, ctx0, steps, np.inf) == (steps, float(cum[-1]))
        pt, ps = int(rng.integers(1, 3000)), int(rng.integers(1, 4))
        pc = float(rng.uniform(1, 4000))
        for ds in (0, b):
            dc = ctx0 if ds else 0.0
            exact = t.total_s(float(pt), float(ps), pc, float(ds), dc)
            assert t.mixed_step_s(pt, ps, pc, ds, dc) == exact


@pytest.mark.parametrize("chunked", [True, False])
def test_reserved_loop_equals_the_general_loop_exactly(chunked: bool) -> None:
    """Full reservation runs a dedicated loop; it must reproduce the general one bit for bit."""
    from chip2grid.serving.simulator import _Run

    cfg = EngineConfig(
        max_num_seqs=48,
        num_gpu_blocks=900,
        max_num_batched_tokens=2048,
        kv_reservation="full",
        enable_chunked_prefill=chunked,
    )
    trace = synthetic(1500, 30.0, seed=3)
    runs = []
    for fast in (True, False):
        run = _Run(timer(cfg), cfg, trace, step_by_step=False)
        assert run.reserved_loop
        run.reserved_loop = fast
        runs.append(run.result())
    a, b = runs
    for name in ("scheduled_s", "first_token_s", "finish_s", "num_preemptions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("start_s", "duration_s", "num_steps", "decode_context", "kv_tokens"):
        np.testing.assert_array_equal(getattr(a.timeline, name), getattr(b.timeline, name))
    assert (a.num_steps, a.busy_s, a.kv_cache_peak_frac) == (
        b.num_steps,
        b.busy_s,
        b.kv_cache_peak_frac,
    )
    assert a.timeline.num_steps.max() > SCALAR_JUMP_STEPS  # array-evaluated runs included


def test_pipeline_parallel_runs_take_the_array_path_with_the_same_results() -> None:
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=2,
        tp=1,
        pp=2,
        weight_precision="fp8",
        kv_precision="fp8",
        engine="tensorrt-llm",
    )
    shape = rank_shape(dep, calibration_for(dep.accelerator.family, "tensorrt-llm"))
    assert not StepTimer(shape, max_tokens=8192, max_seqs=256).tabulated
    rng = np.random.default_rng(3)
    trace = RequestTrace(
        arrival_s=poisson_arrivals(4.0, 300, rng),
        input_tokens=rng.integers(100, 2000, 300),
        output_tokens=rng.integers(10, 300, 300),
    )
    fast = c2g.simulate(dep, trace)
    exact = c2g.simulate(dep, trace, step_by_step=True)
    np.testing.assert_allclose(fast.ttft_s, exact.ttft_s, rtol=1e-9)
    np.testing.assert_allclose(fast.e2e_latency_s, exact.e2e_latency_s, rtol=1e-9)


def test_kernel_launches_show_only_where_they_outlast_the_device() -> None:
    """The host's per-layer launches overlap the device's work: a small step takes the launch
    time plus the serial host work, a large one its device time plus the serial host work."""
    base, slow = shape(), shape(launch_s=LAUNCH_S)
    launch = LAUNCH_S * float(base.num_layers)
    serial = float(base.step_overhead_s) + float(base.per_sequence_overhead_s) * np.array([1, 256])
    batch = c2g.StepBatch.decode(np.array([1.0, 256.0]), 1000.0)
    # the calibrated launches (tiny) are hidden at both sizes
    device = c2g.step_time(base, batch).total_s - serial
    assert device[0] < launch < device[1]
    got = c2g.step_time(slow, batch)
    np.testing.assert_allclose(got.total_s, serial + np.maximum(device, launch), rtol=1e-9)
    np.testing.assert_allclose(got.overhead_s, serial + np.maximum(launch - device, 0.0), rtol=1e-9)
    t = StepTimer(slow, max_tokens=4096, max_seqs=256)
    assert t.decode_coefficients(1) is None  # the launches show: no linear form
    assert t.decode_coefficients(256) is not None
    assert t.decode_step_s(1, 1000.0) == pytest.approx(float(got.total_s[0]), rel=1e-12)
    assert t.launch_bound_s(1.0) == pytest.approx(float(got.total_s[0]), rel=1e-12)
