"""Evaluate a scenario end to end: capacity, the served load, power and cost.

One path for every interface: the best layout at full load, the steady state at the offered
load (or the simulated trace), then the cost breakdown at that load and at full load.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chip2grid.data import DEFAULT_TRACE, data_path
from chip2grid.economics import (
    DeploymentCost,
    Finance,
    default_finance,
    deployment_cost,
    load_from_estimate,
    load_from_simulation,
)
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import (
    Deployment,
    Estimate,
    Load,
    SpeculativeDecoding,
    Workload,
    best_layout,
    estimate,
)
from chip2grid.scenario.load import get_model_or_config, scenario_region
from chip2grid.scenario.schema import Scenario
from chip2grid.serving import (
    DiurnalCurve,
    RequestTrace,
    ServingResult,
    agent_trace,
    archetype_trace,
    engine_config_for,
    load_trace,
    synthetic_trace,
)
from chip2grid.serving import (
    simulate as simulate_serving,
)

PACKAGED_TRACES = {"azure-conv-10min": DEFAULT_TRACE}
"""Traces shipped with chip2grid, by the name a scenario uses."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioResult:
    """Everything one scenario evaluation produced (all totals over the whole deployment)."""

    scenario: Scenario
    deployment: Deployment
    workload: Workload
    offered_requests_per_s: float
    trace_source: str
    capacity: Estimate
    """Steady state at full load (all requests queued)."""
    at_load: Estimate
    """Steady state at the offered request rate (saturated when it exceeds capacity)."""
    simulation: ServingResult | None
    cost_at_load: DeploymentCost
    """Priced at the simulated trace when simulated, else at the steady state at load."""
    cost_at_capacity: DeploymentCost
    finance: Finance
    elapsed_s: float

    def simulation_summary(self) -> dict[str, object] | None:
        """The simulated trace's figures, with goodput under the scenario's SLOs."""
        if self.simulation is None:
            return None
        slo = self.scenario.slo
        return self.simulation.summary(ttft_slo_s=slo.ttft_s, tpot_slo_s=slo.tpot_s)

    def metrics(self) -> dict[str, float]:
        """Flat figures of merit (what a sweep stores and a comparison shows)."""
        cap, load = self.capacity, self.at_load
        b_load = self.cost_at_load.breakdown
        b_cap = self.cost_at_capacity.breakdown

        def f(value: Any) -> float:
            return float(np.asarray(value))

        facility_mw = f(b_cap.facility_power_w) / 1e6
        out: dict[str, float] = {
            "num_accelerators": float(self.deployment.num_accelerators),
            "tp": float(self.deployment.tp),
            "pp": float(self.deployment.pp),
            "ep": float(self.deployment.ep),
            "num_replicas": float(self.deployment.num_replicas),
            "capacity_output_tokens_per_s": cap.output_tokens_per_s,
            "capacity_requests_per_s": cap.requests_per_s,
            "offered_requests_per_s": self.offered_requests_per_s,
            "load_frac": self.offered_requests_per_s / cap.requests_per_s
            if cap.requests_per_s > 0
            else math.inf,
            "output_tokens_per_s": load.output_tokens_per_s,
            "ttft_s_mean": load.ttft_s_mean,
            "tpot_s_mean": load.tpot_s_mean,
            "e2e_latency_s_mean": load.e2e_latency_s_mean,
            "capacity_ttft_s_mean": cap.ttft_s_mean,
            "capacity_tpot_s_mean": cap.tpot_s_mean,
            "cost_usd_per_mtok_output": f(b_load.usd_per_mtok_output),
            "cost_usd_per_mtok_input": f(b_load.usd_per_mtok_input),
            "cost_usd_per_mtok_output_at_capacity": f(b_cap.usd_per_mtok_output),
            "cost_usd_per_mtok_blended_at_capacity": f(b_cap.usd_per_mtok_blended),
            "usd_per_accelerator_hour": f(b_cap.usd_per_accelerator_hour),
            "capex_usd": f(b_cap.capex_usd),
            "total_usd_per_year": f(b_cap.total_usd_per_year),
            "it_power_w": f(b_cap.it_power_w),
            "facility_power_w": f(b_cap.facility_power_w),
            "pue": f(b_cap.pue),
            "num_racks": f(b_cap.num_racks),
            "meter_energy_j_per_output_token": f(b_load.meter_energy_j_per_output_token),
            "chip_energy_j_per_output_token": f(b_load.chip_energy_j_per_output_token),
            "g_co2_per_output_token": f(b_load.g_co2_per_output_token),
            "l_water_per_output_token": f(b_load.l_water_per_output_token),
            "output_tokens_per_s_per_mw": cap.output_tokens_per_s / facility_mw
            if facility_mw > 0
            else math.nan,
            "compute_util_frac": cap.compute_util_frac,
            "memory_bandwidth_util_frac": cap.memory_bandwidth_util_frac,
        }
        summary = self.simulation_summary()
        if summary is not None:
            for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
                stats = summary[key]
                assert isinstance(stats, dict)
                out[f"sim_{key}_p50"] = float(stats["p50"])
                out[f"sim_{key}_p90"] = float(stats["p90"])
                out[f"sim_{key}_p99"] = float(stats["p99"])
            for key in (
                "output_tokens_per_s",
                "goodput_requests_per_s",
                "busy_frac",
                "kv_cache_peak_frac",
                "num_preemptions",
                "num_rejected",
                "prefix_cache_hit_frac",
                "num_swaps",
            ):
                if key in summary:
                    out[f"sim_{key}"] = float(summary[key])  # type: ignore[arg-type]
        return out


