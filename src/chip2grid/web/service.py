"""What the API computes: request bodies, web-only input limits, cached evaluations.

Every computation goes through the public API (:func:`chip2grid.scenario.evaluate`,
:func:`chip2grid.report.build_report`); this module only checks what a remote caller may ask
for and keeps recent results.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import numpy as np
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chip2grid.errors import InfeasibleError, InvalidParameterError, UnknownEntryError
from chip2grid.jsonable import jsonable
from chip2grid.report import Report, build_report, report_to_dict
from chip2grid.scenario import (
    PACKAGED_TRACES,
    Scenario,
    ScenarioError,
    ScenarioResult,
    evaluate,
    list_scenarios,
    scenario_from_dict,
)
from chip2grid.scenario.compare import compare_metrics

MAX_WEB_ACCELERATORS = 4096
"""The API evaluates at most this many accelerators (the CLI has no such cap)."""
MAX_WEB_REQUESTS = 50_000
"""Synthetic requests per simulated workload through the API."""

T = TypeVar("T")
_PAYLOAD = TypeAdapter(dict[str, Any])


class EvaluateRequest(BaseModel):
    """A scenario to evaluate; fields left out take the built-in default scenario's values."""

    model_config = ConfigDict(extra="forbid")

    scenario: Scenario = Field(
        default_factory=Scenario, description="the scenario (as in a scenario file)"
    )
    simulate: bool = Field(False, description="simulate the trace (slower) or steady state only")


class CompareRequest(BaseModel):
    """Two scenarios to compare side by side."""

    model_config = ConfigDict(extra="forbid")

    a: Scenario = Field(default_factory=Scenario)
    b: Scenario = Field(default_factory=Scenario)
    simulate: bool = False


class FieldError(Exception):
    """A request field with a value that is not allowed: the API answers 422 naming it."""

    def __init__(self, loc: tuple[str | int, ...], message: str, value: object) -> None:
        self.loc, self.message, self.value = loc, message, value
        super().__init__(message)


ErrorParts = tuple[tuple[str | int, ...], str, Any]
"""Where a 422 points (``loc``), its message and the offending value (JSON-ready)."""


def error_parts(exc: Exception) -> ErrorParts | None:
    """How the API reports ``exc`` as a 422, or None when it is not a caller's error.

    One mapping for the exception handlers and the estimate worker processes, so an error
    computed in a worker reads exactly as one raised in the server.
    """
    if isinstance(exc, FieldError):
        loc, message, value = exc.loc, exc.message, exc.value
    elif isinstance(exc, UnknownEntryError):
        loc, message, value = ("body", exc.kind), str(exc), exc.name
    elif isinstance(exc, InvalidParameterError):
        loc, message, value = ("body", *exc.field.split(".")), str(exc), exc.value
    elif isinstance(exc, InfeasibleError):
        loc, message, value = ("body", "scenario", "deployment"), str(exc), None
    else:
        return None
    return tuple(loc), message, jsonable_encoder(value, custom_encoder={object: str})


def resolve(scenario: Scenario, where: str = "scenario") -> Scenario:
    """:func:`resolve_scenario`, with errors as :class:`FieldError` located at ``body.where``."""
    try:
        return resolve_scenario(scenario)
    except (ScenarioError, InvalidParameterError) as exc:
        raise FieldError(("body", where, *exc.field.split(".")), str(exc), exc.value) from None
    except UnknownEntryError as exc:
        raise FieldError(("body", where, exc.kind), str(exc), exc.name) from None


def resolve_scenario(scenario: Scenario) -> Scenario:
    """The scenario a caller sent, with ``extends`` resolved and web-only limits checked.

    Only what the caller set is kept (``exclude_unset``), so ``extends`` merges as in a file.
    A remote caller may not make the server read files: ``extends`` must be a built-in name,
    ``workload.trace`` a packaged trace or null, ``model`` a catalog id.

    Raises
    ------
    ScenarioError
        Naming the field, the value and what is allowed.
    """
    data = scenario.model_dump(mode="json", exclude_unset=True)
    extends = data.get("extends")
    if extends is not None and extends not in list_scenarios():
        raise ScenarioError(
            "extends", extends, f"a built-in scenario: {', '.join(list_scenarios())}"
        )
    trace = (data.get("workload") or {}).get("trace", "unset")
    if trace not in ("unset", None) and trace not in PACKAGED_TRACES:
        raise ScenarioError(
            "workload.trace", trace, f"a packaged trace ({', '.join(PACKAGED_TRACES)}) or null"
        )
    if str(data.get("model", "")).endswith(".json"):
        raise ScenarioError("model", data["model"], "a catalog model id (no files via the API)")
    resolved = scenario_from_dict(data)
    if resolved.deployment.num_accelerators > MAX_WEB_ACCELERATORS:
        raise ScenarioError(
            "deployment.num_accelerators",
            resolved.deployment.num_accelerators,
            f"at most {MAX_WEB_ACCELERATORS} through the web API (use the CLI for more)",
        )
    if resolved.workload.synthetic.num_requests > MAX_WEB_REQUESTS:
        raise ScenarioError(
            "workload.synthetic.num_requests",
            resolved.workload.synthetic.num_requests,
            f"at most {MAX_WEB_REQUESTS:,} through the web API (use the CLI for more)",
        )
    return resolved


