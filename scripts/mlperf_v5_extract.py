"""Extract MLPerf Inference v5.x/v6.0 closed-datacenter LLM results into the validation schema.

Reads bare git mirrors of ``mlcommons/inference_results_v5.1`` (and optionally ``_v5.0`` /
``_v6.0``) with ``git show`` / ``git ls-tree`` only, and writes one CSV row per metric with the
header of ``measurements.csv`` (see the MLPerf section of the validation README):

* ``output_tokens_per_s``: ``Performance_Result`` of the official ``summary_results.json``
  (whole system under test).
* ``requests_per_s``, ``e2e_latency_s_mean``, ``ttft_s_mean``, ``ttft_s_p99``, ``tpot_s_mean``,
  ``tpot_s_p99``: the run's ``performance/run_1/mlperf_log_summary.txt`` (ns -> s); only runs that
  say ``Result is : VALID`` are kept.
* ``system_power_w_mean`` (``Power_Result``) for power submissions, plus the DERIVED
  ``energy_j_per_output_token`` = power / output tokens/s.

TP/PP/EP and precision come from the submitter's NVIDIA-harness config
(``closed/<submitter>/configs/<system>/<Scenario>/<benchmark>.py``, read with a small AST
evaluator, never executed) or from vLLM harness YAML files (AMD-style ``harness_llm``). Anything not
stated is left empty and the reason goes into ``notes``. A ``-99`` result whose performance log is
the same git blob as the ``-99.9`` result is kept once (as ``-99.9``).

Usage::

    python scripts/mlperf_v5_extract.py \\
        v5.1=MIRRORS/inference_results_v5.1.git \\
        v6.0=MIRRORS/inference_results_v6.0.git@4d3916ac9cf474b679cdfcf492d43a0559418ad1 \\
        -o src/chip2grid/data/measurements_mlperf_v5.csv --skipped skipped.tsv

(``MIRRORS``: where your clones of the mlcommons result repositories are; v5.1 was read at
965182b03376a00fcae415c54e560e1c83937932, v6.0 at the commit above.)

Each positional argument is ``VERSION=GIT_DIR[@COMMIT]`` (default commit: HEAD). The ``source``
column always names ``mlcommons/inference_results_v<VERSION>`` at the commit read. Standard
library only.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import json
import re
import subprocess
import sys
from collections import defaultdict
from typing import Any

from chip2grid.validation.cases import MEASUREMENT_COLUMNS

HEADER = list(MEASUREMENT_COLUMNS)

# summary_results.json model name -> (model id, config file stem, dataset description)
BENCHMARKS: dict[str, tuple[str, str, str]] = {
    "llama2-70b-99": ("llama-2-70b", "llama2-70b", "MLPerf llama2-70b: OpenOrca subset"),
    "llama2-70b-99.9": ("llama-2-70b", "llama2-70b", "MLPerf llama2-70b: OpenOrca subset"),
    "mixtral-8x7b": (
        "mixtral-8x7b",
        "mixtral-8x7b",
        "MLPerf mixtral-8x7b: OpenOrca + GSM8K + MBXP",
    ),
    "llama3.1-405b": (
        "llama-3.1-405b",
        "llama3_1-405b",
        "MLPerf llama3.1-405b: LongBench, LongDataCollections, RULER and GovReport subsets",
    ),
    "llama3.1-8b": ("llama-3.1-8b", "llama3_1-8b", "MLPerf llama3.1-8b: CNN/DailyMail"),
    "deepseek-r1": (
        "deepseek-r1",
        "deepseek-r1",
        "MLPerf deepseek-r1: AIME, MATH500, GPQA, MMLU-Pro and LiveCodeBench mix",
    ),
}

# (regex on the summary 'Accelerator' field, id); first match wins. Mixed systems are rejected
# before this table is consulted.
ACCELERATORS: list[tuple[str, str]] = [
    (r"\bGB300\b", "gb300"),
    (r"\bGB200\b", "gb200"),
    (r"\bB300\b", "b300"),
    (r"\bB200\b", "b200"),
    (r"GH200.*144", "gh200-144gb"),
    (r"GH200.*96", "gh200-96gb"),
    (r"H200[- ]NVL", "h200-nvl"),
    (r"H200[- ]SXM", "h200-sxm"),
    (r"H100[- ]NVL", "h100-nvl"),
    (r"H100[- ]SXM", "h100-sxm"),
    (r"H100[- ]PCIe", "h100-pcie"),
    (r"A100[- ]SXM.*80", "a100-sxm-80gb"),
    (r"\bL40S\b", "l40s"),
    (r"RTX PRO 6000 Blackwell", "rtx-pro-6000-blackwell"),
    (r"MI355X", "mi355x"),
    (r"MI325X", "mi325x"),
    (r"MI300X", "mi300x"),
    (r"Gaudi ?3", "gaudi3"),
    (r"TPU[- ]?v6e|Trillium", "tpu-v6e"),
    (r"TPU[- ]?v5e", "tpu-v5e"),
]

TTFT_TPOT_LIMITS = "p99 limits TTFT {ttft:g} s, TPOT {tpot:g} s"

LOG_KEYS = {
    "samples_per_s_offline": r"^Samples per second\s*:\s*([0-9.eE+-]+)",
    "tokens_per_s_offline": r"^Tokens per second\s*:\s*([0-9.eE+-]+)",
    "samples_per_s_server": r"^Completed samples per second\s*:\s*([0-9.eE+-]+)",
    "tokens_per_s_server": r"^Completed tokens per second\s*:\s*([0-9.eE+-]+)",
    "scenario": r"^Scenario\s*:\s*(\S+)",
    "result": r"^Result is\s*:\s*(\S+)",
    "mean_latency": r"^Mean latency \(ns\)\s*:\s*([0-9]+)",
    "ttft_mean": r"^Mean First Token latency \(ns\)\s*:\s*([0-9]+)",
    "ttft_p99": r"^99\.00 percentile first token latency \(ns\)\s*:\s*([0-9]+)",
    "tpot_mean": r"^Mean Time (?:to|per) Output Token \(ns\)\s*:\s*([0-9]+)",
    "tpot_p99": r"^99\.00 percentile time to output token \(ns\)\s*:\s*([0-9]+)",
    "target_qps": r"^target_qps\s*:\s*([0-9.eE+-]+)",
    "ttft_limit": r"^ttft_latency \(ns\)\s*:\s*([0-9]+)",
    "tpot_limit": r"^tpot_latency \(ns\)\s*:\s*([0-9]+)",
    "sample_count": r"^performance_sample_count\s*:\s*([0-9]+)",
}

NS_METRICS = [
    ("e2e_latency_s_mean", "mean_latency", "'Mean latency' (per query, ns->s)"),
    ("ttft_s_mean", "ttft_mean", "'Mean First Token latency (ns)' ns->s"),
    ("ttft_s_p99", "ttft_p99", "'99.00 percentile first token latency (ns)' ns->s"),
    ("tpot_s_mean", "tpot_mean", "'Mean Time to (newer loadgen: per) Output Token (ns)' ns->s"),
    ("tpot_s_p99", "tpot_p99", "'99.00 percentile time to output token (ns)' ns->s"),
]


# --------------------------------------------------------------------------------------- git


class Repo:
    """Read-only access to one bare git mirror at a fixed commit."""

    def __init__(self, git_dir: str, commit: str, version: str) -> None:
        self.git_dir = git_dir
        self.version = version
        self.commit = self._git("rev-parse", commit).strip()
        self.name = f"mlcommons/inference_results_v{version}"
        self._blobs: dict[str, str] = {}
        out = self._git("ls-tree", "-r", self.commit)
        for line in out.splitlines():
            meta, path = line.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind == "blob":
                self._blobs[path] = sha
        self.paths = sorted(self._blobs)

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", self.git_dir, *args], check=True, capture_output=True, text=True
        ).stdout

    def exists(self, path: str) -> bool:
        return path in self._blobs

    def blob(self, path: str) -> str | None:
        return self._blobs.get(path)

    def show(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")

    def source(self, path: str, extra: str = "") -> str:
        s = f"github:{self.name}/{path}@{self.commit}"
        return f"{s} ({extra})" if extra else s


# ------------------------------------------------------------------ NVIDIA config evaluator


class Unresolved(Exception):
    """Raised when a config expression cannot be evaluated statically."""


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    """Evaluate a config expression without executing code (literals, names, dict merges)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                out.update(_eval(v, env))
            else:
                out[_eval(k, env)] = _eval(v, env)
        return out
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise Unresolved(node.id)
    if isinstance(node, ast.Attribute):
        # field references such as llm_fields.tensor_parallelism -> 'tensor_parallelism';
        # C.PowerSetting.MaxQ -> 'MaxQ'
        return node.attr
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, env)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.BitOr) and isinstance(a, dict):
            return {**a, **b}
        raise Unresolved("binop")
    if isinstance(node, ast.Call):
        fname = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        args = [_eval(a, env) for a in node.args]
        if fname == "deepcopy":
            return copy.deepcopy(args[0])
        if fname == "dict":
            base = dict(args[0]) if args else {}
            for kw in node.keywords:
                if kw.arg is None:
                    base.update(_eval(kw.value, env))
                else:
                    base[kw.arg] = _eval(kw.value, env)
            return base
        if fname == "AccuracyTarget":
            return float(args[0])
        if fname == "WorkloadSetting":
            kw = {k.arg: _eval(k.value, env) for k in node.keywords}
            vals = args + [kw.get(n) for n in ("harness_type", "accuracy_target", "power_setting")]
            harness = next((v for v in vals if v in ("Custom", "Triton", "LWIS", "HeteroMIG")), "")
            acc = next((v for v in vals if isinstance(v, float)), 0.99)
            power = next((v for v in vals if v in ("MaxP", "MaxQ")), "MaxP")
            return (harness or "Custom", acc, power)
        raise Unresolved(f"call {fname}")
    raise Unresolved(type(node).__name__)


