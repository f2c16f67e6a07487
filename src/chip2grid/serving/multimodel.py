"""Several models served side by side, each by its own pool of replicas.

Each request names its model (a ``model`` column in the trace file, or labels drawn by shares);
requests go to their model's pool, which has its own deployment, engine settings and router, and
is simulated by :func:`chip2grid.serving.simulate` (pools share no accelerators, so they do not
interact). Every pool is held for the whole run, from the first arrival in the trace to its last
completion: a pool whose model is idle draws idle power until the run ends, so the energy of the
models adds up to the total.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import ServerPower
from chip2grid.perf import Calibration, Deployment
from chip2grid.serving.disagg import _calibration, pool_energy_j
from chip2grid.serving.simulate import ServingResult, simulate
from chip2grid.serving.simulator import EngineConfig, percentiles
from chip2grid.serving.workload import RequestTrace, _parse_time

__all__ = [
    "ModelPool",
    "MultiModelResult",
    "load_model_labels",
    "model_labels_by_share",
    "simulate_models",
    "split_by_model",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPool:
    """The replicas serving one model: its deployment (all replicas) and engine settings."""

    name: str
    deployment: Deployment
    config: EngineConfig | None = None
    """Engine settings; ``None``: :func:`engine_config_for` of the deployment."""
    router: str = "least-outstanding"

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidParameterError("model pool name", self.name, "a non-empty name")


def split_by_model(
    trace: RequestTrace, labels: Sequence[str] | NDArray[np.str_]
) -> dict[str, tuple[RequestTrace, NDArray[np.int64]]]:
    """Each model's requests (arrival times kept) and their indices in ``trace``."""
    lab = np.asarray(labels, dtype=str)
    if lab.shape != (trace.num_requests,):
        raise InvalidParameterError(
            "model labels", len(lab), f"one label per request ({trace.num_requests})"
        )
    out: dict[str, tuple[RequestTrace, NDArray[np.int64]]] = {}
    for name in dict.fromkeys(lab.tolist()):
        idx = np.flatnonzero(lab == name).astype(np.int64)
        out[name] = (trace.select(idx, source=f"{trace.source} [model {name}]"), idx)
    return out


def model_labels_by_share(
    num_requests: int, shares: Mapping[str, float], seed: int = 0
) -> NDArray[np.str_]:
    """A model for each request, drawn independently with probabilities ``shares`` (normalized).

    Splitting a Poisson stream this way gives each model a Poisson stream at its share.
    """
    names = list(shares)
    w = np.asarray([shares[k] for k in names], dtype=float)
    if not names or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise InvalidParameterError("model shares", dict(shares), "weights >= 0, not all zero")
    rng = np.random.default_rng(seed)
    return np.asarray(names, dtype=str)[rng.choice(len(names), num_requests, p=w / w.sum())]


