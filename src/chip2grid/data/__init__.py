"""Data files shipped with chip2grid (see NOTICE.md for origin and license)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_TRACE = "azure_conv_10min.csv"


def data_path(name: str) -> Path:
    """Path of a packaged data file."""
    return Path(str(resources.files(__package__).joinpath(name)))