def scenario_key(scenario: Scenario, *extra: object) -> str:
    """A canonical key of a resolved scenario (and options) for the result cache."""
    return json.dumps([scenario.to_dict(), *extra], sort_keys=True, default=str)


class ResultCache(Generic[T]):
    """A bounded LRU cache whose concurrent misses on one key compute once (single flight).

    Evaluations are deterministic for a given scenario and seed, so a cached result equals a
    fresh one.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._done: OrderedDict[str, T] = OrderedDict()
        self._pending: dict[str, Future[T]] = {}

    def peek(self, key: str) -> T | None:
        """The cached value of ``key`` or None, without computing or waiting."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            return None

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()`` once for all concurrent callers."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._pending.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._pending[key] = future
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                self._pending.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._pending.pop(key, None)
            self._done[key] = value
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)
        future.set_result(value)
        return value


def layout_of(result: ScenarioResult) -> dict[str, Any]:
    """The chosen deployment in words and numbers."""
    d = result.deployment
    return {
        "model": d.model.id,
        "accelerator": d.accelerator.id,
        "num_accelerators": d.num_accelerators,
        "tp": d.tp,
        "pp": d.pp,
        "ep": d.ep,
        "num_replicas": d.num_replicas,
        "weight_precision": d.weight_precision,
        "kv_precision": d.kv_precision,
        "engine": d.engine,
        "calibration": result.capacity.calibration,
        "validated_error": jsonable(result.capacity.validated_error),
    }


class ArithmeticFieldError(FieldError):
    """The scenario's numbers overflow the model's arithmetic (e.g. a lifetime of 1e-300 years)."""


@contextlib.contextmanager
def strict_arithmetic(where: str = "scenario") -> Iterator[None]:
    """Turn numpy overflow, invalid and divide-by-zero into a 422 naming the scenario.

    Valid inputs raise no floating-point warnings (the test suite runs with warnings as
    errors), so only pathological values land here. ``numpy.errstate`` is per thread, so
    concurrent requests do not see each other's setting.
    """
    try:
        with np.errstate(all="raise"):
            yield
    except ArithmeticError as exc:
        raise ArithmeticFieldError(
            ("body", where),
            f"{where}: the model's arithmetic failed on these values ({exc}); "
            "use values in a realistic range",
            None,
        ) from None


def encode_payload(payload: dict[str, Any]) -> bytes:
    """``payload`` as the JSON bytes FastAPI would send for it (pydantic's encoder)."""
    return _PAYLOAD.dump_json(payload)


def estimate_payload(scenario: Scenario) -> dict[str, Any]:
    """The fast path: steady state only (no simulation, no charts)."""
    with strict_arithmetic():
        result = evaluate(scenario, simulate=False)
    return {
        "scenario": scenario.to_dict(),
        "layout": layout_of(result),
        "metrics": jsonable(result.metrics()),
        "trace": result.trace_source,
        "elapsed_s": result.elapsed_s,
    }


def full_evaluation(scenario: Scenario, simulate: bool) -> tuple[ScenarioResult, Report]:
    """Evaluate and build the report (charts and tables)."""
    with strict_arithmetic():
        result = evaluate(scenario, simulate=simulate)
        return result, build_report(result)


def evaluation_payload(result: ScenarioResult, report: Report) -> dict[str, Any]:
    """What POST /api/evaluate returns: inputs, layout, metrics, simulation, charts, tables."""
    return {
        "scenario": result.scenario.to_dict(),
        "layout": layout_of(result),
        "metrics": jsonable(result.metrics()),
        "simulation": jsonable(result.simulation_summary()),
        "trace": result.trace_source,
        "elapsed_s": result.elapsed_s,
        "report": report_to_dict(report),
    }


def compare_payload(
    a: Scenario, b: Scenario, ma: dict[str, Any], mb: dict[str, Any]
) -> dict[str, Any]:
    """Inputs that differ and every metric of both, with the relative change."""
    payload: dict[str, Any] = jsonable(compare_metrics(a, b, ma, mb))
    return payload
