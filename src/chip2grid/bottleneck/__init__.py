"""Which layer of one deployment binds, the headroom of every other, the cascade, sensitivities."""

from __future__ import annotations

from chip2grid.bottleneck.bmap import (
    BottleneckMap,
    CascadeStep,
    LayerUse,
    Sensitivity,
    binding_layer,
    bottleneck_map,
    next_accelerator,
    sensitivities,
)
from chip2grid.bottleneck.operate import (
    LAYERS,
    Context,
    OperatingPoint,
    Relaxation,
    context_of,
    next_cooling,
    operate,
    slo_point,
)

__all__ = [
    "LAYERS",
    "BottleneckMap",
    "CascadeStep",
    "Context",
    "LayerUse",
    "OperatingPoint",
    "Relaxation",
    "Sensitivity",
    "binding_layer",
    "bottleneck_map",
    "context_of",
    "next_accelerator",
    "next_cooling",
    "operate",
    "sensitivities",
    "slo_point",
]
