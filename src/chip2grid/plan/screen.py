"""Stage one of a plan: screen every candidate configuration with the vectorized steady state.

Notes
-----
A candidate is an accelerator type, a weight/KV precision, a TP x PP x EP split of one replica,
a speculative-decoding setting (off, or a catalog setting for the model:
``catalog/speculative.toml``), aggregated or disaggregated serving, a cap on the running batch
(``max_num_seqs``) and a token budget per step (``max_num_batched_tokens``).

Aggregated: for each (accelerator, precision, speculative setting) the memory plan gives the
sequences the KV cache of every split holds (less the draft's weights and KV), and the
continuous-batching fluid model of :func:`chip2grid.perf.continuous_batching` is evaluated on
every split x batch cap x token budget at once (:func:`chip2grid.plan.grid.aggregated_grid`).
Replicas = ceil(demand / capacity of one replica at its batch cap); each replica then receives
demand / replicas requests per second and holds the batch that rate sustains, as
:func:`chip2grid.perf.estimate` does in ``request_rate`` mode
(:func:`chip2grid.plan.grid.aggregated_at_rate`; the cap when the rate reaches it). TPOT = the
iteration time at that batch over the tokens a step emits; TTFT = the prompt's prefill latency
plus half an iteration of waiting to be admitted plus M/D/1 queueing at the replica's
utilization (rate over capacity). Power and cost are taken at that operating point.

Disaggregated: ``xPyD`` units of prefill instances (pipeline-free splits) and decode
instances (any split), for every prefill split x decode split x ratio x batch cap (decode) x
token budget (prefill), with :mod:`chip2grid.perf.disaggregated`: TTFT = queueing on the
prefill pool + prefill + KV transfer, TPOT from decode-only steps at the batch each decode
instance's share of the demand sustains (:func:`chip2grid.perf.disaggregated.decode_at_rate`).

Both: accelerators = instances x their size; power from the roofline utilizations
(:func:`chip2grid.hardware.accelerator_power_w`), idle when not busy; cost per million output
tokens from :func:`chip2grid.economics.cost_breakdown`, vectorized.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from chip2grid.catalog.speculative import SpeculativeSetting, speculative_settings_for
from chip2grid.economics import cost_breakdown, default_finance
from chip2grid.energy import energy_supply
from chip2grid.errors import InfeasibleError, InvalidParameterError, UnknownEntryError
from chip2grid.facility import default_platform_for, get_cooling, get_region
from chip2grid.hardware import Accelerator, accelerator_power_w, get_accelerator
from chip2grid.llm import Architecture, get_model
from chip2grid.perf import (
    Deployment,
    MemoryPlan,
    RankShape,
    SpeculativeDecoding,
    Workload,
    decode_pool,
    disaggregated,
    get_engine,
    kv_transfer_bytes_per_rank,
    parallel_layouts,
    pool_sizes,
    prefill_pool,
)
from chip2grid.perf.calibration import Calibration, calibration_for
from chip2grid.perf.disaggregated import decode_at_rate
from chip2grid.perf.estimate import kv_tokens_per_seq, max_concurrency
from chip2grid.perf.memory import require_fit
from chip2grid.perf.steady import LatencyTimes, admission_wait_s, arrival_ttft_s
from chip2grid.perf.step import rank_shape
from chip2grid.plan.grid import aggregated_at_rate, aggregated_grid, column, rows

FloatArray = NDArray[np.float64]
_PoolT = TypeVar("_PoolT")
_ScalarT = TypeVar("_ScalarT", bound=np.generic)

DEFAULT_BATCH_CAPS: tuple[int, ...] = (4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
DEFAULT_TOKEN_BUDGETS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384)
DEFAULT_DISAGGREGATED_RATIOS: tuple[tuple[int, int], ...] = (
    (2, 1),
    (1, 1),
    (2, 3),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 6),
    (1, 8),
)
"""``xPyD`` units screened: x prefill instances per y decode instances."""
SPECULATIVE_OFF = "off"
CONSTRAINTS = ("ttft", "tpot", "batch", "site_power", "budget")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    """The question a plan answers: serve this model at this demand within these SLOs.

    ``speculative``: settings to search, ``"off"`` and catalog ids; ``None`` searches ``"off"``
    and every catalog setting for the model. ``disaggregated``: also screen separate prefill
    and decode pools in the ``disaggregated_ratios`` (x prefill per y decode instances).
    """

    model: Architecture
    input_tokens: float
    output_tokens: float
    demand_requests_per_s: float
    ttft_slo_s: float
    tpot_slo_s: float
    accelerators: tuple[str, ...]
    precisions: tuple[str, ...] = ("fp8", "bf16")
    engine: str = "tensorrt-llm"
    region: str = "us-virginia"
    cooling: str = "dlc"
    energy: str = "grid"
    max_accelerators_per_replica: int = 16
    site_power_cap_w: float | None = None
    budget_usd: float | None = None
    batch_caps: tuple[int, ...] = DEFAULT_BATCH_CAPS
    token_budgets: tuple[int, ...] = DEFAULT_TOKEN_BUDGETS
    speculative: tuple[str, ...] | None = None
    disaggregated: bool = True
    disaggregated_ratios: tuple[tuple[int, int], ...] = DEFAULT_DISAGGREGATED_RATIOS
    input_tokens_cv: float = 0.0
    """Spread of prompt lengths (standard deviation over mean; :class:`chip2grid.perf.Workload`)."""
    output_tokens_cv: float = 0.0
    """Spread of output lengths: the decode batch over-represents long outputs."""

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens"):
            if not getattr(self, name) >= 1:
                raise InvalidParameterError(name, getattr(self, name), "a number of tokens >= 1")
        _ = self.workload  # a negative or huge spread stops here
        if not (self.demand_requests_per_s > 0 and math.isfinite(self.demand_requests_per_s)):
            raise InvalidParameterError(
                "demand_requests_per_s", self.demand_requests_per_s, "a finite number > 0"
            )
        for name in ("ttft_slo_s", "tpot_slo_s"):  # inf: no target
            if not getattr(self, name) > 0:
                raise InvalidParameterError(name, getattr(self, name), "seconds > 0 (inf: none)")
        if self.budget_usd is not None and not (
            self.budget_usd > 0 and math.isfinite(self.budget_usd)
        ):
            raise InvalidParameterError("budget_usd", self.budget_usd, "a finite number of USD > 0")
        if not self.accelerators:
            raise InvalidParameterError("accelerators", (), "at least one accelerator id")
        if not self.precisions:
            raise InvalidParameterError("precisions", (), "at least one precision")
        if not self.batch_caps or min(self.batch_caps) < 1:
            raise InvalidParameterError("batch_caps", self.batch_caps, "integers >= 1")
        if not self.token_budgets or min(self.token_budgets) < 1:
            raise InvalidParameterError("token_budgets", self.token_budgets, "integers >= 1")
        if self.disaggregated and (
            not self.disaggregated_ratios
            or any(
                len(r) != 2 or min(r) < 1 or not all(isinstance(v, int) for v in r)
                for r in self.disaggregated_ratios
            )
        ):
            raise InvalidParameterError(
                "disaggregated_ratios",
                self.disaggregated_ratios,
                "pairs (prefill, decode) of integers >= 1, e.g. ((1, 2), (1, 4))",
            )
        self.speculative_settings()  # unknown or inapplicable names stop here

    @property
    def workload(self) -> Workload:
        """The mean request and its spread."""
        return Workload.of(self)

    @property
    def output_tokens_per_s(self) -> float:
        """The demand in output tokens per second."""
        return self.demand_requests_per_s * self.output_tokens

    def speculative_settings(self) -> tuple[SpeculativeSetting | None, ...]:
        """The speculative settings searched (``None`` is off)."""
        available = {s.id: s for s in speculative_settings_for(self.model.id)}
        if self.speculative is None:
            return (None, *available.values())
        out: list[SpeculativeSetting | None] = []
        for name in self.speculative:
            if name == SPECULATIVE_OFF:
                out.append(None)
            elif name in available:
                out.append(available[name])
            else:
                allowed = ", ".join([SPECULATIVE_OFF, *available]) or SPECULATIVE_OFF
                raise InvalidParameterError(
                    "speculative", name, f"one of {allowed} (settings for {self.model.id})"
                )
        if not out:
            raise InvalidParameterError("speculative", (), "at least one setting, e.g. off")
        return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenConfig:
    """One configuration screened over every batch cap x token budget.

    Aggregated: ``tp``/``pp``/``ep`` split each replica. Disaggregated: they split each decode
    instance, ``prefill_*`` each prefill instance, in units of ``prefill_per_unit`` prefill and
    ``decode_per_unit`` decode instances.
    """

    accelerator: str
    precision: str
    tp: int
    pp: int
    ep: int
    speculative: str = SPECULATIVE_OFF
    disaggregated: bool = False
    prefill_tp: int = 0
    prefill_pp: int = 0
    prefill_ep: int = 0
    prefill_per_unit: int = 0
    decode_per_unit: int = 0
    kv_transfer_s: float = 0.0


_CONFIG_FIELDS = tuple(f.name for f in fields(ScreenConfig))


class _ConfigColumn(Generic[_ScalarT]):
    """A :class:`ScreenConfig` field read per candidate: ``Screened.column(<attribute name>)``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.__doc__ = f"The configuration's ``{name}`` per candidate (see :class:`ScreenConfig`)."

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _ConfigColumn[_ScalarT]: ...

    @overload
    def __get__(self, obj: Screened, objtype: type | None = None) -> NDArray[_ScalarT]: ...

    def __get__(
        self, obj: Screened | None, objtype: type | None = None
    ) -> _ConfigColumn[_ScalarT] | NDArray[_ScalarT]:
        if obj is None:
            return self
        return obj.column(self.name)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Screened:
    """Every screened candidate, as parallel arrays (one element per candidate).

    ``config`` indexes ``configs``; the configuration's fields read as arrays too
    (``accelerator``, ``tp``, ``speculative``, ``disaggregated`` ...). ``replicas`` counts the
    aggregated replicas or the decode instances; ``prefill_replicas`` the prefill instances
    (0 when aggregated).
    """

    configs: tuple[ScreenConfig, ...]
    config: NDArray[np.int32]
    max_num_seqs: NDArray[np.int32]
    max_num_batched_tokens: NDArray[np.int32]
    replicas: NDArray[np.int64]
    prefill_replicas: NDArray[np.int64]
    num_accelerators: NDArray[np.int64]
    ttft_s: FloatArray
    tpot_s: FloatArray
    replica_requests_per_s: FloatArray
    accelerator_power_w: FloatArray
    facility_power_w: FloatArray
    capex_usd: FloatArray
    cost_usd_per_mtok: FloatArray
    energy_j_per_output_token: FloatArray
    violation_frac: FloatArray
    """The largest relative miss of any constraint (0 when the candidate is feasible)."""
    violated_code: NDArray[np.int8]
    """Index into :data:`CONSTRAINTS` of the constraint missed by the most (-1 when feasible)."""
    num_shapes: int
    skipped: tuple[str, ...]
    elapsed_s: float
    _columns: dict[str, NDArray[np.generic]] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return int(self.config.size)

    @property
    def feasible(self) -> NDArray[np.bool_]:
        return self.violation_frac <= 0.0

    @property
    def violated(self) -> NDArray[np.str_]:
        """The constraint missed by the most ("" when feasible)."""
        names = np.asarray([*CONSTRAINTS, ""])
        return names[self.violated_code]

    def column(self, name: str) -> NDArray[np.generic]:
        """A configuration field (see :class:`ScreenConfig`) per candidate."""
        if name not in _CONFIG_FIELDS:
            raise InvalidParameterError("column", name, ", ".join(_CONFIG_FIELDS))
        if name not in self._columns:
            table = np.asarray([getattr(c, name) for c in self.configs])
            self._columns[name] = table[self.config]
        return self._columns[name]

    accelerator = _ConfigColumn[np.str_]()
    precision = _ConfigColumn[np.str_]()
    tp = _ConfigColumn[np.int64]()
    pp = _ConfigColumn[np.int64]()
    ep = _ConfigColumn[np.int64]()
    speculative = _ConfigColumn[np.str_]()
    disaggregated = _ConfigColumn[np.bool_]()
    prefill_tp = _ConfigColumn[np.int64]()


