"""Plain JSON-ready data from results: dataclasses become dicts, NaN and infinities None."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data, recursively.

    Dataclasses become dicts, tuples lists, mapping keys strings; NaN and infinities become
    None (JSON has neither; a chart draws a gap).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
