"""What the building allows: a site's critical IT power, its build-out and how many servers
it powers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.facility.cooling import Cooling, annual_pue
from chip2grid.facility.rack import RackPlan, nodes_within_power, rack_layout
from chip2grid.facility.region import Region

__all__ = ["DEFAULT_DESIGN_IT_LOAD_FRAC", "Site", "SiteCapacity", "site_capacity"]

DEFAULT_DESIGN_IT_LOAD_FRAC = 0.8
"""ESTIMATE: mean IT load of a site as a fraction of its design critical IT power. Operators
size for peak and add redundancy; Uptime Institute surveys find most halls well below full
load. Used for PUE when a caller gives no load."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A data-center site.

    Attributes
    ----------
    critical_it_power_w
        Design critical IT power (the power the IT equipment may draw), in W.
    region, cooling
        Where it stands and how it is cooled.
    buildout
        Optional phases ``((year, critical_it_power_w), ...)``: years increasing, power
        non-decreasing and at most ``critical_it_power_w``. Empty: all power available now.
    design_it_load_frac
        Mean IT load as a fraction of ``critical_it_power_w``, for PUE.
    """

    critical_it_power_w: float
    region: Region
    cooling: Cooling
    buildout: tuple[tuple[int, float], ...] = ()
    design_it_load_frac: float = DEFAULT_DESIGN_IT_LOAD_FRAC

    def __post_init__(self) -> None:
        if not (self.critical_it_power_w > 0 and math.isfinite(self.critical_it_power_w)):
            raise InvalidParameterError(
                "critical_it_power_w", self.critical_it_power_w, "a finite number > 0 (W)"
            )
        if not 0 < self.design_it_load_frac <= 1:
            raise InvalidParameterError(
                "design_it_load_frac", self.design_it_load_frac, "a fraction in (0, 1]"
            )
        previous_year, previous_power = -math.inf, 0.0
        for year, power_w in self.buildout:
            if year <= previous_year:
                raise InvalidParameterError(
                    "buildout", self.buildout, "phases in increasing years", f"year {year}"
                )
            if not (power_w > 0 and power_w >= previous_power):
                raise InvalidParameterError(
                    "buildout",
                    self.buildout,
                    "critical IT power > 0 and non-decreasing from phase to phase",
                    f"year {year}: {power_w} W",
                )
            if power_w > self.critical_it_power_w:
                raise InvalidParameterError(
                    "buildout",
                    self.buildout,
                    f"phases of at most critical_it_power_w ({self.critical_it_power_w} W)",
                    f"year {year}: {power_w} W",
                )
            previous_year, previous_power = year, power_w

    def critical_it_power_w_in(self, year: int | None = None) -> float:
        """Critical IT power available in ``year`` (all of it when ``year`` or the build-out
        is not given; 0 before the first phase)."""
        if year is None or not self.buildout:
            return self.critical_it_power_w
        available = 0.0
        for phase_year, power_w in self.buildout:
            if phase_year <= year:
                available = power_w
        return available


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteCapacity:
    """What a site powers with one rack plan.

    Attributes
    ----------
    num_accelerators
        Accelerators powered (whole nodes; no more than wanted).
    num_accelerators_stranded
        Accelerators wanted that the site's power cannot feed (0 when it can).
    it_power_w
        Critical IT power they take: nodes at their budgeted power plus their network.
    facility_power_w
        ``it_power_w`` times the site's annual PUE at its design load.
    spare_it_power_w
        Critical IT power left unused.
    floor_area_m2
        White space the racks take, aisles included (racks x the cooling's m² per rack).
    stranded_rack_power_w
        Rack power budget the racks leave unused: racks x the plan's rack limit less the
        nodes' budgeted power (see :func:`~chip2grid.facility.rack.rack_layout`).
    """

    num_racks: int
    num_nodes: int
    num_accelerators: int
    num_accelerators_stranded: int
    it_power_w: float
    facility_power_w: float
    spare_it_power_w: float
    pue: float
    floor_area_m2: float
    stranded_rack_power_w: float


def site_capacity(
    site: Site,
    rack_plan: RackPlan,
    num_accelerators_wanted: int | None = None,
    *,
    year: int | None = None,
) -> SiteCapacity:
    """How many racks, nodes and accelerators ``site`` powers with ``rack_plan``.

    Parameters
    ----------
    site
        The site; its cooling must be the rack plan's.
    rack_plan
        From :func:`plan_racks`.
    num_accelerators_wanted
        Fleet size sought; ``None`` fills the site.
    year
        Use the site's build-out in that year (``None``: the full site).

    Raises
    ------
    InvalidParameterError
        ``critical_it_power_w`` when the site cannot power one server; ``cooling`` when the
        plan's cooling is not the site's; ``num_accelerators_wanted`` when negative.

    Notes
    -----
    One node takes :math:`P_n = P_{node} + n_{acc} P_{net}` of critical IT power (its budget
    and its share of the scale-out fabric); a rack-scale platform (an NVL72) adds the switch
    trays of each scale-up domain it starts (:func:`~chip2grid.facility.rack.nodes_within_power`).
    The site powers :math:`N_{max}` nodes, :math:`\\lfloor P_{crit} / P_n \\rfloor` where a
    domain is one node; a request for :math:`A`
    accelerators takes :math:`\\min(N_{max}, \\lceil A / n_{acc} \\rceil)` nodes and leaves
    the rest stranded. Racks :math:`\\lceil N / n_{rack} \\rceil`, their floor space and
    stranded rack power by :func:`~chip2grid.facility.rack.rack_layout`.
    """
    if rack_plan.cooling.id != site.cooling.id:
        raise InvalidParameterError(
            "cooling",
            rack_plan.cooling.id,
            f"the site's cooling, {site.cooling.id!r}",
            "plan the racks with the site's cooling",
        )
    platform = rack_plan.platform
    per_node = platform.accelerators_per_node
    network_w = per_node * platform.network_power_w_per_accelerator
    node_it_w = rack_plan.node_power_w + network_w
    available_w = site.critical_it_power_w_in(year)
    max_nodes = nodes_within_power(rack_plan, available_w, network_w)
    if max_nodes < 1:
        least_w = rack_layout(rack_plan, 1).rack_power_w + network_w
        raise InvalidParameterError(
            "critical_it_power_w",
            available_w,
            f"at least {least_w:.0f} W, the power of one {platform.id} server with its network"
            + (" and its scale-up domain's switch trays" if least_w > node_it_w else ""),
            "the site is smaller than one server"
            + (f" in {year}" if year is not None and site.buildout else ""),
        )
    if num_accelerators_wanted is None:
        num_nodes = max_nodes
        num_accelerators = num_nodes * per_node
        stranded = 0
    else:
        if num_accelerators_wanted < 0:
            raise InvalidParameterError(
                "num_accelerators_wanted", num_accelerators_wanted, "an integer >= 0"
            )
        num_nodes = min(max_nodes, -(-num_accelerators_wanted // per_node))
        num_accelerators = min(num_accelerators_wanted, num_nodes * per_node)
        stranded = num_accelerators_wanted - num_accelerators
    layout = rack_layout(rack_plan, num_nodes)  # its rack power holds the domains' switch trays
    it_power_w = layout.rack_power_w + num_nodes * network_w
    site_pue = float(annual_pue(site.cooling, site.region, site.design_it_load_frac))
    return SiteCapacity(
        num_racks=layout.num_racks,
        num_nodes=num_nodes,
        num_accelerators=num_accelerators,
        num_accelerators_stranded=stranded,
        it_power_w=it_power_w,
        facility_power_w=it_power_w * site_pue,
        spare_it_power_w=available_w - it_power_w,
        pue=site_pue,
        floor_area_m2=layout.floor_area_m2,
        stranded_rack_power_w=layout.stranded_rack_power_w,
    )
