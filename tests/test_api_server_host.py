"""vLLM before 0.5.4 ran its HTTP API server in the engine's process: a served deployment's
host time per running sequence is the engine's own plus the server's (engine profile
``vllm-0.4-server``)."""

from __future__ import annotations

import dataclasses

import pytest

import chip2grid as c2g
from chip2grid.errors import CatalogError
from chip2grid.perf.calibration import calibration_for
from chip2grid.perf.engine import EngineProfile, get_engine
from chip2grid.perf.step import StepBatch, rank_shape, step_time
from chip2grid.perf.timer import StepTimer
from chip2grid.validation import load_cases
from chip2grid.validation.cases import VLLM_BLOG_MEASUREMENTS, Case, _patch_version, data_path


def deployment(engine: str) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="bf16",
        engine=engine,
    )


def test_the_server_profile_adds_the_profiled_share_of_host_work() -> None:
    served, direct = get_engine("vllm-0.4-server"), get_engine("vllm-0.5")
    assert served.calibration == direct.calibration == "vllm-sync"
    # the vLLM team's v0.5.3 profile: API server 33 %, the engine's scheduling 29 %
    assert served.host_work_factor == pytest.approx(1.0 + 0.33 / 0.29)
    assert direct.host_work_factor == 1.0
    assert get_engine("vllm-0.5.3-server") == served


def test_bad_shares_name_the_fields() -> None:
    base = get_engine("vllm-0.5")
    with pytest.raises(
        CatalogError, match=r"api_server_time_share 0\.3 and engine_host_time_share"
    ):
        dataclasses.replace(base, api_server_time_share=0.3, engine_host_time_share=0.0)
    with pytest.raises(CatalogError, match=r"\[0, 1\)"):
        EngineProfile(**{**_fields(base), "api_server_time_share": 1.5})


def _fields(p: EngineProfile) -> dict[str, object]:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


def test_the_server_lengthens_each_step_by_its_share_per_sequence() -> None:
    cal = calibration_for("hopper", "vllm-sync")
    per_seq = cal.engine.per_sequence_overhead_s
    assert per_seq > 0.0
    batch = StepBatch(decode_seqs=128.0, decode_context=600.0)
    served = step_time(rank_shape(deployment("vllm-0.4-server"), cal), batch)
    direct = step_time(rank_shape(deployment("vllm-0.5"), cal), batch)
    extra = float(served.total_s - direct.total_s)
    assert extra == pytest.approx(128.0 * per_seq * 0.33 / 0.29, rel=1e-9)
    assert float(served.overhead_s - direct.overhead_s) == pytest.approx(extra, rel=1e-9)


@pytest.mark.parametrize("engine", ["vllm-0.4-server", "vllm-0.5"])
def test_the_simulator_timer_charges_the_same_host_time(engine: str) -> None:
    shape = rank_shape(deployment(engine), calibration_for("hopper", "vllm-sync"))
    timer = StepTimer(shape, max_tokens=8192 + 256, max_seqs=256)
    for seqs in (1.0, 64.0, 200.0):
        expected = float(
            step_time(shape, StepBatch(decode_seqs=seqs, decode_context=512.0)).total_s
        )
        assert timer.total_s(0.0, 0.0, 0.0, seqs, 512.0) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5.3", (0, 5, 3)),
        ("0.5.4", (0, 5, 4)),
        ("0.4.0.post1 (main branch @ 2024-04-11)", (0, 4, 0)),
        ("0.5.x (main branch @ 2024-08-05, before 0.6.0)", (0, 5, 0)),
        ("0.4.3+rocm614", (0, 4, 3)),
        ("0.6.5.dev964+mlperf50", (0, 6, 5)),
    ],
)
def test_patch_versions(text: str, expected: tuple[int, int, int]) -> None:
    assert _patch_version(text) == expected


def _case(version: str, api_server: bool) -> Case:
    return Case(
        case_id="x",
        source_family="x",
        source="s",
        model="llama-3-8b",
        accelerator="h100-sxm",
        num_accelerators=1,
        engine="vllm",
        engine_version=version,
        weight_precision="bf16",
        kv_precision="bf16",
        activation_precision="auto",
        tp=1,
        pp=1,
        ep=1,
        input_tokens=200.0,
        output_tokens=180.0,
        input_tokens_assumed=False,
        beam_width=1,
        max_batch_size=0,
        power_limit_w=0.0,
        dataset="",
        mode="offline",
        request_rate_per_s=0.0,
        batch_size=0,
        concurrency=0.0,
        metrics={},
        api_server=api_server,
    )


@pytest.mark.parametrize(
    ("version", "api_server", "profile"),
    [
        ("0.5.3", True, "vllm-0.4-server"),
        ("0.4.3+rocm614", True, "vllm-0.4-server"),
        ("0.5.3", False, "vllm-0.5"),  # the engine driven directly
        ("0.5.4", True, "vllm-0.5"),  # 0.5.4 moved the server to a process of its own
        ("0.6.0", True, "vllm"),
    ],
)
def test_validation_routes_runs_by_version_and_server(
    version: str, api_server: bool, profile: str
) -> None:
    assert _case(version, api_server).engine_profile == profile


def test_the_stated_server_runs() -> None:
    cases = {c.case_id: c for c in load_cases(data_path(VLLM_BLOG_MEASUREMENTS))}
    old = [c for c in cases.values() if c.engine_version == "0.5.3"]
    assert len(old) == 2
    assert all(c.api_server and c.engine_profile == "vllm-0.4-server" for c in old)
    assert not any(c.api_server for c in cases.values() if c.engine_version != "0.5.3")
