"""Measure the machine's accelerator (or CPU) and write a calibration file with provenance.

``run_profile(ProfileOptions(...))`` times GEMMs over catalog models' projection shapes,
scaled-dot-product attention, memory copies, kernel-launch overheads and (with NVML) power,
fits the step-time engine's efficiencies to them and returns a :class:`ProfileResult` whose
``write(path)`` stores a calibration file that ``perf.calibration`` reads. PyTorch is imported
only inside the measuring functions (``chip2grid[profile]``).
"""

from __future__ import annotations

from chip2grid.profile.derive import GemmFit, fit_attention_eff, fit_gemm
from chip2grid.profile.run import (
    MissingDependencyError,
    ProfileOptions,
    ProfileResult,
    import_torch,
    run_profile,
    summarize,
)
from chip2grid.profile.writer import to_toml, write_atomic

__all__ = [
    "GemmFit",
    "MissingDependencyError",
    "ProfileOptions",
    "ProfileResult",
    "fit_attention_eff",
    "fit_gemm",
    "import_torch",
    "run_profile",
    "summarize",
    "to_toml",
    "write_atomic",
]
