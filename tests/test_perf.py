from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chip2grid as c2g
import chip2grid.perf
from chip2grid import (
    Deployment,
    InfeasibleError,
    InvalidParameterError,
    Load,
    SpeculativeDecoding,
    StepBatch,
    Workload,
    best_layout,
    estimate,
    get_accelerator,
    get_model,
    rank_shape,
    step_time,
)
from chip2grid.perf import calibration_for, parallel_layouts
from chip2grid.perf.estimate import SLOWER_FRAC
from chip2grid.perf.steady import Cycle, batch_at_rate, continuous_batching


def dep(**kw: object) -> Deployment:
    base = dict(
        model=get_model("llama-3.1-70b"),
        accelerator=get_accelerator("h100-sxm"),
        num_accelerators=8,
        tp=8,
        weight_precision="fp8",
        kv_precision="fp8",
    )
    base.update(kw)
    return Deployment(**base)  # type: ignore[arg-type]


def shape_of(d: Deployment):
    return rank_shape(d, calibration_for(d.accelerator.family, "tensorrt-llm"))


def roofline_floor_s(d: Deployment, batch: int, context: float) -> float:
    """The physical minimum of a decode step: all weights and KV read once at peak bandwidth,
    or all FLOPs at peak compute, whichever is larger (per accelerator)."""
    m, acc = d.model, d.accelerator
    weights = d.weight_bytes_per_accelerator
    kv = batch * context * d.kv_bytes_per_token_per_accelerator()
    flops = batch * m.flops_per_token(context) / d.instance_size
    return max(
        (weights + kv) / acc.memory_bandwidth_bytes_per_s,
        flops / acc.peak_flops(d.compute_precision),
    )


@pytest.mark.parametrize("batch", [1, 8, 64, 256])
@pytest.mark.parametrize(
    "model_id,acc_id,tp",
    [
        ("llama-3.1-70b", "h100-sxm", 8),
        ("llama-3.1-8b", "a100-sxm-80gb", 1),
        ("mixtral-8x7b", "h200-sxm", 2),
        ("deepseek-v3", "b200", 8),
    ],
)
def test_step_never_beats_roofline(batch: int, model_id: str, acc_id: str, tp: int) -> None:
    d = dep(
        model=get_model(model_id), accelerator=get_accelerator(acc_id), tp=tp, num_accelerators=tp
    )
    t = float(step_time(shape_of(d), StepBatch.decode(batch, 2048)).total_s)
    # MoE reads only the experts touched; compare with the dense-equivalent floor only for dense
    if not d.model.is_moe:
        assert t >= roofline_floor_s(d, batch, 2048)
    assert t > 0


def test_prefill_compute_floor() -> None:
    d = dep()
    n = 4096
    t = float(step_time(shape_of(d), StepBatch.prefill(1, n)).total_s)
    floor = d.model.prefill_flops(n) / 8 / d.accelerator.peak_flops("fp8")
    assert t >= floor


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 512),
    context=st.floats(1, 32768),
    factor=st.floats(1.01, 4.0),
    prefill=st.integers(0, 8192),
)
def test_more_bandwidth_never_slows_a_step(
    batch: int, context: float, factor: float, prefill: int
) -> None:
    d = dep()
    s = shape_of(d)
    faster = dataclasses.replace(
        s, memory_bandwidth_bytes_per_s=s.memory_bandwidth_bytes_per_s * factor
    )
    more_flops = dataclasses.replace(
        s,
        peak_gemm_flops_per_s=s.peak_gemm_flops_per_s * factor,
        peak_attn_flops_per_s=s.peak_attn_flops_per_s * factor,
        peak_head_flops_per_s=s.peak_head_flops_per_s * factor,
    )
    b = StepBatch(
        prefill_tokens=prefill,
        prefill_seqs=1 if prefill else 0,
        prefill_context=(prefill + 1) / 2,
        decode_seqs=batch,
        decode_context=context,
    )
    base = float(step_time(s, b).total_s)
    assert float(step_time(faster, b).total_s) <= base
    assert float(step_time(more_flops, b).total_s) <= base


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 256), context=st.floats(1, 16384))
def test_step_time_monotone_in_batch_and_context(batch: int, context: float) -> None:
    s = shape_of(dep())
    t = float(step_time(s, StepBatch.decode(batch, context)).total_s)
    assert float(step_time(s, StepBatch.decode(batch + 1, context)).total_s) >= t
    assert float(step_time(s, StepBatch.decode(batch, context * 1.5)).total_s) >= t


