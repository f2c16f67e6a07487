"""Every README example runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_python_examples_run() -> None:
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), {})


def test_command_examples_run() -> None:
    """Every ``chip2grid`` example but ``validate`` (its own tests cover it), from the repo root."""
    commands = [
        b
        for b in blocks("bash")
        if b.strip().startswith("chip2grid ") and not b.strip().startswith("chip2grid validate")
    ]
    assert {shlex.split(c)[1] for c in commands} >= {"estimate", "simulate", "cost"}
    for command in commands:
        args = shlex.split(command.replace("\\\n", " "))
        assert args[0] == "chip2grid"
        exe = Path(sys.executable).with_name("chip2grid")
        cmd = (
            [str(exe), *args[1:]]
            if exe.exists()
            else [sys.executable, "-m", "chip2grid", *args[1:]]
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=README.parent)
        assert result.returncode == 0, result.stderr


def test_first_two_commands_are_setup_and_tests() -> None:
    first = blocks("bash")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].endswith("chip2grid run")
    assert "pytest" in first[1]
