"""One serving case for Vidur and ``chip2grid simulate``: Llama-2-7B on one A100, Azure conv trace.

Run: ``python benchmarks/peers/vidur_case.py`` with chip2grid's environment. The case: the first
``--num-requests`` requests of ``shared/traces/AzureLLMInferenceTrace_conv.csv`` (their own
arrival times and lengths) on one A100 80 GB, Sarathi-style chunked prefill with a 512-token
chunk and at most 128 running sequences. Vidur has profiles for Llama-2-7B on A100.

Vidur is looked for as ``$VIDUR_PYTHON`` (default ``/tmp/vidur-venv/bin/python``) running the
sources in ``$VIDUR_SRC`` (a checkout of microsoft/vidur with ``data/profiling``): the PyPI
package (0.0.26) downloads its profiles from the Hugging Face hub at run time, so offline only a
checkout with the profiling CSVs can run. Without vidur installed the script says so and exits 0;
with vidur but without such a checkout it says why, still runs chip2grid,
and writes ``benchmarks/peers/results/vidur_comparison.md`` with chip2grid's side only.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from _common import RESULTS, ROOT, chip2grid_cli, peer_python, require_peer, timed_run

TRACE = ROOT.parent / "shared" / "traces" / "AzureLLMInferenceTrace_conv.csv"
VIDUR_MODEL, VIDUR_DEVICE = "meta-llama/Llama-2-7b-hf", "a100"
CHUNK_TOKENS, MAX_SEQS = 512, 128


def write_traces(n: int, work: Path) -> tuple[Path, Path]:
    """The first ``n`` requests in Azure format (chip2grid) and Vidur's trace format."""
    with TRACE.open() as fh:
        rows = [r for _, r in zip(range(n), csv.DictReader(fh), strict=False)]
    azure = work / "azure_slice.csv"
    with azure.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        w.writeheader()
        w.writerows(rows)
    t0 = dt.datetime.fromisoformat(rows[0]["TIMESTAMP"][:26])
    vidur = work / "vidur_trace.csv"
    with vidur.open("w", newline="") as fh:
        w2 = csv.writer(fh)
        w2.writerow(["arrived_at", "num_prefill_tokens", "num_decode_tokens"])
        for r in rows:
            at = (dt.datetime.fromisoformat(r["TIMESTAMP"][:26]) - t0).total_seconds()
            w2.writerow([f"{at:.6f}", r["ContextTokens"], r["GeneratedTokens"]])
    return azure, vidur


def vidur_blocker(src: Path | None) -> str | None:
    """Why Vidur cannot run offline here, or None."""
    python = peer_python("VIDUR_PYTHON", "/tmp/vidur-venv/bin/python", "vidur")
    if python is None:
        return "vidur is not installed (python3 -m venv /tmp/vidur-venv && /tmp/vidur-venv/bin/pip install vidur)"
    if src is None:
        return (
            "the PyPI vidur 0.0.26 fetches its profiling data from the Hugging Face hub at run "
            "time (snapshot_download in sklearn_execution_time_predictor.py) and this machine is "
            "offline; set $VIDUR_SRC to a microsoft/vidur checkout with data/profiling"
        )
    profile = src / "data" / "profiling" / "compute" / VIDUR_DEVICE / VIDUR_MODEL
    missing = [f for f in ("mlp.csv", "attention.csv") if not (profile / f).exists()]
    if missing:
        return f"the Vidur checkout {src} lacks {', '.join(missing)} under {profile}"
    return None


