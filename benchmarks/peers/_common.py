"""Helpers shared by the peer comparisons: find a peer's virtual environment, time a command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def peer_python(env_var: str, default: str, module: str) -> str | None:
    """The Python of the venv that has ``module`` (``$env_var`` or ``default``), or None."""
    python = os.environ.get(env_var, default)
    if not Path(python).exists():
        return None
    probe = subprocess.run(
        [python, "-c", f"import {module}"],
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    return python if probe.returncode == 0 else None


def require_peer(env_var: str, default: str, module: str, install: str) -> str:
    """Return the peer's Python or exit cleanly (status 0) saying how to install it."""
    python = peer_python(env_var, default, module)
    if python is None:
        print(
            f"{module} is not installed (looked for {os.environ.get(env_var, default)}); "
            f"skipping this comparison. Install it with: {install} "
            f"(or point ${env_var} at a Python that has it)."
        )
        sys.exit(0)
    return python


def timed_run(cmd: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``cmd`` and return the completed process and its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    return proc, time.perf_counter() - start


def chip2grid_cli() -> list[str]:
    """The chip2grid command line of this checkout's environment."""
    exe = Path(sys.executable).with_name("chip2grid")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "chip2grid.cli"]


def mape(pairs: list[tuple[float, float]]) -> float:
    """Mean absolute percentage error of (measured, predicted) pairs, in percent."""
    if not pairs:
        return float("nan")
    return 100.0 * sum(abs(p - m) / m for m, p in pairs) / len(pairs)
