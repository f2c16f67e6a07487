"""Requests a benchmark harness gathers and hands an engine in batches (MLPerf v4.1 AMD/Dell
Llama-2-70B Server): the bulk prefill (perf layer) and the TTFT validation predicts for them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chip2grid.perf.steady import bulk_prefill, prefill_context_tokens
from chip2grid.perf.step import StepBatch, step_time
from chip2grid.validation import shipped_measurement_files
from chip2grid.validation.cases import load_measurement_files
from chip2grid.validation.predict import catalog_parameters, predict, prepare
from tests.test_perf import dep, shape_of

BATCHED_SERVER_RUNS = (
    "mlperf-v4.1-0001-llama2-70b-99.9-server",
    "mlperf-v4.1-0002-llama2-70b-99.9-server",
    "mlperf-v4.1-0022-llama2-70b-99.9-server",
    "mlperf-v4.1-0070-llama2-70b-99.9-server",
)


def one_prefill_step_s(shape, prompts: float, isl: float) -> float:
    batch = StepBatch.prefill(prompts, isl, context=prefill_context_tokens(isl))
    return float(step_time(shape, batch).total_s)


def test_a_bulk_that_fits_the_budget_takes_one_step() -> None:
    shape = shape_of(dep())
    got = float(bulk_prefill(shape, 200.0, 8192.0, 20.0).ttft_s)
    assert got == pytest.approx(one_prefill_step_s(shape, 20.0, 200.0), rel=1e-9)


def test_a_bulk_beyond_the_budget_waits_for_half_its_steps() -> None:
    shape = shape_of(dep())
    # 40 prompts of 1,000 tokens under an 8,192-token budget: steps of 8 prompts, 5 of them
    got = float(bulk_prefill(shape, 1000.0, 8192.0, 40.0).ttft_s)
    assert got == pytest.approx(3.0 * one_prefill_step_s(shape, 8.0, 1000.0), rel=1e-9)


def test_bulk_prefill_grows_with_the_bulk_and_a_lone_prompt_is_one_prefill() -> None:
    shape = shape_of(dep())
    bulks = np.array([0.2, 1.0, 4.0, 16.0, 64.0, 256.0])
    got = bulk_prefill(shape, np.full(6, 500.0), np.full(6, 8192.0), bulks).ttft_s
    assert np.all(np.diff(got[1:]) > 0.0)
    assert got[0] == pytest.approx(got[1])  # fewer than one prompt is still one prompt
    assert got[1] == pytest.approx(one_prefill_step_s(shape, 1.0, 500.0), rel=1e-9)


@pytest.fixture(scope="module")
def batched(measurements_path):
    cases = [
        c
        for c in load_measurement_files([measurements_path])
        if c.case_id.startswith("mlperf-v4.1-00")
    ]
    return prepare([c.at_mean_lengths() for c in cases])


def test_the_amd_harness_runs_state_their_batching_window(batched) -> None:
    stated = {
        c.case_id: (c.harness_batch_window_s, c.harness_batch_max)
        for c in batched.cases
        if c.harness_batch_window_s > 0
    }
    assert set(stated) == set(BATCHED_SERVER_RUNS)
    assert set(stated.values()) == {(0.3, 96)}


def test_harness_batching_adds_the_window_wait_and_the_bulk_prefill(batched) -> None:
    params = catalog_parameters(batched)
    with_window = predict(batched, *params)
    none = dataclasses.replace(batched, harness_window_s=np.zeros_like(batched.harness_window_s))
    without = predict(none, *params)
    rows = batched.harness_window_s > 0
    added = with_window["ttft_s_mean"][rows] - without["ttft_s_mean"][rows]
    # half the 0.3 s window at least (the 96-request limit closes none of these windows), plus
    # the whole batch's prefill in place of the request's own
    assert np.all(added >= 0.15 - 1e-9)
    # nothing else moves: other cases, and the steady state of the batched ones
    others = ~rows & np.isfinite(without["ttft_s_mean"])
    assert np.allclose(with_window["ttft_s_mean"][others], without["ttft_s_mean"][others])
    for metric in ("output_tokens_per_s", "tpot_s_mean"):
        assert np.allclose(with_window[metric], without[metric], equal_nan=True)


MULTI_STEP_SERVER_RUNS = {
    "mlperf-v5.1-0001-llama2-70b-99.9-server": 9,
    "mlperf-v5.1-0001-mixtral-8x7b-server": 8,
    "mlperf-v5.1-0002-mixtral-8x7b-server": 10,
    "mlperf-v5.1-0096-mixtral-8x7b-server": 7,
}


@pytest.fixture(scope="module")
def multi_step():
    cases = [
        c
        for c in load_measurement_files(list(shipped_measurement_files()))
        if c.case_id.startswith("mlperf-v5.1-00")
    ]
    return prepare([c.at_mean_lengths() for c in cases])


def test_amd_v51_server_runs_state_their_scheduler_steps(multi_step) -> None:
    stated = {c.case_id: c.admission_every_steps for c in multi_step.cases}
    for case_id, steps in MULTI_STEP_SERVER_RUNS.items():
        assert stated[case_id] == steps
    # only Server runs of AMD's harness take in requests every few steps
    assert all(
        steps == 1 or ("-server" in cid and cid.startswith("mlperf-v5.1-"))
        for cid, steps in stated.items()
    )


def test_multi_step_intake_waits_half_the_interval(multi_step) -> None:
    params = catalog_parameters(multi_step)
    stepped = predict(multi_step, *params)
    ones = np.ones_like(multi_step.admission_steps)
    every_step = predict(dataclasses.replace(multi_step, admission_steps=ones), *params)
    rows = multi_step.admission_steps > 1
    added = stepped["ttft_s_mean"][rows] - every_step["ttft_s_mean"][rows]
    # at least (k - 1) / 2 decode steps of the same cycle (k = 7..10: 3 or more), since the
    # batch prefill takes at least the request's own
    tpot = every_step["tpot_s_mean"][rows]
    assert np.all(added >= 0.5 * (multi_step.admission_steps[rows] - 1.0) * tpot * 0.999)
    others = ~rows & np.isfinite(every_step["ttft_s_mean"])
    assert np.allclose(stepped["ttft_s_mean"][others], every_step["ttft_s_mean"][others])
    assert np.allclose(
        stepped["output_tokens_per_s"], every_step["output_tokens_per_s"], equal_nan=True
    )
