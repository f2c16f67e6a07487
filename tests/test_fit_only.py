"""A partial fit (``--fit-only``) moves only the named groups and keeps the rest of the file."""

from __future__ import annotations

import shutil
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from chip2grid.data import data_path
from chip2grid.errors import InvalidParameterError
from chip2grid.perf.calibration import EngineCalibration, HardwareCalibration, calibration_for
from chip2grid.validation import shipped_measurement_files
from chip2grid.validation.cases import VLLM_DEV_MEASUREMENTS, load_cases
from chip2grid.validation.fit import fit, write_calibration
from chip2grid.validation.predict import (
    ENGINE_PARAMS,
    HW_PARAMS,
    catalog_parameters,
    predict,
    prepare,
)
from tests.test_cli import run

CALIBRATION = Path(str(resources.files("chip2grid.catalog").joinpath("calibration.toml")))


@pytest.fixture(scope="module")
def vllm_dev():
    prep = prepare(load_cases(data_path(VLLM_DEV_MEASUREMENTS)))
    assert not prep.skipped
    assert set(prep.engine_keys) == {"vllm-sync"}  # vLLM 0.5.x runs take the vllm-0.5 profile
    return prep


def _log_error(prep, hw, eng, power) -> float:
    """Mean absolute log error of the runs' throughput and (latency runs) end-to-end latency."""
    pred = predict(prep, hw, eng, power)
    errors = [
        np.log(pred[metric][i] / case.metrics[metric])
        for i, case in enumerate(prep.cases)
        for metric in ("output_tokens_per_s", "e2e_latency_s_mean")
        if metric in case.metrics
    ]
    assert len(errors) == len(prep.cases)
    return float(np.abs(errors).mean())


def _engine_start(prep) -> np.ndarray:
    """Engine parameters as an engine without data of its own would start: TensorRT-LLM-like
    overheads, routed experts as fast as a dense GEMM."""
    start = {
        "step_overhead_s": 2e-3,
        "per_sequence_overhead_s": 4e-6,
        "per_layer_overhead_s": 0.0,
        "collective_overhead_s": 0.0,
        "moe_gemm_eff_frac": 1.0,
    }
    return np.tile([start[p] for p in ENGINE_PARAMS], (len(prep.engine_keys), 1))


def test_fit_only_moves_the_named_group_alone(vllm_dev) -> None:
    hw0, _eng, power0 = catalog_parameters(vllm_dev)
    eng_start = _engine_start(vllm_dev)
    mask = np.ones(len(vllm_dev.cases), dtype=bool)
    result = fit(vllm_dev, mask, start=(hw0, eng_start, power0), only=("vllm-sync",))
    np.testing.assert_array_equal(result.hw, hw0)
    np.testing.assert_array_equal(result.power, power0)
    assert not np.allclose(result.engine, eng_start)
    assert result.fitted_on == "vllmdev" and result.engine_counts == {"vllm-sync": 23}
    before = _log_error(vllm_dev, hw0, eng_start, power0)
    after = _log_error(vllm_dev, result.hw, result.engine, result.power)
    assert after < before / 2, (before, after)


def test_fit_only_needs_a_group_with_data(vllm_dev) -> None:
    params = catalog_parameters(vllm_dev)
    mask = np.ones(len(vllm_dev.cases), dtype=bool)
    with pytest.raises(InvalidParameterError, match="fit-only"):
        fit(vllm_dev, mask, start=params, only=("tensorrt-llm",))


def test_partial_write_keeps_every_other_table(vllm_dev, tmp_path) -> None:
    path = tmp_path / "calibration.toml"
    shutil.copy(CALIBRATION, path)
    original = tomllib.loads(path.read_text())
    params = catalog_parameters(vllm_dev)
    mask = np.ones(len(vllm_dev.cases), dtype=bool)
    result = fit(vllm_dev, mask, start=params, only=("vllm-sync",), max_nfev=5)
    write_calibration(result, path, "chip2grid validate --fit --fit-only vllm-sync")
    written = tomllib.loads(path.read_text())
    # a parameter the table predates is written at its prior, the value it was read with
    read_as_hw = {p: getattr(HardwareCalibration(), p) for p in HW_PARAMS}
    assert set(written["hardware"]) == set(original["hardware"])
    for key, entry in original["hardware"].items():
        assert written["hardware"][key] == {**read_as_hw, **entry}
    assert written["power"] == original["power"]
    read_as = {p: getattr(EngineCalibration(), p) for p in ENGINE_PARAMS}
    for key, entry in original["engine"].items():
        if key != "vllm-sync":
            assert written["engine"][key] == {**read_as, **entry}
            # the engine's own table: a family without a [moe.ENGINE.FAMILY] share of its own
            assert {p: written["engine"][key][p] for p in read_as} == {
                p: getattr(calibration_for("default", key).engine, p) for p in read_as
            }
    assert written["moe"] == original["moe"]
    assert "with the other groups held" in written["engine"]["vllm-sync"]["source"]
    # a second partial write replaces its own header line instead of adding one
    write_calibration(result, path, "chip2grid validate --fit --fit-only vllm-sync")
    assert path.read_text().count("# vllm-sync: ") == 1


def test_fit_only_without_fit_is_a_one_line_error() -> None:
    result = run("validate", "--fit-only", "vllm-sync", "--out", "/tmp/chip2grid-fit-only.csv")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "--fit-only" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_fit_only_one_parameter_of_a_group(vllm_dev) -> None:
    hw0, _eng, power0 = catalog_parameters(vllm_dev)
    eng_start = _engine_start(vllm_dev)
    mask = np.ones(len(vllm_dev.cases), dtype=bool)
    result = fit(
        vllm_dev,
        mask,
        start=(hw0, eng_start, power0),
        only=("vllm-sync.per_sequence_overhead_s",),
        max_nfev=20,
    )
    moved = ~np.isclose(result.engine, eng_start, rtol=0.0, atol=0.0)
    # the named parameter alone moves (column 1); the group's other parameters are held
    assert moved[:, 1].all() and not moved[:, [0, 2, 3]].any()
    assert result.engine_counts == {"vllm-sync": 23}
    with pytest.raises(InvalidParameterError, match=r"GROUP\.PARAMETER"):
        fit(vllm_dev, mask, start=(hw0, eng_start, power0), only=("vllm-sync.no_such_param",))


def test_a_full_fit_gives_an_unfitted_family_its_fallback_familys_fit(measurements_path) -> None:
    """B300 runs held out of a fit take the fitted Blackwell values (the fallback family whose
    kernels they run), as they will from the written file, not the cross-family default."""
    cases = [c for f in (measurements_path, *shipped_measurement_files()) for c in load_cases(f)]
    b200 = [c for c in cases if c.accelerator == "b200" and c.source_family == "trtllm"][:12]
    b300 = [c for c in cases if c.accelerator == "b300" and c.mode == "offline"][:2]
    hopper = [c for c in cases if c.accelerator == "h100-sxm" and c.source_family == "trtllm"][:12]
    assert len(b200) == 12 and len(b300) == 2 and len(hopper) == 12
    prep = prepare(b200 + b300 + hopper)
    assert not prep.skipped
    mask = np.array([c.accelerator != "b300" for c in prep.cases])
    result = fit(prep, mask, start=catalog_parameters(prep), max_nfev=3)
    keys = prep.hw_keys
    assert "blackwell-ultra" not in result.hw_counts
    np.testing.assert_array_equal(
        result.hw[keys.index("blackwell-ultra")], result.hw[keys.index("blackwell")]
    )
    assert not np.allclose(result.hw[keys.index("blackwell")], result.hw[keys.index("hopper")])