@dataclass(frozen=True, slots=True)
class _Split:
    tp: int
    pp: int
    ep: int
    deployment: Deployment
    plan: MemoryPlan


@dataclass(slots=True)
class _Out:
    """Parts of the result, appended group by group."""

    configs: list[ScreenConfig] = field(default_factory=list)
    parts: dict[str, list[NDArray[np.generic]]] = field(default_factory=dict)

    def add(self, **arrays: NDArray[np.generic]) -> None:
        """Keep each part as it is (broadcast views too): :meth:`cat` copies it once."""
        for name, value in arrays.items():
            self.parts.setdefault(name, []).append(value)

    def cat(self, name: str, dtype: type) -> NDArray[np.generic]:
        """All parts of ``name`` in one array of ``dtype`` (one copy and cast per part)."""
        parts = self.parts[name]
        result: NDArray[np.generic] = np.empty(sum(p.size for p in parts), dtype=dtype)
        pos = 0
        for part in parts:
            result[pos : pos + part.size].reshape(part.shape)[...] = part
            pos += part.size
        return result


@dataclass(frozen=True, slots=True)
class _Context:
    req: PlanRequest
    accelerator: Accelerator
    calibration: Calibration
    caps: FloatArray
    budgets: FloatArray
    cost_kwargs: dict[str, object]