def parse_nvidia_config(text: str) -> dict[tuple[str, float, str], dict[str, Any]]:
    """Return EXPORTS of an NVIDIA-harness config file, keyed (harness, accuracy, power)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    env: dict[str, Any] = {}
    for stmt in tree.body:
        try:
            if isinstance(stmt, ast.Assign):
                val = _eval(stmt.value, env)
                for tgt in stmt.targets:
                    if isinstance(tgt, ast.Name):
                        env[tgt.id] = val
                    elif isinstance(tgt, ast.Subscript) and isinstance(tgt.value, ast.Name):
                        env[tgt.value.id][_eval(tgt.slice, env)] = val
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                f = stmt.value.func
                if (
                    isinstance(f, ast.Attribute)
                    and f.attr == "update"
                    and isinstance(f.value, ast.Name)
                    and f.value.id in env
                ):
                    env[f.value.id].update(_eval(stmt.value.args[0], env))
        except (Unresolved, KeyError, TypeError, IndexError):
            continue
    exports = env.get("EXPORTS", {})
    return {k if isinstance(k, tuple) else tuple(k): v for k, v in exports.items()}


def _strip_system(name: str) -> list[str]:
    cands = [name]
    for suf in ("_TRT_TRT", "_TRT", "_Triton", "_MaxQ", "_MaxP"):
        cands += [c[: -len(suf)] for c in cands if c.endswith(suf)]
    return list(dict.fromkeys(cands))


def nvidia_config(
    repo: Repo, submitter: str, platform: str, scenario: str, stem: str, acc: float
) -> tuple[dict[str, Any] | None, str, str]:
    """Find the NVIDIA-harness config block for one run.

    Returns (fields, path, description) or (None, '', reason).
    """
    power = "MaxQ" if "MaxQ" in platform else "MaxP"
    harness = "Triton" if "Triton" in platform else "Custom"
    tried = []
    for sysname in _strip_system(platform):
        path = f"closed/{submitter}/configs/{sysname}/{scenario}/{stem}.py"
        tried.append(path)
        if not repo.exists(path):
            continue
        exports = parse_nvidia_config(repo.show(path))
        want = (harness, acc, power)
        if want in exports:
            return exports[want], path, f"WorkloadSetting({harness}, {acc:g}, {power})"
        same = [k for k in exports if k[1] == acc and k[2] == power]
        if len(same) == 1:
            k = same[0]
            return exports[k], path, f"WorkloadSetting({k[0]}, {acc:g}, {power})"
        return None, path, f"no {want} entry in {path} (entries: {sorted(exports)})"
    return None, "", "no config file found (tried " + ", ".join(tried) + ")"


# ---------------------------------------------------------------------- vLLM YAML configs


def vllm_yaml_config(
    repo: Repo, submitter: str, bench: str, scenario: str, acc_id: str
) -> tuple[dict[str, str], str]:
    """AMD-style harness_llm YAML: <scenario>_<mi3xxx>.yaml under the benchmark's code dir."""
    chip = {"mi300x": "mi300x", "mi325x": "mi325x", "mi355x": "mi355x"}.get(acc_id)
    if not chip:
        return {}, ""
    scen = scenario.lower()
    base = bench.split("-99")[0] if bench.startswith("llama2") else bench
    pat = re.compile(
        rf"^closed/{re.escape(submitter)}/code/{re.escape(bench)}(?:/[^/]+)*/models/"
        rf"{re.escape(base)}/{scen}_{chip}\.yaml$"
    )
    hits = [p for p in repo.paths if pat.match(p)]
    if not hits and bench != base:
        pat = re.compile(
            rf"^closed/{re.escape(submitter)}/code/[^/]*{re.escape(base)}[^/]*(?:/[^/]+)*/"
            rf"models/{re.escape(base)}/{scen}_{chip}\.yaml$"
        )
        hits = [p for p in repo.paths if pat.match(p)]
    if len(hits) != 1:
        return {}, ""
    text = repo.show(hits[0])
    out = {}
    keys = (
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "quantization",
        "kv_cache_dtype",
        "max_num_seqs",
        "max_num_batched_tokens",
    )
    for key in keys:
        m = re.search(rf"^\s*{key}\s*:\s*([^\s#]+)", text, re.M)
        if m:
            out[key] = m.group(1).strip("'\"")
    return out, hits[0]


