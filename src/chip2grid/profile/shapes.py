"""The shapes to measure: GEMMs of catalog models' projections, attention batch x context sweeps."""

from __future__ import annotations

from dataclasses import dataclass

from chip2grid.llm import get_model

GPU_GEMM_M_TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
"""Tokens in a step (GEMM rows) swept on a GPU: decode batches up to large prefill chunks."""
CPU_GEMM_M_TOKENS = (1, 4, 16, 64, 256, 1024)
QUICK_GEMM_M_TOKENS = (1, 4, 16, 64)
QUICK_DIM_DIVISOR = 32
"""``--quick`` divides the models' matrix dimensions by this (and caps them), so CI runs in seconds."""
QUICK_DIM_MAX = 512
CPU_DIM_DIVISOR = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmShape:
    """One projection GEMM ``[m, k] @ [k, n]`` of a model (``op``: qkv, o, up, down)."""

    model: str
    op: str
    n: int
    k: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AttentionShape:
    """Heads of one attention layer (query heads, KV heads, head dimension)."""

    model: str
    num_heads: int
    num_kv_heads: int
    head_dim: int


def _shrink(dim: float, divisor: int, cap: int) -> int:
    """Scale a dimension down, keep it a multiple of 16 (FP8 GEMMs need it) and >= 16."""
    return max(16, min(cap, int(dim / divisor) // 16 * 16))


def model_gemm_shapes(
    model_ids: tuple[str, ...], *, tp: int = 1, divisor: int = 1, cap: int = 1 << 30
) -> list[GemmShape]:
    """``(n, k)`` of the QKV, O, up (gate + up) and down projections of each model on ``tp`` ranks.

    The QKV width is the attention parameters of a layer less the output projection, over the
    hidden size, so GQA and MLA models get their own widths. Duplicates are dropped.
    """
    shapes: list[GemmShape] = []
    seen: set[tuple[int, int]] = set()
    for model_id in model_ids:
        m = get_model(model_id)
        hidden = m.hidden_size
        o_cols = m.num_attention_heads * m.v_dim
        qkv_n = max(m.attention_params_per_layer - o_cols * hidden, hidden) / hidden
        ffn = m.intermediate_size or m.moe_intermediate_size
        up_n = ffn * (2 if m.mlp_gated else 1)
        for op, n, k in (
            ("qkv", qkv_n / tp, hidden),
            ("o", hidden, o_cols / tp),
            ("up", up_n / tp, hidden),
            ("down", hidden, ffn / tp),
        ):
            nn, kk = _shrink(n, divisor, cap), _shrink(k, divisor, cap)
            if (nn, kk) in seen:
                continue
            seen.add((nn, kk))
            shapes.append(GemmShape(model=m.id, op=op, n=nn, k=kk))
    return shapes


def model_attention_shape(model_id: str, *, tp: int = 1, quick: bool = False) -> AttentionShape:
    """Attention heads of one rank; ``quick`` keeps the ratio of query to KV heads but few heads."""
    m = get_model(model_id)
    heads = max(1, m.num_attention_heads // tp)
    kv = max(1, m.num_kv_heads // tp) if m.num_kv_heads else heads
    group = max(1, heads // kv)
    if quick:
        return AttentionShape(model=m.id, num_heads=2 * group, num_kv_heads=2, head_dim=64)
    return AttentionShape(model=m.id, num_heads=heads, num_kv_heads=kv, head_dim=m.qk_head_dim)