def test_vectorized_equals_scalar() -> None:
    s = shape_of(dep())
    batches = np.array([1.0, 7.0, 64.0, 300.0])
    ctx = np.array([100.0, 2000.0, 5000.0, 9000.0])
    vec = step_time(s, StepBatch.decode(batches, ctx)).total_s
    for i in range(4):
        assert vec[i] == pytest.approx(
            float(step_time(s, StepBatch.decode(batches[i], ctx[i])).total_s)
        )


def assert_parts_sum_to_total(t: chip2grid.perf.StepTimes) -> None:
    assert sum(float(v) for v in t.operators.values()) == pytest.approx(float(t.total_s), rel=1e-9)
    assert float(t.compute_s + t.memory_s + t.comm_s + t.overhead_s) == pytest.approx(
        float(t.total_s), rel=1e-9
    )


def test_breakdown_sums_to_total() -> None:
    assert_parts_sum_to_total(step_time(shape_of(dep()), StepBatch.decode(64, 2048)))


def test_pipeline_waits_on_the_last_stage_which_holds_the_output_projection() -> None:
    # the layers split evenly over 8 stages; the last also runs the output projection, so 8
    # micro-batches in flight pass it one after another: 8 heads a step, where one sequence
    # (one micro-batch, one pass through the stages) pays one
    rtx = get_accelerator("rtx-pro-6000-blackwell")
    d = dep(model=get_model("llama-3.3-70b"), accelerator=rtx, tp=1, pp=8, weight_precision="fp4")
    s = shape_of(d)
    one = step_time(s, StepBatch.decode(1, 1024))
    eight = step_time(s, StepBatch.decode(8, 1024))
    assert float(eight.operators["lm_head"]) == pytest.approx(8 * float(one.operators["lm_head"]))
    for t in (one, eight):
        assert_parts_sum_to_total(t)
    # without pipeline parallelism the head runs once a step
    flat = step_time(shape_of(d.replace(pp=1, num_accelerators=1)), StepBatch.decode(8, 1024))
    assert float(flat.operators["lm_head"]) < float(eight.operators["lm_head"])


def test_output_projection_runs_at_16_bit() -> None:
    # quantized checkpoints keep the output projection in 16-bit: its GEMM runs at the 16-bit
    # peak whatever the other layers compute in, never faster than they do
    acc = get_accelerator("h100-sxm")
    fp8 = shape_of(dep())
    assert float(fp8.peak_head_flops_per_s) / float(fp8.peak_gemm_flops_per_s) == pytest.approx(
        acc.peak_flops("bf16") / acc.peak_flops("fp8")
    )
    bf16 = shape_of(dep(weight_precision="bf16", kv_precision="bf16"))
    assert float(bf16.peak_head_flops_per_s) == float(bf16.peak_gemm_flops_per_s)


def test_decode_small_batch_memory_bound_prefill_compute_bound() -> None:
    s = shape_of(dep(model=get_model("llama-3.1-8b"), tp=1, num_accelerators=1))
    decode = step_time(s, StepBatch.decode(1, 1024))
    prefill = step_time(s, StepBatch.prefill(4, 4096))
    assert float(decode.memory_s) > float(decode.compute_s)
    assert float(prefill.compute_s) > float(prefill.memory_s)
    assert str(prefill.bound) == "compute"


def test_estimate_fields_and_consistency() -> None:
    e = estimate(dep(), Workload(input_tokens=2048, output_tokens=128))
    assert e.output_tokens_per_s == pytest.approx(e.requests_per_s * 128)
    assert e.e2e_latency_s_mean == pytest.approx(e.ttft_s_mean + 127 * e.tpot_s_mean)
    assert 0 < e.batch_size <= e.max_concurrency
    assert e.system_power_w > e.accelerator_power_w > 0
    assert e.energy_j_per_output_token == pytest.approx(
        e.accelerator_power_w / e.output_tokens_per_s
    )
    acc = get_accelerator("h100-sxm")
    assert 8 * acc.idle_power_w <= e.accelerator_power_w <= 8 * acc.tdp_w


