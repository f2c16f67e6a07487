"""The command line: ``chip2grid run | init | schema | compare | estimate | simulate | cost | ...``.

Holds no model logic: it parses options, calls the public API and prints. Every
:class:`~chip2grid.errors.Chip2GridError` and every usage error becomes a one-line message
and exit code 2.
"""

from __future__ import annotations

import sys

# Each module registers its commands on the shared app when imported.
from chip2grid.cli import bottleneck as _bottleneck  # noqa: F401
from chip2grid.cli import calibrate as _calibrate  # noqa: F401
from chip2grid.cli import cost as _cost  # noqa: F401
from chip2grid.cli import fleet as _fleet  # noqa: F401
from chip2grid.cli import industry as _industry  # noqa: F401
from chip2grid.cli import plan as _plan  # noqa: F401
from chip2grid.cli import profile as _profile  # noqa: F401
from chip2grid.cli import scenario as _scenario  # noqa: F401
from chip2grid.cli import serve as _serve  # noqa: F401
from chip2grid.cli import simulate as _simulate  # noqa: F401
from chip2grid.cli import simulate_models as _simulate_models  # noqa: F401
from chip2grid.cli import site as _site  # noqa: F401
from chip2grid.cli import sweep as _sweep  # noqa: F401
from chip2grid.cli.app import app
from chip2grid.errors import Chip2GridError


def main() -> None:
    """Entry point of the ``chip2grid`` command."""
    try:
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


__all__ = ["app", "main"]
