"""Run a sweep: evaluate points on local processes (joblib/loky) or a Ray cluster and store them
in batches, skipping points already stored (resume)."""

from __future__ import annotations

import functools
import hashlib
import importlib
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chip2grid.errors import Chip2GridError, InvalidParameterError
from chip2grid.sweep.spec import SweepPoint, SweepSpec, Value, check_fields, expand_points
from chip2grid.sweep.store import PointResult, ResultStore

__all__ = [
    "PointFunction",
    "SweepSummary",
    "base_fingerprint",
    "evaluate_chunk",
    "load_point_function",
    "run_sweep",
    "scenario_point",
]

PointFunction = Callable[[dict[str, object]], dict[str, float]]
"""``evaluate_point(overrides) -> metrics``: the function a sweep runs on every point."""

RAY_CONNECT_TIMEOUT_S = 10.0
"""How long to wait for a Ray head to answer before giving up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSummary:
    """What a sweep run did."""

    store: str
    num_points: int
    num_skipped: int
    """Already in the store (resumed)."""
    num_evaluated: int
    num_ok: int
    num_errors: int
    num_rows: int
    """Rows in the store at the end."""
    elapsed_s: float
    points_per_s: float
    backend: str
    num_workers: int


def scenario_point(base: str, simulate: bool, overrides: dict[str, object]) -> dict[str, float]:
    """Evaluate ``base`` with ``overrides`` through the scenario API (steady state + cost, or
    with the trace simulation)."""
    from chip2grid.scenario import apply_overrides, evaluate

    scenario = _cached_scenario(base)
    return dict(evaluate(apply_overrides(scenario, overrides), simulate=simulate).metrics())


@functools.cache
def _cached_scenario(base: str) -> Any:
    from chip2grid.scenario import load_scenario

    return load_scenario(base)


def scenario_fields_list() -> list[str]:
    """Every field a sweep may vary (from the scenario API)."""
    from chip2grid.scenario import scenario_fields

    return list(scenario_fields())


def base_fingerprint(base: str) -> str:
    """A stable digest of the base scenario: its normalized content when the scenario API can
    load it, else the file's bytes, else the name."""
    try:
        scenario = _cached_scenario(base)
    except ImportError:
        scenario = None
    if scenario is not None:
        dump = getattr(scenario, "model_dump_json", None)
        text = str(dump()) if callable(dump) else repr(scenario)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(base)
    data = path.read_bytes() if path.is_file() else base.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def load_point_function(spec: str) -> PointFunction:
    """``package.module:function`` -> the function (for custom sweeps and tests)."""
    module_name, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise InvalidParameterError(
            "--point-function", spec, "an importable module:function"
        ) from None
    if not callable(fn):
        raise InvalidParameterError("--point-function", spec, "a callable")
    return fn


def evaluate_chunk(
    fn: PointFunction, chunk: Sequence[tuple[str, tuple[tuple[str, Value], ...]]]
) -> list[PointResult]:
    """Evaluate a chunk of points; a :class:`Chip2GridError` becomes an error row."""
    out: list[PointResult] = []
    for pid, overrides in chunk:
        start = time.perf_counter()
        try:
            metrics = fn(dict(overrides))
        except Chip2GridError as exc:
            out.append(
                PointResult(
                    point_id=pid,
                    overrides=overrides,
                    status="error",
                    error=f"{type(exc).__name__}: {exc}",
                    elapsed_s=time.perf_counter() - start,
                )
            )
            continue
        out.append(
            PointResult(
                point_id=pid,
                overrides=overrides,
                status="ok",
                error=None,
                elapsed_s=time.perf_counter() - start,
                metrics=tuple((str(k), float(v)) for k, v in metrics.items()),
            )
        )
    return out


def _chunks(
    points: Sequence[SweepPoint], size: int
) -> list[list[tuple[str, tuple[tuple[str, Value], ...]]]]:
    items = [(p.point_id, p.overrides) for p in points]
    return [items[i : i + size] for i in range(0, len(items), size)]


def _local(
    fn: PointFunction, chunks: list[list[tuple[str, tuple[tuple[str, Value], ...]]]], workers: int
) -> Iterator[list[PointResult]]:
    if workers == 1:
        for chunk in chunks:
            yield evaluate_chunk(fn, chunk)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    yield from parallel(delayed(evaluate_chunk)(fn, chunk) for chunk in chunks)


