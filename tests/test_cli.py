"""The CLI through its real entry point (a subprocess running ``chip2grid``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

EXE = shutil.which("chip2grid")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = (
        [EXE, *args]
        if EXE
        else [sys.executable, "-c", "from chip2grid.cli import main; main()", *args]
    )
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


ISSUE_FORM = [
    "estimate",
    "--model",
    "llama-3.1-70b",
    "--accelerator",
    "h100-sxm",
    "--num-accelerators",
    "8",
    "--tp",
    "8",
    "--pp",
    "1",
    "--ep",
    "1",
    "--weight-precision",
    "fp8",
    "--kv-precision",
    "fp8",
    "--input-tokens",
    "2048",
    "--output-tokens",
    "128",
]
JSON_KEYS = {
    "output_tokens_per_s",
    "requests_per_s",
    "ttft_s_mean",
    "tpot_s_mean",
    "e2e_latency_s_mean",
    "max_concurrency",
    "batch_size",
    "accelerator_power_w",
    "system_power_w",
    "energy_j_per_output_token",
    "system_energy_j_per_output_token",
    "layout",
    "prefill_bound",
    "decode_bound",
    "prefill",
    "decode",
    "load_frac",
    "ttft_s_mean_if_slower",
    "tpot_s_mean_if_slower",
}


@pytest.mark.parametrize(
    "load",
    [
        [],
        ["--concurrency", "32"],
        ["--request-rate", "2"],
        ["--max-load"],
        ["--max-num-seqs", "64"],
        ["--batch-size", "16", "--static-batching"],
    ],
)
def test_estimate_issue_form_json(load: list[str]) -> None:
    result = run(*ISSUE_FORM, *load, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= JSON_KEYS
    assert data["layout"]["tp"] == 8
    assert data["output_tokens_per_s"] > 0
    assert set(data["decode"]["operators_s"]) >= {
        "qkv_o_proj",
        "attention_decode",
        "mlp",
        "tp_allreduce",
        "overhead",
    }


def test_estimate_table_shows_how_close_a_rate_runs_to_capacity() -> None:
    full = json.loads(run(*ISSUE_FORM, "--max-load", "--json").stdout)
    rate = 0.8 * full["requests_per_s"]
    result = run(*ISSUE_FORM, "--request-rate", f"{rate:.4f}")
    assert result.returncode == 0, result.stderr
    assert "share of capacity" in result.stdout and "80%" in result.stdout
    assert "if every step took 10% longer" in result.stdout


def test_estimate_table_gives_batch_and_kv_limit_per_replica() -> None:
    args = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm"]
    result = run(*args, "--num-accelerators", "4", "--tp", "1", "--json")
    data = json.loads(result.stdout)
    per_replica = data["max_concurrency"] // 4
    table = run(*args, "--num-accelerators", "4", "--tp", "1").stdout
    assert f"{data['batch_size']:,.0f} / {per_replica:,d} sequences per replica (x 4)" in table


def test_estimate_table_and_auto() -> None:
    result = run(
        "estimate",
        "--model",
        "mixtral-8x7b",
        "--accelerator",
        "h200-sxm",
        "--num-accelerators",
        "8",
        "--tp",
        "auto",
        "--ep",
        "auto",
        "--pp",
        "auto",
    )
    assert result.returncode == 0, result.stderr
    assert "output throughput" in result.stdout and "TPOT" in result.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--model", "llama-3.1-7b"], "closest: "),
        (["--accelerator", "h100-sxn"], "h100-sxm"),
        (["--input-tokens", "0"], "input-tokens"),
        (["--output-tokens", "-5"], "output-tokens"),
        (["--num-accelerators", "0"], "num-accelerators"),
        (["--tp", "3", "--num-accelerators", "3"], "tp"),
        (["--tp", "x"], "--tp"),
        (
            ["--accelerator", "a100-sxm-80gb", "--activation-precision", "fp8"],
            "activation_precision",
        ),
        (["--weight-precision", "fp7"], "weight_precision"),
        (
            [
                "--model",
                "llama-3.1-405b",
                "--weight-precision",
                "bf16",
                "--num-accelerators",
                "1",
                "--tp",
                "1",
                "--pp",
                "1",
                "--ep",
                "1",
            ],
            "short by",
        ),
        (["--concurrency", "4", "--request-rate", "2"], "load"),
        (["--request-rate", "-1"], "request-rate"),
        (["--input-tokens", "abc"], "--input-tokens"),
        (["--input-tokens", "inf"], "a finite number of tokens"),
        (["--request-rate", "nan"], "request-rate"),
        (["--concurrency", "1e30"], "users from 1 to 1e+09"),  # read TPOT 0 (precision)
        (["--concurrency", "0.5"], "concurrency"),
        (["--num-speculative-tokens", "4"], "off without --speculative"),  # was ignored
        (["--speculative", "draft", "--draft-model", "llama-3.1-405b"], "smaller than the target"),
        (["--static-batching"], "required with --static-batching"),
        (["--max-num-seqs", "0"], "--max-num-seqs"),
        (["--no-such-option", "1"], "no-such-option"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    base = ["estimate", "--model", "llama-3.1-70b", "--accelerator", "h100-sxm"]
    merged = base + args
    result = run(*merged)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_list_commands() -> None:
    for kind in ("models", "accelerators", "engines"):
        result = run("list", kind)
        assert result.returncode == 0, result.stderr


def test_validate_default_holdout_is_validations() -> None:
    """The CLI spells the default holdout out (validation is imported lazily); it must stay
    validation's own, or a bare ``chip2grid validate --write-errors`` refuses its default."""
    import inspect

    from chip2grid.cli.app import validate_command
    from chip2grid.validation import DEFAULT_HOLDOUT

    default = inspect.signature(validate_command).parameters["holdout"].default
    assert tuple(default.split(",")) == tuple(DEFAULT_HOLDOUT)


def test_each_command_loads_from_its_module() -> None:
    from chip2grid.cli import COMMAND_MODULES, app, load_commands

    load_commands([])  # no command: everything, as the help lists it
    registered = [info.name for info in app.registered_commands]
    assert len(registered) == len(set(registered))
    own = {"estimate", "list", "validate"}  # chip2grid.cli.app's
    assert set(registered) == own | set(COMMAND_MODULES)
    for command, module in COMMAND_MODULES.items():
        names = {
            info.name
            for info in app.registered_commands
            if getattr(info.callback, "__module__", None) == f"chip2grid.cli.{module}"
        }
        assert command in names, (command, module)


def test_a_command_imports_only_its_own_module() -> None:
    # the sweep store's database and the bottleneck and industry models are not needed to
    # print an estimate: importing them cost most of a second of every command's start
    probe = (
        "import sys\n"
        "from chip2grid.cli import main\n"
        "sys.argv = ['chip2grid', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('duckdb', 'chip2grid.cli.sweep',"
        " 'chip2grid.bottleneck', 'chip2grid.industry', 'chip2grid.cli.scenario')"
        " if m in sys.modules))"
    )

    def loaded(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120
        )
        return out.stdout.strip().splitlines()[-1]

    assert loaded(*ISSUE_FORM, "--max-load", "--json") == "LOADED []"
    only_sweep = loaded("results", "--help")
    assert "chip2grid.cli.sweep" in only_sweep and "chip2grid.cli.scenario" not in only_sweep
    everything = loaded("--help")
    assert "chip2grid.cli.sweep" in everything and "chip2grid.bottleneck" in everything
