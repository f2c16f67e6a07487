"""How far chip2grid's estimates have been from published measurements, per kind of estimate.

``catalog/validated_error.toml`` (written by ``chip2grid validate --write-errors``) holds, for
every accelerator family and engine calibration that validation runs cover, the mean absolute
percentage error, the median signed error and the number of measured values of each metric
group (throughput, TTFT, TPOT, end-to-end latency, power and energy), separately for the runs
the shipped calibration was fitted on (*seen*) and those it never saw (*unseen*, the holdout).
Scopes ``family/*``, ``*/engine`` and ``*/*`` pool the rows of every engine, every family, or
all of them.

:func:`validated_error` answers for one estimate with the most specific scope that has at least
:data:`MIN_ROWS` measured values of that group and split, so a user reads the error of runs like
theirs where there are enough of them and a wider pool where there are not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from chip2grid.catalog import load_table

ANY = "*"
"""Scope key part that pools every family or every engine."""
MIN_ROWS = 10
"""Measured values below which a scope's figure is not reported and a wider scope answers."""
SPLITS = ("seen", "unseen")


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


def scope_key(family: str, engine_calibration: str) -> str:
    """``family/engine``, the key of one scope."""
    return f"{family}/{engine_calibration}"


def validated_error(
    family: str, engine_calibration: str
) -> dict[str, dict[str, ValidatedFigure | None]]:
    """Per metric group, the ``seen`` and ``unseen`` error of estimates on ``family`` hardware
    with the ``engine_calibration`` engine: the most specific scope with :data:`MIN_ROWS`
    values (``family/engine``, ``family/*``, ``*/engine``, ``*/*``), None where none has."""
    table = _table()
    scopes = [
        scope_key(family, engine_calibration),
        scope_key(family, ANY),
        scope_key(ANY, engine_calibration),
        scope_key(ANY, ANY),
    ]
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
