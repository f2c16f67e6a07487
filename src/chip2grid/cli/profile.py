"""``chip2grid profile``: measure this machine's GPU (or CPU) and write a calibration file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chip2grid.cli.app import app, console
from chip2grid.jsonable import jsonable


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(p.strip() for p in text.split(",") if p.strip())


@app.command("profile")
def profile_command(
    device: Annotated[str, typer.Option(help="auto, cuda or cpu")] = "auto",
    accelerator: Annotated[
        str | None,
        typer.Option(help="catalog id of this GPU (e.g. h100-sxm); required on cuda, not on cpu"),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="few tiny shapes: seconds (CI); a smoke test")
    ] = False,
    models: Annotated[
        str, typer.Option(help="comma-separated catalog models whose projection GEMMs to time")
    ] = "llama-3.1-8b",
    tp: Annotated[
        int, typer.Option(help="tensor-parallel ranks the GEMM widths are split over")
    ] = 1,
    precisions: Annotated[
        str | None,
        typer.Option(help="comma-separated: bf16, fp16, fp32, fp8 (default: all the device has)"),
    ] = None,
    repeats: Annotated[int, typer.Option(help="timed repeats per kernel (0: default)")] = 0,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the calibration TOML")
    ] = Path("chip2grid-profile.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Time GEMMs, attention, bandwidth and overheads; fit the efficiencies; write a calibration file."""
    from chip2grid.profile import ProfileOptions, import_torch, run_profile, summarize

    options = ProfileOptions(
        device=device,
        accelerator=accelerator,
        quick=quick,
        models=_split(models) or (),
        tp=tp,
        precisions=_split(precisions),
        repeats=repeats,
    )
    import_torch()  # a one-line error naming the extra when torch is missing
    command = "chip2grid profile " + " ".join(
        part
        for part in (
            f"--device {device}",
            f"--accelerator {accelerator}" if accelerator else "",
            "--quick" if quick else "",
            f"--models {models}",
        )
        if part
    )
    result = run_profile(options, command=command)
    path = result.write(output)
    summary = summarize(result)
    summary["output"] = str(path)
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    table = Table(
        "parameter", "value", title=f"profile of {summary['device']}", title_justify="left"
    )
    for key, value in summary["hardware"].items():
        table.add_row(key, f"{value:.4g}")
    for p, fit in summary["gemm_fits"].items():
        table.add_row(
            f"gemm {p}",
            f"eff {fit['gemm_compute_eff']:.3f}, m_half {fit['gemm_m_half_tokens']:.3g}, "
            f"best {fit['measured_peak_flop_per_s'] / 1e12:.3g} TFLOP/s",
        )
    table.add_row("copy bandwidth", f"{summary['measured_bandwidth_bytes_per_s'] / 1e9:.3g} GB/s")
    table.add_row("kernel launch", f"{summary['kernel_launch_s'] * 1e6:.3g} us")
    table.add_row(
        "power under GEMM load",
        "n/a" if summary["power_w"] is None else f"{summary['power_w']:.0f} W",
    )
    console.print(table)
    for note in summary["notes"]:
        console.print(f"note: {note}")
    console.print(f"wrote {path} (use it with CHIP2GRID_CALIBRATION={path})")
