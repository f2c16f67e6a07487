"""An engine's MoE share on one hardware family (``[moe.ENGINE.FAMILY]``, ``ENGINE@FAMILY``)."""

from __future__ import annotations

import shutil
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from chip2grid.catalog import load_table
from chip2grid.data import data_path
from chip2grid.errors import CatalogError, InvalidParameterError
from chip2grid.perf import calibration as cal
from chip2grid.perf.calibration import calibration_for, catalog_moe_pair
from chip2grid.validation.cases import VLLM_DEV_MEASUREMENTS, load_cases
from chip2grid.validation.fit import MOE_PARAM, fit, write_calibration
from chip2grid.validation.predict import catalog_parameters, predict, prepare
from tests.test_cli import run

CALIBRATION = Path(str(resources.files("chip2grid.catalog").joinpath("calibration.toml")))
PAIR = "vllm-sync@ampere"


def test_the_shipped_pair_sets_the_engines_share_on_its_family_only() -> None:
    moe = load_table("calibration")["moe"]
    share = float(moe["tensorrt-llm"]["hopper"]["moe_gemm_eff_frac"])
    assert 0 < share < 1
    assert calibration_for("hopper", "tensorrt-llm").engine.moe_gemm_eff_frac == share
    own = float(load_table("calibration")["engine"]["tensorrt-llm"]["moe_gemm_eff_frac"])
    assert share != own
    for family in ("blackwell", "ampere", "ada", "default"):
        assert calibration_for(family, "tensorrt-llm").engine.moe_gemm_eff_frac == own
    # another engine on Hopper keeps its own share
    vllm_own = float(load_table("calibration")["engine"]["vllm-sync"]["moe_gemm_eff_frac"])
    assert calibration_for("hopper", "vllm-sync").engine.moe_gemm_eff_frac == vllm_own


def test_a_pair_applies_to_a_family_that_falls_back_to_its_family(monkeypatch) -> None:
    tables = {
        "hardware.blackwell": {},
        "engine.tensorrt-llm": {},
        "moe.tensorrt-llm.blackwell": {"moe_gemm_eff_frac": 0.5, "source": "test"},
    }
    monkeypatch.setattr(cal, "_tables", lambda: tables)
    monkeypatch.setattr(cal, "_fitted_families", lambda: frozenset({"blackwell"}))
    assert catalog_moe_pair("tensorrt-llm", "blackwell-ultra") == "tensorrt-llm@blackwell"
    assert catalog_moe_pair("tensorrt-llm", "hopper") is None
    assert catalog_moe_pair("vllm", "blackwell") is None


def test_a_malformed_pair_table_names_its_fields(monkeypatch) -> None:
    bad = {"moe": {"tensorrt-llm": {"hopper": {"moe_gemm_eff_frac": 0.5, "step_overhead_s": 1}}}}
    monkeypatch.setattr(cal, "load_table", lambda name: bad)
    cal._tables.cache_clear()
    try:
        with pytest.raises(CatalogError, match=r"moe\.tensorrt-llm\.hopper.*step_overhead_s"):
            cal._tables()
    finally:
        cal._tables.cache_clear()


@pytest.fixture(scope="module")
def vllm_dev_pair():
    prep = prepare(load_cases(data_path(VLLM_DEV_MEASUREMENTS)), moe_pairs=(PAIR,))
    assert not prep.skipped
    assert prep.engine_keys == ["vllm-sync", PAIR]
    # MoE runs on A100 (Mixtral), dense ones on H100
    assert {c.accelerator for c in prep.cases if c.model.startswith("mixtral")} == {"a100-sxm-80gb"}
    return prep


def test_a_pair_row_serves_its_engines_moe_cases_on_its_family(vllm_dev_pair) -> None:
    prep = vllm_dev_pair
    pair_row = prep.engine_keys.index(PAIR)
    assert ((prep.moe_index == pair_row) == prep.is_moe).all()
    assert (prep.engine_index == prep.engine_keys.index("vllm-sync")).all()
    hw, eng, power = catalog_parameters(prep)
    slower = eng.copy()
    slower[pair_row, MOE_PARAM] *= 0.5
    before = predict(prep, hw, eng, power)["output_tokens_per_s"]
    after = predict(prep, hw, slower, power)["output_tokens_per_s"]
    assert (after[prep.is_moe] < before[prep.is_moe]).all()
    np.testing.assert_array_equal(after[~prep.is_moe], before[~prep.is_moe])


