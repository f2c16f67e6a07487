"""Build ``src/chip2grid/data/measurements_inferencex.csv`` from SemiAnalysis InferenceX results.

InferenceX (formerly InferenceMAX) benchmarks LLM serving nightly in its own CI: a server
(SGLang, TensorRT-LLM, ...) on one node, and a ``benchmark_serving`` client keeping
``conc`` requests in flight, with random prompts and outputs whose lengths are uniform between
``int(0.8 * L)`` and ``L`` for the nominal ISL / OSL ``L`` (``RANDOM_RANGE_RATIO: 0.8`` in its
benchmark workflow templates since 2026-01-21; ``sample_random_requests`` in
``utils/bench_serving/benchmark_serving.py`` of SemiAnalysisAI/InferenceX). Its dashboard's API
answers one record per run and concurrency: the layout (TP, EP, attention data parallelism,
disaggregation), the container image and the metrics (throughput per GPU, TTFT, TPOT, ...).

SemiAnalysisAI/InferenceX-app keeps captures of that API for its browser tests
(``packages/app/cypress/fixtures/api/benchmarks.json`` and ``benchmarks-history.json``, written
by ``packages/app/scripts/capture-cypress-fixtures.ts`` from the production API for
DeepSeek-R1-0528, thinned to a few concurrencies per configuration). This script reads those two
files from a clone at a given commit and writes one validation case per run and concurrency in
the ``measurements.csv`` schema, mode ``concurrency``. It keeps what chip2grid expresses:

- one node, aggregated serving (no prefill/decode disaggregation), no speculative decoding
  (MTP rows state no acceptance rate), no attention data parallelism;
- SGLang and TensorRT-LLM on H100, H200, B200, B300, MI300X, MI325X and MI355X;
- runs from 2026-01-21 on, where the length spread is the workflow's stated 0.8.

Per case: ``output_tokens_per_s`` (throughput per GPU times the GPUs, which is the TP size on
one node: the EP ranks are the TP ranks), and the TTFT and TPOT means (``ttft_s_mean``,
``tpot_s_mean``) and medians (``ttft_s_median``, ``tpot_s_median``) that the record holds (the
history capture keeps medians only). Runs in :data:`TOKENIZER_MISMATCH_RUNS` are left out.
Mean lengths are the uniform draw's means, ``(int(0.8 L) + L) / 2``.

    python scripts/inferencex_extract.py --clone PATH/InferenceX-app --commit 528c4146...
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path
from statistics import median_high

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "chip2grid" / "data" / "measurements_inferencex.csv"
FILES = (
    "packages/app/cypress/fixtures/api/benchmarks.json",
    "packages/app/cypress/fixtures/api/benchmarks-history.json",
)
HARDWARE = {
    "h100": "h100-sxm",
    "h200": "h200-sxm",
    "b200": "b200",
    "b300": "b300",
    "mi300x": "mi300x",
    "mi325x": "mi325x",
    "mi355x": "mi355x",
}
FRAMEWORKS = {"sglang": "sglang", "trt": "tensorrt-llm"}
MODELS = {"dsr1": "deepseek-r1"}
RANGE_RATIO = 0.8
FIRST_DATE = "2026-01-21"
"""The earliest run whose workflow states ``RANDOM_RANGE_RATIO: 0.8``."""
COLUMNS = [
    *("case_id", "source", "model", "accelerator", "num_accelerators", "engine"),
    *("engine_version", "weight_precision", "kv_precision", "tp", "pp", "ep", "isl", "osl"),
    *("dataset", "mode", "concurrency", "request_rate_per_s", "batch_size", "metric", "value"),
    *("unit", "notes"),
]
METRICS = (
    # (metric, API key, unit); the API's throughput is per GPU: total / TP size
    # (utils/process_result.py in SemiAnalysisAI/InferenceX)
    ("output_tokens_per_s", "output_tput_per_gpu", "tokens/s"),
    ("ttft_s_mean", "mean_ttft", "s"),
    ("ttft_s_median", "median_ttft", "s"),
    ("tpot_s_mean", "mean_tpot", "s"),
    ("tpot_s_median", "median_tpot", "s"),
)
TOKENIZER_MISMATCH_RUNS = {
    "24555249976": "2026-04-17, B300 SGLang FP4",
    "24559275898": "2026-04-17, B300 SGLang FP8",
    "25780567235": "2026-05-13, B300 SGLang FP4",
    "25763411370": "2026-05-13, B300 SGLang FP8",
    "25763415816": "2026-05-13, H200 SGLang FP8",
    "25763406707": "2026-05-15 (started 2026-05-13), B200 SGLang FP8",
}
"""Workflow runs whose benchmark client tokenized prompts differently from the SGLang server,
so that the server received about five times the nominal input (InferenceX's own account:
SemiAnalysisAI/InferenceX #937, 2026-03-27, and #1381, 2026-05-15, which found the first fix
did not apply when the model is a Hugging Face Hub id under transformers 5.6: 'a ~5x
client/server tokenizer mismatch and a false throughput regression (DeepSeek-R1 FP4 on B200:
1970 -> 425 tok/s)'). The runs listed are the SGLang runs of the capture from that window whose
records show the signature against the same configuration's other runs: throughput at 8k input
and high concurrency 0.21-0.62 of the other runs' median (1k input 0.6-1.0, as a five-fold
prefill predicts), and median TTFT at 8k input, 4 users 1.4-2.1 s against 0.22-0.35 s (189 s
against 0.7 s for H200 at 64 users). ``suspect_runs`` lists the candidates a new capture
holds; a run enters this list only after such a check."""
MISMATCH = "client/server tokenizer mismatch"
"""``left_out_reason`` of a run in :data:`TOKENIZER_MISMATCH_RUNS` (still reviewed by
``suspect_runs``)."""


def mean_length(nominal: int) -> float:
    """Mean of the client's uniform integer draw between ``int(0.8 L)`` and ``L``."""
    return (int(nominal * RANGE_RATIO) + nominal) / 2.0


