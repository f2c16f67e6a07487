"""How far chip2grid's estimates have been from published measurements, per kind of estimate.

``catalog/validated_error.toml`` (written by ``chip2grid validate --write-errors``) holds, for
every accelerator family and engine calibration that validation runs cover, the mean absolute
percentage error, the median signed error and the number of measured values of each metric
group (throughput, TTFT, TPOT, end-to-end latency, power and energy), separately for the runs
the shipped calibration was fitted on (*seen*) and those it never saw (*unseen*, the holdout).
Scopes ``family/*``, ``*/engine`` and ``*/*`` pool the rows of every engine, every family, or
all of them.

Each scope is also split by *regime* (``family/engine/regime``): whether the model is split over
several accelerators (tensor, pipeline or expert parallel: ``split``) or held whole by one
(``whole``), and whether at most :data:`LIGHT_LOAD_MAX_SEQUENCES` sequences run in a step
(``light``) or more (``heavy``). The errors differ most between these: a fixed cost per
collective or per step that a full batch hides dominates a light one.

:func:`validated_error` answers for one estimate with the most specific scope that has at least
:data:`MIN_ROWS` measured values of that group and split, so a user reads the error of runs like
theirs where there are enough of them and a wider pool where there are not. Given the
estimate's regime, the scopes of that regime answer first (family and engine, the family, the
engine, every run of the regime), then the scopes without one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from chip2grid.catalog import load_table
from chip2grid.errors import InvalidParameterError

ANY = "*"
"""Scope key part that pools every family or every engine."""
MIN_ROWS = 10
"""Measured values below which a scope's figure is not reported and a wider scope answers."""
SPLITS = ("seen", "unseen")
LIGHT_LOAD_MAX_SEQUENCES = 16
"""Sequences in a step up to which a run counts as lightly loaded (regime ``*-light``)."""
REGIMES = ("whole-light", "whole-heavy", "split-light", "split-heavy")


@dataclass(frozen=True, slots=True)
class ValidatedFigure:
    """The error of one metric group over the measured values of one scope and split."""

    mape_frac: float
    """Mean absolute percentage error, as a fraction."""
    median_error_frac: float
    """Median of ``predicted / measured - 1``: above 0 the model over-predicts (throughput too
    high, latency too long)."""
    num_rows: int
    scope: str
    """``family/engine`` the figure pools (``*`` for all)."""


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    return {scope: dict(entry) for scope, entry in load_table("validated_error").items()}


def scope_key(family: str, engine_calibration: str, regime: str | None = None) -> str:
    """``family/engine``, or ``family/engine/regime``: the key of one scope."""
    return f"{family}/{engine_calibration}" + (f"/{regime}" if regime else "")


def regime(accelerators_per_copy: int, sequences_per_step: float) -> str:
    """``whole`` or ``split`` (the model on one accelerator or over several), ``-light`` (at
    most :data:`LIGHT_LOAD_MAX_SEQUENCES` sequences in a step) or ``-heavy``."""
    layout = "split" if accelerators_per_copy > 1 else "whole"
    load = "light" if sequences_per_step <= LIGHT_LOAD_MAX_SEQUENCES else "heavy"
    return f"{layout}-{load}"


def validated_error(
    family: str, engine_calibration: str, regime: str | None = None
) -> dict[str, dict[str, ValidatedFigure | None]]:
    """Per metric group, the ``seen`` and ``unseen`` error of estimates on ``family`` hardware
    with the ``engine_calibration`` engine: the most specific scope with :data:`MIN_ROWS`
    values (``family/engine``, ``family/*``, ``*/engine``, ``*/*``, each first within
    ``regime`` where one is given), None where none has."""
    if regime is not None and regime not in REGIMES:
        raise InvalidParameterError("regime", regime, ", ".join(REGIMES))
    table = _table()
    pools = [(family, engine_calibration), (family, ANY), (ANY, engine_calibration), (ANY, ANY)]
    scopes = [scope_key(f, e, regime) for f, e in pools] if regime else []
    scopes += [scope_key(f, e) for f, e in pools]
    groups = sorted({g for entry in table.values() for g in entry if g != "source"})
    result: dict[str, dict[str, ValidatedFigure | None]] = {}
    for group in groups:
        result[group] = {}
        for split in SPLITS:
            figure = None
            for scope in scopes:
                cell = table.get(scope, {}).get(group, {})
                n = int(cell.get(f"{split}_n", 0))
                if n >= MIN_ROWS:
                    figure = ValidatedFigure(
                        mape_frac=float(cell[f"{split}_mape"]),
                        median_error_frac=float(cell[f"{split}_median_error"]),
                        num_rows=n,
                        scope=scope,
                    )
                    break
            result[group][split] = figure
    return result
