"""``chip2grid sweep`` and ``chip2grid results``: many scenarios into a DuckDB store, and queries
on it."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chip2grid.cli.app import app, console
from chip2grid.errors import InvalidParameterError
from chip2grid.sweep import (
    ResultStore,
    SweepSpec,
    export_query,
    load_point_function,
    load_sweep_file,
    parse_grid,
    parse_random,
    query_store,
    run_sweep,
)


def _print_progress(num_written: int, num_todo: int) -> None:
    print(f"committed {num_written}/{num_todo}", file=sys.stderr, flush=True)


@app.command("sweep")
def sweep_command(
    scenario: Annotated[
        str, typer.Option(help="base scenario: a built-in name or a YAML/TOML file")
    ] = "default",
    grid: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=V1,V2,... (repeat for a product grid)"),
    ] = None,
    random: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=LOW:HIGH uniform, FIELD=log:LOW:HIGH, FIELD=int:LOW:HIGH"),
    ] = None,
    samples: Annotated[int, typer.Option(help="random samples (with --random)")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the random samples")] = 0,
    sweep_file: Annotated[
        Path | None, typer.Option(help="a TOML/YAML sweep file instead of --grid/--random")
    ] = None,
    store: Annotated[Path, typer.Option(help="DuckDB result store (resumed if it exists)")] = Path(
        "results.duckdb"
    ),
    workers: Annotated[int, typer.Option(help="local worker processes (or local Ray CPUs)")] = 2,
    ray_address: Annotated[
        str | None,
        typer.Option(help="run on Ray: auto, local, HOST:PORT or ray://HOST:PORT"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="results per committed transaction")] = 200,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="add the trace simulation to every point (slower)")
    ] = False,
    parquet: Annotated[
        Path | None, typer.Option(help="also export the whole store to this Parquet file")
    ] = None,
    point_function: Annotated[
        str | None,
        typer.Option(help="module:function evaluating overrides -> metrics (advanced)"),
    ] = None,
    list_fields: Annotated[
        bool, typer.Option("--list-fields", help="print the fields a sweep may vary and exit")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress", help="print a line to stderr after every commit")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run a grid or random sweep over scenario fields; store one row per point in DuckDB.

    Re-running the same command resumes: points already stored are skipped.
    """
    if list_fields:
        from chip2grid.scenario import scenario_fields

        for name in scenario_fields():
            print(name)
        return
    if sweep_file is not None:
        if grid or random:
            raise InvalidParameterError(
                "--sweep-file", str(sweep_file), "either a sweep file or --grid/--random"
            )
        spec = load_sweep_file(sweep_file)
    else:
        if not grid and not random:
            raise InvalidParameterError(
                "--grid/--random", None, "at least one --grid or --random axis (or --sweep-file)"
            )
        spec = SweepSpec(
            base=scenario,
            grid=tuple(parse_grid(g) for g in grid or []),
            random=tuple(parse_random(r) for r in random or []),
            num_samples=samples,
            seed=seed,
        )
    fn = load_point_function(point_function) if point_function else None
    summary = run_sweep(
        spec,
        store,
        point_function=fn,
        workers=workers,
        ray_address=ray_address,
        batch_size=batch_size,
        simulate=simulate,
        progress=_print_progress if progress else None,
    )
    if parquet is not None:
        with ResultStore(store, read_only=True) as db:
            export_query(db, parquet)
    if as_json:
        print(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    console.print(
        f"{summary.num_points} points: {summary.num_skipped} already stored, "
        f"{summary.num_evaluated} evaluated ({summary.num_ok} ok, {summary.num_errors} errors) "
        f"in {summary.elapsed_s:.1f} s = {summary.points_per_s:.1f} points/s on "
        f"{summary.num_workers} x {summary.backend}; {summary.num_rows} rows in {summary.store}"
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


@app.command("results")
def results_command(
    store: Annotated[Path, typer.Argument(help="DuckDB store written by chip2grid sweep")],
    where: Annotated[
        str | None,
        typer.Option(help="filter, e.g. \"cost_usd_per_mtok_output < 1 and status = 'ok'\""),
    ] = None,
    group_by: Annotated[str | None, typer.Option(help="group by this column")] = None,
    agg: Annotated[
        str, typer.Option(help="aggregate of grouped metrics: mean, min, max, sum, median, std")
    ] = "mean",
    sort: Annotated[
        str | None, typer.Option(help="sort by a column; -name or name:desc for descending")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows")] = None,
    columns: Annotated[
        str | None, typer.Option(help="comma-separated columns to show (default all)")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="write the rows to a .parquet or .csv file")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """Query a sweep's result store: filter, group, sort, export."""
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    with ResultStore(store, read_only=True) as db:
        if export is not None:
            n = export_query(
                db,
                export,
                where=where,
                group_by=group_by,
                agg=agg,
                sort=sort,
                limit=limit,
                columns=cols,
            )
            console.print(f"{n} rows written to {export}")
            return
        result = query_store(
            db, where=where, group_by=group_by, agg=agg, sort=sort, limit=limit, columns=cols
        )
    if as_json:
        rows = [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in zip(result.columns, row, strict=True)
            }
            for row in result.rows
        ]
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(
        *result.columns, title=f"{len(result.rows)} rows of {store}", title_justify="left"
    )
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
