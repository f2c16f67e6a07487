"""Request lengths that vary: the steady state's length-biased context against the simulator.

A request stays in the decode batch for as many steps as it generates tokens, so at any
moment the batch over-represents long outputs. With output lengths of mean ``m`` and
coefficient of variation ``cv``, the mean context of a decoding sequence is
``isl + m (1 + cv^2) / 2``, not ``isl + m / 2``; the KV cache then holds fewer sequences and
each step reads more of it. ``chip2grid estimate --output-tokens-cv`` (and ``Workload``'s
``output_tokens_cv``, ``input_tokens_cv``) apply this; 0 keeps every request at the mean.

This script checks that against the discrete-event simulator (:mod:`chip2grid.serving`),
which runs the same step-time model one request at a time with lengths drawn from gamma
distributions of the given means and spreads, all requests queued at once (offline). Over the
middle of the run (30-70 % of its duration: no ramp-up, no drain) it reads the simulator's
timeline: output tokens per second, mean decode batch and the mean context of a decoding
sequence, and prints them beside the steady state's with the spread and without it.

    python benchmarks/length_spread_vs_simulator.py [--requests N]

About a minute on one core. Nothing is written.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.estimate import Load, Workload, estimate
from chip2grid.serving import RequestTrace, simulate
from chip2grid.serving.workload import gamma_lengths

# (label, model, accelerator, precision, engine, isl, input cv, osl, output cv)
CASES = (
    (
        "MLPerf llama2-70b lengths",
        "llama-2-70b",
        "h200-sxm",
        "fp8",
        "tensorrt-llm",
        222,
        0.771,
        294,
        0.787,
    ),
    (
        "MLPerf mixtral lengths",
        "mixtral-8x7b",
        "h100-sxm",
        "fp8",
        "tensorrt-llm",
        427,
        0.769,
        145,
        0.778,
    ),
    (
        "long reasoning outputs",
        "llama-3.1-8b",
        "h100-sxm",
        "fp8",
        "tensorrt-llm",
        800,
        0.505,
        4000,
        1.253,
    ),
    ("chat, vLLM", "llama-3.1-8b", "h100-sxm", "bf16", "vllm", 215, 1.0, 200, 1.0),
)
WINDOW = (0.3, 0.7)


def window_figures(result: object) -> tuple[float, float, float]:
    """Output tokens/s, mean decode batch and mean decode context over the middle window."""
    tl = result.replicas[0].timeline  # type: ignore[attr-defined]
    end = float(np.max(tl.start_s + tl.duration_s))
    lo, hi = WINDOW[0] * end, WINDOW[1] * end
    keep = (tl.start_s >= lo) & (tl.start_s + tl.duration_s <= hi)
    seq_steps = tl.decode_seqs[keep] * tl.num_steps[keep]
    tokens = seq_steps.sum() + tl.prefill_seqs[keep].sum()
    busy = tl.duration_s[keep].sum()
    steps = tl.num_steps[keep].sum()
    ctx = float((tl.decode_context[keep] * seq_steps).sum() / max(seq_steps.sum(), 1e-9))
    return float(tokens / busy), float(seq_steps.sum() / max(steps, 1)), ctx


def run_case(case: tuple, num_requests: int) -> None:  # type: ignore[type-arg]
    label, model, acc, precision, engine, isl, in_cv, osl, out_cv = case
    dep = Deployment(
        model=get_model(model),
        accelerator=get_accelerator(acc),
        weight_precision=precision,
        kv_precision=precision,
        engine=engine,
    )
    rng = np.random.default_rng(7)
    inputs = gamma_lengths(rng, isl, in_cv, num_requests, 2)
    outputs = gamma_lengths(rng, osl, out_cv, num_requests, 2)
    trace = RequestTrace(
        arrival_s=np.arange(num_requests) * 1e-6,
        input_tokens=inputs,
        output_tokens=outputs,
        source=f"gamma lengths, cv {in_cv}/{out_cv}",
    )
    sim_tps, sim_batch, sim_ctx = window_figures(simulate(dep, trace))
    mean_in, mean_out = float(inputs.mean()), float(outputs.mean())
    print(
        f"\n{label}: {model} on {acc} ({precision}, {engine}); drawn means {mean_in:.0f} in / "
        f"{mean_out:.0f} out, cv {np.std(inputs) / mean_in:.2f} / {np.std(outputs) / mean_out:.2f}"
    )
    print("                      output tok/s   decode batch   decode context")
    print(f"  simulator          {sim_tps:13.0f} {sim_batch:14.0f} {sim_ctx:16.0f}")
    for name, cvs in (("steady, spread", (in_cv, out_cv)), ("steady, no spread", (0.0, 0.0))):
        work = Workload(
            input_tokens=mean_in,
            output_tokens=mean_out,
            input_tokens_cv=cvs[0],
            output_tokens_cv=cvs[1],
        )
        est = estimate(dep, work, Load(mode="max_load"))
        print(
            f"  {name:18s} {est.output_tokens_per_s:13.0f} {est.batch_size:14.0f} "
            f"{work.decode_context_tokens:16.0f}   ({est.output_tokens_per_s / sim_tps - 1:+.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests simulated per case")
    args = parser.parse_args()
    start = time.process_time()
    for case in CASES:
        run_case(case, args.requests)
    print(f"\n{time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