def left_out_reason(record: dict) -> str | None:
    """Why a record is left out, or None to keep it."""
    if record.get("disagg") or record.get("is_multinode"):
        return "disaggregated or multi-node"
    if record.get("spec_method", "none") != "none":
        return "speculative decoding"
    if record.get("decode_dp_attention") or record.get("prefill_dp_attention"):
        return "attention data parallelism"
    if record.get("framework") not in FRAMEWORKS:
        return "framework"
    if record.get("hardware") not in HARDWARE or record.get("model") not in MODELS:
        return "hardware or model"
    if str(record.get("date", "")) < FIRST_DATE:
        return "before the stated length spread"
    if workflow_run(record) in TOKENIZER_MISMATCH_RUNS:
        return MISMATCH
    return None


def run_id(record: dict) -> str:
    """``<workflow run>a<attempt>`` of a record's run address."""
    return str(record["run_url"]).rstrip("/").split("/actions/runs/")[-1].replace("/attempts/", "a")


def workflow_run(record: dict) -> str:
    """The workflow run of a record, without its attempt."""
    return run_id(record).split("a")[0]


def configuration(record: dict) -> tuple:
    """What a record measured, less when: the same key on two runs is the same benchmark."""
    keys = ("hardware", "framework", "model", "precision", "decode_tp", "decode_ep", "isl", "osl")
    return (*(record.get(key) for key in keys), record.get("conc"))


def suspect_runs(records: list[dict], below: float = 0.8) -> dict[str, float]:
    """Runs whose output throughput is, in the median over their configurations, below
    ``below`` times the median of the same configurations' other runs: the candidates for a
    broken client (:data:`TOKENIZER_MISMATCH_RUNS`), for a person to check, not to drop."""
    by_config: dict[tuple, list[tuple[str, float]]] = {}
    for record in records:
        value = record.get("metrics", {}).get("output_tput_per_gpu")
        if value:
            by_config.setdefault(configuration(record), []).append(
                (workflow_run(record), float(value))
            )
    ratios: dict[str, list[float]] = {}
    for runs in by_config.values():
        for run, value in runs:
            others = [v for r, v in runs if r != run]
            if others:
                ratios.setdefault(run, []).append(value / median_high(others))
    typical = {run: median_high(r) for run, r in ratios.items()}
    return {run: round(ratio, 2) for run, ratio in typical.items() if ratio < below}


