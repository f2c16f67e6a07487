"""Static batching in the serving simulator: batches run to their last request, checked against
the analytical static batch (perf.static_batching / estimate mode static), step by step, and
for conservation, Little's law and the batch rules."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import RequestTrace, poisson_arrivals
from chip2grid.serving.simulator import EngineConfig, SimulationResult, Simulator, _Run


def deployment(engine: str = "tensorrt-llm-static") -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="fp8",
        kv_precision="fp8",
        engine=engine,
    )


def timer(cfg: EngineConfig) -> StepTimer:
    shape = rank_shape(deployment(), calibration_for("hopper", "tensorrt-llm"))
    return StepTimer(
        shape, max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs, max_seqs=cfg.max_num_seqs
    )


def static_config(**kw: object) -> EngineConfig:
    base: dict[str, object] = dict(
        max_num_seqs=16,
        max_num_batched_tokens=4096,
        num_gpu_blocks=4000,
        kv_reservation="full",
        batching="static",
    )
    base.update(kw)
    return EngineConfig(**base)  # type: ignore[arg-type]


def poisson(n: int, rate: float, seed: int = 0) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 2048, n),
        output_tokens=rng.integers(1, 300, n),
    )


def batches(r: SimulationResult) -> list[np.ndarray]:
    """Requests grouped by the time they were admitted (one group per static batch)."""
    done = np.flatnonzero(~r.rejected)
    starts = np.unique(r.scheduled_s[done])
    return [done[r.scheduled_s[done] == t] for t in starts]


@pytest.mark.parametrize(("batch", "isl", "osl"), [(8, 512, 256), (32, 1024, 128), (64, 128, 512)])
def test_static_batches_match_the_analytical_static_batch(batch: int, isl: int, osl: int) -> None:
    """All requests queued at t = 0, fixed lengths: the simulator's throughput and TPOT are
    those of perf.static_batching (via estimate's static mode) within 2 %: the analytical
    model sums the decode steps by quadrature, the simulator step by step."""
    dep = deployment()
    n = 3 * batch
    trace = RequestTrace(
        arrival_s=np.zeros(n),
        input_tokens=np.full(n, isl),
        output_tokens=np.full(n, osl),
    )
    cfg = c2g.engine_config_for(dep, max_num_seqs=batch, batching="static")
    assert cfg.kv_reservation == "full" and not cfg.enable_chunked_prefill
    res = c2g.simulate(dep, trace, config=cfg)
    est = c2g.estimate(
        dep,
        c2g.Workload(input_tokens=isl, output_tokens=osl),
        c2g.Load(mode="static", batch_size=batch),
    )
    r = res.replicas[0]
    assert [len(b) for b in batches(r)] == [batch] * 3
    assert res.summary()["output_tokens_per_s"] == pytest.approx(est.output_tokens_per_s, rel=0.02)
    assert float(np.nanmean(r.tpot_s)) == pytest.approx(est.tpot_s_mean, rel=0.02)
    # a batch's prompts run in one step, so its requests share their first-token time
    first = batches(r)[0]
    assert np.ptp(r.first_token_s[first]) == 0.0
    assert r.first_token_s[first][0] == pytest.approx(est.ttft_s_mean, rel=0.02)


@pytest.mark.parametrize(
    ("chunked", "timeout_s", "blocks"),
    [(True, 0.0, 4000), (False, 0.0, 4000), (True, 0.05, 4000), (False, 0.2, 900)],
)
def test_event_jump_equals_step_by_step(chunked: bool, timeout_s: float, blocks: int) -> None:
    trace = poisson(300, 30.0, seed=1)
    cfg = static_config(
        enable_chunked_prefill=chunked, static_batch_timeout_s=timeout_s, num_gpu_blocks=blocks
    )
    fast = Simulator(timer(cfg), cfg).run(trace)
    slow = Simulator(timer(cfg), cfg, step_by_step=True).run(trace)
    assert fast.num_steps == slow.num_steps
    assert int(slow.timeline.num_steps.max()) == 1 < int(fast.timeline.num_steps.max())
    np.testing.assert_array_equal(fast.output_tokens, slow.output_tokens)
    np.testing.assert_allclose(fast.scheduled_s, slow.scheduled_s, rtol=1e-9)
    np.testing.assert_allclose(fast.first_token_s, slow.first_token_s, rtol=1e-9)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    assert fast.busy_s == pytest.approx(slow.busy_s, rel=1e-9)


@pytest.mark.parametrize("chunked", [True, False])
def test_reserved_loop_equals_the_general_loop_exactly(chunked: bool) -> None:
    cfg = static_config(enable_chunked_prefill=chunked, static_batch_timeout_s=0.1)
    trace = poisson(400, 25.0, seed=2)
    runs = []
    for fast in (True, False):
        run = _Run(timer(cfg), cfg, trace, step_by_step=False)
        assert run.reserved_loop
        run.reserved_loop = fast
        runs.append(run.result())
    a, b = runs
    for name in ("scheduled_s", "first_token_s", "finish_s"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.timeline.duration_s, b.timeline.duration_s)
    assert (a.num_steps, a.busy_s) == (b.num_steps, b.busy_s)


def test_batches_run_to_their_last_request_and_conserve_tokens() -> None:
    trace = poisson(500, 20.0, seed=3)
    cfg = static_config()
    r = Simulator(timer(cfg), cfg).run(trace)
    assert not r.rejected.any() and np.all(np.isfinite(r.finish_s))  # no request lost
    groups = batches(r)
    assert sum(len(g) for g in groups) == trace.num_requests
    assert max(len(g) for g in groups) == cfg.max_num_seqs  # the queue fills some batches
    assert min(len(g) for g in groups) < cfg.max_num_seqs  # an idle engine takes what is queued
    for prev, cur in itertools.pairwise(groups):
        # nobody joins a running batch: the next starts when the last of this one finishes
        assert r.scheduled_s[cur][0] == pytest.approx(r.finish_s[prev].max(), rel=1e-12)
        # and it takes every request queued by then, first come first served
        queued = np.flatnonzero(r.arrival_s <= r.scheduled_s[cur][0])
        waiting = queued[r.scheduled_s[queued] >= r.scheduled_s[cur][0]]
        assert list(cur) == list(waiting[: cfg.max_num_seqs])
    # tokens in = tokens out: one from each prefill, one per decode step and sequence
    decode = r.timeline.prefill_tokens == 0
    seq_steps = float((r.timeline.decode_seqs * r.timeline.num_steps)[decode].sum())
    mixed = float(r.timeline.decode_seqs[~decode].sum())
    assert seq_steps + mixed + trace.num_requests == float(trace.output_tokens.sum())
    assert float(r.timeline.prefill_tokens.sum()) == float(trace.input_tokens.sum())
    # Little's law: time-average number in system = throughput x mean time in system
    horizon = float(r.finish_s.max())
    grid = np.linspace(0.0, horizon, 20_001)
    in_system = ((r.arrival_s[:, None] <= grid) & (r.finish_s[:, None] > grid)).sum(axis=0).mean()
    assert in_system == pytest.approx(trace.num_requests / horizon * r.e2e_latency_s.mean(), 0.02)


def test_static_batching_waits_longer_than_continuous_batching() -> None:
    trace = poisson(400, 15.0, seed=4)
    static = Simulator(timer(static_config()), static_config()).run(trace)
    cont_cfg = static_config(batching="continuous")
    cont = Simulator(timer(cont_cfg), cont_cfg).run(trace)
    assert np.mean(static.queue_wait_s) > 2 * np.mean(cont.queue_wait_s)
    assert np.mean(static.e2e_latency_s) > np.mean(cont.e2e_latency_s)


def test_the_timeout_waits_for_a_fuller_batch() -> None:
    arrivals = np.array([0.0, 0.01, 0.02, 0.5, 0.51])
    trace = RequestTrace(
        arrival_s=arrivals,
        input_tokens=np.full(5, 100),
        output_tokens=np.full(5, 20),
    )
    cfg = static_config(max_num_seqs=3, static_batch_timeout_s=0.1)
    r = Simulator(timer(cfg), cfg).run(trace)
    # three requests fill the batch at 0.02 s, before the timeout; the next two wait 0.1 s
    # after the first of them arrived (the engine is idle by then), then go as a batch of two
    np.testing.assert_allclose(r.scheduled_s, [0.02, 0.02, 0.02, 0.6, 0.6], rtol=1e-12)
    # without the timeout the first request goes alone, and the next two wait for it
    plain = Simulator(timer(static_config(max_num_seqs=3)), static_config(max_num_seqs=3))
    q = plain.run(trace)
    assert q.scheduled_s[0] == 0.0
    assert q.scheduled_s[1] == q.scheduled_s[2] == q.finish_s[0]


def test_a_batch_is_cut_where_its_reserved_kv_cache_is_full() -> None:
    n = 40
    trace = RequestTrace(
        arrival_s=np.zeros(n), input_tokens=np.full(n, 1000), output_tokens=np.full(n, 600)
    )
    cfg = static_config(max_num_seqs=32, num_gpu_blocks=1000, block_size=16)
    r = Simulator(timer(cfg), cfg).run(trace)
    per_request = -(-1600 // 16)
    sizes = [len(g) for g in batches(r)]
    assert sizes == [1000 // per_request] * 4  # 10 fit of the 32 the batch size allows
    assert r.kv_cache_peak_frac <= 1.0 and r.num_preemptions.sum() == 0


def test_static_batching_settings_are_checked() -> None:
    with pytest.raises(c2g.InvalidParameterError, match="batching"):
        EngineConfig(batching="dynamic")
    with pytest.raises(c2g.InvalidParameterError, match="kv_reservation"):
        EngineConfig(batching="static", kv_reservation="on_demand")
    with pytest.raises(c2g.InvalidParameterError, match="static_batch_timeout_s"):
        static_config(static_batch_timeout_s=-1.0)


def test_routed_engines_give_the_same_static_batches() -> None:
    """The router drives engines request by request; one replica reproduces Simulator.run."""
    dep = deployment()
    trace = poisson(200, 20.0, seed=5)
    cfg = c2g.engine_config_for(dep, max_num_seqs=16, batching="static")
    whole = c2g.simulate(dep, trace, config=cfg)
    routed = c2g.simulate(dep, trace, config=cfg, router="least-outstanding")
    np.testing.assert_allclose(routed.ttft_s, whole.ttft_s, rtol=1e-9)
    np.testing.assert_allclose(routed.e2e_latency_s, whole.e2e_latency_s, rtol=1e-9)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chip2grid", "simulate", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_static_batching() -> None:
    common = ("--model", "llama-3.1-8b", "--num-accelerators", "1", "--tp", "1", "--pp", "1")
    common += ("--ep", "1", "--num-requests", "60", "--request-rate", "20")
    out = cli(*common, "--static-batching", "--batch-size", "8", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["engine"] == "tensorrt-llm-static"
    assert s["engine_config"]["batching"] == "static"
    assert s["engine_config"]["max_num_seqs"] == 8
    assert s["engine_config"]["kv_reservation"] == "full"
    assert s["num_requests"] == 60 and s["num_rejected"] == 0
    err = cli(*common, "--batch-size", "8")  # a batch size without static batching
    assert err.returncode == 2 and "--batch-size" in err.stderr + err.stdout
    assert "Traceback" not in err.stderr
