"""Accelerator power under load, sampled from NVML in a thread (skipped cleanly without NVML)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerSample:
    """Board power while a GEMM loop ran: mean, max and idle before it (watts)."""

    idle_w: float
    mean_w: float
    max_w: float
    num_samples: int
    duration_s: float
    power_limit_w: float


def nvml_handle(index: int) -> tuple[Any, Any, str]:
    """``(pynvml, handle, driver)``; raises ``RuntimeError`` when NVML is not available."""
    try:
        import pynvml
    except ImportError as exc:
        raise RuntimeError("nvidia-ml-py (pynvml) is not installed") from exc
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        driver = pynvml.nvmlSystemGetDriverVersion()
    except pynvml.NVMLError as exc:
        raise RuntimeError(f"NVML unavailable: {exc}") from exc
    return pynvml, handle, str(driver.decode() if isinstance(driver, bytes) else driver)


def power_under_load(
    index: int, load: Callable[[], None], *, duration_s: float, period_s: float = 0.02
) -> PowerSample:
    """Sample ``nvmlDeviceGetPowerUsage`` every ``period_s`` while ``load()`` repeats.

    Raises ``RuntimeError`` when NVML is not available (the caller records the reason).
    """
    pynvml, handle, _driver = nvml_handle(index)
    readings: list[float] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            readings.append(pynvml.nvmlDeviceGetPowerUsage(handle) / 1e3)
            time.sleep(period_s)

    idle = [pynvml.nvmlDeviceGetPowerUsage(handle) / 1e3 for _ in range(3)]
    try:
        limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1e3
    except pynvml.NVMLError:
        limit_w = float("nan")
    thread = threading.Thread(target=sampler, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        while time.perf_counter() - t0 < duration_s:
            load()
    finally:
        stop.set()
        thread.join()
    elapsed = time.perf_counter() - t0
    # the first quarter of the samples is ramp-up
    steady = readings[len(readings) // 4 :] or readings or [float("nan")]
    return PowerSample(
        idle_w=float(statistics.median(idle)),
        mean_w=float(statistics.fmean(steady)),
        max_w=float(max(steady)),
        num_samples=len(readings),
        duration_s=elapsed,
        power_limit_w=float(limit_w),
    )