def _splits(req: PlanRequest, acc: Accelerator, precision: str, skipped: list[str]) -> list[_Split]:
    """Every TP x PP x EP split of one replica that holds one sequence (EP > 1 for MoE)."""
    engine = get_engine(req.engine)
    out = []
    for tp, pp, ep in sorted(set(parallel_layouts(req.model, req.max_accelerators_per_replica))):
        try:
            dep = Deployment(
                model=req.model,
                accelerator=acc,
                num_accelerators=pp * max(tp, ep),
                tp=tp,
                pp=pp,
                ep=ep,
                weight_precision=precision,
                kv_precision=precision,
                engine=req.engine,
            )
            plan = require_fit(dep, engine, req.input_tokens + req.output_tokens)
        except (InvalidParameterError, InfeasibleError) as exc:
            skipped.append(f"{acc.id} {precision} TP{tp} PP{pp} EP{ep}: {str(exc).split(';')[0]}")
            continue
        out.append(_Split(tp, pp, ep, dep, plan))
    return out


def speculative_decoding(setting: SpeculativeSetting) -> SpeculativeDecoding:
    """The perf-layer model of a catalog speculative-decoding setting."""
    return SpeculativeDecoding(
        method="draft" if setting.method == "draft" else "mtp",
        num_speculative_tokens=setting.num_speculative_tokens,
        acceptance_rate=setting.acceptance_rate,
        draft_model=get_model(setting.draft_model) if setting.draft_model else None,
    )


def _speculative(
    setting: SpeculativeSetting | None, split: _Split
) -> tuple[SpeculativeDecoding | None, Deployment | None]:
    if setting is None:
        return None, None
    spec = speculative_decoding(setting)
    dep = split.deployment
    arch = spec.draft_architecture(dep.model)
    if setting.method == "draft":  # a dense draft model on each TP group
        draft = dep.replace(model=arch, ep=1, num_accelerators=dep.pp * dep.tp)
    else:  # MTP heads: one more layer of the target, split like it
        draft = dep.replace(model=arch)
    return spec, draft


