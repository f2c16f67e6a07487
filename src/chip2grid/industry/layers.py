"""The layers of the AI stack: ids, and the catalog ``catalog/stack_layers.toml`` that describes them.

Two kinds of layer share one catalog: the deployment-level layers the bottleneck map reads
(``compute`` ... ``capital``), and the industry layers that :func:`chip2grid.industry.run_industry`
models year by year (``packaging`` ... ``capital_supply``, and ``demand``). Each entry names the
analysts' layer it belongs to (``../shared/reference/ai-stack.md``), what relaxes it, when, and
who supplies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chip2grid.catalog import catalog_names, get_entry
from chip2grid.errors import CatalogError

__all__ = [
    "ANALYST_LAYERS",
    "DEMAND_LAYER_ID",
    "DEPLOYMENT_LAYER_IDS",
    "DERIVED_LAYER_IDS",
    "INDUSTRY_LAYER_IDS",
    "SUPPLY_LAYER_IDS",
    "StackLayer",
    "get_stack_layer",
    "list_stack_layers",
]

SUPPLY_LAYER_IDS: tuple[str, ...] = (
    "packaging",
    "hbm_supply",
    "foundry",
    "euv",
    "dc_power",
    "cooling_supply",
    "capital_supply",
)
"""The supply layers of the industry model, in the order ties are broken."""

DERIVED_LAYER_IDS: frozenset[str] = frozenset({"dc_power", "cooling_supply", "capital_supply"})
"""Supply layers whose conversion to accelerators follows from the hardware trend."""

DEMAND_LAYER_ID = "demand"
"""The binding layer reported when demand, not supply, limits deployment."""

INDUSTRY_LAYER_IDS: tuple[str, ...] = (*SUPPLY_LAYER_IDS, DEMAND_LAYER_ID)

DEPLOYMENT_LAYER_IDS: tuple[str, ...] = (
    "compute",
    "hbm_bandwidth",
    "hbm_capacity",
    "scale_up",
    "scale_out",
    "scheduler",
    "rack_power",
    "cooling",
    "site_power",
    "energy_supply",
    "capital",
)
"""The layers of one deployment, as the bottleneck map names them."""

ANALYST_LAYERS: tuple[str, ...] = (
    "GPU compute",
    "HBM / memory",
    "networking",
    "foundry and packaging",
    "servers",
    "power and cooling",
    "training and inference economics",
)
"""The analysts' layers of the bottleneck map in ``../shared/reference/ai-stack.md``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StackLayer:
    """One layer of the stack as ``catalog/stack_layers.toml`` describes it.

    Parameters
    ----------
    id
        The layer id used by the bottleneck map or the industry model.
    name
        A human label.
    analyst_layer
        One of :data:`ANALYST_LAYERS`.
    description
        What the layer is and what binds in it.
    resolution_timeline
        When and how the constraint is expected to ease, in words.
    key_companies
        Who supplies the layer.
    relief
        What relaxes it (a product, a technique, a build-out).
    source
        Where the figures come from (URL or document and date).
    estimate
        Whether the entry's figures are estimates.
    """

    id: str
    name: str
    analyst_layer: str
    description: str
    resolution_timeline: str
    key_companies: tuple[str, ...]
    relief: str
    source: str
    estimate: bool = False

    def __post_init__(self) -> None:
        if self.analyst_layer not in ANALYST_LAYERS:
            raise CatalogError(
                f"stack_layers.toml: [{self.id}].analyst_layer {self.analyst_layer!r} is not one of "
                f"{', '.join(ANALYST_LAYERS)}"
            )
        if not self.key_companies:
            raise CatalogError(f"stack_layers.toml: [{self.id}].key_companies is empty")


def get_stack_layer(layer_id: str) -> StackLayer:
    """The catalog entry of layer ``layer_id``; unknown ids raise :class:`UnknownEntryError`."""
    return get_entry(StackLayer, "stack_layers", "stack layer", layer_id)


def list_stack_layers() -> list[str]:
    """The sorted ids of every layer in ``catalog/stack_layers.toml``."""
    return catalog_names("stack_layers")
