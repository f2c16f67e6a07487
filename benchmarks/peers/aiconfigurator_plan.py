"""The plan question of issue 7, asked of AIConfigurator (``cli default``) and ``chip2grid plan``.

Run: ``python benchmarks/peers/aiconfigurator_plan.py`` with chip2grid's environment; the peer
runs from its own venv (``$AIC_PYTHON``, default ``/tmp/peers-venv/bin/python``). Without it
the script says so and exits 0.

The question: Llama-3.1-70B in FP8 on 8 x H100 SXM, ISL 4000 / OSL 500, TTFT <= 1 s and
TPOT <= 50 ms. AIConfigurator's default mode searches aggregated and disaggregated TensorRT-LLM
deployments on a fixed GPU count and ranks them by output tokens/s per GPU. ``chip2grid plan``
takes a demand instead and returns the cheapest deployment serving it. It is asked twice: at
AIConfigurator's best aggregated request rate on 8 GPUs (the same load), and at the largest
rate it can serve on at most 8 GPUs (its own capacity, found by bisection on ``--demand``).

Writes ``benchmarks/peers/results/plan_comparison.md``.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, chip2grid_cli, require_peer, timed_run

GPUS = 8
ISL, OSL = 4000, 500
TTFT_S, TPOT_S = 1.0, 0.05
AIC_MODEL = "nvidia/Llama-3.1-70B-Instruct-FP8"  # packaged config: FP8 weights and KV
C2G_MODEL = "llama-3.1-70b"


def run_aic(python: str, out_dir: Path) -> tuple[dict[str, dict[str, str]], float, str]:
    """AIConfigurator's default mode; its best aggregated and disaggregated rows and wall time."""
    cmd = [
        str(Path(python).with_name("aiconfigurator")),
        "cli",
        "default",
        "--model-path",
        AIC_MODEL,
        "--total-gpus",
        str(GPUS),
        "--system",
        "h100_sxm",
        "--backend",
        "trtllm",
        "--isl",
        str(ISL),
        "--osl",
        str(OSL),
        "--ttft",
        str(TTFT_S * 1e3),
        "--tpot",
        str(TPOT_S * 1e3),
        "--top-n",
        "3",
        "--no-color",
        "--save-dir",
        str(out_dir),
    ]
    proc, wall_s = timed_run(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(f"aiconfigurator cli default failed:\n{proc.stderr[-3000:]}")
    best: dict[str, dict[str, str]] = {}
    for mode in ("agg", "disagg"):
        files = sorted(out_dir.rglob(f"{mode}/best_config_topn.csv"))
        if files:
            with files[-1].open() as fh:
                rows = list(csv.DictReader(fh))
            if rows:
                best[mode] = rows[0]
    return best, wall_s, " ".join(["aiconfigurator", *cmd[1:]])


def run_c2g(demand_rps: float) -> tuple[dict[str, object], float, list[str]]:
    """``chip2grid plan --json`` at ``demand_rps``; the answer and its wall time."""
    cmd = [
        *chip2grid_cli(),
        "plan",
        "--model",
        C2G_MODEL,
        "--accelerators",
        "h100-sxm",
        "--precisions",
        "fp8",
        "--input-tokens",
        str(ISL),
        "--output-tokens",
        str(OSL),
        "--ttft-slo",
        str(TTFT_S),
        "--tpot-slo",
        str(TPOT_S),
        "--demand",
        f"{demand_rps:.4f}",
        "--json",
    ]
    proc, wall_s = timed_run(cmd)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}, wall_s, cmd
    return json.loads(proc.stdout), wall_s, cmd


def c2g_capacity(lo: float, hi: float, steps: int = 7) -> tuple[float, dict[str, object], float]:
    """Largest demand (req/s) chip2grid plans on at most GPUS accelerators, by bisection."""
    best: dict[str, object] = {}
    total_s = 0.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        answer, wall_s, _ = run_c2g(mid)
        total_s += wall_s
        chosen = answer.get("chosen")
        if isinstance(chosen, dict) and int(chosen["num_accelerators"]) <= GPUS:
            lo, best = mid, answer
        else:
            hi = mid
    return lo, best, total_s


def _aic_line(mode: str, row: dict[str, str]) -> str:
    seq_per_gpu = float(row["seq/s/gpu"])
    if mode == "agg":
        layout = (
            f"{GPUS // int(row['num_total_gpus'])} x TP{row['tp']} PP{row['pp']}, batch {row['bs']}"
        )
    else:
        layout = (
            f"{row['(p)workers']} prefill x TP{row['(p)tp']} PP{row['(p)pp']} (batch {row['(p)bs']}) + "
            f"{row['(d)workers']} decode x TP{row['(d)tp']} PP{row['(d)pp']} (batch {row['(d)bs']}), "
            f"{row['num_total_gpus']} GPUs a replica"
        )
    return (
        f"| AIConfigurator {mode} | {layout} | {seq_per_gpu * OSL:.0f} ({float(row['tokens/s/gpu']):.0f}) "
        f"| {float(row['ttft']):.0f} | {float(row['tpot']):.1f} | {row.get('gemm') or row.get('(d)gemm')} GEMM, "
        f"KV {row.get('kvcache') or row.get('(d)kvcache')}, concurrency {row['concurrency']} |"
    )


