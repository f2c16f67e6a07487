"""Speculative decoding on the simulator's fast path: decode runs jump between events, with the
acceptance draws made per sequence when it joins the batch; checked against the step-by-step
mode (same draws, same steps), the step timer, and the acceptance model."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import RequestTrace, poisson_arrivals
from chip2grid.serving.simulator import (
    SCALAR_JUMP_STEPS,
    AcceptanceDraws,
    EngineConfig,
    SimulationResult,
    Simulator,
    VerifyStepTimer,
    accepted_drafts,
)

KV_BYTES_PER_TOKEN = 65_536.0  # llama-3.1-8b, FP8 KV: 32 layers x 8 KV heads x 128 x 2 x 1 B


def deployment(model: str = "llama-3.1-8b", tp: int = 1) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model(model),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=tp,
        tp=tp,
        weight_precision="fp8",
        kv_precision="fp8",
    )


def timers(
    spec: c2g.SpeculativeDecoding,
    cfg: EngineConfig,
    model: str = "llama-3.1-8b",
    tp: int = 1,
    launch_s: float = 0.0,
) -> tuple[StepTimer, StepTimer]:
    """Step timers of the target and its draft; ``launch_s`` > 0 sets a host launch time per
    layer that small steps' device work does not hide."""
    dep = deployment(model, tp)
    cal = calibration_for("hopper", "tensorrt-llm")
    if launch_s:
        cal = dataclasses.replace(
            cal, engine=dataclasses.replace(cal.engine, per_layer_overhead_s=launch_s)
        )
    draft = dep.replace(model=spec.draft_architecture(dep.model), ep=1)
    size = dict(max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs, max_seqs=cfg.max_num_seqs)
    return StepTimer(rank_shape(dep, cal), **size), StepTimer(rank_shape(draft, cal), **size)


def trace(n: int, rate: float, seed: int = 0, max_out: int = 600) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 2048, n),
        output_tokens=rng.integers(1, max_out, n),
    )


def run(
    tr: RequestTrace, cfg: EngineConfig, step_by_step: bool = False, model: str = "llama-3.1-8b"
) -> SimulationResult:
    assert cfg.speculative is not None
    timer, draft = timers(cfg.speculative, cfg, model)
    return Simulator(timer, cfg, step_by_step=step_by_step, draft_timer=draft).run(tr)


@pytest.mark.parametrize(
    ("model", "tp", "method", "launch_s"),
    [
        ("llama-3.1-8b", 1, "mtp", 0.0),
        ("gemma-2-9b", 1, "mtp", 0.0),  # sliding-window layers
        ("deepseek-v3", 8, "mtp", 0.0),  # MLA and MoE
        ("llama-3.1-70b", 8, "draft", 0.0),  # a separate draft model
        ("llama-3.1-8b", 1, "mtp", 150e-6),  # launches that small steps do not hide
        ("llama-3.1-70b", 8, "draft", 150e-6),
    ],
)
def test_verify_step_timer_equals_the_step_timer(
    model: str, tp: int, method: str, launch_s: float
) -> None:
    k = 3
    spec = c2g.SpeculativeDecoding(
        method=method,  # type: ignore[arg-type]
        num_speculative_tokens=k,
        draft_model=c2g.get_model("llama-3.2-1b") if method == "draft" else None,
    )
    cfg = EngineConfig(max_num_seqs=256, max_num_batched_tokens=8192)
    timer, draft = timers(spec, cfg, model, tp, launch_s)
    verify = VerifyStepTimer(timer, draft, k)
    rng = np.random.default_rng(0)
    for _ in range(150):
        b = int(rng.integers(1, 256))
        ctx = float(rng.uniform(1, 30_000))
        want = timer.total_s(0.0, 0.0, 0.0, float(b), ctx, k + 1.0) + k * draft.decode_step_s(
            b, ctx
        )
        assert verify.step_s(b, ctx) == pytest.approx(want, rel=1e-12)
        tokens = int(rng.integers(1, 4000))
        seqs = int(rng.integers(1, 4))
        p_ctx = float(rng.uniform(1, 8000))
        want = timer.total_s(
            float(tokens), float(seqs), p_ctx, float(b), ctx, k + 1.0
        ) + k * draft.decode_step_s(b, ctx)
        assert verify.mixed_s(tokens, seqs, p_ctx, b, ctx) == pytest.approx(want, rel=1e-12)
        # the array form repeats the scalar arithmetic exactly
        contexts = ctx + np.arange(5) * 2.5
        assert verify.run_s(b, contexts).tolist() == [verify.step_s(b, c) for c in contexts]