def test_concurrency_and_rate_modes() -> None:
    w = Workload(input_tokens=1024, output_tokens=256)
    low = estimate(dep(), w, Load(mode="concurrency", concurrency=1))
    high = estimate(dep(), w, Load(mode="concurrency", concurrency=128))
    assert high.output_tokens_per_s > low.output_tokens_per_s
    assert high.tpot_s_mean > low.tpot_s_mean
    full = estimate(dep(), w)
    r1 = estimate(dep(), w, Load(mode="request_rate", request_rate_per_s=0.2 * full.requests_per_s))
    r2 = estimate(dep(), w, Load(mode="request_rate", request_rate_per_s=0.9 * full.requests_per_s))
    assert r1.requests_per_s == pytest.approx(0.2 * full.requests_per_s)
    assert r2.ttft_s_mean > r1.ttft_s_mean
    over = estimate(dep(), w, Load(mode="request_rate", request_rate_per_s=2 * full.requests_per_s))
    assert over.saturated and over.output_tokens_per_s == pytest.approx(
        full.output_tokens_per_s, rel=1e-6
    )


def test_latency_sensitivity_grows_near_capacity() -> None:
    """A fixed request rate near capacity amplifies a step-time error; a closed loop does not."""
    w = Workload(input_tokens=1024, output_tokens=256)
    full = estimate(dep(), w)
    assert full.load_frac == 1.0
    assert full.tpot_s_mean_if_slower == pytest.approx((1 + SLOWER_FRAC) * full.tpot_s_mean)
    users = estimate(dep(), w, Load(mode="concurrency", concurrency=64))
    assert users.ttft_s_mean_if_slower == pytest.approx((1 + SLOWER_FRAC) * users.ttft_s_mean)
    assert users.tpot_s_mean_if_slower == pytest.approx((1 + SLOWER_FRAC) * users.tpot_s_mean)

    def at(load: float) -> c2g.Estimate:
        rate = load * full.requests_per_s
        return estimate(dep(), w, Load(mode="request_rate", request_rate_per_s=rate))

    light, heavy = at(0.2), at(0.85)
    assert light.load_frac == pytest.approx(0.2, rel=1e-6)
    assert heavy.load_frac == pytest.approx(0.85, rel=1e-6)
    light_growth = light.tpot_s_mean_if_slower / light.tpot_s_mean - 1
    heavy_growth = heavy.tpot_s_mean_if_slower / heavy.tpot_s_mean - 1
    assert 0 < light_growth < heavy_growth
    assert heavy_growth > 2 * SLOWER_FRAC
    assert heavy.ttft_s_mean_if_slower > heavy.ttft_s_mean
    # slower steps at a rate are the queue of the estimated engine at a proportionally higher
    # rate, every time scaled by the same factor
    k = 1 + SLOWER_FRAC
    scaled = at(0.85 * k)
    assert heavy.tpot_s_mean_if_slower == pytest.approx(k * scaled.tpot_s_mean, rel=1e-3)
    assert heavy.ttft_s_mean_if_slower == pytest.approx(k * scaled.ttft_s_mean, rel=1e-3)
    # within SLOWER_FRAC of capacity a slower engine could not keep up
    edge = at(0.95)
    assert not edge.saturated
    assert math.isinf(edge.tpot_s_mean_if_slower) and math.isinf(edge.ttft_s_mean_if_slower)
    # where the slower engine's slots could not keep up, neither latency is finite (Llama-3.1-8B
    # on one H100 at 38 requests/s had read "TTFT inf ms, TPOT 80.94 ms")
    small = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        tp=1,
        weight_precision="fp8",
        kv_precision="fp8",
    )
    e = estimate(small, w, Load(mode="request_rate", request_rate_per_s=38.0))
    assert not e.saturated
    assert math.isinf(e.ttft_s_mean_if_slower) and math.isinf(e.tpot_s_mean_if_slower)


