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
