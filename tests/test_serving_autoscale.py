"""Autoscaled replicas: provisioning delay, scale-down after a cooldown, replica-seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.errors import InvalidParameterError
from chip2grid.serving import (
    AutoscalePolicy,
    RequestTrace,
    engine_config_for,
    poisson_arrivals,
    simulate_autoscaled,
)

DEP = c2g.Deployment(
    model=c2g.get_model("llama-3.1-8b"),
    accelerator=c2g.get_accelerator("h100-sxm"),
    num_accelerators=1,
    tp=1,
    weight_precision="fp8",
)
CFG = dataclasses.replace(engine_config_for(DEP), max_num_seqs=64)


def two_phase(
    rate: float, step_s: float, end_s: float, factor: float, seed: int = 0
) -> RequestTrace:
    """Poisson at ``rate`` until ``step_s``, then at ``factor * rate`` until ``end_s``."""
    rng = np.random.default_rng(seed)
    a = poisson_arrivals(rate, int(rate * step_s * 1.3) + 10, rng)
    b = step_s + poisson_arrivals(
        factor * rate, int(factor * rate * (end_s - step_s) * 1.3) + 10, rng
    )
    arr = np.concatenate([a[a < step_s], b[b < end_s]])
    n = len(arr)
    return RequestTrace(
        arrival_s=arr,
        input_tokens=rng.integers(256, 2048, n),
        output_tokens=rng.integers(64, 512, n),
    )


def test_p99_ttft_spikes_while_replicas_provision_and_recovers() -> None:
    trace = two_phase(10.0, 60.0, 180.0, 4.0)
    policy = AutoscalePolicy(target=32.0, max_replicas=8, interval_s=15.0, scale_up_delay_s=30.0)
    got = simulate_autoscaled(DEP, trace, policy, config=CFG)
    launched_later = got.launched_s > 0
    assert launched_later.any()
    np.testing.assert_allclose(got.ready_s[launched_later] - got.launched_s[launched_later], 30.0)
    first_up = float(np.min(got.launched_s[launched_later]))
    assert 60.0 <= first_up <= 60.0 + 2 * 15.0  # the first evaluations after the step
    ready_at = first_up + 30.0
    before, during, after = got.ttft_p99_by_window(
        np.array([0.0, 60.0, ready_at, ready_at + 30.0, 180.0])
    )[[0, 1, 3]]
    assert during > 10 * before  # one replica at 4x its load until the others are up
    assert after < 2 * before  # recovered
    ready, prov = got.replica_counts(np.array([30.0, ready_at - 1.0, ready_at + 1.0]))
    assert ready[0] == 1 and prov[1] >= 1 and ready[2] > 1
    # conservation and accounting
    assert got.serving.num_requests == trace.num_requests and got.serving.num_rejected == 0
    every = np.sort(np.concatenate(got.serving.request_indices))
    np.testing.assert_array_equal(every, np.arange(trace.num_requests))
    assert got.serving.output_tokens_done == int(trace.output_tokens.sum())
    assert np.isfinite(got.ttft_s).all() and (got.ttft_s > 0).all()
    assert got.replica_seconds == pytest.approx(float(np.sum(got.released_s - got.launched_s)))
    idle_w = float(DEP.accelerator.idle_power_w)
    assert got.serving.accelerator_energy_j >= idle_w * got.replica_seconds
    assert 0 < got.idle_accelerator_energy_j < got.serving.accelerator_energy_j
    summary = got.summary()
    assert summary["num_replicas_launched"] == len(got.launched_s)


def test_scales_down_after_the_cooldown_and_stops_paying() -> None:
    trace = two_phase(4.0, 200.0, 200.0, 1.0, seed=2)
    policy = AutoscalePolicy(
        target=32.0, initial_replicas=4, interval_s=10.0, scale_down_cooldown_s=60.0
    )
    got = simulate_autoscaled(DEP, trace, policy, config=CFG)
    ready, _ = got.replica_counts(np.array([5.0, 150.0]))
    assert ready.tolist() == [4, 1]
    assert int(np.sum(got.released_s < 100.0)) == 3  # cooldown 60 s, evaluations every 10 s
    assert got.replica_seconds < 0.55 * 4 * float(np.max(got.released_s))
    assert got.serving.output_tokens_done == int(trace.output_tokens.sum())


@pytest.mark.parametrize(
    ("field", "value"),
    [("metric", "qps"), ("target", 0.0), ("min_replicas", 0), ("interval_s", 0.0)],
)
def test_bad_policy_is_an_error(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        AutoscalePolicy(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="max_replicas"):
        AutoscalePolicy(min_replicas=3, max_replicas=2)
