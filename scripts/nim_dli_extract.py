"""Build ``src/chip2grid/data/measurements_nim_dli.csv`` from NVIDIA's NIM benchmark sheet.

NVIDIA's Deep Learning Institute course on sizing LLM inference systems ships a sheet of
GenAI-Perf runs against an early NIM (TensorRT-LLM backend) on DGX A100 and DGX H100:
Llama-3-8B and Llama-3-70B Instruct, 16-bit and FP8, tensor parallelism only, a fixed number of
concurrent requests (a closed loop), synthetic prompts with no spread in length and outputs
forced to a fixed length. The sheet is republished in github.com/wbing520/ai-performance-engineering;
this script reads it from a local clone (or a copy of the file) and writes one validation case per
sheet row, in the ``measurements.csv`` schema, mode ``concurrency``.

    python scripts/nim_dli_extract.py --sheet PATH/nim.csv
    python scripts/nim_dli_extract.py --clone PATH/ai-performance-engineering
"""

from __future__ import annotations

from pathlib import Path

from dli_sheet import case_id, metric_rows, parser, read_sheet, source, write_rows

OUT = (
    Path(__file__).resolve().parents[1] / "src" / "chip2grid" / "data" / "measurements_nim_dli.csv"
)
SHEET = "nim.csv"

MODELS = {"meta-llama3-8b-instruct": "llama-3-8b", "meta-llama3-70b-instruct": "llama-3-70b"}
ACCELERATORS = {"A100-SXM4-80GB": "a100-sxm-80gb", "H100_80GB_HBM3": "h100-sxm"}
PRECISIONS = {"fp16": "fp16", "bf16": "bf16", "fp8": "fp8"}
NS = 1e-9

METRICS = (
    # (our metric, sheet column, factor, unit)
    ("output_tokens_per_s", "output_token_throughput-avg", 1.0, "tokens/s"),
    ("requests_per_s", "request_throughput-avg", 1.0, "requests/s"),
    ("ttft_s_mean", "time_to_first_token-avg", NS, "s"),
    ("itl_s_mean", "inter_token_latency-avg", NS, "s"),
    ("e2e_latency_s_mean", "request_latency-avg", NS, "s"),
)


def _rows(sheet: list[dict[str, str]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(sheet, start=2):
        if row["task_inputs-execution_type"] != "NIM_TRT-LLM":
            raise SystemExit(f"line {line}: execution type {row['task_inputs-execution_type']}")
        for column in (
            "request_latency-unit",
            "time_to_first_token-unit",
            "inter_token_latency-unit",
        ):
            if row[column] != "ns":
                raise SystemExit(f"line {line}: {column} is {row[column]}, not ns")
        model = MODELS[row["task_inputs-model"]]
        accelerator = ACCELERATORS[row["task_inputs-GPU"]]
        precision = PRECISIONS[row["task_inputs-precision"]]
        n = int(row["task_inputs-n_gpus"])
        users = int(row["input_config-concurrency"])
        isl_target = int(row["input_config-synthetic_input_tokens_mean"])
        osl_target = int(row["input_config-output_tokens_mean"])
        if float(row["input_config-synthetic_input_tokens_stddev"]) != 0.0:
            raise SystemExit(f"line {line}: input spread is not zero")
        isl = float(row["num_input_token-avg"])
        osl = float(row["num_output_token-avg"])
        key = f"nimdli-{model}-{accelerator}-{precision}-tp{n}-{isl_target}-{osl_target}-c{users}"
        case, occurrence = case_id(seen, key)
        notes = (
            f"Sheet row {line - 1}. NIM_TRT-LLM, tp = n_gpus (tensor parallelism only, per the "
            f"course notebook); NIM, TensorRT-LLM and KV-cache precision not stated. Closed loop "
            f"of {users} requests. isl: measured mean of prompts of {isl_target} tokens, stddev 0; "
            f"osl: measured mean of outputs forced to {osl_target} (EOS ignored). ns -> s. "
            "Provenance and method: data/NOTICE.md."
        )
        if occurrence > 1:
            notes += (
                f" The sheet holds this setup {occurrence} times; this is occurrence {occurrence}."
            )
        out += metric_rows(
            {
                "case_id": case,
                "source": source(SHEET, line),
                "model": model,
                "accelerator": accelerator,
                "num_accelerators": str(n),
                "engine": "tensorrt-llm",
                "engine_version": "NIM (version not stated)",
                "weight_precision": precision,
                "kv_precision": "",
                "tp": str(n),
                "pp": "1",
                "ep": "",
                "isl": f"{isl:g}",
                "osl": f"{osl:g}",
                "dataset": "GenAI-Perf synthetic fixed-length prompts",
                "mode": "concurrency",
                "concurrency": str(users),
                "request_rate_per_s": "",
                "batch_size": "",
                "notes": notes,
            },
            row,
            METRICS,
        )
    return out


def main() -> None:
    args = parser(__doc__.split("\n")[0], SHEET).parse_args()
    write_rows(OUT, _rows(read_sheet(args, SHEET)))


if __name__ == "__main__":
    main()