def _capacity(
    req: PlanRequest, split: _Split, spec: SpeculativeDecoding | None, draft: Deployment | None
) -> int:
    """Sequences one instance holds, less what the draft's weights and KV cache take."""
    engine = get_engine(req.engine)
    workload = req.workload
    if spec is None or draft is None:
        return max_concurrency(split.deployment, split.plan, engine, workload)
    dep, plan = split.deployment, split.plan
    ctx = req.input_tokens + req.output_tokens
    if spec.method == "mtp":  # one more layer on each stage (embeddings shared)
        share = dep.pp / dep.model.num_layers
        weights = dep.weight_bytes_per_accelerator * share
        kv = dep.kv_bytes_per_token_per_accelerator(ctx) * share
    else:
        weights = draft.weight_bytes_per_accelerator
        kv = draft.kv_bytes_per_token_per_accelerator(ctx)
    per_seq = kv_tokens_per_seq(engine, workload)
    tokens = (plan.kv_cache_bytes - weights) / (plan.kv_bytes_per_token + kv)
    return max(math.floor(tokens / per_seq), 0) * dep.attention_dp


@dataclass(frozen=True, slots=True)
class _Servable:
    """The splits that hold at least one sequence under a speculative setting."""

    index: list[int]
    """Which splits (indices into the list given)."""
    max_seqs: FloatArray
    """Sequences each one's KV cache holds, less the draft's share."""
    schedulers: FloatArray
    """Attention-DP ranks of each, every one applying the per-scheduler knobs
    (``max_num_seqs``, ``max_num_batched_tokens``: see
    :attr:`chip2grid.perf.Deployment.attention_dp`)."""
    spec: SpeculativeDecoding | None
    shape: RankShape | None
    """Their rank shapes stacked (None when no split serves)."""
    draft_shape: RankShape | None
    """The drafts' rank shapes stacked, one per split (None without speculative decoding)."""


def _servable(
    ctx: _Context, splits: list[_Split], shapes: list[RankShape], setting: SpeculativeSetting | None
) -> _Servable:
    """The splits that serve under ``setting``: the draft fits and a sequence fits beside it."""
    keep, caps_kv, drafts = [], [], []
    spec: SpeculativeDecoding | None = None
    for i, split in enumerate(splits):
        try:
            spec, draft = _speculative(setting, split)
        except (InvalidParameterError, InfeasibleError):
            continue
        cap = _capacity(ctx.req, split, spec, draft)
        if cap >= 1:
            keep.append(i)
            caps_kv.append(cap)
            drafts.append(draft)
    draft_shape = None
    if spec is not None and keep:
        draft_shape = RankShape.stack(
            [rank_shape(d, ctx.calibration) for d in drafts if d is not None]
        )
    shape = RankShape.stack([shapes[i] for i in keep]) if keep else None
    return _Servable(
        keep, np.asarray(caps_kv, dtype=float), _schedulers(splits, keep), spec, shape, draft_shape
    )


def _schedulers(splits: list[_Split], index: list[int]) -> FloatArray:
    """Attention-DP ranks of the splits ``index`` names, each a scheduler of its own."""
    return np.asarray([splits[i].deployment.attention_dp for i in index], dtype=float)


def _per_instance(knobs: FloatArray, schedulers: FloatArray) -> FloatArray:
    """Per-scheduler knob values ``(n,)`` as each of the instances applies them, ``(S, n)``:
    times its attention-DP ranks (:meth:`chip2grid.perf.Deployment.instance_caps`)."""
    return knobs[None, :] * schedulers[:, None]


def _config(
    ctx: _Context, split: _Split, setting: SpeculativeSetting | None, **disaggregated: Any
) -> ScreenConfig:
    """The configuration of ``split`` (the decode split when disaggregated) under ``setting``."""
    return ScreenConfig(
        accelerator=ctx.accelerator.id,
        precision=split.deployment.weight_precision,
        tp=split.tp,
        pp=split.pp,
        ep=split.ep,
        speculative=setting.id if setting else SPECULATIVE_OFF,
        **disaggregated,
    )


def _power(
    ctx: _Context, flops: FloatArray, nbytes: FloatArray, time_s: FloatArray, peak: FloatArray
) -> FloatArray:
    acc, power = ctx.accelerator, ctx.calibration.power
    u_c = np.minimum(1.0, flops / (time_s * peak))
    u_m = np.minimum(1.0, nbytes / (time_s * acc.memory_bandwidth_bytes_per_s))
    return accelerator_power_w(
        acc.idle_power_w,
        acc.tdp_w,
        u_c,
        u_m,
        power.compute_power_coeff,
        power.memory_power_coeff,
    )


