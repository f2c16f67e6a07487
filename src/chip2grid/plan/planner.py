"""A plan: screen every candidate, check the best K with the serving simulator, choose.

Stage one (:func:`chip2grid.plan.screen.screen`) ranks every candidate by cost per million
output tokens among those that meet the SLOs in steady state. Stage two simulates one replica
of each of the ``top_k`` best distinct candidates under Poisson arrivals at its share of the
demand (the router splits the demand evenly) and keeps those whose simulated p90 TTFT and p90
TPOT meet the targets. The cheapest survivor is the plan; the others say why they lost.

Speculative candidates are simulated with their catalog setting (draft steps, verification of
``k + 1`` positions, accepted drafts drawn from the acceptance rate). The simulator does not
model disaggregated prefill/decode pools, so those candidates keep their steady-state check
only: :attr:`PlanOption.steady_state_only` is set and the verdict says so (a steady-state mean,
not a simulated p90).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from chip2grid.catalog.speculative import get_speculative_setting
from chip2grid.errors import InfeasibleError
from chip2grid.hardware import get_accelerator
from chip2grid.perf import Deployment
from chip2grid.plan.screen import (
    SPECULATIVE_OFF,
    PlanRequest,
    Screened,
    pareto_mask,
    screen,
    speculative_decoding,
)
from chip2grid.serving import engine_config_for, simulate, synthetic_trace


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOption:
    """One configuration with its screened and (when checked) simulated figures."""

    accelerator: str
    precision: str
    tp: int
    pp: int
    ep: int
    max_num_seqs: int
    max_num_batched_tokens: int
    replicas: int
    num_accelerators: int
    speculative: str = SPECULATIVE_OFF
    disaggregated: bool = False
    prefill_tp: int = 0
    prefill_pp: int = 0
    prefill_ep: int = 0
    prefill_replicas: int = 0
    kv_transfer_s: float = 0.0
    ttft_s: float
    tpot_s: float
    cost_usd_per_mtok: float
    """All cost over all tokens, input and output (``cost``'s ``usd_per_mtok_blended``)."""
    energy_j_per_output_token: float
    facility_power_w: float
    capex_usd: float
    sim_ttft_s_p90: float | None = None
    sim_tpot_s_p90: float | None = None
    steady_state_only: bool = False
    """Checked by the steady-state model only: the serving simulator does not model
    disaggregated prefill/decode pools."""
    verdict: str = ""

    @property
    def label(self) -> str:
        spec = "" if self.speculative == SPECULATIVE_OFF else f", speculative {self.speculative}"
        knobs = f"max_num_seqs {self.max_num_seqs}, budget {self.max_num_batched_tokens}{spec}"
        if self.disaggregated:
            return (
                f"disaggregated {self.prefill_replicas} prefill x {self.accelerator} "
                f"TP{self.prefill_tp} PP{self.prefill_pp} EP{self.prefill_ep} + "
                f"{self.replicas} decode x TP{self.tp} PP{self.pp} EP{self.ep} "
                f"{self.precision}, {knobs}"
            )
        return (
            f"{self.replicas} x {self.accelerator} TP{self.tp} PP{self.pp} EP{self.ep} "
            f"{self.precision}, {knobs}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The chosen configuration, the Pareto front and the runners-up with why they lost."""

    request: PlanRequest
    chosen: PlanOption
    pareto: tuple[PlanOption, ...]
    runners_up: tuple[PlanOption, ...]
    num_candidates: int
    num_feasible: int
    screen_s: float
    simulate_s: float
    candidates_per_s: float
    num_checked: int = 0
    """Best distinct candidates checked in stage two (``top_k`` or fewer)."""
    num_simulated: int = 0
    """Of those, the ones the serving simulator ran (0 with ``simulate_top=False``)."""
    num_steady_state_only: int = 0
    """Of those, the ones checked in steady state only (disaggregated pools)."""


def _option(s: Screened, i: int) -> PlanOption:
    c = s.configs[int(s.config[i])]
    return PlanOption(
        accelerator=c.accelerator,
        precision=c.precision,
        tp=c.tp,
        pp=c.pp,
        ep=c.ep,
        speculative=c.speculative,
        disaggregated=c.disaggregated,
        prefill_tp=c.prefill_tp,
        prefill_pp=c.prefill_pp,
        prefill_ep=c.prefill_ep,
        prefill_replicas=int(s.prefill_replicas[i]),
        kv_transfer_s=c.kv_transfer_s,
        steady_state_only=c.disaggregated,
        max_num_seqs=int(s.max_num_seqs[i]),
        max_num_batched_tokens=int(s.max_num_batched_tokens[i]),
        replicas=int(s.replicas[i]),
        num_accelerators=int(s.num_accelerators[i]),
        ttft_s=float(s.ttft_s[i]),
        tpot_s=float(s.tpot_s[i]),
        cost_usd_per_mtok=float(s.cost_usd_per_mtok[i]),
        energy_j_per_output_token=float(s.energy_j_per_output_token[i]),
        facility_power_w=float(s.facility_power_w[i]),
        capex_usd=float(s.capex_usd[i]),
    )


def closest_to_feasible(s: Screened) -> str:
    """Which constraint the nearest candidate misses, and by how much."""
    i = int(np.argmin(s.violation_frac))
    opt = _option(s, i)
    return (
        f"nothing meets every constraint; closest: {opt.label} misses {s.violated[i]} by "
        f"{s.violation_frac[i]:.0%} (TTFT {opt.ttft_s * 1e3:.0f} ms, TPOT "
        f"{opt.tpot_s * 1e3:.1f} ms, {opt.facility_power_w / 1e6:.2f} MW, "
        f"capex ${opt.capex_usd / 1e6:.1f} M)"
    )


STEADY_STATE_ONLY = (
    "meets the SLOs in steady state (not simulated: the serving simulator does not model "
    "disaggregated prefill/decode pools)"
)
NOT_SIMULATED = "meets the SLOs in steady state (not simulated: stage two was switched off)"
PASSED = ("meets the SLOs in simulation", STEADY_STATE_ONLY)


def _simulate(req: PlanRequest, opt: PlanOption, num_requests: int, seed: int) -> PlanOption:
    if opt.steady_state_only:
        return dataclasses.replace(opt, verdict=STEADY_STATE_ONLY)
    dep = Deployment(
        model=req.model,
        accelerator=get_accelerator(opt.accelerator),
        num_accelerators=opt.pp * max(opt.tp, opt.ep),
        tp=opt.tp,
        pp=opt.pp,
        ep=opt.ep,
        weight_precision=opt.precision,
        kv_precision=opt.precision,
        engine=req.engine,
    )
    spec = (
        None
        if opt.speculative == SPECULATIVE_OFF
        else speculative_decoding(get_speculative_setting(opt.speculative))
    )
    config = engine_config_for(
        dep,
        max_num_seqs=opt.max_num_seqs,
        max_num_batched_tokens=opt.max_num_batched_tokens,
        speculative=spec,
        seed=seed,
    )
    trace = synthetic_trace(
        num_requests,
        req.demand_requests_per_s / opt.replicas,
        round(req.input_tokens),
        round(req.output_tokens),
        1.0,
        seed,
        input_tokens_cv=req.input_tokens_cv,
        output_tokens_cv=req.output_tokens_cv,
    )
    served = simulate(dep, trace, config=config)
    ttft = float(np.percentile(served.ttft_s, 90))
    tpot = float(np.percentile(served.tpot_s, 90)) if served.tpot_s.size else 0.0
    misses = []
    if ttft > req.ttft_slo_s:
        misses.append(f"simulated p90 TTFT {ttft * 1e3:.0f} ms > {req.ttft_slo_s * 1e3:.0f} ms")
    if tpot > req.tpot_slo_s:
        misses.append(f"simulated p90 TPOT {tpot * 1e3:.1f} ms > {req.tpot_slo_s * 1e3:.1f} ms")
    verdict = "; ".join(misses) if misses else "meets the SLOs in simulation"
    return dataclasses.replace(opt, sim_ttft_s_p90=ttft, sim_tpot_s_p90=tpot, verdict=verdict)


def plan(
    req: PlanRequest,
    *,
    top_k: int = 20,
    simulate_top: bool = True,
    num_requests: int = 400,
    seed: int = 0,
) -> Plan:
    """Screen all candidates, simulate the best ``top_k``, and choose (see module notes)."""
    s = screen(req)
    feasible = np.flatnonzero(s.feasible)
    if feasible.size == 0:
        raise InfeasibleError(closest_to_feasible(s))
    order = feasible[np.argsort(s.cost_usd_per_mtok[feasible], kind="stable")]
    # distinct configurations first: the best batch cap and budget of each
    _, first = np.unique(s.config[order], return_index=True)
    best_of_config = order[np.sort(first)]
    picks = [int(i) for i in best_of_config[:top_k]]
    options = [_option(s, i) for i in picks]
    start = time.perf_counter()
    if simulate_top:
        options = [_simulate(req, o, num_requests, seed) for o in options]
        passing = [o for o in options if o.verdict in PASSED]
    else:
        options = [dataclasses.replace(o, verdict=NOT_SIMULATED) for o in options]
        passing = options
    num_simulated = sum(o.sim_tpot_s_p90 is not None for o in options)
    simulate_s = time.perf_counter() - start
    if not passing:
        raise InfeasibleError(
            "every screened candidate misses the SLOs in simulation; closest: "
            + min(options, key=lambda o: (o.sim_tpot_s_p90 or 0) / req.tpot_slo_s).verdict
        )
    chosen = min(passing, key=lambda o: o.cost_usd_per_mtok)
    runners = []
    for o in options:
        if o is chosen:
            continue
        why = o.verdict if o.verdict and o not in passing else ""
        if not why:
            extra = o.cost_usd_per_mtok / chosen.cost_usd_per_mtok - 1.0
            why = f"costs {extra:+.0%} per Mtok" + (
                " (steady state only: not simulated)" if o.sim_tpot_s_p90 is None else ""
            )
        runners.append(dataclasses.replace(o, verdict=why))
    # Pareto front over the best candidate of each configuration: cost, TTFT, TPOT, J/token
    best_of_shape = best_of_config
    mask = pareto_mask(
        [
            s.cost_usd_per_mtok[best_of_shape],
            s.ttft_s[best_of_shape],
            s.tpot_s[best_of_shape],
            s.energy_j_per_output_token[best_of_shape],
        ]
    )
    pareto = tuple(_option(s, int(i)) for i in best_of_shape[mask])
    return Plan(
        request=req,
        chosen=chosen,
        pareto=pareto,
        runners_up=tuple(runners),
        num_candidates=s.size,
        num_feasible=int(feasible.size),
        screen_s=s.elapsed_s,
        simulate_s=simulate_s,
        candidates_per_s=s.size / s.elapsed_s if s.elapsed_s > 0 else math.inf,
        num_checked=len(options),
        num_simulated=num_simulated,
        num_steady_state_only=(sum(o.steady_state_only for o in options) if simulate_top else 0),
    )