def rows_of(record: dict, source_file: str, commit: str) -> list[dict]:
    """The measurement rows of one kept record."""
    tp, ep = int(record["decode_tp"]), int(record["decode_ep"])
    isl, osl, conc = int(record["isl"]), int(record["osl"]), int(record["conc"])
    metrics = record["metrics"]
    run = run_id(record)
    case_id = (
        f"inferencex-{record['model']}-{record['hardware']}-{record['framework']}-"
        f"{record['precision']}-tp{tp}-ep{ep}-{isl}-{osl}-c{conc}-{record['date']}-r{run}"
    )
    image = str(record.get("image", ""))
    version = image.rsplit(":", 1)[-1] if ":" in image else "not stated"
    if record["framework"] == "trt":
        version = f"post-1.0 ({version})"  # the PyTorch-backend releases InferenceX runs
    notes = (
        f"InferenceX API record (capture {source_file} @ {commit}); run {record['run_url']}; "
        f"image {image}; {record['date']}; one node, TP {tp} EP {ep} over {tp} GPUs (EP ranks "
        f"are the TP ranks); client keeps {conc} requests in flight; random lengths uniform "
        f"in [int(0.8 L), L] for L = ISL {isl} / OSL {osl} (RANDOM_RANGE_RATIO 0.8), means "
        "given; KV-cache precision not stated (fp8 assumed, as the framework recipes set)"
    )
    base = {
        "case_id": case_id,
        "source": f"github:SemiAnalysisAI/InferenceX-app/{source_file}@{commit}",
        "model": MODELS[record["model"]],
        "accelerator": HARDWARE[record["hardware"]],
        "num_accelerators": tp,
        "engine": FRAMEWORKS[record["framework"]],
        "engine_version": version,
        "weight_precision": record["precision"],
        "kv_precision": "fp8",
        "tp": tp,
        "pp": 1,
        "ep": ep,
        "isl": mean_length(isl),
        "osl": mean_length(osl),
        "dataset": "InferenceX random prompts, lengths uniform in [0.8 L, L]",
        "mode": "concurrency",
        "concurrency": conc,
        "request_rate_per_s": "",
        "batch_size": "",
        "notes": notes,
    }
    out = []
    for metric, key, unit in METRICS:
        value = metrics.get(key)
        if value is None or not float(value) > 0:
            continue
        value = float(value) * (tp if key == "output_tput_per_gpu" else 1)
        out.append(base | {"metric": metric, "value": f"{value:.6g}", "unit": unit})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", type=Path, required=True, help="InferenceX-app clone")
    parser.add_argument("--commit", required=True, help="the commit the clone is at (40 hex)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {}
    skipped: Counter[str] = Counter()
    review: list[dict] = []  # kept, and the mismatch runs, for suspect_runs
    for name in FILES:
        for record in json.loads((args.clone / name).read_text()):
            reason = left_out_reason(record)
            if reason in (None, MISMATCH):
                review.append(record)
            if reason:
                skipped[reason] += 1
                continue
            found = rows_of(record, name, args.commit)
            if found:
                rows.setdefault(found[0]["case_id"], found)  # a run in both captures once
    print(
        "runs whose throughput is below 0.8 of their configurations' other runs:",
        suspect_runs(review),
    )
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for case_id in sorted(rows):
            writer.writerows(rows[case_id])
    print(f"{len(rows)} cases, {sum(map(len, rows.values()))} rows -> {args.out}")
    print("left out:", dict(skipped))


if __name__ == "__main__":
    main()
