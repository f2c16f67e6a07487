"""``chip2grid calibrate``: fit the efficiencies to your own benchmark results."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chip2grid.cli.app import app, console
from chip2grid.jsonable import jsonable


def _table_dict(table: Any) -> dict[str, Any]:
    return {
        "overall": {"mape": table.overall[0], "n": table.overall[1]},
        "metric": {k: {"mape": v[0], "n": v[1]} for k, v in table.by_metric.items()},
        "accelerator": {k: {"mape": v[0], "n": v[1]} for k, v in table.by_accelerator.items()},
    }


@app.command("calibrate")
def calibrate_command(
    measurements: Annotated[
        list[Path] | None,
        typer.Option(help="measurements CSV (the shared/validation schema); repeatable"),
    ] = None,
    vllm_json: Annotated[
        list[Path] | None,
        typer.Option(help="vLLM benchmark_serving / `vllm bench serve` result JSON; repeatable"),
    ] = None,
    sglang_json: Annotated[
        list[Path] | None, typer.Option(help="SGLang bench_serving result JSON(L); repeatable")
    ] = None,
    accelerator: Annotated[
        str | None, typer.Option(help="fit only this accelerator's cases (catalog id)")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="fit only this engine's cases (e.g. vllm)")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="for benchmark JSONs: the catalog model served")
    ] = None,
    num_accelerators: Annotated[
        int, typer.Option(help="for benchmark JSONs: accelerators used")
    ] = 1,
    tp: Annotated[int, typer.Option(help="for benchmark JSONs: tensor parallelism")] = 1,
    pp: Annotated[int, typer.Option(help="for benchmark JSONs: pipeline parallelism")] = 1,
    weight_precision: Annotated[
        str, typer.Option(help="for benchmark JSONs: weight precision")
    ] = "bf16",
    kv_precision: Annotated[
        str, typer.Option(help="for benchmark JSONs: KV-cache precision")
    ] = "auto",
    folds: Annotated[int, typer.Option(help="k of the k-fold cross-validation")] = 5,
    max_nfev: Annotated[int, typer.Option(help="least-squares evaluations per fit (time)")] = 20,
    seed: Annotated[int, typer.Option(help="fold shuffling seed")] = 0,
    group_by: Annotated[
        str,
        typer.Option(
            help="what one cross-validation fold keeps together: case (plain k-fold), model "
            "(error on an unmeasured model), layout (model x TP/PP/EP x precision: an "
            "unmeasured deployment) or source"
        ),
    ] = "case",
    write: Annotated[
        Path | None, typer.Option(help="write the fitted calibration TOML here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Fit an accelerator family's efficiencies to your benchmarks; report cross-validated error."""
    from chip2grid.validation.calibrate import BenchSetup, calibrate, load_measurements

    setup = None
    if model is not None:
        if accelerator is None:
            from chip2grid.errors import InvalidParameterError

            raise InvalidParameterError(
                "--accelerator", None, "a catalog accelerator id with --model"
            )
        setup = BenchSetup(
            model=model,
            accelerator=accelerator,
            num_accelerators=num_accelerators,
            tp=tp,
            pp=pp,
            engine=engine or "vllm",
            weight_precision=weight_precision,
            kv_precision=kv_precision,
        )
    csvs, vj, sj = measurements or [], vllm_json or [], sglang_json or []
    cases = load_measurements(csvs, vj, sj, setup)
    report = calibrate(
        cases,
        accelerator=accelerator,
        engine=engine,
        folds=folds,
        max_nfev=max_nfev,
        seed=seed,
        sources=[str(p) for p in [*csvs, *vj, *sj]],
        group_by=group_by,
    )
    written = None
    if write is not None:
        command = "chip2grid calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        written = str(report.write(write, command))
    summary = {
        "family": report.family,
        "accelerators": report.accelerators,
        "engines": report.engines,
        "num_cases": report.num_cases,
        "num_skipped_cases": len(report.skipped),
        "folds": report.folds,
        "group_by": report.group_by,
        "max_nfev": report.max_nfev,
        "elapsed_s": report.elapsed_s,
        "before": _table_dict(report.before),
        "after_cv": _table_dict(report.after_cv),
        "after_in_sample": _table_dict(report.after_in_sample),
        "hardware": report.hardware,
        "engine": report.engine_params,
        "power": report.power,
        "written": written,
    }
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    table = Table(
        "metric", "n", "MAPE before (catalog)", f"MAPE after ({report.folds}-fold CV"
        + ("" if report.group_by == "case" else f", by {report.group_by}") + ")",
        title=f"{report.family}: {', '.join(report.accelerators)}", title_justify="left",
    )  # fmt: skip
    for metric, (value, n) in report.before.by_metric.items():
        after = report.after_cv.by_metric.get(metric, (float("nan"), 0))[0]
        table.add_row(metric, str(n), f"{value:.1%}", f"{after:.1%}")
    table.add_row(
        "all", str(report.before.overall[1]), f"{report.before.overall[0]:.1%}",
        f"{report.after_cv.overall[0]:.1%}",
    )  # fmt: skip
    console.print(table)
    params = Table("parameter", "fitted", title="fit on all cases", title_justify="left")
    for name, value in report.hardware.items():
        params.add_row(name, f"{value:.4g}")
    for key, values in report.engine_params.items():
        for name, value in values.items():
            params.add_row(f"{key}.{name}", f"{value:.4g}")
    console.print(params)
    console.print(
        f"{report.num_cases} cases ({len(report.skipped)} skipped) in {report.elapsed_s:.1f} s"
        + (f"; wrote {written} (use it with CHIP2GRID_CALIBRATION={written})" if written else "")
    )
