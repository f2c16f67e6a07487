"""Embodied carbon of a fleet: the manufacturing footprint of its accelerators, hosts and building,
spread straight-line over their lifetimes and allotted to the tokens served."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from chip2grid.errors import InvalidParameterError
from chip2grid.facility._arrays import Real, as_real, check, non_negative
from chip2grid.units import KILO

__all__ = ["FleetEmbodied", "fleet_embodied"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetEmbodied:
    """Embodied carbon of a fleet, in stock and per year of service.

    Attributes
    ----------
    accelerators_kg_co2e, hosts_kg_co2e, facility_kg_co2e, total_kg_co2e
        Cradle-to-gate carbon of the installed accelerators (with HBM and baseboards), of the
        nodes' hosts, and of the fleet's share of the building.
    accelerators_g_co2_per_year, hosts_g_co2_per_year, facility_g_co2_per_year, total_g_co2_per_year
        The same divided by the lifetimes.
    """

    accelerators_kg_co2e: Real
    hosts_kg_co2e: Real
    facility_kg_co2e: Real
    total_kg_co2e: Real
    accelerators_g_co2_per_year: Real
    hosts_g_co2_per_year: Real
    facility_g_co2_per_year: Real
    total_g_co2_per_year: Real

    def per_output_token(self, output_tokens_per_year: ArrayLike) -> Real:
        """Grams of embodied CO2e per output token at ``output_tokens_per_year`` (> 0)."""
        tokens = np.asarray(output_tokens_per_year, dtype=np.float64)
        check("output_tokens_per_year", tokens, tokens > 0, "a number > 0")
        return as_real(np.asarray(self.total_g_co2_per_year) / tokens)


def _checked(field: str, value: ArrayLike, *, positive: bool, allowed: str) -> Real:
    """``value`` as a float (scalars skip the numpy round trip) or float64 array, after checking
    it is finite and >= 0 (> 0 with ``positive``); the error names ``field``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise InvalidParameterError(field, value, allowed)
        return float(value)
    array = np.asarray(value, dtype=np.float64)
    ok = (array > 0 if positive else array >= 0) & np.isfinite(array)
    check(field, array, ok, allowed)
    return array


def _lifetime(field: str, value: ArrayLike) -> Real:
    return _checked(field, value, positive=True, allowed="a number of years > 0")


def fleet_embodied(
    *,
    num_accelerators: ArrayLike,
    num_nodes: ArrayLike,
    critical_it_power_w: ArrayLike,
    accelerator_kg_co2e: ArrayLike,
    host_kg_co2e_per_node: ArrayLike,
    facility_kg_co2e_per_w: ArrayLike,
    accelerator_lifetime_years: ArrayLike,
    facility_lifetime_years: ArrayLike,
) -> FleetEmbodied:
    """Embodied carbon of a fleet and its yearly share.

    Parameters
    ----------
    num_accelerators, num_nodes
        Installed accelerators and nodes (>= 0).
    critical_it_power_w
        Provisioned IT power the fleet occupies in the building (W, >= 0).
    accelerator_kg_co2e
        Cradle-to-gate carbon of one accelerator with its HBM, package and baseboard share.
    host_kg_co2e_per_node
        Carbon of one node without its accelerators (CPUs, DRAM, storage, chassis).
    facility_kg_co2e_per_w
        Carbon of building the data center per W of critical IT power.
    accelerator_lifetime_years
        Service life of accelerators and hosts (the economics' server life), > 0.
    facility_lifetime_years
        Service life of the building, > 0.

    Returns
    -------
    FleetEmbodied

    Raises
    ------
    InvalidParameterError
        Naming the field: a negative or non-finite carbon figure or count, a lifetime <= 0.

    Notes
    -----
    Straight-line (attributional) amortization, as LLMCarbon [1]_ and EcoLogits [2]_ do:

    .. math::

        \\dot C_e = \\frac{N_a e_a + N_n e_h}{L_{server}} + \\frac{P_{crit}\\,e_f}{L_{fac}}

    in kg per year (times 1000 for grams). Per output token, divide by the output tokens of a
    year: carbon falls as the inverse of utilization and of lifetime. No discounting: carbon
    has no cost of capital.

    References
    ----------
    .. [1] A. Faiz et al., "LLMCarbon: modeling the end-to-end carbon footprint of large
       language models", ICLR 2024, arXiv:2309.14393 (code: SotaroKaneda/MLCarbon,
       embodied.py).
    .. [2] GenAI Impact, "EcoLogits: LLM inference methodology" (2025),
       https://ecologits.ai/latest/methodology/llm_inference/.
    .. [3] U. Gupta et al., "ACT: designing sustainable computer systems with an architectural
       carbon modeling tool", ISCA 2022, doi:10.1145/3470496.3527408.
    """
    n_acc = non_negative("num_accelerators", num_accelerators, "accelerators")
    n_nodes = non_negative("num_nodes", num_nodes, "nodes")
    crit = non_negative("critical_it_power_w", critical_it_power_w, "W")
    e_acc = non_negative("accelerator_kg_co2e", accelerator_kg_co2e, "kg CO2e")
    e_host = non_negative("host_kg_co2e_per_node", host_kg_co2e_per_node, "kg CO2e")
    e_fac = non_negative("facility_kg_co2e_per_w", facility_kg_co2e_per_w, "kg CO2e per W")
    server_life = _lifetime("accelerator_lifetime_years", accelerator_lifetime_years)
    facility_life = _lifetime("facility_lifetime_years", facility_lifetime_years)

    acc_kg = n_acc * e_acc
    host_kg = n_nodes * e_host
    fac_kg = crit * e_fac
    acc_year = acc_kg * KILO / server_life
    host_year = host_kg * KILO / server_life
    fac_year = fac_kg * KILO / facility_life
    return FleetEmbodied(
        accelerators_kg_co2e=as_real(acc_kg),
        hosts_kg_co2e=as_real(host_kg),
        facility_kg_co2e=as_real(fac_kg),
        total_kg_co2e=as_real(acc_kg + host_kg + fac_kg),
        accelerators_g_co2_per_year=as_real(acc_year),
        hosts_g_co2_per_year=as_real(host_year),
        facility_g_co2_per_year=as_real(fac_year),
        total_g_co2_per_year=as_real(acc_year + host_year + fac_year),
    )