def test_static_batching() -> None:
    w = Workload(input_tokens=512, output_tokens=128)
    e = estimate(dep(), w, Load(mode="static", batch_size=32))
    assert e.batch_size == 32
    assert e.output_tokens_per_s == pytest.approx(32 * 128 / e.e2e_latency_s_mean)
    with pytest.raises(InfeasibleError, match="batch-size"):
        estimate(
            dep(num_accelerators=1, tp=1, model=get_model("llama-3.1-8b")),
            Workload(input_tokens=32000, output_tokens=1000),
            Load(mode="static", batch_size=4096),
        )


def test_model_that_does_not_fit_says_by_how_much() -> None:
    with pytest.raises(InfeasibleError, match=r"short by .* GB.*--tp"):
        estimate(
            dep(tp=1, num_accelerators=1, weight_precision="bf16", kv_precision="bf16"),
            Workload(input_tokens=1000, output_tokens=100),
        )


def test_invalid_tp_and_precision() -> None:
    with pytest.raises(InvalidParameterError, match="tp"):
        dep(tp=3, num_accelerators=3)
    with pytest.raises(InvalidParameterError, match=r"weight_precision|activation_precision"):
        dep(accelerator=get_accelerator("a100-sxm-80gb"), activation_precision="fp8")
    with pytest.raises(InvalidParameterError, match="ep"):
        dep(ep=2)  # dense model


def test_weight_only_fp8_on_a100_computes_in_16_bit() -> None:
    d = dep(accelerator=get_accelerator("a100-sxm-80gb"))
    assert d.compute_precision == "bf16"
    assert d.weight_bytes_per_param == 1.0


def test_quantization_speeds_up_decode() -> None:
    w = Workload(input_tokens=1024, output_tokens=256)
    load = Load(mode="concurrency", concurrency=1)
    bf16 = estimate(dep(weight_precision="bf16", kv_precision="bf16"), w, load)
    fp8 = estimate(dep(), w, load)
    assert fp8.tpot_s_mean < bf16.tpot_s_mean


def test_tp_auto_picks_valid_best_layout() -> None:
    d = dep()
    best = best_layout(d, Workload(input_tokens=2048, output_tokens=128))
    assert best.num_replicas * best.tp * best.pp == 8
    for tp, pp, ep in parallel_layouts(d.model, 8):
        try:
            other = estimate(
                d.replace(tp=tp, pp=pp, ep=ep), Workload(input_tokens=2048, output_tokens=128)
            )
        except InfeasibleError:
            continue
        assert other.output_tokens_per_s <= best.output_tokens_per_s * (1 + 1e-9)


def test_expert_parallel_moe() -> None:
    m = get_model("mixtral-8x7b")
    e1 = estimate(dep(model=m, tp=8, ep=1), Workload(input_tokens=1024, output_tokens=256))
    e8 = estimate(dep(model=m, tp=8, ep=8), Workload(input_tokens=1024, output_tokens=256))
    assert e1.output_tokens_per_s > 0 and e8.output_tokens_per_s > 0
    adp = dep(
        model=get_model("deepseek-r1"),
        accelerator=get_accelerator("b200"),
        tp=1,
        ep=8,
        weight_precision="fp4",
    )
    assert adp.attention_dp == 8 and adp.num_replicas == 1


def test_pipeline_parallel_keeps_throughput_and_adds_latency() -> None:
    w = Workload(input_tokens=1024, output_tokens=256)
    one = estimate(dep(tp=8, pp=1), w, Load(mode="concurrency", concurrency=1))
    two = estimate(dep(tp=4, pp=2), w, Load(mode="concurrency", concurrency=1))
    assert two.tpot_s_mean > one.tpot_s_mean


