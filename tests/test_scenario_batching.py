"""Scenario fields serving.batching and serving.static_batch_timeout_s reach the simulation."""

from __future__ import annotations

import pytest

from chip2grid.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    default_scenario,
    evaluate,
)


def _small() -> Scenario:
    return apply_overrides(
        default_scenario(),
        {
            "workload.trace": None,
            "workload.synthetic.num_requests": 120,
            "workload.synthetic.request_rate_per_s": 20.0,
            "workload.synthetic.input_tokens": 512,
            "workload.synthetic.output_tokens": 64,
            "deployment.num_accelerators": 8,
        },
    )


def test_static_batching_scenario_simulates_static_batches() -> None:
    base = _small()
    static = apply_overrides(
        base,
        {"serving.batching": "static", "serving.static_batch_timeout_s": 0.05},
    )
    got = evaluate(static, simulate=True)
    cont = evaluate(base, simulate=True)
    assert got.simulation is not None and cont.simulation is not None
    assert got.simulation.config.batching == "static"
    assert got.simulation.config.static_batch_timeout_s == pytest.approx(0.05)
    assert cont.simulation.config.batching == "continuous"
    # same requests, same tokens out; arrivals wait for the next batch, so TTFT is longer
    assert got.simulation.output_tokens_done == cont.simulation.output_tokens_done
    assert got.simulation.ttft_s.mean() > cont.simulation.ttft_s.mean()


def test_bad_batching_names_the_field() -> None:
    with pytest.raises(ScenarioError) as info:
        apply_overrides(default_scenario(), {"serving.batching": "dynamic"})
    assert "serving.batching" in str(info.value)
