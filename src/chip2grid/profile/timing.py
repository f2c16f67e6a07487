"""Timing of device work: warm-up, then the median of repeats (CUDA events or perf_counter)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def synchronize(torch: Any, device: str) -> None:
    """Wait until the device has finished all queued work (no-op on the CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def median_time_s(
    torch: Any,
    device: str,
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    repeats: int = 10,
    target_s: float = 1e-3,
) -> float:
    """Median wall time of one call of ``fn`` on ``device``.

    After ``warmup`` calls, each repeat runs ``fn`` enough times back to back to last about
    ``target_s`` (so launch jitter does not dominate short kernels) and divides. On CUDA the
    repeat is bracketed by CUDA events; on the CPU by ``time.perf_counter``.
    """
    for _ in range(max(1, warmup)):
        fn()
    synchronize(torch, device)
    t0 = time.perf_counter()
    fn()
    synchronize(torch, device)
    one_s = max(time.perf_counter() - t0, 1e-7)
    inner = int(min(100, max(1, target_s / one_s)))
    samples: list[float] = []
    for _ in range(max(1, repeats)):
        if device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) * 1e-3 / inner)
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t0) / inner)
    return float(statistics.median(samples))
