"""A small TOML writer for calibration files (tables of scalars and arrays), written atomically."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chip2grid.atomic import write_text_atomic


def toml_value(value: Any) -> str:
    """One TOML value: string, bool, int, float (``nan``/``inf`` allowed) or inline array."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return (
            f"{value:.6g}" if "e" in f"{value:.6g}" or "." in f"{value:.6g}" else f"{value:.6g}.0"
        )
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(document: Mapping[str, Any], header: str = "") -> str:
    """Tables (nested mappings) of scalars and arrays; ``[a.b]`` for nested tables."""
    lines = [f"# {line}" for line in header.splitlines()] + ([""] if header else [])

    def emit(prefix: str, table: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
        subtables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
        if scalars or not subtables:
            lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for key, sub in subtables.items():
            emit(f"{prefix}.{key}", sub)

    for name, table in document.items():
        emit(name, table)
    return "\n".join(lines)


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :mod:`chip2grid.atomic`)."""
    return write_text_atomic(path, text)
