"""Inputs and outputs of :func:`~chip2grid.serving.multimodel.simulate_models` when each model
has its own workload: one trace of every model's requests, the fleet's figures, the per-request
table with a ``model`` column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chip2grid.atomic import atomic_open, atomic_path
from chip2grid.errors import InvalidParameterError
from chip2grid.serving.export import REQUEST_COLUMNS, REQUEST_FORMATS, request_columns
from chip2grid.serving.multimodel import MultiModelResult
from chip2grid.serving.simulate import ServingResult
from chip2grid.serving.workload import RequestTrace

__all__ = [
    "MODEL_REQUEST_COLUMNS",
    "merge_model_traces",
    "model_request_columns",
    "models_summary",
    "write_model_requests",
]


def merge_model_traces(
    traces: Mapping[str, RequestTrace],
) -> tuple[RequestTrace, NDArray[np.str_]]:
    """One trace holding every model's requests, and the model of each request.

    Each model's arrival times are kept as they are (every workload starts at its own time 0,
    so all start together); requests are sorted by arrival, stably, so ties keep the order of
    ``traces`` and each model's requests keep their own order: the i-th request a model gets
    from :func:`~chip2grid.serving.multimodel.split_by_model` is the i-th of its trace.
    Prefix hashes are kept; a model whose trace has none gets empty ones (nothing to share).
    """
    if not traces:
        raise InvalidParameterError("models", 0, "at least one model with its workload")
    sizes = {t.block_tokens for t in traces.values() if t.prefix_hashes}
    if len(sizes) > 1:
        raise InvalidParameterError(
            "prefix-hash block tokens",
            sorted(sizes),
            "one block size over the models whose traces carry prefix hashes",
            "The agent archetype hashes blocks of 64 tokens, a JSONL trace blocks of its "
            "hash_block_tokens (Mooncake: 512): such workloads cannot share one run",
        )
    names = list(traces)
    arrival = np.concatenate([traces[n].arrival_s for n in names]).astype(np.float64)
    order = np.argsort(arrival, kind="stable")
    labels = np.repeat(np.asarray(names, dtype=str), [traces[n].num_requests for n in names])
    hashed = bool(sizes)
    hashes: list[tuple[int, ...]] = []
    if hashed:
        for n in names:
            t = traces[n]
            hashes.extend(t.prefix_hashes if t.prefix_hashes else [()] * t.num_requests)
    merged = RequestTrace(
        arrival_s=arrival[order],
        input_tokens=np.concatenate([traces[n].input_tokens for n in names])[order],
        output_tokens=np.concatenate([traces[n].output_tokens for n in names])[order],
        prefix_hashes=tuple(hashes[i] for i in order.tolist()) if hashed else (),
        block_tokens=sizes.pop() if sizes else traces[names[0]].block_tokens,
        source="; ".join(f"{n}: {traces[n].source or 'trace'}" for n in names),
    )
    return merged, labels[order]


def _num_good(result: ServingResult, ttft_slo_s: float, tpot_slo_s: float) -> int:
    """Requests that met both SLOs (the count behind ``goodput_requests_per_s``)."""
    return round(result.goodput_requests_per_s(ttft_slo_s, tpot_slo_s) * result.duration_s)


def models_summary(
    result: MultiModelResult, ttft_slo_s: float, tpot_slo_s: float
) -> dict[str, Any]:
    """Per model and for the fleet: :meth:`MultiModelResult.summary` with token and
    good-request counts, goodput under the SLOs, KV-cache peak and preemptions added.

    Per-model rates and percentiles are over that model's own run (its first arrival to its
    last completion), as ``chip2grid simulate`` reports them; a model's energy covers the
    whole fleet run (its pool is held until the last model finishes), so its mean power is
    that energy over the fleet run. Fleet rates are over the fleet run; counts, accelerators
    and energies of the fleet are the sums of the models'.
    """
    base = result.summary(ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
    span = result.span_s
    per_model = base["models"]
    assert isinstance(per_model, dict)
    models: dict[str, dict[str, Any]] = {}
    for name, r in result.models.items():
        s: dict[str, Any] = dict(per_model[name])
        s["input_tokens"] = r.input_tokens_done
        s["output_tokens"] = r.output_tokens_done
        s["num_good_requests"] = _num_good(r, ttft_slo_s, tpot_slo_s)
        models[name] = s
    total: dict[str, Any] = dict(base["total"])  # type: ignore[call-overload]
    good = sum(int(m["num_good_requests"]) for m in models.values())
    out_tok = sum(int(m["output_tokens"]) for m in models.values())
    total.update(
        {
            "input_tokens": sum(int(m["input_tokens"]) for m in models.values()),
            "output_tokens": out_tok,
            "num_good_requests": good,
            "goodput_requests_per_s": good / span if span else 0.0,
            "slo": {"ttft_s": ttft_slo_s, "tpot_s": tpot_slo_s},
            "kv_cache_peak_frac": max(float(m["kv_cache_peak_frac"]) for m in models.values()),
            "num_preemptions": sum(int(m["num_preemptions"]) for m in models.values()),
            "system_energy_j_per_output_token": result.system_energy_j / out_tok
            if out_tok
            else math.nan,
        }
    )
    return {"models": models, "total": total}


MODEL_REQUEST_COLUMNS = ("model", *REQUEST_COLUMNS)
"""The per-request table of several models: :data:`REQUEST_COLUMNS` after a ``model`` column;
``trace_request`` is the request's index in its model's own trace."""


def model_request_columns(result: MultiModelResult) -> dict[str, NDArray[Any]]:
    """The per-request table of every model, model after model, as arrays."""
    parts = {name: request_columns(r) for name, r in result.models.items()}
    out: dict[str, NDArray[Any]] = {
        "model": np.concatenate(
            [np.full(len(p["replica"]), name, dtype=object) for name, p in parts.items()]
        ).astype(str)
    }
    for col in REQUEST_COLUMNS:
        out[col] = np.concatenate([p[col] for p in parts.values()])
    return out


def write_model_requests(result: MultiModelResult, path: str | Path, *, name: str = "path") -> int:
    """Write :func:`model_request_columns` as CSV or Parquet (by suffix); returns the row count.

    Written to a temporary file renamed into place; CSV leaves a missing time empty, Parquet
    holds NaN (written with DuckDB).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in REQUEST_FORMATS:
        raise InvalidParameterError(name, str(path), "a path ending in .csv or .parquet")
    table = model_request_columns(result)
    rows = len(table["model"])
    if suffix == ".parquet":
        import duckdb

        with atomic_path(path) as tmp:
            con = duckdb.connect()
            try:
                con.register("requests", table)
                con.sql("SELECT * FROM requests").write_parquet(str(tmp))
            finally:
                con.close()
        return rows
    lists = [table[col].tolist() for col in MODEL_REQUEST_COLUMNS]
    with atomic_open(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MODEL_REQUEST_COLUMNS)
        for i in range(rows):
            values: list[object] = []
            for col, values_of in zip(MODEL_REQUEST_COLUMNS, lists, strict=True):
                v = values_of[i]
                if col.endswith("_s"):
                    values.append(f"{v:.9g}" if math.isfinite(v) else "")
                elif col == "model":
                    values.append(v)
                else:
                    values.append(int(v))
            writer.writerow(values)
    return rows
