"""Measured bursts replayed through the serving simulator (chip2grid.validation.bursts), and the
host-bound engine profile kept out of the engine defaults (validation.fit)."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from chip2grid.perf import continuous_batching, get_engine
from chip2grid.perf.engine import host_bound_calibrations
from chip2grid.validation.bursts import (
    BURSTS_FILE,
    Burst,
    burst_for,
    calibration_of,
    finite_run,
    first_token_timeline,
    load_bursts,
    replay,
    replay_all,
    with_burst_metrics,
)
from chip2grid.validation.cases import load_cases
from chip2grid.validation.fit import _pairs, default_parameters, scored_metric
from chip2grid.validation.predict import (
    ENGINE_PARAMS,
    _subset,
    catalog_parameters,
    predict,
    prepare,
    with_parameters,
)
from tests.repo_scripts import run_on_measurements

MISTRAL_H100 = "lambda-vllm-0.5.4-mistral-7b-h100-sxm-tp1-n320"


@pytest.fixture(scope="module")
def lambda_prep(measurements_path):
    cases = with_burst_metrics(load_cases(measurements_path))
    return prepare([c for c in cases if c.source_family == "lambda"])


def test_burst_file_is_consistent() -> None:
    data = json.loads(BURSTS_FILE.read_text())
    for case_id, run in data["runs"].items():
        assert len(run["input_lens"]) == len(run["output_lens"]) == 320, case_id
        assert run["max_model_len"] == 2000, case_id  # the table's runs
        assert run["path"].endswith("_len2000.json"), case_id
        assert len(run["commit"]) == 40
    for case_id, sibling in data["siblings"].items():
        assert sibling in data["runs"], case_id
        model = re.sub(r"-(a100-sxm-80gb|h100-sxm)-tp\d+-n320$", "", case_id)
        assert sibling.startswith(model + "-")  # a run of the same model


def test_stand_ins_are_runs_of_the_same_checkpoint_and_prompts(lambda_prep) -> None:
    """The Llama-3.1-70B cases take their lengths from the repository's runs of that checkpoint
    (same accelerator and TP, TP 2 for TP 1), which sent the same 320 prompts as the runs with
    files but are not the table's runs."""
    data = json.loads(BURSTS_FILE.read_text())
    stand_ins = data["stand_ins"]
    assert sorted(stand_ins) == sorted(
        f"lambda-vllm-0.5.4-llama-3.1-70b-{accel}-tp{tp}-n320"
        for accel in ("a100-sxm-80gb", "h100-sxm")
        for tp in (1, 2, 4, 8)
    )
    prompts = data["runs"]["lambda-vllm-0.5.4-llama-3.1-8b-h100-sxm-tp4-n320"]["input_lens"]
    metrics = {c.case_id: c.metrics for c in lambda_prep.cases}
    for case_id, run in stand_ins.items():
        assert case_id not in data["runs"] and case_id not in data["siblings"]
        tp = int(re.search(r"-tp(\d+)-", case_id).group(1))
        gpu = "A100" if "a100" in case_id else "H100"
        assert f"{max(tp, 2)}x{gpu}-80GB-SXM/Meta-Llama-3.1-70B-Instruct-FP8_tp" in run["path"]
        assert run["input_lens"] == prompts, case_id
        assert len(run["output_lens"]) == 320 and sum(run["output_lens"]) > 60_000, case_id
        # another run than the table's: its own throughput is not the table cell
        table = metrics[case_id]["output_tokens_per_s"]
        assert abs(run["output_tokens_per_s"] / table - 1.0) > 0.05, case_id
    bursts = load_bursts()
    assert all(c.case_id in bursts for c in lambda_prep.cases)  # every Lambda case replays
    assert not bursts["lambda-vllm-0.5.4-llama-3.1-70b-h100-sxm-tp4-n320"].measured


def test_measured_throughput_matches_the_table(lambda_prep) -> None:
    """The result file each case was matched to holds the table's throughput (and ITL)."""
    bursts = load_bursts()
    own = [c for c in lambda_prep.cases if bursts.get(c.case_id) and bursts[c.case_id].measured]
    assert len(own) == 16
    for case in own:
        measured = bursts[case.case_id].measured
        assert measured["output_tokens_per_s"] == pytest.approx(
            case.metrics["output_tokens_per_s"], abs=0.01
        )
        assert measured["itl_s_median"] == pytest.approx(case.metrics["itl_s_median"], abs=1e-5)
        # mean TTFT and TPOT join the case's metrics
        assert case.metrics["ttft_s_mean"] == measured["ttft_s_mean"]
        assert case.metrics["tpot_s_mean"] == measured["tpot_s_mean"]