# ----------------------------------------------------------------------------- helpers


def parse_log(text: str) -> dict[str, str]:
    out = {}
    for key, rx in LOG_KEYS.items():
        m = re.search(rx, text, re.M)
        if m:
            out[key] = m.group(1)
    return out


def map_accelerator(name: str) -> str | None:
    if re.search(r"\(x\d+\).*(,| and ).*\(x\d+\)", name) or " and " in name:
        return None  # heterogeneous system
    for rx, acc in ACCELERATORS:
        if re.search(rx, name, re.I):
            return acc
    return None


def engine_of(software: str, platform: str) -> tuple[str, str, str]:
    """(engine, engine_version, note)."""
    if "TensorRT" in software:
        eng = "tensorrt-llm+triton" if "Triton" in platform else "tensorrt-llm"
        return eng, software, "engine = NVIDIA MLPerf TensorRT-LLM harness"
    m = re.search(r"vLLM\s+v?([0-9][^\s,]*)", software)
    if m and "LLMBoost" not in software:
        return "vllm", m.group(1), ""
    m = re.search(r"SGLang\s+v?([0-9][^\s,]*)", software, re.I)
    if m:
        return "sglang", m.group(1), ""
    if "LLMBoost" in software:
        return "llmboost", software, "engine = Mango LLMBoost (declared software field)"
    return "unknown", software, "engine not identifiable from the software field"


