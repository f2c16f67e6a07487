"""What a chip and its links can do: peak FLOP/s, memory, interconnect, power vs load."""

from __future__ import annotations

import dataclasses
import functools

from chip2grid.catalog import build_entry, catalog_names, load_table, lookup
from chip2grid.errors import CatalogError
from chip2grid.hardware.accelerator import Accelerator
from chip2grid.hardware.interconnect import (
    ALLREDUCE_QUANTIZATIONS,
    QUICK_REDUCE_MAX_BYTES,
    QUICK_REDUCE_RANKS,
    SWITCH_REDUCTION_MIN_BYTES,
    all_reduce_time_s,
    all_to_all_time_s,
    point_to_point_time_s,
    quantized_allreduce,
    ring_all_reduce_bus_factor,
    switch_all_reduce_bus_factor,
)
from chip2grid.hardware.power import (
    ServerPower,
    accelerator_power_w,
    full_activity_power_w,
    sustained_clock_frac,
)

__all__ = [
    "ALLREDUCE_QUANTIZATIONS",
    "QUICK_REDUCE_MAX_BYTES",
    "QUICK_REDUCE_RANKS",
    "SWITCH_REDUCTION_MIN_BYTES",
    "Accelerator",
    "ServerPower",
    "accelerator_power_w",
    "all_reduce_time_s",
    "all_to_all_time_s",
    "full_activity_power_w",
    "get_accelerator",
    "list_accelerators",
    "point_to_point_time_s",
    "quantized_allreduce",
    "ring_all_reduce_bus_factor",
    "sustained_clock_frac",
    "switch_all_reduce_bus_factor",
]


@functools.cache
def _catalog_accelerator(accelerator_id: str) -> Accelerator:
    table = load_table("accelerators")
    acc = build_entry(Accelerator, accelerator_id, table[accelerator_id], "accelerators")
    if not acc.power_reference:
        return acc
    if acc.power_reference not in table or acc.power_reference == accelerator_id:
        raise CatalogError(
            f"accelerators.toml: [{accelerator_id}].power_reference = {acc.power_reference!r}; "
            "allowed: the id of another accelerator of the catalog"
        )
    ref = _catalog_accelerator(acc.power_reference)
    precision = ref.sixteen_bit
    if precision not in acc.peak_flops_per_s:
        raise CatalogError(
            f"accelerators.toml: [{accelerator_id}] lacks {precision} in peak_flops_per_s, "
            f"which its power_reference {ref.id} is compared on"
        )
    units = acc.compute_units_frac
    return dataclasses.replace(
        acc,
        reference_dynamic_power_w=ref.full_load_dynamic_power_w * units,
        reference_clock_frac=acc.peak_flops_per_s[precision] / units / ref.peak_flops(precision),
    )


def get_accelerator(name: str) -> Accelerator:
    """Return a catalog accelerator by id or alias."""
    accelerator_id, _entry = lookup(load_table("accelerators"), "accelerator", name)
    return _catalog_accelerator(accelerator_id)


def list_accelerators() -> list[str]:
    """Ids of all catalog accelerators."""
    return catalog_names("accelerators")
