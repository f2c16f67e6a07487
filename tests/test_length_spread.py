"""Request lengths that vary: the length-biased context of the decode batch, against the
simulator, and the validation switch that applies MLPerf's measured spreads."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.estimate import Workload, estimate
from chip2grid.perf.steady import decode_context_tokens, prefill_context_tokens
from chip2grid.serving import RequestTrace, simulate
from chip2grid.serving.workload import gamma_lengths
from chip2grid.validation import load_cases, run_validation, shipped_measurements


def test_the_decode_batch_over_represents_long_outputs() -> None:
    # fixed lengths: half the output on top of the prompt
    assert decode_context_tokens(1000.0, 400.0) == pytest.approx(1200.0)
    # exponential-like outputs (cv 1): E[o^2] / (2 E[o]) = E[o]
    assert decode_context_tokens(1000.0, 400.0, 1.0) == pytest.approx(1400.0)
    # a prompt's attention work grows with its square: E[i^2] / (2 E[i]) + 1/2
    assert prefill_context_tokens(1000.0) == pytest.approx(500.5)
    assert prefill_context_tokens(1000.0, 1.0) == pytest.approx(1000.5)


def test_a_negative_or_huge_spread_is_refused_by_name() -> None:
    with pytest.raises(InvalidParameterError, match="output-tokens-cv"):
        Workload(input_tokens=100, output_tokens=100, output_tokens_cv=-0.5)
    with pytest.raises(InvalidParameterError, match="input-tokens-cv"):
        Workload(input_tokens=100, output_tokens=100, input_tokens_cv=50.0)


def _deployment(engine: str) -> Deployment:
    return Deployment(
        model=get_model("llama-3.1-8b"),
        accelerator=get_accelerator("h100-sxm"),
        weight_precision="fp8",
        kv_precision="fp8",
        engine=engine,
    )


@pytest.mark.parametrize(
    "engine,per_seq_spread",
    [
        # reserves a request's whole length at admission: input + length-biased output
        ("tensorrt-llm", lambda i, o: i + 2.0 * o),
        # allocates as tokens arrive: input + half a length-biased output
        ("vllm", lambda i, o: i + o),
    ],
)
def test_a_spread_of_outputs_leaves_room_for_fewer_sequences(engine, per_seq_spread) -> None:
    isl, osl = 800.0, 4000.0
    fixed = estimate(_deployment(engine), Workload(input_tokens=isl, output_tokens=osl))
    spread = estimate(
        _deployment(engine), Workload(input_tokens=isl, output_tokens=osl, output_tokens_cv=1.0)
    )
    per_seq_fixed = isl + osl if engine == "tensorrt-llm" else isl + osl / 2.0
    ratio = per_seq_fixed / per_seq_spread(isl, osl)
    assert spread.max_concurrency == pytest.approx(fixed.max_concurrency * ratio, abs=1.0)
    assert spread.output_tokens_per_s < fixed.output_tokens_per_s
    assert spread.output_tokens_cv == 1.0


def test_the_spread_matches_the_simulator_on_long_varied_outputs() -> None:
    """Offline, reasoning-like outputs (cv 1.25): the simulator admits sequences one at a time
    as KV room frees; the steady state with the spread lands on its throughput, batch and
    decode context, without it far above (benchmarks/length_spread_vs_simulator.py)."""
    dep = _deployment("tensorrt-llm")
    rng = np.random.default_rng(3)
    n = 1500
    inputs = gamma_lengths(rng, 800, 0.5, n, 2)
    outputs = gamma_lengths(rng, 4000, 1.25, n, 2)
    trace = RequestTrace(
        arrival_s=np.arange(n) * 1e-6, input_tokens=inputs, output_tokens=outputs, source="t"
    )
    tl = simulate(dep, trace).replicas[0].timeline
    end = float(np.max(tl.start_s + tl.duration_s))
    keep = (tl.start_s >= 0.3 * end) & (tl.start_s + tl.duration_s <= 0.7 * end)
    seq_steps = tl.decode_seqs[keep] * tl.num_steps[keep]
    sim_tps = (seq_steps.sum() + tl.prefill_seqs[keep].sum()) / tl.duration_s[keep].sum()
    sim_ctx = (tl.decode_context[keep] * seq_steps).sum() / seq_steps.sum()
    sim_batch = seq_steps.sum() / tl.num_steps[keep].sum()
    cvs = {
        "input_tokens_cv": float(np.std(inputs) / inputs.mean()),
        "output_tokens_cv": float(np.std(outputs) / outputs.mean()),
    }
    work = Workload(input_tokens=inputs.mean(), output_tokens=outputs.mean(), **cvs)
    with_spread = estimate(dep, work)
    without = estimate(dep, Workload(input_tokens=inputs.mean(), output_tokens=outputs.mean()))
    assert with_spread.output_tokens_per_s == pytest.approx(sim_tps, rel=0.08)
    assert with_spread.batch_size == pytest.approx(sim_batch, rel=0.08)
    assert work.decode_context_tokens == pytest.approx(sim_ctx, rel=0.08)
    assert without.output_tokens_per_s > 1.5 * sim_tps


def test_validation_applies_mlperf_spreads_only_when_asked(tmp_path: Path) -> None:
    with shipped_measurements().open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [
            r for r in reader if "llama2-70b" in r["case_id"] and r["mode"] == "offline" and r["tp"]
        ][:4]
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    case = load_cases(path)[0]
    assert (case.input_tokens_cv, case.output_tokens_cv) == (0.771, 0.787)
    plain = run_validation(path)
    spread = run_validation(path, length_spread=True)
    assert [r.case.output_tokens_cv for r in plain.rows] == [0.0] * len(plain.rows)
    before = {(r.case.case_id, r.metric): r.predicted for r in plain.rows}
    after = {(r.case.case_id, r.metric): r.predicted for r in spread.rows}
    assert before.keys() == after.keys()
    # TensorRT-LLM reserves whole requests: a length-biased mix holds fewer at once
    assert all(after[k] < before[k] for k in before if k[1] == "output_tokens_per_s")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from chip2grid.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_estimate_takes_the_spread_on_the_command_line() -> None:
    base = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm"]
    base += ["--num-accelerators", "1", "--tp", "1", "--json"]
    out = _cli(*base, "--output-tokens-cv", "1.2", "--input-tokens-cv", "0.5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["input_tokens_cv"], data["output_tokens_cv"]) == (0.5, 1.2)
    bad = _cli(*base, "--output-tokens-cv", "-1")
    assert bad.returncode != 0
    assert "output-tokens-cv" in bad.stderr and "Traceback" not in bad.stderr


def test_synthetic_traces_draw_lengths_of_the_given_spread() -> None:
    from chip2grid.serving import synthetic_trace

    fixed = synthetic_trace(4000, 10.0, 500, 200, seed=2)
    spread = synthetic_trace(4000, 10.0, 500, 200, seed=2, output_tokens_cv=1.0)
    assert np.array_equal(fixed.arrival_s, spread.arrival_s)
    assert set(fixed.output_tokens.tolist()) == {200}
    out = spread.output_tokens
    assert out.mean() == pytest.approx(200, rel=0.05)
    assert out.std() / out.mean() == pytest.approx(1.0, rel=0.08)
    assert set(spread.input_tokens.tolist()) == {500}
    with pytest.raises(InvalidParameterError, match="input_tokens_cv"):
        synthetic_trace(10, 1.0, 500, 200, input_tokens_cv=-1.0)


def test_disaggregated_pools_see_the_spread() -> None:
    from chip2grid.perf import calibration_for, decode_pool, prefill_pool, rank_shape

    dep = _deployment("tensorrt-llm")
    shape = rank_shape(dep, calibration_for(dep.accelerator.family, "tensorrt-llm"))
    plain = decode_pool(shape, 2000.0, 1000.0, 128.0)
    spread = decode_pool(shape, 2000.0, 1000.0, 128.0, output_cv=1.0)
    assert spread.step_s > plain.step_s  # the batch reads a longer mean context
    kw = dict(kv_bytes_per_rank=0.0, link_bandwidth_bytes_per_s=np.inf)
    assert (
        prefill_pool(shape, 8000.0, 8192.0, input_cv=1.0, **kw).latency_s
        > prefill_pool(shape, 8000.0, 8192.0, **kw).latency_s
    )


def test_a_trace_lends_the_steady_state_its_spread() -> None:
    trace = RequestTrace(
        arrival_s=np.arange(4.0),
        input_tokens=np.array([100, 300, 100, 300]),
        output_tokens=np.array([50, 50, 50, 50]),
        source="t",
    )
    work = trace.workload()
    assert (work.input_tokens, work.output_tokens) == (200.0, 50.0)
    assert (work.input_tokens_cv, work.output_tokens_cv) == (0.5, 0.0)


def test_scenarios_price_the_steady_state_with_their_traces_spread() -> None:
    from chip2grid.scenario import default_scenario, evaluate

    result = evaluate(default_scenario(), simulate=False)
    assert result.at_load.output_tokens_cv > 0.3  # Azure conversation outputs vary
    assert result.capacity.input_tokens_cv > 0.3
