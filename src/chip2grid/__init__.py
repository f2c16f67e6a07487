"""chip2grid: AI inference from chip to grid.

The public API: catalogs (:func:`get_model`, :func:`get_accelerator`), the step-time engine
(:class:`Deployment`, :func:`step_time`), steady-state estimates (:func:`estimate`) and
validation against published measurements (:func:`run_validation`).
"""

from __future__ import annotations

from chip2grid.errors import (
    CatalogError,
    Chip2GridError,
    ExtrapolationWarning,
    InfeasibleError,
    InvalidParameterError,
    UnknownEntryError,
)
from chip2grid.hardware import Accelerator, ServerPower, get_accelerator, list_accelerators
from chip2grid.llm import Architecture, get_model, list_models, load_hf_config
from chip2grid.perf import (
    Deployment,
    Estimate,
    Load,
    SpeculativeDecoding,
    StepBatch,
    Workload,
    acceptance_rate_for_length,
    best_layout,
    estimate,
    get_engine,
    list_engines,
    rank_shape,
    step_time,
)
from chip2grid.serving import (
    EngineConfig,
    RequestTrace,
    ServingResult,
    engine_config_for,
    load_trace,
    simulate,
)

__version__ = "0.1.0"

__all__ = [
    "Accelerator",
    "Architecture",
    "CatalogError",
    "Chip2GridError",
    "Deployment",
    "EngineConfig",
    "Estimate",
    "ExtrapolationWarning",
    "InfeasibleError",
    "InvalidParameterError",
    "Load",
    "RequestTrace",
    "ServerPower",
    "ServingResult",
    "SpeculativeDecoding",
    "StepBatch",
    "UnknownEntryError",
    "Workload",
    "__version__",
    "acceptance_rate_for_length",
    "best_layout",
    "engine_config_for",
    "estimate",
    "get_accelerator",
    "get_engine",
    "get_model",
    "list_accelerators",
    "list_engines",
    "list_models",
    "load_hf_config",
    "load_trace",
    "rank_shape",
    "simulate",
    "step_time",
]
