"""Atomic writes: all or nothing, with the usual permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chip2grid.atomic import atomic_open, write_text_atomic


def test_write_replaces_and_is_readable_by_others(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "a" / "report.html", "new")
    assert path.read_text() == "new"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_failure_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
