"""How well the fit carries to hardware it never saw: leave one accelerator (or a whole
generation) out, refit, and score its rows.

For each entry (an accelerator id such as ``h200-sxm``, or a hardware family such as
``blackwell``), the calibration is refitted with ``mlperf``, ``lambda`` and that entry held out
(``chip2grid validate --fit --holdout mlperf,lambda,ENTRY``), and the entry's rows from the
fit families (TensorRT-LLM tables, ML.ENERGY, Splitwise) are scored. An accelerator held out
keeps its hardware family's other members in the fit (a new SKU of a known generation); a
hardware family held out is met with the ``default`` hardware parameters, the geometric mean
of the other generations (a new generation). The same rows scored with the shipped calibration,
which did see them, are printed beside: the gap is what not having seen the hardware costs.

Usage: ``python benchmarks/holdout_by_hardware.py [ENTRY ...]`` (about 65-100 s a refit on one
core; default: the accelerators and generations with the most fit rows). Nothing is written;
the package's calibration is untouched. ``--measurements PATH`` points at another CSV.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from chip2grid.validation import DEFAULT_HOLDOUT, ValidationReport, run_validation
from chip2grid.validation.report import Row

DEFAULT_ENTRIES = (
    "h100-sxm",
    "h200-sxm",
    "a100-sxm-80gb",
    "b200",
    "gb200",
    "l40s",
    "blackwell",
    "ampere",
)


def _mape(report: ValidationReport, rows: list[Row]) -> dict[str, tuple[float, int]]:
    """MAPE per metric group of ``rows`` (the report's own grouping)."""
    return dataclasses.replace(report, rows=rows).mape()


def _of(rows: list[Row], entry: str, keys: dict[str, str]) -> list[Row]:
    """The rows of ``entry`` (accelerator or hardware family) from the fit families."""
    return [
        r
        for r in rows
        if r.case.source_family not in DEFAULT_HOLDOUT
        and entry in (r.case.accelerator, keys.get(r.case.accelerator))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", nargs="*", default=list(DEFAULT_ENTRIES))
    parser.add_argument(
        "--measurements", type=Path, default=Path("../shared/validation/measurements.csv")
    )
    args = parser.parse_args()
    from chip2grid.hardware import get_accelerator

    shipped = run_validation(args.measurements)
    keys = {r.case.accelerator: get_accelerator(r.case.accelerator).family for r in shipped.rows}
    print(f"{'held out':24} {'group':11} {'seen (shipped)':>16} {'unseen (refit)':>16} {'n':>5}")
    for entry in args.entries:
        start = time.perf_counter()
        report = run_validation(args.measurements, holdout=(*DEFAULT_HOLDOUT, entry), refit=True)
        seconds = time.perf_counter() - start
        seen = _mape(shipped, _of(shipped.rows, entry, keys))
        unseen = _mape(report, _of(report.rows, entry, keys))
        for group, (value, n) in unseen.items():
            before = seen.get(group, (float("nan"), 0))[0]
            print(f"{entry:24} {group:11} {before:16.1%} {value:16.1%} {n:5d}")
        print(f"{'':24} (refit {seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
