"""How many servers fit in a rack: the platform's packing, the cooling's density limit and
an optional power limit per rack; and what a fleet of such racks takes: racks, floor space and
the rack power it leaves unused."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.facility.cooling import Cooling, get_cooling, list_coolings
from chip2grid.facility.platform import Platform

__all__ = [
    "RackLayout",
    "RackPlan",
    "compatible_coolings",
    "nodes_within_power",
    "plan_racks",
    "rack_layout",
]


def _nodes_per_domain(platform: Platform) -> int:
    """Nodes that must share one rack: a scale-up domain wider than a node (an NVL72's 18
    compute trays on one copper NVLink spine) cannot be split across racks."""
    if platform.scale_up_domain_size <= platform.accelerators_per_node:
        return 1
    return min(
        platform.nodes_per_rack,
        -(-platform.scale_up_domain_size // platform.accelerators_per_node),
    )


def _domain_overhead_w(platform: Platform) -> float:
    """Power of one scale-up domain besides its nodes (an NVL72's NVLink switch trays): the
    platform's rack power less its nodes at their maximum, shared among the rack's domains;
    0 for platforms whose domain is one node."""
    per_domain = _nodes_per_domain(platform)
    if per_domain == 1:
        return 0.0
    extra = platform.rack_power_w - platform.nodes_per_rack * platform.node_max_power_w
    return max(0.0, extra) / (platform.nodes_per_rack // per_domain)


def _air_cooled(platform: Platform) -> bool:
    return any(get_cooling(c).heat_path == "air" for c in platform.cooling)


def compatible_coolings(platform: Platform) -> list[str]:
    """Ids of the cooling types that can take ``platform``'s heat, whatever the density.

    The platform's own list (``platform.cooling``: the types that hold its default packing)
    plus, for an air-cooled server (one that lists an air-path cooling), every air-path
    cooling type: air removes a fan-cooled server's heat at any density up to the rack limit,
    with fewer servers per rack. A liquid-cooled platform (cold plates, e.g. a GB200 NVL72)
    takes only the types it lists.
    """
    ids = list_coolings()
    if _air_cooled(platform):
        return [c for c in ids if c in platform.cooling or get_cooling(c).heat_path == "air"]
    return [c for c in ids if c in platform.cooling]


def default_cooling_for(platform: Platform, preferred: str = "dlc") -> str:
    """``preferred`` where it can take ``platform``'s heat (:func:`compatible_coolings`), else
    the first cooling type the platform lists: an air-cooled server stands in air when no
    cooling is named."""
    return preferred if preferred in compatible_coolings(platform) else platform.cooling[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class RackPlan:
    """Servers per rack for one platform under one cooling type.

    Attributes
    ----------
    node_power_w
        The power budgeted per node (usually ``platform.node_max_power_w``).
    nodes_per_rack
        Nodes in one rack: the platform's packing or fewer where power binds.
    rack_power_w
        Power of one full rack: ``nodes_per_rack * node_power_w``, plus the in-rack switch
        trays of a rack-scale platform.
    rack_power_limit_w
        The binding density limit: the cooling's maximum or the caller's rack limit.
    binding
        What set ``nodes_per_rack``: ``"platform"`` (its default packing), ``"cooling"`` or
        ``"rack_power_limit_w"``.
    floor_area_m2_per_rack
        White-space floor of one rack with its share of aisles (the cooling's figure), m².
    """

    platform: Platform
    cooling: Cooling
    node_power_w: float
    nodes_per_rack: int
    rack_power_w: float
    rack_power_limit_w: float
    binding: str
    floor_area_m2_per_rack: float

    @property
    def accelerators_per_rack(self) -> int:
        """Accelerators in one rack of this plan."""
        return self.nodes_per_rack * self.platform.accelerators_per_node

    @property
    def stranded_power_w_per_rack(self) -> float:
        """Rack power budget a full rack leaves unused: ``rack_power_limit_w - rack_power_w``.

        When the platform's packing binds this is headroom the cooling could still remove;
        when power binds it is the part of the budget too small for one more node (a 10.2 kW
        server in a 15 kW rack strands 4.8 kW)."""
        return self.rack_power_limit_w - self.rack_power_w


@dataclass(frozen=True, slots=True, kw_only=True)
class RackLayout:
    """What ``num_nodes`` nodes take under a :class:`RackPlan`.

    Attributes
    ----------
    num_racks
        ``ceil(num_nodes / nodes_per_rack)``.
    floor_area_m2
        ``num_racks * floor_area_m2_per_rack``: white space, aisles included.
    rack_power_w
        Power the racks draw with every node at its budgeted power.
    stranded_rack_power_w
        ``num_racks * rack_power_limit_w - rack_power_w``: rack power budget provisioned and
        not used (the partly filled last rack included).
    """

    num_nodes: int
    num_racks: int
    floor_area_m2: float
    rack_power_w: float
    stranded_rack_power_w: float


def rack_layout(plan: RackPlan, num_nodes: int) -> RackLayout:
    """Racks, floor space and stranded rack power of ``num_nodes`` nodes packed by ``plan``.

    Raises
    ------
    InvalidParameterError
        Field ``num_nodes`` when not an integer >= 0.

    Notes
    -----
    .. math::

        N_{racks} = \\lceil N / n_{rack} \\rceil, \\quad
        A = N_{racks} \\, a_{rack}, \\quad
        P_{stranded} = N_{racks} P_{limit} - (N P_{node} + N_{domains} P_{switch})

    with :math:`a_{rack}` the cooling's floor area per rack (aisles included) and
    :math:`P_{switch}` the switch trays of each started scale-up domain of a rack-scale
    platform (a partly filled NVL72 rack still holds all its switch trays).
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 0:
        raise InvalidParameterError("num_nodes", num_nodes, "an integer >= 0")
    num_racks = -(-num_nodes // plan.nodes_per_rack)
    domains = -(-num_nodes // _nodes_per_domain(plan.platform))
    power = num_nodes * plan.node_power_w + domains * _domain_overhead_w(plan.platform)
    return RackLayout(
        num_nodes=num_nodes,
        num_racks=num_racks,
        floor_area_m2=num_racks * plan.floor_area_m2_per_rack,
        rack_power_w=power,
        stranded_rack_power_w=num_racks * plan.rack_power_limit_w - power,
    )


def nodes_within_power(plan: RackPlan, power_w: float, per_node_extra_w: float = 0.0) -> int:
    """The most nodes of ``plan`` that ``power_w`` powers, each at ``plan.node_power_w`` plus
    ``per_node_extra_w`` (its share of the scale-out fabric, say), with the switch trays of
    every scale-up domain they start (:func:`rack_layout` counts them the same way).

    Notes
    -----
    With :math:`d` nodes per domain, :math:`P_n` per node and :math:`P_{sw}` per domain:
    :math:`k = \\lfloor P / (d P_n + P_{sw}) \\rfloor` whole domains, then as many nodes
    of one more domain as the rest powers after its switch trays (none if it cannot power
    one). A platform whose domain is one node has :math:`P_{sw} = 0`:
    :math:`\\lfloor P / P_n \\rfloor`.
    """
    node_w = plan.node_power_w + per_node_extra_w
    if not (node_w > 0 and math.isfinite(node_w)):
        raise InvalidParameterError(
            "per_node_extra_w", per_node_extra_w, "a finite number >= 0 (W)"
        )
    if not power_w >= 0:
        raise InvalidParameterError("power_w", power_w, "a number >= 0 (W)")
    per_domain = _nodes_per_domain(plan.platform)
    overhead = _domain_overhead_w(plan.platform)
    domain_w = per_domain * node_w + overhead
    whole = math.floor(power_w / domain_w)
    rest_w = power_w - whole * domain_w
    partial = 0
    if rest_w >= overhead + node_w:
        partial = min(per_domain - 1, math.floor((rest_w - overhead) / node_w))
    return whole * per_domain + partial


def _coolings_that_remove(rack_min_w: float, platform: Platform) -> list[str]:
    return [
        c for c in compatible_coolings(platform) if get_cooling(c).max_rack_power_w >= rack_min_w
    ]


def plan_racks(
    platform: Platform,
    cooling: Cooling,
    node_power_w: float,
    rack_power_limit_w: float | None = None,
) -> RackPlan:
    """Pack nodes of ``platform`` into racks cooled by ``cooling``.

    Parameters
    ----------
    platform
        The server model.
    cooling
        The cooling type; one of :func:`compatible_coolings` of the platform.
    node_power_w
        Power budgeted per node, usually ``platform.node_max_power_w``.
    rack_power_limit_w
        Optional power limit per rack (a site's power distribution), in W.

    Returns
    -------
    RackPlan

    Raises
    ------
    InvalidParameterError
        Field ``cooling`` when the platform's heat cannot go that way (a liquid-cooled
        platform in an air room) or one node (one scale-up domain of a rack-scale platform)
        exceeds what that cooling removes from a rack; the message lists the cooling types
        that could. Field ``rack_power_limit_w`` when one node exceeds the caller's limit;
        field ``node_power_w`` when it is not positive.

    Notes
    -----
    .. math::

        n_{rack} = \\min\\left(n_{platform},\\;
        \\left\\lfloor \\frac{\\min(P_{cooling,max}, P_{limit})}{P_{node}} \\right\\rfloor\\right)
        \\ge 1

    A rack-scale platform (a scale-up domain of :math:`d > 1` nodes, e.g. an NVL72's 18
    trays and their switch trays) needs the whole domain in one rack: :math:`n_{rack} = d`
    or an error. Low-density rooms strand power: a 10.2 kW DGX H100 in a 15 kW
    ``air-legacy`` rack fits once and leaves 4.8 kW unused.
    """
    if not (node_power_w > 0 and math.isfinite(node_power_w)):
        raise InvalidParameterError("node_power_w", node_power_w, "a finite number > 0 (W)")
    allowed = compatible_coolings(platform)
    if cooling.id not in allowed:
        path = "air" if _air_cooled(platform) else "liquid"
        raise InvalidParameterError(
            "cooling",
            cooling.id,
            f"a cooling type that can take the {platform.id}: {', '.join(allowed)}",
            f"{platform.id} is {path}-cooled and {cooling.id!r} takes heat by {cooling.heat_path}",
        )
    limit = cooling.max_rack_power_w
    limit_field = "cooling"
    if rack_power_limit_w is not None:
        if not rack_power_limit_w > 0:
            raise InvalidParameterError(
                "rack_power_limit_w", rack_power_limit_w, "a number > 0 (W), or None"
            )
        if rack_power_limit_w < limit:
            limit, limit_field = rack_power_limit_w, "rack_power_limit_w"
    per_domain = _nodes_per_domain(platform)
    overhead = _domain_overhead_w(platform)
    smallest_w = per_domain * node_power_w + overhead  # the least one rack can hold
    what = (
        f"one {platform.id} node draws {node_power_w:.0f} W"
        if per_domain == 1
        else f"one {platform.id} rack holds a whole {platform.scale_up_domain_size}-accelerator "
        f"scale-up domain, {per_domain} nodes x {node_power_w:.0f} W + {overhead:.0f} W of "
        f"switch trays = {smallest_w:.0f} W"
    )
    if smallest_w > limit:
        if limit_field == "cooling":
            able = _coolings_that_remove(smallest_w, platform)
            raise InvalidParameterError(
                "cooling",
                cooling.id,
                f"a cooling type that removes {smallest_w:.0f} W from one rack: "
                f"{', '.join(able) or 'none in cooling.toml'}",
                f"{what}, a rack density the cooling type {cooling.id!r} cannot remove "
                f"(at most {limit:.0f} W per rack)",
            )
        raise InvalidParameterError(
            "rack_power_limit_w",
            rack_power_limit_w,
            f"at least {smallest_w:.0f} W",
            what,
        )
    domains_fit = math.floor(limit / smallest_w)
    domains_max = platform.nodes_per_rack // per_domain
    if domains_fit >= domains_max:
        domains, binding = domains_max, "platform"
    else:
        domains, binding = domains_fit, limit_field
    nodes = domains * per_domain
    return RackPlan(
        platform=platform,
        cooling=cooling,
        node_power_w=float(node_power_w),
        nodes_per_rack=nodes,
        rack_power_w=nodes * float(node_power_w) + domains * overhead,
        rack_power_limit_w=float(limit),
        binding=binding,
        floor_area_m2_per_rack=cooling.floor_area_m2_per_rack,
    )
