"""Servers and racks: the platform a set of accelerators is sold in.

A :class:`Platform` is one entry of ``catalog/platforms.toml`` (an HGX server, a GB200 NVL72
compute tray, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from chip2grid.catalog import catalog_names, get_entry, load_table
from chip2grid.errors import InvalidParameterError, require_finite_non_negative
from chip2grid.facility._arrays import Real, as_real, check
from chip2grid.hardware import get_accelerator

__all__ = [
    "Platform",
    "accelerators_with_platform",
    "default_platform_for",
    "get_platform",
    "list_platforms",
    "node_power_w",
]

_POSITIVE = ("node_max_power_w", "rack_power_w")
_NON_NEGATIVE = (
    "node_host_power_w",
    "node_price_usd",
    "network_usd_per_accelerator",
    "network_power_w_per_accelerator",
)
_POSITIVE_INT = ("accelerators_per_node", "nodes_per_rack", "scale_up_domain_size")


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """A server (node) model, how it packs into racks, what cools it and what it costs.

    Attributes
    ----------
    accelerator
        Id of the accelerator in ``accelerators.toml``.
    node_max_power_w
        Vendor maximum power of one node (one compute tray for rack-scale systems).
    node_host_power_w
        CPUs, memory, NICs, fans and drives at load, accelerators excluded.
    cooling
        Ids of the cooling types that can cool the platform.
    node_price_usd
        One node with its accelerators.
    network_usd_per_accelerator, network_power_w_per_accelerator
        Scale-out fabric (switches, optics, cables) cost and power per accelerator.
    """

    id: str
    name: str
    accelerator: str
    accelerators_per_node: int
    node_max_power_w: float
    node_host_power_w: float
    psu_efficiency_frac: float
    nodes_per_rack: int
    rack_power_w: float
    cooling: tuple[str, ...]
    scale_up_domain_size: int
    fabric: str
    node_price_usd: float
    node_price_date: str
    network_usd_per_accelerator: float
    network_power_w_per_accelerator: float
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"in platform {self.id!r}"
        for name in _POSITIVE_INT:
            value = getattr(self, name)
            if value < 1:
                raise InvalidParameterError(name, value, "an integer >= 1", where)
        for name in _POSITIVE:
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InvalidParameterError(name, value, "a finite number > 0", where)
        require_finite_non_negative(self, _NON_NEGATIVE, where)
        if not 0 < self.psu_efficiency_frac <= 1:
            raise InvalidParameterError(
                "psu_efficiency_frac", self.psu_efficiency_frac, "a fraction in (0, 1]", where
            )
        if not self.cooling:
            raise InvalidParameterError("cooling", self.cooling, "at least one cooling id", where)

    @property
    def accelerators_per_rack(self) -> int:
        """Accelerators in one rack at the default packing."""
        return self.accelerators_per_node * self.nodes_per_rack


def node_power_w(platform: Platform, accelerator_power_w: ArrayLike) -> Real:
    """Wall power of one node whose accelerators each draw ``accelerator_power_w``.

    Notes
    -----
    .. math::

        P_{node} = \\frac{n \\, P_{acc} + P_{host}}{\\eta_{PSU}}

    with :math:`n` accelerators per node, :math:`P_{host}` the host power at load and
    :math:`\\eta_{PSU}` the power-supply efficiency (80 PLUS [1]_). The result is not capped at
    ``node_max_power_w``, the vendor's provisioning figure.

    References
    ----------
    .. [1] CLEAResult, "80 PLUS certified power supplies and manufacturers",
       https://www.clearesult.com/80plus/.
    """
    power = np.asarray(accelerator_power_w, dtype=np.float64)
    check("accelerator_power_w", power, power >= 0, "a number >= 0 (W)")
    return as_real(
        (platform.accelerators_per_node * power + platform.node_host_power_w)
        / platform.psu_efficiency_frac
    )


def get_platform(name: str) -> Platform:
    """Return a catalog platform by id or alias.

    Raises
    ------
    UnknownEntryError
        If no platform has that id; the message lists the closest ids.
    """
    return get_entry(Platform, "platforms", "platform", name)


def list_platforms() -> list[str]:
    """Ids of all catalog platforms, sorted."""
    return catalog_names("platforms")


def default_platform_for(accelerator_id: str) -> Platform:
    """The first platform in ``platforms.toml`` built around ``accelerator_id``.

    ``accelerator_id`` may be an id or an alias of ``accelerators.toml``.

    Raises
    ------
    UnknownEntryError
        If the accelerator is not in the catalog.
    InvalidParameterError
        If no platform uses it (field ``accelerator``; lists the accelerators that have one).
    """
    accelerator = get_accelerator(accelerator_id)
    table = load_table("platforms")
    for platform_id, entry in table.items():
        if str(entry.get("accelerator", "")).lower() == accelerator.id:
            return get_entry(Platform, "platforms", "platform", platform_id)
    raise InvalidParameterError(
        "accelerator",
        accelerator.id,
        "an accelerator that platforms.toml has a server for: "
        + ", ".join(accelerators_with_platform()),
        "or build a Platform for it yourself",
    )


def accelerators_with_platform() -> list[str]:
    """The sorted ids of the accelerators ``platforms.toml`` has a server for."""
    return sorted({str(e.get("accelerator", "")).lower() for e in load_table("platforms").values()})
