"""AIConfigurator side of ``aiconfigurator_cases.py``: run inside the venv that has ``aiconfigurator``.

Reads a JSON list of requests, answers each with ``aiconfigurator.cli.api.cli_estimate`` (the
function behind ``aiconfigurator cli estimate``) and writes a JSON list of answers. It is a
separate process because AIConfigurator lives in its own virtual environment, never in
chip2grid's.

Usage: ``HF_HUB_OFFLINE=1 /tmp/peers-venv/bin/python _aic_worker.py requests.json answers.json``

A request names the model (a packaged Hugging Face id or a local directory with a config.json),
the system, the backend, the mode (``agg`` = in-flight batching, ``static`` = static batching),
ISL/OSL, TP/PP/EP, quantization modes and either a fixed ``batch`` or a ``batch_cap``: then the
largest batch on a 1, 1.5, 2, 3, 4, 6 ... grid up to the cap that AIConfigurator itself says
fits (no OOM error, no KV-capacity warning), as an offline max-throughput engine would run.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _grid(cap: int) -> list[int]:
    values = {1}
    k = 1
    while k <= cap:
        values.add(k)
        if k * 3 // 2 <= cap and k >= 2:
            values.add(k * 3 // 2)
        k *= 2
    values.add(cap)
    return sorted(v for v in values if v <= cap)


def _estimate(cli_estimate: Any, req: dict[str, Any], version: str, batch: int) -> Any:
    """One ``cli_estimate`` call for ``req`` at ``batch``."""
    return cli_estimate(
        req["model_path"],
        req["system"],
        mode=req["mode"],
        backend_name=req["backend"],
        backend_version=version,
        isl=req["isl"],
        osl=req["osl"],
        batch_size=batch,
        ctx_tokens=req.get("ctx_tokens"),
        tp_size=req["tp"],
        pp_size=req["pp"],
        attention_dp_size=req.get("dp", 1),
        moe_tp_size=req.get("moe_tp"),
        moe_ep_size=req.get("ep"),
        gemm_quant_mode=req.get("gemm"),
        kvcache_quant_mode=req.get("kv"),
        moe_quant_mode=req.get("moe"),
    )


def _packaged_dir(model_path: str, work: Path) -> str:
    """A directory with config.json for ``aic-packaged:<stem>``: a config AIConfigurator ships.

    Some shipped configs (Mixtral) are not in its offline lookup list, so ``cli_estimate`` tries
    a Hugging Face download for their id; a local directory with the same file avoids that.
    """
    if not model_path.startswith("aic-packaged:"):
        return model_path
    import aiconfigurator_core

    stem = model_path.split(":", 1)[1]
    source = Path(aiconfigurator_core.__file__).parent / "model_configs" / f"{stem}_config.json"
    target = work / stem
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target / "config.json")
    return str(target)


def _answer(cli_estimate: Any, req: dict[str, Any], version: str) -> dict[str, Any]:
    """AIConfigurator's answer to one request: the batch it ran and its figures, or an error."""
    answer: dict[str, Any] = {}
    calls = 0

    def estimate(batch: int) -> Any:
        nonlocal calls
        calls += 1
        return _estimate(cli_estimate, req, version, batch)

    def feasible(batch: int) -> Any | None:
        try:
            result = estimate(batch)
        except Exception:  # OOM and unsupported shapes both mean "not this batch"
            return None
        return result if result.kv_cache_warning is None else None

    result = None
    batch = 0
    error = ""
    try:
        if "batch" in req:
            batch = int(req["batch"])
            result = estimate(batch)
        else:
            grid = _grid(int(req["batch_cap"]))
            lo, hi = 0, len(grid) - 1  # bisection: feasibility falls with the batch
            best = None
            while lo <= hi:
                mid = (lo + hi) // 2
                r = feasible(grid[mid])
                if r is not None:
                    best, batch = r, grid[mid]
                    lo = mid + 1
                else:
                    hi = mid - 1
            result = best
            if result is None:
                try:
                    estimate(1)
                    error = "AIConfigurator: batch 1 exceeds its KV-cache estimate"
                except Exception as exc:
                    error = f"AIConfigurator: {str(exc).splitlines()[0][:160]}"
    except Exception as exc:
        error = f"AIConfigurator: {str(exc).splitlines()[0][:160]}"
    answer["calls"] = calls
    if result is None:
        answer["error"] = error or "AIConfigurator returned no result"
    else:
        raw = result.raw
        answer.update(
            batch=batch,
            ttft_ms=float(result.ttft),
            tpot_ms=float(result.tpot),
            seq_per_s_per_gpu=float(raw["seq/s/gpu"]),
            request_latency_ms=float(raw.get("request_latency", float("nan")) or "nan"),
            kv_warning=result.kv_cache_warning is not None,
        )
    return answer


def main() -> None:
    from aiconfigurator.cli.api import cli_estimate
    from aiconfigurator_core.sdk.perf_database import get_latest_database_version

    logging.disable(logging.WARNING)
    with open(sys.argv[1]) as fh:
        requests: list[dict[str, Any]] = json.load(fh)
    versions: dict[tuple[str, str], str | None] = {}
    answers: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="aic-models-"))

    for req in requests:
        start = time.perf_counter()
        key = (req["system"], req["backend"])
        if key not in versions:
            try:
                versions[key] = get_latest_database_version(system=key[0], backend=key[1])
            except Exception:  # AIConfigurator's own failure, reported as text
                versions[key] = None
        version = versions[key]
        answer: dict[str, Any] = {"key": req["key"], "backend_version": version}
        if version is None:
            answer["error"] = f"AIConfigurator has no {key[1]} database for {key[0]}"
            answer["time_s"] = time.perf_counter() - start
            answers.append(answer)
            continue
        req = {**req, "model_path": _packaged_dir(str(req["model_path"]), work)}
        answer.update(_answer(cli_estimate, req, version))
        answer["time_s"] = time.perf_counter() - start
        answers.append(answer)
        print(f"{len(answers)}/{len(requests)} {req['key']}", file=sys.stderr, flush=True)
    with open(sys.argv[2], "w") as fh:
        json.dump(answers, fh)


if __name__ == "__main__":
    main()
