"""Speculative decoding against published runs that state their acceptance.

``data/measurements_speculative.csv`` holds runs measured with and without speculative decoding
on the same system, each with the mean acceptance length the source reports. The acceptance
length goes in as an input (:func:`chip2grid.perf.acceptance_rate_for_length`), so what is
scored is the model of a speculative step: the draft steps and the wider verification, and the
speedup they leave. Each run is predicted twice with :func:`chip2grid.perf.estimate` at its
concurrency, with and without speculation; the speedup ratio cancels whatever the base step
model gets wrong about the system, and the absolute TPOT is scored beside it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from chip2grid.data import data_path
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import (
    Deployment,
    Load,
    SpeculativeDecoding,
    Workload,
    acceptance_rate_for_length,
    estimate,
)

SPECULATIVE_FILE = "measurements_speculative.csv"


@dataclass(frozen=True, slots=True)
class SpeculativeRun:
    """One measured run with speculative decoding and its baseline on the same system."""

    case_id: str
    source: str
    model: str
    accelerator: str
    num_accelerators: int
    tp: int
    ep: int
    engine: str
    weight_precision: str
    kv_precision: str
    input_tokens: float
    output_tokens: float
    concurrency: float
    method: str
    num_speculative_tokens: int
    acceptance_length: float
    tpot_s: float
    baseline_tpot_s: float

    @property
    def source_family(self) -> str:
        return self.case_id.split("-", 1)[0]

    @property
    def measured_speedup(self) -> float:
        return self.baseline_tpot_s / self.tpot_s

    @property
    def baseline_key(self) -> tuple[object, ...]:
        """What the run's prediction without speculation depends on."""
        return (
            self.model,
            self.accelerator,
            self.num_accelerators,
            self.tp,
            self.ep,
            self.engine,
            self.weight_precision,
            self.kv_precision,
            self.input_tokens,
            self.output_tokens,
            self.concurrency,
        )


@dataclass(frozen=True, slots=True)
class SpeculativeResult:
    """A run, and chip2grid's TPOT for it with and without speculation."""

    run: SpeculativeRun
    tpot_s: float
    baseline_tpot_s: float

    @property
    def speedup(self) -> float:
        return self.baseline_tpot_s / self.tpot_s

    @property
    def speedup_error_frac(self) -> float:
        """Predicted over measured speedup, less 1 (above 0: speculation predicted to help more)."""
        return self.speedup / self.run.measured_speedup - 1.0

    @property
    def tpot_error_frac(self) -> float:
        return self.tpot_s / self.run.tpot_s - 1.0

    @property
    def baseline_tpot_error_frac(self) -> float:
        return self.baseline_tpot_s / self.run.baseline_tpot_s - 1.0


def load_speculative_runs(path: str | Path | None = None) -> list[SpeculativeRun]:
    """The runs of ``path`` (default: the shipped file)."""
    file = Path(path) if path is not None else data_path(SPECULATIVE_FILE)
    with file.open(newline="", encoding="utf-8") as handle:
        return [
            SpeculativeRun(
                case_id=row["case_id"],
                source=row["source"],
                model=row["model"],
                accelerator=row["accelerator"],
                num_accelerators=int(row["num_accelerators"]),
                tp=int(row["tp"]),
                ep=int(row["ep"]),
                engine=row["engine"],
                weight_precision=row["weight_precision"],
                kv_precision=row["kv_precision"],
                input_tokens=float(row["input_tokens"]),
                output_tokens=float(row["output_tokens"]),
                concurrency=float(row["concurrency"]),
                method=row["speculative_method"],
                num_speculative_tokens=int(row["num_speculative_tokens"]),
                acceptance_length=float(row["acceptance_length"]),
                tpot_s=float(row["tpot_s"]),
                baseline_tpot_s=float(row["baseline_tpot_s"]),
            )
            for row in csv.DictReader(handle)
        ]


def predict_speculative_run(
    run: SpeculativeRun, baseline_tpot_s: float | None = None
) -> SpeculativeResult:
    """chip2grid's TPOT for ``run`` with its speculation and without (``baseline_tpot_s``
    where the caller has it: it depends on the system, the lengths and the load alone)."""
    deployment = Deployment(
        model=get_model(run.model),
        accelerator=get_accelerator(run.accelerator),
        num_accelerators=run.num_accelerators,
        tp=run.tp,
        ep=run.ep,
        weight_precision=run.weight_precision,
        kv_precision=run.kv_precision,
        engine=run.engine,
    )
    workload = Workload(input_tokens=run.input_tokens, output_tokens=run.output_tokens)
    load = Load(mode="concurrency", concurrency=run.concurrency)
    speculative = SpeculativeDecoding(
        method=run.method,  # type: ignore[arg-type]
        num_speculative_tokens=run.num_speculative_tokens,
        acceptance_rate=acceptance_rate_for_length(
            run.acceptance_length, run.num_speculative_tokens
        ),
    )
    with_spec = estimate(deployment, workload, load, speculative=speculative)
    if baseline_tpot_s is None:
        baseline_tpot_s = estimate(deployment, workload, load).tpot_s_mean
    return SpeculativeResult(run=run, tpot_s=with_spec.tpot_s_mean, baseline_tpot_s=baseline_tpot_s)


def run_speculative_validation(path: str | Path | None = None) -> list[SpeculativeResult]:
    """Every run of ``path`` (default: the shipped file), predicted; runs of one system, lengths
    and load share one prediction without speculation."""
    baselines: dict[tuple[object, ...], float] = {}
    results = []
    for run in load_speculative_runs(path):
        result = predict_speculative_run(run, baselines.get(run.baseline_key))
        baselines[run.baseline_key] = result.baseline_tpot_s
        results.append(result)
    return results


def mape_by_family(results: list[SpeculativeResult]) -> dict[str, dict[str, float]]:
    """Mean absolute percentage error of the speedup, the TPOT and the baseline TPOT per
    source family (the case id's first word)."""
    out: dict[str, dict[str, float]] = {}
    for family in sorted({r.run.source_family for r in results}):
        rows = [r for r in results if r.run.source_family == family]
        n = len(rows)
        out[family] = {
            "speedup": sum(abs(r.speedup_error_frac) for r in rows) / n,
            "tpot": sum(abs(r.tpot_error_frac) for r in rows) / n,
            "baseline_tpot": sum(abs(r.baseline_tpot_error_frac) for r in rows) / n,
            "runs": float(n),
        }
    return out