@pytest.mark.parametrize(("a", "k"), [(0.6, 1), (0.8, 4), (0.0, 2), (1.0, 3)])
def test_acceptance_draws_follow_the_acceptance_model(a: float, k: int) -> None:
    draws = AcceptanceDraws(np.random.default_rng(1), a, k)
    sched = draws.schedule(200_000)
    _, drafts, pos, steps, _ = sched
    x = drafts[pos : pos + steps - 1]  # the last step is cut at the length
    counts = np.bincount(x, minlength=k + 1)
    p = np.array([a**j * (1 - a) for j in range(k)] + [a**k])  # P(x = j)
    expected = p * len(x)
    se = np.sqrt(expected * (1 - p))
    assert np.all(np.abs(counts - expected) <= 4 * se + 1e-9)
    # the schedule emits exactly the tokens asked for
    assert steps + accepted_drafts(sched, steps) == 200_000
    assert accepted_drafts(sched, 0) == 0


SPEC = c2g.SpeculativeDecoding(num_speculative_tokens=2, acceptance_rate=0.7)


@pytest.mark.parametrize(
    ("rate", "blocks", "reservation", "mode", "chunked"),
    [
        (4.0, 20_000, "on_demand", "recompute", True),  # light load: runs cut by arrivals
        (40.0, 20_000, "full", "recompute", True),
        (40.0, 20_000, "full", "recompute", False),
        (40.0, 700, "on_demand", "recompute", True),  # a small cache: preemptions
        (40.0, 700, "on_demand", "swap", False),
    ],
)
def test_event_jump_equals_step_by_step(
    rate: float, blocks: int, reservation: str, mode: str, chunked: bool
) -> None:
    tr = trace(160, rate, seed=2)
    cfg = EngineConfig(
        max_num_seqs=48,
        max_num_batched_tokens=2048,
        num_gpu_blocks=blocks,
        kv_reservation=reservation,
        preemption_mode=mode,
        enable_chunked_prefill=chunked,
        kv_bytes_per_token=KV_BYTES_PER_TOKEN,
        speculative=SPEC,
        seed=5,
    )
    fast = run(tr, cfg)
    slow = run(tr, cfg, step_by_step=True)
    assert fast.num_steps == slow.num_steps
    assert fast.speculative_tokens_per_step == slow.speculative_tokens_per_step
    np.testing.assert_array_equal(fast.num_preemptions, slow.num_preemptions)
    np.testing.assert_array_equal(fast.num_swaps, slow.num_swaps)
    np.testing.assert_allclose(fast.scheduled_s, slow.scheduled_s, rtol=1e-9)
    np.testing.assert_allclose(fast.first_token_s, slow.first_token_s, rtol=1e-9)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    assert fast.kv_cache_peak_frac == slow.kv_cache_peak_frac
    assert int(slow.timeline.num_steps.max()) == 1
    assert int(fast.timeline.num_steps.max()) > SCALAR_JUMP_STEPS  # array-evaluated runs too
    assert len(fast.timeline.num_steps) < len(slow.timeline.num_steps) / 2
    if blocks == 700:
        assert fast.num_preemptions.sum() > 0
    # tokens out = tokens in: one per prefill, the rest from verification steps
    seq_steps = float((fast.timeline.decode_seqs * fast.timeline.num_steps).sum())
    emitted = fast.speculative_tokens_per_step * seq_steps
    first_tokens = tr.num_requests + int(fast.num_preemptions.sum()) - int(fast.num_swaps.sum())
    assert emitted + first_tokens == pytest.approx(float(tr.output_tokens.sum()), rel=1e-12)


