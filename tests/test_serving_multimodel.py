"""Several models, each with its own pool: routing by model, per-model and total figures."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.errors import InvalidParameterError
from chip2grid.serving import (
    ModelPool,
    RequestTrace,
    TraceWarning,
    load_model_labels,
    load_trace,
    model_labels_by_share,
    poisson_arrivals,
    simulate,
    simulate_models,
    split_by_model,
)


def deployment(model: str, num_accelerators: int) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model(model),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=num_accelerators,
        tp=1,
        weight_precision="fp8",
    )


def trace(n: int, rate: float, seed: int = 0) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 2048, n),
        output_tokens=rng.integers(1, 200, n),
    )


POOLS = [
    ModelPool(name="small", deployment=deployment("llama-3.2-3b", 1)),
    ModelPool(name="big", deployment=deployment("llama-3.1-8b", 2)),
]


def test_each_model_is_served_by_its_pool_and_totals_add_up() -> None:
    tr = trace(500, 25.0)
    labels = model_labels_by_share(tr.num_requests, {"small": 3.0, "big": 1.0}, seed=4)
    got = simulate_models(POOLS, tr, labels)
    counts = {k: len(v) for k, v in got.indices.items()}
    assert counts["small"] + counts["big"] == 500
    assert counts["small"] > 2 * counts["big"]  # 3:1 shares
    every = np.sort(np.concatenate(list(got.indices.values())))
    np.testing.assert_array_equal(every, np.arange(500))
    for pool in POOLS:  # each pool equals its model's requests simulated alone
        part, idx = split_by_model(tr, labels)[pool.name]
        alone = simulate(pool.deployment, part, router=pool.router)
        mine = got.models[pool.name]
        np.testing.assert_allclose(np.sort(mine.ttft_s), np.sort(alone.ttft_s))
        assert mine.output_tokens_done == int(tr.output_tokens[idx].sum())
        # held until the run ends: at least the energy of its own span
        assert mine.accelerator_energy_j >= alone.accelerator_energy_j * (1 - 1e-9)
    summary = got.summary()
    total = summary["total"]
    assert isinstance(total, dict)
    assert total["num_requests"] == 500 and total["num_rejected"] == 0
    out = sum(m.output_tokens_done for m in got.models.values())
    assert out == int(tr.output_tokens.sum())
    assert total["output_tokens_per_s"] == pytest.approx(out / got.span_s)
    assert got.accelerator_energy_j == pytest.approx(
        sum(m.accelerator_energy_j for m in got.models.values())
    )
    assert total["num_accelerators"] == 3
    per_model = summary["models"]
    assert isinstance(per_model, dict)
    for pool in POOLS:  # each pool's power is its energy over the run it was held for
        one = per_model[pool.name]
        assert one["mean_accelerator_power_w"] == pytest.approx(
            got.models[pool.name].accelerator_energy_j
            / got.span_s
            / pool.deployment.num_accelerators
        )


def test_model_column_follows_the_sorted_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "arrival_s,input_tokens,output_tokens,model\n"
        "0.0,100,10,small\n2.0,300,30,big\n1.0,200,20,small\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        tr = load_trace(path)
    labels = load_model_labels(path)
    assert labels.tolist() == ["small", "small", "big"]
    assert tr.input_tokens.tolist() == [100, 200, 300]
    got = simulate_models(POOLS, tr, labels)
    assert got.indices["big"].tolist() == [2]


def test_unknown_model_and_bad_shares_are_errors() -> None:
    tr = trace(20, 5.0)
    with pytest.raises(InvalidParameterError, match="model"):
        simulate_models(POOLS, tr, ["small"] * 19 + ["huge"])
    with pytest.raises(InvalidParameterError, match="shares"):
        model_labels_by_share(10, {"a": -1.0, "b": 1.0})
    with pytest.raises(InvalidParameterError, match="one label per request"):
        split_by_model(tr, ["small"] * 3)
