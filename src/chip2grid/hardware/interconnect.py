"""Collective communication time over scale-up and scale-out links.

Ring algorithms (Patarasuk & Yuan 2009; NCCL's bus-bandwidth convention): an all-reduce of
``S`` bytes over ``n`` ranks moves ``2 (n-1)/n * S`` bytes through each rank's link; an
all-gather or reduce-scatter moves ``(n-1)/n * S``; an all-to-all moves ``(n-1)/n * S``.
Each collective also pays a latency per step.

Inputs are plain floats or numpy arrays (``num_ranks >= 1``); the result has the same kind,
so scalar callers pay no array overhead.
"""

from __future__ import annotations

from typing import Any

from chip2grid.units import MIB

SWITCH_REDUCTION_MIN_RANKS = 3
"""Fewest ranks NCCL runs its in-switch (NVLS) all-reduce on: ``ncclNvlsInit`` returns without
NVLS for two GPUs or fewer (src/transport/nvls.cc of NVIDIA/nccl, 2.18-2.21), and vLLM's own
measurement finds it "only enabled for n > 2 GPUs" (vllm-project/vllm issue #9699)."""

SWITCH_REDUCTION_MIN_BYTES = 8.0 * MIB
"""Smallest all-reduce an engine hands to NCCL, whose in-switch algorithm then applies: smaller
ones run the engine's own one-shot or two-shot kernels over the links. vLLM's custom
all-reduce takes messages up to 8 MiB (``max_size=8192 * 1024`` in
vllm/distributed/device_communicators/custom_all_reduce.py). TensorRT-LLM's 2024 releases run
their own kernels on messages up to their workspace, 8,000,000 bytes above two ranks (where NVLS
applies; 16,000,000 at two), and NCCL above it (``getMaxRequiredWorkspaceSize`` in
cpp/tensorrt_llm/common/customAllReduceUtils.h): within 5 % of vLLM's, which stands for both.
Recent releases choose by tokens and hidden size, with a 64 MiB workspace. A prefill chunk's
all-reduce (thousands of tokens times the hidden size, 16-bit) lies above all of them."""


def switch_all_reduce_bus_factor(num_ranks: int, reduction_eff: float) -> float:
    """Bytes through each chip's links per byte of message, at ring link efficiency, of an
    all-reduce the switch reduces (``reduction_eff`` > 0, see
    :attr:`chip2grid.hardware.Accelerator.scale_up_switch_reduction_eff`): each chip sends its
    whole message once into the switch, which reduces it, and takes its ``1/n`` share of the
    result back to multicast it, ``(n + 1) / n`` of the message each way, at ``reduction_eff``
    of a ring's link efficiency. ``inf`` without in-switch reduction (``reduction_eff`` 0).

    Measured on eight H100s (NVIDIA/nccl issue #1455): ring bus bandwidth 365-370 GB/s for 2-8
    GPUs; NVLS the same for 2-4 and 420 / 440 / 460 / 480 GB/s for 5 / 6 / 7 / 8, which this
    gives within 2 % with ``reduction_eff`` 0.835 (NVIDIA/nccl issue #2140: 480 against 370 at
    eight H100s, 845 against 695 at eight B300s)."""
    if reduction_eff <= 0.0 or num_ranks < SWITCH_REDUCTION_MIN_RANKS:
        return float("inf")
    return (num_ranks + 1.0) / num_ranks / reduction_eff


def ring_all_reduce_bus_factor(num_ranks: Any) -> Any:
    """Bytes through each rank's links per byte of message of a ring all-reduce: ``2 (n-1)/n``."""
    return 2.0 * (num_ranks - 1.0) / num_ranks


def all_reduce_time_s(
    message_bytes: Any,
    num_ranks: Any,
    link_bandwidth_bytes_per_s: Any,
    latency_s: Any,
    bus_factor: Any = None,
) -> Any:
    """Time of one all-reduce (zero for a single rank) that sends ``bus_factor`` bytes through
    each rank's links per byte of message: a ring's (:func:`ring_all_reduce_bus_factor`, the
    default), or the smaller :func:`switch_all_reduce_bus_factor` where the switch reduces and
    NCCL's tuner picks it."""
    n = num_ranks
    factor = ring_all_reduce_bus_factor(n) if bus_factor is None else bus_factor
    return (n > 1) * (latency_s + factor * message_bytes / link_bandwidth_bytes_per_s)


