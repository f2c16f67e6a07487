"""The repository's scripts and benchmarks, as tests load and run them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str) -> ModuleType:
    """Import a file of the repository (``scripts/x.py``, ``benchmarks/y.py``) as a module,
    registered in ``sys.modules`` under its stem (a dataclass resolves its annotations there)."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_on_measurements(relative_path: str, measurements: Path, timeout_s: float) -> str:
    """Standard output of a benchmark run as a process on ``--measurements measurements``."""
    return subprocess.run(
        [sys.executable, str(ROOT / relative_path), "--measurements", str(measurements)],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout_s,
    ).stdout