def test_replay_conserves_tokens_and_orders_latencies(lambda_prep) -> None:
    i = [c.case_id for c in lambda_prep.cases].index(MISTRAL_H100)
    case = lambda_prep.cases[i]
    burst = load_bursts()[MISTRAL_H100]
    out = replay(case, burst, calibration_of(lambda_prep, i, *catalog_parameters(lambda_prep)))
    assert out["output_tokens_per_s"] / out["requests_per_s"] == pytest.approx(
        burst.output_tokens.sum() / len(burst.output_tokens)
    )
    # a burst of 320 into 256 slots: the mean TTFT is at least one prefill step, and the
    # median gap between tokens is shorter than the mean TPOT, which includes prefill stalls
    assert 0 < out["itl_s_median"] <= out["tpot_s_mean"]
    assert out["ttft_s_mean"] > out["itl_s_median"]
    # the engine's first step returns before the mean request's first token, and the run's
    # duration is what its throughput divides
    assert 0 < out["first_token_s"] < out["ttft_s_mean"]
    assert out["duration_s"] == pytest.approx(
        burst.output_tokens.sum() / out["output_tokens_per_s"]
    )


def test_measured_ttfts_are_the_published_ones() -> None:
    """Each run with a file keeps every request's TTFT; their mean is the file's mean TTFT."""
    own = [b for b in load_bursts().values() if b.measured]
    assert len(own) == 16
    for burst in own:
        assert burst.ttft_s is not None and burst.ttft_s.shape == burst.input_tokens.shape
        assert burst.ttft_s.mean() == pytest.approx(burst.measured["ttft_s_mean"], abs=1e-5)
        # a request gets a first token only if it produced text; the harness records 0 otherwise
        assert np.all(burst.ttft_s[burst.output_tokens > 0] > 0)
    assert all(b.ttft_s is None for b in load_bursts().values() if not b.measured)


def test_first_token_timeline_finds_steps_and_stalls() -> None:
    # the server takes 0.5 s to take in the burst, then steps of 40 ms each give first tokens
    # to 8 requests (1 ms apart), and the 4th and 9th steps stall for 1.5 s
    steps = 0.5 + 0.04 * np.arange(1, 13)
    steps[3:] += 1.5
    steps[8:] += 1.5
    ttft = (steps[:, None] + 0.001 * np.arange(8)[None, :]).ravel()
    ttft = np.concatenate([ttft, np.zeros(5)])  # requests without text
    timeline = first_token_timeline(np.random.default_rng(0).permutation(ttft))
    np.testing.assert_allclose(timeline.step_end_s, steps)
    assert timeline.first_token_s == pytest.approx(0.54)
    assert timeline.median_gap_s == pytest.approx(0.04)
    np.testing.assert_allclose(timeline.stalls_s, [1.54, 1.54])
    assert timeline.stall_total_s == pytest.approx(3.08)
    # evenly spaced long steps are not stalls, however long
    slow = first_token_timeline(np.arange(1, 20) * 0.9)
    assert slow.stalls_s.size == 0
    with pytest.raises(ValueError, match="ttft_s"):
        first_token_timeline(np.array([0.0, 0.3]))


def test_mixtral_bursts_stall_and_dense_ones_do_not() -> None:
    """What benchmarks/lambda_burst_anatomy.py reads in the published TTFTs: every Mixtral run
    has stalls of seconds, no dense run more than one, and every run a first-token delay far
    longer than the replay's first step."""
    for case_id, burst in load_bursts().items():
        if burst.ttft_s is None:
            continue
        timeline = first_token_timeline(burst.ttft_s)
        if "mixtral" in case_id:
            assert len(timeline.stalls_s) >= 6 and timeline.stall_total_s > 5.0, case_id
        else:
            assert len(timeline.stalls_s) <= 1 and timeline.stall_total_s < 1.0, case_id
        assert timeline.first_token_s > 0.5, case_id


def test_burst_anatomy_benchmark_runs(measurements_path) -> None:
    out = run_on_measurements("benchmarks/lambda_burst_anatomy.py", measurements_path, 120)
    assert sum("-n320 " in line for line in out.splitlines()) == 16
    assert re.search(r"Mixtral \(5 runs\): throughput MAPE [0-9.]+ % as scored", out)
    assert re.search(r"dense \(11 runs\)", out)


