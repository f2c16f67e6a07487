"""A scenario's site year by year: how many accelerators its power feeds as it is built out,
what they serve per megawatt, and how many of the deployment's accelerators are left stranded.

The site is ``site.power_cap_w`` of critical IT power (the last build-out phase when only
phases are given), filled with whole servers of the scenario's platform, racked for its
cooling (``site.rack_power_cap_w`` when set). Each server is budgeted at its maximum power
plus its share of the scale-out fabric, as a facility engineer sizes a hall; throughput per
accelerator is the scenario's steady state at full load.
"""

from __future__ import annotations

from dataclasses import dataclass

from chip2grid.economics import DeploymentCost
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import (
    Site,
    get_cooling,
    plan_racks,
    site_capacity,
)
from chip2grid.perf import Estimate
from chip2grid.scenario.load import scenario_region
from chip2grid.scenario.schema import Scenario

__all__ = ["SiteYear", "site_buildout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteYear:
    """The site in one year of its build-out (``year`` None: the whole site, no phases)."""

    year: int | None
    critical_it_power_w: float
    num_racks: int
    num_accelerators_powered: int
    num_accelerators_wanted: int
    num_accelerators_stranded: int
    it_power_w: float
    facility_power_w: float
    output_tokens_per_s: float
    output_tokens_per_s_per_mw: float
    """Output tokens per second per MW of facility power at full load."""
    floor_area_m2: float
    """White space the racks take, aisles included."""
    stranded_rack_power_w: float
    """Rack power the cooling could remove but no server fills, over all racks: whole servers
    that do not fit under the limit, or racks full of servers by space before power."""


def _site(scenario: Scenario) -> Site:
    spec = scenario.site
    phases = tuple((p.year, p.power_w) for p in spec.buildout)
    cap = spec.power_cap_w if spec.power_cap_w is not None else (phases[-1][1] if phases else None)
    if cap is None:
        raise InvalidParameterError(
            "site.power_cap_w",
            None,
            "the site's critical IT power in W, or build-out phases (site.buildout)",
            "a site plan needs to know how much power the site has",
        )
    return Site(
        critical_it_power_w=cap,
        region=scenario_region(scenario),
        cooling=get_cooling(spec.cooling),
        buildout=phases,
    )


def site_buildout(
    scenario: Scenario,
    capacity: Estimate,
    cost: DeploymentCost,
    num_accelerators_wanted: int | None = None,
) -> list[SiteYear]:
    """The site of ``scenario`` in each build-out year (one row when it has no phases).

    ``capacity`` is the steady state at full load (its throughput per accelerator fills the
    site); ``cost`` supplies the platform the deployment was priced on. The fleet sought is
    ``num_accelerators_wanted`` (default: the scenario's deployment); what the site cannot
    power in a year is stranded.
    """
    if num_accelerators_wanted is not None and num_accelerators_wanted < 0:
        raise InvalidParameterError(
            "num_accelerators_wanted", num_accelerators_wanted, "an integer >= 0"
        )
    site = _site(scenario)
    platform = cost.platform
    rack_plan = plan_racks(
        platform,
        site.cooling,
        platform.node_max_power_w,
        scenario.site.rack_power_cap_w,
    )
    per_accelerator = capacity.output_tokens_per_s / capacity.num_accelerators
    wanted = (
        capacity.num_accelerators if num_accelerators_wanted is None else num_accelerators_wanted
    )
    years: list[int | None] = [y for y, _ in site.buildout] or [None]
    rows = []
    for year in years:
        available = site.critical_it_power_w_in(year)
        full = site_capacity(site, rack_plan, None, year=year)
        fed = min(wanted, full.num_accelerators)
        tokens = full.num_accelerators * per_accelerator
        rows.append(
            SiteYear(
                year=year,
                critical_it_power_w=available,
                num_racks=full.num_racks,
                num_accelerators_powered=full.num_accelerators,
                num_accelerators_wanted=wanted,
                num_accelerators_stranded=wanted - fed,
                it_power_w=full.it_power_w,
                facility_power_w=full.facility_power_w,
                output_tokens_per_s=tokens,
                output_tokens_per_s_per_mw=tokens / (full.facility_power_w / 1e6),
                floor_area_m2=full.floor_area_m2,
                stranded_rack_power_w=full.stranded_rack_power_w,
            )
        )
    return rows
