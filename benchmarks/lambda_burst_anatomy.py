"""Where the time of Lambda's vLLM 0.5.4 bursts goes, measured against the replay.

Lambda Labs' runs send 320 ShareGPT requests at once and report the output throughput over the
whole run. Their result files also hold every request's TTFT. Requests prefilled in the same
engine step get their first token within milliseconds of each other, so the distinct TTFTs give
the completion times of the steps that produced first tokens
(:func:`chip2grid.validation.bursts.first_token_timeline`). Two things in them are not serving:

- the **first-token delay**: the earliest first token comes 0.56-0.65 s after the burst on the
  H100 servers and about 1.0 s on the A100 servers, whatever the model, where one prefill step
  takes 20-50 ms. vLLM 0.5's API server shares one Python process with the engine and takes in
  all 320 requests (HTTP, tokenization) before the first step: about 1.8 ms a request on the
  H100 hosts and 3.1 ms on the A100 hosts. The replay starts the engine at time 0.
- **stalls**: gaps between first-token steps far longer than the run's usual gap (more than 5
  times its median and more than 0.5 s). Every Mixtral run has 6-12 of them, 0.6-2.3 s each,
  7-20 s in all; the dense runs have at most one short one. They are what a just-in-time
  compilation of vLLM 0.5's Triton fused-MoE kernel looks like (the one Triton kernel on these
  models' forward path, with its block sizes chosen by the number of tokens in the step, so
  each new size class of prefill compiles anew, one to two seconds of host time each); the
  files do not say so, this is an inference.

For each of the 16 runs with a result file the script prints the measured and replayed run
time, the measured and replayed first token, the stalls, the throughput error as validation
scores it, and the error against the measured run less the stalls and the intake time (the
measured first token less the replayed one: the replay's first step is taken as the measured
one's length). The second is a
diagnosis, not a score: it shows how much of the error each cause accounts for. Usage:
``python benchmarks/lambda_burst_anatomy.py [--measurements PATH]`` (about 10 s; the shipped
calibration; nothing is written).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from chip2grid.validation.bursts import (
    calibration_of,
    first_token_timeline,
    load_bursts,
    replay,
)
from chip2grid.validation.cases import load_measurement_files
from chip2grid.validation.predict import catalog_parameters, prepare

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "measurements.csv"


@dataclass(frozen=True, slots=True)
class RunAnatomy:
    """One burst's measured timeline beside the replay's."""

    case_id: str
    moe: bool
    measured_s: float
    predicted_s: float
    first_token_s: float
    model_first_token_s: float
    stalls: int
    stall_total_s: float

    @property
    def error(self) -> float:
        """The throughput error as validation scores it (predicted over measured, less 1)."""
        return self.measured_s / self.predicted_s - 1.0

    @property
    def intake_s(self) -> float:
        """The measured first token less the replay's: the time before the first step began."""
        return max(self.first_token_s - self.model_first_token_s, 0.0)

    @property
    def error_less_delay_and_stalls(self) -> float:
        """The throughput error against the measured run less its intake time and stalls."""
        rest_s = self.measured_s - self.intake_s - self.stall_total_s
        return rest_s / self.predicted_s - 1.0


def anatomy(path: Path) -> list[RunAnatomy]:
    """One row per Lambda run with a result file: its timeline and the replay's."""
    bursts = load_bursts()
    cases = [
        c
        for c in load_measurement_files([path])
        if c.case_id in bursts and bursts[c.case_id].ttft_s is not None
    ]
    prep = prepare(cases)
    hw, engine, power = catalog_parameters(prep)
    rows = []
    for i, case in enumerate(prep.cases):
        burst = bursts[case.case_id]
        assert burst.ttft_s is not None
        timeline = first_token_timeline(burst.ttft_s)
        model = replay(case, burst, calibration_of(prep, i, hw, engine, power))
        tokens = float(burst.output_tokens.sum())
        rows.append(
            RunAnatomy(
                case_id=case.case_id,
                moe=case.model.startswith("mixtral"),
                measured_s=tokens / burst.measured["output_tokens_per_s"],
                predicted_s=model["duration_s"],
                first_token_s=timeline.first_token_s,
                model_first_token_s=model["first_token_s"],
                stalls=len(timeline.stalls_s),
                stall_total_s=timeline.stall_total_s,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measurements", type=Path, default=SHARED)
    rows = anatomy(parser.parse_args().measurements)
    print(
        f"{'run':44s} {'run s':>6s} {'model':>6s} {'1st tok':>7s} {'model':>6s}"
        f" {'stalls':>6s} {'stall s':>7s} {'thr err':>8s} {'less both':>9s}"
    )
    for r in rows:
        print(
            f"{r.case_id.removeprefix('lambda-vllm-0.5.4-'):44s}"
            f" {r.measured_s:6.1f} {r.predicted_s:6.1f}"
            f" {r.first_token_s:7.2f} {r.model_first_token_s:6.2f}"
            f" {r.stalls:6d} {r.stall_total_s:7.1f}"
            f" {r.error:+8.0%} {r.error_less_delay_and_stalls:+9.0%}"
        )
    for label, moe in (("Mixtral", True), ("dense", False)):
        group = [r for r in rows if r.moe is moe]
        before = statistics.fmean(abs(r.error) for r in group)
        after = statistics.fmean(abs(r.error_less_delay_and_stalls) for r in group)
        print(
            f"{label} ({len(group)} runs): throughput MAPE {100 * before:.1f} % as scored,"
            f" {100 * after:.1f} % against the run less intake time and stalls"
        )


if __name__ == "__main__":
    main()
