"""The validated error of estimates per accelerator family and engine, for the catalog.

:func:`error_table` pools a validation report's rows by the accelerator family and engine
calibration each run was predicted with (and by ``family/*``, ``*/engine`` and ``*/*``), each
also split by the run's regime (:func:`case_regime`), and
:func:`write_error_table` writes them to ``catalog/validated_error.toml``, which
:func:`chip2grid.perf.validated.validated_error` reads for every estimate. Rows of the fit set
are the *seen* split, held-out rows the *unseen* one.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from pathlib import Path

from chip2grid.atomic import write_text_atomic
from chip2grid.hardware import get_accelerator
from chip2grid.perf import get_engine
from chip2grid.perf.deployment import instance_size
from chip2grid.perf.validated import ANY, regime, scope_key
from chip2grid.validation.cases import Case
from chip2grid.validation.predict import MEDIAN_METRICS
from chip2grid.validation.report import ValidationReport, error_summary, metric_group

SPLIT_NAMES = {"fit": "seen", "holdout": "unseen"}
"""A report's splits under the names the table uses."""

ErrorTable = dict[str, dict[str, dict[str, float | int]]]
"""scope -> metric group -> ``{seen,unseen}_{mape,median_error,n}``."""


HEAVY_MODES = ("offline", "server")
"""Modes that load the engine to its batch limits (an Offline burst, a Server rate near
capacity): heavy whatever the batch size."""


def case_regime(case: Case) -> str:
    """The regime of a measured run (:func:`chip2grid.perf.validated.regime`): its accelerators
    per copy of the model, and the sequences in a step, read from the run's mode: one for a
    single request, the batch of a static batch or an engine's batch limit, the client's
    concurrency per copy of a closed loop, and heavy for Offline and Server runs."""
    per_copy = max(1, instance_size(case.tp, case.pp, case.ep))
    if case.mode == "single":
        sequences = 1.0
    elif case.mode == "concurrency":
        sequences = case.concurrency / max(1, case.num_accelerators // per_copy)
    elif case.mode in HEAVY_MODES or case.batch_size <= 0:
        sequences = math.inf
    else:
        sequences = float(case.batch_size)
    return regime(per_copy, sequences)


def error_table(report: ValidationReport) -> ErrorTable:
    """Mean absolute and median signed error and count per scope, metric group and split."""
    errors: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in report.rows:
        group = metric_group(row.metric)
        # an estimate gives means: the medians validation also scores are no error of it
        if group is None or row.metric in MEDIAN_METRICS:
            continue
        family = get_accelerator(row.case.accelerator).family
        engine = get_engine(row.case.engine_profile).calibration
        split = SPLIT_NAMES[row.split]
        kind = case_regime(row.case)
        for fam in (family, ANY):
            for eng in (engine, ANY):
                for reg in (None, kind):
                    errors[(scope_key(fam, eng, reg), group, split)].append(row.error_frac)
    table: ErrorTable = defaultdict(lambda: defaultdict(dict))
    for (scope, group, split), values in errors.items():
        for name, value in error_summary(values).items():
            table[scope][group][f"{split}_{name}"] = round(value, 4) if name != "n" else value
    return {scope: dict(groups) for scope, groups in sorted(table.items())}


def write_error_table(
    table: ErrorTable, path: Path, *, measurements: str, calibration: str
) -> None:
    """Write ``validated_error.toml``: one table per scope with its provenance (atomically)."""
    today = datetime.date.today().isoformat()
    source = (
        f"chip2grid validate {today}, calibration {calibration}, on {measurements}; "
        "seen: the fit set, unseen: the holdout"
    )
    lines = [
        "# Error of chip2grid's estimates against published measurements, per accelerator family",
        "# and engine calibration (`*` pools all). Written by `chip2grid validate --write-errors`;",
        "# do not edit by hand. mape and median_error are fractions; n counts measured values.",
        "",
    ]
    for scope, groups in table.items():
        lines.append(f'["{scope}"]')
        lines.append(f'source = "{source}"')
        for group, cell in sorted(groups.items()):
            body = ", ".join(f"{k} = {v}" for k, v in sorted(cell.items()))
            lines.append(f"{group} = {{ {body} }}")
        lines.append("")
    write_text_atomic(path, "\n".join(lines))
