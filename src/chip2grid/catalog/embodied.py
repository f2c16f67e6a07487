"""Embodied (manufacturing) carbon of accelerators, server hosts and facilities (``embodied.toml``).

Every accelerator of ``accelerators.toml`` and every platform of ``platforms.toml`` gets a figure:
the catalog's own where one was derived from a product carbon footprint or a bill of materials,
otherwise the documented fallback rule of ``[fallback.*]`` (always marked ``estimate``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chip2grid.catalog import build_entry, load_table, lookup
from chip2grid.errors import InvalidParameterError
from chip2grid.units import GB

__all__ = [
    "AcceleratorEmbodied",
    "FacilityEmbodied",
    "PlatformEmbodied",
    "accelerator_embodied",
    "accelerator_embodied_fallback_kg_co2e",
    "facility_embodied",
    "host_embodied_fallback_kg_co2e",
    "platform_embodied",
]


def _non_negative(field: str, value: float, unit: str) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value >= 0):
        raise InvalidParameterError(field, value, f"a finite number >= 0 ({unit})")


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorEmbodied:
    """Cradle-to-gate carbon of one accelerator with its HBM, package and baseboard share."""

    id: str
    kg_co2e: float
    source: str
    estimate: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        _non_negative("kg_co2e", self.kg_co2e, "kg CO2e per accelerator")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformEmbodied:
    """Cradle-to-gate carbon of one node without its accelerators (CPUs, DRAM, SSD, chassis)."""

    id: str
    host_kg_co2e_per_node: float
    source: str
    estimate: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        _non_negative("host_kg_co2e_per_node", self.host_kg_co2e_per_node, "kg CO2e per node")


@dataclass(frozen=True, slots=True, kw_only=True)
class FacilityEmbodied:
    """Carbon of building a data center (shell, cooling plant, power train) per W of IT."""

    id: str
    kg_co2e_per_w: float
    source: str
    estimate: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        _non_negative("kg_co2e_per_w", self.kg_co2e_per_w, "kg CO2e per W of critical IT power")


@dataclass(frozen=True, slots=True, kw_only=True)
class _AcceleratorRule:
    memory_kg_co2e_per_gb: float
    kg_co2e_per_tdp_w: float
    fixed_kg_co2e: float
    source: str
    estimate: bool = True
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlatformRule:
    host_kg_co2e_per_accelerator: float
    source: str
    estimate: bool = True
    notes: str = ""


def _section(name: str) -> Mapping[str, Mapping[str, Any]]:
    section: Mapping[str, Mapping[str, Any]] = load_table("embodied").get(name, {})
    return section


@functools.cache
def _accelerator_rule() -> _AcceleratorRule:
    return build_entry(
        _AcceleratorRule, "fallback.accelerator", _section("fallback")["accelerator"], "embodied"
    )


@functools.cache
def _platform_rule() -> _PlatformRule:
    return build_entry(
        _PlatformRule, "fallback.platform", _section("fallback")["platform"], "embodied"
    )


def accelerator_embodied_fallback_kg_co2e(memory_bytes: float, tdp_w: float) -> float:
    """The ``[fallback.accelerator]`` rule: memory, board power and a fixed part, in kg CO2e.

    Notes
    -----
    :math:`E = m\\,M/10^9 + w\\,P_{TDP} + f` with the coefficients of ``embodied.toml``, fitted
    to the NVIDIA HGX H100 product carbon footprint split per GPU.
    """
    _non_negative("memory_bytes", memory_bytes, "bytes")
    _non_negative("tdp_w", tdp_w, "W")
    rule = _accelerator_rule()
    return (
        rule.memory_kg_co2e_per_gb * memory_bytes / GB
        + rule.kg_co2e_per_tdp_w * tdp_w
        + rule.fixed_kg_co2e
    )


def host_embodied_fallback_kg_co2e(accelerators_per_node: int) -> float:
    """The ``[fallback.platform]`` rule: a host's carbon per accelerator slot times the slots."""
    if isinstance(accelerators_per_node, bool) or accelerators_per_node < 1:
        raise InvalidParameterError(
            "accelerators_per_node", accelerators_per_node, "an integer >= 1"
        )
    return _platform_rule().host_kg_co2e_per_accelerator * accelerators_per_node


@functools.cache
def accelerator_embodied(name: str) -> AcceleratorEmbodied:
    """Embodied carbon of catalog accelerator ``name`` (id or alias of ``accelerators.toml``).

    Accelerators without an ``[accelerator.<id>]`` table get the fallback rule applied to their
    catalog ``memory_bytes`` and ``tdp_w``, marked ``estimate``.

    Raises
    ------
    UnknownEntryError
        If ``name`` is not in ``accelerators.toml``.
    """
    acc_id, entry = lookup(load_table("accelerators"), "accelerator", name)
    own = _section("accelerator")
    if acc_id in own:
        return build_entry(AcceleratorEmbodied, acc_id, own[acc_id], "embodied")
    memory_bytes, tdp_w = float(entry["memory_bytes"]), float(entry["tdp_w"])
    rule = _accelerator_rule()
    return AcceleratorEmbodied(
        id=acc_id,
        kg_co2e=accelerator_embodied_fallback_kg_co2e(memory_bytes, tdp_w),
        source=f"embodied.toml [fallback.accelerator]: {rule.source}",
        estimate=True,
        notes=(
            f"{rule.memory_kg_co2e_per_gb} kg/GB x {memory_bytes / GB:.1f} GB + "
            f"{rule.kg_co2e_per_tdp_w} kg/W x {tdp_w:.0f} W + {rule.fixed_kg_co2e} kg"
        ),
    )


@functools.cache
def platform_embodied(name: str) -> PlatformEmbodied:
    """Embodied carbon of the host of catalog platform ``name`` (``platforms.toml``).

    Platforms without a ``[platform.<id>]`` table get ``[fallback.platform]`` times their
    ``accelerators_per_node``, marked ``estimate``.

    Raises
    ------
    UnknownEntryError
        If ``name`` is not in ``platforms.toml``.
    """
    plat_id, entry = lookup(load_table("platforms"), "platform", name)
    own = _section("platform")
    if plat_id in own:
        return build_entry(PlatformEmbodied, plat_id, own[plat_id], "embodied")
    per_node = int(entry["accelerators_per_node"])
    rule = _platform_rule()
    return PlatformEmbodied(
        id=plat_id,
        host_kg_co2e_per_node=host_embodied_fallback_kg_co2e(per_node),
        source=f"embodied.toml [fallback.platform]: {rule.source}",
        estimate=True,
        notes=f"{rule.host_kg_co2e_per_accelerator} kg x {per_node} accelerators per node",
    )


@functools.cache
def facility_embodied(name: str = "default") -> FacilityEmbodied:
    """Embodied carbon of building a data center per W of critical IT (``[facility.<name>]``)."""
    facility_id, entry = lookup(_section("facility"), "embodied facility", name)
    return build_entry(FacilityEmbodied, facility_id, entry, "embodied")