def run_vidur(src: Path, trace: Path, work: Path) -> tuple[dict[str, float], float]:
    """Vidur (GitHub sources) on the trace; its TTFT/TPOT percentiles and throughput."""
    python = os.environ.get("VIDUR_PYTHON", "/tmp/vidur-venv/bin/python")
    out = work / "vidur_out"
    cmd = [
        python,
        "-m",
        "vidur.main",
        "--replica_config_device",
        VIDUR_DEVICE,
        "--replica_config_model_name",
        VIDUR_MODEL,
        "--cluster_config_num_replicas",
        "1",
        "--replica_config_tensor_parallel_size",
        "1",
        "--replica_config_num_pipeline_stages",
        "1",
        "--request_generator_config_type",
        "trace_replay",
        "--trace_request_generator_config_trace_file",
        str(trace),
        "--replica_scheduler_config_type",
        "sarathi",
        "--sarathi_scheduler_config_batch_size_cap",
        str(MAX_SEQS),
        "--sarathi_scheduler_config_chunk_size",
        str(CHUNK_TOKENS),
        "--metrics_config_output_dir",
        str(out),
        "--no-metrics_config_write_json_trace",
        "--no-metrics_config_enable_chrome_trace",
    ]
    proc, wall_s = timed_run(cmd, cwd=src, env={**os.environ, "PYTHONPATH": str(src)})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-1500:])
    files = sorted(out.rglob("request_metrics.csv"))
    with files[-1].open() as fh:
        req = list(csv.DictReader(fh))
    ttft = sorted(float(r["prefill_e2e_time"]) for r in req)
    tpot = sorted(float(r["decode_time_execution_plus_preemption_normalized"]) for r in req)
    end = max(float(r["request_completed_at"]) for r in req)
    tokens = sum(float(r["request_num_decode_tokens"]) for r in req)

    def q(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    figures = {
        "ttft_p50_s": q(ttft, 0.5),
        "ttft_p99_s": q(ttft, 0.99),
        "tpot_p50_s": q(tpot, 0.5),
        "tpot_p99_s": q(tpot, 0.99),
        "output_tokens_per_s": tokens / end,
    }
    return figures, wall_s


def run_c2g(trace: Path) -> tuple[dict[str, float], float, list[str]]:
    """``chip2grid simulate`` on the same trace and engine limits."""
    cmd = [
        *chip2grid_cli(),
        "simulate",
        "--model",
        "llama-2-7b",
        "--accelerator",
        "a100-sxm-80gb",
        "--num-accelerators",
        "1",
        "--engine",
        "vllm",
        "--trace",
        str(trace),
        "--max-num-seqs",
        str(MAX_SEQS),
        "--max-num-batched-tokens",
        str(CHUNK_TOKENS),
        "--chunked-prefill",
        "--json",
    ]
    proc, wall_s = timed_run(cmd)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-1500:])
    d = json.loads(proc.stdout)
    figures = {
        "ttft_p50_s": float(d["ttft_s"]["p50"]),
        "ttft_p99_s": float(d["ttft_s"]["p99"]),
        "tpot_p50_s": float(d["tpot_s"]["p50"]),
        "tpot_p99_s": float(d["tpot_s"]["p99"]),
        "output_tokens_per_s": float(d["output_tokens_per_s"]),
    }
    return figures, wall_s, cmd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-requests", type=int, default=1000)
    args = parser.parse_args()
    require_peer(
        "VIDUR_PYTHON",
        "/tmp/vidur-venv/bin/python",
        "vidur",
        "python3 -m venv /tmp/vidur-venv && /tmp/vidur-venv/bin/pip install vidur",
    )
    work = Path(tempfile.mkdtemp(prefix="chip2grid-vidur-"))
    azure, vidur_trace = write_traces(args.num_requests, work)
    src_env = os.environ.get("VIDUR_SRC")
    blocker = vidur_blocker(Path(src_env) if src_env else None)
    c2g, c2g_s, cmd = run_c2g(azure)
    vid: dict[str, float] = {}
    vid_s = float("nan")
    if blocker is None and src_env:
        try:
            vid, vid_s = run_vidur(Path(src_env), vidur_trace, work)
        except RuntimeError as exc:
            blocker = f"Vidur failed: {exc}"
    if blocker:
        print(f"Vidur not run: {blocker}")

    def cell(d: dict[str, float], key: str) -> str:
        return f"{d[key]:.4g}" if key in d else "not run"

    lines = [
        "# One serving case beside Vidur",
        "",
        f"Llama-2-7B, 1 x A100 80 GB, TP1, first {args.num_requests} requests of the Azure "
        f"conversation trace (own arrivals and lengths), chunked prefill {CHUNK_TOKENS} tokens, "
        f"at most {MAX_SEQS} running sequences. Written by `python benchmarks/peers/vidur_case.py`.",
        "",
        "| figure | chip2grid simulate | Vidur |",
        "|---|---|---|",
    ]
    for key in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "output_tokens_per_s"):
        lines.append(f"| {key} | {cell(c2g, key)} | {cell(vid, key)} |")
    lines.append(f"| wall time, s | {c2g_s:.1f} | {vid_s:.1f} |")
    lines += ["", f"Vidur: {blocker or 'ran'}", "", "```console"]
    lines.append(
        " ".join(["chip2grid", *cmd[len(chip2grid_cli()) :]]).replace(str(work), "/tmp/slice")
    )
    lines += ["```"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "vidur_comparison.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
