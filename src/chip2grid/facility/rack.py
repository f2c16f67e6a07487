"""How many servers fit in a rack: the platform's packing, the cooling's density limit and
an optional power limit per rack."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.facility.cooling import Cooling, get_cooling, list_coolings
from chip2grid.facility.platform import Platform

__all__ = ["RackPlan", "plan_racks"]


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
        ``nodes_per_rack * node_power_w``.
    rack_power_limit_w
        The binding density limit: the cooling's maximum or the caller's rack limit.
    binding
        What set ``nodes_per_rack``: ``"platform"`` (its default packing), ``"cooling"`` or
        ``"rack_power_limit_w"``.
    """

    platform: Platform
    cooling: Cooling
    node_power_w: float
    nodes_per_rack: int
    rack_power_w: float
    rack_power_limit_w: float
    binding: str

    @property
    def accelerators_per_rack(self) -> int:
        """Accelerators in one rack of this plan."""
        return self.nodes_per_rack * self.platform.accelerators_per_node


def _coolings_that_remove(node_power_w: float, platform: Platform) -> list[str]:
    able = []
    for cooling_id in list_coolings():
        if get_cooling(cooling_id).max_rack_power_w >= node_power_w:
            able.append(cooling_id)
    preferred = [c for c in able if c in platform.cooling]
    return preferred or able


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
        The cooling type; must be one of ``platform.cooling``.
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
        Field ``cooling`` when the platform cannot be cooled that way or one node exceeds
        what that cooling removes from a rack (the message lists the cooling types that could);
        field ``rack_power_limit_w`` when one node exceeds the caller's limit;
        field ``node_power_w`` when it is not positive.

    Notes
    -----
    .. math::

        n_{rack} = \\min\\left(n_{platform},\\;
        \\left\\lfloor \\frac{\\min(P_{cooling,max}, P_{limit})}{P_{node}} \\right\\rfloor\\right)
    """
    if not (node_power_w > 0 and math.isfinite(node_power_w)):
        raise InvalidParameterError("node_power_w", node_power_w, "a finite number > 0 (W)")
    if cooling.id not in platform.cooling:
        raise InvalidParameterError(
            "cooling",
            cooling.id,
            f"a cooling type that can cool {platform.id}: {', '.join(platform.cooling)}",
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
    fit = math.floor(limit / node_power_w)
    if fit < 1:
        if limit_field == "cooling":
            able = _coolings_that_remove(node_power_w, platform)
            raise InvalidParameterError(
                "cooling",
                cooling.id,
                f"a cooling type that removes {node_power_w:.0f} W from one rack: "
                f"{', '.join(able) or 'none in cooling.toml'}",
                f"one {platform.id} node draws {node_power_w:.0f} W, a rack density the "
                f"cooling type {cooling.id!r} cannot remove (at most {limit:.0f} W per rack)",
            )
        raise InvalidParameterError(
            "rack_power_limit_w",
            rack_power_limit_w,
            f"at least one node's power, {node_power_w:.0f} W",
            f"one {platform.id} node draws {node_power_w:.0f} W",
        )
    if fit >= platform.nodes_per_rack:
        nodes, binding = platform.nodes_per_rack, "platform"
    else:
        nodes, binding = fit, limit_field
    return RackPlan(
        platform=platform,
        cooling=cooling,
        node_power_w=float(node_power_w),
        nodes_per_rack=nodes,
        rack_power_w=nodes * float(node_power_w),
        rack_power_limit_w=float(limit),
        binding=binding,
    )
