"""Memory feasibility: weights + activations + KV cache against device memory."""

from __future__ import annotations

from dataclasses import dataclass

from chip2grid.errors import InfeasibleError
from chip2grid.perf.deployment import Deployment
from chip2grid.perf.engine import EngineProfile
from chip2grid.units import GB

ACTIVATION_WORKSPACE_TOKENS_CAP = 16384
"""Engines size activation buffers for at most this many tokens per forward pass."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryPlan:
    """How one accelerator's memory is used (bytes)."""

    memory_bytes: float
    usable_bytes: float
    weight_bytes: float
    activation_bytes: float
    reserved_bytes: float
    kv_cache_bytes: float
    kv_bytes_per_token: float

    @property
    def kv_cache_tokens(self) -> float:
        """Tokens the KV cache of one accelerator holds (per attention replica)."""
        return (
            self.kv_cache_bytes / self.kv_bytes_per_token
            if self.kv_bytes_per_token
            else float("inf")
        )


def activation_bytes(deployment: Deployment, max_num_batched_tokens: int) -> float:
    """Peak activation workspace of one forward pass on one accelerator.

    ``max_num_batched_tokens`` is per scheduler: under attention DP each accelerator runs its
    own token budget (see :attr:`Deployment.attention_dp`).
    """
    m = deployment.model
    tokens = min(max_num_batched_tokens, ACTIVATION_WORKSPACE_TOKENS_CAP)
    ffn = (
        max(m.intermediate_size, m.moe_intermediate_size * max(m.num_experts_per_token, 1))
        / deployment.tp
    )
    logits = m.vocab_size / deployment.tp * 4.0 * min(tokens, 256)
    return tokens * (6 * m.hidden_size + 2 * ffn) * 2.0 + logits


def memory_plan(
    deployment: Deployment, engine: EngineProfile, context_tokens: float | None = None
) -> MemoryPlan:
    """Split one accelerator's memory into weights, activations, reserve and KV cache."""
    mem = deployment.accelerator.memory_bytes
    weights = deployment.weight_bytes_per_accelerator
    act = activation_bytes(deployment, engine.max_num_batched_tokens)
    reserved = min(engine.runtime_reserved_bytes, 0.03 * mem)
    frac = engine.gpu_memory_utilization
    if engine.kv_fraction_of_free_memory:
        usable = mem - reserved
        kv = frac * (mem - reserved - weights - act)
    else:
        usable = mem * frac
        kv = usable - weights - act - reserved
    return MemoryPlan(
        memory_bytes=mem,
        usable_bytes=usable,
        weight_bytes=weights,
        activation_bytes=act,
        reserved_bytes=reserved,
        kv_cache_bytes=kv,
        kv_bytes_per_token=deployment.kv_bytes_per_token_per_accelerator(context_tokens),
    )


def require_fit(
    deployment: Deployment, engine: EngineProfile, tokens_per_sequence: float
) -> MemoryPlan:
    """Return the memory plan, or raise :class:`InfeasibleError` saying by how much and what fits.

    At least one sequence of ``tokens_per_sequence`` must fit in the KV cache.
    """
    plan = memory_plan(deployment, engine, tokens_per_sequence)
    need_kv = tokens_per_sequence * plan.kv_bytes_per_token / deployment.attention_dp
    short = need_kv - plan.kv_cache_bytes
    if short <= 0:
        return plan
    d = deployment
    hints = []
    for tp in (2, 4, 8, 16, 32, 64):
        if tp <= d.tp or d.model.num_attention_heads % tp:
            continue
        try:
            trial = d.replace(tp=tp, num_accelerators=max(d.num_accelerators, tp * d.pp))
        except Exception:
            continue
        if memory_plan(trial, engine, tokens_per_sequence).kv_cache_bytes >= need_kv * d.tp / tp:
            hints.append(f"--tp {tp} (with {trial.num_accelerators} accelerators)")
            break
    for precision in ("fp8", "int4", "fp4"):
        if precision == d.weight_precision:
            continue
        try:
            trial = d.replace(weight_precision=precision)
        except Exception:
            continue
        if trial.weight_bytes_per_accelerator < d.weight_bytes_per_accelerator and (
            memory_plan(trial, engine, tokens_per_sequence).kv_cache_bytes >= need_kv
        ):
            hints.append(f"--weight-precision {precision}")
            break
    hints.append("an accelerator with more memory")
    raise InfeasibleError(
        f"{d.model.id} does not fit on {d.accelerator.id} with {d.layout} at {d.weight_precision}: "
        f"each accelerator needs {(plan.weight_bytes + plan.activation_bytes + plan.reserved_bytes + need_kv) / GB:.1f} GB "
        f"(weights {plan.weight_bytes / GB:.1f} GB, activations {plan.activation_bytes / GB:.1f} GB, "
        f"reserve {plan.reserved_bytes / GB:.1f} GB, KV for one {tokens_per_sequence:.0f}-token sequence "
        f"{need_kv / GB:.2f} GB) but {plan.usable_bytes / GB:.1f} GB of {plan.memory_bytes / GB:.1f} GB are usable "
        f"with {engine.id}: short by {short / GB:.2f} GB. "
        f"Try: {'; '.join(hints)}"
    )
