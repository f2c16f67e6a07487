"""The admission queue of a continuous-batching server: Erlang C over the batch's slots, checked
against the textbook recursion and against what MLPerf Server runs measured."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from chip2grid.perf.steady import erlang_c, md1_wait_s, slot_wait_s
from chip2grid.validation import run_validation
from tests.test_cli import run


def erlang_c_recursion(a: float, c: int) -> float:
    """Erlang C through the Erlang B recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


@pytest.mark.parametrize("c", [1, 2, 7, 64, 900])
@pytest.mark.parametrize("rho", [0.05, 0.5, 0.9, 0.99])
def test_erlang_c_matches_the_recursion(c: int, rho: float) -> None:
    a = rho * c
    assert float(erlang_c(a, c)) == pytest.approx(erlang_c_recursion(a, c), rel=1e-9, abs=1e-300)


def test_erlang_c_at_and_above_the_servers_and_without_load() -> None:
    out = erlang_c(np.array([0.0, 10.0, 12.0]), 10.0)
    assert out.tolist() == [0.0, 1.0, 1.0]


def test_a_fractional_batch_lies_between_its_whole_neighbours() -> None:
    low, mid, high = (float(erlang_c(40.0, c)) for c in (48.0, 48.5, 49.0))
    assert high < mid < low


def test_one_slot_with_fixed_service_is_md1() -> None:
    rho = np.array([0.1, 0.5, 0.95])
    service_s = np.array([0.2, 1.0, 3.0])
    assert np.allclose(slot_wait_s(rho, 1.0, service_s), md1_wait_s(rho, service_s))


def test_many_slots_wait_far_less_than_one_server_at_the_same_share() -> None:
    """A batch of 256 slots at 90 % of them: few arrivals find all taken (Erlang C 0.06),
    and the wait is a fourteenth of one server's at 90 % (which admits one request at a time)."""
    service_s = 20.0
    many = float(slot_wait_s(0.9 * 256, 256, service_s))
    one = float(md1_wait_s(np.asarray(0.9), np.asarray(service_s / 256)))
    assert 0.0 < many < 0.1 * one


def test_spread_service_times_wait_longer_and_a_full_batch_waits_forever() -> None:
    fixed, spread = (float(slot_wait_s(60.0, 64, 10.0, cv)) for cv in (0.0, 1.0))
    assert spread == pytest.approx(2.0 * fixed)
    assert math.isinf(float(slot_wait_s(64.0, 64, 10.0)))


def _ttft_over_tpot_error(report) -> list[float]:
    """Per MLPerf v4.1 Server run: predicted TTFT/TPOT over measured, minus one."""
    by_case: dict[str, dict[str, tuple[float, float]]] = {}
    for row in report.rows:
        if row.case.case_id.startswith("mlperf-v4.1") and row.case.mode == "server":
            by_case.setdefault(row.case.case_id, {})[row.metric] = (row.measured, row.predicted)
    errors = []
    for metrics in by_case.values():
        if {"ttft_s_mean", "tpot_s_mean"} <= metrics.keys():
            (t_meas, t_pred), (p_meas, p_pred) = metrics["ttft_s_mean"], metrics["tpot_s_mean"]
            errors.append((t_pred / p_pred) / (t_meas / p_meas) - 1.0)
    return errors


# Mean |error| of TTFT / TPOT on the MLPerf v4.1 Server runs, shipped calibration, 2026-11-24:
# 69.9 % with the instance queue, 21.8 % with the slots queue (52 runs); 2026-11-28, with the
# step that carries a prompt carrying it beside the average step's prompts: 15.9 %. The ratio takes out
# most of the error in capacity, which a run this close to it amplifies in both latencies
# alike, and leaves the queue: measured TTFT is 1.55-2.0 iterations for TensorRT-LLM, the
# slots queue predicts 1.5 (half a step to the next one, one step of prefill, almost no wait).
SLOTS_RATIO_MAX = 0.23


def test_slots_queue_predicts_what_mlperf_server_runs_wait(measurements_path) -> None:
    instance = _ttft_over_tpot_error(run_validation(measurements_path, admission="instance"))
    slots = _ttft_over_tpot_error(run_validation(measurements_path))
    assert len(slots) >= 45
    slots_mape = statistics.fmean(abs(e) for e in slots)
    assert slots_mape <= SLOTS_RATIO_MAX
    assert slots_mape < 0.5 * statistics.fmean(abs(e) for e in instance)


def test_cli_admission_queue_errors_name_the_option(tmp_path) -> None:
    bad = run("validate", "--admission-queue", "fifo", "--out", str(tmp_path / "o.csv"))
    assert bad.returncode != 0 and "--admission-queue" in bad.stderr and "slots" in bad.stderr
    stored = run(
        "validate",
        "--admission-queue",
        "instance",
        "--fit",
        "--write",
        "--out",
        str(tmp_path / "o"),
    )
    assert stored.returncode != 0 and "not with --write" in stored.stderr
    assert "Traceback" not in bad.stderr + stored.stderr
