"""The command line: ``chip2grid run | init | schema | compare | estimate | simulate | cost | ...``.

Holds no model logic: it parses options, calls the public API and prints. Every
:class:`~chip2grid.errors.Chip2GridError` and every usage error becomes a one-line message
and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from chip2grid.cli.app import app
from chip2grid.errors import Chip2GridError

COMMAND_MODULES: dict[str, str] = {
    "bottleneck": "bottleneck",
    "calibrate": "calibrate",
    "cost": "cost",
    "fleet": "fleet",
    "industry": "industry",
    "plan": "plan",
    "profile": "profile",
    "run": "scenario",
    "init": "scenario",
    "schema": "scenario",
    "compare": "scenario",
    "serve": "serve",
    "simulate": "simulate",
    "simulate-models": "simulate_models",
    "site": "site",
    "sweep": "sweep",
    "results": "sweep",
}
"""The module of ``chip2grid.cli`` that registers each command on the shared app (the commands of
``chip2grid.cli.app`` itself, such as ``estimate``, are always there). Importing a module
registers its commands, so a run imports only the one it names: the others' imports (the sweep
store's database, the industry and bottleneck models) would add most of a second to every
command's start."""


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the commands a command line needs: only the named command's module when its
    first argument names one (``chip2grid sweep ...``), else every command, in the order the
    help lists them (no command, ``--help``, an unknown name that the error should place)."""
    first = (sys.argv[1:] if argv is None else list(argv))[:1]
    if first and first[0] in {info.name for info in app.registered_commands}:
        return  # a command of chip2grid.cli.app, or of a module already imported
    named = COMMAND_MODULES.get(first[0]) if first else None
    modules = [named] if named else sorted(set(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(f"chip2grid.cli.{module}")


def main() -> None:
    """Entry point of the ``chip2grid`` command."""
    try:
        load_commands()
        result = app(standalone_mode=False)
    except Chip2GridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Typer vendors click: recognize its exceptions by their interface, not their class.
        name = type(exc).__name__
        if name == "NoArgsIsHelpError":
            sys.exit(0)  # the help was printed
        if name == "Abort":
            sys.exit(130)
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "format_message"):
            message = " ".join(str(exc.format_message()).split())
            option = getattr(getattr(exc, "param", None), "opts", None)
            prefix = f"{option[0]}: " if option and option[0] not in message else ""
            print(f"error: {prefix}{message}", file=sys.stderr)
            sys.exit(code)
        if code is not None:
            sys.exit(code)
        raise
    if isinstance(result, int) and result:
        sys.exit(result)


__all__ = ["COMMAND_MODULES", "app", "load_commands", "main"]
