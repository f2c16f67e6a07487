"""``chip2grid simulate-models`` through its real entry point: several models on one fleet."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from chip2grid import get_accelerator
from chip2grid.cli import main
from chip2grid.errors import InvalidParameterError
from chip2grid.serving import RequestTrace, archetype_trace
from chip2grid.serving.multimodel_config import merge_model_traces
from tests.test_cli import run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two_models.toml"
# The example's workloads, as its [model.workload] tables give them.
EXAMPLE_LOADS = {"chat": ("chat", 300, 6.0, 1), "code": ("code", 120, 1.0, 2)}
ADDITIVE = (
    "num_requests",
    "num_rejected",
    "num_accelerators",
    "input_tokens",
    "output_tokens",
    "num_good_requests",
    "num_preemptions",
    "accelerator_energy_j",
    "system_energy_j",
)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("example") / "requests.csv"
    proc = run("simulate-models", str(EXAMPLE), "--json", "--export-requests", str(out))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), out


def test_example_totals_are_the_sums_of_the_models(example: tuple[dict[str, Any], Path]) -> None:
    data, _ = example
    models, total = data["models"], data["total"]
    assert list(models) == ["chat", "code"]
    assert total["num_models"] == 2
    for key in ADDITIVE:
        assert total[key] == pytest.approx(sum(m[key] for m in models.values()), rel=1e-12), key
    span = total["simulated_duration_s"]
    assert span >= max(m["simulated_duration_s"] for m in models.values())
    assert total["output_tokens_per_s"] == pytest.approx(total["output_tokens"] / span)
    assert total["goodput_requests_per_s"] == pytest.approx(total["num_good_requests"] / span)
    assert total["energy_j_per_output_token"] == pytest.approx(
        total["accelerator_energy_j"] / total["output_tokens"]
    )
    assert total["kv_cache_peak_frac"] == max(m["kv_cache_peak_frac"] for m in models.values())
    # every pool is held for the whole fleet run: its mean power is its energy over that run
    for m in models.values():
        assert m["mean_accelerator_power_w"] == pytest.approx(
            m["accelerator_energy_j"] / span / m["num_accelerators"]
        )
    assert models["chat"]["layout"] == "2x(TP1 PP1 EP1)"
    assert models["code"]["layout"] == "2x(TP4 PP1 EP1)"
    assert models["code"]["model"] == "llama-3.1-70b"


def test_requests_are_routed_by_model_and_tokens_are_conserved(
    example: tuple[dict[str, Any], Path],
) -> None:
    data, csv_path = example
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and next(iter(rows[0])) == "model"
    for name, (archetype, n, rate, seed) in EXAMPLE_LOADS.items():
        workload = archetype_trace(archetype, n, rate, seed)  # built here, independently
        mine = [r for r in rows if r["model"] == name]
        assert data["models"][name]["num_requests"] == workload.num_requests == len(mine)
        # each request of the workload is served once, by its own model's pool
        assert sorted(int(r["trace_request"]) for r in mine) == list(range(n))
        by_index = {int(r["trace_request"]): r for r in mine}
        for i in range(n):
            assert int(by_index[i]["input_tokens"]) == workload.input_tokens[i]
            assert int(by_index[i]["output_tokens"]) == workload.output_tokens[i]
        assert data["models"][name]["num_rejected"] == 0
        assert data["models"][name]["input_tokens"] == int(workload.input_tokens.sum())
        assert data["models"][name]["output_tokens"] == int(workload.output_tokens.sum())
    assert len(rows) == data["total"]["num_requests"]


def test_the_table(example: tuple[dict[str, Any], Path]) -> None:
    proc = run("simulate-models", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    for text in ("chat", "code", "fleet", "TTFT p50 / p99", "goodput", "J / output token"):
        assert text in proc.stdout
    assert "420 (0 rejected)" in proc.stdout  # 300 chat + 120 code requests


def test_one_model_matches_chip2grid_simulate(tmp_path: Path) -> None:
    """With one model the fleet is one pool: the figures of ``chip2grid simulate``, except that
    every replica is held (idle between its own requests) from the first arrival to the last
    completion of the run, where ``simulate`` counts each replica over its own requests."""
    spec = tmp_path / "one.toml"
    spec.write_text(
        '[[model]]\nmodel = "llama-3.1-8b"\naccelerator = "h100-sxm"\nnum_accelerators = 2\n'
        'tp = 1\npp = 1\nep = 1\nengine = "vllm"\nrouter = "round-robin"\n'
        '[model.workload]\narchetype = "rag"\nrequest_rate = 5.0\nnum_requests = 60\nseed = 3\n',
        encoding="utf-8",
    )
    rows_csv = tmp_path / "rows.csv"
    proc = run(
        "simulate-models",
        str(spec),
        *["--json", "--ttft-slo", "1", "--tpot-slo", "0.05", "--export-requests"],
        str(rows_csv),
    )
    assert proc.returncode == 0, proc.stderr
    multi = json.loads(proc.stdout)["models"]["llama-3.1-8b"]
    opts = "--accelerator h100-sxm --num-accelerators 2 --tp 1 --pp 1 --ep 1 --engine vllm --router round-robin"
    proc = run(
        "simulate",
        "--model",
        "llama-3.1-8b",
        *opts.split(),
        *["--archetype", "rag", "--request-rate", "5", "--num-requests", "60", "--seed", "3"],
        *["--ttft-slo", "1", "--tpot-slo", "0.05", "--json"],
    )
    assert proc.returncode == 0, proc.stderr
    single = json.loads(proc.stdout)
    held = {"accelerator_energy_j", "system_energy_j", "mean_accelerator_power_w"}
    for key, value in single.items():
        if key == "trace" or key in held or "energy" in key:
            continue
        if isinstance(value, float):
            assert multi[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert multi[key] == value, key
    # the extra accelerator energy is idle power over each replica's unaccounted time
    with rows_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    span = multi["simulated_duration_s"]
    idle_s = 0.0
    for k in {r["replica"] for r in rows}:
        mine = [r for r in rows if r["replica"] == k]
        first = min(float(r["arrival_s"]) for r in mine)
        idle_s += span - (max(float(r["finish_s"]) for r in mine) - first)
    extra_j = get_accelerator("h100-sxm").idle_power_w * 1 * idle_s  # one accelerator each
    assert idle_s > 0
    assert multi["accelerator_energy_j"] == pytest.approx(
        single["accelerator_energy_j"] + extra_j, rel=1e-6
    )
    assert multi["system_energy_j"] > single["system_energy_j"]


def _mixed_trace(folder: Path) -> list[tuple[float, int, int, str]]:
    (folder / "traces").mkdir()
    rows = [(0.1 * i, 200 + 10 * i, 20 + i, "a" if i % 3 else "b") for i in range(30)]
    with (folder / "traces" / "mixed.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arrival_s", "input_tokens", "output_tokens", "model"])
        writer.writerows(rows)
    return rows


POOLS = (
    '[[model]]\nname = "a"\nmodel = "llama-3.1-8b"\nreplicas = 1\ntp = 1\n'
    '[[model]]\nname = "b"\nmodel = "llama-3.2-3b"\nreplicas = 1\ntp = 1\n'
)


def test_a_shared_trace_with_a_model_column(tmp_path: Path) -> None:
    rows = _mixed_trace(tmp_path)
    shared = tmp_path / "shared.toml"
    shared.write_text('trace = "traces/mixed.csv"\n' + POOLS, encoding="utf-8")
    parquet = tmp_path / "requests.parquet"
    proc = run("simulate-models", str(shared), "--json", "--export-requests", str(parquet))
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)["models"]
    exported = duckdb.sql(
        f"SELECT model, count(*), sum(input_tokens), sum(output_tokens) FROM '{parquet}' "
        "GROUP BY model ORDER BY model"
    ).fetchall()
    expected = []
    for name in ("a", "b"):
        mine = [r for r in rows if r[3] == name]
        expected.append((name, len(mine), sum(r[1] for r in mine), sum(r[2] for r in mine)))
        assert models[name]["num_requests"] == len(mine)
        assert models[name]["input_tokens"] == sum(r[1] for r in mine)
        assert models[name]["output_tokens"] == sum(r[2] for r in mine)
    assert exported == expected


def test_a_trace_file_beside_a_synthetic_load(tmp_path: Path) -> None:
    rows = _mixed_trace(tmp_path)  # its model column is ignored here
    per_model = tmp_path / "per_model.toml"
    per_model.write_text(
        POOLS.replace("tp = 1\n[[", 'tp = 1\nworkload = { trace = "traces/mixed.csv" }\n[[')
        + "[model.workload]\nrequest_rate = 2.0\nduration_s = 5.0\ninput_tokens = 100\n",
        encoding="utf-8",
    )
    proc = run("simulate-models", str(per_model), "--json")
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)["models"]
    assert models["a"]["num_requests"] == len(rows)
    assert models["a"]["input_tokens"] == sum(r[1] for r in rows)
    assert models["b"]["num_requests"] == 10  # rate x duration
    assert models["b"]["input_tokens"] == 100 * 10


def _bad(tmp_path: Path, old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    spec = tmp_path / "bad.toml"
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(spec)


_CODE_WORKLOAD = '[model.workload]\narchetype = "code"'
_TEXT = EXAMPLE.read_text(encoding="utf-8")
_CODE_WORKLOAD_TABLE = _TEXT[_TEXT.index(_CODE_WORKLOAD) :]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '"llama-3.1-70b"',
            '"llama-9z"',
            "model[1] (code).model: got 'llama-9z'; allowed: a catalog model id",
        ),
        (
            "request_rate = 6.0",
            "request_rate = -6.0",
            "model[0] (chat).workload.request_rate: got -6.0",
        ),
        (_CODE_WORKLOAD, '[model.nothing]\narchetype = "code"', "model[1] (code).nothing"),
        (_CODE_WORKLOAD_TABLE, "", "model[1] (code).workload: got None"),
        ("max_num_seqs = 256", "max_num_seq = 256", "did you mean max_num_seqs?"),
        ("tp = 4", 'tp = "four"', "model[1] (code).tp: got 'four'"),
        ('archetype = "code"', 'archetype = "poetry"', "model[1] (code).workload.archetype"),
        ('name = "code"', 'name = "chat"', "model[1] (chat).name: got 'chat'"),
        ("num_requests = 300", "num_requests = 300\nduration_s = 10.0", "or duration_s"),
    ],
    ids=[
        "unknown-model",
        "negative-rate",
        "unknown-table",
        "missing-workload",
        "unknown-field",
        "bad-tp",
        "unknown-archetype",
        "duplicate-name",
        "count-and-duration",
    ],
)
def test_bad_input_names_the_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    expected: str,
) -> None:
    """The entry point's own function, in this process (a subprocess per case is slow): exit
    code 2 and one line naming the field, where an unexpected exception would propagate."""
    monkeypatch.setattr(sys, "argv", ["chip2grid", "simulate-models", _bad(tmp_path, old, new)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("missing.toml",), "FILE: got"),
        ((str(EXAMPLE), "--export-requests", "r.txt"), "--export-requests: got 'r.txt'"),
        ((str(EXAMPLE), "--ttft-slo", "0"), "--ttft-slo: got 0.0"),
    ],
)
def test_bad_files_and_options(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    expected: str,
) -> None:
    monkeypatch.setattr(sys, "argv", ["chip2grid", "simulate-models", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_help_documents_the_schema() -> None:
    proc = run("simulate-models", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for key in ("[[model]]", "[model.workload]", "request_rate", "duration_s", "replicas"):
        assert key in text


def test_merge_keeps_each_models_order_and_refuses_two_hash_block_sizes() -> None:
    def trace(arrivals: list[float], hashed: int = 0) -> RequestTrace:
        n = len(arrivals)
        return RequestTrace(
            arrival_s=np.asarray(arrivals),
            input_tokens=np.arange(1, n + 1, dtype=np.int64),
            output_tokens=np.full(n, 5, dtype=np.int64),
            prefix_hashes=tuple((i,) for i in range(n)) if hashed else (),
            block_tokens=hashed or 512,
        )

    merged, labels = merge_model_traces(
        {"x": trace([0.0, 1.0, 1.0, 3.0], hashed=64), "y": trace([0.5, 1.0, 2.0])}
    )
    assert merged.arrival_s.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0, 2.0, 3.0]
    assert labels.tolist() == ["x", "y", "x", "x", "y", "y", "x"]
    assert merged.input_tokens.tolist() == [1, 1, 2, 3, 2, 3, 4]
    assert merged.prefix_hashes == ((0,), (), (1,), (2,), (), (), (3,))
    assert merged.block_tokens == 64
    with pytest.raises(InvalidParameterError, match="prefix-hash block tokens"):
        merge_model_traces({"x": trace([0.0], hashed=64), "y": trace([0.0], hashed=512)})
