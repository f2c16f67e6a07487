"""The exception tree of chip2grid.

::

    Chip2GridError
    ├── InvalidParameterError (also ValueError)   a value outside what is allowed
    ├── UnknownEntryError (also LookupError)      a name not in a catalog; lists close names
    ├── InfeasibleError                           e.g. the model does not fit; says by how much
    └── CatalogError                              a catalog file is malformed

    ExtrapolationWarning (UserWarning)            outside a model's validated range

Every message says what was wrong, the value received, what is allowed and how to fix it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class Chip2GridError(Exception):
    """Base class of every error chip2grid raises on purpose."""


class InvalidParameterError(Chip2GridError, ValueError):
    """A parameter has a value that is not allowed.

    Parameters
    ----------
    field
        The name the user knows the parameter by (an option or a scenario path).
    value
        The value received.
    allowed
        What is allowed, in words.
    """

    def __init__(self, field: str, value: object, allowed: str, hint: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        message = f"{field}: got {value!r}; allowed: {allowed}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


LISTINGS: dict[str, str] = {
    "model": "chip2grid list models",
    "accelerator": "chip2grid list accelerators",
    "engine": "chip2grid list engines",
    "region": "chip2grid list regions",
    "cooling": "chip2grid list cooling",
    "platform": "chip2grid list platforms",
    "energy-source": "chip2grid list energy-sources",
    "scenario": "chip2grid init --list",
    "scenario field": "chip2grid sweep --list-fields",
}
"""The command that lists every valid name of a kind, where there is one."""


class UnknownEntryError(Chip2GridError, LookupError):
    """A name that is not in a catalog; the message lists the closest valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid_list = sorted(valid)
        close = difflib.get_close_matches(name.lower(), valid_list, n=5, cutoff=0.4)
        self.kind = kind
        self.name = name
        self.close = close
        message = f"unknown {kind} {name!r}"
        if close:
            message += f"; closest: {', '.join(close)}"
        listing = LISTINGS.get(kind)
        if listing:
            message += f" (run `{listing}` for all {len(valid_list)})"
        elif len(valid_list) <= 12:
            message += f" (valid: {', '.join(valid_list)})"
        super().__init__(message)

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return str(self.args[0])


class InfeasibleError(Chip2GridError):
    """A configuration that cannot run, e.g. a model that does not fit in memory."""


class CatalogError(Chip2GridError):
    """A catalog file is malformed (unknown key, missing field, wrong type)."""


class ExtrapolationWarning(UserWarning):
    """A prediction outside the range a model or calibration was validated on."""


def require_positive(field: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is positive (or zero if allowed)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value:  # NaN check
        allowed = "a number >= 0" if allow_zero else "a number > 0"
        raise InvalidParameterError(field, value, allowed)


def require_finite_non_negative(entry: object, fields: Iterable[str], where: str = "") -> None:
    """Raise :class:`InvalidParameterError` naming the first of ``entry``'s ``fields`` that is
    negative, NaN or infinite (catalog entries check their numbers with this)."""
    for name in fields:
        value = getattr(entry, name)
        if not (value >= 0 and math.isfinite(value)):
            raise InvalidParameterError(name, value, "a finite number >= 0", where)


def require_fraction(field: str, value: float, *, allow_zero: bool = True) -> None:
    """Raise unless ``value`` lies in [0, 1] (or (0, 1] when zero is not allowed)."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        raise InvalidParameterError(
            field, value, "a fraction in [0, 1]" if allow_zero else "a fraction in (0, 1]"
        )
