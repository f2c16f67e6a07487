"""`chip2grid serve`: registered on the shared Typer app (filled in by its own change)."""

from __future__ import annotations
