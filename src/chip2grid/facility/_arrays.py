"""Small helpers for functions that take floats or numpy arrays alike.

Shared by the ``facility``, ``energy`` and ``economics`` layers: a value is a ``float`` when
every input was a scalar and a float64 array otherwise, so the same code serves one scenario
and a Monte Carlo batch.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chip2grid.errors import InvalidParameterError

__all__ = ["Real", "as_real", "check", "non_negative"]

Real: TypeAlias = float | NDArray[np.float64]
"""A float, or an array of floats that broadcasts against the other inputs."""


def as_real(value: ArrayLike) -> Real:
    """Return ``value`` as a float when it is a scalar (0-d), else as a float64 array."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return float(array)
    return array


def check(field: str, value: ArrayLike, ok: ArrayLike, allowed: str, hint: str = "") -> None:
    """Raise :class:`InvalidParameterError` naming ``field`` unless ``ok`` holds everywhere.

    ``ok`` is a boolean (or boolean array, broadcast against ``value``); NaN inputs should make
    it false. The error reports the first offending element of ``value``.
    """
    mask = np.asarray(ok, dtype=bool)
    if bool(np.all(mask)):
        return
    values = np.asarray(value)
    if values.ndim == 0:
        bad: object = values.item()
    else:
        full = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, values.shape))
        bad = np.broadcast_to(values, full.shape)[~full].flat[0].item()
    raise InvalidParameterError(field, bad, allowed, hint)


def non_negative(field: str, value: ArrayLike, unit: str) -> NDArray[np.float64]:
    """``value`` as a float64 array; :class:`InvalidParameterError` naming ``field`` unless it
    is finite and >= 0 everywhere (``unit`` goes into the message)."""
    array = np.asarray(value, dtype=np.float64)
    check(field, array, (array >= 0) & np.isfinite(array), f"a number >= 0 ({unit})")
    return array
