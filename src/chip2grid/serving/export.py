"""Write simulation results to files: per-request CSV and engine steps as a Chrome/Perfetto trace.

Files are written to a temporary name in the same folder and renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

import numpy as np

from chip2grid.atomic import atomic_open
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


def write_requests_csv(result: ServingResult, path: str | Path) -> int:
    """One row per request (times in s from the trace's first arrival); returns the row count.

    ``request`` is the index within the replica, ``trace_request`` the index in the trace.
    """
    rows = 0
    with atomic_write(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_COLUMNS)
        for k, r in enumerate(result.replicas):
            cols = [
                r.arrival_s,
                r.scheduled_s,
                r.first_token_s,
                r.finish_s,
                r.input_tokens,
                r.output_tokens,
                r.queue_wait_s,
                r.ttft_s,
                r.tpot_s,
                r.e2e_latency_s,
                r.num_preemptions,
                r.rejected,
                r.cached_tokens if len(r.cached_tokens) else np.zeros(r.num_requests, np.int64),
                r.num_swaps if len(r.num_swaps) else np.zeros(r.num_requests, np.int64),
                result.request_indices[k]
                if result.request_indices
                else np.full(r.num_requests, -1, np.int64),
            ]
            for i in range(r.num_requests):
                values: list[object] = [k, i]
                for col in cols:
                    v = col[i]
                    if isinstance(v, np.floating):
                        values.append("" if not np.isfinite(v) else f"{float(v):.9g}")
                    else:
                        values.append(int(v))
                writer.writerow(values)
                rows += 1
    return rows


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
