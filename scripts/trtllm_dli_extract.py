"""Build ``src/chip2grid/data/measurements_trtllm_dli.csv`` from NVIDIA's TensorRT-LLM 0.9 sheet.

NVIDIA's Deep Learning Institute course on sizing LLM inference systems ships, beside its NIM
sheet, a sheet of TensorRT-LLM 0.9.0 static-batch runs (``gptSessionBenchmark``: one batch of
identical prompts prefilled together, then decoded together to a forced output length): seven
models on seven GPUs, batch 1 to 1,536, tensor parallelism 1 to 8, FP8 and 16-bit ("Mixed"),
with each run's first-token latency, whole-batch latency, token-to-token latency and throughput.
The sheet is republished in github.com/wbing520/ai-performance-engineering; this script reads it
from a local clone (or a copy of the file) and writes one validation case per completed run, in
the ``measurements.csv`` schema, mode ``static_batch``.

TensorRT-LLM's v0.9 performance overview published the largest-batch run of some of these setups;
those 60 throughputs are already in the shared ``measurements.csv`` (family ``trtllm``), so a run
that matches one keeps its latencies here but not its throughput, and no measured value is
counted twice.

    python scripts/trtllm_dli_extract.py --clone PATH/ai-performance-engineering
    python scripts/trtllm_dli_extract.py --sheet PATH/trt_llm_0_9_0_dli.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

from dli_sheet import case_id, metric_rows, parser, read_sheet, source, write_rows

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "chip2grid" / "data" / "measurements_trtllm_dli.csv"
SHARED = ROOT.parent / "shared" / "validation" / "measurements.csv"
SHEET = "trt_llm_0_9_0_dli.csv"

MODELS = {
    "LLaMA v2 7B": "llama-2-7b",
    "LLaMA v2 13B": "llama-2-13b",
    "LLaMA v2 70B": "llama-2-70b",
    "Falcon 180B": "falcon-180b",
    "Mixtral 8x7B": "mixtral-8x7b",
    "GPTJ 6B": "gpt-j-6b",
    "Mistral 7B": "mistral-7b",
}
ACCELERATORS = {
    # the nvidia-smi names the sheet uses
    "H100 80GB HBM3": "h100-sxm",
    "H200 141GB HBM3": "h200-sxm",
    "H100 NVL": "h100-nvl",
    "A100-SXM4-80GB": "a100-sxm-80gb",
    "L40S": "l40s",
    # the 96 GB HBM3 part: its runs peak at 96.8 GB of memory, and the HBM3e part is named
    # "GH200 144G HBM3e"
    "GH200 120GB": "gh200-96gb",
}
UNMODELLED_ACCELERATORS = {"L40"}
"""GPUs the catalog does not hold; their runs are left out."""
# "Mixed": TensorRT-LLM 0.9's 16-bit engines (FP16 weights, activations and KV cache)
PRECISIONS = {"FP8": ("fp8", "fp8"), "Mixed": ("fp16", "fp16")}
MS = 1e-3

METRICS = (
    # (our metric, sheet column, factor, unit). The whole-batch latency is left out: it is
    # batch x output length / throughput, the same measurement as the throughput.
    ("output_tokens_per_s", "Throughput (tokens / sec)", 1.0, "tokens/s"),
    ("ttft_s_mean", "1st Token Latency (ms)", MS, "s"),
    ("tpot_s_mean", "Token-to-token Latency (ms)", MS, "s"),
)

FIXED = {
    # sheet columns whose value every run shares; a change would change what the runs mean
    "Number of Runs": "1",
    "Pipeline Model Parallel Size": "1",
    "Engine Build Extra Args": "",
    "Execution Extra Args": "",
    "Use Fake Weight": "Yes",
    "Measure 1st Token Latency": "Yes",
    "Enable XQA": "Yes",
}


def _published(shared: Path) -> set[tuple[str, ...]]:
    """Setups whose throughput TensorRT-LLM's v0.9 overview published (in the shared file)."""
    if not shared.is_file():
        raise SystemExit(f"{shared}: not found (pass --shared PATH/measurements.csv)")
    keys: set[tuple[str, ...]] = set()
    with shared.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["engine_version"] == "0.9.0" and row["mode"] == "static_batch":
                keys.add(
                    (
                        row["model"],
                        row["accelerator"],
                        row["weight_precision"],
                        row["tp"],
                        f"{float(row['isl']):g}",
                        f"{float(row['osl']):g}",
                        row["batch_size"],
                    )
                )
    return keys


def _rows(sheet: list[dict[str, str]], published: set[tuple[str, ...]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(sheet, start=2):
        for column, value in FIXED.items():
            if row[column] != value:
                raise SystemExit(f"line {line}: {column} is {row[column]!r}, not {value!r}")
        if not row["Latency (ms)"] or row["GPU"] in UNMODELLED_ACCELERATORS:
            continue  # a run that did not complete (out of memory), or a GPU not in the catalog
        model = MODELS[row["Model"]]
        accelerator = ACCELERATORS[row["GPU"]]
        weights, kv = PRECISIONS[row["Precision"]]
        tp = int(row["Tensor Model Parallel Size"])
        if int(row["Number of GPUs"]) != tp:
            raise SystemExit(f"line {line}: {row['Number of GPUs']} GPUs at TP {tp}")
        batch = int(row["Batch Size"])
        isl, osl = (int(x) for x in row["Input/Output Lengths"].split(","))
        if (float(row["Input Token Length"]), float(row["Output Token Length"])) != (isl, osl):
            raise SystemExit(f"line {line}: lengths differ from Input/Output Lengths")
        key = f"trtdli-{model}-{accelerator}-{weights}-tp{tp}-{isl}-{osl}-bs{batch}"
        case, _ = case_id(seen, key)
        overlap = (model, accelerator, weights, str(tp), f"{isl:g}", f"{osl:g}", str(batch))
        notes = (
            f"Sheet row {line - 1}; precision '{row['Precision']}'; custom all-reduce "
            f"{row['Enable Custom All Reduce']}. Method and provenance: data/NOTICE.md."
        )
        skip: frozenset[str] = frozenset()
        if overlap in published:  # the run keeps only its latencies
            notes += " Throughput left out: the shared measurements.csv holds it (v0.9 overview)."
            skip = frozenset({"output_tokens_per_s"})
        out += metric_rows(
            {
                "case_id": case,
                "source": source(SHEET, line),
                "model": model,
                "accelerator": accelerator,
                "num_accelerators": str(tp),
                "engine": "tensorrt-llm",
                "engine_version": "0.9.0",
                "weight_precision": weights,
                "kv_precision": kv,
                "tp": str(tp),
                "pp": "1",
                "ep": "",
                "isl": str(isl),
                "osl": str(osl),
                "dataset": "gptSessionBenchmark: every prompt the pad token at fixed ISL (outputs forced to OSL)",
                "mode": "static_batch",
                "concurrency": "",
                "request_rate_per_s": "",
                "batch_size": str(batch),
                "notes": notes,
            },
            row,
            METRICS,
            skip,
        )
    return out


def main() -> None:
    arguments = parser(__doc__.split("\n")[0], SHEET)
    arguments.add_argument(
        "--shared", type=Path, default=SHARED, help="the shared validation measurements.csv"
    )
    args = arguments.parse_args()
    write_rows(OUT, _rows(read_sheet(args, SHEET), _published(args.shared)))


if __name__ == "__main__":
    main()