def fmt(x: float) -> str:
    return f"{x:.6g}" if abs(x) >= 1 else f"{x:.6f}".rstrip("0").rstrip(".")


def ns_to_s(ns: str) -> str:
    return f"{int(ns) / 1e9:.6f}".rstrip("0").rstrip(".")


# ------------------------------------------------------------------------------- main


def extract(repo: Repo, skipped: list[list[str]]) -> list[dict[str, str]]:
    summary_path = "summary_results.json"
    entries = json.loads(repo.show(summary_path))
    ver = repo.version
    rows: list[dict[str, str]] = []

    sel = []
    for e in entries:
        # v6.0 writes './closed/.../<Scenario>/performance/run_1'; v5.x writes 'closed/.../<Scenario>'
        loc = str(e.get("Location", ""))
        loc = loc[2:] if loc.startswith("./") else loc
        e["Location"] = loc.removesuffix("/performance/run_1")
        if e.get("Category") != "closed" or "datacenter" not in str(e.get("Suite", "")):
            continue
        if e["Model"] not in BENCHMARKS:
            continue
        acc = map_accelerator(str(e.get("Accelerator", "")))
        if acc is None:
            skipped.append(
                [
                    ver,
                    e["Location"],
                    str(e.get("Accelerator", "")) or "(CPU only)",
                    "accelerator not in the target list or mixed system",
                ]
            )
            continue
        sel.append((e, acc))

    # duplicate -99 / -99.9 detection: same performance-log blob
    def logpath(e: dict[str, Any]) -> str:
        return f"{e['Location']}/performance/run_1/mlperf_log_summary.txt"

    by_key: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for e, _acc in sel:
        if e["Model"].startswith("llama2-70b"):
            plat_dir = e["Location"].rsplit("/", 2)[0]
            by_key[(plat_dir, e["Scenario"], e["ID"])][e["Model"]] = e

    drop: set[str] = set()
    dup_note: dict[str, str] = {}
    for group in by_key.values():
        hi, lo = group.get("llama2-70b-99.9"), group.get("llama2-70b-99")
        if hi and lo:
            bh, bl = repo.blob(logpath(hi)), repo.blob(logpath(lo))
            if bh and bh == bl and hi["Performance_Result"] == lo["Performance_Result"]:
                drop.add(lo["Location"])
                dup_note[hi["Location"]] = (
                    f"the same run is also published as llama2-70b-99 (v{lo['ID']}); kept once"
                )
            else:
                dup_note[hi["Location"]] = (
                    "llama2-70b-99 result of this system is a different run (kept separately)"
                )
                dup_note[lo["Location"]] = (
                    "llama2-70b-99.9 result of this system is a different run (kept separately)"
                )

    for e, acc in sel:
        loc = e["Location"]
        if loc in drop:
            continue
        lp = logpath(e)
        if not repo.exists(lp):
            skipped.append(
                [ver, loc, e["Accelerator"], "performance/run_1/mlperf_log_summary.txt missing"]
            )
            continue
        log = parse_log(repo.show(lp))
        if log.get("result") != "VALID":
            skipped.append([ver, loc, e["Accelerator"], f"log result {log.get('result')}"])
            continue
        rows.extend(build_rows(repo, e, acc, log, lp, dup_note.get(loc, "")))
    return rows


