"""The mean acceptance length an engine reports, as an input beside the per-token rate."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chip2grid import InvalidParameterError, acceptance_rate_for_length
from chip2grid.cli.app import app
from chip2grid.perf import expected_tokens_per_step
from chip2grid.scenario import ScenarioError, evaluate, load_scenario, scenario_from_dict

ARGS = [
    "estimate",
    "--model",
    "llama-3.1-8b",
    "--accelerator",
    "h100-sxm",
    "--num-accelerators",
    "1",
    "--input-tokens",
    "512",
    "--output-tokens",
    "256",
    "--concurrency",
    "1",
    "--speculative",
    "mtp",
    "--num-speculative-tokens",
    "3",
    "--json",
]


@pytest.mark.parametrize("k", [1, 2, 3, 5, 16])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.62, 0.85, 0.99])
def test_the_length_inverts_the_expected_tokens_per_step(k: int, rate: float) -> None:
    length = expected_tokens_per_step(rate, k)
    assert acceptance_rate_for_length(length, k) == pytest.approx(rate, abs=1e-9)


def test_the_ends_of_the_range() -> None:
    assert acceptance_rate_for_length(1.0, 3) == pytest.approx(0.0, abs=1e-12)
    assert acceptance_rate_for_length(4.0, 3) == 1.0
    # Leviathan et al.'s eq. 1 at k = 1: E = 1 + a, so a length of 1.85 is a rate of 0.85
    assert acceptance_rate_for_length(1.85, 1) == pytest.approx(0.85)


@pytest.mark.parametrize("length", [0.9, 4.01, 7.0])
def test_a_length_outside_one_to_k_plus_one_names_the_range(length: float) -> None:
    with pytest.raises(InvalidParameterError) as info:
        acceptance_rate_for_length(length, 3)
    message = str(info.value)
    assert "acceptance-length" in message and "1 to 4" in message and str(length) in message


def test_the_cli_takes_a_length_and_gives_the_rate_it_stands_for() -> None:
    by_length = CliRunner().invoke(app, [*ARGS, "--acceptance-length", "2.6"])
    assert by_length.exit_code == 0, by_length.output
    rate = acceptance_rate_for_length(2.6, 3)
    by_rate = CliRunner().invoke(app, [*ARGS, "--acceptance-rate", str(rate)])
    got, want = json.loads(by_length.output), json.loads(by_rate.output)
    assert got["speculative_tokens_per_step"] == pytest.approx(2.6)
    assert got["tpot_s_mean"] == pytest.approx(want["tpot_s_mean"], rel=1e-9)
    plain = json.loads(CliRunner().invoke(app, ARGS).output)
    assert plain["speculative_tokens_per_step"] == pytest.approx(expected_tokens_per_step(0.7, 3))


def test_the_cli_refuses_both_a_rate_and_a_length() -> None:
    both = CliRunner().invoke(app, [*ARGS, "--acceptance-rate", "0.6", "--acceptance-length", "2"])
    assert isinstance(both.exception, InvalidParameterError)
    assert "not both" in str(both.exception)
    over = CliRunner().invoke(app, [*ARGS, "--acceptance-length", "4.5"])
    assert isinstance(over.exception, InvalidParameterError)
    assert "1 to 4" in str(over.exception)


def _scenario(speculative: dict[str, object]) -> dict[str, object]:
    data = load_scenario("default").model_dump()
    data["serving"]["speculative"] = speculative
    return data


def test_a_scenario_takes_a_length() -> None:
    spec = {"method": "mtp", "num_speculative_tokens": 2, "acceptance_length": 2.2}
    scenario = scenario_from_dict(_scenario(spec))
    assert scenario.serving.speculative is not None
    rate = scenario.serving.speculative.resolved_acceptance_rate
    assert expected_tokens_per_step(rate, 2) == pytest.approx(2.2)
    result = evaluate(scenario)
    assert result.capacity.speculative_tokens_per_step == pytest.approx(2.2)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            {"method": "mtp", "acceptance_rate": 0.8, "acceptance_length": 1.5},
            "not both",
        ),
        ({"method": "mtp", "num_speculative_tokens": 2, "acceptance_length": 3.5}, "3.5"),
        ({"method": "mtp", "acceptance_length": 0.5}, "acceptance_length"),
    ],
)
def test_a_scenario_with_a_bad_length_names_the_field(spec: dict[str, object], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(_scenario(spec))
    message = str(info.value)
    assert message.startswith("serving.speculative"), message
    assert words in message
