"""What the extractors of NVIDIA DLI's sizing-course sheets share (``nim_dli_extract.py``,
``trtllm_dli_extract.py``): the repository and commit the sheets are read at, the
``measurements.csv`` columns, reading a sheet from a clone or a copy, and writing the file whole.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
from pathlib import Path

REPOSITORY = "github:wbing520/ai-performance-engineering"
COMMIT = "0e25b2e236211ad01ed2221bd2c1cfa5b3f47b55"
SHEETS = "code/ch10_inference/inference_gpu_cluster_sizing/dataset"

COLUMNS = [
    "case_id", "source", "model", "accelerator", "num_accelerators", "engine", "engine_version",
    "weight_precision", "kv_precision", "tp", "pp", "ep", "isl", "osl", "dataset", "mode",
    "concurrency", "request_rate_per_s", "batch_size", "metric", "value", "unit", "notes",
]  # fmt: skip


def source(sheet: str, line: int) -> str:
    """The ``source`` cell of the case read from ``line`` (1-based, header included) of ``sheet``."""
    return f"{REPOSITORY}/{SHEETS}/{sheet}@{COMMIT} (row {line - 1})"


def case_id(seen: dict[str, int], key: str) -> tuple[str, int]:
    """The id of the next run of the setup ``key`` and which occurrence it is (1 for the first):
    a setup the sheet holds again gets ``-run2``, ``-run3``... Counts in ``seen``."""
    seen[key] = seen.get(key, 0) + 1
    return (key if seen[key] == 1 else f"{key}-run{seen[key]}"), seen[key]


def metric_rows(
    case: dict[str, str],
    row: dict[str, str],
    metrics: tuple[tuple[str, str, float, str], ...],
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    """One ``measurements.csv`` row per ``(metric, column, factor, unit)`` of ``metrics`` but
    those in ``skip``: the case's columns, and the sheet ``row``'s ``column`` times ``factor``."""
    return [
        {**case, "metric": metric, "value": f"{float(row[column]) * factor:.6g}", "unit": unit}
        for metric, column, factor, unit in metrics
        if metric not in skip
    ]


def parser(description: str, sheet: str) -> argparse.ArgumentParser:
    """Arguments: ``--sheet`` (a copy of ``sheet``) or ``--clone`` (of the repository)."""
    parsed = argparse.ArgumentParser(description=description)
    group = parsed.add_mutually_exclusive_group(required=True)
    group.add_argument("--sheet", type=Path, help=f"a copy of the sheet ({sheet})")
    group.add_argument("--clone", type=Path, help="a clone of ai-performance-engineering")
    return parsed


def read_sheet(args: argparse.Namespace, sheet: str) -> list[dict[str, str]]:
    """The sheet's rows, from the clone at :data:`COMMIT` or from the copy."""
    if args.clone:
        text = subprocess.run(
            ["git", "-C", str(args.clone), "show", f"{COMMIT}:{SHEETS}/{sheet}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    else:
        text = args.sheet.read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def write_rows(out: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` to ``out`` whole: a temporary file replaces it only when complete."""
    tmp = out.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)
    runs = len({row["case_id"] for row in rows})
    print(f"wrote {len(rows)} rows ({runs} runs) to {out.name}")
