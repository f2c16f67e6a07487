"""Write simulation results to files: per-request CSV or Parquet, and engine steps as a
Chrome/Perfetto trace.

Files are written to a temporary name in the same folder and renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import json
import math
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from chip2grid.atomic import atomic_open, atomic_path
from chip2grid.errors import InvalidParameterError
from chip2grid.serving.simulate import ServingResult

REQUEST_COLUMNS = (
    "replica",
    "request",
    "arrival_s",
    "scheduled_s",
    "first_token_s",
    "finish_s",
    "input_tokens",
    "output_tokens",
    "queue_wait_s",
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "num_preemptions",
    "rejected",
    "cached_tokens",
    "num_swaps",
    "trace_request",
)


def atomic_write(path: str | Path) -> AbstractContextManager[IO[str]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success."""
    return atomic_open(path, newline="")


def request_columns(result: ServingResult) -> dict[str, NDArray[Any]]:
    """The per-request table as arrays, one per :data:`REQUEST_COLUMNS` name (times in s from
    the trace's first arrival; NaN where a rejected request has none)."""
    parts: dict[str, list[NDArray[Any]]] = {name: [] for name in REQUEST_COLUMNS}
    for k, r in enumerate(result.replicas):
        n = r.num_requests
        zeros = np.zeros(n, np.int64)
        cols: dict[str, NDArray[Any]] = {
            "replica": np.full(n, k, np.int64),
            "request": np.arange(n, dtype=np.int64),
            "arrival_s": r.arrival_s,
            "scheduled_s": r.scheduled_s,
            "first_token_s": r.first_token_s,
            "finish_s": r.finish_s,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "queue_wait_s": r.queue_wait_s,
            "ttft_s": r.ttft_s,
            "tpot_s": r.tpot_s,
            "e2e_latency_s": r.e2e_latency_s,
            "num_preemptions": r.num_preemptions,
            "rejected": r.rejected,
            "cached_tokens": r.cached_tokens if len(r.cached_tokens) else zeros,
            "num_swaps": r.num_swaps if len(r.num_swaps) else zeros,
            "trace_request": result.request_indices[k]
            if result.request_indices
            else np.full(n, -1, np.int64),
        }
        for name in REQUEST_COLUMNS:
            parts[name].append(np.asarray(cols[name]))
    out: dict[str, NDArray[Any]] = {}
    for name in REQUEST_COLUMNS:
        joined = np.concatenate(parts[name]) if parts[name] else np.zeros(0)
        if name.endswith("_s"):
            out[name] = joined.astype(np.float64)
        elif name == "rejected":
            out[name] = joined.astype(np.bool_)
        else:
            out[name] = joined.astype(np.int64)
    return out


def write_requests_csv(result: ServingResult, path: str | Path) -> int:
    """One row per request (times in s from the trace's first arrival); returns the row count.

    ``request`` is the index within the replica, ``trace_request`` the index in the trace;
    an empty field is a time a rejected request does not have.
    """
    table = request_columns(result)
    rows = len(table["replica"])
    lists = [table[name].tolist() for name in REQUEST_COLUMNS]
    floats = [name.endswith("_s") for name in REQUEST_COLUMNS]
    with atomic_write(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_COLUMNS)
        for i in range(rows):
            values: list[object] = []
            for col, is_float in zip(lists, floats, strict=True):
                v = col[i]
                if is_float:
                    values.append(f"{v:.9g}" if math.isfinite(v) else "")
                else:
                    values.append(int(v))
            writer.writerow(values)
    return rows


def write_requests_parquet(result: ServingResult, path: str | Path) -> int:
    """The per-request table as a Parquet file (NaN for missing times); returns the row count.

    Written with pyarrow when it is installed, else with DuckDB (a core dependency), to a
    temporary file renamed into place.
    """
    table = request_columns(result)
    with atomic_path(path) as tmp:
        try:
            import pyarrow as pa  # type: ignore[import-not-found, unused-ignore]
            import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            import duckdb

            con = duckdb.connect()
            try:
                con.register("requests", {name: table[name] for name in REQUEST_COLUMNS})
                con.sql("SELECT * FROM requests").write_parquet(str(tmp))
            finally:
                con.close()
        else:
            pq.write_table(pa.table({name: table[name] for name in REQUEST_COLUMNS}), str(tmp))
    return len(table["replica"])


REQUEST_FORMATS = (".csv", ".parquet")
"""File suffixes :func:`write_requests` knows."""


def write_requests(result: ServingResult, path: str | Path, *, name: str = "path") -> int:
    """Write the per-request table as CSV or Parquet, chosen by ``path``'s suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return write_requests_parquet(result, path)
    if suffix == ".csv":
        return write_requests_csv(result, path)
    raise InvalidParameterError(name, str(path), "a path ending in .csv or .parquet")


def write_chrome_trace(result: ServingResult, path: str | Path) -> int:
    """Engine steps as Chrome trace events (open in ui.perfetto.dev); returns the event count.

    One complete event per timeline segment (a prefill step or a run of decode steps), one
    track per replica, with batch sizes and KV-cache tokens as arguments and as counters.
    """
    events: list[dict[str, object]] = []
    for k, r in enumerate(result.replicas):
        tl = r.timeline
        for i in range(len(tl.start_s)):
            start_us = float(tl.start_s[i]) * 1e6
            prefill = float(tl.prefill_tokens[i])
            steps = int(tl.num_steps[i])
            events.append(
                {
                    "name": ("prefill+decode" if prefill else "decode") if steps else "swap",
                    "ph": "X",
                    "ts": start_us,
                    "dur": float(tl.duration_s[i]) * 1e6,
                    "pid": k,
                    "tid": 0,
                    "args": {
                        "steps": steps,
                        "prefill_tokens": prefill,
                        "decode_seqs": float(tl.decode_seqs[i]),
                    },
                }
            )
            events.append(
                {
                    "name": "kv_cache_tokens",
                    "ph": "C",
                    "ts": start_us,
                    "pid": k,
                    "args": {"tokens": float(tl.kv_tokens[i])},
                }
            )
    with atomic_write(path) as handle:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, handle)
    return len(events)
