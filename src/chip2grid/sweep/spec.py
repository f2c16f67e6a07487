"""What a sweep varies: grid axes and random ranges over scenario fields, expanded into points
with deterministic ids."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chip2grid.errors import InvalidParameterError, UnknownEntryError

__all__ = [
    "GridAxis",
    "RandomAxis",
    "SweepPoint",
    "SweepSpec",
    "check_fields",
    "expand_points",
    "load_sweep_file",
    "parse_grid",
    "parse_random",
    "parse_value",
    "point_id",
]

Value = int | float | str | bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GridAxis:
    """A field and the values it takes; a grid is the product of its axes."""

    field: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomAxis:
    """A field drawn uniformly (or log-uniformly) in ``[low, high]``."""

    field: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise InvalidParameterError(
                f"--random {self.field}", f"{self.low}:{self.high}", "finite low <= high"
            )
        if self.log and not self.low > 0:
            raise InvalidParameterError(
                f"--random {self.field}", self.low, "a low bound > 0 for a log-uniform range"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSpec:
    """A sweep: a base scenario, grid axes, random axes and the number of random samples.

    With both grids and random axes, every grid point is combined with every random sample.
    """

    base: str = "default"
    grid: tuple[GridAxis, ...] = ()
    random: tuple[RandomAxis, ...] = ()
    num_samples: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        fields = [a.field for a in self.grid] + [a.field for a in self.random]
        duplicates = sorted({f for f in fields if fields.count(f) > 1})
        if duplicates:
            raise InvalidParameterError("sweep fields", duplicates, "each field varied once")
        if self.random and self.num_samples < 1:
            raise InvalidParameterError(
                "--samples", self.num_samples, "an integer >= 1 with --random"
            )
        if self.num_samples < 0:
            raise InvalidParameterError("--samples", self.num_samples, "an integer >= 0")

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the sweep varies, grid axes first."""
        return tuple(a.field for a in self.grid) + tuple(a.field for a in self.random)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPoint:
    """One scenario of a sweep: its id and the overrides of the base scenario."""

    point_id: str
    overrides: tuple[tuple[str, Value], ...]

    def as_dict(self) -> dict[str, object]:
        """The overrides as the dict ``apply_overrides`` takes."""
        return dict(self.overrides)


def parse_value(text: str) -> Value:
    """An integer, a float, ``true``/``false`` or else the string itself."""
    raw = text.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _split_field(option: str, text: str) -> tuple[str, str]:
    field, sep, rest = text.partition("=")
    if not sep or not field.strip() or not rest.strip():
        raise InvalidParameterError(
            option, text, "FIELD=VALUES, e.g. deployment.num_accelerators=8,16"
        )
    return field.strip(), rest.strip()


def parse_grid(text: str) -> GridAxis:
    """``deployment.num_accelerators=8,16`` -> a grid axis."""
    field, rest = _split_field("--grid", text)
    values = tuple(parse_value(v) for v in rest.split(",") if v.strip())
    if len(set(values)) != len(values):
        raise InvalidParameterError("--grid", text, "distinct values")
    return GridAxis(field=field, values=values)


def parse_random(text: str) -> RandomAxis:
    """``finance.wacc_frac=0.06:0.12`` (uniform), ``...=log:1:100`` (log-uniform) or
    ``...=int:8:64`` (uniform integers)."""
    field, rest = _split_field("--random", text)
    parts = rest.split(":")
    kind = parts[0].strip().lower() if len(parts) == 3 else ""
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) != 2 or kind not in ("", "log", "int"):
        raise InvalidParameterError(
            "--random", text, "FIELD=LOW:HIGH, FIELD=log:LOW:HIGH or FIELD=int:LOW:HIGH"
        )
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidParameterError("--random", text, "numbers LOW:HIGH") from None
    return RandomAxis(field=field, low=low, high=high, log=kind == "log", integer=kind == "int")


