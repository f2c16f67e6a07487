"""``chip2grid simulate`` through its real entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.test_cli import run

CONV = SHARED / "traces" / "AzureLLMInferenceTrace_conv.csv"

ISSUE_FORM = [
    "simulate",
    "--model",
    "llama-3.1-70b",
    "--accelerator",
    "h100-sxm",
    "--num-accelerators",
    "8",
    "--tp",
    "8",
    "--weight-precision",
    "fp8",
    "--kv-precision",
    "fp8",
]
REQUIRED = {
    "num_requests",
    "output_tokens_per_s",
    "requests_per_s",
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "num_preemptions",
    "kv_cache_peak_frac",
    "energy_j_per_output_token",
    "simulated_duration_s",
}


@pytest.mark.skipif(not CONV.exists(), reason="shared traces not present")
def test_issue_form_on_the_azure_conversation_trace() -> None:
    proc = run(*ISSUE_FORM, "--trace", str(CONV), "--seed", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= REQUIRED
    assert data["num_requests"] == 19_366
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        assert set(data[key]) == {"p50", "p90", "p99", "mean"}
        assert 0 < data[key]["p50"] <= data[key]["p90"] <= data[key]["p99"]
    # 58 minutes of arrivals; the engine keeps up, so the run lasts about as long
    assert 3400 < data["simulated_duration_s"] < 3700
    assert 0 < data["energy_j_per_output_token"] < 20


def test_synthetic_load_table_and_exports(tmp_path: Path) -> None:
    req = tmp_path / "requests.csv"
    steps = tmp_path / "steps.json"
    proc = run(
        *ISSUE_FORM,
        "--num-requests",
        "300",
        "--request-rate",
        "3",
        "--export-requests",
        str(req),
        "--export-steps",
        str(steps),
    )
    assert proc.returncode == 0, proc.stderr
    assert "TTFT p50/p90/p99" in proc.stdout and "goodput" in proc.stdout
    with req.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 and float(rows[0]["ttft_s"]) > 0
    events = json.loads(steps.read_text())["traceEvents"]
    assert any(e["ph"] == "X" for e in events)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_step_by_step_agrees_with_the_event_jump() -> None:
    args = [*ISSUE_FORM, "--num-requests", "120", "--request-rate", "6", "--json"]
    fast = json.loads(run(*args).stdout)
    slow = json.loads(run(*args, "--step-by-step").stdout)
    assert fast["num_steps"] == slow["num_steps"]
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        for q in ("p50", "p99", "mean"):
            assert fast[key][q] == pytest.approx(slow[key][q], rel=1e-3)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6,374\n", "GeneratedTokens"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6,-5,44\n", ":2"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6,abc,44\n", ":2"),
    ],
)
def test_malformed_trace_names_file_and_line(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    proc = run(*ISSUE_FORM, "--trace", str(bad))
    assert proc.returncode == 2
    assert "bad.csv" in proc.stderr and needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--request-rate", "0"], "--request-rate"),
        (["--block-size", "0"], "block_size"),
        (["--gpu-memory-utilization", "2"], "gpu_memory_utilization"),
        (["--kv-reservation", "sometimes"], "kv_reservation"),
        (["--ttft-slo", "-1"], "--ttft-slo"),
        (["--router", "random"], "router"),
        (["--preemption-mode", "pause"], "preemption_mode"),
        (["--archetype", "chatbot"], "--archetype"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], needle: str) -> None:
    proc = run(*ISSUE_FORM, "--num-requests", "10", *args)
    assert proc.returncode == 2, proc.stdout
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_agent_sessions_with_prefix_caching_behind_a_router(tmp_path: Path) -> None:
    req = tmp_path / "requests.csv"
    args = [
        "simulate",
        "--model",
        "llama-3.1-8b",
        "--accelerator",
        "h100-sxm",
        "--num-accelerators",
        "2",
        "--tp",
        "1",
        "--archetype",
        "agent",
        "--num-requests",
        "200",
        "--request-rate",
        "6",
        "--input-tokens",
        "300",
        "--output-tokens",
        "100",
        "--router",
        "prefix-aware",
        "--preemption-mode",
        "swap",
        "--export-requests",
        str(req),
    ]
    on = json.loads(run(*args, "--enable-prefix-caching", "--json").stdout)
    off = json.loads(run(*args, "--json").stdout)
    assert on["router"] == "prefix-aware" and on["num_replicas"] == 2
    assert on["engine_config"]["enable_prefix_caching"] is True
    assert on["engine_config"]["preemption_mode"] == "swap"
    assert on["prefix_cache_hit_frac"] > 0.5 and off["prefix_cache_hit_frac"] == 0.0
    assert on["ttft_s"]["mean"] < off["ttft_s"]["mean"]
    assert {"num_swaps", "swap_transfer_s", "num_cached_tokens"} <= set(on)
    with req.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["trace_request"]) for r in rows) == list(range(200))
    table = run(*args, "--enable-prefix-caching").stdout
    assert "prefix cache" in table and "router prefix-aware" in table


def test_disaggregated_pools_from_the_command_line() -> None:
    proc = run(
        "simulate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
        "--num-requests", "200", "--request-rate", "8", "--input-tokens", "2048",
        "--output-tokens", "64", "--prefill-replicas", "1", "--decode-replicas", "2", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "disaggregated"
    assert (data["num_prefill_replicas"], data["num_decode_replicas"]) == (1, 2)
    assert data["num_requests"] == 200 and data["num_rejected"] == 0
    assert data["kv_transfer_s"]["p50"] > 0
    assert data["ttft_s"]["p50"] >= data["kv_transfer_s"]["p50"]


def test_autoscaled_replicas_from_the_command_line() -> None:
    proc = run(
        "simulate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
        "--num-accelerators", "1", "--tp", "1", "--num-requests", "1500", "--request-rate", "20",
        "--autoscale-target", "16", "--max-replicas", "4", "--scale-up-delay", "30", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert 1 <= data["max_replicas_at_once"] <= 4
    assert data["replica_seconds"] > 0 and data["autoscale"]["target"] == 16


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--prefill-replicas", "1"], "--prefill-replicas/--decode-replicas"),
        (["--prefill-replicas", "1", "--decode-replicas", "1", "--autoscale-target", "8"],
         "--autoscale-target"),
        (["--autoscale-target", "8", "--export-steps", "/tmp/x.json"], "--export-steps"),
        (["--prefill-replicas", "1", "--decode-replicas", "1", "--prefill-tp", "0"],
         "--prefill-tp"),
    ],
)  # fmt: skip
def test_cluster_option_errors_name_the_option(args: list[str], field: str) -> None:
    proc = run("simulate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", *args)
    assert proc.returncode == 2, proc.stderr
    assert field in proc.stderr and "Traceback" not in proc.stderr


def test_simulate_takes_the_board_wiring_and_the_all_reduce() -> None:
    args = [
        "simulate", "--model", "llama-2-70b", "--accelerator", "h100-sxm",
        "--num-accelerators", "4", "--tp", "2", "--pp", "1", "--ep", "1",
        "--num-requests", "40", "--request-rate", "2",
        "--input-tokens", "1000", "--output-tokens", "100", "--json",
    ]  # fmt: skip
    switch = json.loads(run(*args).stdout)
    board = json.loads(
        run(*args, "--scale-up-domain-size", "4", "--scale-up-topology", "full_mesh").stdout
    )
    # a TP 2 pair on a 4-GPU HGX board reaches 6 of its 18 NVLinks: slower prefills
    assert board["ttft_s"]["mean"] > switch["ttft_s"]["mean"]
    bad = run(*args, "--allreduce-quantization", "int9")
    assert bad.returncode != 0
    assert "allreduce_quantization: got 'int9'; allowed: none, int8, int6, int4" in bad.stderr