def _c2g_line(label: str, answer: dict[str, object], demand: float) -> str:
    chosen = answer.get("chosen")
    if not isinstance(chosen, dict):
        return f"| {label} | no feasible plan: {answer.get('error')} | | | | |"
    n = int(chosen["num_accelerators"])
    return (
        f"| {label} | {chosen['label']} = {n} GPUs | {demand * OSL / n:.0f} "
        f"| {float(chosen['ttft_s']) * 1e3:.0f} | {float(chosen['tpot_s']) * 1e3:.1f} "
        f"| {chosen['verdict']} |"
    )


def _c2g_best_disagg(answer: dict[str, object]) -> dict[str, object] | None:
    pool = [*answer.get("pareto", []), *answer.get("runners_up", [])]  # type: ignore[misc]
    disagg = [c for c in pool if isinstance(c, dict) and c.get("disaggregated")]
    return min(disagg, key=lambda c: float(c["cost_usd_per_mtok"])) if disagg else None


def main() -> None:
    python = require_peer(
        "AIC_PYTHON",
        "/tmp/peers-venv/bin/python",
        "aiconfigurator",
        "python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install aiconfigurator",
    )
    work = Path(tempfile.mkdtemp(prefix="chip2grid-plan-"))
    best, aic_s, aic_cmd = run_aic(python, work / "aic")
    if "agg" not in best:
        sys.exit("AIConfigurator found no aggregated configuration within the SLOs")
    same_load = float(best["agg"]["seq/s"]) * GPUS / float(best["agg"]["num_total_gpus"])
    at_load, c2g_s, c2g_cmd = run_c2g(same_load)
    cap_rps, at_cap, cap_s = c2g_capacity(0.5 * same_load, 4.0 * same_load)

    lines = [
        "# Plan question beside AIConfigurator (issue 7)",
        "",
        f"Llama-3.1-70B, FP8, H100 SXM, {GPUS} GPUs, ISL {ISL} / OSL {OSL}, "
        f"TTFT <= {TTFT_S * 1e3:.0f} ms, TPOT <= {TPOT_S * 1e3:.0f} ms. "
        "Written by `python benchmarks/peers/aiconfigurator_plan.py`.",
        "",
        "| tool | chosen configuration | output tok/s per GPU | TTFT ms | TPOT ms | notes |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("agg", "disagg"):
        if mode in best:
            lines.append(_aic_line(mode, best[mode]))
    lines.append(_c2g_line(f"chip2grid plan at {same_load:.2f} req/s", at_load, same_load))
    lines.append(
        _c2g_line(f"chip2grid plan at its {GPUS}-GPU capacity {cap_rps:.2f} req/s", at_cap, cap_rps)
    )
    disagg = _c2g_best_disagg(at_load)
    if disagg is not None:
        lines.append(
            f"| chip2grid best disaggregated at {same_load:.2f} req/s | {disagg['label']} = "
            f"{disagg['num_accelerators']} GPUs | {same_load * OSL / int(str(disagg['num_accelerators'])):.0f} "
            f"| {float(str(disagg['ttft_s'])) * 1e3:.0f} | {float(str(disagg['tpot_s'])) * 1e3:.1f} "
            f"| {float(str(disagg['cost_usd_per_mtok'])):.3f} $/Mtok vs chosen "
            f"{float(str(at_load['chosen']['cost_usd_per_mtok'])):.3f} |"  # type: ignore[index]
        )
    lines += [
        "",
        "Output tokens/s per GPU is requests/s per GPU x OSL for every row; AIConfigurator's own",
        "tokens/s/gpu (in brackets) counts OSL - 1 tokens a request. chip2grid's rows are the",
        "demand it was asked to serve divided by the GPUs it chose, not a separate capacity figure.",
        "",
        "| wall time | seconds |",
        "|---|---|",
        f"| AIConfigurator `cli default` (agg + disagg search, one process) | {aic_s:.1f} |",
        f"| `chip2grid plan` (one question) | {c2g_s:.1f} |",
        f"| `chip2grid plan` x 7 (bisection on demand for the 8-GPU capacity) | {cap_s:.1f} |",
        "",
        "Commands:",
        "",
        "```console",
        f"HF_HUB_OFFLINE=1 {aic_cmd.replace(str(work), '/tmp/aic')}",
        " ".join(["chip2grid", *c2g_cmd[len(chip2grid_cli()) :]]),
        "```",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "plan_comparison.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
