"""Scenario files: schema, extends, overrides, field-named errors, evaluation, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from chip2grid.scenario import (
    Scenario,
    ScenarioError,
    apply_overrides,
    evaluate,
    list_scenarios,
    load_scenario,
    scenario_fields,
    scenario_from_dict,
    scenario_json_schema,
    scenario_trace,
)
from tests.test_cli import run


def test_builtin_scenarios_load_and_extend_the_default() -> None:
    names = list_scenarios()
    assert "default" in names and len(names) >= 4
    default = load_scenario("default")
    assert default == Scenario().model_copy(update={"description": default.description})
    h100 = load_scenario("h100-virginia")
    assert h100.extends == "default"
    assert h100.deployment.accelerator == "h100-sxm"
    # everything not overridden is inherited
    assert h100.workload == default.workload and h100.site == default.site


def test_extends_a_file_and_overrides_nested_fields(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("extends: default\nsite: {region: us-texas}\n")
    (tmp_path / "child.toml").write_text(
        'extends = "base.yaml"\n[deployment]\nnum_accelerators = 16\n'
    )
    s = load_scenario(tmp_path / "child.toml")
    assert s.site.region == "us-texas" and s.site.cooling == "dlc"
    assert s.deployment.num_accelerators == 16 and s.deployment.accelerator == "h200-sxm"


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ScenarioError, match="extends"):
        load_scenario(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    ("data", "field", "needle"),
    [
        ({"deployment": {"num_accelerators": 0}}, "deployment.num_accelerators", "0"),
        ({"deployment": {"accelerator": "h1000"}}, "deployment.accelerator", "h100"),
        ({"site": {"regoin": "x"}}, "site.regoin", "region"),
        ({"slo": {"ttft_s": -1}}, "slo.ttft_s", "-1"),
        ({"deployment": {"tp": "lots"}}, "deployment.tp", "lots"),
        ({"energy": {"supply": {"grid": -0.5}}}, "energy.supply", ">= 0"),
        ({"energy": {"supply": "coal-magic"}}, "energy.supply", "coal-magic"),
        ({"model": "llama-9"}, "model", "llama-9"),
        # YAML's .inf and .nan passed every `> 0` bound (an infinite request rate ran)
        (
            {"workload": {"synthetic": {"request_rate_per_s": float("inf")}}},
            "workload.synthetic.request_rate_per_s",
            "finite",
        ),
        ({"budget": {"capex_usd": float("nan")}}, "budget.capex_usd", "finite"),
        ({"deployment": {"scale_up_topology": "ring"}}, "deployment.scale_up_topology", "ring"),
        (
            {"deployment": {"allreduce_quantization": "int5"}},
            "deployment.allreduce_quantization",
            "int4",
        ),
        ({"deployment": {"nccl_nvls": "yes"}}, "deployment.nccl_nvls", "yes"),
    ],
)
def test_errors_name_the_field_and_value(data: dict[str, object], field: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    message = str(info.value)
    assert message.startswith(field + ":"), message
    assert needle in message


def test_bad_yaml_and_missing_file_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployment: [unclosed\n")
    with pytest.raises(Exception, match="valid YAML or TOML"):
        load_scenario(bad)
    with pytest.raises(Exception, match="scenario"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(Exception, match="closest: default"):
        load_scenario("defualt")


def test_overrides_by_dotted_path() -> None:
    s = apply_overrides(load_scenario(), {"site.region": "nordics", "deployment.tp": 8})
    assert s.site.region == "nordics" and s.deployment.tp == 8
    with pytest.raises(ScenarioError, match=r"site\.regoin.*did you mean site\.region"):
        apply_overrides(s, {"site.regoin": "nordics"})
    with pytest.raises(ScenarioError, match=r"deployment\.num_accelerators"):
        apply_overrides(s, {"deployment.num_accelerators": -3})
    assert "finance.wacc_frac" in scenario_fields() and "extends" not in scenario_fields()


def test_json_schema_covers_every_section() -> None:
    schema = scenario_json_schema()
    assert set(schema["properties"]) >= {"model", "deployment", "workload", "site", "energy"}


def test_evaluate_steady_state_is_consistent() -> None:
    r = evaluate(load_scenario("llama-8b-l40s"), simulate=False)
    m = r.metrics()
    assert r.simulation is None
    # the offered load is below capacity, so it is served in full and costs more per token
    assert m["offered_requests_per_s"] < m["capacity_requests_per_s"]
    assert m["output_tokens_per_s"] == pytest.approx(
        m["offered_requests_per_s"] * r.workload.output_tokens, rel=1e-6
    )
    assert m["cost_usd_per_mtok_output"] > m["cost_usd_per_mtok_output_at_capacity"] > 0
    assert all(not math.isnan(v) for v in m.values())


def test_finance_overrides_change_the_cost() -> None:
    base = evaluate(load_scenario(), simulate=False).metrics()
    dear = evaluate(
        apply_overrides(load_scenario(), {"finance.wacc_frac": 0.2}), simulate=False
    ).metrics()
    assert dear["usd_per_accelerator_hour"] > base["usd_per_accelerator_hour"]
    assert dear["capacity_output_tokens_per_s"] == base["capacity_output_tokens_per_s"]


def test_run_is_end_to_end() -> None:
    proc = run("run", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["scenario"]["model"] == "llama-3.3-70b"
    assert data["capacity"]["accelerator"] == "h200-sxm"
    sim = data["simulation"]
    assert sim["num_requests"] == 2867 and sim["num_rejected"] == 0
    at_load = data["cost_at_load"]["breakdown"]
    full = data["cost_at_capacity"]["breakdown"]
    # the trace uses the hall far below capacity, so its tokens cost more
    assert at_load["usd_per_mtok_blended"] > full["usd_per_mtok_blended"] > 0
    assert data["cost_at_load"]["cooling"] == "dlc"
    assert data["metrics"]["sim_ttft_s_p90"] > 0


def test_init_writes_a_scenario_that_runs(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    proc = run("init", str(path))
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith("# chip2grid scenario")
    path.write_text(text.replace("num_accelerators: 8", "num_accelerators: 16"))
    proc = run("run", str(path), "--no-simulate", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"]["num_accelerators"] == 16
    again = run("init", str(path))
    assert again.returncode == 2 and "--force" in again.stderr


def test_schema_and_compare_commands(tmp_path: Path) -> None:
    proc = run("schema")
    assert proc.returncode == 0 and "deployment" in json.loads(proc.stdout)["properties"]
    proc = run("compare", "default", "h100-virginia", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    fields = {row["field"] for row in data["inputs"]}
    assert fields == {"deployment.accelerator", "description", "name"}
    cost = {row["metric"]: row for row in data["metrics"]}["usd_per_accelerator_hour"]
    assert cost["change_frac"] is not None and cost["a"] != cost["b"]


def test_bad_scenario_on_the_cli_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployment:\n  num_accelerators: -4\n")
    proc = run("run", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: deployment.num_accelerators: got -4")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_serving_features_reach_the_simulation_and_the_steady_state() -> None:
    data = load_scenario("default").model_dump()
    data["workload"]["trace"] = None
    data["workload"]["synthetic"].update(
        archetype="agent",
        num_requests=200,
        request_rate_per_s=2.0,
        input_tokens=200,
        output_tokens=100,
    )
    data["serving"].update(
        enable_prefix_caching=True,
        router="prefix-aware",
        speculative={"method": "mtp", "num_speculative_tokens": 2, "acceptance_rate": 0.8},
    )
    data["deployment"]["num_accelerators"] = 16
    result = evaluate(scenario_from_dict(data))
    metrics = result.metrics()
    assert metrics["sim_prefix_cache_hit_frac"] > 0.5  # agent turns repeat their session
    assert result.capacity.speculative_tokens_per_step > 1.0
    data["serving"].update(enable_prefix_caching=False, speculative=None, router="round-robin")
    plain = evaluate(scenario_from_dict(data))
    assert plain.metrics()["sim_prefix_cache_hit_frac"] == 0.0
    assert metrics["sim_ttft_s_p50"] < plain.metrics()["sim_ttft_s_p50"]


@pytest.mark.parametrize(
    ("serving", "field"),
    [
        ({"speculative": {"method": "draft"}}, "serving.speculative"),
        ({"speculative": {"method": "draft", "draft_model": "llama-99"}}, "serving.speculative"),
        ({"router": "random"}, "serving.router"),
        ({"preemption_mode": "drop"}, "serving.preemption_mode"),
    ],
)
def test_serving_feature_errors_name_the_field(serving: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"serving": serving})
    assert str(info.value).startswith(field), str(info.value)


@pytest.mark.parametrize("archetype", ["chat", "code", "rag", "reasoning", "batch"])
def test_catalog_archetypes_drive_the_scenario_trace(archetype: str) -> None:
    data = load_scenario("default").model_dump()
    data["workload"]["trace"] = None
    data["workload"]["synthetic"].update(
        archetype=archetype, num_requests=400, request_rate_per_s=5.0, diurnal_peak_to_trough=3.0
    )
    trace = scenario_trace(scenario_from_dict(data))
    assert trace.num_requests == 400
    fixed = dict(data)
    fixed["workload"]["synthetic"] = dict(data["workload"]["synthetic"], archetype="fixed")
    plain = scenario_trace(scenario_from_dict(fixed))
    # the catalog's lengths vary; the fixed archetype's do not
    assert np.std(trace.input_tokens) > 0 and np.std(plain.input_tokens) == 0


def test_a_scenario_states_its_board_wiring_and_all_reduce() -> None:
    from chip2grid.perf.estimate import Workload
    from chip2grid.scenario.evaluate import scenario_deployment

    work = Workload(input_tokens=2000, output_tokens=200)
    plain = scenario_from_dict(
        {"deployment": {"accelerator": "h100-sxm", "num_accelerators": 4, "tp": 2}}
    )
    board = apply_overrides(
        plain,
        {"deployment.scale_up_domain_size": 4, "deployment.scale_up_topology": "full_mesh"},
    )
    _, cap_plain = scenario_deployment(plain, work)
    dep_board, cap_board = scenario_deployment(board, work)
    assert dep_board.accelerator.collective_bandwidth_bytes_per_s(2) == pytest.approx(150e9)
    assert cap_board.output_tokens_per_s < cap_plain.output_tokens_per_s
    quant = apply_overrides(board, {"deployment.allreduce_quantization": "int4"})
    assert scenario_deployment(quant, work)[0].allreduce_quantization == "int4"
    off = apply_overrides(plain, {"deployment.nccl_nvls": "off"})
    assert scenario_deployment(off, work)[0].nccl_nvls == "off"


def test_the_deployment_choices_are_the_models_own() -> None:
    from typing import get_args

    from chip2grid.hardware import ALLREDUCE_QUANTIZATIONS
    from chip2grid.hardware.accelerator import SCALE_UP_TOPOLOGIES
    from chip2grid.scenario.schema import DeploymentSpec

    fields = DeploymentSpec.model_fields
    assert set(get_args(fields["scale_up_topology"].annotation)) == {"", *SCALE_UP_TOPOLOGIES}
    assert set(get_args(fields["allreduce_quantization"].annotation)) == set(
        ALLREDUCE_QUANTIZATIONS
    )
    from chip2grid.perf.deployment import NCCL_NVLS_SETTINGS

    assert set(get_args(fields["nccl_nvls"].annotation)) == set(NCCL_NVLS_SETTINGS)


def test_a_scenario_that_names_no_cooling_takes_one_its_platform_can_use() -> None:
    """Direct liquid cooling where the platform takes it, else the platform's own: an
    air-cooled L40S server stands in air; a cooling the scenario names is kept (and checked)."""
    air = scenario_from_dict({"deployment": {"accelerator": "l40s", "num_accelerators": 1}})
    assert air.site.cooling == "air"
    liquid = scenario_from_dict({"deployment": {"accelerator": "h100-sxm"}})
    assert liquid.site.cooling == "dlc"
    named = scenario_from_dict(
        {
            "deployment": {"accelerator": "l40s", "num_accelerators": 1},
            "site": {"cooling": "rear-door"},
        }
    )
    assert named.site.cooling == "rear-door"
