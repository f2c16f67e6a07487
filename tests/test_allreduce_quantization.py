"""A quantized all-reduce (ROCm QuickReduce in vLLM and SGLang) sends large tensor-parallel
messages as block-scaled integers: fewer bytes on the links, the same latency."""

from __future__ import annotations

import pytest

from chip2grid import InvalidParameterError, Load, Workload, estimate, get_accelerator
from chip2grid.hardware import ALLREDUCE_QUANTIZATIONS, quantized_allreduce
from chip2grid.perf.calibration import calibration_for
from chip2grid.perf.step import StepBatch, rank_shape, step_time
from chip2grid.units import MIB
from chip2grid.validation.cases import INFERENCEX_MEASUREMENTS, data_path, load_cases
from chip2grid.validation.predict import case_deployment
from tests.test_perf import dep


def test_codecs_send_the_codes_and_one_fp16_scale_per_32_values() -> None:
    for name, bits in (("int8", 8), ("int6", 6), ("int4", 4)):
        assert ALLREDUCE_QUANTIZATIONS[name] == pytest.approx((bits + 16 / 32) / 16)
    assert quantized_allreduce("int4", 4) == (pytest.approx(0.28125), 2 * MIB)
    assert quantized_allreduce("int8", 4) == (pytest.approx(0.53125), 16 * MIB)
    # no codec, or a rank count QuickReduce does not serve: every byte, at any size
    for quant, ranks in (("none", 4), ("int4", 3), ("int4", 16)):
        assert quantized_allreduce(quant, ranks) == (1.0, float("inf"))


def _allreduce_per_call_s(quant: str, tokens: float) -> tuple[float, float]:
    """``(time of one all-reduce, its latency)`` in a step of ``tokens`` prefill tokens."""
    d = dep(
        accelerator=get_accelerator("mi300x"),
        num_accelerators=4,
        tp=4,
        allreduce_quantization=quant,
    )
    shape = rank_shape(d, calibration_for(d.accelerator.family, "vllm"))
    step = step_time(shape, StepBatch.prefill(1, tokens))
    per_call = float(step.operators["tp_allreduce"]) / (2 * d.model.num_layers)
    return per_call, float(shape.comm_latency_s) + float(shape.collective_overhead_s)


def test_a_large_message_moves_the_codec_share_of_its_bytes() -> None:
    plain, lat = _allreduce_per_call_s("none", 8192)
    int4, lat4 = _allreduce_per_call_s("int4", 8192)
    assert lat == lat4
    assert (int4 - lat) / (plain - lat) == pytest.approx(1152 / 4096)


def test_a_message_below_the_threshold_goes_unquantized() -> None:
    # 64 tokens x 8192 hidden x 2 bytes = 1 MiB, below TP4's 2 MiB for INT4
    assert _allreduce_per_call_s("int4", 64) == _allreduce_per_call_s("none", 64)


def test_an_estimate_says_which_messages_it_quantizes() -> None:
    d = dep(accelerator=get_accelerator("mi300x"), num_accelerators=8, tp=8)
    work = Workload(input_tokens=4096, output_tokens=256)
    plain = estimate(d, work, Load())
    quant = estimate(d.replace(allreduce_quantization="int4"), work, Load())
    assert quant.prefill.operators_s["tp_allreduce"] < plain.prefill.operators_s["tp_allreduce"]
    assert quant.ttft_s_mean < plain.ttft_s_mean
    (note,) = [n for n in quant.notes if "sent as int4" in n]
    assert "2 MiB" in note and "0.28 of their bytes" in note
    # TP 16 spans two boards, which QuickReduce does not serve: said, and costed as plain
    wide = dep(accelerator=get_accelerator("mi300x"), num_accelerators=16, tp=16)
    wide_quant = estimate(wide.replace(allreduce_quantization="int4"), work, Load())
    assert [n for n in wide_quant.notes if "not TP 16" in n]
    assert wide_quant.prefill == estimate(wide, work, Load()).prefill


def test_an_unknown_codec_names_the_field_and_the_choices() -> None:
    choices = r"allreduce_quantization.*none, int8, int6, int4"
    with pytest.raises(InvalidParameterError, match=choices):
        dep(accelerator=get_accelerator("mi300x"), allreduce_quantization="int5")


def test_inferencex_mi355x_sglang_runs_are_validated_with_their_int4_all_reduce() -> None:
    cases = load_cases(data_path(INFERENCEX_MEASUREMENTS))
    mi355x = [c for c in cases if c.case_id.startswith("inferencex-dsr1-mi355x-sglang-")]
    assert mi355x
    assert {case_deployment(c).allreduce_quantization for c in mi355x} == {"int4"}
    others = [c for c in cases if not c.case_id.startswith("inferencex-dsr1-mi355x-sglang-")]
    assert {case_deployment(c).allreduce_quantization for c in others} == {"none"}