def load_model_labels(path: str | Path) -> NDArray[np.str_]:
    """The ``model`` column of a CSV trace (or ``model`` key of a JSONL trace), in the order of
    :func:`~chip2grid.serving.load_trace`'s requests (sorted by arrival, stably)."""
    file = Path(path)
    times: list[float] = []
    labels: list[str] = []
    if file.suffix.lower() == ".csv":
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            cols = set(reader.fieldnames or [])
            t_col = "arrival_s" if "arrival_s" in cols else "TIMESTAMP"
            if "model" not in cols or t_col not in cols:
                raise InvalidParameterError(
                    "trace columns", sorted(cols), "a 'model' column beside 'arrival_s'"
                )
            for line, row in enumerate(reader, start=2):
                times.append(_parse_time(file, line, row[t_col]))
                labels.append(row["model"])
    else:
        with file.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                row = json.loads(text)
                if "model" not in row:
                    raise InvalidParameterError(f"{file}:{line}", "no 'model'", "a 'model' key")
                times.append(float(row.get("arrival_s", row.get("timestamp", 0.0))))
                labels.append(str(row["model"]))
    order = np.argsort(np.asarray(times, dtype=float), kind="stable")
    return np.asarray(labels, dtype=str)[order]


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiModelResult:
    """Each model's :class:`ServingResult` (energy over the whole run) and trace indices."""

    models: dict[str, ServingResult]
    indices: dict[str, NDArray[np.int64]]
    """Per model, the trace index of each of its requests (in its own trace's order)."""
    span_s: float
    """First arrival to last completion, over all models."""

    @property
    def accelerator_energy_j(self) -> float:
        return sum(r.accelerator_energy_j for r in self.models.values())

    @property
    def system_energy_j(self) -> float:
        return sum(r.system_energy_j for r in self.models.values())

    @property
    def num_requests(self) -> int:
        return sum(r.num_requests for r in self.models.values())

    def _all(self, name: str) -> NDArray[np.float64]:
        return np.concatenate([getattr(r, name) for r in self.models.values()])

    def summary(
        self, ttft_slo_s: float | None = None, tpot_slo_s: float | None = None
    ) -> dict[str, object]:
        """Per model (``ServingResult.summary``, goodput under the SLOs when given) and for all
        models together."""
        out_tok = sum(r.output_tokens_done for r in self.models.values())
        in_tok = sum(r.input_tokens_done for r in self.models.values())
        rejected = sum(r.num_rejected for r in self.models.values())
        dur = self.span_s
        n_acc = sum(r.deployment.num_accelerators for r in self.models.values())
        acc_j = self.accelerator_energy_j
        total: dict[str, object] = {
            "num_models": len(self.models),
            "num_accelerators": n_acc,
            "num_requests": self.num_requests,
            "num_rejected": rejected,
            "simulated_duration_s": dur,
            "output_tokens_per_s": out_tok / dur if dur else 0.0,
            "input_tokens_per_s": in_tok / dur if dur else 0.0,
            "requests_per_s": (self.num_requests - rejected) / dur if dur else 0.0,
            "ttft_s": percentiles(self._all("ttft_s")),
            "tpot_s": percentiles(self._all("tpot_s")),
            "e2e_latency_s": percentiles(self._all("e2e_latency_s")),
            "accelerator_energy_j": acc_j,
            "system_energy_j": self.system_energy_j,
            "energy_j_per_output_token": acc_j / out_tok if out_tok else math.nan,
            "mean_accelerator_power_w": acc_j / dur / n_acc if dur else math.nan,
        }
        models: dict[str, object] = {}
        for name, r in self.models.items():
            one = dict(r.summary(ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s))
            # each pool is held powered over the whole run, so its energy covers span_s, not
            # the model's own first-arrival-to-last-completion time
            one["mean_accelerator_power_w"] = (
                r.accelerator_energy_j / dur / r.deployment.num_accelerators if dur else math.nan
            )
            models[name] = one
        return {"models": models, "total": total}


def simulate_models(
    pools: Sequence[ModelPool],
    trace: RequestTrace,
    labels: Sequence[str] | NDArray[np.str_],
    *,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
) -> MultiModelResult:
    """Route each request of ``trace`` to the pool of its model (``labels``) and simulate."""
    by_name = {p.name: p for p in pools}
    if len(by_name) != len(pools):
        raise InvalidParameterError("model pools", [p.name for p in pools], "distinct names")
    parts = split_by_model(trace, labels)
    unknown = sorted(set(parts) - set(by_name))
    if unknown:
        raise InvalidParameterError("model", unknown[0], " or ".join(by_name))
    server = server or ServerPower()
    results: dict[str, ServingResult] = {}
    indices: dict[str, NDArray[np.int64]] = {}
    for pool in pools:
        if pool.name not in parts:
            raise InvalidParameterError(
                "model pools", pool.name, "models that have requests in the trace"
            )
        part, idx = parts[pool.name]
        cal = _calibration(pool.deployment, calibration)
        results[pool.name] = simulate(
            pool.deployment,
            part,
            config=pool.config,
            calibration=cal,
            server=server,
            router=pool.router,
        )
        indices[pool.name] = idx
    t0 = float(trace.arrival_s.min()) if trace.num_requests else 0.0
    ends = [
        float(np.nanmax(r.finish_s))
        for res in results.values()
        for r in res.replicas
        if (~r.rejected).any()
    ]
    span = max(ends) - t0 if ends else 0.0
    for pool in pools:  # every pool is held until the last model's last token
        res = results[pool.name]
        cal = _calibration(pool.deployment, calibration)
        acc_j, sys_j = pool_energy_j(
            pool.deployment, cal, res.replicas, server, [span] * len(res.replicas)
        )
        results[pool.name] = dataclasses.replace(
            res, accelerator_energy_j=acc_j, system_energy_j=sys_j
        )
    return MultiModelResult(models=results, indices=indices, span_s=span)
