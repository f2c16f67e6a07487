"""Two scenarios side by side: the inputs that differ and every figure with its change."""

from __future__ import annotations

import math
from typing import Any

from chip2grid.scenario.schema import Scenario


def flatten_fields(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested scenario data as ``{"site.region": ...}`` (an energy mix stays one value)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "supply":
            out.update(flatten_fields(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def compare_metrics(
    a: Scenario, b: Scenario, ma: dict[str, Any], mb: dict[str, Any]
) -> dict[str, Any]:
    """Inputs of ``a`` and ``b`` that differ, and each metric of both with the relative change
    ``(b - a) / |a|`` (None where it is undefined)."""
    fa, fb = flatten_fields(a.to_dict()), flatten_fields(b.to_dict())
    inputs = [
        {"field": k, "a": fa.get(k), "b": fb.get(k)}
        for k in sorted(set(fa) | set(fb))
        if fa.get(k) != fb.get(k)
    ]
    rows = []
    for key, va in ma.items():
        vb = mb.get(key, math.nan)
        change = None
        numbers = isinstance(va, float | int) and isinstance(vb, float | int)
        if numbers and va and math.isfinite(va) and math.isfinite(vb):
            change = (vb - va) / abs(va)
        rows.append({"metric": key, "a": va, "b": vb, "change_frac": change})
    return {"a": a.name, "b": b.name, "inputs": inputs, "metrics": rows}