def all_to_all_time_s(
    message_bytes: Any, num_ranks: Any, link_bandwidth_bytes_per_s: Any, latency_s: Any
) -> Any:
    """Time of one all-to-all where each rank holds ``message_bytes`` to scatter."""
    n = num_ranks
    return (n > 1) * (latency_s + (n - 1.0) / n * message_bytes / link_bandwidth_bytes_per_s)


def point_to_point_time_s(
    message_bytes: Any, link_bandwidth_bytes_per_s: Any, latency_s: Any
) -> Any:
    """Time to send ``message_bytes`` from one rank to the next (pipeline stages, KV transfer)."""
    return latency_s + message_bytes / link_bandwidth_bytes_per_s


ALLREDUCE_QUANTIZATIONS: dict[str, float] = {
    "none": 1.0,
    "int8": 2176 / 4096,
    "int6": 1664 / 4096,
    "int4": 1152 / 4096,
}
"""Bytes a quantized all-reduce puts on the links per byte of its 16-bit message. ROCm's
QuickReduce (vLLM and SGLang on AMD Instinct; ``ROCM_QUICK_REDUCE_QUANTIZATION`` /
``VLLM_ROCM_QUICK_REDUCE_QUANTIZATION``) sends every 4,096-byte tile of FP16 values as
2,176 (INT8), 1,664 (INT6) or 1,152 bytes (INT4): the codes plus one FP16 scale per 32 values
(``kRankTileStride`` of CodecQ8, CodecQ6 and CodecQ4 in vLLM's
csrc/quickreduce/quick_reduce_impl.cuh)."""

QUICK_REDUCE_RANKS = (2, 4, 8)
"""Tensor-parallel sizes QuickReduce serves, within one node."""

QUICK_REDUCE_MIN_BYTES: dict[tuple[int, str], float] = {
    (2, "int8"): 2 * MIB,
    (2, "int6"): 2 * MIB,
    (2, "int4"): 1 * MIB,
    (4, "int8"): 16 * MIB,
    (4, "int6"): 4 * MIB,
    (4, "int4"): 2 * MIB,
    (8, "int8"): 4 * MIB,
    (8, "int6"): 4 * MIB,
    (8, "int4"): 2 * MIB,
}
"""Smallest message QuickReduce quantizes, by ranks and codec; smaller ones go to the engine's
unquantized custom all-reduce. The FP16 row of ``QuickAllReduce._QR_MIN_SIZE`` in SGLang's
python/sglang/srt/distributed/device_communicators/quick_all_reduce.py (the same table as
vLLM's): BF16 activations are cast to FP16 first unless ``ROCM_QUICK_REDUCE_CAST_BF16_TO_FP16``
is 0. Ranks outside :data:`QUICK_REDUCE_RANKS` are not served."""

QUICK_REDUCE_MAX_BYTES = 2048.0 * MIB
"""Largest message QuickReduce takes by default (``qr_max_size``: 2 GB of buffer)."""


def quantized_allreduce(quantization: str, num_ranks: int) -> tuple[float, float]:
    """``(wire_frac, min_bytes)`` of an all-reduce over ``num_ranks`` ranks with ``quantization``:
    messages of ``min_bytes`` up to :data:`QUICK_REDUCE_MAX_BYTES` send ``wire_frac`` of their
    bytes; others, and rank counts QuickReduce does not serve, send all of them (``(1, inf)``)."""
    if quantization == "none" or (num_ranks, quantization) not in QUICK_REDUCE_MIN_BYTES:
        return 1.0, float("inf")
    return ALLREDUCE_QUANTIZATIONS[quantization], QUICK_REDUCE_MIN_BYTES[(num_ranks, quantization)]
