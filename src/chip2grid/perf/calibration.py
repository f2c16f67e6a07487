"""Fitted efficiencies and overheads, stored with their provenance in ``catalog/calibration.toml``.

Hardware efficiencies are fitted per accelerator family (``hopper``, ``ampere``, ...), software
overheads per engine, power coefficients once. A family without a fit of its own uses the fit
of the family whose kernels it runs (:data:`FAMILY_FALLBACK`) where that one is fitted, else the
``default`` entry, fitted on all data; an engine without one uses ``default``. Predictions say
which entries they used (``calibration`` field).

A user calibration file (written by ``chip2grid profile`` or ``chip2grid calibrate``, format in
``docs/calibration.md``) overrides the catalog for the accelerator family it names: pass it as
``calibration_for(family, engine, override=path)`` or set the environment variable
``CHIP2GRID_CALIBRATION=path``. Fields the file does not give keep their catalog values. This
module reads the file format only; it never imports the profiler.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chip2grid.catalog import load_table
from chip2grid.errors import CatalogError, ExtrapolationWarning

CALIBRATION_ENV_VAR = "CHIP2GRID_CALIBRATION"
"""Environment variable naming a user calibration file that :func:`calibration_for` applies."""

FAMILY_FALLBACK: Mapping[str, str] = {
    # Blackwell Ultra (B300, GB300: compute capability 10.3) is the Blackwell SM of the B200
    # (10.0) with more FP4 throughput, memory and power: the engines run the same kernels on it,
    # so its efficiencies are Blackwell's until it has measurements of its own; the cross-family
    # default (a geometric mean over Ampere, Ada, Hopper and Blackwell) is further from it
    "blackwell-ultra": "blackwell",
}
"""Accelerator family -> the family whose fitted efficiencies it uses while it has none."""


def hardware_calibration_key(family: str, fitted: Mapping[str, object] | frozenset[str]) -> str:
    """The hardware entry a family uses given the fitted ones: its own, its
    :data:`FAMILY_FALLBACK` family's, or ``default``."""
    fallback = FAMILY_FALLBACK.get(family)
    for key in (family, fallback):
        if key is not None and key in fitted:
            return key
    return "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareCalibration:
    """How close a family of accelerators gets to its peaks."""

    gemm_compute_eff: float = 0.75
    gemm_m_half_tokens: float = 16.0
    attention_compute_eff: float = 0.5
    memory_eff: float = 0.8
    comm_eff: float = 0.7
    comm_latency_s: float = 10e-6
    tdp_clock_frac: float = 1.0
    """Share of the datasheet clock the family's full-power part sustains under full matrix load
    at its TDP (:mod:`chip2grid.hardware.power`). The efficiencies hold it for parts at that
    TDP; a part of the same die given more power (GH200's module, an H200 board at 1,000 W)
    runs its matrix units up to ``1 / tdp_clock_frac`` faster. Fitted only for families whose
    fit set has such parts; 1 elsewhere."""
    source: str = "prior (not fitted)"

    def __post_init__(self) -> None:
        for name in (
            "gemm_compute_eff",
            "attention_compute_eff",
            "memory_eff",
            "comm_eff",
            "tdp_clock_frac",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise CatalogError(
                    f"calibration: {name} = {value}; allowed: (0, 1] (no prediction may beat the roofline)"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineCalibration:
    """Time a serving engine spends outside the roofline work of each step."""

    step_overhead_s: float = 2e-3
    per_sequence_overhead_s: float = 5e-6
    per_layer_overhead_s: float = 10e-6
    """Host time to launch one layer's kernels. The device runs them as they come, so a step
    shows this time only where its launches outlast the device's work (small batches, short
    layers): the step takes ``step_overhead_s + per_sequence_overhead_s * seqs + max(device,
    per_layer_overhead_s * layers)`` (:func:`chip2grid.perf.step_time`)."""
    collective_overhead_s: float = 0.0
    """Software time the engine adds to each collective (all-reduce, all-to-all, pipeline send)
    on top of the link's latency (``HardwareCalibration.comm_latency_s``): launching and
    synchronising its communication kernels. A one-shot custom all-reduce kernel costs less
    than a library ring called from eager code, so the same link is slower under one engine
    than under another."""
    moe_gemm_eff_frac: float = 1.0
    """Share of the dense GEMM efficiency that the engine's routed-expert (grouped GEMM) kernels
    reach: token permutation, per-expert tiles and the kernels' maturity cost MoE layers
    compute that a dense GEMM of the same size does not pay. 1: as a dense GEMM."""
    source: str = "prior (not fitted)"

    def __post_init__(self) -> None:
        if not 0 < self.moe_gemm_eff_frac <= 1:
            raise CatalogError(
                f"calibration: moe_gemm_eff_frac = {self.moe_gemm_eff_frac}; allowed: (0, 1] "
                "(no prediction may beat the roofline)"
            )


CLOCK_POWER_EXPONENT_RANGE = (1.0, 3.0)
"""Physical range of ``clock_power_exponent``: ``P ~ C V^2 f`` with the voltage fixed (1) or
rising in proportion to the clock (3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerCalibration:
    """Weights of compute and memory activity in the dynamic power of an accelerator, and how
    dynamic power grows with the clock (``P ~ f^clock_power_exponent``), which sets the clock a
    power-limited part sustains (:func:`chip2grid.hardware.sustained_clock_frac`)."""

    compute_power_coeff: float = 0.9
    memory_power_coeff: float = 0.6
    clock_power_exponent: float = 2.0
    source: str = "prior (not fitted)"

    def __post_init__(self) -> None:
        low, high = CLOCK_POWER_EXPONENT_RANGE
        if not low <= self.clock_power_exponent <= high:
            raise CatalogError(
                f"calibration: clock_power_exponent = {self.clock_power_exponent}; allowed: "
                f"{low}..{high} (1: power "
                "proportional to the clock at fixed voltage; 3: voltage proportional to the clock)"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationCoverage:
    """The shapes a calibration file was measured on; predictions outside them extrapolate.

    ``gemm_m_*_tokens`` bound the rows of the GEMMs (tokens in a step), ``context_*_tokens``
    the attention context. A bound of ``nan`` is not checked.
    """

    gemm_m_min_tokens: float = math.nan
    gemm_m_max_tokens: float = math.nan
    context_min_tokens: float = math.nan
    context_max_tokens: float = math.nan

    def outside(self, *, gemm_m_tokens: Any = None, context_tokens: Any = None) -> list[str]:
        """Which requested shapes fall outside the covered range, in words (empty if none)."""
        problems = []
        for name, values, low, high in (
            ("GEMM m", gemm_m_tokens, self.gemm_m_min_tokens, self.gemm_m_max_tokens),
            ("context", context_tokens, self.context_min_tokens, self.context_max_tokens),
        ):
            if values is None:
                continue
            arr = np.asarray(values, dtype=float)
            if arr.size == 0:
                continue
            lo_v, hi_v = float(np.nanmin(arr)), float(np.nanmax(arr))
            if (not math.isnan(low) and lo_v < low) or (not math.isnan(high) and hi_v > high):
                problems.append(
                    f"{name} {lo_v:g}..{hi_v:g} tokens outside the profiled {low:g}..{high:g}"
                )
        return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """The calibration one prediction uses, with the names of the entries it came from.

    ``origin`` is ``catalog`` for the shipped ``calibration.toml``, otherwise the label of the
    user calibration file that overrode it (``profile:h100-sxm@2026-11-23``); ``coverage`` the
    shapes that file was measured on (None: not checked).
    """

    hardware: HardwareCalibration
    engine: EngineCalibration
    power: PowerCalibration
    hardware_key: str
    engine_key: str
    origin: str = "catalog"
    coverage: CalibrationCoverage | None = None
    moe_key: str = ""
    """The ``ENGINE@FAMILY`` pair whose MoE share ``engine`` carries (:func:`catalog_moe_pair`);
    empty where it is the engine's own."""

    @property
    def label(self) -> str:
        """``hardware-key/engine-key`` as reported in results, prefixed by a user file's label."""
        keys = f"{self.hardware_key}/{self.engine_key}"
        return keys if self.origin == "catalog" else f"{self.origin} ({keys})"

    def check_coverage(self, *, gemm_m_tokens: Any = None, context_tokens: Any = None) -> None:
        """Warn (:class:`ExtrapolationWarning`) when shapes lie outside the profiled range.

        Cheap: one min and max per argument. Does nothing for the catalog calibration.
        """
        if self.coverage is None:
            return
        problems = self.coverage.outside(gemm_m_tokens=gemm_m_tokens, context_tokens=context_tokens)
        if problems:
            warnings.warn(
                f"calibration {self.origin}: {'; '.join(problems)}; the prediction extrapolates",
                ExtrapolationWarning,
                stacklevel=2,
            )


def _build(cls: type[Any], section: dict[str, Any], key: str) -> Any:
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - allowed
    if unknown:
        raise CatalogError(
            f"calibration.toml: [{key}] has unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return cls(**section)


@functools.cache
def _tables() -> dict[str, dict[str, Any]]:
    raw = load_table("calibration")
    flat: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in ("hardware", "engine"):
            for sub, entry in value.items():
                flat[f"{key}.{sub}"] = dict(entry)
        elif key == "moe":
            for engine, families in value.items():
                for family, entry in families.items():
                    if set(entry) != {"moe_gemm_eff_frac", "source"}:
                        raise CatalogError(
                            f"calibration.toml: [moe.{engine}.{family}] has fields "
                            f"{sorted(entry)}; allowed: exactly moe_gemm_eff_frac and source"
                        )
                    flat[f"moe.{engine}.{family}"] = dict(entry)
        else:
            flat[key] = dict(value)
    return flat


MOE_PAIR_SEP = "@"
"""Joins an engine calibration key and a hardware family into the key of their MoE share
(``tensorrt-llm@hopper``): the ``[moe.ENGINE.FAMILY]`` tables of ``calibration.toml``."""


def moe_pair_key(engine: str, family: str) -> str:
    """The key of an engine's MoE share on one hardware family (:data:`MOE_PAIR_SEP`)."""
    return f"{engine}{MOE_PAIR_SEP}{family}"


def moe_pair_parts(key: str) -> tuple[str, str]:
    """``(engine, family)`` of a :func:`moe_pair_key`; the family is empty for an engine key."""
    engine, _, family = key.partition(MOE_PAIR_SEP)
    return engine, family


def is_moe_pair(key: str) -> bool:
    """Whether a calibration key is an ``ENGINE@FAMILY`` MoE pair (:func:`moe_pair_key`)."""
    return bool(moe_pair_parts(key)[1])


def catalog_moe_pair(engine: str, family: str) -> str | None:
    """The ``[moe.ENGINE.FAMILY]`` table (as :func:`moe_pair_key`) that sets ``engine``'s MoE
    share on ``family``: the family's own, or its fallback's (:data:`FAMILY_FALLBACK`); None
    where the engine's own ``moe_gemm_eff_frac`` applies."""
    tables = _tables()
    for key in (family, hardware_calibration_key(family, _fitted_families())):
        if f"moe.{engine}.{key}" in tables:
            return moe_pair_key(engine, key)
    return None


def catalog_moe_share(pair: str) -> float:
    """The MoE share of a :func:`catalog_moe_pair` key."""
    engine, family = moe_pair_parts(pair)
    return float(_tables()[f"moe.{engine}.{family}"]["moe_gemm_eff_frac"])


@functools.cache
def _fitted_families() -> frozenset[str]:
    """The accelerator families with a ``[hardware.*]`` table in the shipped calibration."""
    return frozenset(k.split(".", 1)[1] for k in _tables() if k.startswith("hardware."))


def catalog_calibration_for(family: str, engine: str) -> Calibration:
    """The shipped calibration of an accelerator family and engine: the family's own entry, its
    :data:`FAMILY_FALLBACK` family's, or ``default``."""
    tables = _tables()
    hw_key = f"hardware.{hardware_calibration_key(family, _fitted_families())}"
    engine_key = f"engine.{engine}" if f"engine.{engine}" in tables else "engine.default"
    hw_section = tables.get(hw_key, {})
    engine_section = tables.get(engine_key, {})
    # the engine's MoE kernels on this family, where calibration.toml has a [moe.E.F] table
    pair = catalog_moe_pair(engine_key.split(".", 1)[1], family)
    if pair is not None:
        engine_section = {**engine_section, "moe_gemm_eff_frac": catalog_moe_share(pair)}
    return Calibration(
        hardware=_build(HardwareCalibration, hw_section, hw_key),
        engine=_build(EngineCalibration, engine_section, engine_key),
        power=_build(PowerCalibration, tables.get("power", {}), "power"),
        hardware_key=hw_key.split(".", 1)[1],
        engine_key=engine_key.split(".", 1)[1],
        moe_key=pair or "",
    )


FILE_SECTIONS = (
    "provenance",
    "hardware",
    "engine",
    "power",
    "coverage",
    "derived",
    "measurements",
    "fit",
)
"""Top-level tables a user calibration file may hold (``docs/calibration.md``)."""
_COVERAGE_KEYS = {f.name for f in dataclasses.fields(CalibrationCoverage)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationFile:
    """A user calibration file: what it overrides, for which family, and its provenance.

    ``hardware`` holds the :class:`HardwareCalibration` fields it gives (for ``family``),
    ``engines`` the :class:`EngineCalibration` fields per engine key, ``power`` the
    :class:`PowerCalibration` fields; everything else is provenance and raw measurements.
    """

    path: str
    kind: str
    family: str
    accelerator: str
    created_utc: str
    hardware: Mapping[str, Any] = field(default_factory=dict)
    engines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    power: Mapping[str, Any] = field(default_factory=dict)
    coverage: CalibrationCoverage | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``kind:accelerator@date``, e.g. ``profile:h100-sxm@2026-11-23``."""
        return f"{self.kind}:{self.accelerator or self.family}@{self.created_utc[:10]}"


def _check_fields(cls: type[Any], section: Mapping[str, Any], where: str) -> dict[str, Any]:
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - allowed
    if unknown:
        raise CatalogError(
            f"{where} has unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return dict(section)


def parse_calibration_file(data: Mapping[str, Any], path: str = "<calibration>") -> CalibrationFile:
    """Validate the tables of a calibration file (already parsed TOML) into a :class:`CalibrationFile`."""
    unknown = set(data) - set(FILE_SECTIONS)
    if unknown:
        raise CatalogError(
            f"{path}: unknown table(s) {sorted(unknown)}; allowed: {list(FILE_SECTIONS)}"
        )
    prov = data.get("provenance")
    if not isinstance(prov, Mapping):
        raise CatalogError(f"{path}: missing [provenance] table (kind, family, created_utc)")
    for key in ("kind", "family", "created_utc"):
        if not isinstance(prov.get(key), str) or not prov.get(key):
            raise CatalogError(f"{path}: [provenance] {key} is missing or not a string")
    hardware = _check_fields(HardwareCalibration, data.get("hardware", {}), f"{path}: [hardware]")
    engines = {
        str(k): _check_fields(EngineCalibration, v, f"{path}: [engine.{k}]")
        for k, v in dict(data.get("engine", {})).items()
    }
    power = _check_fields(PowerCalibration, data.get("power", {}), f"{path}: [power]")
    try:  # validates the ranges ((0, 1] efficiencies) with the catalog's own rules
        HardwareCalibration(**hardware)
        for e in engines.values():
            EngineCalibration(**e)
        PowerCalibration(**power)
    except TypeError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    coverage = None
    if "coverage" in data:
        cov = data["coverage"]
        kept = {k: float(v) for k, v in cov.items() if k in _COVERAGE_KEYS}
        coverage = CalibrationCoverage(**kept)
    return CalibrationFile(
        path=path,
        kind=prov["kind"],
        family=prov["family"],
        accelerator=str(prov.get("accelerator", "")),
        created_utc=prov["created_utc"],
        hardware=hardware,
        engines=engines,
        power=power,
        coverage=coverage,
        provenance=dict(prov),
    )


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> CalibrationFile:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML ({exc})") from None
    return parse_calibration_file(data, path)


def load_calibration_file(path: str | os.PathLike[str]) -> CalibrationFile:
    """Read a user calibration file (cached until the file changes).

    Raises :class:`CatalogError` naming the file and the field when it is malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise CatalogError(
            f"calibration file {str(path)!r} does not exist; write one with `chip2grid profile` "
            f"or `chip2grid calibrate --write`, or unset {CALIBRATION_ENV_VAR}"
        )
    return _load_cached(str(file.resolve()), file.stat().st_mtime_ns)


def calibration_for(
    family: str,
    engine: str,
    *,
    override: str | os.PathLike[str] | CalibrationFile | None = None,
    use_environment: bool = True,
) -> Calibration:
    """The calibration of an accelerator family and engine.

    The shipped catalog (:func:`catalog_calibration_for`), overridden by a user calibration
    file: ``override``, or else the file named by ``$CHIP2GRID_CALIBRATION`` (unless
    ``use_environment`` is false). The file's hardware fields apply when its family equals
    ``family``; its engine fields when it has a table for ``engine``. Without a file, or when
    it does not apply, the result equals the catalog's.
    """
    base = catalog_calibration_for(family, engine)
    if override is None and use_environment:
        env = os.environ.get(CALIBRATION_ENV_VAR, "").strip()
        override = env or None
    if override is None:
        return base
    user = override if isinstance(override, CalibrationFile) else load_calibration_file(override)
    hw_applies = user.family == family and bool(user.hardware)
    eng_fields = user.engines.get(engine)
    power_applies = user.family == family and bool(user.power)
    if not (hw_applies or eng_fields or power_applies):
        return base
    return dataclasses.replace(
        base,
        hardware=dataclasses.replace(base.hardware, **dict(user.hardware))
        if hw_applies
        else base.hardware,
        engine=dataclasses.replace(base.engine, **dict(eng_fields)) if eng_fields else base.engine,
        power=dataclasses.replace(base.power, **dict(user.power)) if power_applies else base.power,
        hardware_key=user.family if hw_applies else base.hardware_key,
        moe_key="" if eng_fields and "moe_gemm_eff_frac" in eng_fields else base.moe_key,
        origin=user.label,
        coverage=user.coverage if hw_applies else None,
    )


def clear_cache() -> None:
    """Forget cached calibration tables (after a new fit was written)."""
    _tables.cache_clear()
    _fitted_families.cache_clear()
    load_table.cache_clear()
    _load_cached.cache_clear()