def scenario_trace(scenario: Scenario) -> RequestTrace:
    """The request stream of a scenario: a packaged trace, a trace file, or synthetic."""
    w = scenario.workload
    if w.trace is None:
        s = w.synthetic
        if s.archetype not in ("fixed", "agent"):
            return archetype_trace(
                s.archetype,
                s.num_requests,
                s.request_rate_per_s,
                s.seed,
                diurnal=DiurnalCurve(
                    peak_to_trough=s.diurnal_peak_to_trough, peak_hour=s.diurnal_peak_hour
                )
                if s.diurnal_peak_to_trough is not None
                else None,
                day_s=s.day_length_s,
            )
        if s.archetype == "agent":
            return agent_trace(
                s.num_requests,
                s.request_rate_per_s,
                s.input_tokens,
                s.output_tokens,
                turns_per_session=s.turns_per_session,
                system_prompt_tokens=s.system_prompt_tokens,
                seed=s.seed,
            )
        return synthetic_trace(
            s.num_requests,
            s.request_rate_per_s,
            s.input_tokens,
            s.output_tokens,
            s.burstiness_cv,
            s.seed,
        )
    if w.trace in PACKAGED_TRACES:
        return packaged_trace(w.trace)
    return load_trace(Path(w.trace))


@functools.lru_cache(maxsize=len(PACKAGED_TRACES))
def packaged_trace(name: str) -> RequestTrace:
    """A trace shipped with chip2grid, read once (its arrays are read-only)."""
    trace = load_trace(data_path(PACKAGED_TRACES[name]))
    for array in (trace.arrival_s, trace.input_tokens, trace.output_tokens):
        array.flags.writeable = False
    return dataclasses.replace(
        trace, source=f"{name} (packaged; Azure LLM inference trace 2023, CC BY 4.0)"
    )


def scenario_finance(scenario: Scenario) -> Finance:
    """The catalog's finance defaults with the scenario's overrides."""
    overrides = {k: v for k, v in scenario.finance.model_dump().items() if v is not None}
    base = default_finance()
    if not overrides:
        return base
    return dataclasses.replace(base, id="scenario", source="scenario overrides", **overrides)


def scenario_speculative(scenario: Scenario) -> SpeculativeDecoding | None:
    """The scenario's speculative decoding (``serving.speculative``), or None when off."""
    spec = scenario.serving.speculative
    if spec is None:
        return None
    return SpeculativeDecoding(
        method=spec.method,
        num_speculative_tokens=spec.num_speculative_tokens,
        acceptance_rate=spec.resolved_acceptance_rate,
        draft_model=get_model(spec.draft_model) if spec.draft_model else None,
    )


