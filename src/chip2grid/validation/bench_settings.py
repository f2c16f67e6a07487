"""The batch limits a benchmark tool chose for the run it measured.

TensorRT-LLM's perf-overview tables (releases 0.14 to 0.17, TRT engine backend) were measured
with ``trtllm-bench build --dataset``: the tool sizes each engine for the data set it is about to
run instead of using the engine defaults (2,048 sequences, 8,192 tokens). It estimates how many
requests of the data set's mean length fit in the memory left after the weights and caps the
running batch there (at most 4,096, rounded up in coarse steps), with a token budget of that
batch times ``1 + input/output`` (at least 2,048, at most 32,768). A short-sequence run on eight
GPUs therefore runs 4,096 sequences, twice the default, and a prefill-heavy run gets a larger
token budget. Validation reproduces those limits so the fit does not mistake a larger batch for
faster hardware.

Rule: ``tensorrt_llm/bench/build/tuning.py`` (``calc_engine_setting`` and ``finetune_setting``)
in github.com/NVIDIA/TensorRT-LLM, the FP8/no-quantization path; the engine build of every
perf-overview row since 0.14 passes ``--dataset`` (docs/source/performance/perf-overview.md,
"Engine Building"). Device memory is the accelerator's capacity in GiB, as the tool reads it
from NVML.
"""

from __future__ import annotations

import math

from chip2grid.llm.architecture import Architecture

TRTLLM_BENCH = "trtllm-bench"
"""``Case.sized_by`` of a run whose engine ``trtllm-bench build --dataset`` sized."""

GPT_SESSION_BENCHMARK = "gptsessionbenchmark"
"""Named (any case) in the data set of a run measured with TensorRT-LLM's
``gptSessionBenchmark``, whose every prompt is the pad id repeated (``benchmarks/cpp/
gptSessionBenchmark.cpp``: ``inputsHost(batchSize * maxInputLength, padId)``). Identical tokens
keep identical hidden states through every layer (attention averages identical values), so a
mixture-of-experts layer routes the whole batch to the same ``top-k`` experts
(``Case.identical_inputs``)."""

_KV_MEMORY_FRACTION = 0.95
"""Share of the memory left after the weights that the tool counts as KV cache."""
_MAX_BATCH = 4096
_MAX_TOKENS = 32768
_MIN_TOKENS = 2048
_GIB = 1024.0**3

_BYTES_PER_WEIGHT = {"fp8": 1.0, "fp16": 2.0, "bf16": 2.0}
"""Weight precisions the tool sizes for (FP8 or no quantization); others keep the defaults."""


def trtllm_bench_limits(
    model: Architecture,
    *,
    weight_precision: str,
    tp: int,
    pp: int,
    device_memory_bytes: float,
    input_tokens: float,
    output_tokens: float,
) -> tuple[int, int] | None:
    """``(max_batch_size, max_num_tokens)`` that ``trtllm-bench build --dataset`` gives an engine
    of ``tp`` x ``pp`` accelerators for a data set of these mean lengths; None where the tool
    would not size it (a weight precision other than FP8 or 16-bit, an MLA model)."""
    weight_bytes = _BYTES_PER_WEIGHT.get(weight_precision)
    if weight_bytes is None or model.is_mla or input_tokens <= 0 or output_tokens <= 0:
        return None
    kv_bytes = 1.0 if weight_precision == "fp8" else 2.0  # FP8 engines cache FP8 KV
    # every TP rank keeps at least one KV head
    kv_gib_per_token = (
        2 * model.num_layers * max(tp, model.num_kv_heads) * model.head_dim * kv_bytes / _GIB
    )
    weights_gib = model.num_params * weight_bytes / _GIB
    free_gib = device_memory_bytes / _GIB * tp * pp - weights_gib
    if free_gib <= 0:
        return None
    requests = free_gib * _KV_MEMORY_FRACTION / (kv_gib_per_token * (input_tokens + output_tokens))
    batch = min(requests, _MAX_BATCH) / pp
    tokens = min(batch * (1.0 + input_tokens / output_tokens), _MAX_TOKENS)
    return _round_batch(batch), _round_tokens(tokens)


def _round_batch(batch: float) -> int:
    """Up to a multiple of 32 (at least 64) below 256, of 128 below 1,024, else of 256."""
    if batch < 256:
        return max(64, 32 * math.ceil(batch / 32))
    step = 128 if batch < 1024 else 256
    return step * math.ceil(batch / step)


def _round_tokens(tokens: float) -> int:
    """Up to a multiple of 256 (at least 2,048) below 4,096, of 512 below 8,192, else of 1,024."""
    if tokens < 4096:
        return max(_MIN_TOKENS, 256 * math.ceil(tokens / 256))
    step = 512 if tokens < 8192 else 1024
    return step * math.ceil(tokens / step)
