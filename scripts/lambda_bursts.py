"""Build ``src/chip2grid/data/lambda_bursts.json`` from Lambda Labs' vLLM benchmark results.

Each case of the Lambda rows of ``measurements.csv`` was matched to the result file of
github.com/LambdaLabsML/vllm-benchmark whose ``output_throughput`` equals the published table
cell. This script reads those files (from a local clone, or from per-case extracts holding the
same keys) and writes the per-request lengths and summary metrics that
``chip2grid.validation.bursts`` replays, and each request's measured TTFT (``ttfts``).

    python scripts/lambda_bursts.py --clone PATH/vllm-benchmark       # rebuild from a clone
    python scripts/lambda_bursts.py --extracts DIR                     # from DIR/<case_id>.json

Cases whose table run has no file and no sibling (the Llama-3.1-70B runs) take their lengths
from a stand-in, ``STAND_INS``: the run of the same checkpoint, accelerator and TP that the
repository holds, with the same 320 prompts but a throughput other than the table's. In
``--extracts`` mode a stand-in's extract carries ``"stand_in": true``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
from pathlib import Path

from chip2grid.atomic import write_text_atomic

OUT = Path(__file__).resolve().parents[1] / "src" / "chip2grid" / "data" / "lambda_bursts.json"
REPOSITORY = "github:LambdaLabsML/vllm-benchmark"
TTFT_DECIMALS = 4
"""Per-request TTFTs are kept to 0.1 ms (the harness records them to the microsecond)."""


STAND_INS = {
    f"lambda-vllm-0.5.4-llama-3.1-70b-{accel}-tp{tp}-n320": (
        f"results/prompt_320/{n}x{gpu}/Meta-Llama-3.1-70B-Instruct-FP8_tp{n}_len{length}.json",
        commit,
    )
    for accel, gpu, length, commit in (
        ("a100-sxm-80gb", "A100-80GB-SXM", 2000, "a9b42a5f83bc39976bcb6bd44a96b2b15d820e10"),
        ("h100-sxm", "H100-80GB-SXM", 2048, "a4f9f4371a1ccac781293837fce2bce0cc6d25cc"),
    )
    for tp, n in ((1, 2), (2, 2), (4, 4), (8, 8))
}
"""Case -> (path, commit) of the run whose lengths stand in for a table run without a file. The
repository's TP 1 runs of this checkpoint failed (21 and 13 of 320 requests completed on A100
and H100), so TP 1 takes the TP 2 run's lengths, as a sibling takes the lowest TP."""


def _lengths(case_id: str, path: str, commit: str, result: dict) -> dict:
    """A run's per-request lengths, checked against its totals, and its max_model_len: all a
    stand-in keeps, with the run's own throughput to show it is not the table's."""
    inputs, outputs = result["input_lens"], result["output_lens"]
    if len(inputs) != len(outputs) or sum(inputs) != result["total_input_tokens"]:
        raise SystemExit(f"{case_id}: input lengths do not add up to total_input_tokens")
    if sum(outputs) != result["total_output_tokens"]:
        raise SystemExit(f"{case_id}: output lengths do not add up to total_output_tokens")
    length = re.search(r"_len(\d+)\.json$", path)
    if not length:
        raise SystemExit(f"{case_id}: no max_model_len (_len<N>) in {path}")
    return {
        "path": path,
        "commit": commit,
        "max_model_len": int(length.group(1)),
        "input_lens": inputs,
        "output_lens": outputs,
        "output_tokens_per_s": result["output_throughput"],
    }


def _run(case_id: str, path: str, commit: str, result: dict) -> dict:
    """A table run: its lengths, summary metrics and each request's TTFT."""
    own = _lengths(case_id, path, commit, result)
    ttfts = result["ttfts"]
    if len(ttfts) != len(own["input_lens"]):
        raise SystemExit(f"{case_id}: {len(ttfts)} ttfts for {len(own['input_lens'])} requests")
    return {
        "path": path,
        "commit": commit,
        "max_model_len": own["max_model_len"],
        "duration_s": result.get("duration", result.get("duration_s")),
        "measured": {
            "output_tokens_per_s": result["output_throughput"],
            "ttft_s_mean": result["mean_ttft_ms"] / 1e3,
            "tpot_s_mean": result["mean_tpot_ms"] / 1e3,
            "itl_s_median": result["median_itl_ms"] / 1e3,
        },
        "input_lens": own["input_lens"],
        "output_lens": own["output_lens"],
        "ttfts": [round(t, TTFT_DECIMALS) for t in ttfts],
    }