def _split(value: int | str) -> int | None:
    return None if value == "auto" else int(value)


def scenario_deployment(scenario: Scenario, workload: Workload) -> tuple[Deployment, Estimate]:
    """The deployment with its best split (fixed where the scenario fixes it), and its capacity."""
    d = scenario.deployment
    base = Deployment(
        model=get_model_or_config(scenario.model),
        accelerator=get_accelerator(d.accelerator).with_scale_up(
            d.scale_up_domain_size, d.scale_up_topology
        ),
        num_accelerators=d.num_accelerators,
        weight_precision=d.weight_precision,
        kv_precision=d.kv_precision,
        engine=d.engine,
        allreduce_quantization=d.allreduce_quantization,
        nccl_nvls=d.nccl_nvls,
    )
    max_num_seqs = scenario.serving.max_num_seqs or 0
    capacity = best_layout(
        base,
        workload,
        Load(mode="max_load", max_num_seqs=max_num_seqs),
        fix_tp=_split(d.tp),
        fix_pp=_split(d.pp),
        fix_ep=_split(d.ep),
        speculative=scenario_speculative(scenario),
    )
    return base.replace(tp=capacity.tp, pp=capacity.pp, ep=capacity.ep), capacity


def evaluate(
    scenario: Scenario,
    *,
    simulate: bool = True,
    trace: RequestTrace | None = None,
) -> ScenarioResult:
    """Capacity, the offered load (simulated or steady state), power and cost of ``scenario``.

    ``simulate=False`` skips the discrete-event simulation (tens of milliseconds instead
    of about a second): the load is then priced at the steady state at its mean request rate.
    """
    start = time.perf_counter()
    requests = trace if trace is not None else scenario_trace(scenario)
    workload = requests.workload()
    offered = requests.mean_rate_per_s
    dep, capacity = scenario_deployment(scenario, workload)
    max_num_seqs = scenario.serving.max_num_seqs or 0
    speculative = scenario_speculative(scenario)
    at_load = estimate(
        dep,
        workload,
        Load(mode="request_rate", request_rate_per_s=offered, max_num_seqs=max_num_seqs)
        if offered > 0
        else Load(mode="max_load", max_num_seqs=max_num_seqs),
        speculative=speculative,
    )
    site = scenario.site
    finance = scenario_finance(scenario)
    place: dict[str, Any] = dict(
        region=scenario_region(scenario),
        cooling=site.cooling,
        supply=scenario.energy.supply,
        platform=site.platform,
        finance=finance,
        colocation=site.colocation,
    )
    served: ServingResult | None = None
    if simulate:
        s = scenario.serving
        config = engine_config_for(
            dep,
            max_num_seqs=s.max_num_seqs,
            max_num_batched_tokens=s.max_num_batched_tokens,
            block_size=s.block_size,
            gpu_memory_utilization=s.gpu_memory_utilization,
            enable_chunked_prefill=s.enable_chunked_prefill,
            enable_prefix_caching=s.enable_prefix_caching,
            preemption_mode=s.preemption_mode,
            swap_space_bytes=s.swap_space_gib * 2**30,
            speculative=speculative,
            batching=s.batching,
            static_batch_timeout_s=s.static_batch_timeout_s,
        )
        served = simulate_serving(dep, requests, config=config, router=s.router)
        cost_at_load = deployment_cost(dep, load_from_simulation(served), **place)
    else:
        cost_at_load = deployment_cost(dep, load_from_estimate(at_load), **place)
    cost_at_capacity = deployment_cost(dep, load_from_estimate(capacity), **place)
    return ScenarioResult(
        scenario=scenario,
        deployment=dep,
        workload=workload,
        offered_requests_per_s=offered,
        trace_source=requests.source or "trace",
        capacity=capacity,
        at_load=at_load,
        simulation=served,
        cost_at_load=cost_at_load,
        cost_at_capacity=cost_at_capacity,
        finance=finance,
        elapsed_s=time.perf_counter() - start,
    )
