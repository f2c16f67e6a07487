"""Automatic prefix caching in the serving simulator."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import PrefixCache, RequestTrace, agent_trace, load_trace, poisson_arrivals
from chip2grid.serving.simulator import EngineConfig, SimulationResult, Simulator
from tests.conftest import SHARED

MOONCAKE = SHARED / "traces" / "conversation_trace.jsonl"


def timer(cfg: EngineConfig) -> StepTimer:
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="fp8",
    )
    return StepTimer(
        rank_shape(dep, calibration_for("hopper", "tensorrt-llm")),
        max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs,
        max_seqs=cfg.max_num_seqs,
    )


def run(trace: RequestTrace, cfg: EngineConfig, step_by_step: bool = False) -> SimulationResult:
    return Simulator(timer(cfg), cfg, step_by_step=step_by_step).run(trace)


def reusable_tokens(trace: RequestTrace) -> int:
    """Independent count: leading blocks already seen in an earlier prompt's full blocks."""
    hb = trace.block_tokens
    seen: set[int] = set()
    total = 0
    for hs, isl in zip(trace.prefix_hashes, trace.input_tokens.tolist(), strict=True):
        hit = 0
        for h in hs[: (isl - 1) // hb]:  # the last prompt token is always computed
            if h not in seen:
                break
            hit += 1
        total += hit * hb
        seen.update(hs[: isl // hb])
    return total


def assert_same(a: SimulationResult, b: SimulationResult) -> None:
    for name in ("scheduled_s", "first_token_s", "finish_s", "num_preemptions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.num_steps == b.num_steps and a.busy_s == b.busy_s
    assert a.kv_cache_peak_frac == b.kv_cache_peak_frac
    np.testing.assert_array_equal(a.timeline.duration_s, b.timeline.duration_s)


def random_trace(n: int, rate: float, hashes: bool, seed: int = 0) -> RequestTrace:
    rng = np.random.default_rng(seed)
    isl = rng.integers(16, 3000, n)
    counter = itertools.count()
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=isl,
        output_tokens=rng.integers(1, 300, n),
        prefix_hashes=tuple(tuple(next(counter) for _ in range(-(-i // 64))) for i in isl)
        if hashes
        else (),
        block_tokens=64,
    )


@pytest.mark.parametrize(("blocks", "reservation"), [(100_000, "on_demand"), (800, "full")])
def test_caching_off_or_without_reuse_changes_nothing(blocks: int, reservation: str) -> None:
    cfg = EngineConfig(
        max_num_seqs=64,
        max_num_batched_tokens=2048,
        num_gpu_blocks=blocks,
        kv_reservation=reservation,
    )
    plain = run(random_trace(200, 30.0, hashes=False), cfg)
    hashed = random_trace(200, 30.0, hashes=True)
    assert_same(plain, run(hashed, cfg))  # hashes are ignored when caching is off
    on = run(hashed, dataclasses.replace(cfg, enable_prefix_caching=True))
    assert_same(plain, on)  # all-unique blocks: same block counts, same schedule
    assert on.prefix_cache_hit_frac == 0.0 and not on.cached_tokens.any()
    assert on.num_evicted_blocks > 0 or blocks > 10_000


def test_a_preempted_request_recomputes_only_its_evicted_blocks() -> None:
    cfg = EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048, num_gpu_blocks=600)
    hashed = random_trace(200, 30.0, hashes=True)
    off = run(hashed, cfg)
    on = run(hashed, dataclasses.replace(cfg, enable_prefix_caching=True))
    assert off.num_preemptions.sum() > 0 and on.num_preemptions.sum() > 0
    assert on.prefix_cache_hit_frac == 0.0  # no request shares a block with another
    prefill = on.timeline.prefill_tokens.sum()
    assert prefill < off.timeline.prefill_tokens.sum()  # its own blocks were still cached
    done = ~on.rejected
    assert np.all(np.isfinite(on.finish_s[done]))
    assert prefill >= hashed.input_tokens[done].sum()  # each prompt computed at least once


def test_lru_eviction_in_a_tiny_cache_drops_the_least_recent_tail_first() -> None:
    # 64-token hash blocks = 4 KV blocks of 16; 40 KV blocks hold 10 hash blocks in all
    groups = [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12), (7, 8, 9), (1, 2, 3), (4, 5, 6)]
    groups += [(7, 8, 9)]
    n = len(groups)
    trace = RequestTrace(
        arrival_s=np.arange(n) * 10.0,  # one at a time
        input_tokens=np.full(n, 3 * 64 + 10),
        output_tokens=np.full(n, 2),
        prefix_hashes=tuple((*g, -i - 1) for i, g in enumerate(groups)),
        block_tokens=64,
    )
    cfg = EngineConfig(num_gpu_blocks=40, enable_prefix_caching=True)
    r = run(trace, cfg)
    # request 3 evicts 3,2,1 (released last block first); request 4 finds 7,8,9; request 5
    # evicts 6,5,4 (now least recent) and misses 1,2,3; request 6 misses 4,5,6 and evicts
    # 12,11,10; request 7 finds 7,8,9 (used by request 4, so more recent)
    assert r.cached_tokens.tolist() == [0, 0, 0, 0, 192, 0, 0, 192]
    assert r.num_evicted_blocks == 9
    assert np.all(np.isfinite(r.finish_s))
    big = run(trace, dataclasses.replace(cfg, num_gpu_blocks=4000))
    assert big.cached_tokens.tolist() == [0, 0, 0, 0, 192, 192, 192, 192]
    assert big.num_evicted_blocks == 0
    assert big.prefix_cache_hit_frac == pytest.approx(
        reusable_tokens(trace) / trace.input_tokens.sum()
    )


def test_a_fully_cached_prompt_still_computes_its_last_block() -> None:
    trace = RequestTrace(
        arrival_s=np.array([0.0, 10.0]),
        input_tokens=np.array([192, 192]),
        output_tokens=np.array([3, 3]),
        prefix_hashes=((1, 2, 3), (1, 2, 3)),
        block_tokens=64,
    )
    r = run(trace, EngineConfig(num_gpu_blocks=100, enable_prefix_caching=True))
    assert r.cached_tokens.tolist() == [0, 128]
    assert r.ttft_s[1] < r.ttft_s[0]


def test_hash_blocks_must_be_whole_kv_blocks() -> None:
    trace = random_trace(5, 1.0, hashes=True)
    with pytest.raises(c2g.InvalidParameterError, match="block_size"):
        run(trace, EngineConfig(block_size=48, enable_prefix_caching=True))
    with pytest.raises(c2g.InvalidParameterError, match="block_tokens"):
        load_trace(MOONCAKE, block_tokens=0)


@pytest.fixture(scope="module")
def mooncake_sample(tmp_path_factory: pytest.TempPathFactory) -> RequestTrace:
    if not MOONCAKE.is_file():
        pytest.skip("shared Mooncake trace not present")
    path: Path = tmp_path_factory.mktemp("mooncake") / "conversation_2000.jsonl"
    with MOONCAKE.open() as src:
        path.write_text("".join(itertools.islice(src, 2000)))
    return load_trace(path)


def test_mooncake_hit_rate_equals_the_reusable_blocks_and_ttft_drops(
    mooncake_sample: RequestTrace,
) -> None:
    # requests one at a time (100 s apart) in a cache that never evicts: every reusable
    # block is found, so the hit rate is exactly the independent count
    spaced = dataclasses.replace(
        mooncake_sample, arrival_s=np.arange(mooncake_sample.num_requests) * 100.0
    )
    cfg = EngineConfig(num_gpu_blocks=2_000_000)
    off = run(spaced, cfg)
    on = run(spaced, dataclasses.replace(cfg, enable_prefix_caching=True))
    expected = reusable_tokens(spaced) / int(spaced.input_tokens.sum())
    assert 0.2 < expected < 0.5  # the sample does reuse blocks
    assert on.prefix_cache_hit_frac == pytest.approx(expected, rel=1e-12)
    assert on.num_evicted_blocks == 0
    hit = on.cached_tokens > 0
    assert np.all(on.ttft_s[hit] < off.ttft_s[hit])  # cached blocks skip their prefill
    np.testing.assert_allclose(on.ttft_s[~hit], off.ttft_s[~hit], rtol=1e-12)
    assert on.output_tokens.sum() == off.output_tokens.sum()
    # at the trace's own timing, blocks still being prefilled cannot be hit: fewer hits
    live = run(mooncake_sample, dataclasses.replace(cfg, enable_prefix_caching=True))
    assert 0 < live.prefix_cache_hit_frac <= expected
    assert np.all(np.isfinite(live.finish_s))


@pytest.mark.parametrize("blocks", [3000, 100_000])
def test_event_jump_equals_step_by_step_with_caching(blocks: int) -> None:
    trace = agent_trace(300, 20.0, 200, 100, turns_per_session=6, system_prompt_tokens=512)
    cfg = EngineConfig(
        max_num_seqs=48,
        max_num_batched_tokens=2048,
        num_gpu_blocks=blocks,
        enable_prefix_caching=True,
    )
    fast, slow = run(trace, cfg), run(trace, cfg, step_by_step=True)
    assert fast.num_steps == slow.num_steps
    np.testing.assert_array_equal(fast.cached_tokens, slow.cached_tokens)
    np.testing.assert_array_equal(fast.num_preemptions, slow.num_preemptions)
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    assert fast.num_evicted_blocks == slow.num_evicted_blocks
    if blocks == 3000:
        assert fast.num_evicted_blocks > 0


def test_agent_sessions_share_a_growing_prefix_and_caching_pays() -> None:
    trace = agent_trace(400, 4.0, 300, 150, turns_per_session=8, system_prompt_tokens=1024)
    assert trace.num_requests == 400 and len(trace.prefix_hashes) == 400
    bt = trace.block_tokens
    for hs, isl in zip(trace.prefix_hashes, trace.input_tokens.tolist(), strict=True):
        assert len(hs) == -(-isl // bt)
        assert hs[: 1024 // bt] == tuple(range(1024 // bt))  # the shared system prompt
    cfg = EngineConfig(max_num_seqs=64, num_gpu_blocks=100_000)
    off = run(trace, cfg)
    on = run(trace, dataclasses.replace(cfg, enable_prefix_caching=True))
    assert on.prefix_cache_hit_frac > 0.6
    assert on.prefix_cache_hit_frac <= reusable_tokens(trace) / trace.input_tokens.sum()
    assert np.mean(on.ttft_s) < 0.7 * np.mean(off.ttft_s)
    assert np.all(np.isfinite(on.finish_s))
    assert on.busy_s < off.busy_s


def test_prefix_cache_counts() -> None:
    cache = PrefixCache()
    assert cache.acquire((1, 2, 3)) == 3 and cache.num_in_use == 3
    assert cache.acquire((1, 2)) == 0
    assert cache.release((1, 2, 3)) == 1 and cache.num_free == 1  # only 3 is unused
    assert cache.release((1, 2)) == 2 and cache.num_free == 3
    assert cache.match((1, 2, 3, 4), 10) == 3 and cache.match((1, 2, 3), 2) == 2
    assert cache.evict(1) == 1 and 3 not in cache  # the tail went first
    assert cache.evict(1) == 1 and 2 not in cache and 1 in cache
    assert cache.num_unused((1,)) == 1 and cache.acquire((1,)) == 1 and cache.num_free == 0
