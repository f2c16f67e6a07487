"""The scenario schema: one pydantic model that the CLI, the Python API and the web API share.

A scenario binds a model, a deployment, the serving engine's settings, a workload, latency
targets, a site, an energy supply, finance assumptions and a budget. Every field has a default
(the built-in default scenario), so a scenario file only states what differs; ``extends`` names
another scenario (built-in or a file) whose fields this one overrides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chip2grid.errors import InvalidParameterError
from chip2grid.perf.speculative import acceptance_rate_for_length

SplitValue = Annotated[int, Field(ge=1)] | Literal["auto"]


class _Strict(BaseModel):
    # a YAML .inf or .nan is never a meaningful size, rate or price: "unlimited" is null
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


class DeploymentSpec(_Strict):
    """What runs the model: accelerators, their split, precisions and the engine."""

    accelerator: str = Field("h200-sxm", description="catalog accelerator id")
    num_accelerators: int = Field(8, ge=1, le=1_000_000, description="accelerators in total")
    tp: SplitValue = Field("auto", description="tensor parallelism per replica, or auto")
    pp: SplitValue = Field("auto", description="pipeline stages per replica, or auto")
    ep: SplitValue = Field("auto", description="expert parallelism, or auto")
    weight_precision: str = Field("fp8", description="bf16, fp16, fp8, int8, fp4, int4 ...")
    kv_precision: str = Field("fp8", description="KV-cache precision, or auto")
    engine: str = Field("tensorrt-llm", description="serving engine profile id")
    scale_up_domain_size: int = Field(
        0, ge=0, le=1_000_000, description="chips one scale-up domain joins; 0: the catalog's"
    )
    scale_up_topology: Literal["", "switch", "full_mesh"] = Field(
        "", description="how the domain joins them (full_mesh: a 4-GPU HGX board); empty: catalog"
    )
    allreduce_quantization: Literal["none", "int8", "int6", "int4"] = Field(
        "none", description="quantized tensor-parallel all-reduce (ROCm QuickReduce)"
    )
    nccl_nvls: Literal["auto", "on", "off"] = Field(
        "auto", description="NCCL's in-switch all-reduce (NVLS); auto: the engine's default"
    )


class SpeculativeSpec(_Strict):
    """Speculative decoding: a draft model or multi-token-prediction heads."""

    method: Literal["mtp", "draft"] = Field("mtp", description="mtp heads or a draft model")
    num_speculative_tokens: int = Field(1, ge=1, le=16, description="tokens drafted per step")
    acceptance_rate: float = Field(0.7, ge=0, le=1, description="per-token acceptance rate")
    acceptance_length: float | None = Field(
        None, ge=1, description="mean tokens per step, bonus token included (not with the rate)"
    )
    draft_model: str | None = Field(None, description="catalog model id (method draft)")

    @model_validator(mode="after")
    def _draft(self) -> SpeculativeSpec:
        if self.method == "draft" and not self.draft_model:
            raise ValueError("method 'draft' needs draft_model (a catalog model id)")
        if self.acceptance_length is not None:
            if "acceptance_rate" in self.model_fields_set:
                raise ValueError("give acceptance_rate or acceptance_length, not both")
            try:  # its range (1 to k + 1), as a field error
                acceptance_rate_for_length(self.acceptance_length, self.num_speculative_tokens)
            except InvalidParameterError as error:
                raise ValueError(str(error)) from None
        return self

    @property
    def resolved_acceptance_rate(self) -> float:
        """The per-token rate: acceptance_rate, or the rate whose mean length is acceptance_length."""
        if self.acceptance_length is None:
            return self.acceptance_rate
        return acceptance_rate_for_length(self.acceptance_length, self.num_speculative_tokens)


class ServingSpec(_Strict):
    """The engine's scheduler knobs (vLLM's names); null keeps the engine profile's default."""

    max_num_seqs: int | None = Field(None, ge=1, description="cap on the running batch")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="token budget per step")
    enable_chunked_prefill: bool | None = Field(None, description="mix prefill chunks in steps")
    block_size: int = Field(16, ge=1, le=1024, description="tokens per KV-cache block")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="fraction of accelerator memory the engine may use"
    )
    router: Literal["round-robin", "least-outstanding", "prefix-aware"] = Field(
        "round-robin", description="request router across replicas"
    )
    enable_prefix_caching: bool = Field(
        False, description="reuse cached prompt blocks named by the trace's block hashes"
    )
    preemption_mode: Literal["recompute", "swap"] = Field(
        "recompute", description="what happens to a preempted request's KV cache"
    )
    swap_space_gib: float = Field(
        4.0, ge=0, le=4096, description="host memory per accelerator for swapped KV, GiB"
    )
    speculative: SpeculativeSpec | None = Field(
        None, description="speculative decoding in the simulation; null: off"
    )
    batching: Literal["continuous", "static"] = Field(
        "continuous",
        description="in the simulation: continuous (iteration-level) batching, or static batches "
        "of up to max_num_seqs run to their last request (the steady state stays continuous)",
    )
    static_batch_timeout_s: float = Field(
        0.0, ge=0, description="static batching: how long an idle engine waits for more arrivals"
    )


