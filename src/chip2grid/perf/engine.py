"""Serving engines: the scheduling behaviour that the step-time model needs."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chip2grid.catalog import build_entry, catalog_names, load_table, lookup
from chip2grid.errors import CatalogError


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
    api_server_time_share: float = 0.0
    """Share of a served deployment's time that the engine's in-process HTTP API server takes
    (streaming each running request's new token), from a profile of the engine; 0: the API
    server runs in a process of its own, or requests reach the engine directly."""
    nccl_nvls: bool = True
    """The engine leaves NCCL's in-switch all-reduce (NVLS) on, so its large all-reduces use the
    switch's reduction where the accelerator's has one
    (:attr:`chip2grid.hardware.Accelerator.scale_up_switch_reduction_eff`); False where the
    engine turns it off (SGLang sets ``NCCL_NVLS_ENABLE`` from ``--enable-nccl-nvls``, off by
    default)."""
    engine_host_time_share: float = 0.0
    """Share of the time, in the same profile, of the engine's own host work (scheduling,
    preparing inputs, processing outputs): what the fitted per-sequence overhead measures."""

    def __post_init__(self) -> None:
        shares = (self.api_server_time_share, self.engine_host_time_share)
        if not all(0.0 <= v < 1.0 for v in shares) or (shares[0] > 0.0 and shares[1] <= 0.0):
            raise CatalogError(
                f"engines.toml: [{self.id}] api_server_time_share {shares[0]} and "
                f"engine_host_time_share {shares[1]}: allowed are shares in [0, 1), the "
                "engine's above 0 where the API server's is"
            )

    @property
    def host_work_factor(self) -> float:
        """Per-sequence host time of a served deployment over the engine's own: ``1 +
        api_server_time_share / engine_host_time_share``, as the API server's work, like the
        engine's, is done for each running request every step; 1 without an in-process server."""
        if self.api_server_time_share <= 0.0:
            return 1.0
        return 1.0 + self.api_server_time_share / self.engine_host_time_share


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
