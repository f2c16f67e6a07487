"""Estimates at a request rate wait for a sequence slot, and a prompt's step carries it beside
the average step's prompts."""

from __future__ import annotations

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.perf import calibration_for, continuous_batching, rank_shape
from chip2grid.perf.estimate import Load, Workload, estimate
from chip2grid.perf.steady import prefill_chunking


def _dep() -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="fp8",
        kv_precision="fp8",
        engine="tensorrt-llm",
    )


def test_the_wait_is_for_a_slot_and_grows_with_the_load() -> None:
    dep, work = _dep(), Workload(input_tokens=1000, output_tokens=200)
    cap = estimate(dep, work, Load(mode="max_load", max_num_seqs=16)).requests_per_s
    waits = []
    for rho in (0.3, 0.9, 0.98):
        est = estimate(
            dep, work, Load(mode="request_rate", request_rate_per_s=rho * cap, max_num_seqs=16)
        )
        assert 0.0 <= est.queue_wait_s < est.ttft_s_mean
        waits.append(est.queue_wait_s)
    assert waits[0] < 1e-6 < waits[1] < waits[2]  # nearly free at low load, then a queue
    over = estimate(
        dep, work, Load(mode="request_rate", request_rate_per_s=1.1 * cap, max_num_seqs=16)
    )
    assert over.saturated and over.queue_wait_s == np.inf
    assert estimate(dep, work, Load(mode="max_load")).queue_wait_s == 0.0


def test_a_prompts_step_carries_it_beside_the_others() -> None:
    chunks, tokens = prefill_chunking(500.0, 8192.0, 100.0, np.array([0.2, 3.0]))
    assert float(chunks) == 1.0
    assert tokens.tolist() == pytest.approx([600.0, 2000.0])  # its own 500 + 0.2 or 3 others
    chunks, tokens = prefill_chunking(20_000.0, 8192.0, 100.0, 0.5)
    assert float(chunks) == 3.0 and float(tokens) == 8092.0  # a chunked prompt fills the room
    # separate prefill steps (prefill-first): the prompt's step holds 1 + r prompts
    dep = _dep()
    shape = rank_shape(dep, calibration_for("hopper", "tensorrt-llm"))
    few = continuous_batching(shape, 1000.0, 200.0, 8.0, False, 8192.0)
    many = continuous_batching(shape, 1000.0, 200.0, 256.0, False, 8192.0)
    one = c2g.step_time(shape, c2g.StepBatch.prefill(1.0, 1000.0)).total_s
    assert float(one) < float(few.prefill_latency_s) < float(many.prefill_latency_s)