class SyntheticLoad(_Strict):
    """Fixed-length requests with Poisson (or Gamma, bursty) arrivals."""

    num_requests: int = Field(2000, ge=1, le=10_000_000)
    request_rate_per_s: float = Field(4.0, gt=0)
    input_tokens: int = Field(1024, ge=1)
    output_tokens: int = Field(256, ge=1)
    burstiness_cv: float = Field(1.0, gt=0, description="arrival-gap coefficient of variation")
    seed: int = Field(0, ge=0)
    archetype: Literal["fixed", "chat", "code", "rag", "reasoning", "agent", "batch"] = Field(
        "fixed",
        description="fixed: input_tokens/output_tokens exactly, burstiness_cv arrivals; agent: "
        "multi-turn sessions on a shared, growing prefix (input_tokens new per turn); chat, "
        "code, rag, reasoning, batch: the catalog's sourced lengths and arrivals "
        "(sources in catalog/workload_archetypes.toml)",
    )
    diurnal_peak_to_trough: float | None = Field(
        None,
        ge=1,
        description="catalog archetypes: a 24-hour sinusoidal rate curve with this "
        "peak-to-trough ratio (mean rate request_rate_per_s); null: none",
    )
    diurnal_peak_hour: float = Field(14.0, ge=0, lt=24, description="hour of the diurnal peak")
    day_length_s: float = Field(
        86_400.0, gt=0, description="seconds one simulated day lasts (compresses the curve)"
    )
    turns_per_session: int = Field(8, ge=1, le=1000, description="agent: turns per session")
    system_prompt_tokens: int = Field(
        2048, ge=0, le=1_000_000, description="agent: system prompt shared by every session"
    )


class WorkloadSpec(_Strict):
    """What users send: a request trace (packaged name or file path), or a synthetic load."""

    trace: str | None = Field(
        "azure-conv-10min",
        description="packaged trace name (azure-conv-10min) or a CSV/JSONL path; null: synthetic",
    )
    synthetic: SyntheticLoad = Field(default_factory=SyntheticLoad)


class SLOSpec(_Strict):
    """Latency targets that define goodput and the scheduler's headroom."""

    ttft_s: float = Field(2.0, gt=0, description="time to first token target, seconds")
    tpot_s: float = Field(0.1, gt=0, description="time per output token target, seconds")


class BuildoutPhase(_Strict):
    """One phase of a site's build-out: the critical IT power energized from ``year`` on."""

    year: int = Field(..., ge=2000, le=2100, description="year the phase is energized")
    power_w: float = Field(..., gt=0, description="critical IT power available from then, W")