def check_fields(fields: Sequence[str], known: Sequence[str]) -> None:
    """Raise :class:`UnknownEntryError` (with the closest names) for a field not in ``known``."""
    valid = set(known)
    for field in fields:
        if field not in valid:
            error = UnknownEntryError("scenario field", field, valid)
            close = difflib.get_close_matches(field, sorted(valid), n=5, cutoff=0.5)
            error.close = close
            error.args = (
                f"unknown scenario field {field!r}"
                + (f"; closest: {', '.join(close)}" if close else "")
                + f"; {len(valid)} fields can be varied (`chip2grid sweep --list-fields`)",
            )
            raise error


def point_id(base_fingerprint: str, overrides: Sequence[tuple[str, Value]]) -> str:
    """A 16-hex-digit id: SHA-256 of the base scenario's fingerprint and the sorted overrides."""
    payload = json.dumps([base_fingerprint, sorted(overrides)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _draw(axis: RandomAxis, rng: np.random.Generator, n: int) -> list[Value]:
    u = rng.random(n)
    if axis.log:
        lo, hi = math.log(axis.low), math.log(axis.high)
        values = np.exp(lo + u * (hi - lo))
    else:
        values = axis.low + u * (axis.high - axis.low)
    if axis.integer:
        return [int(v) for v in np.clip(np.floor(values + 0.5), axis.low, axis.high)]
    return [float(v) for v in values]


def expand_points(spec: SweepSpec, base_fingerprint: str) -> tuple[SweepPoint, ...]:
    """Every point of ``spec``, in a deterministic order (grid in row-major order; random
    samples from ``numpy.random.default_rng(seed)``, one column per axis in order)."""
    grid_points: list[tuple[tuple[str, Value], ...]] = [
        tuple(zip([a.field for a in spec.grid], combo, strict=True))
        for combo in itertools.product(*(a.values for a in spec.grid))
    ]
    if spec.random:
        rng = np.random.default_rng(spec.seed)
        columns = [_draw(axis, rng, spec.num_samples) for axis in spec.random]
        samples = [
            tuple((a.field, columns[j][i]) for j, a in enumerate(spec.random))
            for i in range(spec.num_samples)
        ]
        combos = [g + r for g in grid_points for r in samples]
    else:
        combos = grid_points
    points: dict[str, SweepPoint] = {}
    for overrides in combos:
        pid = point_id(base_fingerprint, overrides)
        points.setdefault(pid, SweepPoint(point_id=pid, overrides=overrides))
    return tuple(points.values())


def load_sweep_file(path: Path | str) -> SweepSpec:
    """A sweep file (TOML, or YAML when it ends in .yaml/.yml)::

    base = "default"
    samples = 100
    seed = 1
    [grid]
    "deployment.num_accelerators" = [8, 16]
    [random]
    "finance.wacc_frac" = [0.06, 0.12]          # uniform
    "workload.input_tokens" = ["log", 128, 8192]  # log-uniform
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise InvalidParameterError(
            "--sweep-file", str(file), "a readable file", str(exc)
        ) from None
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidParameterError("--sweep-file", str(file), "valid TOML", str(exc)) from None
    allowed = {"base", "samples", "seed", "grid", "random"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidParameterError(
            "--sweep-file", ", ".join(unknown), f"keys {', '.join(sorted(allowed))}"
        )
    grid = tuple(
        GridAxis(field=str(k), values=tuple(v if isinstance(v, list) else [v]))
        for k, v in dict(data.get("grid", {})).items()
    )
    random_axes = []
    for k, v in dict(data.get("random", {})).items():
        if not isinstance(v, list) or len(v) not in (2, 3):
            raise InvalidParameterError(
                f"random.{k}", v, "[low, high], ['log', low, high] or ['int', low, high]"
            )
        text_form = ":".join(str(x) for x in v)
        random_axes.append(parse_random(f"{k}={text_form}"))
    return SweepSpec(
        base=str(data.get("base", "default")),
        grid=grid,
        random=tuple(random_axes),
        num_samples=int(data.get("samples", 0)),
        seed=int(data.get("seed", 0)),
    )
