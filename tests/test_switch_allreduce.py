"""In-switch all-reduce (NVLink SHARP, NCCL's NVLS): where the scale-up switch reduces, a
large all-reduce over more than two chips sends (n + 1) / n of its message through each chip's
links instead of a ring's 2 (n - 1) / n, at a lower link efficiency; engines that turn it off
(SGLang) keep the ring."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chip2grid import InvalidParameterError, Load, Workload, estimate, get_accelerator
from chip2grid.hardware import (
    SWITCH_REDUCTION_MIN_BYTES,
    ring_all_reduce_bus_factor,
    switch_all_reduce_bus_factor,
)
from chip2grid.perf.engine import get_engine
from chip2grid.perf.step import StepBatch, step_time
from tests.test_perf import dep, shape_of

# Bus bandwidth (NCCL's convention: algorithm bandwidth times 2 (n-1)/n) of a large all-reduce
# on eight H100 SXM, NVIDIA/nccl issue #1455: the ring 365-370 GB/s for 2-8 GPUs, NVLS the same
# up to 4 GPUs and then 420 / 440 / 460 / 480 GB/s.
RING_BUSBW_GB_S = 370.0
NVLS_BUSBW_GB_S = {2: 370.0, 3: 370.0, 4: 370.0, 5: 420.0, 6: 440.0, 7: 460.0, 8: 480.0}


@pytest.mark.parametrize("ranks", sorted(NVLS_BUSBW_GB_S))
def test_the_switch_factor_gives_the_measured_h100_bus_bandwidth(ranks: int) -> None:
    eff = get_accelerator("h100-sxm").switch_reduction_eff(ranks)
    ring = ring_all_reduce_bus_factor(ranks)
    bus = min(ring, switch_all_reduce_bus_factor(ranks, eff))
    # the same bytes in less time read as a higher bus bandwidth
    predicted = RING_BUSBW_GB_S * ring / bus
    assert predicted == pytest.approx(NVLS_BUSBW_GB_S[ranks], rel=0.025)


def test_b300_gains_what_nccl_measured_at_eight_gpus() -> None:
    # NVIDIA/nccl issue #2140: 8x B300 bus bandwidth 695 GB/s ring, 845 GB/s NVLS
    eff = get_accelerator("b300").switch_reduction_eff(8)
    gain = ring_all_reduce_bus_factor(8) / switch_all_reduce_bus_factor(8, eff)
    assert gain == pytest.approx(845 / 695, rel=0.02)


def test_no_switch_reduction_is_a_ring() -> None:
    assert switch_all_reduce_bus_factor(8, 0.0) == math.inf
    assert switch_all_reduce_bus_factor(2, 0.9) == math.inf  # NCCL: not for two GPUs


@pytest.mark.parametrize(
    ("acc_id", "ranks", "reduces"),
    [
        ("h100-sxm", 8, True),
        ("h200-sxm", 4, True),
        ("b200", 8, True),
        ("h100-sxm", 2, False),  # two GPUs: NCCL sets no NVLS up
        ("h100-sxm", 16, False),  # beyond the NVLink domain
        ("a100-sxm-80gb", 8, False),  # NVSwitch 2 has no SHARP
        ("h200-nvl", 4, False),  # NVLink bridges, no switch
        ("mi300x", 8, False),
    ],
)
def test_which_groups_reduce_in_the_switch(acc_id: str, ranks: int, reduces: bool) -> None:
    assert (get_accelerator(acc_id).switch_reduction_eff(ranks) > 0) is reduces


def test_a_4_gpu_hgx_board_has_no_switch_to_reduce_in() -> None:
    board = get_accelerator("h100-sxm").with_scale_up(4, "full_mesh")
    assert board.switch_reduction_eff(4) == 0.0


def test_an_out_of_range_efficiency_names_the_field() -> None:
    acc = get_accelerator("h100-sxm")
    with pytest.raises(InvalidParameterError, match=r"scale_up_switch_reduction_eff.*0 .* to 1"):
        dataclasses.replace(acc, scale_up_switch_reduction_eff=1.5)


def test_a_large_prefill_all_reduce_is_cheaper_through_the_switch() -> None:
    d = dep(engine="vllm")
    nvls = shape_of(d)
    ring = dataclasses.replace(nvls, allreduce_switch_bus_factor=math.inf)
    assert math.isfinite(nvls.allreduce_switch_bus_factor)
    # 4,000 prefill tokens of Llama-3.1-70B: 64 MB per all-reduce, above the NCCL threshold
    big = StepBatch(prefill_tokens=4000.0, prefill_seqs=1.0, prefill_context=4000.0)
    assert SWITCH_REDUCTION_MIN_BYTES < 4000 * 8192 * 2
    t_nvls = float(step_time(nvls, big).operators["tp_allreduce"])
    t_ring = float(step_time(ring, big).operators["tp_allreduce"])
    assert t_nvls < 0.85 * t_ring
    # a decode step of 32 sequences (0.5 MB) stays on the engine's own kernels: the ring
    small = StepBatch(decode_seqs=32.0, decode_context=2000.0)
    assert float(step_time(nvls, small).operators["tp_allreduce"]) == pytest.approx(
        float(step_time(ring, small).operators["tp_allreduce"])
    )


def test_sglang_turns_nvls_off() -> None:
    assert get_engine("sglang").nccl_nvls is False
    assert get_engine("vllm").nccl_nvls is True
    assert shape_of(dep(engine="sglang")).allreduce_switch_bus_factor == math.inf
    assert math.isfinite(shape_of(dep(engine="tensorrt-llm")).allreduce_switch_bus_factor)


def _notes(engine: str, tp: int, acc_id: str = "h100-sxm") -> list[str]:
    d = dep(accelerator=get_accelerator(acc_id), num_accelerators=tp, tp=tp, engine=engine)
    est = estimate(d, Workload(input_tokens=2000, output_tokens=500), Load())
    return [n for n in est.notes if "NVLS" in n]


def test_an_estimate_says_when_the_switch_reduces() -> None:
    (note,) = _notes("vllm", 8)
    assert "8 MiB and more (512 tokens a step and more)" in note
    assert "1.35 bytes through each link per byte, not a ring's 1.75" in note
    (note,) = _notes("sglang", 8)
    assert note.startswith("NCCL's in-switch all-reduce (NVLS) is not used (sglang turns it off")
    # no switch reduction for two GPUs, nor on A100's NVSwitch
    assert _notes("vllm", 2) == []
    # nor at four GPUs, where the switch sends 1.497 bytes per byte against a ring's 1.5
    assert _notes("vllm", 4) == []
    assert _notes("vllm", 8, "a100-sxm-80gb") == []


def test_a_deployment_turns_nvls_on_or_off_whatever_the_engine() -> None:
    assert math.isfinite(shape_of(dep(engine="sglang", nccl_nvls="on")).allreduce_switch_bus_factor)
    assert shape_of(dep(engine="vllm", nccl_nvls="off")).allreduce_switch_bus_factor == math.inf
    d = dep(engine="vllm", nccl_nvls="off")
    est = estimate(d, Workload(input_tokens=2000, output_tokens=500), Load())
    (note,) = [n for n in est.notes if "NVLS" in n]
    assert "(nccl_nvls off)" in note
    with pytest.raises(InvalidParameterError, match=r"nccl_nvls.*maybe.*auto, on, off"):
        dep(nccl_nvls="maybe")


def test_nvls_off_makes_a_prefill_heavy_tp8_estimate_slower() -> None:
    w = Workload(input_tokens=2048, output_tokens=128)
    on = estimate(dep(engine="vllm"), w, Load())
    off = estimate(dep(engine="vllm", nccl_nvls="off"), w, Load())
    assert off.output_tokens_per_s < 0.97 * on.output_tokens_per_s