def test_replay_of_equal_lengths_matches_the_steady_state(lambda_prep) -> None:
    """256 equal requests (one full batch, no tail): the replayed decode step equals the
    steady-state iteration at that batch within a few percent."""
    i = [c.case_id for c in lambda_prep.cases].index(MISTRAL_H100)
    case = lambda_prep.cases[i]
    hw, eng, power = catalog_parameters(lambda_prep)
    n, isl, osl = 256, 200, 400
    burst = Burst(
        case_id=case.case_id,
        source="test",
        max_model_len=2000,
        input_tokens=np.full(n, isl),
        output_tokens=np.full(n, osl),
        measured={},
    )
    out = replay(case, burst, calibration_of(lambda_prep, i, hw, eng, power))
    sub = _subset(with_parameters(lambda_prep, hw, eng, float(power[2])), np.array([i]))
    steady = continuous_batching(
        sub,
        np.array([isl]),
        np.array([osl]),
        np.array([float(n)]),
        np.array([0.0]),
        np.array([2048.0]),
    )
    # the median gap is a decode step at a context between isl and isl + osl
    assert out["itl_s_median"] == pytest.approx(float(steady.step.total_s[0]), rel=0.05)


def test_burst_metrics_are_scored_but_not_fitted(lambda_prep) -> None:
    case = next(c for c in lambda_prep.cases if c.case_id == MISTRAL_H100)
    assert case.mode == "offline"
    # offline TTFT is not scored in general, but a replayed burst defines it
    assert scored_metric(case, "ttft_s_mean") == "ttft_s_mean"
    idx, names, _measured, _w = _pairs(lambda_prep, np.ones(len(lambda_prep.cases), bool), None, ())
    bursts = load_bursts()
    fitted = {(lambda_prep.cases[i].case_id, n) for i, n in zip(idx, names, strict=True)}
    assert not any(cid in bursts for cid, _ in fitted)
    # every Lambda case replays (the Llama-3.1-70B ones with stand-in lengths): none is fitted
    assert all(c.case_id in bursts for c in lambda_prep.cases) and not fitted


def test_host_bound_profile_is_left_out_of_the_engine_default() -> None:
    assert get_engine("vllm-host-bound").host_bound
    # vLLM 0.5 did its CPU work between GPU steps: its overheads are no default for others
    assert get_engine("vllm-0.5").host_bound
    assert host_bound_calibrations() == frozenset({"vllm-host-bound", "vllm-sync"})
    hw = np.ones((1, 6))
    # step, per-sequence, per-layer and per-collective overheads, MoE efficiency share
    assert ENGINE_PARAMS == (
        "step_overhead_s",
        "per_sequence_overhead_s",
        "per_layer_overhead_s",
        "collective_overhead_s",
        "moe_gemm_eff_frac",
    )
    engine = np.array(
        [[1e-3, 1e-6, 0.0, 1e-5, 0.9], [5e-2, 2e-4, 2e-4, 2e-4, 0.3], [3e-3, 3e-6, 0.0, 3e-5, 0.5]]
    )
    counts = {"tensorrt-llm": 1, "vllm-host-bound": 1, "generic": 1}
    _hw, default = default_parameters(
        hw,
        engine,
        ["hopper"],
        ["tensorrt-llm", "vllm-host-bound", "generic"],
        {"hopper": 1},
        counts,
    )
    # overheads: the median of the two engines only; MoE efficiency: the prior, since MoE
    # kernels are each engine's own
    assert default == pytest.approx([2e-3, 2e-6, 0.0, 2e-5, 1.0])


def test_mlenergy_vllm_runs_use_the_host_bound_profile(measurements_path) -> None:
    cases = load_cases(measurements_path)
    profiles = {(c.source_family, c.engine_profile) for c in cases if c.engine == "vllm"}
    assert ("mlenergy", "vllm-host-bound") in profiles
    assert ("lambda", "vllm-0.5") in profiles
    assert ("mlenergy", "vllm") not in profiles


@pytest.mark.parametrize(
    ("engine", "version", "profile"),
    [
        ("vllm", "0.5.4", "vllm-0.5"),
        ("vllm", "0.4.3+rocm614", "vllm-0.5"),
        ("vllm", "0.6.5.dev964+mlperf50", "vllm"),
        ("vllm", "0.10.0", "vllm"),
        ("vllm", "", "vllm"),  # unstated: not assumed old
        ("tensorrt-llm", "0.14.0", "tensorrt-llm"),
        ("tensorrt-llm", "1.0", "tensorrt-llm-pytorch"),
        ("tensorrt-llm", "TensorRT 10.2.0, CUDA 12.4", "tensorrt-llm"),
    ],
)
def test_engine_version_picks_the_profile(
    measurements_path, engine: str, version: str, profile: str
) -> None:
    """vLLM before 0.6 blocked each GPU step on its CPU work and has a profile of its own."""
    case = next(c for c in load_cases(measurements_path) if c.source_family == "lambda")
    case = dataclasses.replace(case, engine=engine, engine_version=version, mode="offline")
    assert case.engine_profile == profile
    assert get_engine(profile).id == profile


