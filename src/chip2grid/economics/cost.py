"""What it all costs: capex, annualized capital, opex, cost per million tokens, and the energy,
carbon and water behind each output token."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chip2grid.catalog import load_table
from chip2grid.catalog.embodied import (
    accelerator_embodied,
    facility_embodied,
    host_embodied_fallback_kg_co2e,
    platform_embodied,
)
from chip2grid.economics.embodied import fleet_embodied
from chip2grid.economics.finance import Finance, annuity_factor
from chip2grid.energy import (
    EnergySupply,
    supply_carbon_g_per_kwh,
    supply_price_usd_per_kwh,
    supply_water_l_per_kwh,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import (
    Cooling,
    Platform,
    Region,
    Site,
    annual_pue,
    annual_wue_l_per_kwh,
    node_power_w,
    plan_racks,
)
from chip2grid.facility._arrays import Real, as_real, check, non_negative
from chip2grid.hardware import get_accelerator
from chip2grid.units import HOUR_S, KILO, KWH_J, MEGA, YEAR_S

__all__ = ["HOURS_PER_YEAR", "CostBreakdown", "cost_breakdown"]

HOURS_PER_YEAR = YEAR_S / HOUR_S
"""8,760 hours: a year of 365 days, the basis of every yearly figure here."""

_FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBreakdown:
    """Cost, energy, carbon and water of serving with a fleet for a year.

    Every field is a float, or a numpy array when any input was one (Monte Carlo).
    Capex in USD; yearly items in USD per year; intensities per output token include all the
    fleet's energy (prefill, decode and idle time) divided by the output tokens.

    Attributes
    ----------
    num_accelerators, num_nodes, num_racks
        Installed fleet: the accelerators asked for, rounded up to whole nodes.
    critical_it_power_w
        Provisioned IT power: nodes at ``node_max_power_w`` plus network.
    it_power_w, facility_power_w
        Mean IT power drawn (accelerators busy and idle, hosts, PSU losses, network) and the
        same times PUE.
    pue, wue_l_per_kwh
        Annual PUE used and the site's annual water usage effectiveness.
    electricity_price_usd_per_kwh, carbon_g_per_kwh, supply_water_l_per_kwh
        Of the energy supply at the meter.
    servers_capex_usd, network_capex_usd, facility_capex_usd, power_infrastructure_capex_usd, capex_usd
        Capital by item and in total (facility and power infrastructure are 0 in colocation).
    servers_usd_per_year, network_usd_per_year, facility_usd_per_year, power_infrastructure_usd_per_year
        Capital annualized over each item's lifetime at the WACC.
    electricity_usd_per_year, maintenance_usd_per_year, staff_usd_per_year, insurance_tax_usd_per_year, colocation_usd_per_year
        Operating costs.
    total_usd_per_year
        Sum of the yearly items.
    usd_per_accelerator_hour
        ``total_usd_per_year`` over installed accelerator-hours.
    usd_per_mtok_output, usd_per_mtok_input, usd_per_mtok_cached_input, usd_per_mtok_blended
        Cost per million tokens (NaN for input when no input tokens are served).
    chip_energy_j_per_output_token, server_energy_j_per_output_token, meter_energy_j_per_output_token
        Energy per output token at the accelerators, at the servers' plugs (plus network) and
        at the utility meter (times PUE).
    g_co2_per_output_token, l_water_per_output_token
        Operational carbon and water (site plus generation) per output token.
    embodied_kg_co2e
        Cradle-to-gate carbon of the installed fleet: accelerators, hosts and the fleet's share
        of the building (per W of critical IT power).
    accelerator_embodied_g_co2_per_year, host_embodied_g_co2_per_year, facility_embodied_g_co2_per_year, embodied_g_co2_per_year
        The same spread over the server and facility lifetimes, by item and in total.
    embodied_g_co2_per_output_token
        ``embodied_g_co2_per_year`` over the output tokens of a year.
    g_co2_per_output_token_with_embodied
        Operational plus embodied carbon per output token.
    embodied_carbon_frac
        Embodied share of that total.
    """

    num_accelerators: Real
    num_nodes: Real
    num_racks: Real
    critical_it_power_w: Real
    it_power_w: Real
    facility_power_w: Real
    pue: Real
    wue_l_per_kwh: Real
    electricity_price_usd_per_kwh: Real
    carbon_g_per_kwh: Real
    supply_water_l_per_kwh: Real
    servers_capex_usd: Real
    network_capex_usd: Real
    facility_capex_usd: Real
    power_infrastructure_capex_usd: Real
    capex_usd: Real
    servers_usd_per_year: Real
    network_usd_per_year: Real
    facility_usd_per_year: Real
    power_infrastructure_usd_per_year: Real
    electricity_usd_per_year: Real
    maintenance_usd_per_year: Real
    staff_usd_per_year: Real
    insurance_tax_usd_per_year: Real
    colocation_usd_per_year: Real
    total_usd_per_year: Real
    output_tokens_per_year: Real
    input_tokens_per_year: Real
    usd_per_accelerator_hour: Real
    usd_per_mtok_output: Real
    usd_per_mtok_input: Real
    usd_per_mtok_cached_input: Real
    usd_per_mtok_blended: Real
    chip_energy_j_per_output_token: Real
    server_energy_j_per_output_token: Real
    meter_energy_j_per_output_token: Real
    g_co2_per_output_token: Real
    l_water_per_output_token: Real
    embodied_kg_co2e: Real
    accelerator_embodied_g_co2_per_year: Real
    host_embodied_g_co2_per_year: Real
    facility_embodied_g_co2_per_year: Real
    embodied_g_co2_per_year: Real
    embodied_g_co2_per_output_token: Real
    g_co2_per_output_token_with_embodied: Real
    embodied_carbon_frac: Real


def _array(value: ArrayLike) -> _FloatArray:
    return np.asarray(value, dtype=np.float64)


def _fraction(field: str, value: ArrayLike, *, allow_zero: bool = True) -> _FloatArray:
    array = _array(value)
    low_ok = array >= 0 if allow_zero else array > 0
    check(
        field,
        array,
        low_ok & (array <= 1),
        "a fraction in [0, 1]" if allow_zero else "a fraction in (0, 1]",
    )
    return array


def _per(numerator: _FloatArray, denominator: _FloatArray) -> _FloatArray:
    """``numerator / denominator``, NaN where the denominator is 0 (no warning)."""
    shape = np.broadcast_shapes(numerator.shape, denominator.shape)
    out = np.full(shape, np.nan)
    np.divide(numerator, denominator, out=out, where=np.broadcast_to(denominator > 0, shape))
    return out


def _resolve_place(
    site: Site | None, region: Region | None, cooling: Cooling | None
) -> tuple[Region, Cooling]:
    if site is not None:
        if region is not None and region.id != site.region.id:
            raise InvalidParameterError(
                "region", region.id, f"None or the site's region {site.region.id!r}"
            )
        if cooling is not None and cooling.id != site.cooling.id:
            raise InvalidParameterError(
                "cooling", cooling.id, f"None or the site's cooling {site.cooling.id!r}"
            )
        return site.region, site.cooling
    if region is None or cooling is None:
        raise InvalidParameterError(
            "site", None, "a Site, or both region and cooling", "say where the fleet stands"
        )
    return region, cooling


def cost_breakdown(
    *,
    num_accelerators: ArrayLike,
    platform: Platform,
    supply: EnergySupply,
    finance: Finance,
    accelerator_power_w: ArrayLike,
    output_tokens_per_s: ArrayLike,
    input_tokens_per_s: ArrayLike = 0.0,
    site: Site | None = None,
    region: Region | None = None,
    cooling: Cooling | None = None,
    idle_accelerator_power_w: ArrayLike | None = None,
    busy_frac: ArrayLike = 1.0,
    prefill_time_frac: ArrayLike | None = None,
    cached_input_cost_frac: ArrayLike = 0.1,
    it_load_frac: ArrayLike | None = None,
    node_price_usd: ArrayLike | None = None,
    electricity_price_usd_per_kwh: ArrayLike | None = None,
    pue: ArrayLike | None = None,
    colocation: bool = False,
    accelerator_kg_co2e: ArrayLike | None = None,
    host_kg_co2e_per_node: ArrayLike | None = None,
    facility_kg_co2e_per_w: ArrayLike | None = None,
) -> CostBreakdown:
    """Total cost of ownership of an inference fleet and its cost per token.

    Parameters
    ----------
    num_accelerators
        Accelerators in the fleet; rounded up to whole nodes of ``platform``.
    platform
        Server model (price, host power, network).
    supply
        Energy supply mix; priced, and its carbon and water taken, in the region.
    finance
        Cost of capital, lifetimes, operating-cost rates.
    accelerator_power_w
        Mean power of one accelerator while serving (from the perf and serving layers).
    output_tokens_per_s, input_tokens_per_s
        Whole-fleet token rates while busy (input: prompt tokens prefilled).
    site, region, cooling
        Where the fleet stands: a :class:`Site`, or a region and a cooling type.
    idle_accelerator_power_w
        Power of an idle accelerator; default the catalog accelerator's ``idle_power_w``.
    busy_frac
        Share of wall time the fleet serves, in (0, 1]; the rest it idles.
    prefill_time_frac
        Share of busy accelerator time spent on prefill, in [0, 1]; splits cost between input
        and output tokens. Default: the input tokens' share of all tokens (one price per token).
    cached_input_cost_frac
        Cost of a cached (prefix-hit) input token relative to an uncached one.
    it_load_frac
        IT load over design critical IT power, for PUE. Default: the site's
        ``design_it_load_frac``; without a site, the fleet's mean IT power over its critical
        IT power (the fleet fills its hall).
    node_price_usd, electricity_price_usd_per_kwh, pue
        Overrides of the platform's node price, the supply's price and the PUE model.
    colocation
        Rent the hall: facility and power-infrastructure capex, staff and insurance are
        replaced by ``region.colocation_usd_per_kw_month`` per kW of critical IT power;
        electricity is still paid at cost times PUE.
    accelerator_kg_co2e, host_kg_co2e_per_node, facility_kg_co2e_per_w
        Embodied carbon of one accelerator (with HBM and baseboard share), of one node's host
        and of the building per W of critical IT power. Default: ``catalog/embodied.toml``
        for the platform's accelerator and the platform (fallback rules where it has no
        entry). The building counts in colocation too.

    Returns
    -------
    CostBreakdown

    Raises
    ------
    InvalidParameterError
        Naming the field: negative prices or powers, fractions outside [0, 1], a PUE override
        below 1, no place (``site``), a cooling that cannot cool the platform or remove one
        node's heat from a rack (``cooling``), negative embodied carbon.

    Notes
    -----
    Fleet: :math:`N_n = \\lceil N / n_{acc} \\rceil` nodes, :math:`N_a = N_n n_{acc}`
    accelerators. Powers (W), with busy share :math:`b`:

    .. math::

        \\bar P_{acc} &= b P_{busy} + (1 - b) P_{idle} \\\\
        P_{IT} &= N_n \\frac{n_{acc} \\bar P_{acc} + P_{host}}{\\eta_{PSU}} + N_a P_{net} \\\\
        P_{crit} &= N_n P_{node,max} + N_a P_{net}, \\qquad P_{fac} = \\mathrm{PUE} \\cdot P_{IT}

    Capex: servers :math:`N_n c_{node}`, network :math:`N_a c_{net}`, facility
    :math:`P_{crit}(c_{region} + c_{cooling})`, power infrastructure :math:`P_{crit} c_{power}`.
    Each is annualized with :math:`A(r, n_{item})` (:func:`annuity_factor`). Opex per year:
    electricity :math:`P_{fac} \\cdot 8760\\,h \\cdot p`, maintenance :math:`m` times IT capex,
    staff :math:`s P_{crit} / 1\\,MW`, insurance and tax :math:`i` times capex. Total
    :math:`C` per year.

    Tokens per year :math:`T_{out} = \\dot T_{out} b Y`, :math:`T_{in} = \\dot T_{in} b Y`
    (:math:`Y` seconds per year). With prefill share :math:`f_p`:

    .. math::

        c_{out} = \\frac{(1 - f_p) C}{T_{out}} 10^6, \\quad
        c_{in} = \\frac{f_p C}{T_{in}} 10^6, \\quad
        c_{cached} = k\\,c_{in}, \\quad
        c_{blend} = \\frac{C}{T_{in} + T_{out}} 10^6

    Energy per output token: chip :math:`N_a \\bar P_{acc} Y / T_{out}`, server
    :math:`P_{IT} Y / T_{out}`, meter :math:`P_{fac} Y / T_{out}` (= server times PUE).
    Carbon: meter energy times the supply's intensity. Water: site WUE times IT energy plus
    the supply's generation water times meter energy.

    Embodied carbon (:func:`~chip2grid.economics.embodied.fleet_embodied`): accelerators and
    hosts spread straight-line over ``accelerator_lifetime_years``, the building's share
    :math:`P_{crit} e_f` over ``facility_lifetime_years``, divided by :math:`T_{out}`.

    The method is the owner TCO of analysts (SemiAnalysis AI TCO model [1]_; Barroso et al.
    [2]_ ch. 6), with PUE per The Green Grid [3]_ and water per Li et al. [4]_.

    References
    ----------
    .. [1] D. Patel et al., "AI Cloud TCO Model" and "InferenceMAX", SemiAnalysis (2024-2025),
       https://newsletter.semianalysis.com/p/inferencemax-open-source-inference.
    .. [2] L. A. Barroso, U. Hölzle and P. Ranganathan, "The Datacenter as a Computer",
       3rd ed. (2018), ch. 6 "Modeling costs", doi:10.2200/S00874ED3V01Y201809CAC046.
    .. [3] The Green Grid, "PUE: a comprehensive examination of the metric", WP 49 (2012).
    .. [4] P. Li, J. Yang, M. A. Islam and S. Ren, "Making AI less thirsty: uncovering and
       addressing the secret water footprint of AI models", arXiv:2304.03271 (2023).
    """
    region, cooling = _resolve_place(site, region, cooling)
    rack_plan = plan_racks(platform, cooling, platform.node_max_power_w)

    wanted = _array(num_accelerators)
    check("num_accelerators", wanted, wanted >= 1, "a number >= 1")
    per_node = platform.accelerators_per_node
    num_nodes = np.ceil(wanted / per_node)
    num_acc = num_nodes * per_node
    num_racks = np.ceil(num_nodes / rack_plan.nodes_per_rack)

    busy_power = non_negative("accelerator_power_w", accelerator_power_w, "W")
    if idle_accelerator_power_w is None:
        idle_accelerator_power_w = get_accelerator(platform.accelerator).idle_power_w
    idle_power = non_negative("idle_accelerator_power_w", idle_accelerator_power_w, "W")
    busy = _fraction("busy_frac", busy_frac, allow_zero=False)
    out_rate = _array(output_tokens_per_s)
    check("output_tokens_per_s", out_rate, out_rate > 0, "a number > 0 (tokens/s)")
    in_rate = non_negative("input_tokens_per_s", input_tokens_per_s, "tokens/s")
    cached_frac = non_negative("cached_input_cost_frac", cached_input_cost_frac, "fraction")
    if prefill_time_frac is None:
        prefill = in_rate / (in_rate + out_rate)
    else:
        prefill = _fraction("prefill_time_frac", prefill_time_frac)

    # power
    mean_acc_power = busy * busy_power + (1.0 - busy) * idle_power
    network_w = num_acc * platform.network_power_w_per_accelerator
    it_power = num_nodes * _array(node_power_w(platform, mean_acc_power)) + network_w
    critical_it = num_nodes * platform.node_max_power_w + network_w
    if pue is None:
        if it_load_frac is None:
            it_load_frac = (
                site.design_it_load_frac
                if site is not None
                else np.minimum(1.0, it_power / critical_it)
            )
        load = _fraction("it_load_frac", it_load_frac, allow_zero=False)
        pue_value = _array(annual_pue(cooling, region, load))
    else:
        pue_value = _array(pue)
        check("pue", pue_value, (pue_value >= 1) & np.isfinite(pue_value), "a number >= 1")
    facility_power = it_power * pue_value

    # prices
    if electricity_price_usd_per_kwh is None:
        price = _array(supply_price_usd_per_kwh(supply, region))
    else:
        price = non_negative(
            "electricity_price_usd_per_kwh", electricity_price_usd_per_kwh, "USD/kWh"
        )
    node_price = non_negative(
        "node_price_usd",
        platform.node_price_usd if node_price_usd is None else node_price_usd,
        "USD",
    )

    # capital
    servers_capex = num_nodes * node_price
    network_capex = num_acc * platform.network_usd_per_accelerator
    facility_rate = region.facility_capex_usd_per_w + cooling.capex_usd_per_w
    power_rate = _array(finance.power_infrastructure_usd_per_w)
    if colocation:
        facility_capex = np.zeros_like(critical_it)
        power_capex = np.zeros_like(critical_it)
    else:
        facility_capex = critical_it * facility_rate
        power_capex = critical_it * power_rate
    capex = servers_capex + network_capex + facility_capex + power_capex
    wacc = finance.wacc_frac
    servers_year = servers_capex * annuity_factor(wacc, finance.accelerator_lifetime_years)
    network_year = network_capex * annuity_factor(wacc, finance.network_lifetime_years)
    facility_year = facility_capex * annuity_factor(wacc, finance.facility_lifetime_years)
    power_year = power_capex * annuity_factor(wacc, finance.power_infrastructure_lifetime_years)

    # operations
    facility_kwh = facility_power * HOURS_PER_YEAR / KILO
    electricity_year = facility_kwh * price
    maintenance_year = _array(finance.maintenance_frac_per_year) * (servers_capex + network_capex)
    if colocation:
        staff_year = np.zeros_like(critical_it)
        insurance_year = np.zeros_like(critical_it)
        colocation_year = region.colocation_usd_per_kw_month * critical_it / KILO * 12.0
    else:
        staff_year = _array(finance.staff_usd_per_mw_year) * critical_it / MEGA
        insurance_year = _array(finance.insurance_property_tax_frac_per_year) * capex
        colocation_year = np.zeros_like(critical_it)
    total_year = (
        servers_year
        + network_year
        + facility_year
        + power_year
        + electricity_year
        + maintenance_year
        + staff_year
        + insurance_year
        + colocation_year
    )

    # tokens
    out_per_year = out_rate * busy * YEAR_S
    in_per_year = in_rate * busy * YEAR_S
    usd_per_mtok_output = (1.0 - prefill) * total_year / out_per_year * MEGA
    usd_per_mtok_input = _per(prefill * total_year * MEGA, in_per_year)
    usd_per_mtok_blended = total_year / (out_per_year + in_per_year) * MEGA

    # energy, carbon, water per output token
    seconds_per_token = YEAR_S / out_per_year
    chip_j = num_acc * mean_acc_power * seconds_per_token
    server_j = it_power * seconds_per_token
    meter_j = facility_power * seconds_per_token
    carbon = supply_carbon_g_per_kwh(supply, region)
    supply_water = supply_water_l_per_kwh(supply, region)
    wue = annual_wue_l_per_kwh(cooling, region)
    g_co2 = meter_j / KWH_J * carbon
    water_l = (wue * server_j + supply_water * meter_j) / KWH_J

    # embodied carbon per output token
    acc_kg, host_kg, fac_kg = embodied_inputs(
        platform, accelerator_kg_co2e, host_kg_co2e_per_node, facility_kg_co2e_per_w
    )
    embodied = fleet_embodied(
        num_accelerators=num_acc,
        num_nodes=num_nodes,
        critical_it_power_w=critical_it,
        accelerator_kg_co2e=acc_kg,
        host_kg_co2e_per_node=host_kg,
        facility_kg_co2e_per_w=fac_kg,
        accelerator_lifetime_years=finance.accelerator_lifetime_years,
        facility_lifetime_years=finance.facility_lifetime_years,
    )
    embodied_g = embodied.total_g_co2_per_year / out_per_year
    g_co2_total = g_co2 + embodied_g
    with np.errstate(divide="ignore", invalid="ignore"):  # no carbon at all: NaN share
        embodied_frac = embodied_g / g_co2_total

    return CostBreakdown(
        num_accelerators=as_real(num_acc),
        num_nodes=as_real(num_nodes),
        num_racks=as_real(num_racks),
        critical_it_power_w=as_real(critical_it),
        it_power_w=as_real(it_power),
        facility_power_w=as_real(facility_power),
        pue=as_real(pue_value),
        wue_l_per_kwh=wue,
        electricity_price_usd_per_kwh=as_real(price),
        carbon_g_per_kwh=carbon,
        supply_water_l_per_kwh=supply_water,
        servers_capex_usd=as_real(servers_capex),
        network_capex_usd=as_real(network_capex),
        facility_capex_usd=as_real(facility_capex),
        power_infrastructure_capex_usd=as_real(power_capex),
        capex_usd=as_real(capex),
        servers_usd_per_year=as_real(servers_year),
        network_usd_per_year=as_real(network_year),
        facility_usd_per_year=as_real(facility_year),
        power_infrastructure_usd_per_year=as_real(power_year),
        electricity_usd_per_year=as_real(electricity_year),
        maintenance_usd_per_year=as_real(maintenance_year),
        staff_usd_per_year=as_real(staff_year),
        insurance_tax_usd_per_year=as_real(insurance_year),
        colocation_usd_per_year=as_real(colocation_year),
        total_usd_per_year=as_real(total_year),
        output_tokens_per_year=as_real(out_per_year),
        input_tokens_per_year=as_real(in_per_year),
        usd_per_accelerator_hour=as_real(total_year / (num_acc * HOURS_PER_YEAR)),
        usd_per_mtok_output=as_real(usd_per_mtok_output),
        usd_per_mtok_input=as_real(usd_per_mtok_input),
        usd_per_mtok_cached_input=as_real(cached_frac * usd_per_mtok_input),
        usd_per_mtok_blended=as_real(usd_per_mtok_blended),
        chip_energy_j_per_output_token=as_real(chip_j),
        server_energy_j_per_output_token=as_real(server_j),
        meter_energy_j_per_output_token=as_real(meter_j),
        g_co2_per_output_token=as_real(g_co2),
        l_water_per_output_token=as_real(water_l),
        embodied_kg_co2e=embodied.total_kg_co2e,
        accelerator_embodied_g_co2_per_year=embodied.accelerators_g_co2_per_year,
        host_embodied_g_co2_per_year=embodied.hosts_g_co2_per_year,
        facility_embodied_g_co2_per_year=embodied.facility_g_co2_per_year,
        embodied_g_co2_per_year=embodied.total_g_co2_per_year,
        embodied_g_co2_per_output_token=as_real(embodied_g),
        g_co2_per_output_token_with_embodied=as_real(g_co2_total),
        embodied_carbon_frac=as_real(embodied_frac),
    )


def embodied_inputs(
    platform: Platform,
    accelerator_kg_co2e: ArrayLike | None,
    host_kg_co2e_per_node: ArrayLike | None,
    facility_kg_co2e_per_w: ArrayLike | None,
) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
    """The embodied-carbon inputs given, else the catalog's for ``platform``.

    A platform that is not in ``platforms.toml`` (built in code) gets the host fallback rule.
    """
    if accelerator_kg_co2e is None:
        accelerator_kg_co2e = accelerator_embodied(platform.accelerator).kg_co2e
    if host_kg_co2e_per_node is None:
        if platform.id in load_table("platforms"):
            host_kg_co2e_per_node = platform_embodied(platform.id).host_kg_co2e_per_node
        else:
            host_kg_co2e_per_node = host_embodied_fallback_kg_co2e(platform.accelerators_per_node)
    if facility_kg_co2e_per_w is None:
        facility_kg_co2e_per_w = facility_embodied().kg_co2e_per_w
    return accelerator_kg_co2e, host_kg_co2e_per_node, facility_kg_co2e_per_w
