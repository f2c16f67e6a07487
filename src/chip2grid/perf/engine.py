"""Serving engines: the scheduling behaviour that the step-time model needs."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chip2grid.catalog import build_entry, catalog_names, load_table, lookup


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineProfile:
    """Defaults and scheduling policy of a serving engine (vLLM knob names)."""

    id: str
    name: str
    mixed_batching: bool
    kv_reservation: str
    gpu_memory_utilization: float
    kv_fraction_of_free_memory: bool
    max_num_seqs: int
    max_num_batched_tokens: int
    runtime_reserved_bytes: float
    calibration: str
    source: str
    aliases: tuple[str, ...] = ()
    notes: str = ""
    host_bound: bool = False
    """The fitted overheads are host-CPU time that blocks the GPU, of a slow host
    (``vllm-host-bound``) or of an engine that did its CPU work between GPU steps (vLLM before
    0.6): they are kept out of the ``default`` engine calibration, which engines without data of
    their own take."""


@functools.cache
def get_engine(name: str) -> EngineProfile:
    """Return an engine profile by id or alias."""
    engine_id, entry = lookup(load_table("engines"), "engine", name)
    return build_entry(EngineProfile, engine_id, entry, "engines")


def list_engines() -> list[str]:
    """Ids of all engine profiles."""
    return catalog_names("engines")


def host_bound_calibrations() -> frozenset[str]:
    """Calibration keys whose steps are bound by host CPU work (see ``EngineProfile.host_bound``)."""
    return frozenset(
        get_engine(name).calibration for name in list_engines() if get_engine(name).host_bound
    )
