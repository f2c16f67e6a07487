"""A scenario's site year by year: build-out, accelerators powered and stranded, tok/s per MW."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chip2grid.errors import InvalidParameterError
from chip2grid.scenario import (
    ScenarioError,
    evaluate,
    load_scenario,
    scenario_from_dict,
    site_buildout,
)
from tests.test_cli import run

PHASES = [
    {"year": 2026, "power_w": 5e6},
    {"year": 2027, "power_w": 12e6},
    {"year": 2029, "power_w": 20e6},
]


def _scenario(**site: object):  # type: ignore[no-untyped-def]
    data = load_scenario("default").model_dump()
    data["site"].update(site)
    return scenario_from_dict(data)


def test_each_phase_powers_more_and_strands_what_power_cannot_feed() -> None:
    s = _scenario(power_cap_w=20e6, buildout=PHASES)
    result = evaluate(s, simulate=False)
    rows = site_buildout(s, result.capacity, result.cost_at_capacity, 10_000)
    assert [r.year for r in rows] == [2026, 2027, 2029]
    powered = [r.num_accelerators_powered for r in rows]
    assert powered == sorted(powered) and powered[0] > 0
    per_node = result.cost_at_capacity.platform.accelerators_per_node
    node_w = rows[0].it_power_w / (powered[0] / per_node)
    for r in rows:
        assert r.it_power_w <= r.critical_it_power_w
        assert r.critical_it_power_w - r.it_power_w < node_w  # no room left for one more server
        assert r.num_accelerators_stranded == max(0, 10_000 - r.num_accelerators_powered)
        assert r.facility_power_w > r.it_power_w  # PUE > 1
        per_acc = result.capacity.output_tokens_per_s / result.capacity.num_accelerators
        assert r.output_tokens_per_s == pytest.approx(per_acc * r.num_accelerators_powered)
    assert rows[0].num_accelerators_stranded > 0 and rows[-1].num_accelerators_stranded == 0
    area = [r.floor_area_m2 for r in rows]  # floor space follows the racks
    assert area == sorted(area) and all(r.floor_area_m2 > 0 for r in rows)
    for r in rows:
        assert r.floor_area_m2 == pytest.approx(area[0] / rows[0].num_racks * r.num_racks)
        assert r.stranded_rack_power_w >= 0


def test_without_phases_the_whole_site_is_one_row() -> None:
    s = _scenario(power_cap_w=2e6)
    result = evaluate(s, simulate=False)
    (row,) = site_buildout(s, result.capacity, result.cost_at_capacity)
    assert row.year is None and row.critical_it_power_w == 2e6
    assert row.num_accelerators_wanted == result.capacity.num_accelerators


def test_a_site_without_power_is_a_field_error() -> None:
    s = load_scenario("default")
    result = evaluate(s, simulate=False)
    with pytest.raises(InvalidParameterError, match=r"site\.power_cap_w"):
        site_buildout(s, result.capacity, result.cost_at_capacity)


@pytest.mark.parametrize(
    ("phases", "needle"),
    [
        ([{"year": 2027, "power_w": 5e6}, {"year": 2026, "power_w": 6e6}], "years must increase"),
        ([{"year": 2026, "power_w": 5e6}, {"year": 2027, "power_w": 4e6}], "must not fall"),
        ([{"year": 2026, "power_w": 50e6}], "exceeds power_cap_w"),
        ([{"year": 2026, "power_w": -1}], "site.buildout"),
    ],
)
def test_bad_buildouts_name_the_field(phases: list[dict[str, float]], needle: str) -> None:
    with pytest.raises(ScenarioError, match=needle) as info:
        _scenario(power_cap_w=20e6, buildout=phases)
    assert str(info.value).startswith("site")


def test_site_command_json_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "extends: default\nsite:\n  power_cap_w: 20000000\n  buildout:\n"
        "    - {year: 2026, power_w: 5000000}\n    - {year: 2028, power_w: 20000000}\n"
    )
    proc = run("site", str(path), "--accelerators", "10000", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [y["year"] for y in data["years"]] == [2026, 2028]
    assert data["years"][0]["num_accelerators_stranded"] > 0
    assert data["years"][0]["output_tokens_per_s_per_mw"] > 0
    proc = run("site")
    assert proc.returncode == 2 and "site.power_cap_w" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("site", "--power-mw", "0.005")
    assert proc.returncode == 2 and "smaller than one server" in proc.stderr
