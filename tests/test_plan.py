"""chip2grid plan: screening, the choice, infeasibility, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.plan import PlanRequest, pareto_mask, plan, screen
from tests.test_cli import run


def request(**changes: object) -> PlanRequest:
    base: dict[str, object] = dict(
        model=c2g.get_model("llama-3.1-8b"),
        input_tokens=1024,
        output_tokens=256,
        demand_requests_per_s=10.0,
        ttft_slo_s=0.5,
        tpot_slo_s=0.05,
        accelerators=("h100-sxm", "l40s"),
        precisions=("fp8", "bf16"),
        max_accelerators_per_replica=8,
    )
    base.update(changes)
    return PlanRequest(**base)  # type: ignore[arg-type]


def test_feasible_candidates_meet_the_slos_and_never_beat_the_roofline() -> None:
    s = screen(request())
    ok = s.feasible
    assert ok.any() and (~ok).any()
    assert np.all(s.ttft_s[ok] <= 0.5) and np.all(s.tpot_s[ok] <= 0.05)
    # a decode step reads every weight of a rank at least once
    m = c2g.get_model("llama-3.1-8b")
    for acc_id in ("h100-sxm", "l40s"):
        acc = c2g.get_accelerator(acc_id)
        sel = (s.accelerator == acc_id) & (s.precision == "bf16") & (s.tp == 1) & (s.pp == 1)
        floor_s = m.num_matmul_params_per_token * 2.0 / acc.memory_bandwidth_bytes_per_s
        assert np.all(s.tpot_s[sel] >= floor_s)


def test_more_demand_never_needs_fewer_accelerators() -> None:
    low = plan(request(demand_requests_per_s=5.0), simulate_top=False)
    high = plan(request(demand_requests_per_s=50.0), simulate_top=False)
    assert high.chosen.num_accelerators >= low.chosen.num_accelerators


def test_tighter_slo_never_lowers_the_cost() -> None:
    loose = plan(request(tpot_slo_s=0.1), simulate_top=False)
    tight = plan(request(tpot_slo_s=0.02), simulate_top=False)
    assert tight.chosen.cost_usd_per_mtok >= loose.chosen.cost_usd_per_mtok


def test_simulation_checks_the_best_candidates() -> None:
    p = plan(request(), top_k=4, num_requests=150)
    assert p.chosen.sim_ttft_s_p90 is not None and p.chosen.sim_ttft_s_p90 <= 0.5
    assert p.chosen.verdict == "meets the SLOs in simulation"
    assert all(o.verdict for o in p.runners_up)
    costs = [o.cost_usd_per_mtok for o in p.pareto]
    assert min(costs) <= p.chosen.cost_usd_per_mtok + 1e-12


def test_infeasible_slos_say_what_is_closest() -> None:
    with pytest.raises(InfeasibleError, match=r"closest: .* misses tpot by"):
        plan(request(tpot_slo_s=1e-4), simulate_top=False)


def test_bad_requests_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="ttft_slo_s"):
        request(ttft_slo_s=0)
    with pytest.raises(InvalidParameterError, match="accelerators"):
        request(accelerators=())


def test_pareto_mask() -> None:
    cost = np.array([1.0, 2.0, 0.5, 3.0])
    ttft = np.array([1.0, 0.5, 2.0, 3.0])
    assert pareto_mask([cost, ttft]).tolist() == [True, True, True, False]


def test_cli_plan_json_and_errors() -> None:
    proc = run(
        "plan",
        "--model",
        "llama-3.1-8b",
        "--demand",
        "10",
        "--accelerators",
        "h100-sxm,l40s",
        "--input-tokens",
        "1024",
        "--no-simulate",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["chosen"]["accelerator"] in ("h100-sxm", "l40s")
    assert data["num_candidates"] > 100 and data["pareto"]
    bad = run("plan", "--demand", "1", "--tokens-per-day", "1e9")
    assert bad.returncode == 2 and "--demand" in bad.stderr
    unknown = run("plan", "--demand", "1", "--accelerators", "h1000")
    assert unknown.returncode == 2 and "h1000" in unknown.stderr


@pytest.mark.parametrize("model_id", ["mixtral-8x7b", "qwen3-30b-a3b"])
def test_moe_models_get_expert_parallel_candidates(model_id: str) -> None:
    s = screen(
        request(model=c2g.get_model(model_id), accelerators=("h100-sxm",), precisions=("fp8",))
    )
    ep = s.ep > 1
    assert ep.any() and (s.ep[~ep] == 1).all()
    # an instance spans PP x max(TP, EP) accelerators
    per_instance = s.num_accelerators // s.replicas
    assert np.array_equal(per_instance, s.pp * np.maximum(s.tp, s.ep))


def test_dense_models_have_no_expert_parallelism() -> None:
    assert (screen(request()).ep == 1).all()
