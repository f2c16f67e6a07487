"""Named serving workloads with sourced defaults (``workload_archetypes.toml``).

This layer reads and checks the entries; :func:`chip2grid.serving.archetype_trace` turns one
into a request stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from chip2grid.catalog import build_entry, catalog_names, load_table, lookup
from chip2grid.errors import CatalogError

__all__ = [
    "ARRIVALS",
    "KINDS",
    "WorkloadArchetypeEntry",
    "get_workload_archetype",
    "list_workload_archetypes",
]

KINDS = ("independent", "agent")
ARRIVALS = ("poisson", "gamma", "batch")
_NOT_FIGURES = {
    "id",
    "description",
    "kind",
    "source",
    "sources",
    "estimate",
    "estimated_fields",
    "notes",
    "given",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadArchetypeEntry:
    """One catalog archetype: its length distributions (as ``kind:a:b`` texts), arrivals, and
    for agents the session shape; ``sources`` gives every figure its source."""

    id: str
    description: str
    kind: str
    arrival: str
    source: str
    sources: Mapping[str, str]
    input: str = ""
    input_max_tokens: int = 0
    output: str = ""
    output_max_tokens: int = 0
    arrival_cv: float = 1.0
    batch_size: int = 0
    turn_input_tokens: int = 0
    output_tokens: int = 0
    turns_per_session: int = 0
    system_prompt_tokens: int = 0
    think_time_s: float = 0.0
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = ""
    given: tuple[str, ...] = field(default=(), compare=False)
    """The figures the catalog entry sets (filled by the loader)."""

    def __post_init__(self) -> None:
        where = f"workload_archetypes.toml: [{self.id}]"
        if self.kind not in KINDS:
            raise CatalogError(f"{where}.kind is {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.arrival not in ARRIVALS:
            raise CatalogError(
                f"{where}.arrival is {self.arrival!r}; allowed: {', '.join(ARRIVALS)}"
            )
        if self.kind == "independent" and not (self.input and self.output):
            raise CatalogError(f"{where}: an independent workload needs input and output")
        if self.kind == "agent":
            for name in ("turn_input_tokens", "output_tokens", "turns_per_session"):
                if getattr(self, name) < 1:
                    raise CatalogError(f"{where}.{name} must be an integer >= 1 for an agent")
        if self.arrival == "batch" and self.batch_size < 1:
            raise CatalogError(f"{where}.batch_size must be >= 1 when arrival is batch")
        if not self.arrival_cv > 0:
            raise CatalogError(f"{where}.arrival_cv must be > 0")
        missing = [f for f in self.given if f not in self.sources]
        if missing:
            raise CatalogError(f"{where}: no entry in [sources] for {', '.join(missing)}")
        unknown = sorted(set(self.estimated_fields) - set(self.sources))
        if unknown:
            raise CatalogError(f"{where}.estimated_fields names unsourced {', '.join(unknown)}")


_FIGURES = tuple(f.name for f in fields(WorkloadArchetypeEntry) if f.name not in _NOT_FIGURES)


def get_workload_archetype(name: str) -> WorkloadArchetypeEntry:
    """The catalog archetype ``name``; unknown names raise
    :class:`~chip2grid.errors.UnknownEntryError` listing the ids."""
    entry_id, entry = lookup(load_table("workload_archetypes"), "workload archetype", name)
    given = tuple(k for k in entry if k in _FIGURES)
    if "given" in entry:
        raise CatalogError(f"workload_archetypes.toml: [{entry_id}] has unknown field(s) given")
    return build_entry(
        WorkloadArchetypeEntry, entry_id, {**entry, "given": list(given)}, "workload_archetypes"
    )


def list_workload_archetypes() -> list[str]:
    """Ids of every catalog workload archetype."""
    return catalog_names("workload_archetypes")