def test_a_partial_fit_of_a_pair_moves_its_share_alone_and_writes_its_table(
    vllm_dev_pair, tmp_path
) -> None:
    prep = vllm_dev_pair
    hw0, eng0, power0 = catalog_parameters(prep)
    # from the prior (routed experts as fast as a dense GEMM): the shipped share is the optimum
    eng0[prep.engine_keys.index(PAIR), MOE_PARAM] = 1.0
    start = (hw0, eng0, power0)
    mask = np.ones(len(prep.cases), dtype=bool)
    result = fit(prep, mask, start=start, only=(PAIR,), max_nfev=10)
    moved = ~np.isclose(result.engine, start[1], rtol=0.0, atol=0.0)
    assert moved[prep.engine_keys.index(PAIR), MOE_PARAM]
    assert moved.sum() == 1
    np.testing.assert_array_equal(result.hw, start[0])
    assert result.engine_counts == {PAIR: int(prep.is_moe.sum())}
    path = tmp_path / "calibration.toml"
    shutil.copy(CALIBRATION, path)
    original = tomllib.loads(path.read_text())
    write_calibration(result, path, f"chip2grid validate --fit --fit-only {PAIR}")
    written = tomllib.loads(path.read_text())
    entry = written["moe"]["vllm-sync"]["ampere"]
    assert entry["moe_gemm_eff_frac"] == pytest.approx(
        result.engine[prep.engine_keys.index(PAIR), MOE_PARAM], rel=1e-5
    )
    assert f"{int(prep.is_moe.sum())} MoE cases" in entry["source"]
    assert written["engine"] == original["engine"]
    assert written["hardware"] == original["hardware"]
    assert written["moe"]["tensorrt-llm"] == original["moe"]["tensorrt-llm"]


def test_a_full_fit_fits_the_pair_and_holds_the_engines_share(vllm_dev_pair, tmp_path) -> None:
    prep = vllm_dev_pair
    start = catalog_parameters(prep)
    mask = np.ones(len(prep.cases), dtype=bool)
    result = fit(prep, mask, start=start, max_nfev=5)
    own = prep.engine_keys.index("vllm-sync")
    # every MoE case is the pair's: the engine's own share has none to fit and is held
    assert result.engine[own, MOE_PARAM] == start[1][own, MOE_PARAM]
    assert result.engine_moe_counts == {PAIR: int(prep.is_moe.sum())}
    path = tmp_path / "calibration.toml"
    shutil.copy(CALIBRATION, path)
    write_calibration(result, path, "chip2grid validate --fit")
    written = tomllib.loads(path.read_text())
    assert PAIR not in written["engine"]
    assert written["moe"]["vllm-sync"]["ampere"]["moe_gemm_eff_frac"] == pytest.approx(
        result.engine[prep.engine_keys.index(PAIR), MOE_PARAM], rel=1e-5
    )
    # a pair the fit had no data for is kept with its provenance
    original = tomllib.loads(CALIBRATION.read_text())
    assert written["moe"]["tensorrt-llm"] == original["moe"]["tensorrt-llm"]


def test_a_pair_key_with_another_parameter_is_an_error(vllm_dev_pair) -> None:
    start = catalog_parameters(vllm_dev_pair)
    mask = np.ones(len(vllm_dev_pair.cases), dtype=bool)
    with pytest.raises(InvalidParameterError, match="MoE share only"):
        fit(vllm_dev_pair, mask, start=start, only=(f"{PAIR}.step_overhead_s",))


def test_a_pair_without_moe_cases_in_the_fit_set_is_a_one_line_error(tmp_path) -> None:
    result = run(
        "validate", "--fit", "--fit-only", "tensorrt-llm@cdna3", "--out", str(tmp_path / "v.csv")
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "tensorrt-llm@cdna3" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_moe_estimate_on_the_pairs_family_says_which_share_it_used() -> None:
    from chip2grid import Load, Workload, estimate, get_accelerator
    from chip2grid.llm import get_model
    from tests.test_perf import dep

    work = Workload(input_tokens=1024, output_tokens=256)
    mixtral = get_model("mixtral-8x7b")
    hopper = estimate(dep(model=mixtral, num_accelerators=1, tp=1), work, Load())
    assert calibration_for("hopper", "tensorrt-llm").moe_key == "tensorrt-llm@hopper"
    (note,) = [n for n in hopper.notes if "MoE share on hopper" in n]
    share = load_table("calibration")["moe"]["tensorrt-llm"]["hopper"]["moe_gemm_eff_frac"]
    assert f"{share:.2f} of the dense" in note and "moe.tensorrt-llm.hopper" in note
    b200 = dep(model=mixtral, accelerator=get_accelerator("b200"), num_accelerators=1, tp=1)
    assert not [n for n in estimate(b200, work, Load()).notes if "MoE share" in n]
    dense = estimate(dep(num_accelerators=1, tp=1), work, Load())
    assert not [n for n in dense.notes if "MoE share" in n]