def _check_ray_reachable(address: str) -> None:
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise InvalidParameterError(
            "--ray-address", address, "auto, local, HOST:PORT or ray://HOST:PORT"
        )
    try:
        with socket.create_connection((host, port), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise InvalidParameterError(
            "--ray-address",
            address,
            "a Ray head that answers",
            f"no answer from {host}:{port} within {RAY_CONNECT_TIMEOUT_S:g} s ({exc}); "
            "start one with `ray start --head` or use --ray-address local",
        ) from None


def _ray(
    fn: PointFunction,
    chunks: list[list[tuple[str, tuple[tuple[str, Value], ...]]]],
    address: str,
    workers: int,
) -> Iterator[list[PointResult]]:
    try:
        import ray
    except ImportError:
        raise InvalidParameterError(
            "--ray-address", address, "Ray installed", "pip install 'chip2grid[ray]'"
        ) from None
    _check_ray_reachable(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise InvalidParameterError(
                "--ray-address", address, "a Ray cluster that answers", str(exc)
            ) from None
    try:
        remote = ray.remote(evaluate_chunk)
        fn_ref = ray.put(fn)
        pending = [remote.remote(fn_ref, chunk) for chunk in chunks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


def run_sweep(
    spec: SweepSpec,
    store_path: Path | str,
    *,
    point_function: PointFunction | None = None,
    known_fields: Sequence[str] | None = None,
    workers: int = 2,
    ray_address: str | None = None,
    batch_size: int = 200,
    chunk_size: int = 0,
    simulate: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SweepSummary:
    """Evaluate every point of ``spec`` not yet in the store and store the results.

    Parameters
    ----------
    spec
        The sweep.
    store_path
        DuckDB file; points already in it are skipped (resume).
    point_function
        ``overrides -> metrics``; default the scenario API on ``spec.base``
        (:func:`scenario_point`), whose fields are checked against ``scenario_fields()``.
    known_fields
        Fields a custom point function accepts (checked when given).
    workers
        Local processes (joblib/loky), or CPUs of a local Ray.
    ray_address
        ``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT``: run on Ray instead.
    batch_size
        Results per transaction: an interrupted sweep loses at most the uncommitted batch.
    chunk_size
        Points per task (default: enough for about 8 tasks per worker, at most 100).

    Notes
    -----
    The parent process is the only writer. Workers return results; the parent appends them
    in transactions of ``batch_size`` rows. ``point_id`` is the primary key, so a re-run with
    the same arguments skips what is stored and ends with exactly one row per point.
    """
    if workers < 1:
        raise InvalidParameterError("--workers", workers, "an integer >= 1")
    if batch_size < 1:
        raise InvalidParameterError("--batch-size", batch_size, "an integer >= 1")
    if point_function is None:
        check_fields(spec.fields, scenario_fields_list())
        fn: PointFunction = functools.partial(scenario_point, spec.base, simulate)
    else:
        if known_fields is not None:
            check_fields(spec.fields, known_fields)
        fn = point_function
    fingerprint = base_fingerprint(spec.base) if point_function is None else spec.base
    points = expand_points(spec, fingerprint)
    start = time.perf_counter()
    num_ok = num_err = 0
    with ResultStore(store_path) as store:
        types: list[tuple[str, str]] = []
        for axis in spec.grid:
            kinds = {type(v) for v in axis.values}
            sql = (
                "BIGINT"
                if kinds == {int}
                else "DOUBLE"
                if kinds <= {int, float}
                else "BOOLEAN"
                if kinds == {bool}
                else "VARCHAR"
            )
            types.append((axis.field, sql))
        types += [(a.field, "BIGINT" if a.integer else "DOUBLE") for a in spec.random]
        store.prepare_fields(types)
        done = store.stored_ids()
        todo = [p for p in points if p.point_id not in done]
        per_task = chunk_size or max(1, min(100, len(todo) // (8 * workers) or 1))
        chunks = _chunks(todo, per_task)
        if ray_address is not None:
            results = _ray(fn, chunks, ray_address, workers)
            backend = f"ray ({ray_address})"
        else:
            results = _local(fn, chunks, workers)
            backend = "local" if workers == 1 else "joblib-loky"
        pending: list[PointResult] = []
        written = 0
        for chunk_results in results:
            pending.extend(chunk_results)
            if len(pending) >= batch_size:
                written += store.write_batch(spec.base, pending)
                pending = []
                if progress is not None:
                    progress(written, len(todo))
            for r in chunk_results:
                if r.status == "ok":
                    num_ok += 1
                else:
                    num_err += 1
        written += store.write_batch(spec.base, pending)
        if progress is not None:
            progress(written, len(todo))
        num_rows = store.count()
    elapsed = time.perf_counter() - start
    return SweepSummary(
        store=str(store_path),
        num_points=len(points),
        num_skipped=len(points) - len(todo),
        num_evaluated=len(todo),
        num_ok=num_ok,
        num_errors=num_err,
        num_rows=num_rows,
        elapsed_s=elapsed,
        points_per_s=len(todo) / elapsed if elapsed > 0 else 0.0,
        backend=backend,
        num_workers=workers,
    )