def test_speculative_decoding_lowers_tpot_at_low_batch() -> None:
    w = Workload(input_tokens=1024, output_tokens=512)
    load = Load(mode="concurrency", concurrency=1)
    d = dep(model=get_model("deepseek-v3"), accelerator=get_accelerator("h200-sxm"))
    plain = estimate(d, w, load)
    spec = estimate(
        d,
        w,
        load,
        speculative=SpeculativeDecoding(
            method="mtp", num_speculative_tokens=1, acceptance_rate=0.85
        ),
    )
    assert spec.tpot_s_mean < plain.tpot_s_mean
    assert spec.speculative_tokens_per_step == pytest.approx(1.85)
    bad = SpeculativeDecoding(method="mtp", num_speculative_tokens=4, acceptance_rate=0.0)
    assert estimate(d, w, load, speculative=bad).tpot_s_mean > plain.tpot_s_mean


def test_every_catalog_accelerator_estimates() -> None:
    from chip2grid import list_accelerators

    m = get_model("llama-3.1-8b")
    for acc_id in list_accelerators():
        acc = get_accelerator(acc_id)
        n = 1
        while n <= 64:
            try:
                d = Deployment(
                    model=m,
                    accelerator=acc,
                    num_accelerators=n,
                    tp=n,
                    weight_precision="fp8"
                    if "fp8" in acc.peak_flops_per_s or "fp8" in acc.weight_only_formats
                    else "bf16",
                )
                e = estimate(d, Workload(input_tokens=512, output_tokens=128))
                assert e.output_tokens_per_s > 0
                break
            except InfeasibleError:
                n *= 2
            except InvalidParameterError:
                n *= 2


def test_concurrency_within_slo_is_the_edge_of_the_targets() -> None:
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
    )
    w = c2g.Workload(input_tokens=1024, output_tokens=256)
    limit = c2g.perf.concurrency_within_slo(dep, w, 0.5, 0.03, rel_tol=1e-3)
    assert limit.limited_by == "slo" and limit.concurrency > 1
    assert limit.estimate.ttft_s_mean <= 0.5 and limit.estimate.tpot_s_mean <= 0.03
    more = c2g.estimate(dep, w, c2g.Load(mode="concurrency", concurrency=limit.concurrency * 1.01))
    assert more.ttft_s_mean > 0.5 or more.tpot_s_mean > 0.03
    assert c2g.perf.concurrency_within_slo(dep, w, 1e-6, 0.03).limited_by == "one_user"


def test_batch_caps_count_once_per_attention_dp_rank() -> None:
    """max_num_seqs and the token budget are per scheduler: TensorRT-LLM's max_batch_size is
    the batch 'in each rank' under attention DP, and vLLM runs an engine core per DP rank."""
    from chip2grid.serving.simulate import engine_config_for

    moe = get_model("deepseek-r1")
    b200 = get_accelerator("b200")
    wl = Workload(input_tokens=1024, output_tokens=2048)
    adp = dep(
        model=moe, accelerator=b200, tp=1, ep=8, weight_precision="fp4", engine="tensorrt-llm"
    )
    tp8 = dep(
        model=moe, accelerator=b200, tp=8, ep=8, weight_precision="fp4", engine="tensorrt-llm"
    )
    assert (adp.attention_dp, tp8.attention_dp) == (8, 1)
    per_rank = estimate(adp, wl, Load(max_num_seqs=64))
    assert per_rank.batch_size == pytest.approx(8 * 64)
    assert any("per rank" in n for n in per_rank.notes)
    assert estimate(tp8, wl, Load(max_num_seqs=64)).batch_size == pytest.approx(64)
    cfg = engine_config_for(adp, max_num_seqs=64, max_num_batched_tokens=2048)
    assert (cfg.max_num_seqs, cfg.max_num_batched_tokens) == (8 * 64, 8 * 2048)
    cfg1 = engine_config_for(tp8, max_num_seqs=64, max_num_batched_tokens=2048)
    assert (cfg1.max_num_seqs, cfg1.max_num_batched_tokens) == (64, 2048)


