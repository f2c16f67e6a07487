"""Finance assumptions and the annuity that turns capital into a yearly cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from chip2grid.catalog import build_entry, load_table
from chip2grid.facility._arrays import Real, as_real, check

__all__ = ["Finance", "annuity_factor", "default_finance"]

_LIFETIMES = (
    "accelerator_lifetime_years",
    "network_lifetime_years",
    "facility_lifetime_years",
    "power_infrastructure_lifetime_years",
)
_NON_NEGATIVE = (
    "maintenance_frac_per_year",
    "staff_usd_per_mw_year",
    "insurance_property_tax_frac_per_year",
    "power_infrastructure_usd_per_w",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finance:
    """Cost of capital, asset lifetimes and operating-cost rates.

    Attributes
    ----------
    wacc_frac
        Weighted average cost of capital per year, in [0, 1).
    accelerator_lifetime_years, network_lifetime_years, facility_lifetime_years, power_infrastructure_lifetime_years
        Depreciation lives of servers, scale-out fabric, building with its cooling plant, and
        power infrastructure (substation, switchgear, UPS, generators).
    maintenance_frac_per_year
        Yearly maintenance and support as a fraction of IT capex (servers and network).
    staff_usd_per_mw_year
        Operations staff per MW of critical IT power per year.
    insurance_property_tax_frac_per_year
        Insurance and property tax per year as a fraction of all capex.
    power_infrastructure_usd_per_w
        Power infrastructure capex per W of critical IT power, on top of the region's
        facility cost and the cooling's.

    Fields may hold numpy arrays (``dataclasses.replace(finance, wacc_frac=draws)``) for a
    Monte Carlo run; validation checks every element.
    """

    wacc_frac: float
    accelerator_lifetime_years: float
    network_lifetime_years: float
    facility_lifetime_years: float
    power_infrastructure_lifetime_years: float
    maintenance_frac_per_year: float
    staff_usd_per_mw_year: float
    insurance_property_tax_frac_per_year: float
    power_infrastructure_usd_per_w: float
    id: str = "custom"
    source: str = "user input"
    estimate: bool = False
    estimated_fields: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        wacc = np.asarray(self.wacc_frac, dtype=np.float64)
        check("wacc_frac", wacc, (wacc >= 0) & (wacc < 1), "a fraction in [0, 1)")
        for name in _LIFETIMES:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            check(name, value, (value > 0) & np.isfinite(value), "a number > 0")
        for name in _NON_NEGATIVE:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            check(name, value, (value >= 0) & np.isfinite(value), "a number >= 0")


def default_finance() -> Finance:
    """The ``[finance-default]`` table of ``catalog/economics.toml``."""
    return build_entry(
        Finance, "finance-default", load_table("economics")["finance-default"], "economics"
    )


def annuity_factor(rate_frac: ArrayLike, years: ArrayLike) -> Real:
    """Capital recovery factor: the level yearly payment that repays 1 USD over ``years``.

    Parameters
    ----------
    rate_frac
        Discount rate per year (the WACC), >= 0.
    years
        Lifetime in years, > 0 (need not be whole).

    Returns
    -------
    float or numpy.ndarray
        Yearly payment per USD of capital.

    Notes
    -----
    .. math::

        A(r, n) = \\frac{r}{1 - (1 + r)^{-n}}, \\qquad A(0, n) = \\frac{1}{n}

    the straight-line limit. Evaluated as :math:`r / (-\\mathrm{expm1}(-n \\log1p(r)))` for
    accuracy at small :math:`r`. See Brealey, Myers and Allen [1]_, ch. 2, or the
    "capital recovery factor" of NREL's LCOE method [2]_.

    References
    ----------
    .. [1] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance",
       13th ed., McGraw-Hill (2020).
    .. [2] W. Short, D. J. Packey and T. Holt, "A manual for the economic evaluation of energy
       efficiency and renewable energy technologies", NREL/TP-462-5173 (1995).
    """
    rate = np.asarray(rate_frac, dtype=np.float64)
    n = np.asarray(years, dtype=np.float64)
    check("rate_frac", rate, (rate >= 0) & np.isfinite(rate), "a number >= 0")
    check("years", n, (n > 0) & np.isfinite(n), "a number > 0")
    zero = rate == 0
    safe_rate = np.where(zero, 1.0, rate)
    factor = np.where(zero, 1.0 / n, safe_rate / -np.expm1(-n * np.log1p(safe_rate)))
    return as_real(factor)
