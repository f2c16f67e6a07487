"""The market: rental prices per accelerator-hour and API prices per million tokens, to set a
modelled cost beside what the market charges."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from chip2grid.catalog import build_entry, load_table, lookup
from chip2grid.errors import InvalidParameterError

__all__ = [
    "RENTAL_KINDS",
    "ApiPrice",
    "MarketComparison",
    "RentalPrice",
    "api_prices",
    "market_comparison",
    "rental_prices",
]

RENTAL_KINDS = (
    "hyperscaler-on-demand",
    "hyperscaler-1yr",
    "hyperscaler-3yr",
    "neocloud",
    "market-index",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RentalPrice:
    """A dated rental price of one accelerator-hour (an entry of ``rental_prices.toml``)."""

    id: str
    accelerator: str
    provider: str
    kind: str
    usd_per_accelerator_hour: float
    date: str
    source: str
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in RENTAL_KINDS:
            raise InvalidParameterError(
                "kind", self.kind, f"one of {', '.join(RENTAL_KINDS)}", f"rental {self.id!r}"
            )
        if not self.usd_per_accelerator_hour >= 0:
            raise InvalidParameterError(
                "usd_per_accelerator_hour",
                self.usd_per_accelerator_hour,
                "a number >= 0",
                f"rental {self.id!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiPrice:
    """A dated API price of a model, USD per million tokens (an entry of ``api_prices.toml``)."""

    id: str
    model: str
    provider: str
    usd_per_mtok_input: float
    usd_per_mtok_output: float
    date: str
    source: str
    usd_per_mtok_cached_input: float | None = None
    aliases: tuple[str, ...] = ()
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("usd_per_mtok_input", "usd_per_mtok_output", "usd_per_mtok_cached_input"):
            value = getattr(self, name)
            if value is None and name == "usd_per_mtok_cached_input":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidParameterError(name, value, "a number >= 0", f"API price {self.id!r}")

    def blended_usd_per_mtok(self, input_per_output: float = 3.0) -> float:
        """Price of a token mix with ``input_per_output`` input tokens per output token
        (Artificial Analysis blends 3:1)."""
        weight = input_per_output / (1.0 + input_per_output)
        return weight * self.usd_per_mtok_input + (1.0 - weight) * self.usd_per_mtok_output


@functools.cache
def rental_prices() -> tuple[RentalPrice, ...]:
    """Every entry of ``rental_prices.toml``, in file order."""
    table = load_table("rental_prices")
    return tuple(build_entry(RentalPrice, k, v, "rental_prices") for k, v in table.items())


@functools.cache
def api_prices() -> tuple[ApiPrice, ...]:
    """Every entry of ``api_prices.toml``, in file order."""
    table = load_table("api_prices")
    return tuple(build_entry(ApiPrice, k, v, "api_prices") for k, v in table.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketComparison:
    """Market prices that match one model and one accelerator.

    A modelled cost per accelerator-hour below the cheapest rental, or per million tokens
    below the cheapest API price, leaves a margin to whoever sells at that price.
    """

    model: str
    accelerator: str
    rentals: tuple[RentalPrice, ...]
    apis: tuple[ApiPrice, ...]

    @property
    def min_usd_per_accelerator_hour(self) -> float | None:
        """Cheapest matching rental, or None when there is none."""
        return min((r.usd_per_accelerator_hour for r in self.rentals), default=None)

    @property
    def min_usd_per_mtok_output(self) -> float | None:
        """Cheapest matching API output price, or None when there is none."""
        return min((a.usd_per_mtok_output for a in self.apis), default=None)

    @property
    def min_usd_per_mtok_input(self) -> float | None:
        """Cheapest matching API input price, or None when there is none."""
        return min((a.usd_per_mtok_input for a in self.apis), default=None)


def market_comparison(model_id: str, accelerator_id: str) -> MarketComparison:
    """Rental prices of ``accelerator_id`` and API prices of ``model_id`` from the catalogs.

    Ids or aliases of ``models.toml`` and ``accelerators.toml`` are accepted.

    Raises
    ------
    UnknownEntryError
        If the model or accelerator is not in its catalog.
    """
    model, _ = lookup(load_table("models"), "model", model_id)
    accelerator, _ = lookup(load_table("accelerators"), "accelerator", accelerator_id)
    return MarketComparison(
        model=model,
        accelerator=accelerator,
        rentals=tuple(r for r in rental_prices() if r.accelerator.lower() == accelerator),
        apis=tuple(a for a in api_prices() if a.model.lower() == model),
    )
