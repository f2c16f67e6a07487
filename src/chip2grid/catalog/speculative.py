"""Speculative-decoding settings with their published acceptance rates (``speculative.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from chip2grid.catalog import build_entry, catalog_names, load_table, lookup
from chip2grid.errors import CatalogError

__all__ = [
    "SpeculativeSetting",
    "get_speculative_setting",
    "list_speculative_settings",
    "speculative_settings_for",
]

METHODS = ("mtp", "draft")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeculativeSetting:
    """One catalog speculative-decoding setting: how it drafts and how often drafts are accepted."""

    id: str
    method: str
    num_speculative_tokens: int
    acceptance_rate: float
    draft_model: str
    models: tuple[str, ...]
    source: str
    estimate: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        where = f"speculative.toml: [{self.id}]"
        if self.method not in METHODS:
            raise CatalogError(f"{where}.method is {self.method!r}; allowed: {', '.join(METHODS)}")
        if not 1 <= self.num_speculative_tokens <= 16:
            raise CatalogError(f"{where}.num_speculative_tokens must be 1..16")
        if not 0.0 <= self.acceptance_rate <= 1.0:
            raise CatalogError(f"{where}.acceptance_rate must be a fraction in [0, 1]")
        if (self.method == "draft") != bool(self.draft_model):
            raise CatalogError(f"{where}: draft_model is required for method 'draft' only")
        if not self.models:
            raise CatalogError(f"{where}.models must name at least one model id")


def get_speculative_setting(name: str) -> SpeculativeSetting:
    """The setting ``name``; unknown names raise :class:`UnknownEntryError` listing the ids."""
    setting_id, entry = lookup(load_table("speculative"), "speculative setting", name)
    return build_entry(SpeculativeSetting, setting_id, entry, "speculative")


def list_speculative_settings() -> list[str]:
    """Ids of every catalog speculative-decoding setting."""
    return catalog_names("speculative")


def speculative_settings_for(model_id: str) -> tuple[SpeculativeSetting, ...]:
    """The catalog settings that apply to ``model_id`` (possibly none)."""
    settings = (get_speculative_setting(n) for n in list_speculative_settings())
    return tuple(s for s in settings if model_id in s.models)
