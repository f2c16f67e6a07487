"""chip2grid profile on the CPU with tiny shapes: file, provenance, efficiencies, reuse, warnings."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from chip2grid.errors import ExtrapolationWarning, InvalidParameterError, UnknownEntryError
from chip2grid.perf.calibration import (
    CALIBRATION_ENV_VAR,
    calibration_for,
    catalog_calibration_for,
    load_calibration_file,
)

torch = pytest.importorskip("torch")

from chip2grid.profile import ProfileOptions, ProfileResult, run_profile  # noqa: E402
from chip2grid.profile.writer import write_atomic  # noqa: E402


@pytest.fixture(scope="module")
def profile() -> ProfileResult:
    return run_profile(ProfileOptions(device="cpu", quick=True, repeats=3))


def test_profile_writes_a_reloadable_file(profile: ProfileResult, tmp_path: Path) -> None:
    path = profile.write(tmp_path / "sub" / "cpu.toml")
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    data = tomllib.loads(path.read_text())
    prov = data["provenance"]
    for key in ("device", "driver", "cuda", "torch", "chip2grid", "created_utc", "family"):
        assert prov[key] != "" or key == "accelerator"
    assert prov["device"] == "cpu" and prov["family"] == "cpu"
    assert prov["created_utc"].endswith("Z")
    assert "hostname" not in str(data).lower()
    for name in ("gemm_compute_eff", "attention_compute_eff", "memory_eff"):
        assert 0 < data["hardware"][name] <= 1, name
    assert data["hardware"]["gemm_m_half_tokens"] > 0
    gemm = data["measurements"]["gemm"]
    assert len(gemm["rows"]) == len(profile.gemm) > 0
    assert {row[2] for row in gemm["rows"]} == {"fp32", "bf16"}
    assert data["coverage"]["gemm_m_max_tokens"] == max(s.m for s in profile.gemm)
    user = load_calibration_file(path)
    cal = calibration_for("cpu", "tensorrt-llm", override=path)
    assert cal.label == f"{user.label} (cpu/tensorrt-llm)"
    assert user.label.startswith("profile:cpu@")
    assert cal.hardware.memory_eff == pytest.approx(data["hardware"]["memory_eff"])


def test_extrapolation_warning(profile: ProfileResult, tmp_path: Path) -> None:
    path = profile.write(tmp_path / "cpu.toml")
    cal = calibration_for("cpu", "vllm", override=path)
    cal.check_coverage(gemm_m_tokens=[1, 8], context_tokens=100.0)  # inside: silent
    with pytest.warns(ExtrapolationWarning, match="GEMM m"):
        cal.check_coverage(gemm_m_tokens=8192)
    with pytest.warns(ExtrapolationWarning, match="context"):
        cal.check_coverage(context_tokens=[10, 100_000])
    catalog_calibration_for("hopper", "vllm").check_coverage(gemm_m_tokens=1e9)  # no coverage


def test_environment_variable_and_defaults(
    profile: ProfileResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profile.write(tmp_path / "cpu.toml")
    monkeypatch.setenv(CALIBRATION_ENV_VAR, str(path))
    assert calibration_for("cpu", "vllm").origin.startswith("profile:cpu@")
    # another family keeps the catalog numbers
    assert calibration_for("hopper", "vllm") == catalog_calibration_for("hopper", "vllm")
    monkeypatch.setenv(CALIBRATION_ENV_VAR, str(tmp_path / "missing.toml"))
    with pytest.raises(Exception, match="does not exist"):
        calibration_for("cpu", "vllm")


def test_malformed_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[provenance]\nkind = "profile"\nfamily = "cpu"\ncreated_utc = "2026-01-01T00:00:00Z"\n'
        "[hardware]\nmemory_eff = 1.5\n"
    )
    with pytest.raises(Exception, match="memory_eff"):
        load_calibration_file(path)
    path.write_text(path.read_text().replace("memory_eff = 1.5", "gemm_speed = 1.0"))
    with pytest.raises(Exception, match="gemm_speed"):
        load_calibration_file(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "f.toml", "old\n")

    with pytest.raises(TypeError):
        write_atomic(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


def test_bad_options_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="--device"):
        ProfileOptions(device="gpu")
    with pytest.raises(InvalidParameterError, match="--accelerator"):
        ProfileOptions(device="cpu", accelerator="h100-sxm")
    with pytest.raises(InvalidParameterError, match="--precisions"):
        ProfileOptions(device="cpu", precisions=("int3",))
    with pytest.raises(UnknownEntryError):
        ProfileOptions(models=("not-a-model",))
    with pytest.raises(InvalidParameterError, match="--precisions"):
        run_profile(ProfileOptions(device="cpu", quick=True, precisions=("fp8",)))
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="--device"):
            run_profile(ProfileOptions(device="cuda", quick=True))


@pytest.mark.slow
def test_cli_without_torch_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.argv = ['chip2grid', 'profile', "
        "'--device', 'cpu', '--quick', '--output', '/tmp/never.toml']\n"
        "from chip2grid.cli import main; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        'error: chip2grid profile needs PyTorch: pip install "chip2grid[profile]"'
    ]


def test_predictions_warn_outside_the_profiled_shapes(
    profile: ProfileResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chip2grid as c2g

    path = profile.write(tmp_path / "cpu.toml")
    text = path.read_text().replace('family = "cpu"', 'family = "hopper"')
    hopper = tmp_path / "hopper.toml"
    hopper.write_text(text)
    monkeypatch.setenv(CALIBRATION_ENV_VAR, str(hopper))
    dep = c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
    )
    with pytest.warns(ExtrapolationWarning, match="extrapolates"):
        est = c2g.estimate(dep, c2g.Workload(input_tokens=4096, output_tokens=512))
    assert "profile:" in est.calibration
