"""Accelerator and server power as a function of load.

The accelerator draws its idle power plus a dynamic part that grows with the activity of its
matrix units and of its memory system (Hong & Kim, ISCA 2010, separate the two; ML.ENERGY
measurements show decode, which is memory-bound, drawing well below TDP):

.. math::  P = P_{idle} + (P_{TDP} - P_{idle}) \\cdot \\min(1, a_c u_c + a_m u_m)

with ``u_c`` the achieved fraction of peak FLOP/s and ``u_m`` of peak memory bandwidth,
averaged over the step. ``a_c`` and ``a_m`` are fitted to measured GPU power (see
``perf/calibration.toml``).

**Power-limited clocks.** The fitted efficiencies describe a die at the power its full-power
part is rated for (the H100 SXM at 700 W). A part with less power for the same die (H100 NVL at
400 W, A100 PCIe at 300 W) or a power cap set by the operator (``nvidia-smi -pl``, NVIDIA's
"MaxQ" settings) cannot hold that clock under full matrix load: dynamic power grows as
``f^beta`` (``P ~ C V^2 f`` with the voltage rising with the clock; ``beta`` is between 1 at
fixed voltage and about 3), so the clock the matrix units sustain is

.. math::  s = \\min\\left(1, \\left(\\frac{P_{limit} - P_{idle}}{D\\,k^{\\beta}}\\right)^{1/\\beta}\\right)

with ``D`` the dynamic power of the reference part at its TDP scaled to this part's compute
units and ``k`` this part's datasheet clock as a share of the reference's. Compute-bound work
slows by ``s``; memory-bound work keeps its speed (HBM has its own clock). ``beta``
(``clock_power_exponent``) is fitted with the efficiencies.

**Headroom above the TDP.** The reference part itself may not hold its datasheet clock under
full matrix load at its TDP: a GH100 (H800) overlapping GEMMs with communication at its power
limit drops from its 1,980 MHz maximum to 1,575 MHz (deepseek-ai/DeepGEMM issue #120). If it
sustains ``s_0`` of the datasheet clock there
(``tdp_clock_frac``, fitted per accelerator family), its dynamic power at the datasheet clock
would be ``D / s_0^beta``, and

.. math::  s = \\min\\left(1, s_0 \\left(\\frac{P_{limit} - P_{idle}}{D\\,k^{\\beta}}\\right)^{1/\\beta}\\right)

The efficiencies fitted at the reference's TDP already hold ``s_0``; it only shows where a part
of that die runs with more power than the reference's TDP (GH200's 1,000 W module, H200 boards
at 1,000 W): there the clock, and compute-bound work, rise by up to ``1 / s_0``. With
``s_0 = 1`` (the default) no part runs faster than at its reference's TDP.

The server around the accelerators (CPUs, memory, NICs, fans) adds a power per accelerator,
and the power supplies lose a fraction: ``P_system = (n P_acc + n P_host) / eta_psu``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chip2grid.errors import require_fraction, require_positive


def sustained_clock_frac(
    power_limit_w: ArrayLike,
    idle_power_w: ArrayLike,
    reference_dynamic_power_w: ArrayLike,
    reference_clock_frac: ArrayLike,
    clock_power_exponent: ArrayLike,
    tdp_clock_frac: ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """Share of the datasheet clock the matrix units sustain at ``power_limit_w`` (broadcasts);
    ``tdp_clock_frac`` is the share the reference part sustains at its own TDP."""
    beta = np.asarray(clock_power_exponent, dtype=float)
    need = np.asarray(reference_dynamic_power_w, dtype=float) * np.power(
        np.asarray(reference_clock_frac, dtype=float), beta
    )
    available = np.maximum(
        np.asarray(power_limit_w, dtype=float) - np.asarray(idle_power_w, dtype=float), 1e-9
    )
    ratio = np.power(available / need, 1.0 / beta)
    return np.minimum(1.0, np.asarray(tdp_clock_frac, dtype=float) * ratio)


def full_activity_power_w(
    tdp_w: ArrayLike,
    idle_power_w: ArrayLike,
    clock_at_limit_frac: ArrayLike,
    clock_at_tdp_frac: ArrayLike,
    clock_power_exponent: ArrayLike,
) -> NDArray[np.float64]:
    """Power at full activity under a power limit, before the limit clips it: the TDP, raised
    by the clock a limit above the TDP buys where the part cannot hold its datasheet clock at
    its TDP (dynamic power grows as ``f^beta``). A limit at or below the TDP leaves the TDP:
    it lowers the clock only when the demand reaches it (:func:`accelerator_power_w`)."""
    idle = np.asarray(idle_power_w, dtype=float)
    gain = np.maximum(
        1.0, np.asarray(clock_at_limit_frac, dtype=float) / np.asarray(clock_at_tdp_frac)
    )
    return idle + (np.asarray(tdp_w, dtype=float) - idle) * np.power(
        gain, np.asarray(clock_power_exponent, dtype=float)
    )


def accelerator_power_w(
    idle_power_w: ArrayLike,
    tdp_w: ArrayLike,
    compute_util_frac: ArrayLike,
    memory_util_frac: ArrayLike,
    compute_power_coeff: ArrayLike,
    memory_power_coeff: ArrayLike,
    *,
    power_limit_w: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Power of one accelerator at the given utilizations (broadcasts over arrays).

    ``tdp_w`` is the power at full activity (:func:`full_activity_power_w` under a limit above
    the TDP); ``power_limit_w`` clips the result, so a cap the demand does not reach changes
    nothing."""
    activity = np.minimum(
        1.0,
        np.asarray(compute_power_coeff) * np.asarray(compute_util_frac)
        + np.asarray(memory_power_coeff) * np.asarray(memory_util_frac),
    )
    idle = np.asarray(idle_power_w, dtype=float)
    power = idle + (np.asarray(tdp_w, dtype=float) - idle) * activity
    if power_limit_w is None:
        return power
    return np.minimum(power, np.asarray(power_limit_w, dtype=float))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerPower:
    """Power of the server around the accelerators.

    Defaults describe an 8-GPU HGX-class server: two host CPUs, memory, eight 400 Gb/s NICs,
    fans and drives. NVIDIA's DGX H100 draws at most 10.2 kW with 8 x 700 W GPUs, leaving
    4.6 kW for the rest at maximum (DGX H100 user guide); a typical loaded host draws less.
    """

    host_power_w_per_accelerator: float = 250.0
    psu_efficiency_frac: float = 0.94
    source: str = (
        "ESTIMATE from the DGX H100/H200 user guide (10.2 kW max for 8 x 700 W GPUs) and "
        "80 PLUS Titanium PSU efficiency (94 % at typical load)"
    )

    def __post_init__(self) -> None:
        require_positive(
            "host_power_w_per_accelerator", self.host_power_w_per_accelerator, allow_zero=True
        )
        require_fraction("psu_efficiency_frac", self.psu_efficiency_frac, allow_zero=False)

    def system_power_w(self, accelerator_power_w: float, num_accelerators: int) -> float:
        """Wall power of the servers holding ``num_accelerators`` accelerators."""
        it = num_accelerators * (accelerator_power_w + self.host_power_w_per_accelerator)
        return it / self.psu_efficiency_frac