class SiteSpec(_Strict):
    """Where the servers stand."""

    region: str = Field("us-virginia", description="region id (chip2grid list regions)")
    cooling: str = Field("dlc", description="cooling id (chip2grid list cooling)")
    platform: str | None = Field(None, description="server platform id; null: the default")
    colocation: bool = Field(False, description="rent the hall instead of building it")
    power_cap_w: float | None = Field(
        None, gt=0, description="critical IT power the site can supply, W; null: unlimited"
    )
    rack_power_cap_w: float | None = Field(
        None, gt=0, description="power one rack may draw, W; null: the cooling's limit"
    )
    climate_file: str | None = Field(
        None,
        description="CSV of the site's 8,760 hourly outdoor temperatures (temperature_c, "
        "optional wet_bulb_c); null: the region's hours from its monthly means and daily ranges",
    )
    climate_resolution: Literal["hourly", "monthly"] = Field(
        "hourly",
        description="average PUE and WUE over the 8,760 hours of the year (hourly) or over the "
        "12 monthly means (monthly)",
    )
    buildout: list[BuildoutPhase] = Field(
        default_factory=list,
        description="phases [{year, power_w}] in increasing years, power non-decreasing and at "
        "most power_cap_w; empty: all of power_cap_w now",
    )

    @model_validator(mode="after")
    def _phases(self) -> SiteSpec:
        last_year, last_power = 0, 0.0
        for phase in self.buildout:
            if phase.year <= last_year:
                raise ValueError(f"buildout years must increase (year {phase.year})")
            if phase.power_w < last_power:
                raise ValueError(f"buildout power must not fall (year {phase.year})")
            if self.power_cap_w is not None and phase.power_w > self.power_cap_w:
                raise ValueError(
                    f"buildout phase {phase.year} ({phase.power_w:g} W) exceeds power_cap_w "
                    f"({self.power_cap_w:g} W)"
                )
            last_year, last_power = phase.year, phase.power_w
        return self


class EnergySpec(_Strict):
    """Where the electricity comes from: one source id or shares of several."""

    supply: str | dict[str, float] = Field("grid", description="source id, or {id: share}")

    @field_validator("supply")
    @classmethod
    def _shares(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        if isinstance(value, dict):
            if not value:
                raise ValueError("an energy mix needs at least one source")
            if any(share < 0 for share in value.values()):
                raise ValueError("energy shares must be >= 0")
        return value


class FinanceSpec(_Strict):
    """Cost of capital and lifetimes; null keeps the catalog's ``finance-default`` value."""

    wacc_frac: float | None = Field(None, ge=0, lt=1)
    accelerator_lifetime_years: float | None = Field(None, ge=0.1, le=100)
    network_lifetime_years: float | None = Field(None, ge=0.1, le=100)
    facility_lifetime_years: float | None = Field(None, ge=0.1, le=100)
    power_infrastructure_lifetime_years: float | None = Field(None, ge=0.1, le=100)
    maintenance_frac_per_year: float | None = Field(None, ge=0)
    staff_usd_per_mw_year: float | None = Field(None, ge=0)
    insurance_property_tax_frac_per_year: float | None = Field(None, ge=0)
    power_infrastructure_usd_per_w: float | None = Field(None, ge=0)


class BudgetSpec(_Strict):
    """Money available for the build; null: unlimited."""

    capex_usd: float | None = Field(None, gt=0, description="capital budget, USD")


class Scenario(_Strict):
    """One deployment from chip to grid; every field defaults to the built-in default scenario."""

    name: str = Field("default", min_length=1, max_length=100)
    description: str = ""
    extends: str | None = Field(
        None, description="a built-in scenario name or a file path whose fields this overrides"
    )
    model: str = Field("llama-3.3-70b", description="catalog model id or a local config.json")
    deployment: DeploymentSpec = Field(default_factory=DeploymentSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    slo: SLOSpec = Field(default_factory=SLOSpec)
    site: SiteSpec = Field(default_factory=SiteSpec)
    energy: EnergySpec = Field(default_factory=EnergySpec)
    finance: FinanceSpec = Field(default_factory=FinanceSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as plain data (what a file would hold), ``extends`` resolved away."""
        data = self.model_dump(mode="json")
        data.pop("extends", None)
        return data


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (``chip2grid schema``)."""
    return Scenario.model_json_schema()
