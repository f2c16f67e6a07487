"""What users see: request streams and the discrete-event serving simulator."""

from __future__ import annotations

from chip2grid.serving.cluster import ROUTER_CLASSES, Router, get_router, simulate_cluster
from chip2grid.serving.disagg import (
    DisaggregatedResult,
    disaggregated_steady_state,
    pool_energy_j,
    simulate_disaggregated,
    step_timers,
)
from chip2grid.serving.multimodel import (
    ModelPool,
    MultiModelResult,
    load_model_labels,
    model_labels_by_share,
    simulate_models,
    split_by_model,
)
from chip2grid.serving.prefix_cache import PrefixCache
from chip2grid.serving.simulate import (
    ROUTERS,
    ServingResult,
    engine_config_for,
    simulate,
    split_round_robin,
    timeline_energy_j,
)
from chip2grid.serving.simulator import (
    Engine,
    EngineConfig,
    SimulationResult,
    Simulator,
    Timeline,
    percentiles,
)
from chip2grid.serving.workload import (
    AGENT_BLOCK_TOKENS,
    ARCHETYPES,
    MOONCAKE_BLOCK_TOKENS,
    RequestTrace,
    TraceWarning,
    agent_trace,
    gamma_arrivals,
    load_csv_trace,
    load_jsonl_trace,
    load_trace,
    poisson_arrivals,
    synthetic_trace,
)

__all__ = [
    "AGENT_BLOCK_TOKENS",
    "ARCHETYPES",
    "MOONCAKE_BLOCK_TOKENS",
    "ROUTERS",
    "ROUTER_CLASSES",
    "DisaggregatedResult",
    "Engine",
    "EngineConfig",
    "ModelPool",
    "MultiModelResult",
    "PrefixCache",
    "RequestTrace",
    "Router",
    "ServingResult",
    "SimulationResult",
    "Simulator",
    "Timeline",
    "TraceWarning",
    "agent_trace",
    "disaggregated_steady_state",
    "engine_config_for",
    "gamma_arrivals",
    "get_router",
    "load_csv_trace",
    "load_jsonl_trace",
    "load_model_labels",
    "load_trace",
    "model_labels_by_share",
    "percentiles",
    "poisson_arrivals",
    "pool_energy_j",
    "simulate",
    "simulate_cluster",
    "simulate_disaggregated",
    "simulate_models",
    "split_by_model",
    "split_round_robin",
    "step_timers",
    "synthetic_trace",
    "timeline_energy_j",
]
