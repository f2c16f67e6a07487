"""The bottleneck map: binding layer, cascade, sensitivities, and its properties."""

from __future__ import annotations

import json
import math

import pytest

from chip2grid.bottleneck import (
    LAYERS,
    Relaxation,
    binding_layer,
    bottleneck_map,
    context_of,
    next_accelerator,
    next_cooling,
    operate,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.scenario import apply_overrides, evaluate, load_scenario
from tests.test_cli import run


@pytest.fixture(scope="module")
def ctx():  # type: ignore[no-untyped-def]
    return context_of(evaluate(load_scenario("h100-virginia"), simulate=False))


def test_binding_layer_is_the_relief_that_gains_most(ctx) -> None:  # type: ignore[no-untyped-def]
    binding, _, base, gains = binding_layer(ctx, Relaxation())
    assert base.output_tokens_per_s > 0
    split = (base.chip.deployment.tp, base.chip.deployment.pp, base.chip.deployment.ep)
    # recompute each relief independently: the binding one raises throughput the most
    outcome = {}
    for layer in LAYERS:
        if layer == "cooling":
            continue
        point = operate(ctx, Relaxation().times(layer, 1.25), split)
        outcome[layer] = point.output_tokens_per_s
    assert max(outcome, key=lambda layer: outcome[layer]) == binding
    assert gains[binding][0] > 0


@pytest.mark.parametrize("layer", [x for x in LAYERS if x != "cooling"])
def test_an_unlimited_layer_never_binds(ctx, layer: str) -> None:  # type: ignore[no-untyped-def]
    binding, _, _, _ = binding_layer(ctx, Relaxation(factors={layer: math.inf}))
    assert binding != layer


@pytest.mark.parametrize("layer", ["compute", "hbm_bandwidth", "hbm_capacity", "scheduler"])
def test_cutting_a_layer_never_raises_throughput(ctx, layer: str) -> None:  # type: ignore[no-untyped-def]
    base = operate(ctx, Relaxation())
    for factor in (0.8, 0.5):
        cut = operate(ctx, Relaxation(factors={layer: factor}))
        assert cut.output_tokens_per_s <= base.output_tokens_per_s * (1 + 1e-9)


def test_site_power_cap_binds_and_relief_moves_on() -> None:
    s = apply_overrides(load_scenario("h100-virginia"), {"site.power_cap_w": 6000.0})
    bm = bottleneck_map(s, cascade_steps=2, sensitivity=False)
    assert bm.binding_layer == "site_power"
    use = {layer.name: layer for layer in bm.layers}["site_power"]
    assert use.utilization_frac is not None and use.utilization_frac > 1
    first = bm.cascade[0]
    assert first.relaxed_layer == "site_power"
    assert first.output_tokens_per_s_after > first.output_tokens_per_s_before
    assert first.binding_layer_after != "site_power"


def test_budget_binds_when_short() -> None:
    s = apply_overrides(load_scenario("h100-virginia"), {"budget.capex_usd": 200_000.0})
    bm = bottleneck_map(s, cascade_steps=1, sensitivity=False)
    assert bm.binding_layer == "capital"


def test_products_follow_the_catalog() -> None:
    assert next_accelerator("h100-sxm", "hbm_capacity") == "h200-sxm"
    assert next_cooling("air") is not None
    assert next_cooling("immersion") is None


def test_cascade_and_sensitivities_in_json() -> None:
    bm = bottleneck_map(load_scenario("h100-virginia"), cascade_steps=3)
    data = json.loads(json.dumps(bm.to_dict()))
    assert data["binding_layer"] in LAYERS
    assert {layer["name"] for layer in data["layers"]} == set(LAYERS)
    assert len(data["cascade"]) == 3
    for step in data["cascade"]:
        assert step["output_tokens_per_s_after"] >= step["output_tokens_per_s_before"] * 0.999
    sens = {(s["input"], s["metric"]): s["elasticity"] for s in data["sensitivities"]}
    # dearer servers raise the cost per token; cheaper electricity never raises it
    assert sens[("node_price", "cost_usd_per_mtok")] > 0
    assert sens[("energy_supply", "cost_usd_per_mtok")] <= 0
    assert sens[("node_price", "output_tokens_per_s")] == 0


def test_bad_relaxations_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="layer"):
        Relaxation(factors={"hbm": 2.0})
    with pytest.raises(InvalidParameterError, match="relaxation of compute"):
        Relaxation(factors={"compute": -1.0})
    with pytest.raises(InvalidParameterError, match="cascade_factor"):
        bottleneck_map(load_scenario(), cascade_factor=0.5)


def test_cli_bottleneck_json_and_errors() -> None:
    proc = run("bottleneck", "h100-virginia", "--steps", "2", "--no-sensitivity", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"binding_layer", "layers", "cascade", "sensitivities"}
    bad = run("bottleneck", "--relax", "hbm=2")
    assert bad.returncode == 2 and "layer: got 'hbm'" in bad.stderr
