"""Many scenarios at once: grid or random sweeps on local processes or Ray, stored in DuckDB."""

from __future__ import annotations

from chip2grid.sweep.execute import (
    PointFunction,
    SweepSummary,
    base_fingerprint,
    evaluate_chunk,
    load_point_function,
    run_sweep,
    scenario_point,
)
from chip2grid.sweep.query import AGGREGATES, QueryResult, export_query, parse_where, query_store
from chip2grid.sweep.spec import (
    GridAxis,
    RandomAxis,
    SweepPoint,
    SweepSpec,
    check_fields,
    expand_points,
    load_sweep_file,
    parse_grid,
    parse_random,
    parse_value,
    point_id,
)
from chip2grid.sweep.store import FIXED_COLUMNS, PointResult, ResultStore

__all__ = [
    "AGGREGATES",
    "FIXED_COLUMNS",
    "GridAxis",
    "PointFunction",
    "PointResult",
    "QueryResult",
    "RandomAxis",
    "ResultStore",
    "SweepPoint",
    "SweepSpec",
    "SweepSummary",
    "base_fingerprint",
    "check_fields",
    "evaluate_chunk",
    "expand_points",
    "export_query",
    "load_point_function",
    "load_sweep_file",
    "parse_grid",
    "parse_random",
    "parse_value",
    "parse_where",
    "point_id",
    "query_store",
    "run_sweep",
    "scenario_point",
]