def test_batch_at_rate_is_littles_law_solved_to_convergence() -> None:
    """The Server batch equals rate x time in flight at that batch, vectorized as scalar."""
    d = dep()
    shape = rank_shape(d, calibration_for("hopper", "tensorrt-llm"))
    isl, osl, full_b = 1024.0, 256.0, 512.0

    def cycle(num_seqs: np.ndarray) -> Cycle:
        return continuous_batching(shape, isl, osl, np.maximum(num_seqs, 1.0), True, 8192.0)

    def cycles(_rows: np.ndarray, num_seqs: np.ndarray) -> Cycle:
        return cycle(num_seqs)  # every instance the same deployment

    capacity = float(cycle(np.asarray(full_b)).requests_per_s)
    rates = np.array([0.001, 0.3, 0.9, 0.99, 1.5]) * capacity
    b = batch_at_rate(cycles, rates, osl, full_b)
    cyc = cycle(np.maximum(b, 1.0))
    in_flight = rates * (cyc.prefill_latency_s + (osl - 1.0) * cyc.iteration_s)
    # a light rate keeps less than one sequence busy; the fixed point elsewhere
    assert b[0] < 1.0 and b[0] == pytest.approx(in_flight[0], rel=1e-9)
    assert np.allclose(b[1:4], in_flight[1:4], rtol=1e-5)
    assert b[3] > b[2] > b[1] > 1.0
    assert b[4] == pytest.approx(full_b, rel=1e-12)  # above capacity the batch is full
    for rate, expected in zip(rates, b, strict=True):
        assert float(batch_at_rate(cycles, rate, osl, full_b)) == pytest.approx(expected, rel=1e-5)
    # a solution at a lower rate bounds the search from below
    assert float(batch_at_rate(cycles, rates[3], osl, full_b, low=b[2])) == pytest.approx(
        b[3], rel=1e-5
    )


def test_a_request_longer_than_the_context_window_is_noted_not_refused() -> None:
    llama2 = dep(model=get_model("llama-2-70b"))
    assert llama2.model.max_context_tokens == 4096
    inside = estimate(llama2, Workload(input_tokens=3000, output_tokens=1000))
    beyond = estimate(llama2, Workload(input_tokens=8000, output_tokens=128))
    assert not any("context window" in n for n in inside.notes)
    assert any("context window of 4,096" in n for n in beyond.notes)
    assert beyond.output_tokens_per_s > 0


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_non_finite_lengths_and_loads_are_refused(value: float) -> None:
    with pytest.raises(InvalidParameterError, match="finite"):
        Workload(input_tokens=value, output_tokens=128)
    with pytest.raises(InvalidParameterError, match="finite"):
        Load(mode="request_rate", request_rate_per_s=value)
    with pytest.raises(InvalidParameterError, match="finite"):
        Load(mode="concurrency", concurrency=value)


def test_a_fixed_split_that_cannot_exist_names_the_wrong_value() -> None:
    mixtral = dep(model=get_model("mixtral-8x7b"), tp=1)
    wl = Workload(input_tokens=512, output_tokens=128)
    with pytest.raises(InvalidParameterError, match="8 experts"):
        best_layout(mixtral, wl, fix_ep=3)
    with pytest.raises(InvalidParameterError, match="multiple of pp"):
        best_layout(mixtral, wl, fix_tp=8, fix_pp=2)
    assert best_layout(mixtral, wl, fix_tp=2, fix_ep=4).ep == 4


def test_mtp_on_a_model_without_mtp_layers_is_noted() -> None:
    wl = Workload(input_tokens=1024, output_tokens=256)
    spec = SpeculativeDecoding(method="mtp", num_speculative_tokens=2, acceptance_rate=0.7)
    dense = estimate(dep(model=get_model("llama-3.1-8b"), tp=1), wl, speculative=spec)
    assert any("no multi-token-prediction layers" in n for n in dense.notes)
    assert get_model("deepseek-r1").num_mtp_layers > 0
    r1 = dep(model=get_model("deepseek-r1"), accelerator=get_accelerator("b200"), tp=8)
    own = estimate(r1, wl, speculative=spec)
    assert not any("multi-token-prediction" in n for n in own.notes)


