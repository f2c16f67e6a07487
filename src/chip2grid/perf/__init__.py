"""How long one engine step takes, and what that means in steady state.

Per-operator roofline with fitted efficiencies; tensor, pipeline, expert and data
parallelism; quantization; speculative decoding; memory feasibility.
"""

from __future__ import annotations

from chip2grid.perf.calibration import (
    Calibration,
    EngineCalibration,
    HardwareCalibration,
    PowerCalibration,
    calibration_for,
)
from chip2grid.perf.deployment import Deployment, parallel_layouts
from chip2grid.perf.disaggregated import (
    DecodePool,
    Disaggregated,
    PrefillPool,
    decode_pool,
    disaggregated,
    kv_transfer_bytes_per_rank,
    kv_transfer_time_s,
    pool_sizes,
    prefill_pool,
)
from chip2grid.perf.engine import EngineProfile, get_engine, list_engines
from chip2grid.perf.estimate import (
    Estimate,
    Load,
    PhaseBreakdown,
    SloLimit,
    Workload,
    best_layout,
    concurrency_within_slo,
    estimate,
    max_concurrency,
)
from chip2grid.perf.memory import MemoryPlan, memory_plan, require_fit
from chip2grid.perf.speculative import (
    SpeculativeDecoding,
    acceptance_rate_for_length,
    expected_tokens_per_step,
)
from chip2grid.perf.steady import Screen, continuous_batching, screen, static_batching
from chip2grid.perf.step import (
    OPERATORS,
    RankShape,
    StepBatch,
    StepTimes,
    full_activity_power,
    rank_shape,
    step_time,
)

__all__ = [
    "OPERATORS",
    "Calibration",
    "DecodePool",
    "Deployment",
    "Disaggregated",
    "EngineCalibration",
    "EngineProfile",
    "Estimate",
    "HardwareCalibration",
    "Load",
    "MemoryPlan",
    "PhaseBreakdown",
    "PowerCalibration",
    "PrefillPool",
    "RankShape",
    "Screen",
    "SloLimit",
    "SpeculativeDecoding",
    "StepBatch",
    "StepTimes",
    "Workload",
    "acceptance_rate_for_length",
    "best_layout",
    "calibration_for",
    "concurrency_within_slo",
    "continuous_batching",
    "decode_pool",
    "disaggregated",
    "estimate",
    "expected_tokens_per_step",
    "full_activity_power",
    "get_engine",
    "kv_transfer_bytes_per_rank",
    "kv_transfer_time_s",
    "list_engines",
    "max_concurrency",
    "memory_plan",
    "parallel_layouts",
    "pool_sizes",
    "prefill_pool",
    "rank_shape",
    "require_fit",
    "screen",
    "static_batching",
    "step_time",
]