# --- finite runs of fixed-length requests (validation.bursts.finite_run) ---------------------


@pytest.fixture(scope="module")
def triton_cases(measurements_path):
    return [c for c in load_cases(measurements_path) if "-triton-" in c.case_id]


def test_finite_runs_are_the_triton_table_and_nothing_else(measurements_path, triton_cases) -> None:
    """Only a row that states a request count and one fixed length is replayed as a finite run:
    the Triton table (500 requests at each rate) and no other data set."""
    assert len(triton_cases) > 50
    for case in triton_cases:
        run = finite_run(case)
        assert run is not None, case.case_id
        assert len(run.input_tokens) == len(run.output_tokens) == 500
        assert set(run.input_tokens) == {round(case.input_tokens)}
        assert set(run.output_tokens) == {round(case.output_tokens)}
        assert burst_for(case) is run or burst_for(case).case_id == case.case_id
    others = [c for c in load_cases(measurements_path) if "-triton-" not in c.case_id]
    assert not [c.case_id for c in others if finite_run(c) is not None]


def test_a_finite_run_at_a_rate_arrives_as_poisson_and_all_at_once_otherwise(triton_cases) -> None:
    at_rate = next(c for c in triton_cases if c.mode == "server" and c.request_rate_per_s == 8)
    run = finite_run(at_rate)
    assert run is not None and run.arrival_s is not None
    gaps = np.diff(run.arrival_s)
    assert run.arrival_s[0] == 0.0 and np.all(gaps > 0)
    assert np.mean(gaps) == pytest.approx(1 / 8, rel=0.1)  # 499 exponential gaps
    assert np.std(gaps) == pytest.approx(np.mean(gaps), rel=0.15)  # exponential: sd = mean
    np.testing.assert_array_equal(run.arrival_s, finite_run(at_rate).arrival_s)  # fixed seed
    # at a fixed rate the throughput only says when the arrivals ended: not scored
    assert "requests_per_s" not in run.scored and "ttft_s_mean" in run.scored
    assert scored_metric(at_rate, "requests_per_s") is None
    at_once = next(c for c in triton_cases if c.mode == "offline")
    burst = finite_run(at_once)
    assert burst is not None and burst.arrival_s is None
    assert {"output_tokens_per_s", "ttft_s_mean", "itl_s_mean"} <= set(burst.scored)
    assert scored_metric(at_once, "ttft_s_mean") == "ttft_s_mean"  # the queue of 500 is known


def test_a_finite_run_never_holds_more_requests_than_it_sent(triton_cases) -> None:
    """The steady state at maximum load runs the engine's whole batch (2,048 sequences): far more
    than the 500 requests these runs sent. The replay runs them as sent, so its steps are the
    steps of at most 500 sequences and its inter-token latency is far shorter."""
    cases = [c for c in triton_cases if c.mode == "offline" and "-202-214-" in c.case_id]
    prep = prepare(cases)
    hw, eng, power = catalog_parameters(prep)
    steady = predict(prep, hw, eng, power)
    for i, case in enumerate(prep.cases):
        out = replay(case, finite_run(case), calibration_of(prep, i, hw, eng, power))
        assert out["itl_s_mean"] < 0.6 * steady["itl_s_mean"][i], case.case_id
        # the run lasts at least one request's 213 token gaps
        assert out["duration_s"] >= 213 * out["itl_s_mean"], case.case_id


def test_triton_rows_above_capacity_are_bounded_and_scored(triton_cases) -> None:
    """Before the replay the TTFT of seven runs at 16-32 requests/s was predicted unbounded
    (rate above the steady capacity); 500 requests fill a queue that ends with the run."""
    prep = prepare(triton_cases)
    hw, eng, power = catalog_parameters(prep)
    replayed = replay_all(prep, hw, eng, power)
    assert sorted(replayed) == list(range(len(prep.cases)))
    itl = []
    for i, case in enumerate(prep.cases):
        for metric, measured in case.metrics.items():
            if scored_metric(case, metric) is None:
                continue
            assert metric in replayed[i], (case.case_id, metric)
            predicted = replayed[i][metric]
            assert np.isfinite(predicted) and predicted > 0, (case.case_id, metric)
            if metric == "itl_s_mean" and case.mode == "offline":
                itl.append(abs(predicted / measured - 1.0))
    assert len(itl) == 12
    # 2026-11-25: 209.6 % as a steady state at maximum load, 30.3 % replayed
    assert np.mean(itl) <= 0.31
