"""SemiAnalysis InferenceX's DeepSeek-R1 runs chip2grid ships, as held-out validation cases."""

from __future__ import annotations

import csv

from chip2grid.perf import get_engine
from chip2grid.validation import load_cases, run_validation
from chip2grid.validation.cases import INFERENCEX_MEASUREMENTS, data_path
from chip2grid.validation.report import DEFAULT_HOLDOUT
from tests.repo_scripts import load_script

SCRIPT = "scripts/inferencex_extract.py"

# holdout MAPE of the shipped calibration on these runs (no fit has seen SGLang, nor DeepSeek-R1
# outside two TensorRT-LLM tables); set from what chip2grid reaches on 2026-11-24 (throughput
# 37.1 %, TPOT 29.1 %, TTFT 63.5 %, no latency unbounded) so that it cannot silently get worse;
# 33.5 %, 26.8 %, 63.5 % since the Blackwell refit with the pipeline's last stage and the 16-bit
# output projection (2026-11-24). Throughput tightened to 0.29 once the six runs with the client's
# tokenizer mismatch were left out (28.6 %). The medians (every run's record holds them, so
# 305 cases against 91 means) were added at what the wave model reaches: TPOT 27.9 %, TTFT
# 234 % (too long at high concurrency, where the measured loop has fallen out of step; the
# README's validation limitations). 2026-11-25: TTFT 0.64 -> 0.63 and median TTFT 2.34 -> 2.0 once
# full meshes and the MI355X runs' INT4 all-reduce were costed (62.2 %, 197 %); then TTFT 0.62
# and median TTFT 1.97 with NVSwitch's in-switch all-reduce (61.9 %, 195.9 %)
INFERENCEX_MAX = {
    "throughput": 0.29,
    "tpot": 0.27,
    "ttft": 0.62,
    "tpot_median": 0.28,
    "ttft_median": 1.97,
}


def _script():  # type: ignore[no-untyped-def]
    return load_script(SCRIPT)


def test_every_row_names_its_capture_and_run() -> None:
    with data_path(INFERENCEX_MEASUREMENTS).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 400
    for row in rows:
        assert row["source"].startswith("github:SemiAnalysisAI/InferenceX-app/packages/"), row
        assert "@528c4146b8f502fcbce8df7870a935a970cbae25" in row["source"]
        assert "github.com/SemiAnalysisAI/InferenceX/actions/runs/" in row["notes"]
        assert float(row["value"]) > 0
    cases = load_cases(data_path(INFERENCEX_MEASUREMENTS))
    assert {c.source_family for c in cases} == {"inferencex"}
    assert {c.engine_profile for c in cases} == {"sglang", "tensorrt-llm-pytorch"}
    # SGLang runs a step as a prefill batch or a decode batch (enable_mixed_chunk is off by
    # default and no InferenceX DeepSeek-R1 launch script turns it on)
    assert not get_engine("sglang").mixed_batching
    # one node: the GPUs are the TP ranks, and the client keeps conc requests in flight
    assert all(c.num_accelerators == c.tp and c.mode == "concurrency" for c in cases)


def test_the_extractor_keeps_what_chip2grid_expresses_with_the_clients_mean_lengths() -> None:
    ix = _script()
    assert ix.mean_length(1024) == (819 + 1024) / 2
    assert ix.mean_length(8192) == (6553 + 8192) / 2
    record = {
        "hardware": "b200", "framework": "sglang", "model": "dsr1", "precision": "fp4",
        "spec_method": "none", "disagg": False, "is_multinode": False,
        "decode_dp_attention": False, "prefill_dp_attention": False, "decode_tp": 4,
        "decode_ep": 4, "isl": 1024, "osl": 8192, "conc": 64, "date": "2026-03-01",
        "image": "lmsysorg/sglang:v0.5.9", "run_url": "https://github.com/SemiAnalysisAI/"
        "InferenceX/actions/runs/123/attempts/1",
        "metrics": {"output_tput_per_gpu": 500.0, "mean_ttft": 0.5, "mean_tpot": 0.02},
    }  # fmt: skip
    assert ix.left_out_reason(record) is None
    rows = ix.rows_of(record, "benchmarks.json", "c" * 40)
    assert [r["metric"] for r in rows] == ["output_tokens_per_s", "ttft_s_mean", "tpot_s_mean"]
    assert rows[0]["value"] == "2000"  # per GPU times the four TP ranks
    assert rows[0]["num_accelerators"] == 4 and rows[0]["osl"] == (6553 + 8192) / 2
    for change, reason in (
        ({"spec_method": "mtp"}, "speculative"),
        ({"decode_dp_attention": True}, "attention data parallelism"),
        ({"disagg": True}, "disaggregated"),
        ({"date": "2026-01-20"}, "before"),
        ({"framework": "atom"}, "framework"),
    ):
        assert reason in ix.left_out_reason(record | change)
    history = record | {"metrics": {"output_tput_per_gpu": 500.0, "median_ttft": 0.4}}
    assert [r["metric"] for r in ix.rows_of(history, "h.json", "c" * 40)] == [
        "output_tokens_per_s",
        "ttft_s_median",
    ]


def test_runs_with_the_documented_client_tokenizer_mismatch_are_left_out() -> None:
    ix = _script()
    run = "https://github.com/SemiAnalysisAI/InferenceX/actions/runs/{}/attempts/1"
    record = {
        "hardware": "h200", "framework": "sglang", "model": "dsr1", "precision": "fp8",
        "spec_method": "none", "disagg": False, "is_multinode": False,
        "decode_dp_attention": False, "prefill_dp_attention": False, "decode_tp": 8,
        "decode_ep": 1, "isl": 8192, "osl": 1024, "conc": 64, "date": "2026-05-13",
        "run_url": run.format("25763415816"), "metrics": {"output_tput_per_gpu": 31.5},
    }  # fmt: skip
    assert ix.left_out_reason(record) == "client/server tokenizer mismatch"
    # the same benchmark on other runs at five times the throughput flags it for review
    others = [
        record | {"run_url": run.format(n), "metrics": {"output_tput_per_gpu": 150.0 + n}}
        for n in (1, 2, 3)
    ]
    assert ix.suspect_runs([record, *others]) == {"25763415816": 0.21}
    assert ix.suspect_runs(others) == {}
    # no row of a listed run is shipped
    with data_path(INFERENCEX_MEASUREMENTS).open(newline="", encoding="utf-8") as handle:
        shipped = {
            row["case_id"].rsplit("-r", 1)[1].split("a")[0] for row in csv.DictReader(handle)
        }
    assert shipped and not shipped & set(ix.TOKENIZER_MISMATCH_RUNS)


def test_inferencex_holdout_error_stays_under_its_thresholds() -> None:
    assert "inferencex" in DEFAULT_HOLDOUT
    report = run_validation([data_path(INFERENCEX_MEASUREMENTS)])
    mape = report.mape(split="holdout")
    for group, limit in INFERENCEX_MAX.items():
        value, n = mape[group]
        assert n >= 80
        assert value <= limit, f"{group}: {value:.3f} > {limit}"
    assert report.unbounded_count(split="holdout") == 0
    assert report.mape(split="fit") == {}
