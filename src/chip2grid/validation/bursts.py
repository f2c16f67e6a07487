"""Measured request bursts replayed through the serving simulator.

Some published runs send a fixed set of requests at once and report the throughput over the
whole run (until the last request finishes) and per-token latencies. With variable output
lengths such a run is not a steady state: its end is a tail in which a few long requests decode
in a nearly empty batch, so the throughput depends on the exact lengths. Where a run's
per-request lengths were published, validation replays exactly those requests through the
serving simulator (:mod:`chip2grid.serving`) with the calibration under test, instead of
taking the steady state at the mean length.

The data, ``data/lambda_bursts.json`` (built by ``scripts/lambda_bursts.py``): for 16 cases of
the Lambda Labs vLLM benchmark, the result file it was read from (repository, commit, path),
the server's ``max_model_len``, the input and output length of each of the 320 requests, and
summary metrics from the same file that ``measurements.csv`` does not hold (mean TTFT and
TPOT). 24 more cases, whose result files are not available, take the lengths of a run of the
same checkpoint: the same prompts and tokenizer give the same input lengths, and greedy
decoding nearly the same outputs (between the runs that have files, 10-22 % of the requests'
output lengths differ and the totals are within 2 %). The 8 Llama-3.1-70B cases, none of whose
table runs has a file, take their lengths from a stand-in (``stand_ins``): the run of the same
checkpoint, accelerator and TP that the repository does hold (the same 320 prompts, a run other
than the table's: its throughput differs). How vLLM's
``benchmark_serving.py`` defines them, and so how they are predicted here:

- ``output_tokens_per_s``: output tokens over the run's duration, first request sent to last
  one finished.
- ``ttft_s_mean``: mean over all requests; a request that produced no text (output length 0)
  counts with a TTFT of 0, as the harness records it. Such a request is simulated as a prefill
  and one token.
- ``tpot_s_mean``: mean over the requests with more than one output token of
  ``(latency - TTFT) / (output tokens - 1)``.
- ``itl_s_median``: the median gap between streamed tokens over all requests, taken here as
  the token-weighted median of the simulated decode steps' durations (a prefill step that
  stalls running sequences lengthens a few gaps; it does not move the median).

A run of a stated number of requests of one fixed length (TensorRT-LLM's Triton table: 500 at
each rate) is replayed the same way (:func:`finite_run`): with fixed lengths no file is needed.

The replay is used for scoring only: the fit works on steady-state predictions, so burst
metrics are left out of it.

The result files also hold each request's measured TTFT (``ttfts``, kept for the 16 runs with a
file). Requests whose prefill ran in the same engine step get their first token within a few
milliseconds of each other, so the distinct TTFTs are the completion times of the steps that
produced first tokens. :func:`first_token_timeline` reads them: when the first step returned
(everything before it is the server taking in the burst), the usual spacing of those steps, and
the stalls, gaps far longer than that spacing. ``benchmarks/lambda_burst_anatomy.py`` sets them
beside the replay.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chip2grid.perf import get_engine
from chip2grid.perf.calibration import (
    Calibration,
    EngineCalibration,
    HardwareCalibration,
    PowerCalibration,
)
from chip2grid.serving import RequestTrace, simulate
from chip2grid.serving.simulate import engine_config_for
from chip2grid.validation.cases import Case
from chip2grid.validation.predict import (
    ENGINE_PARAMS,
    HW_PARAMS,
    MOE_PARAM,
    POWER_PARAMS,
    Prepared,
    case_deployment,
)

BURSTS_FILE = Path(__file__).resolve().parents[1] / "data" / "lambda_bursts.json"
BURST_METRICS = (
    "output_tokens_per_s",
    "requests_per_s",
    "ttft_s_mean",
    "tpot_s_mean",
    "itl_s_median",
)
"""Metrics of a burst case that the replay predicts (the others keep the steady state)."""
FINITE_RUN_DATASET = re.compile(r"^synthetic fixed ISL/OSL, ([0-9][0-9,]*) requests$")
"""A measured run of a stated number of requests of one fixed length (a row's ``dataset``)."""
FINITE_RUN_SEED = 0
"""Seed of the Poisson arrivals a finite run at a stated rate is replayed with."""
FINITE_RUN_LATENCIES = ("ttft_s_mean", "itl_s_mean", "tpot_s_mean")
"""Metrics of a finite run at a stated rate that its replay predicts. Its throughput is left
out, as for any run at a fixed rate: it measures when the random arrivals ended."""
FINITE_RUN_ALL_AT_ONCE = (
    "output_tokens_per_s",
    "requests_per_s",
    "total_tokens_per_s",
    *FINITE_RUN_LATENCIES,
)
"""Metrics of a finite run sent all at once that its replay predicts."""
VLLM_V0_MIN_BATCHED_TOKENS = 2048
"""vLLM 0.5 without chunked prefill: ``max_num_batched_tokens = max(max_model_len, 2048)``."""


@dataclass(frozen=True, slots=True)
class Burst:
    """The requests of one measured burst and the metrics read from its result file."""

    case_id: str
    source: str
    max_model_len: int
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    measured: dict[str, float]
    ttft_s: np.ndarray | None = None
    """Each request's measured TTFT (0 where it produced no text); None for a sibling or a
    stand-in."""
    arrival_s: np.ndarray | None = None
    """When each request was sent (seconds from the first); None: all at once."""
    scored: tuple[str, ...] = BURST_METRICS
    """The case's metrics that the replay predicts (the others keep the steady state)."""


SAME_STEP_S = 0.004
"""First tokens closer than this came from the same engine step (streaming jitter is ~1 ms)."""
STALL_FACTOR = 5.0
STALL_FLOOR_S = 0.5
"""A gap between first-token steps is a stall when it exceeds both ``STALL_FACTOR`` times the
run's median gap and ``STALL_FLOOR_S``."""


@dataclass(frozen=True, slots=True)
class FirstTokenTimeline:
    """When a burst's requests got their first token, read from the measured TTFTs."""

    step_end_s: np.ndarray
    """Completion times of the engine steps that produced first tokens, ascending."""
    median_gap_s: float
    """The median time between consecutive such steps."""
    stalls_s: np.ndarray
    """The gaps between consecutive first-token steps that count as stalls."""

    @property
    def first_token_s(self) -> float:
        """When the first step returned: before it, the server was taking in the burst."""
        return float(self.step_end_s[0])

    @property
    def stall_total_s(self) -> float:
        return float(self.stalls_s.sum())


def first_token_timeline(ttft_s: np.ndarray) -> FirstTokenTimeline:
    """The first-token steps of a burst whose requests were all sent at time 0."""
    times = np.sort(np.asarray(ttft_s, dtype=float))
    times = times[times > 0]  # a request without text has no first token
    if times.size < 2:
        raise ValueError(f"ttft_s: {times.size} positive TTFTs; a timeline needs at least 2")
    starts = np.concatenate(([True], np.diff(times) > SAME_STEP_S))
    # a cluster's time is its first token's (later ones in the same step are streaming jitter)
    step_end = times[starts]
    gaps = np.diff(step_end)
    median_gap = float(np.median(gaps)) if gaps.size else 0.0
    threshold = max(STALL_FLOOR_S, STALL_FACTOR * median_gap)
    return FirstTokenTimeline(
        step_end_s=step_end, median_gap_s=median_gap, stalls_s=gaps[gaps > threshold]
    )


@functools.cache
def load_bursts(path: Path = BURSTS_FILE) -> dict[str, Burst]:
    """The bursts with published per-request lengths, by case id."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def from_file(case_id: str, run: dict[str, Any], source: str, **extra: Any) -> Burst:
        return Burst(
            case_id=case_id,
            source=f"{source}{data['repository']}@{run['commit']}:{run['path']}",
            max_model_len=int(run["max_model_len"]),
            input_tokens=np.array(run["input_lens"], dtype=np.int64),
            output_tokens=np.array(run["output_lens"], dtype=np.int64),
            **extra,
        )

    bursts = {
        case_id: from_file(
            case_id,
            run,
            "",
            measured={k: float(v) for k, v in run["measured"].items()},
            ttft_s=np.array(run["ttfts"], dtype=float) if "ttfts" in run else None,
        )
        for case_id, run in data["runs"].items()
    }
    for case_id, run in data.get("stand_ins", {}).items():
        bursts[case_id] = from_file(
            case_id,
            run,
            "lengths of another run of the same checkpoint and configuration, ",
            measured={},
        )
    for case_id, sibling in data.get("siblings", {}).items():
        own = bursts[sibling]
        bursts[case_id] = Burst(
            case_id=case_id,
            source=f"lengths of the sibling run {sibling} ({own.source})",
            max_model_len=own.max_model_len,
            input_tokens=own.input_tokens,
            output_tokens=own.output_tokens,
            measured={},
        )
    return bursts


def _finite_run_size(case: Case) -> tuple[int, bool] | None:
    """``(requests, all at once)`` of a finite run (:func:`finite_run`), or None: its data set
    states a request count and one fixed length, and it ran all at once or at a stated rate."""
    match = FINITE_RUN_DATASET.match(case.dataset)
    if match is None or case.mode not in ("offline", "server"):
        return None
    count = int(match.group(1).replace(",", ""))
    at_once = case.mode == "offline"
    if (not at_once and not case.request_rate_per_s > 0) or count < 1:
        return None
    if round(case.input_tokens) < 1 or round(case.output_tokens) < 1:
        return None
    return count, at_once


def _finite_run_scored(at_once: bool) -> tuple[str, ...]:
    """The metrics a finite run's replay predicts: all of them sent at once, else latencies."""
    return FINITE_RUN_ALL_AT_ONCE if at_once else FINITE_RUN_LATENCIES


def finite_run(case: Case) -> Burst | None:
    """The requests of a measured run of a stated number of fixed-length requests, or None.

    Such a run (TensorRT-LLM's Triton table: 500 requests at each rate) is not a steady state:
    no more requests run at once than it sent, and a rate above what the system serves fills a
    queue that ends with the run instead of growing without bound. All at once (``offline``)
    the requests are sent at time 0; at a stated rate (``server``) with Poisson arrivals from a
    fixed seed (an assumption: the table does not name its arrival process; Poisson is the usual
    default of request-rate benchmarks, and the measured run's seed is not known).
    """
    size = _finite_run_size(case)
    if size is None:
        return None
    count, at_once = size
    isl, osl = round(case.input_tokens), round(case.output_tokens)
    arrival = None
    if not at_once:
        rng = np.random.default_rng(FINITE_RUN_SEED)
        gaps = rng.exponential(1.0 / case.request_rate_per_s, count)
        arrival = np.cumsum(gaps) - gaps[0]  # the first request opens the run
    return Burst(
        case_id=case.case_id,
        source=f"{count} requests of {isl} + {osl} tokens, "
        + ("all at once" if at_once else f"Poisson arrivals at {case.request_rate_per_s:g}/s"),
        max_model_len=isl + osl,
        input_tokens=np.full(count, isl, dtype=np.int64),
        output_tokens=np.full(count, osl, dtype=np.int64),
        measured={},
        arrival_s=arrival,
        scored=_finite_run_scored(at_once),
    )


def burst_for(case: Case) -> Burst | None:
    """The requests validation replays for a case instead of taking its steady state: a burst
    with published per-request lengths, or a finite run of fixed lengths; None for the others."""
    burst = load_bursts().get(case.case_id)
    return burst if burst is not None else finite_run(case)


def replayed_metrics(case: Case) -> tuple[str, ...]:
    """The metrics of ``case`` that its replay (:func:`burst_for`) predicts instead of the
    steady state; empty where it has none. Cheap: it builds no requests."""
    burst = load_bursts().get(case.case_id)
    if burst is not None:
        return burst.scored
    size = _finite_run_size(case)
    if size is None:
        return ()
    return _finite_run_scored(size[1])


def with_burst_metrics(cases: list[Case]) -> list[Case]:
    """The cases, those with a burst gaining the burst file's metrics that they lack."""
    bursts = load_bursts()
    out = []
    for case in cases:
        burst = bursts.get(case.case_id)
        if burst is not None:
            extra = {k: v for k, v in burst.measured.items() if k not in case.metrics}
            if extra:
                case = dataclasses.replace(case, metrics={**case.metrics, **extra})
        out.append(case)
    return out


def calibration_of(
    prep: Prepared, i: int, hw: np.ndarray, engine: np.ndarray, power: np.ndarray
) -> Calibration:
    """The calibration that parameters ``hw``, ``engine``, ``power`` give case ``i``."""
    hw_key = prep.hw_keys[prep.hw_index[i]]
    engine_key = prep.engine_keys[prep.engine_index[i]]

    def named(params: tuple[str, ...], values: np.ndarray) -> dict[str, Any]:
        return {p: float(v) for p, v in zip(params, values, strict=True)} | {"source": "under test"}

    return Calibration(
        hardware=HardwareCalibration(**named(HW_PARAMS, hw[prep.hw_index[i]])),
        engine=EngineCalibration(
            **named(ENGINE_PARAMS, engine[prep.engine_index[i]])
            | {ENGINE_PARAMS[MOE_PARAM]: float(engine[prep.moe_index[i], MOE_PARAM])}
        ),
        power=PowerCalibration(**named(POWER_PARAMS, power)),
        hardware_key=hw_key,
        engine_key=engine_key,
        origin="validation",
    )


def replay(case: Case, burst: Burst, calibration: Calibration) -> dict[str, float]:
    """Simulate the burst's requests, sent at once at time 0 or at their arrival times, and
    measure them as the harness does.

    Besides the metrics the harness reports: ``duration_s`` and ``first_token_s``, when the
    simulated engine's first step returned (no measurement is scored against these two).
    """
    deployment = case_deployment(case)
    engine = get_engine(deployment.engine)
    outputs = np.maximum(burst.output_tokens, 1)  # an empty text still took a prefill and a token
    trace = RequestTrace(
        arrival_s=np.zeros(len(outputs)) if burst.arrival_s is None else burst.arrival_s,
        input_tokens=burst.input_tokens,
        output_tokens=outputs,
        source=burst.source,
    )
    batched = (
        max(burst.max_model_len, VLLM_V0_MIN_BATCHED_TOKENS) if not engine.mixed_batching else None
    )
    config = engine_config_for(deployment, max_num_batched_tokens=batched)
    result = simulate(deployment, trace, config=config, calibration=calibration)
    duration = result.duration_s
    index = (
        np.concatenate(result.request_indices)
        if result.request_indices
        else np.arange(result.num_requests)
    )
    measured_out = burst.output_tokens[index]
    ttft = np.where(measured_out > 0, result.ttft_s, 0.0)
    tpot_mean = float(np.mean(result.tpot_s[measured_out > 1]))  # a run's mean ITL is its TPOT
    step_s, weight = [], []
    for r in result.replicas:
        t = r.timeline
        decoding = t.decode_seqs > 0
        step_s.append(t.duration_s[decoding] / t.num_steps[decoding])
        weight.append(t.decode_seqs[decoding] * t.num_steps[decoding])
    steps, weights = np.concatenate(step_s), np.concatenate(weight)
    order = np.argsort(steps)
    cumulative = np.cumsum(weights[order])
    median_itl = float(steps[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])
    tokens = float(burst.output_tokens.sum())
    return {
        "output_tokens_per_s": tokens / duration,
        "total_tokens_per_s": (tokens + float(burst.input_tokens.sum())) / duration,
        "requests_per_s": len(outputs) / duration,
        "ttft_s_mean": float(ttft.mean()),
        "tpot_s_mean": tpot_mean,
        "itl_s_mean": tpot_mean,
        "itl_s_median": median_itl,
        "duration_s": duration,
        "first_token_s": float(result.ttft_s.min()),
    }


def replay_all(
    prep: Prepared, hw: np.ndarray, engine: np.ndarray, power: np.ndarray
) -> dict[int, dict[str, float]]:
    """Replayed metrics of every prepared case that has a burst, by case index."""
    out = {}
    for i, case in enumerate(prep.cases):
        burst = burst_for(case)
        if burst is not None:
            out[i] = replay(case, burst, calibration_of(prep, i, hw, engine, power))
    return out
