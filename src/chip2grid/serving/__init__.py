"""What users see: request streams and the discrete-event serving simulator."""

from __future__ import annotations

from chip2grid.serving.simulate import (
    ROUTERS,
    ServingResult,
    engine_config_for,
    simulate,
    split_round_robin,
    timeline_energy_j,
)
from chip2grid.serving.simulator import (
    EngineConfig,
    SimulationResult,
    Simulator,
    Timeline,
    percentiles,
)
from chip2grid.serving.workload import (
    RequestTrace,
    TraceWarning,
    gamma_arrivals,
    load_csv_trace,
    load_jsonl_trace,
    load_trace,
    poisson_arrivals,
    synthetic_trace,
)

__all__ = [
    "ROUTERS",
    "EngineConfig",
    "RequestTrace",
    "ServingResult",
    "SimulationResult",
    "Simulator",
    "Timeline",
    "TraceWarning",
    "engine_config_for",
    "gamma_arrivals",
    "load_csv_trace",
    "load_jsonl_trace",
    "load_trace",
    "percentiles",
    "poisson_arrivals",
    "simulate",
    "split_round_robin",
    "synthetic_trace",
    "timeline_energy_j",
]