def _costs(
    ctx: _Context,
    num_accelerators: FloatArray,
    busy_power_w: FloatArray,
    output_tokens_per_s: float,
    input_per_output: float,
    busy_frac: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Facility power, capex, USD per Mtok and meter J per token of a fleet serving the demand.

    ``output_tokens_per_s`` is what the fleet serves on average; it works ``busy_frac`` of the
    time (at ``busy_power_w`` per accelerator) and idles the rest.
    """
    busy = np.maximum(busy_frac, 1e-12)
    out = output_tokens_per_s / busy
    bd = cost_breakdown(
        num_accelerators=num_accelerators,
        accelerator_power_w=busy_power_w,
        output_tokens_per_s=out,
        input_tokens_per_s=out * input_per_output,
        busy_frac=busy,
        **ctx.cost_kwargs,  # type: ignore[arg-type]
    )
    return (
        np.asarray(bd.facility_power_w, dtype=float),
        np.asarray(bd.capex_usd, dtype=float),
        np.asarray(bd.usd_per_mtok_blended, dtype=float),
        np.asarray(bd.meter_energy_j_per_output_token, dtype=float),
    )


def _violations(
    req: PlanRequest,
    ttft: FloatArray,
    tpot: FloatArray,
    batch: FloatArray,
    facility_w: FloatArray,
    capex: FloatArray,
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Largest relative miss and which constraint it is (index into CONSTRAINTS, -1 if none)."""
    worst = ttft / req.ttft_slo_s - 1.0
    code = np.zeros(worst.shape, dtype=np.int8)
    misses: list[tuple[int, FloatArray]] = [(1, tpot / req.tpot_slo_s - 1.0), (2, batch)]
    if req.site_power_cap_w:
        misses.append((3, facility_w / req.site_power_cap_w - 1.0))
    if req.budget_usd:
        misses.append((4, capex / req.budget_usd - 1.0))
    for i, miss in misses:
        miss = np.broadcast_to(miss, worst.shape)
        more = miss > worst
        worst = np.where(more, miss, worst)
        code[more] = i
    code[worst <= 0.0] = -1
    return np.maximum(worst, 0.0), code


def _aggregated(
    ctx: _Context,
    splits: list[_Split],
    setting: SpeculativeSetting | None,
    sv: _Servable,
    out: _Out,
) -> int:
    """Every servable split x batch cap x token budget as aggregated replicas."""
    req = ctx.req
    engine = get_engine(req.engine)
    if sv.shape is None:
        return 0
    keep, shape, cap_arr, spec, draft_shape = (
        sv.index,
        sv.shape,
        sv.max_seqs,
        sv.spec,
        sv.draft_shape,
    )
    tokens_per_step, query, draft_steps = 1.0, 1.0, 0.0
    if spec is not None:
        tokens_per_step = spec.tokens_per_step
        query = float(spec.num_speculative_tokens + 1)
        draft_steps = float(spec.num_speculative_tokens)
    isl, osl = req.input_tokens, req.output_tokens
    osl_steps = 1.0 + (osl - 1.0) / tokens_per_step
    caps = _per_instance(ctx.caps, sv.schedulers)
    budgets = _per_instance(ctx.budgets, sv.schedulers)
    g = aggregated_grid(
        shape,
        isl,
        osl_steps,
        caps,
        cap_arr,
        budgets,
        engine.mixed_batching,
        query_tokens=query,
        draft_shape=draft_shape,
        num_draft_steps=draft_steps,
        input_cv=req.input_tokens_cv,
        output_cv=req.output_tokens_cv,
    )
    # full load: capacity per replica on the table, replicas = ceil(demand / capacity)
    iteration = g.iteration_s
    rps = g.requests_per_iteration / iteration
    lam = req.demand_requests_per_s
    replicas = np.maximum(np.ceil(lam / rps), 1.0)
    # each replica then runs at demand / replicas: the batch that rate sustains
    at = aggregated_at_rate(
        shape,
        isl,
        osl_steps,
        g,
        replicas,
        lam,
        cap_arr,
        caps,
        budgets,
        engine.mixed_batching,
        query_tokens=query,
        draft_shape=draft_shape,
        num_draft_steps=draft_steps,
        input_cv=req.input_tokens_cv,
        output_cv=req.output_tokens_cv,
    )
    size = np.asarray([splits[i].deployment.instance_size for i in keep], dtype=float)
    peak = np.asarray(shape.peak_gemm_flops_per_s, dtype=float)
    # economics at the cap (on the table) and at the sustained batch (per key)
    p_cap = _power(ctx, g.flops_per_iteration, g.bytes_per_iteration, iteration, peak[:, None])
    n_cap = replicas * size[:, None]
    cap_cost = _costs(
        ctx, n_cap, p_cap, lam * osl, isl / osl, np.minimum(lam / (replicas * rps), 1.0)
    )
    cyc, s_k = at.cycle, at.shape_index
    p_key = _power(
        ctx, cyc.flops_per_iteration, cyc.bytes_per_iteration, cyc.iteration_s, peak[s_k]
    )
    key_cost = _costs(ctx, at.replicas * size[s_k], p_key, lam * osl, isl / osl, at.busy_frac)
    gather, key, at_cap = g.gather, at.key, at.at_cap

    def pick(table: FloatArray, per_key: FloatArray) -> FloatArray:
        return np.where(at_cap, gather(table), per_key[key])

    # the wait for one of a replica's sequence slots, at the sustained batch's cycle (at the
    # cap: the full batch's, on the table, which keeps the TTFT there: half a step, then the
    # prefill)
    slots = np.repeat(np.maximum(np.minimum(caps, cap_arr[:, None]), 1.0), ctx.budgets.size, axis=1)
    iter_g = pick(iteration, cyc.iteration_s)
    times = LatencyTimes(
        iteration_s=iter_g,
        prefill_latency_s=np.where(at_cap, g.ttft_s - 0.5 * iter_g, cyc.prefill_latency_s[key]),
    )
    wait = admission_wait_s(times, lam / gather(replicas), slots, osl_steps, req.output_tokens_cv)
    ttft_g = np.where(at_cap, g.ttft_s, arrival_ttft_s(cyc)[key]) + wait
    tpot_g = iter_g.copy()
    if osl > 1:
        tpot_g *= (osl_steps - 1.0) / (osl - 1.0)
    facility = pick(cap_cost[0], key_cost[0])
    capex = pick(cap_cost[1], key_cost[1])
    nb, nc = ctx.caps.size, ctx.budgets.size
    b_grid = np.repeat(ctx.caps, nc)[None, :]
    violation, code = _violations(
        req, ttft_g, tpot_g, np.repeat(caps, nc, axis=1) / cap_arr[:, None] - 1.0, facility, capex
    )
    base = len(out.configs)
    out.configs.extend(_config(ctx, splits[i], setting) for i in keep)
    num = len(keep)
    grid = (num, nb * nc)
    out.add(
        config=np.broadcast_to(np.arange(base, base + num)[:, None], grid),
        max_num_seqs=np.broadcast_to(b_grid, grid),
        max_num_batched_tokens=np.broadcast_to(np.tile(ctx.budgets, nb), grid),
        replicas=gather(replicas),
        prefill_replicas=np.broadcast_to(np.zeros(1), grid),
        num_accelerators=gather(n_cap),
        ttft_s=ttft_g,
        tpot_s=tpot_g,
        replica_requests_per_s=gather(rps),
        accelerator_power_w=pick(p_cap, p_key),
        facility_power_w=facility,
        capex_usd=capex,
        cost_usd_per_mtok=pick(cap_cost[2], key_cost[2]),
        energy_j_per_output_token=pick(cap_cost[3], key_cost[3]),
        violation_frac=violation,
        violated_code=code,
    )
    return num


def screen(req: PlanRequest) -> Screened:
    """Evaluate every candidate of ``req`` in closed form (see module notes)."""
    start = time.perf_counter()
    engine = get_engine(req.engine)
    finance = default_finance()
    region, cooling = get_region(req.region), get_cooling(req.cooling)
    supply = energy_supply(req.energy)
    settings = req.speculative_settings()
    caps = np.asarray(req.batch_caps, dtype=float)
    budgets = np.asarray(req.token_budgets, dtype=float)
    out = _Out()
    skipped: list[str] = []
    num_shapes = 0
    for acc_id in req.accelerators:
        acc = get_accelerator(acc_id)
        try:
            platform = default_platform_for(acc_id)
        except (InvalidParameterError, UnknownEntryError) as exc:
            skipped.append(f"{acc_id}: {str(exc).split(';')[0]}")
            continue
        # a platform that cannot take the requested cooling gets its own first choice
        cool = cooling if cooling.id in platform.cooling else get_cooling(platform.cooling[0])
        calibration = calibration_for(acc.family, engine.calibration)
        ctx = _Context(
            req=req,
            accelerator=acc,
            calibration=calibration,
            caps=caps,
            budgets=budgets,
            cost_kwargs=dict(
                platform=platform,
                supply=supply,
                finance=finance,
                region=region,
                cooling=cool,
                idle_accelerator_power_w=acc.idle_power_w,
            ),
        )
        for precision in req.precisions:
            splits = _splits(req, acc, precision, skipped)
            if not splits:
                continue
            shapes = [rank_shape(s.deployment, calibration) for s in splits]
            for setting in settings:
                servable = _servable(ctx, splits, shapes, setting)
                num_shapes += _aggregated(ctx, splits, setting, servable, out)
                if req.disaggregated:
                    num_shapes += _disaggregated(ctx, splits, shapes, setting, servable, out)
    if not out.configs:
        raise InfeasibleError(
            f"no configuration of {', '.join(req.accelerators)} holds {req.model.id}: "
            + ("; ".join(skipped[:3]) or "empty search space")
        )
    cat = out.cat
    return Screened(
        configs=tuple(out.configs),
        config=cat("config", np.int32),  # type: ignore[arg-type]
        max_num_seqs=cat("max_num_seqs", np.int32),  # type: ignore[arg-type]
        max_num_batched_tokens=cat("max_num_batched_tokens", np.int32),  # type: ignore[arg-type]
        replicas=cat("replicas", np.int64),  # type: ignore[arg-type]
        prefill_replicas=cat("prefill_replicas", np.int64),  # type: ignore[arg-type]
        num_accelerators=cat("num_accelerators", np.int64),  # type: ignore[arg-type]
        ttft_s=cat("ttft_s", np.float64),  # type: ignore[arg-type]
        tpot_s=cat("tpot_s", np.float64),  # type: ignore[arg-type]
        replica_requests_per_s=cat("replica_requests_per_s", np.float64),  # type: ignore[arg-type]
        accelerator_power_w=cat("accelerator_power_w", np.float64),  # type: ignore[arg-type]
        facility_power_w=cat("facility_power_w", np.float64),  # type: ignore[arg-type]
        capex_usd=cat("capex_usd", np.float64),  # type: ignore[arg-type]
        cost_usd_per_mtok=cat("cost_usd_per_mtok", np.float64),  # type: ignore[arg-type]
        energy_j_per_output_token=cat("energy_j_per_output_token", np.float64),  # type: ignore[arg-type]
        violation_frac=cat("violation_frac", np.float64),  # type: ignore[arg-type]
        violated_code=cat("violated_code", np.int8),  # type: ignore[arg-type]
        num_shapes=num_shapes,
        skipped=tuple(skipped),
        elapsed_s=time.perf_counter() - start,
    )


def _pool_view(pool: _PoolT, index: Any) -> _PoolT:
    """The pool's arrays reshaped to broadcast over (prefill, decode, ratio, cap, budget)."""
    names = [f.name for f in fields(pool)]  # type: ignore[arg-type]
    common = np.broadcast_shapes(*(np.shape(getattr(pool, n)) for n in names))
    arrays = {n: np.broadcast_to(getattr(pool, n), common)[index] for n in names}
    return dataclasses.replace(pool, **arrays)  # type: ignore[type-var]


def _disaggregated(
    ctx: _Context,
    splits: list[_Split],
    shapes: list[RankShape],
    setting: SpeculativeSetting | None,
    sv: _Servable,
    out: _Out,
) -> int:
    """Every prefill split (no pipeline) x decode split x xPyD ratio x cap x budget at once."""
    req = ctx.req
    acc = ctx.accelerator
    link = acc.scale_out_bandwidth_bytes_per_s
    isl, osl = req.input_tokens, req.output_tokens
    pre_idx = [i for i, s in enumerate(splits) if s.pp == 1]
    dec_idx, dec_stack, cap_arr, spec, draft_stack = (
        sv.index,
        sv.shape,
        sv.max_seqs,
        sv.spec,
        sv.draft_shape,
    )
    if not pre_idx or dec_stack is None:
        return 0
    pre_shape = column(RankShape.stack([shapes[i] for i in pre_idx]))
    pre_kv = np.asarray([kv_transfer_bytes_per_rank(splits[i].deployment, isl) for i in pre_idx])[
        :, None
    ]
    pre = prefill_pool(
        pre_shape,
        isl,
        _per_instance(ctx.budgets, _schedulers(splits, pre_idx)),
        kv_bytes_per_rank=pre_kv,
        link_bandwidth_bytes_per_s=link,
        input_cv=req.input_tokens_cv,
    )
    dec_shape = column(dec_stack)
    dec_kv = np.asarray([kv_transfer_bytes_per_rank(splits[i].deployment, isl) for i in dec_idx])[
        :, None
    ]
    dec_caps = _per_instance(ctx.caps, sv.schedulers)
    b = np.minimum(dec_caps, cap_arr[:, None])
    kwargs: dict[str, object] = {"output_cv": req.output_tokens_cv}
    if spec is not None and draft_stack is not None:
        kwargs.update(
            tokens_per_step=spec.tokens_per_step,
            query_tokens=float(spec.num_speculative_tokens + 1),
            draft_shape=column(draft_stack),
            num_draft_steps=float(spec.num_speculative_tokens),
        )
    dec = decode_pool(
        dec_shape,
        isl,
        osl,
        b,
        kv_bytes_per_rank=dec_kv,
        link_bandwidth_bytes_per_s=link,
        **kwargs,  # type: ignore[arg-type]
    )
    # busy power of one accelerator of each pool
    p_pre = _power(
        ctx, pre.flops_per_step, pre.bytes_per_step, pre.step_s, pre_shape.peak_gemm_flops_per_s
    )
    p_dec = _power(
        ctx, dec.flops_per_step, dec.bytes_per_step, dec.step_s, dec_shape.peak_gemm_flops_per_s
    )
    # axes: prefill split, decode split, ratio, batch cap, budget
    pv, dv = (
        (slice(None), None, None, None, slice(None)),
        (None, slice(None), None, slice(None), None),
    )
    pre5, dec5 = _pool_view(pre, pv), _pool_view(dec, dv)
    ratios = np.asarray(req.disaggregated_ratios, dtype=float)
    x, y = ratios[None, None, :, 0, None, None], ratios[None, None, :, 1, None, None]
    lam = req.demand_requests_per_s
    n_pre, n_dec = pool_sizes(pre5, dec5, lam, x, y)
    res = disaggregated(pre5, dec5, lam, n_pre, n_dec, osl)
    size_pre = np.asarray([splits[i].deployment.instance_size for i in pre_idx], dtype=float)
    size_dec = np.asarray([splits[i].deployment.instance_size for i in dec_idx], dtype=float)
    acc_pre = n_pre * size_pre[pv[:1] + (None,) * 4]
    acc_dec = n_dec * size_dec[(None, slice(None)) + (None,) * 3]
    n_acc = acc_pre + acc_dec
    idle = acc.idle_power_w
    # each decode instance at its share of the demand holds the batch that rate sustains
    shape5 = (len(pre_idx), len(dec_idx), len(ratios), ctx.caps.size, ctx.budgets.size)
    n_dec5 = np.broadcast_to(n_dec, shape5).astype(np.int64)
    span = int(n_dec5.max()) + 1
    code = np.arange(len(dec_idx))[None, :, None, None, None] * span + n_dec5
    used = np.zeros(len(dec_idx) * span, dtype=bool)
    used[code] = True
    key = (np.cumsum(used) - 1)[code]
    raw_k = np.flatnonzero(used)
    d_k, n_k = raw_k // span, (raw_k % span).astype(float)
    if draft_stack is not None:
        kwargs["draft_shape"] = rows(draft_stack, d_k)
    at = decode_at_rate(
        rows(dec_stack, d_k),
        isl,
        osl,
        lam / n_k,
        b.max(axis=1)[d_k],
        **kwargs,  # type: ignore[arg-type]
    )
    at_cap = at.num_seqs[key] >= np.broadcast_to(b[None, :, None, :, None], shape5)
    lam_k = lam / n_k
    busy_k = np.minimum(
        1.0,
        lam_k
        * at.step_s
        * (osl - 1.0)
        / (spec.tokens_per_step if spec is not None else 1.0)
        / at.num_seqs,
    )
    p_k = _power(
        ctx,
        at.flops_per_step,
        at.bytes_per_step,
        at.step_s,
        np.asarray(dec_stack.peak_gemm_flops_per_s, dtype=float)[d_k],
    )
    tpot = np.where(at_cap, res.tpot_s, at.tpot_s[key])
    rho_p, rho_d = res.prefill_util_frac, res.decode_util_frac
    dec_w = np.where(
        at_cap,
        rho_d * p_dec[dv] + (1.0 - rho_d) * idle,
        (busy_k * p_k + (1.0 - busy_k) * idle)[key],
    )
    mean_w = (acc_pre * (rho_p * p_pre[pv] + (1.0 - rho_p) * idle) + acc_dec * dec_w) / n_acc
    out_tps = np.maximum(res.output_tokens_per_s, 1e-9)
    breakdown = cost_breakdown(
        num_accelerators=n_acc,
        accelerator_power_w=mean_w,
        output_tokens_per_s=out_tps,
        input_tokens_per_s=out_tps * isl / osl,
        busy_frac=1.0,
        **ctx.cost_kwargs,  # type: ignore[arg-type]
    )
    facility = np.asarray(breakdown.facility_power_w, dtype=float)
    capex = np.asarray(breakdown.capex_usd, dtype=float)
    batch = dec_caps / cap_arr[:, None] - 1.0
    violation, code = _violations(req, res.ttft_s, tpot, batch[dv], facility, capex)
    num_p, num_d, num_r = len(pre_idx), len(dec_idx), len(ratios)
    base = len(out.configs)
    for i in pre_idx:
        p_split = splits[i]
        transfer = float(np.ravel(pre.kv_transfer_s)[pre_idx.index(i)])
        for j in dec_idx:
            d_split = splits[j]
            for rx, ry in req.disaggregated_ratios:
                out.configs.append(
                    _config(
                        ctx,
                        d_split,
                        setting,
                        disaggregated=True,
                        prefill_tp=p_split.tp,
                        prefill_pp=p_split.pp,
                        prefill_ep=p_split.ep,
                        prefill_per_unit=rx,
                        decode_per_unit=ry,
                        kv_transfer_s=transfer,
                    )
                )
    num = num_p * num_d * num_r

    def full(a: object) -> NDArray[np.generic]:
        return np.broadcast_to(np.asarray(a), shape5)

    out.add(
        config=full(np.arange(base, base + num).reshape(num_p, num_d, num_r, 1, 1)),
        max_num_seqs=full(ctx.caps[:, None]),
        max_num_batched_tokens=full(ctx.budgets),
        replicas=full(n_dec),
        prefill_replicas=full(n_pre),
        num_accelerators=full(n_acc),
        ttft_s=full(res.ttft_s),
        tpot_s=full(tpot),
        replica_requests_per_s=full(dec5.requests_per_s),
        accelerator_power_w=full(mean_w),
        facility_power_w=full(facility),
        capex_usd=full(capex),
        cost_usd_per_mtok=full(np.asarray(breakdown.usd_per_mtok_blended, dtype=float)),
        energy_j_per_output_token=full(
            np.asarray(breakdown.meter_energy_j_per_output_token, dtype=float)
        ),
        violation_frac=full(violation),
        violated_code=full(code),
    )
    return num


def pareto_mask(objectives: Sequence[FloatArray]) -> NDArray[np.bool_]:
    """True where no other point is at least as good in every objective and better in one
    (all objectives minimized).

    Points are visited in lexicographic order, in which a point's dominators all come before
    it; since dominance is transitive, comparing each point with the front found so far
    suffices: O(n x front size).
    """
    pts = np.column_stack(objectives)
    n = pts.shape[0]
    keep = np.zeros(n, dtype=bool)
    order = np.lexsort(pts.T[::-1])
    front = np.empty((0, pts.shape[1]))
    for i in order:
        p = pts[i]
        if front.size and np.any(np.all(front <= p, axis=1) & np.any(front < p, axis=1)):
            continue
        keep[i] = True
        front = np.vstack([front, p])
    return keep
