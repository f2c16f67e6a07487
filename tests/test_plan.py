"""chip2grid plan: screening, the choice, infeasibility, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.catalog.speculative import get_speculative_setting
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.plan import PlanRequest, Screened, pareto_mask, plan, screen
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
    # a decode step reads every weight of a rank at least once; a speculative step emits the
    # expected accepted tokens of its drafts, 1 + a + ... + a^k, for those reads
    m = c2g.get_model("llama-3.1-8b")
    spec = get_speculative_setting("llama3-1b-draft")
    a, k = spec.acceptance_rate, spec.num_speculative_tokens
    tokens_per_step = {"off": 1.0, spec.id: (1.0 - a ** (k + 1)) / (1.0 - a)}
    assert set(np.unique(s.speculative)) <= set(tokens_per_step)
    for acc_id in ("h100-sxm", "l40s"):
        acc = c2g.get_accelerator(acc_id)
        for setting, tokens in tokens_per_step.items():
            sel = (
                (s.accelerator == acc_id)
                & (s.precision == "bf16")
                & (s.tp == 1)
                & (s.pp == 1)
                & (s.speculative == setting)
            )
            assert sel.any()
            read_s = m.num_matmul_params_per_token * 2.0 / acc.memory_bandwidth_bytes_per_s
            assert np.all(s.tpot_s[sel] >= read_s / tokens)


def test_more_demand_never_needs_fewer_accelerators() -> None:
    low = plan(request(demand_requests_per_s=5.0), simulate_top=False)
    high = plan(request(demand_requests_per_s=50.0), simulate_top=False)
    assert high.chosen.num_accelerators >= low.chosen.num_accelerators


def test_tighter_slo_never_lowers_the_cost() -> None:
    loose = plan(request(tpot_slo_s=0.1), simulate_top=False)
    tight = plan(request(tpot_slo_s=0.02), simulate_top=False)
    assert tight.chosen.cost_usd_per_mtok >= loose.chosen.cost_usd_per_mtok


def test_simulation_checks_the_best_candidates() -> None:
    p = plan(request(speculative=("off",), disaggregated=False), top_k=4, num_requests=150)
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
    # an infinite demand has no plan (it failed deep in the screen with "busy_frac: got nan")
    with pytest.raises(InvalidParameterError, match=r"demand_requests_per_s.*finite"):
        request(demand_requests_per_s=math.inf)
    # a budget that is not a number was ignored, and so was a zero one
    for budget in (math.nan, 0.0, -1.0):
        with pytest.raises(InvalidParameterError, match="budget_usd"):
            request(budget_usd=budget)
    # an infinite latency target is no target
    assert request(ttft_slo_s=math.inf).ttft_slo_s == math.inf


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
    for option in [data["chosen"], *data["runners_up"], *data["pareto"]]:
        for key in ("ep", "speculative", "disaggregated", "prefill_tp", "steady_state_only"):
            assert key in option
    assert {o["disaggregated"] for o in data["pareto"]} == {False, True}
    bad = run("plan", "--demand", "1", "--tokens-per-day", "1e9")
    assert bad.returncode == 2 and "--demand" in bad.stderr
    negative = run("plan", "--tokens-per-day", "-1")
    assert negative.returncode == 2 and "--tokens-per-day: got -1.0" in negative.stderr
    unknown = run("plan", "--demand", "1", "--accelerators", "h1000")
    assert unknown.returncode == 2 and "h1000" in unknown.stderr


@pytest.mark.parametrize(
    ("model_id", "accelerator"),
    [("mixtral-8x7b", "h100-sxm"), ("qwen3-30b-a3b", "h100-sxm"), ("deepseek-v3", "h200-sxm")],
)
def test_moe_models_get_expert_parallel_candidates(model_id: str, accelerator: str) -> None:
    s = screen(
        request(
            model=c2g.get_model(model_id),
            accelerators=(accelerator,),
            precisions=("fp8",),
            speculative=("off",),
        )
    )
    ep = s.ep > 1
    assert ep.any() and (s.ep[~ep] == 1).all()
    # an instance spans PP x max(TP, EP) accelerators
    size = s.pp * np.maximum(s.tp, s.ep)
    prefill = s.column("prefill_pp") * np.maximum(s.prefill_tp, s.column("prefill_ep"))
    assert np.array_equal(s.num_accelerators, s.replicas * size + s.prefill_replicas * prefill)
    assert (s.prefill_replicas[s.disaggregated] >= 1).all()
    assert (s.prefill_replicas[~s.disaggregated] == 0).all()


def test_dense_models_have_no_expert_parallelism() -> None:
    assert (screen(request()).ep == 1).all()


def test_speculative_catalog_settings_are_sourced_and_apply_to_catalog_models() -> None:
    from chip2grid.catalog.speculative import get_speculative_setting, list_speculative_settings

    names = list_speculative_settings()
    assert "deepseek-mtp" in names
    for name in names:
        setting = get_speculative_setting(name)
        assert setting.source and 0 < setting.acceptance_rate < 1
        for model_id in setting.models:
            c2g.get_model(model_id)
        if setting.draft_model:
            c2g.get_model(setting.draft_model)
    mtp = get_speculative_setting("deepseek-mtp")
    assert mtp.acceptance_rate == pytest.approx(0.85)  # DeepSeek-V3 report sec. 5.4.3: 85-90%


def _spec_vs_off(max_num_seqs: int) -> tuple[Screened, int, int]:
    """Llama 3.1 70B on one H200 at one batch cap, without and with a Llama 3.2 1B draft."""
    s = screen(
        request(
            model=c2g.get_model("llama-3.1-70b"),
            accelerators=("h200-sxm",),
            precisions=("fp8",),
            batch_caps=(max_num_seqs,),
            token_budgets=(16384,),
            disaggregated=False,
        )
    )
    same = (s.tp == 1) & (s.pp == 1)
    off = np.flatnonzero(same & (s.speculative == "off"))
    on = np.flatnonzero(same & (s.speculative == "llama3-1b-draft"))
    assert off.size == 1 and on.size == 1
    return s, int(off[0]), int(on[0])


def test_speculative_decoding_wins_at_small_batch_and_loses_when_compute_bound() -> None:
    from chip2grid.catalog.speculative import get_speculative_setting
    from chip2grid.perf import expected_tokens_per_step

    setting = get_speculative_setting("llama3-1b-draft")
    tokens = expected_tokens_per_step(setting.acceptance_rate, setting.num_speculative_tokens)
    s, off, on = _spec_vs_off(4)
    # memory bound: one verification step of k+1 positions plus k draft steps beats 1 token/step
    assert s.tpot_s[on] < s.tpot_s[off]
    assert s.replica_requests_per_s[on] > s.replica_requests_per_s[off]
    # ... but never for free: a step with drafts and verification costs more than a plain step
    assert s.tpot_s[on] * tokens > s.tpot_s[off]
    s, off, on = _spec_vs_off(256)
    # compute bound: verifying k+1 positions costs k+1 times the FLOPs for fewer tokens
    assert s.replica_requests_per_s[on] < s.replica_requests_per_s[off]


def test_speculative_settings_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="speculative"):
        request(speculative=("deepseek-mtp",))  # DeepSeek's MTP heads are not Llama's
    s = screen(request(speculative=("off",), disaggregated=False))
    assert set(s.speculative.tolist()) == {"off"}


@pytest.mark.parametrize("cvs", [(0.0, 0.0), (0.7, 1.2)])
@pytest.mark.parametrize("mixed", [True, False])
@pytest.mark.parametrize(("isl", "osl"), [(1024, 256), (3000, 2), (100, 1)])
def test_grid_agrees_with_continuous_batching(
    mixed: bool, isl: float, osl: float, cvs: tuple[float, float]
) -> None:
    from chip2grid.perf import Deployment, RankShape, calibration_for, rank_shape
    from chip2grid.perf.steady import continuous_batching
    from chip2grid.plan.grid import aggregated_grid

    m, acc = c2g.get_model("llama-3.1-8b"), c2g.get_accelerator("h100-sxm")
    cal = calibration_for(acc.family, "tensorrt-llm")
    shapes = [
        rank_shape(
            Deployment(model=m, accelerator=acc, num_accelerators=tp * pp, tp=tp, pp=pp), cal
        )
        for tp, pp in ((1, 1), (2, 1), (1, 2))
    ]
    caps, budgets = np.array([1, 4, 16, 64, 256, 1024.0]), np.array([256, 512, 2048, 8192.0])
    max_seqs = np.array([500.0, 3000.0, 40.0])
    spec = dict(query_tokens=2.0, num_draft_steps=1.0, input_cv=cvs[0], output_cv=cvs[1])
    g = aggregated_grid(
        RankShape.stack(shapes),
        isl,
        osl,
        caps,
        max_seqs,
        budgets,
        mixed,
        draft_shape=RankShape.stack(shapes),
        **spec,  # type: ignore[arg-type]
    )
    for i, shape in enumerate(shapes):
        b, c = np.meshgrid(np.minimum(caps, max_seqs[i]), budgets, indexing="ij")
        cyc = continuous_batching(
            shape, isl, osl, b.ravel(), mixed, c.ravel(), draft_shape=shape, **spec
        )
        assert g.gather(g.iteration_s)[i] == pytest.approx(cyc.iteration_s, rel=1e-12)
        ttft = 0.5 * cyc.iteration_s + cyc.prefill_latency_s
        assert g.ttft_s[i] == pytest.approx(ttft, rel=1e-12)
        rate = g.gather(g.requests_per_iteration)[i]
        assert rate == pytest.approx(cyc.requests_per_iteration, rel=1e-12)


def test_a_spread_of_output_lengths_costs_the_planner_capacity() -> None:
    """Long outputs dominate the decode batch: the KV cache holds fewer sequences and each
    step reads more, so a replica serves fewer requests (the estimate's fluid model)."""
    fixed = screen(request(speculative=("off",), disaggregated=False))
    spread = screen(
        request(
            speculative=("off",), disaggregated=False, output_tokens_cv=1.0, input_tokens_cv=0.5
        )
    )
    which = dict(tp=1, pp=1, max_num_seqs=256, max_num_batched_tokens=2048, speculative="off")
    i = _same_config(fixed, accelerator="h100-sxm", precision="fp8", **which)
    j = _same_config(spread, accelerator="h100-sxm", precision="fp8", **which)
    assert spread.replica_requests_per_s[j] < fixed.replica_requests_per_s[i]
    with pytest.raises(InvalidParameterError, match="output-tokens-cv"):
        request(output_tokens_cv=-1.0)


def test_pareto_mask_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(7)
    pts = np.round(rng.random((300, 3)), 1)  # coarse values: ties and duplicates
    mask = pareto_mask([pts[:, 0], pts[:, 1], pts[:, 2]])
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        assert mask[i] == (not dominated)


def test_speculative_candidates_are_simulated_with_their_setting() -> None:
    # a tight TPOT favours speculative decoding at small batches
    p = plan(
        request(
            model=c2g.get_model("llama-3.1-70b"),
            accelerators=("h200-sxm",),
            precisions=("fp8",),
            tpot_slo_s=0.015,
            demand_requests_per_s=2.0,
            disaggregated=False,
        ),
        # the SLO sits within 1-4 % of the best candidates' simulated p90: simulate five
        top_k=5,
        num_requests=100,
    )
    options = [p.chosen, *p.runners_up]
    spec = [o for o in options if o.speculative != "off"]
    assert spec, [o.label for o in options]
    for o in spec:
        assert not o.steady_state_only and o.sim_tpot_s_p90 is not None


def _same_config(s: Screened, **fields: object) -> int:
    mask = np.ones(s.size, dtype=bool)
    for name, value in fields.items():
        column = getattr(s, name)
        mask &= column == value
    hits = np.flatnonzero(mask)
    assert hits.size == 1, (fields, hits.size)
    return int(hits[0])


def test_latency_follows_the_demand_per_replica() -> None:
    # issue 7: the same configuration reported the same TTFT/TPOT at any demand
    which = dict(tp=1, pp=1, max_num_seqs=256, max_num_batched_tokens=2048, speculative="off")
    light = screen(request(demand_requests_per_s=2.0, speculative=("off",), disaggregated=False))
    heavy = screen(request(demand_requests_per_s=20.0, speculative=("off",), disaggregated=False))
    i = _same_config(light, accelerator="h100-sxm", precision="fp8", **which)
    j = _same_config(heavy, accelerator="h100-sxm", precision="fp8", **which)
    assert light.replicas[i] == heavy.replicas[j] == 1  # one replica: 2 vs 20 requests/s
    assert light.tpot_s[i] < 0.9 * heavy.tpot_s[j]
    assert light.ttft_s[i] < heavy.ttft_s[j]
    # capacity is the configuration's, not the demand's
    assert light.replica_requests_per_s[i] == heavy.replica_requests_per_s[j]


@pytest.mark.parametrize(
    ("speculative", "model_id"),
    [("off", "llama-3.1-8b"), ("llama3-1b-draft", "llama-3.1-8b"), ("off", "qwen3-30b-a3b")],
)
def test_screen_agrees_with_estimate_at_the_replica_rate(speculative: str, model_id: str) -> None:
    from chip2grid.catalog.speculative import get_speculative_setting
    from chip2grid.perf import Deployment, Load, Workload, estimate
    from chip2grid.plan.screen import speculative_decoding

    req = request(
        model=c2g.get_model(model_id),
        accelerators=("h100-sxm",),
        precisions=("fp8",),
        batch_caps=(4, 16, 64, 256),
        token_budgets=(8192,),  # the engine's own budget, which estimate uses
        speculative=(speculative,),
        disaggregated=False,
        demand_requests_per_s=7.0,
    )
    s = screen(req)
    spec = (
        None if speculative == "off" else speculative_decoding(get_speculative_setting(speculative))
    )
    acc = c2g.get_accelerator("h100-sxm")
    rng = np.random.default_rng(3)
    picks = list(rng.choice(s.size, 6, replace=False))
    if req.model.is_moe:  # attention DP (ep > tp): the batch cap is per attention rank
        adp = [
            i
            for i in range(s.size)
            if s.configs[int(s.config[i])].ep > s.configs[int(s.config[i])].tp
        ]
        assert adp, "no attention-DP candidate screened"
        picks += list(rng.choice(adp, 4, replace=False))
    for i in picks:
        c = s.configs[int(s.config[i])]
        dep = Deployment(
            model=req.model,
            accelerator=acc,
            num_accelerators=c.pp * max(c.tp, c.ep),
            tp=c.tp,
            pp=c.pp,
            ep=c.ep,
            weight_precision="fp8",
            kv_precision="fp8",
            engine=req.engine,
        )
        rate = req.demand_requests_per_s / float(s.replicas[i])
        load = Load(
            mode="request_rate", request_rate_per_s=rate, max_num_seqs=int(s.max_num_seqs[i])
        )
        e = estimate(dep, Workload(input_tokens=1024, output_tokens=256), load, speculative=spec)
        assert not e.saturated
        assert s.ttft_s[i] == pytest.approx(e.ttft_s_mean, rel=0.01), c
        assert s.tpot_s[i] == pytest.approx(e.tpot_s_mean, rel=0.01), c


def test_stage_two_says_what_it_simulated_and_what_it_did_not() -> None:
    # long prompts and a tight TPOT: disaggregated pools win, and the simulator has none
    args = [
        "plan",
        "--model",
        "llama-3.1-8b",
        "--accelerators",
        "h100-sxm",
        "--precisions",
        "fp8",
        "--input-tokens",
        "8192",
        "--output-tokens",
        "256",
        "--ttft-slo",
        "2",
        "--tpot-slo",
        "0.015",
        "--demand",
        "50",
        "--speculative",
        "off",
        "--top-k",
        "3",
    ]
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    options = [data["chosen"], *data["runners_up"]]
    simulated = sum(o["sim_tpot_s_p90"] is not None for o in options)
    steady = sum(o["steady_state_only"] for o in options)
    assert data["num_checked"] == len(options) == 3
    assert data["num_simulated"] == simulated and data["num_steady_state_only"] == steady
    assert simulated + steady == 3 and steady >= 1
    assert all(o["speculative"] == "off" for o in options)
    text = run(*args, "--no-disaggregated").stdout
    assert "3 of the best 3 simulated" in " ".join(text.split())
    assert "disaggregated" not in text.split("runners-up")[0]
    text = " ".join(run(*args).stdout.split())
    assert f"{simulated} of the best 3 simulated" in text
    assert f"{steady} checked in steady state only" in text
    assert data["chosen"]["disaggregated"] and "NOT simulated" in text.split("runners-up")[0]
