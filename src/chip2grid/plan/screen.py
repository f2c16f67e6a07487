"""Stage one of a plan: screen every candidate configuration with the vectorized steady state.

Notes
-----
A candidate is an accelerator type, a weight/KV precision, a TP x PP split of one replica, a
cap on the running batch (``max_num_seqs``) and a token budget per step
(``max_num_batched_tokens``). For each (accelerator, precision, split) the memory plan gives
the sequences the KV cache holds, and :func:`chip2grid.perf.steady.continuous_batching`, the
same closed-form model :func:`chip2grid.perf.estimate` uses, is evaluated on arrays over every
batch cap and token budget at once. Per candidate:

- TPOT = the iteration time; TTFT = the prompt's prefill latency plus half an iteration of
  waiting to be admitted (as in :func:`chip2grid.perf.estimate`);
- replicas = ceil(demand / requests per second of one replica), accelerators = replicas x TP x PP;
- power from the roofline utilizations (:func:`chip2grid.hardware.accelerator_power_w`);
- cost per million output tokens from :func:`chip2grid.economics.cost_breakdown`, vectorized,
  with the fleet busy ``demand / capacity`` of the time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.economics import cost_breakdown, default_finance
from chip2grid.energy import energy_supply
from chip2grid.errors import InfeasibleError, InvalidParameterError, UnknownEntryError
from chip2grid.facility import default_platform_for, get_cooling, get_region
from chip2grid.hardware import accelerator_power_w, get_accelerator
from chip2grid.llm import Architecture
from chip2grid.perf import Deployment, Workload, get_engine, parallel_layouts
from chip2grid.perf.calibration import calibration_for
from chip2grid.perf.estimate import max_concurrency
from chip2grid.perf.memory import require_fit
from chip2grid.perf.steady import continuous_batching
from chip2grid.perf.step import rank_shape

FloatArray = NDArray[np.float64]

DEFAULT_BATCH_CAPS: tuple[int, ...] = (4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
DEFAULT_TOKEN_BUDGETS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    """The question a plan answers: serve this model at this demand within these SLOs."""

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

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens"):
            if not getattr(self, name) >= 1:
                raise InvalidParameterError(name, getattr(self, name), "a number of tokens >= 1")
        for name in ("demand_requests_per_s", "ttft_slo_s", "tpot_slo_s"):
            if not getattr(self, name) > 0:
                raise InvalidParameterError(name, getattr(self, name), "a number > 0")
        if not self.accelerators:
            raise InvalidParameterError("accelerators", (), "at least one accelerator id")
        if not self.precisions:
            raise InvalidParameterError("precisions", (), "at least one precision")
        if not self.batch_caps or min(self.batch_caps) < 1:
            raise InvalidParameterError("batch_caps", self.batch_caps, "integers >= 1")
        if not self.token_budgets or min(self.token_budgets) < 1:
            raise InvalidParameterError("token_budgets", self.token_budgets, "integers >= 1")

    @property
    def output_tokens_per_s(self) -> float:
        """The demand in output tokens per second."""
        return self.demand_requests_per_s * self.output_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Screened:
    """Every screened candidate, as parallel arrays (one element per candidate)."""

    accelerator: NDArray[np.str_]
    precision: NDArray[np.str_]
    tp: NDArray[np.int64]
    pp: NDArray[np.int64]
    ep: NDArray[np.int64]
    max_num_seqs: NDArray[np.int64]
    max_num_batched_tokens: NDArray[np.int64]
    replicas: NDArray[np.int64]
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
    violated: NDArray[np.str_]
    """The constraint missed by the most ("" when feasible)."""
    num_shapes: int
    skipped: tuple[str, ...]
    elapsed_s: float

    @property
    def size(self) -> int:
        return int(self.tp.size)

    @property
    def feasible(self) -> NDArray[np.bool_]:
        return self.violation_frac <= 0.0


def _shapes(req: PlanRequest) -> list[tuple[str, str, int, int, int, Deployment]]:
    """One replica of every accelerator x precision x TP x PP x EP split (EP > 1 for MoE models:
    experts split over the TP group, or over attention data-parallel ranks when EP > TP)."""
    layouts = parallel_layouts(req.model, req.max_accelerators_per_replica)
    splits = sorted(set(layouts))
    out = []
    for acc_id in req.accelerators:
        acc = get_accelerator(acc_id)
        for precision in req.precisions:
            for tp, pp, ep in splits:
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
                except (InvalidParameterError, InfeasibleError):
                    continue
                out.append((acc.id, precision, tp, pp, ep, dep))
    return out


def screen(req: PlanRequest) -> Screened:
    """Evaluate every candidate of ``req`` in closed form (see module notes)."""
    start = time.perf_counter()
    engine = get_engine(req.engine)
    workload = Workload(input_tokens=req.input_tokens, output_tokens=req.output_tokens)
    finance = default_finance()
    region, cooling = get_region(req.region), get_cooling(req.cooling)
    supply = energy_supply(req.energy)
    caps = np.asarray(req.batch_caps, dtype=float)
    budgets = np.asarray(req.token_budgets, dtype=float)
    b_grid, c_grid = np.meshgrid(caps, budgets, indexing="ij")
    b_flat, c_flat = b_grid.ravel(), c_grid.ravel()
    parts: dict[str, list[NDArray[np.generic]]] = {}
    skipped: list[str] = []
    num_shapes = 0

    def add(name: str, value: NDArray[np.generic]) -> None:
        parts.setdefault(name, []).append(value)

    for acc_id, precision, tp, pp, ep, dep in _shapes(req):
        try:
            plan = require_fit(dep, engine, req.input_tokens + req.output_tokens)
            platform = default_platform_for(acc_id)
        except (InfeasibleError, InvalidParameterError, UnknownEntryError) as exc:
            skipped.append(f"{acc_id} {precision} TP{tp} PP{pp} EP{ep}: {str(exc).split(';')[0]}")
            continue
        cap = max_concurrency(dep, plan, engine, workload)
        if cap < 1:
            continue
        num_shapes += 1
        calibration = calibration_for(dep.accelerator.family, engine.calibration)
        shape = rank_shape(dep, calibration)
        b = np.minimum(b_flat, cap)
        cyc = continuous_batching(
            shape, req.input_tokens, req.output_tokens, b, engine.mixed_batching, c_flat
        )
        iteration = np.asarray(cyc.iteration_s, dtype=float)
        rps = np.asarray(cyc.requests_per_s, dtype=float)
        ttft = 0.5 * iteration + np.asarray(cyc.prefill_latency_s, dtype=float)
        tpot = iteration
        acc = dep.accelerator
        u_c = np.minimum(
            1.0, np.asarray(cyc.flops_per_iteration) / (iteration * shape.peak_gemm_flops_per_s)
        )
        u_m = np.minimum(
            1.0,
            np.asarray(cyc.bytes_per_iteration) / (iteration * acc.memory_bandwidth_bytes_per_s),
        )
        p_acc = accelerator_power_w(
            acc.idle_power_w,
            acc.tdp_w,
            u_c,
            u_m,
            calibration.power.compute_power_coeff,
            calibration.power.memory_power_coeff,
        )
        replicas = np.maximum(np.ceil(req.demand_requests_per_s / rps), 1.0)
        n_acc = replicas * dep.instance_size
        busy = np.minimum(req.demand_requests_per_s / (replicas * rps), 1.0)
        fleet_out = replicas * rps * req.output_tokens
        breakdown = cost_breakdown(
            num_accelerators=n_acc,
            platform=platform,
            supply=supply,
            finance=finance,
            accelerator_power_w=p_acc,
            output_tokens_per_s=fleet_out,
            input_tokens_per_s=fleet_out * req.input_tokens / req.output_tokens,
            region=region,
            # a platform that cannot take the requested cooling gets its own first choice
            cooling=cooling if cooling.id in platform.cooling else get_cooling(platform.cooling[0]),
            idle_accelerator_power_w=acc.idle_power_w,
            busy_frac=busy,
        )
        facility_w = np.asarray(breakdown.facility_power_w, dtype=float)
        capex = np.asarray(breakdown.capex_usd, dtype=float)
        cost = np.asarray(breakdown.usd_per_mtok_output, dtype=float)
        meter_j = np.asarray(breakdown.meter_energy_j_per_output_token, dtype=float)
        misses = {
            "ttft": ttft / req.ttft_slo_s - 1.0,
            "tpot": tpot / req.tpot_slo_s - 1.0,
            "batch": b_flat / cap - 1.0,
        }
        if req.site_power_cap_w:
            misses["site_power"] = facility_w / req.site_power_cap_w - 1.0
        if req.budget_usd:
            misses["budget"] = capex / req.budget_usd - 1.0
        names = list(misses)
        stack = np.vstack([misses[n] for n in names])
        worst = np.argmax(stack, axis=0)
        violation = np.maximum(stack.max(axis=0), 0.0)
        n = b_flat.size
        add("accelerator", np.full(n, acc_id))
        add("precision", np.full(n, precision))
        add("tp", np.full(n, tp, dtype=np.int64))
        add("pp", np.full(n, pp, dtype=np.int64))
        add("ep", np.full(n, ep, dtype=np.int64))
        add("max_num_seqs", b_flat.astype(np.int64))
        add("max_num_batched_tokens", c_flat.astype(np.int64))
        add("replicas", replicas.astype(np.int64))
        add("num_accelerators", n_acc.astype(np.int64))
        add("ttft_s", ttft)
        add("tpot_s", tpot)
        add("replica_requests_per_s", rps)
        add("accelerator_power_w", np.asarray(p_acc, dtype=float))
        add("facility_power_w", facility_w)
        add("capex_usd", capex)
        add("cost_usd_per_mtok", cost)
        add("energy_j_per_output_token", meter_j)
        add("violation_frac", violation)
        add("violated", np.where(violation > 0, np.asarray(names)[worst], ""))
    if not parts:
        raise InfeasibleError(
            f"no configuration of {', '.join(req.accelerators)} holds {req.model.id}: "
            + ("; ".join(skipped[:3]) or "empty search space")
        )

    def cat(name: str) -> NDArray[np.generic]:
        return np.concatenate(parts[name])

    return Screened(
        accelerator=cat("accelerator"),  # type: ignore[arg-type]
        precision=cat("precision"),  # type: ignore[arg-type]
        tp=cat("tp"),  # type: ignore[arg-type]
        pp=cat("pp"),  # type: ignore[arg-type]
        ep=cat("ep"),  # type: ignore[arg-type]
        max_num_seqs=cat("max_num_seqs"),  # type: ignore[arg-type]
        max_num_batched_tokens=cat("max_num_batched_tokens"),  # type: ignore[arg-type]
        replicas=cat("replicas"),  # type: ignore[arg-type]
        num_accelerators=cat("num_accelerators"),  # type: ignore[arg-type]
        ttft_s=cat("ttft_s"),  # type: ignore[arg-type]
        tpot_s=cat("tpot_s"),  # type: ignore[arg-type]
        replica_requests_per_s=cat("replica_requests_per_s"),  # type: ignore[arg-type]
        accelerator_power_w=cat("accelerator_power_w"),  # type: ignore[arg-type]
        facility_power_w=cat("facility_power_w"),  # type: ignore[arg-type]
        capex_usd=cat("capex_usd"),  # type: ignore[arg-type]
        cost_usd_per_mtok=cat("cost_usd_per_mtok"),  # type: ignore[arg-type]
        energy_j_per_output_token=cat("energy_j_per_output_token"),  # type: ignore[arg-type]
        violation_frac=cat("violation_frac"),  # type: ignore[arg-type]
        violated=cat("violated"),  # type: ignore[arg-type]
        num_shapes=num_shapes,
        skipped=tuple(skipped),
        elapsed_s=time.perf_counter() - start,
    )


def pareto_mask(objectives: Sequence[FloatArray]) -> NDArray[np.bool_]:
    """True where no other point is at least as good in every objective and better in one
    (all objectives minimized). O(n^2) on the points given: pass a reduced set."""
    pts = np.column_stack(objectives)
    n = pts.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated = np.all(pts <= pts[i], axis=1) & np.any(pts < pts[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep
