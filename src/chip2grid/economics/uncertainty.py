"""Uncertainty: any numeric input may be a distribution; Monte Carlo gives P10/P50/P90.

Inputs are drawn once as arrays and the model is called once on them (it broadcasts), so
10,000 draws of :func:`~chip2grid.economics.cost_breakdown` take milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError

__all__ = [
    "DISTRIBUTION_KINDS",
    "Distribution",
    "Fixed",
    "LogNormal",
    "MonteCarloResult",
    "Normal",
    "Summary",
    "Triangular",
    "Uniform",
    "monte_carlo",
    "parse_distribution",
    "sample",
]

_FloatArray = NDArray[np.float64]


def _finite(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixed:
    """A known value."""

    value: float

    def __post_init__(self) -> None:
        if not _finite(self.value):
            raise InvalidParameterError("value", self.value, "a finite number")


@dataclass(frozen=True, slots=True, kw_only=True)
class Uniform:
    """Every value in [low, high] equally likely."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (_finite(self.low, self.high) and self.low <= self.high):
            raise InvalidParameterError(
                "uniform", {"low": self.low, "high": self.high}, "finite low <= high"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Triangular:
    """Triangular on [low, high] with its peak at ``mode``: the usual three-point estimate."""

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        if not (_finite(self.low, self.mode, self.high) and self.low <= self.mode <= self.high):
            raise InvalidParameterError(
                "triangular",
                {"low": self.low, "mode": self.mode, "high": self.high},
                "finite low <= mode <= high",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Normal:
    """Gaussian; it can go negative, so prefer :class:`LogNormal` for prices and powers."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (_finite(self.mean, self.std) and self.std >= 0):
            raise InvalidParameterError(
                "normal", {"mean": self.mean, "std": self.std}, "a finite mean and std >= 0"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogNormal:
    """Log-normal: :math:`\\ln X \\sim N(\\ln \\mathrm{median}, \\sigma^2)`."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        if not (_finite(self.median, self.sigma) and self.median > 0 and self.sigma >= 0):
            raise InvalidParameterError(
                "lognormal",
                {"median": self.median, "sigma": self.sigma},
                "median > 0 and sigma >= 0",
            )


Distribution: TypeAlias = Fixed | Uniform | Triangular | Normal | LogNormal
"""Any of the distribution specs."""

DISTRIBUTION_KINDS: Mapping[str, type[Distribution]] = {
    "fixed": Fixed,
    "uniform": Uniform,
    "triangular": Triangular,
    "normal": Normal,
    "lognormal": LogNormal,
}
"""Names accepted in the ``dist`` key of a spec, and the classes they build."""

_DISTRIBUTION_TYPES = (Fixed, Uniform, Triangular, Normal, LogNormal)


def parse_distribution(field: str, spec: object) -> Distribution:
    """Build a :data:`Distribution` from a scenario value.

    Parameters
    ----------
    field
        The parameter's name, for error messages.
    spec
        A number (a fixed value), a distribution object, or a mapping such as
        ``{"dist": "triangular", "low": 1.0, "mode": 1.2, "high": 1.5}``.

    Raises
    ------
    InvalidParameterError
        Naming ``field``: unknown ``dist``, missing or extra keys, non-numeric values,
        low > high, a mode outside [low, high], a negative std or sigma, a median <= 0.
    """
    if isinstance(spec, _DISTRIBUTION_TYPES):
        return spec
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        if not math.isfinite(spec):
            raise InvalidParameterError(field, spec, "a finite number or a distribution")
        return Fixed(value=float(spec))
    if not isinstance(spec, Mapping):
        raise InvalidParameterError(
            field, spec, "a number or a mapping with a 'dist' key (e.g. {'dist': 'uniform', ...})"
        )
    kind = spec.get("dist")
    if kind not in DISTRIBUTION_KINDS:
        raise InvalidParameterError(
            field, spec, f"a 'dist' among {', '.join(DISTRIBUTION_KINDS)}", f"got dist={kind!r}"
        )
    cls = DISTRIBUTION_KINDS[str(kind)]
    wanted = [f.name for f in dataclasses.fields(cls)]
    params = {k: v for k, v in spec.items() if k != "dist"}
    if sorted(params) != sorted(wanted):
        raise InvalidParameterError(
            field, spec, f"a {kind} distribution with keys dist, {', '.join(wanted)}"
        )
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(field, spec, f"numbers for {', '.join(wanted)}", key)
    try:
        return cls(**{k: float(v) for k, v in params.items()})
    except InvalidParameterError as exc:
        raise InvalidParameterError(field, dict(spec), exc.allowed) from None


def sample(dist: Distribution, n: int, rng: np.random.Generator) -> _FloatArray:
    """Draw ``n`` values of ``dist`` with ``rng``."""
    if isinstance(dist, Fixed):
        return np.full(n, dist.value)
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high, n)
    if isinstance(dist, Triangular):
        if dist.low == dist.high:
            return np.full(n, dist.low)
        return rng.triangular(dist.low, dist.mode, dist.high, n)
    if isinstance(dist, Normal):
        return rng.normal(dist.mean, dist.std, n)
    return rng.lognormal(math.log(dist.median), dist.sigma, n)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Percentiles (linear interpolation) and mean of one output over the draws."""

    p10: float
    p50: float
    p90: float
    mean: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MonteCarloResult:
    """The outcome of :func:`monte_carlo`.

    Attributes
    ----------
    summaries
        P10/P50/P90/mean of every numeric output field, by name.
    samples
        The drawn outputs, one array of ``num_draws`` per field, in draw order.
    inputs
        The distribution of each input.
    """

    num_draws: int
    seed: int
    inputs: Mapping[str, Distribution]
    summaries: Mapping[str, Summary]
    samples: Mapping[str, _FloatArray]

    def __getitem__(self, name: str) -> Summary:
        try:
            return self.summaries[name]
        except KeyError:
            raise InvalidParameterError(
                "output", name, f"one of {', '.join(sorted(self.summaries))}"
            ) from None


def _numeric_outputs(result: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    if isinstance(result, Mapping):
        return dict(result)
    return {"value": result}


def monte_carlo(
    func: Callable[..., object],
    inputs: Mapping[str, Distribution | float | Mapping[str, Any]],
    num_draws: int,
    seed: int = 0,
) -> MonteCarloResult:
    """Propagate input uncertainty through a vectorized model.

    Parameters
    ----------
    func
        Called once as ``func(**draws)``; it must broadcast over arrays (as
        :func:`~chip2grid.economics.cost_breakdown` does). Bind fixed non-numeric arguments
        with :func:`functools.partial`.
    inputs
        Keyword name to a :data:`Distribution`, a number (passed as a float) or a spec that
        :func:`parse_distribution` reads.
    num_draws
        Draws per input, >= 1.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed and inputs (in the same order)
        give identical results.

    Returns
    -------
    MonteCarloResult
        Summaries of every numeric field of the result (a dataclass, a mapping, or a single
        array named ``value``); fields that do not broadcast to ``(num_draws,)`` are left out.

    Notes
    -----
    Inputs are independent and drawn in the order of ``inputs`` from one generator.
    Percentiles use linear interpolation between order statistics (numpy's default, Hyndman
    and Fan type 7 [1]_). The standard error of a P50 estimate from :math:`n` draws is about
    :math:`1.25\\,\\sigma/\\sqrt{n}`; 10,000 draws give about 1 % of :math:`\\sigma`.
    Monte Carlo for cost models follows Morgan and Henrion [2]_.

    References
    ----------
    .. [1] R. J. Hyndman and Y. Fan, "Sample quantiles in statistical packages",
       The American Statistician 50(4) (1996) 361-365, doi:10.2307/2684934.
    .. [2] M. G. Morgan and M. Henrion, "Uncertainty: a guide to dealing with uncertainty in
       quantitative risk and policy analysis", Cambridge University Press (1990), ch. 8.
    """
    if isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 1:
        raise InvalidParameterError("num_draws", num_draws, "an integer >= 1")
    rng = np.random.default_rng(seed)
    dists: dict[str, Distribution] = {}
    draws: dict[str, float | _FloatArray] = {}
    for name, spec in inputs.items():
        dist = parse_distribution(name, spec)
        dists[name] = dist
        draws[name] = dist.value if isinstance(dist, Fixed) else sample(dist, num_draws, rng)
    result = func(**draws)
    summaries: dict[str, Summary] = {}
    samples: dict[str, _FloatArray] = {}
    for name, value in _numeric_outputs(result).items():
        if isinstance(value, bool):
            continue
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.number):
            continue
        try:
            drawn = np.broadcast_to(array.astype(np.float64), (num_draws,))
        except ValueError:
            continue
        p10, p50, p90 = np.percentile(drawn, [10.0, 50.0, 90.0])
        summaries[name] = Summary(
            p10=float(p10), p50=float(p50), p90=float(p90), mean=float(np.mean(drawn))
        )
        samples[name] = drawn
    return MonteCarloResult(
        num_draws=num_draws, seed=seed, inputs=dists, summaries=summaries, samples=samples
    )