def build_rows(
    repo: Repo, e: dict[str, Any], acc: str, log: dict[str, str], lp: str, dup: str
) -> list[dict[str, str]]:
    ver = repo.version
    bench, scenario = e["Model"], e["Scenario"]
    model, stem, ds = BENCHMARKS[bench]
    sub, platform = e["Submitter"], e["Platform"]
    nodes = int(e.get("Nodes") or 1)
    per_node = int(e["a#"])
    n_acc = nodes * per_node
    total = e.get("Total Accelerators")
    if total not in (None, "") and int(total) != n_acc:
        raise SystemExit(f"{e['Location']}: Nodes x a# = {n_acc} but Total Accelerators {total}")
    engine, engine_version, eng_note = engine_of(str(e.get("Software", "")), platform)
    notes = [
        f"MLPerf Inference v{ver} closed datacenter, ID v{e['ID']}, submitter {sub}, system "
        f"'{e['System']}' ({platform}), {nodes} node(s) x {per_node} accelerator(s), host "
        f"{e.get('Processor', '')}, availability {e.get('Availability', '')}, software "
        f"'{e.get('Software', '')}', accelerator '{e['Accelerator']}'"
    ]
    if "Virtualized" in str(e["Accelerator"]):
        notes.append("virtualized GPUs (VMware) mapped to the physical part")
    if "Power Cap" in str(e["Accelerator"]):
        notes.append("accelerator field states a power cap")
    if dup:
        notes.append(dup)
    notes.append(f"declared weight_data_types '{e.get('weight_data_types', '')}'")

    tp = pp = ep = wprec = kvprec = ""
    adp = False
    acc_target = 0.999 if bench.endswith("-99.9") else 0.99
    if engine.startswith("tensorrt-llm"):
        fields, path, how = nvidia_config(repo, sub, platform, scenario, stem, acc_target)
        if fields is None and acc_target == 0.999 and dup.startswith("the same run"):
            # the -99.9 result is the very same log as the -99 one, so the 0.99 entry applies
            fields, path, how = nvidia_config(repo, sub, platform, scenario, stem, 0.99)
            how += " (no 0.999 entry; the run is the -99 run, so its 0.99 entry is used)"
        if fields is None:
            notes.append(f"TP/PP/precision not resolved: {how}")
        else:
            notes.append(f"TP/PP/precision read from {sub}'s config {how} in {path}")
            tpv = fields.get("tensor_parallelism")
            ppv = fields.get("pipeline_parallelism")
            epv = fields.get("moe_expert_parallelism")
            build = fields.get("trtllm_build_flags") or {}
            adp = bool(isinstance(build, dict) and build.get("enable_attention_dp"))
            if adp and epv:
                tp, ep = "1", str(epv)
                notes.append(
                    f"config states tensor_parallelism {tpv}, moe_expert_parallelism {epv} with "
                    "enable_attention_dp True: encoded tp=1, ep=n (attention DP + expert parallel)"
                )
            else:
                tp = str(tpv) if tpv is not None else ""
                ep = str(epv) if epv is not None else ""
            pp = str(ppv) if ppv is not None else ""
            if tpv is None:
                notes.append("tensor_parallelism not set in the config")
            if "gpu_batch_size" in fields:
                notes.append(f"gpu_batch_size {fields['gpu_batch_size']}")
            if "power_limit" in fields:
                notes.append(f"GPU power_limit {fields['power_limit']} W")
            prec = fields.get("precision")
            if prec in ("fp8", "fp4", "fp16", "bf16", "int8", "int4"):
                wprec = prec
                notes.append(
                    f"precision '{prec}' (model_fields.precision): {prec.upper()} weights"
                    + (" (NVFP4)" if prec == "fp4" else "")
                )
            elif prec:
                notes.append(f"precision '{prec}' not mapped")
            ck = fields.get("trtllm_checkpoint_flags") or {}
            kv = ck.get("kv_cache_dtype") if isinstance(ck, dict) else None
            if kv in ("fp8", "fp16", "bf16", "int8"):
                kvprec = kv
                notes.append(f"kv_cache_dtype '{kv}' (trtllm_checkpoint_flags): {kv.upper()} KV")
            elif kv == "nvfp4":
                kvprec = "fp4"
                notes.append("kv_cache_dtype 'nvfp4' (trtllm_checkpoint_flags): NVFP4 KV")
            else:
                notes.append(
                    "kv_cache_dtype not set in the config (harness default None), "
                    "so KV precision left empty"
                )
        if eng_note:
            notes.append(eng_note)
    elif engine == "vllm":
        cfg, path = vllm_yaml_config(repo, sub, bench, scenario, acc)
        if not path:
            notes.append(
                "TP/precision not resolved: no matching vLLM harness YAML for "
                f"{scenario}/{acc} under closed/{sub}/code/"
            )
        else:
            tp = cfg.get("tensor_parallel_size", "")
            pp = cfg.get("pipeline_parallel_size", "")
            q = cfg.get("quantization", "")
            kv = cfg.get("kv_cache_dtype", "")
            desc = [f"{k}: {v}" for k, v in cfg.items()]
            notes.append(f"{path}: " + ", ".join(desc))
            if q == "fp8":
                wprec = "fp8"
            if kv.startswith("fp8"):
                kvprec = "fp8"
            elif not kv:
                notes.append("kv_cache_dtype not set in the YAML, so KV precision left empty")
            if not tp:
                notes.append("tensor_parallel_size not stated")
    else:
        notes.append(f"{eng_note}; TP/PP/precision not resolved from code")

    if n_acc == 1 and not tp:
        tp, pp = "1", "1"
        notes.append("single-accelerator system, so tp=1, pp=1")
    if model == "llama-3.1-405b" and n_acc == 72 and sub == "NVIDIA":
        notes.append(
            "NVIDIA's code also has a disaggregated 72-GPU 405B recipe (closed/NVIDIA/code/"
            "llama3_1-405b/tensorrt/run_disagg_405B/README.md: context TP4, generation TP8); "
            "whether this run used it is not stated; tp/pp are the config file's"
        )
    if model == "deepseek-r1" and scenario == "Interactive":
        notes.append(
            "DeepSeek-R1 Interactive (new in v6.0) standardizes EAGLE-style speculative decoding "
            "with the MTP head (https://mlcommons.org/2026/03/mlperf-inference-gpt-oss); whether "
            "this run used it was not checked"
        )
    count = log.get("sample_count", "")
    dataset = ds + (f", performance_sample_count {int(count):,}" if count else "")
    if bench.startswith("llama2"):
        dataset += " (max input 1,024 tokens)"
    m = re.search(r"TOKENS_PER_SAMPLE:\s*([0-9.]+)", str(e.get("Accuracy", "")))
    notes.append(
        "isl/osl left empty (dataset workload; mean lengths documented separately)"
        + (f"; accuracy run reports TOKENS_PER_SAMPLE {m.group(1)}" if m else "")
    )
    notes.append("throughput is for the whole system (all accelerators)")

    is_server = scenario in ("Server", "Interactive")
    mode = "server" if is_server else "offline"
    rate = ""
    if is_server:
        rate = log.get("target_qps", "")
        lim = ""
        if "ttft_limit" in log and "tpot_limit" in log:
            lim = "; " + TTFT_TPOT_LIMITS.format(
                ttft=int(log["ttft_limit"]) / 1e9, tpot=int(log["tpot_limit"]) / 1e9
            )
        label = (
            "Interactive (loadgen Server scenario with interactive latency limits)"
            if scenario == "Interactive"
            else "Server"
        )
        notes.append(f"{label}: Poisson arrivals at target_qps {rate}{lim}")
    else:
        notes.append("Offline: all samples issued at once")

    scen_id = scenario.lower()
    case_id = f"mlperf-v{ver}-{e['ID'].split('-')[-1]}-{bench}-{scen_id}" + ("-adp" if adp else "")
    base = {
        "case_id": case_id,
        "model": model,
        "accelerator": acc,
        "num_accelerators": str(n_acc),
        "engine": engine,
        "engine_version": engine_version,
        "weight_precision": wprec,
        "kv_precision": kvprec,
        "tp": tp,
        "pp": pp,
        "ep": ep,
        "isl": "",
        "osl": "",
        "dataset": dataset,
        "mode": mode,
        "concurrency": "",
        "request_rate_per_s": rate,
        "batch_size": "",
    }
    common = "; ".join(notes)
    out = []
    summ_src = repo.source("summary_results.json", f"entry {e['Location']}")
    log_src = repo.source(lp)

    def add(metric: str, value: str, unit: str, src: str, extra: str = "") -> None:
        out.append(
            {
                **base,
                "source": src,
                "metric": metric,
                "value": value,
                "unit": unit,
                "notes": common + (f"; {extra}" if extra else ""),
            }
        )

    # throughput
    log_tok = log.get("tokens_per_s_server" if is_server else "tokens_per_s_offline")
    perf = float(e["Performance_Result"])
    if e.get("Performance_Units") == "Tokens/s":
        extra = ""
        if log_tok and abs(float(log_tok) - perf) > 0.002 * perf:
            extra = f"performance log reports {log_tok} tokens/s (differs from the summary)"
        add("output_tokens_per_s", fmt(perf), "tokens/s", summ_src, extra)
    elif log_tok and abs(float(log_tok) - perf) <= 0.002 * perf:
        add(
            "output_tokens_per_s",
            fmt(float(log_tok)),
            "tokens/s",
            log_src,
            f"summary_results.json labels this value '{e.get('Performance_Units')}' "
            f"({perf:g}) but it equals the log's 'Completed tokens per second'; log value used",
        )
    if is_server:
        if "samples_per_s_server" in log:
            add(
                "requests_per_s",
                log["samples_per_s_server"],
                "requests/s",
                log_src,
                "'Completed samples per second' from the performance log",
            )
        for metric, key, label in NS_METRICS:
            if key in log:
                add(metric, ns_to_s(log[key]), "s", log_src, label)
    elif "samples_per_s_offline" in log:
        add(
            "requests_per_s",
            log["samples_per_s_offline"],
            "requests/s",
            log_src,
            "'Samples per second' from the performance log",
        )
    if e.get("has_power") and e.get("Power_Result") not in (None, ""):
        pw = float(e["Power_Result"])
        if str(e.get("Power_Units", "")).lower().startswith("watt"):
            add(
                "system_power_w_mean",
                fmt(pw),
                "W",
                summ_src,
                "power run: average whole-system wall power (Power_Result)",
            )
            if e.get("Performance_Units") == "Tokens/s" and perf > 0:
                add(
                    "energy_j_per_output_token",
                    f"{pw / perf:.6f}",
                    "J",
                    summ_src,
                    f"DERIVED: system_power_w_mean / output_tokens_per_s = {pw:.2f} W / "
                    f"{perf:g} tok/s (wall energy, whole system)",
                )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repos", nargs="+", help="VERSION=GIT_DIR[@COMMIT]")
    ap.add_argument("-o", "--out", required=True, help="output CSV")
    ap.add_argument("--skipped", help="write skipped entries (TSV) here")
    args = ap.parse_args(argv)

    rows: list[dict[str, str]] = []
    skipped: list[list[str]] = []
    for spec in args.repos:
        ver, _, rest = spec.partition("=")
        ver = ver.lstrip("v")
        git_dir, _, commit = rest.partition("@")
        repo = Repo(git_dir, commit or "HEAD", ver)
        print(f"v{ver}: reading {repo.name} at {repo.commit}", file=sys.stderr)
        rows.extend(extract(repo, skipped))

    seen = set()
    for r in rows:
        key = (r["case_id"], r["metric"])
        if key in seen:
            raise SystemExit(f"duplicate {key}")
        seen.add(key)

    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)
    if args.skipped:
        with open(args.skipped, "w", newline="") as f:
            csv.writer(f, delimiter="\t").writerows(skipped)
    print(
        f"wrote {len(rows)} rows, {len({r['case_id'] for r in rows})} runs to {args.out}; "
        f"{len(skipped)} entries skipped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
