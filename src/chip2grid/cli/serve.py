"""``chip2grid serve``: the local web dashboard and its JSON API (``pip install "chip2grid[web]"``)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from chip2grid.cli.app import app, console
from chip2grid.errors import Chip2GridError


class MissingExtraError(Chip2GridError):
    """An optional dependency group is not installed."""


def require_web_extra() -> None:
    """Stop with a one-line error when FastAPI or uvicorn is missing."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f'chip2grid serve needs {" and ".join(missing)}: pip install "chip2grid[web]"'
        )


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port", min=0, max=65535)] = 8000,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="allow a non-loopback --host (the dashboard has no authentication)",
        ),
    ] = False,
    max_jobs: Annotated[
        int, typer.Option(help="background jobs queued or running at once", min=1, max=64)
    ] = 4,
    workers: Annotated[
        int,
        typer.Option(
            help="worker processes computing new estimates off the server's event loop "
            "(0: threads of the server process)",
            min=0,
            max=64,
        ),
    ] = 2,
) -> None:
    """Serve the dashboard: run and compare scenarios, see the charts, download reports."""
    require_web_extra()
    import uvicorn

    from chip2grid.web import check_host, create_app

    check_host(host, allow_remote=allow_remote)

    web_app = create_app(
        allowed_hosts=["*"] if allow_remote else None,
        max_jobs=max_jobs,
        estimate_processes=workers,
    )
    console.print(f"chip2grid dashboard on http://{host}:{port}/ (API docs at /docs); Ctrl-C stops")
    uvicorn.run(web_app, host=host, port=port, log_level="warning")
