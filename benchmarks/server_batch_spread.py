"""Does the spread of Poisson arrivals explain why MLPerf Server runs hold more sequences than
the steady state says?

chip2grid puts a Server run at its fluid fixed point: the batch ``b`` at which the instance
completes requests as fast as they arrive (``perf.steady.batch_at_rate``). With random arrivals
the number of requests in flight fluctuates around it, and where the completion rate ``phi(n)``
flattens with ``n`` (compute-bound steps) the mean of that fluctuating number can lie well above
the fixed point. Continuous batching shares each step among the ``n`` sequences in flight, so an
instance is a processor-sharing queue whose total rate depends on ``n``; such a queue is
insensitive to the distribution of request sizes, and the number in flight is exactly the
birth-death chain ``pi(n) ~ prod_k lambda / phi(k)`` (Kelly, *Reversibility and Stochastic
Networks*, 1979, ch. 3), with arrivals beyond the batch cap queued at ``phi(cap)``.

For every MLPerf Server run in the file, this script prints the fluid batch, the chain's mean
number in flight, and the number the run itself held (Little's law: the rate times its measured
mean latency), all per instance, with the calibrated steps of the shipped calibration.

Where the same system also ran Offline, it prints a bound that needs no step model: a step is no
shorter with more sequences and no longer per sequence, so with ``n`` in flight an instance
completes at least ``phi_off * min(1, n / b_off)`` requests a second, ``phi_off`` being what it
completed Offline (a run average, tail included, so at most its steady rate) at its batch cap
``b_off`` (the cap validation gives that run: the harness's stated batch size, else the
engine's default; where the run's real cap was lower the bound only rises). A Server run that
served less ran slower steps than its own Offline run at the same batch, which no step model
shared by both scenarios reproduces, unless its Offline cap was above the one assumed.

Usage: ``python benchmarks/server_batch_spread.py [--measurements PATH]`` (two seconds;
default: the shared MLPerf v4.1 rows). Nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from chip2grid.perf.steady import Cycle, batch_at_rate, continuous_batching
from chip2grid.plan.grid import rows
from chip2grid.validation.cases import load_measurement_files
from chip2grid.validation.predict import catalog_parameters, prepare, with_parameters

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "measurements.csv"


def mean_in_flight(rate_per_s: float, completions_per_s: np.ndarray) -> float:
    """Mean number in flight of the birth-death chain with arrivals at ``rate_per_s`` and
    completions at ``completions_per_s[n - 1]`` with ``n`` in flight (``n`` = 1 to the cap);
    arrivals beyond the cap wait at the cap's rate. Infinite at or above that rate."""
    top = completions_per_s[-1]
    if rate_per_s >= top:
        return float("inf")
    log_p = np.concatenate([[0.0], np.cumsum(np.log(rate_per_s / completions_per_s))])
    p = np.exp(log_p - log_p.max())
    cap = len(completions_per_s)
    ratio = rate_per_s / top
    # n = cap + j (j >= 1) holds p[cap] * ratio**j
    tail_mass = p[-1] * ratio / (1.0 - ratio)
    tail_mean = p[-1] * (cap * ratio / (1.0 - ratio) + ratio / (1.0 - ratio) ** 2)
    total = p.sum() + tail_mass
    return float(((np.arange(cap + 1) * p).sum() + tail_mean) / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", type=Path, default=SHARED)
    args = parser.parse_args()
    mlperf = [c for c in load_measurement_files([args.measurements]) if c.source_family == "mlperf"]
    cases = [c.at_mean_lengths() for c in mlperf if c.mode == "server"]
    cases = [c for c in cases if "e2e_latency_s_mean" in c.metrics]
    offline = [c.at_mean_lengths() for c in mlperf if c.mode == "offline"]
    off_prep = prepare([c for c in offline if "requests_per_s" in c.metrics])
    # per system: the requests an Offline instance completed a second, and its batch cap
    offline_run = {
        c.case_id.removesuffix("-offline"): (
            c.metrics["requests_per_s"] / off_prep.replicas[j],
            float(off_prep.full_batch[j]),
        )
        for j, c in enumerate(off_prep.cases)
    }
    prep = prepare(cases)
    hw, engine, power = catalog_parameters(prep)
    shape = with_parameters(prep, hw, engine, float(power[2]))
    print(
        f"{'run':48s} {'rate/inst':>9s} {'fluid':>6s} {'chain':>6s} {'measured':>8s}"
        f" {'served / Offline bound':>22s}"
    )
    chain_vs_fluid, measured_vs_fluid, below_bound = [], [], []
    for i, case in enumerate(prep.cases):
        cap = max(int(prep.full_batch[i]), 1)
        n = np.arange(1, cap + 1, dtype=float)

        def cycle_at(_rows: np.ndarray, b: np.ndarray, i: int = i) -> Cycle:
            return continuous_batching(
                rows(shape, np.full(b.size, i)),
                prep.isl[i],
                prep.osl[i],
                b,
                prep.mixed[i],
                prep.budget[i],
                input_cv=prep.input_cv[i],
                output_cv=prep.output_cv[i],
            )

        cycle = cycle_at(n, n)
        rate = case.request_rate_per_s / prep.replicas[i]
        fluid = (
            float(batch_at_rate(cycle_at, rate, prep.osl[i], cap))
            if rate < cycle.requests_per_s[-1]
            else float("inf")
        )
        chain = mean_in_flight(rate, np.asarray(cycle.requests_per_s, dtype=float))
        measured = rate * case.metrics["e2e_latency_s_mean"]
        system = case.case_id.removesuffix("-server")
        bound_text = ""
        if system in offline_run:
            phi_off, off_cap = offline_run[system]
            served = case.metrics.get("requests_per_s", case.request_rate_per_s)
            ratio = served / prep.replicas[i] / (phi_off * min(1.0, measured / off_cap))
            bound_text = f"{ratio:22.3f}"
            if ratio < 1.0:
                below_bound.append(
                    f"{case.case_id} ({case.accelerator}, TP {case.tp}, {ratio:.3f})"
                )
        print(
            f"{case.case_id[:48]:48s} {rate:9.2f} {fluid:6.0f} {chain:6.0f} {measured:8.0f}"
            + bound_text
        )
        if np.isfinite(fluid) and np.isfinite(chain):
            chain_vs_fluid.append(chain / fluid)
            measured_vs_fluid.append(measured / fluid)
    print(
        f"\n{len(chain_vs_fluid)} runs below the predicted capacity; median chain / fluid "
        f"{statistics.median(chain_vs_fluid):.3f} (range {min(chain_vs_fluid):.3f}-"
        f"{max(chain_vs_fluid):.3f}); median measured / fluid "
        f"{statistics.median(measured_vs_fluid):.2f}"
    )
    print(f"{len(below_bound)} Server runs served less than their Offline run bounds:")
    for line in below_bound:
        print("  " + line)


if __name__ == "__main__":
    main()