def test_routed_engines_draw_the_same_tokens() -> None:
    """Engines fed request by request (a router) split decode runs at every arrival; the
    draws are per sequence, so the results are those of one simulation of the trace."""
    dep = deployment()
    tr = trace(150, 10.0, seed=3)
    cfg = c2g.engine_config_for(dep, speculative=SPEC, seed=3)
    whole = c2g.simulate(dep, tr, config=cfg)
    routed = c2g.simulate(dep, tr, config=cfg, router="least-outstanding")
    assert routed.speculative_tokens_per_step == whole.speculative_tokens_per_step
    np.testing.assert_allclose(routed.ttft_s, whole.ttft_s, rtol=1e-9)
    np.testing.assert_allclose(routed.e2e_latency_s, whole.e2e_latency_s, rtol=1e-9)


def test_every_draft_accepted_takes_the_fewest_steps() -> None:
    tr = trace(100, 20.0, seed=4)
    cfg = EngineConfig(
        max_num_seqs=64,
        kv_reservation="full",
        speculative=c2g.SpeculativeDecoding(num_speculative_tokens=3, acceptance_rate=1.0),
    )
    r = run(tr, cfg)
    seq_steps = float((r.timeline.decode_seqs * r.timeline.num_steps).sum())
    assert seq_steps == float(np.ceil((tr.output_tokens - 1) / 4).sum())
    assert r.speculative_tokens_per_step > 3.5


@pytest.mark.parametrize("chunked", [True, False])
def test_reserved_loop_equals_the_general_loop_exactly(chunked: bool) -> None:
    """Speculative runs with reserved KV take the dedicated loop; bit for bit the general one."""
    from chip2grid.serving.simulator import _Run

    cfg = EngineConfig(
        max_num_seqs=48,
        max_num_batched_tokens=2048,
        num_gpu_blocks=3000,
        kv_reservation="full",
        enable_chunked_prefill=chunked,
        speculative=SPEC,
    )
    timer, draft = timers(SPEC, cfg)
    tr = trace(600, 25.0, seed=6)
    runs = []
    for fast in (True, False):
        r = _Run(timer, cfg, tr, step_by_step=False, draft_timer=draft)
        assert r.reserved_loop
        r.reserved_loop = fast
        runs.append(r.result())
    a, b = runs
    for name in ("scheduled_s", "first_token_s", "finish_s"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("start_s", "duration_s", "num_steps", "decode_context", "kv_tokens"):
        np.testing.assert_array_equal(getattr(a.timeline, name), getattr(b.timeline, name))
    assert (a.num_steps, a.busy_s, a.speculative_tokens_per_step) == (
        b.num_steps,
        b.busy_s,
        b.speculative_tokens_per_step,
    )
    assert a.timeline.num_steps.max() > SCALAR_JUMP_STEPS


def test_static_batches_with_speculative_decoding_jump_too() -> None:
    tr = trace(200, 30.0, seed=7)
    cfg = EngineConfig(
        max_num_seqs=16,
        max_num_batched_tokens=4096,
        kv_reservation="full",
        batching="static",
        static_batch_timeout_s=0.05,
        speculative=SPEC,
    )
    fast = run(tr, cfg)
    slow = run(tr, cfg, step_by_step=True)
    assert fast.num_steps == slow.num_steps
    assert fast.speculative_tokens_per_step == slow.speculative_tokens_per_step
    np.testing.assert_allclose(fast.scheduled_s, slow.scheduled_s, rtol=1e-9)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    assert len(fast.timeline.num_steps) < len(slow.timeline.num_steps) / 4
    # batches: nobody is admitted while another batch still runs
    starts = np.unique(fast.scheduled_s)
    for t0, t1 in itertools.pairwise(starts):
        batch = fast.scheduled_s == t0
        assert t1 >= fast.finish_s[batch].max()
