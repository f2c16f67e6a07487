"""The steady state's TTFT under Poisson arrivals against the discrete-event simulator.

``chip2grid estimate --request-rate R`` (and validation's MLPerf Server predictions) adds to
the time to first token the wait for a sequence slot: a continuous-batching engine holds up to
``max_num_seqs`` (or as many as the KV cache allows) sequences at once, and an arrival waits
only while all those slots are taken (Erlang C over the slots,
:func:`chip2grid.perf.steady.admission_wait_s`). Until stop 36 it added the wait of an M/D/1
queue whose one server completes requests at the instance's capacity instead. This script
measures how far each is from the simulator on the model's own terms: the simulator (:mod:`chip2grid.serving`) runs the same step-time model one
request at a time, so any gap is the queueing formula, not the hardware fit.

For each deployment, at a load ``rho`` (request rate over the steady state's capacity) it
simulates Poisson arrivals (fixed lengths, and outputs drawn from a geometric distribution of
the same mean), drops the first quarter of the requests (warm-up), and prints the mean TTFT and
TPOT of the simulation beside the steady state's, and beside two alternative waits computed
from the same steady state:

- ``M/D/1``: the steady state's TTFT with the M/D/1 wait in place of the slots' (what
  ``chip2grid validate --admission-queue instance`` scores);
- ``nowait``: the steady state's TTFT without any wait (half an iteration plus the prompt's
  prefill step).

    python benchmarks/queue_vs_simulator.py [--requests N]

About a minute on one core. Nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.estimate import Load, Workload, estimate
from chip2grid.perf.steady import md1_wait_s
from chip2grid.serving import RequestTrace, simulate, synthetic_trace
from chip2grid.serving.simulate import engine_config_for

# (model, accelerator, precision, input tokens, output tokens, engine, max_num_seqs or 0)
CASES = (
    ("llama-2-70b", "h200-sxm", "fp8", 222, 294, "tensorrt-llm", 0),
    ("llama-3.1-8b", "h100-sxm", "bf16", 1000, 200, "tensorrt-llm", 64),
    ("llama-3.1-8b", "h100-sxm", "bf16", 1000, 200, "vllm", 0),
)
LOADS = (0.5, 0.8, 0.9, 0.95)


def run_case(case: tuple[str, str, str, int, int, str, int], num_requests: int) -> None:
    model, acc, precision, isl, osl, engine, max_seqs = case
    dep = Deployment(
        model=get_model(model),
        accelerator=get_accelerator(acc),
        weight_precision=precision,
        kv_precision=precision,
        engine=engine,
    )
    work = Workload(input_tokens=isl, output_tokens=osl)
    full = estimate(dep, work, Load(mode="max_load", max_num_seqs=max_seqs))
    capacity = full.requests_per_s
    config = engine_config_for(dep)
    if max_seqs:
        config = dataclasses.replace(config, max_num_seqs=max_seqs)
    print(
        f"\n{model} on {acc} ({precision}, {engine}, {isl}/{osl} tokens): capacity "
        f"{capacity:.2f} req/s at {full.batch_size:.0f} sequences"
    )
    print("  rho  lengths    sim TTFT  steady TTFT (slots)   M/D/1  nowait   sim TPOT  steady TPOT")
    for rho in LOADS:
        rate = rho * capacity
        fixed = synthetic_trace(num_requests, rate, isl, osl, seed=1)
        rng = np.random.default_rng(1)
        geometric = RequestTrace(
            arrival_s=fixed.arrival_s,
            input_tokens=fixed.input_tokens,
            output_tokens=np.maximum(rng.geometric(1.0 / osl, num_requests), 2).astype(np.int64),
            source="geometric outputs",
        )
        # the coefficient of variation of the outputs: 0, and a geometric law's sqrt(1 - 1/osl)
        for label, trace, output_cv in (
            ("fixed", fixed, 0.0),
            ("geometric", geometric, math.sqrt(1.0 - 1.0 / osl)),
        ):
            est = estimate(
                dep,
                dataclasses.replace(work, output_tokens_cv=output_cv),
                Load(mode="request_rate", request_rate_per_s=rate, max_num_seqs=max_seqs),
            )
            nowait = est.ttft_s_mean - est.queue_wait_s
            md1 = nowait + float(md1_wait_s(np.asarray(rho), np.asarray(1.0 / capacity)))
            result = simulate(dep, trace, config=config)
            keep = slice(num_requests // 4, num_requests)
            sim_ttft = float(result.ttft_s[keep].mean())
            sim_tpot = float(np.nanmean(result.tpot_s[keep]))
            print(
                f"  {rho:4.2f} {label:9s} {sim_ttft:9.3f} {est.ttft_s_mean:20.3f} "
                f"{md1:7.3f} {nowait:7.3f} {sim_tpot:10.4f} {est.tpot_s_mean:12.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests simulated per run")
    args = parser.parse_args()
    start = time.perf_counter()
    for case in CASES:
        run_case(case, args.requests)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
