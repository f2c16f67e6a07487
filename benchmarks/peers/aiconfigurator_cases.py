"""chip2grid beside NVIDIA AIConfigurator on every published measurement both can express.

Run: ``python benchmarks/peers/aiconfigurator_cases.py`` with chip2grid's environment; the peer
runs in its own venv (``$AIC_PYTHON``, default ``/tmp/peers-venv/bin/python``; install with
``python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install aiconfigurator``). Without
it the script says so and exits 0.

What is compared, per case of ``shared/validation/measurements.csv``:

* chip2grid: ``chip2grid validate --out`` with the shipped calibration (rows ``fit`` come from
  the source families the efficiencies were fitted on, rows ``holdout`` from families kept out).
* AIConfigurator 0.12 (``cli_estimate``, the function behind ``aiconfigurator cli estimate``,
  SILICON database, offline): the same model, GPU, TP/PP/EP, precision, ISL/OSL (chip2grid's
  assumed mean where the source gives none) and batch. Offline runs (all requests queued) get
  the largest batch AIConfigurator says fits, capped like chip2grid's (the engine's
  ``max_num_seqs``: 2048 for TensorRT-LLM, 256 for vLLM, or the MLPerf submitter's batch);
  ``max_num_seqs`` runs get that batch; static batching runs use its ``static`` mode.

Not expressible in AIConfigurator (listed with their reason): request-rate (``server``) runs,
since it takes a concurrency and has no queue; GPUs it has no database for (GH200, H100
NVL/PCIe, A100 40 GB/PCIe, MI300X, Gaudi); unknown engines; power and energy metrics (its
shipped databases have 0 % power coverage); architectures outside its model list (for
Llama-architecture dense models missing there, a config.json is written from chip2grid's
catalog).

Writes ``benchmarks/peers/results/aiconfigurator_vs_chip2grid.csv`` and prints the MAPE of both
tools on the same rows, per metric, per accelerator and per split, and both wall times.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from _common import RESULTS, ROOT, chip2grid_cli, mape, require_peer, timed_run

import chip2grid as c2g
from chip2grid.perf.deployment import instance_size
from chip2grid.validation import Case

MEASUREMENTS = ROOT.parent / "shared" / "validation" / "measurements.csv"

SYSTEMS = {
    "h100-sxm": "h100_sxm",
    "h200-sxm": "h200_sxm",
    "b200": "b200_sxm",
    "b300": "b300_sxm",
    "gb200": "gb200",
    "a100-sxm-80gb": "a100_sxm",
    "l40s": "l40s",
    "rtx-pro-6000-blackwell": "rtx_pro_6000_server",
}

# chip2grid model id -> AIConfigurator's packaged config (same architecture; the 3.3 and 3.0
# 70B checkpoints have the 3.1 70B shapes).
PACKAGED = {
    "llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B",
    "llama-3-8b": "meta-llama/Meta-Llama-3.1-8B",
    "llama-3.1-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3.3-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3.1-405b": "meta-llama/Meta-Llama-3.1-405B",
    "mixtral-8x7b": "aic-packaged:mistralai--Mixtral-8x7B-v0.1",
    "mixtral-8x22b": "aic-packaged:mistralai--Mixtral-8x22B-v0.1",
    "gpt-oss-20b": "openai/gpt-oss-20b",
    "gpt-oss-120b": "openai/gpt-oss-120b",
    "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B",
    "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
    "llama-4-scout-17b-16e": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "llama-4-maverick-17b-128e": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "deepseek-r1": "deepseek-ai/DeepSeek-R1",
}

# Models whose Hugging Face architecture is LlamaForCausalLM (or Mistral's identical dense form
# without a sliding window): only these get a config.json written from chip2grid's catalog.
LLAMA_FAMILIES = ("llama-2-", "codellama-", "mistral-7b", "mistral-large-")

THROUGHPUT = {"output_tokens_per_s", "requests_per_s", "total_tokens_per_s"}
LATENCY = {
    "ttft_s_mean",
    "ttft_s_median",
    "tpot_s_mean",
    "tpot_s_median",
    "itl_s_mean",
    "itl_s_median",
    "e2e_latency_s_mean",
    "prefill_time_s",
    "decode_time_s_per_token",
}


def local_config(model_id: str, directory: Path) -> str | None:
    """A LlamaForCausalLM config.json from chip2grid's catalog, for dense Llama-shaped models."""
    try:
        arch = c2g.get_model(model_id)
    except Exception:  # an unknown model is simply not expressible
        return None
    llama_shaped = (
        model_id.startswith(LLAMA_FAMILIES)
        and arch.num_experts == 0
        and arch.mlp_gated
        and arch.sliding_window_tokens == 0
        and arch.kv_lora_rank == 0
        and arch.hidden_size == arch.num_attention_heads * arch.head_dim
    )
    if not llama_shaped:
        return None
    path = directory / model_id
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_attention_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "head_dim": arch.head_dim,
        "vocab_size": arch.vocab_size,
        "max_position_embeddings": arch.max_context_tokens,
        "tie_word_embeddings": arch.tie_word_embeddings,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16",
        "_source": f"written by chip2grid benchmarks/peers from its catalog: {arch.source}",
    }
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return str(path)