def test_a_family_without_a_fit_uses_the_family_whose_kernels_it_runs() -> None:
    """B300 (Blackwell Ultra, no measurements in the fit set) takes the B200's Blackwell fit,
    not the cross-family default; a family with no related fit still takes the default."""
    from chip2grid.perf.calibration import (
        FAMILY_FALLBACK,
        catalog_calibration_for,
        hardware_calibration_key,
    )

    assert FAMILY_FALLBACK["blackwell-ultra"] == "blackwell"
    ultra = catalog_calibration_for("blackwell-ultra", "tensorrt-llm")
    assert ultra.hardware_key == "blackwell"
    assert ultra.hardware == catalog_calibration_for("blackwell", "tensorrt-llm").hardware
    assert catalog_calibration_for("cdna3", "vllm").hardware_key == "default"
    # its own fit, once it has one, wins over the fallback
    assert hardware_calibration_key("blackwell-ultra", {"blackwell-ultra", "blackwell"}) == (
        "blackwell-ultra"
    )
    assert hardware_calibration_key("blackwell-ultra", {"hopper"}) == "default"
    wl = Workload(input_tokens=1024, output_tokens=256)
    b300 = estimate(dep(model=get_model("llama-3.1-8b"), accelerator=get_accelerator("b300")), wl)
    assert b300.calibration.startswith("blackwell/")
    assert any("using the blackwell family's fit" in n for n in b300.notes)
    assert not any("default fit" in n for n in b300.notes)


def test_one_number_inputs_take_the_float_path_with_the_same_figures() -> None:
    # a single estimate hands step_time numpy scalars and 0-d arrays (np.asarray of floats):
    # they take the plain-float path, and give what the numpy path gives bit for bit
    d = dep(tp=4, num_accelerators=8)
    shape = rank_shape(
        d, calibration_for(d.accelerator.family, c2g.get_engine(d.engine).calibration)
    )
    batches = {
        "0-d": StepBatch(
            prefill_tokens=np.asarray(512.0),
            prefill_seqs=np.asarray(1.0),
            prefill_context=np.asarray(256.5),
            decode_seqs=np.asarray(48.0),
            decode_context=np.float64(1500.0),
        ),
        "one-element": StepBatch(
            prefill_tokens=np.array([512.0]),
            prefill_seqs=np.array([1.0]),
            prefill_context=np.array([256.5]),
            decode_seqs=np.array([48.0]),
            decode_context=np.array([1500.0]),
        ),
    }
    scalar = step_time(shape, batches["0-d"])
    vector = step_time(shape, batches["one-element"])
    assert type(scalar.total_s) is float and isinstance(vector.total_s, np.ndarray)
    assert scalar.total_s == float(vector.total_s[0])
    for name, value in scalar.operators.items():
        assert value == float(np.ravel(vector.operators[name])[0]), name
    assert scalar.flops == float(np.ravel(vector.flops)[0])


def test_an_nvidia_only_engine_on_other_hardware_is_noted() -> None:
    w = Workload(input_tokens=512, output_tokens=128)
    mi300x = c2g.get_accelerator("mi300x")
    small = c2g.get_model("llama-3.1-8b")
    trt = estimate(c2g.Deployment(model=small, accelerator=mi300x), w)
    assert any("NVIDIA GPUs only" in n for n in trt.notes)
    vllm = estimate(c2g.Deployment(model=small, accelerator=mi300x, engine="vllm-v1"), w)
    assert not any("NVIDIA GPUs only" in n for n in vllm.notes)
    h100 = estimate(c2g.Deployment(model=small, accelerator=c2g.get_accelerator("h100-sxm")), w)
    assert not any("NVIDIA GPUs only" in n for n in h100.notes)


def test_a_draft_of_another_tokenizer_is_noted() -> None:
    target = dep(model=get_model("llama-3.1-70b"), num_accelerators=8, tp=8)
    other = c2g.SpeculativeDecoding(method="draft", draft_model=get_model("gpt-oss-20b"))
    same = c2g.SpeculativeDecoding(method="draft", draft_model=get_model("llama-3.1-8b"))
    w = Workload(input_tokens=512, output_tokens=128)
    assert any("tokenizer" in n for n in estimate(target, w, speculative=other).notes)
    assert not any("tokenizer" in n for n in estimate(target, w, speculative=same).notes)