def _targets() -> list[str]:
    """Case ids of the Lambda rows of measurements.csv."""
    path = Path(__file__).resolve().parents[2] / "shared" / "validation" / "measurements.csv"
    with path.open() as handle:
        return sorted(
            {r["case_id"] for r in csv.DictReader(handle) if r["case_id"].startswith("lambda-")}
        )


def _model(case_id: str) -> str:
    return re.sub(r"-(a100-sxm-80gb|h100-sxm)-tp\d+-n320$", "", case_id)


def _siblings(own: list[str]) -> dict[str, str]:
    """Each case without a file of its own -> a run of the same model (same accelerator first,
    then the lowest TP)."""
    out = {}
    for case_id in _targets():
        if case_id in own:
            continue
        same = [c for c in own if _model(c) == _model(case_id)]
        if not same:
            continue
        accel = "h100-sxm" if "-h100-sxm-" in case_id else "a100-sxm-80gb"
        same.sort(key=lambda c: (accel not in c, int(re.search(r"-tp(\d+)-", c).group(1))))
        out[case_id] = same[0]
    return out


ABOUT = (
    "Per-request input and output token counts (input_lens, output_lens) and summary"
    " metrics of the vLLM 0.5.4 benchmark_serving.py runs behind the Lambda rows of"
    " shared/validation/measurements.csv: 320 ShareGPT V3 prompts sent at once. Each run"
    " was matched by its output_throughput to the table cell. Metrics in seconds."
    " ttfts: each request's measured time to first token in seconds (0.1 ms), in the"
    " order of input_lens; 0 where the request produced no text, as the harness records"
    " it."
    " siblings: cases whose result file is not available, mapped to a run of the same"
    " checkpoint whose lengths stand in (same prompts and tokenizer, so the same input"
    " lengths; greedy decoding, so nearly the same output lengths)."
    " stand_ins: cases whose table run has no file and no sibling, with the lengths of"
    " the run of the same checkpoint, accelerator and TP that the repository holds (the"
    " same prompts; a different run, whose own output_tokens_per_s is kept to show it)."
)


def _show(clone: Path, commit: str, path: str) -> dict:
    text = subprocess.run(
        ["git", "-C", str(clone), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--clone", type=Path, help="a git clone of LambdaLabsML/vllm-benchmark")
    source.add_argument("--extracts", type=Path, help="a directory of <case_id>.json extracts")
    args = parser.parse_args()
    runs, stand_ins = {}, {}
    if args.extracts:
        for file in sorted(args.extracts.glob("lambda-*.json")):
            ex = json.loads(file.read_text())
            ex.setdefault("total_input_tokens", sum(ex["input_lens"]))
            if ex.get("stand_in"):
                stand_ins[ex["case_id"]] = _lengths(ex["case_id"], ex["path"], ex["commit"], ex)
            else:
                runs[ex["case_id"]] = _run(ex["case_id"], ex["path"], ex["commit"], ex)
    else:
        known = json.loads(OUT.read_text())["runs"]
        for case_id, run in known.items():
            result = _show(args.clone, run["commit"], run["path"])
            runs[case_id] = _run(case_id, run["path"], run["commit"], result)
        for case_id, (path, commit) in STAND_INS.items():
            stand_ins[case_id] = _lengths(case_id, path, commit, _show(args.clone, commit, path))
    doc = {
        "repository": REPOSITORY,
        "siblings": _siblings(sorted(runs)),
        "about": ABOUT,
        "runs": runs,
        "stand_ins": stand_ins,
    }
    write_text_atomic(OUT, json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.name}: {len(runs)} runs, {len(stand_ins)} stand-ins")


if __name__ == "__main__":
    main()