def moe_layout(tp: int, ep: int, moe: bool) -> dict[str, int | None]:
    """AIConfigurator's MoE split for chip2grid's TP and EP (EP 1 when the source gives none).

    EP within the TP group: expert TP = TP / EP. EP larger than TP (TensorRT-LLM's attention
    data parallelism, e.g. TP1 EP4 on 4 GPUs): attention DP = EP / TP, expert TP 1.
    """
    if not moe:
        return {"dp": 1, "moe_tp": None, "ep": None}
    ep = max(ep, 1)
    if ep > tp:
        return {"dp": ep // tp, "moe_tp": 1, "ep": ep}
    return {"dp": 1, "moe_tp": tp // ep, "ep": ep}


def quant_modes(case: Case, system: str, moe: bool) -> dict[str, str | None]:
    """AIConfigurator quantization modes for a case's weight and KV precision."""
    weight = case.weight_precision
    kv = case.kv_precision
    fp8_compute = system not in ("a100_sxm",)
    if case.model.startswith("gpt-oss") and weight == "fp4":
        return {"gemm": None, "kv": None, "moe": None}  # MXFP4 as in the packaged config
    gemm = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "fp4": "nvfp4"}.get(weight)
    if weight == "fp8" and case.model.startswith("deepseek"):
        gemm = "fp8_block"  # DeepSeek's checkpoints: FP8 in 128 x 128 blocks
    if kv in ("", "auto"):
        kv_mode = "fp8" if weight in ("fp8", "fp4") and fp8_compute else "bfloat16"
    else:
        kv_mode = "fp8" if kv == "fp8" else "bfloat16"
    return {"gemm": gemm, "kv": kv_mode, "moe": gemm if moe else None}


def build_requests(
    cases: list[Case], scored: dict[str, dict[str, dict[str, str]]], model_dir: Path
) -> tuple[list[dict[str, object]], dict[str, str], dict[str, Case]]:
    """AIConfigurator requests for the expressible cases; reasons for the others."""
    requests: list[dict[str, object]] = []
    skipped: dict[str, str] = {}
    by_key: dict[str, Case] = {}
    configs: dict[str, str | None] = {}
    for case in cases:
        cid = case.case_id
        if cid not in scored:
            continue  # chip2grid skipped it too: no common row
        rows = scored[cid]
        metrics = [m for m in rows if m in THROUGHPUT or m in LATENCY]
        if not metrics:
            skipped[cid] = "only power/energy metrics (AIConfigurator has no power data here)"
            continue
        mode = case.mode
        engine = case.engine
        if mode == "server":
            skipped[cid] = "request-rate run: AIConfigurator takes a concurrency, has no queue"
            continue
        if engine.startswith("tensorrt-llm"):
            backend, engine_cap = "trtllm", 2048
        elif engine == "vllm":
            backend, engine_cap = "vllm", 256
        elif engine == "sglang":
            backend, engine_cap = "sglang", 1024
        else:
            skipped[cid] = f"engine {engine!r} has no AIConfigurator backend"
            continue
        system = SYSTEMS.get(case.accelerator)
        if system is None:
            skipped[cid] = f"no AIConfigurator system for {case.accelerator}"
            continue
        model = case.model
        if model not in configs:
            configs[model] = PACKAGED.get(model) or local_config(model, model_dir)
        model_path = configs[model]
        if model_path is None:
            skipped[cid] = f"architecture of {model} not in AIConfigurator's model list"
            continue
        first = next(iter(rows.values()))
        isl, osl = round(float(first["input_tokens"])), round(float(first["output_tokens"]))
        moe = c2g.get_model(model).num_experts > 0
        req: dict[str, object] = {
            "key": cid,
            "model_path": model_path,
            "system": system,
            "backend": backend,
            "isl": isl,
            "osl": osl,
            "tp": case.tp,
            "pp": case.pp,
            **moe_layout(case.tp, case.ep, moe),
            **quant_modes(case, system, moe),
        }
        if mode in ("static_batch", "single"):
            req["mode"] = "static"
            req["batch"] = case.batch_size or 1
        elif mode == "max_num_seqs":
            req["mode"] = "agg"
            req["batch"] = case.batch_size
            req["ctx_tokens"] = max(isl, 2048)  # vLLM V0: chunked prefill off, whole prompts
        elif mode == "offline":
            req["mode"] = "agg"
            cap = engine_cap
            if case.max_batch_size:
                cap = case.max_batch_size
            req["batch_cap"] = cap
            req["ctx_tokens"] = 8192 if backend == "trtllm" else max(isl, 2048)
        elif mode == "concurrency":
            # a closed loop of N users runs N sequences per instance in its steady state
            replicas = max(1, case.num_accelerators // instance_size(case.tp, case.pp, case.ep))
            req["mode"] = "agg"
            req["batch"] = max(1, round(case.concurrency / replicas))
            req["ctx_tokens"] = 8192
        else:
            skipped[cid] = f"mode {mode!r} not expressible"
            continue
        requests.append(req)
        by_key[cid] = case
    return requests, skipped, by_key


def aic_value(metric: str, ans: dict[str, float], case: Case, isl: float, osl: float) -> float:
    """The metric from AIConfigurator's answer, defined as the measurement defines it."""
    n = int(case.num_accelerators)
    rps = float(ans["seq_per_s_per_gpu"]) * n  # whole system, like the measurement
    ttft_s, tpot_s = ans["ttft_ms"] / 1e3, ans["tpot_ms"] / 1e3
    if metric == "output_tokens_per_s":
        return rps * osl
    if metric == "requests_per_s":
        return rps
    if metric == "total_tokens_per_s":
        return rps * (isl + osl)
    if metric in ("ttft_s_mean", "ttft_s_median", "prefill_time_s"):
        return ttft_s
    if metric in (
        "tpot_s_mean",
        "tpot_s_median",
        "itl_s_mean",
        "itl_s_median",
        "decode_time_s_per_token",
    ):
        return tpot_s
    if metric == "e2e_latency_s_mean":
        return ttft_s + (osl - 1.0) * tpot_s
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--measurements", default=str(MEASUREMENTS))
    parser.add_argument("--limit", type=int, default=0, help="first N expressible cases only")
    parser.add_argument("--only", default="", help="cases whose id contains this text only")
    args = parser.parse_args()
    aic_python = require_peer(
        "AIC_PYTHON",
        "/tmp/peers-venv/bin/python",
        "aiconfigurator",
        "python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install aiconfigurator",
    )
    from chip2grid.validation import load_cases, prepare
    from chip2grid.validation.predict import catalog_parameters, predict

    work = Path(tempfile.mkdtemp(prefix="chip2grid-peers-"))
    vr = work / "vr.csv"
    proc, c2g_cli_s = timed_run(
        [*chip2grid_cli(), "validate", "--measurements", args.measurements, "--out", str(vr)]
    )
    if proc.returncode != 0:
        sys.exit(f"chip2grid validate failed:\n{proc.stderr[-2000:]}")
    scored: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    with vr.open() as fh:
        for row in csv.DictReader(fh):
            scored[row["case_id"]][row["metric"]] = row
    cases = load_cases(args.measurements)
    requests, skipped, by_key = build_requests(cases, scored, work / "aic_models")
    if args.only:
        requests = [r for r in requests if args.only in str(r["key"])]
    if args.limit:
        requests = requests[: args.limit]

    # chip2grid on exactly the expressible cases, in process (the CLI above did all of them).
    subset = [by_key[str(r["key"])] for r in requests]
    start = time.perf_counter()
    prep = prepare(subset)
    hw, eng, power = catalog_parameters(prep)
    predict(prep, hw, eng, power)
    c2g_subset_s = time.perf_counter() - start
    c2g_batch = {c.case_id: prep.batch[i] for i, c in enumerate(prep.cases)}

    req_file, ans_file = work / "aic_requests.json", work / "aic_answers.json"
    req_file.write_text(json.dumps(requests))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    worker = str(Path(__file__).with_name("_aic_worker.py"))
    print(f"AIConfigurator: {len(requests)} cases ...", flush=True)
    proc, aic_s = timed_run([aic_python, worker, str(req_file), str(ans_file)], env=env)
    if proc.returncode != 0:
        sys.exit(f"AIConfigurator worker failed:\n{proc.stderr[-3000:]}")
    answers = {a["key"]: a for a in json.loads(ans_file.read_text())}

    out_rows: list[dict[str, object]] = []
    aic_errors: Counter[str] = Counter()
    for req in requests:
        cid = str(req["key"])
        ans = answers[cid]
        if "error" in ans:
            aic_errors[ans["error"]] += 1
            continue
        case = by_key[cid]
        for metric, row in scored[cid].items():
            if metric not in THROUGHPUT and metric not in LATENCY:
                continue
            isl, osl = float(row["input_tokens"]), float(row["output_tokens"])
            measured, c2g_pred = float(row["measured"]), float(row["predicted"])
            aic = aic_value(metric, ans, case, isl, osl)
            out_rows.append(
                {
                    "case_id": cid,
                    "metric": metric,
                    "split": row["split"],
                    "source_family": row["source_family"],
                    "accelerator": row["accelerator"],
                    "model": row["model"],
                    "mode": row["mode"],
                    "tp": row["tp"],
                    "pp": row["pp"],
                    "isl": isl,
                    "osl": osl,
                    "measured": measured,
                    "aiconfigurator": round(aic, 6),
                    "chip2grid": c2g_pred,
                    "aiconfigurator_error_frac": round((aic - measured) / measured, 4),
                    "chip2grid_error_frac": round((c2g_pred - measured) / measured, 4),
                    "aiconfigurator_batch": ans["batch"],
                    "chip2grid_batch": c2g_batch.get(cid, float("nan")),
                    "aiconfigurator_model": str(req["model_path"]).replace(str(work), "<tmp>"),
                }
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = Path(args.measurements).stem
    suffix = (
        ""
        if Path(args.measurements).resolve() == MEASUREMENTS.resolve()
        else "_" + stem.removeprefix("measurements_")
    )
    out = RESULTS / f"aiconfigurator_vs_chip2grid{suffix}.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    report(
        out_rows,
        skipped,
        aic_errors,
        len(requests),
        c2g_cli_s,
        c2g_subset_s,
        aic_s,
        answers,
        sum(len(v) for v in scored.values()),
    )
    print(f"per-row table: {out.relative_to(ROOT)}")


def _table(title: str, rows: list[dict[str, object]], key: str) -> None:
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        groups[str(r[key])].append(r)
    print(f"\n{title}")
    print(f"  {key:<24} {'n':>5} {'AIC MAPE':>9} {'c2g MAPE':>9}")
    for name in sorted(groups):
        g = groups[name]
        a = mape([(float(r["measured"]), float(r["aiconfigurator"])) for r in g])  # type: ignore[arg-type]
        c = mape([(float(r["measured"]), float(r["chip2grid"])) for r in g])  # type: ignore[arg-type]
        print(f"  {name:<24} {len(g):>5} {a:>8.1f}% {c:>8.1f}%")


def report(
    rows: list[dict[str, object]],
    skipped: dict[str, str],
    aic_errors: Counter[str],
    num_requests: int,
    c2g_cli_s: float,
    c2g_subset_s: float,
    aic_s: float,
    answers: dict[str, dict[str, object]],
    num_scored: int,
) -> None:
    """Print both tools' MAPE on the same rows, by split, metric and accelerator, and times."""
    print(
        f"\nrows compared (both tools predict them): {len(rows)} in {len({r['case_id'] for r in rows})} cases"
    )
    print(f"cases not expressible in AIConfigurator: {len(skipped)}")
    for reason, n in Counter(skipped.values()).most_common():
        print(f"  {n:>5}  {reason}")
    print(f"cases AIConfigurator could not answer: {sum(aic_errors.values())} of {num_requests}")
    for reason, n in aic_errors.most_common(8):
        print(f"  {n:>5}  {reason}")
    for split in ("fit", "holdout"):
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        label = (
            "FIT families (chip2grid's efficiencies were fitted on these: not a prediction error)"
            if split == "fit"
            else "HOLDOUT families (kept out of chip2grid's fit: prediction error)"
        )
        print(f"\n=== {label} ===")
        _table("by metric", part, "metric")
        _table("by accelerator", part, "accelerator")
        _table("by source family", part, "source_family")
    aic_case_s = sum(float(str(a.get("time_s", 0.0))) for a in answers.values())
    print("\nwall time")
    print(
        f"  chip2grid validate (CLI, every row of the whole CSV, {num_scored} rows): {c2g_cli_s:.1f} s"
    )
    print(
        f"  chip2grid prepare+predict on the same {num_requests} cases (in process): {c2g_subset_s:.2f} s"
    )
    print(f"  AIConfigurator worker, {num_requests} cases (process incl. imports): {aic_s:.1f} s")
    print(f"  AIConfigurator per-case estimate time summed: {aic_case_s:.1f} s")


if __name__ == "__main__":
    main()
