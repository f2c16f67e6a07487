"""Micro-benchmarks of the kernels the step-time engine models, with PyTorch (imported lazily).

Each function takes the ``torch`` module and a device (``cuda`` or ``cpu``) and returns typed
samples; nothing here imports torch at module level, so ``chip2grid`` imports without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chip2grid.profile.shapes import AttentionShape, GemmShape
from chip2grid.profile.timing import median_time_s, synchronize

DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmSample:
    """One timed GEMM ``[m, k] @ [k, n]``."""

    model: str
    op: str
    precision: str
    m: int
    n: int
    k: int
    time_s: float

    @property
    def flop(self) -> float:
        """``2 m n k``."""
        return 2.0 * self.m * self.n * self.k

    @property
    def bytes(self) -> float:
        """Weights, input and output moved once (output 16-bit for FP8)."""
        b = DTYPE_BYTES[self.precision]
        out = 2 if self.precision == "fp8" else b
        return float(self.n * self.k * b + self.m * self.k * b + self.m * self.n * out)

    @property
    def flop_per_s(self) -> float:
        """Achieved FLOP/s."""
        return self.flop / self.time_s


@dataclass(frozen=True, slots=True, kw_only=True)
class AttentionSample:
    """One timed scaled-dot-product attention (``phase`` prefill: causal, decode: one query)."""

    phase: str
    backend: str
    precision: str
    batch: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    context: int
    time_s: float

    @property
    def flop(self) -> float:
        """FLOPs as the step model counts them (``perf.step``): causal prefill ``2bhd s(s+1)``,
        decode ``4 b h d ctx``."""
        bhd = self.batch * self.num_heads * self.head_dim
        if self.phase == "prefill":
            return 2.0 * bhd * self.context * (self.context + 1)
        return 4.0 * bhd * self.context

    @property
    def bytes(self) -> float:
        """Q, K, V read and O written once."""
        b = DTYPE_BYTES[self.precision]
        q_tokens = self.context if self.phase == "prefill" else 1
        kv = 2.0 * self.batch * self.num_kv_heads * self.context * self.head_dim * b
        qo = 2.0 * self.batch * self.num_heads * q_tokens * self.head_dim * b
        return kv + qo

    @property
    def flop_per_s(self) -> float:
        """Achieved FLOP/s."""
        return self.flop / self.time_s


@dataclass(frozen=True, slots=True, kw_only=True)
class BandwidthSample:
    """One timed device-to-device copy of ``size_bytes`` (read plus write: twice that moved)."""

    size_bytes: int
    time_s: float

    @property
    def bytes_per_s(self) -> float:
        """Bytes read plus written per second."""
        return 2.0 * self.size_bytes / self.time_s


@dataclass(frozen=True, slots=True, kw_only=True)
class OverheadSample:
    """A fixed cost: ``launch`` (one small kernel in a stream of them), ``sync`` (a tiny kernel
    plus synchronize, the floor of an engine step), ``empty_sync`` (synchronize alone)."""

    kind: str
    time_s: float


def torch_dtype(torch: Any, precision: str) -> Any:
    """The torch dtype of a precision name."""
    return {
        "fp32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
        "fp8": getattr(torch, "float8_e4m3fn", None),
    }[precision]


def fp8_available(torch: Any, device: str) -> bool:
    """FP8 GEMMs need ``torch._scaled_mm`` on a GPU of compute capability 8.9 or newer."""
    if device != "cuda" or not hasattr(torch, "_scaled_mm"):
        return False
    major, minor = torch.cuda.get_device_capability()
    return bool((major, minor) >= (8, 9))


def measure_gemm(
    torch: Any,
    device: str,
    shapes: list[GemmShape],
    m_tokens: tuple[int, ...],
    precisions: tuple[str, ...],
    *,
    warmup: int,
    repeats: int,
    target_s: float,
) -> tuple[list[GemmSample], list[str]]:
    """Time every shape at every ``m`` and precision; returns samples and notes on skips."""
    samples: list[GemmSample] = []
    notes: list[str] = []
    gen = torch.Generator(device=device).manual_seed(0)
    for precision in precisions:
        for shape in shapes:
            for m in m_tokens:
                try:
                    fn = _gemm_fn(torch, device, precision, m, shape.n, shape.k, gen)
                    t = median_time_s(
                        torch, device, fn, warmup=warmup, repeats=repeats, target_s=target_s
                    )
                except (RuntimeError, TypeError, ValueError) as exc:
                    notes.append(f"gemm {precision} {m}x{shape.n}x{shape.k} skipped: {exc}"[:200])
                    break
                samples.append(
                    GemmSample(
                        model=shape.model,
                        op=shape.op,
                        precision=precision,
                        m=m,
                        n=shape.n,
                        k=shape.k,
                        time_s=t,
                    )
                )
    return samples, notes


def _gemm_fn(torch: Any, device: str, precision: str, m: int, n: int, k: int, gen: Any) -> Any:
    if precision == "fp8":
        dt = torch_dtype(torch, "fp8")
        a = torch.randn(m if m % 16 == 0 else (m + 15) // 16 * 16, k, device=device, generator=gen)
        a = a.to(dt)
        b = torch.randn(n, k, device=device, generator=gen).to(dt).t()  # column-major
        one = torch.ones((), device=device)
        return lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    dt = torch_dtype(torch, precision)
    a = torch.randn(m, k, device=device, generator=gen, dtype=dt)
    b = torch.randn(k, n, device=device, generator=gen, dtype=dt)
    return lambda: torch.matmul(a, b)


def sdpa_backends(torch: Any, device: str) -> list[tuple[str, Any]]:
    """The SDPA backends this PyTorch offers on ``device`` (name, enum member)."""
    from torch.nn.attention import SDPBackend

    names = ["FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH"]
    if device == "cpu":
        names = ["FLASH_ATTENTION", "MATH"]
    return [(n.lower(), getattr(SDPBackend, n)) for n in names if hasattr(SDPBackend, n)]


def measure_attention(
    torch: Any,
    device: str,
    shape: AttentionShape,
    precision: str,
    prefill: list[tuple[int, int]],
    decode: list[tuple[int, int]],
    *,
    warmup: int,
    repeats: int,
    target_s: float,
) -> tuple[list[AttentionSample], list[str]]:
    """Time causal prefill over ``(batch, tokens)`` and decode over ``(batch, context)`` with
    every SDPA backend that accepts the shape; returns samples and notes on skips."""
    from torch.nn.attention import sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    dt = torch_dtype(torch, precision)
    h, hk, d = shape.num_heads, shape.num_kv_heads, shape.head_dim
    samples: list[AttentionSample] = []
    notes: list[str] = []
    for backend_name, backend in sdpa_backends(torch, device):
        for phase, points in (("prefill", prefill), ("decode", decode)):
            for batch, ctx in points:
                q_len = ctx if phase == "prefill" else 1
                q = torch.randn(batch, h, q_len, d, device=device, dtype=dt)
                k = torch.randn(batch, hk, ctx, d, device=device, dtype=dt)
                v = torch.randn(batch, hk, ctx, d, device=device, dtype=dt)
                causal = phase == "prefill"

                def fn(
                    q: Any = q, k: Any = k, v: Any = v, causal: bool = causal, be: Any = backend
                ) -> Any:
                    with sdpa_kernel([be]):
                        return sdpa(q, k, v, is_causal=causal, enable_gqa=h != hk)

                try:
                    t = median_time_s(
                        torch, device, fn, warmup=warmup, repeats=repeats, target_s=target_s
                    )
                except (RuntimeError, TypeError, ValueError) as exc:
                    notes.append(f"attention {backend_name} {phase} skipped: {exc}"[:200])
                    break
                samples.append(
                    AttentionSample(
                        phase=phase,
                        backend=backend_name,
                        precision=precision,
                        batch=batch,
                        num_heads=h,
                        num_kv_heads=hk,
                        head_dim=d,
                        context=ctx,
                        time_s=t,
                    )
                )
    return samples, notes


def measure_bandwidth(
    torch: Any, device: str, sizes_bytes: tuple[int, ...], *, warmup: int, repeats: int
) -> list[BandwidthSample]:
    """Time ``dst.copy_(src)`` of large buffers (read + write)."""
    out = []
    for size in sizes_bytes:
        src = torch.empty(size, dtype=torch.uint8, device=device).fill_(1)
        dst = torch.empty_like(src)

        def copy(s: Any = src, d: Any = dst) -> Any:
            return d.copy_(s)

        t = median_time_s(torch, device, copy, warmup=warmup, repeats=repeats)
        out.append(BandwidthSample(size_bytes=size, time_s=t))
        del src, dst
    return out


def measure_overheads(
    torch: Any, device: str, *, warmup: int, repeats: int, burst: int = 200
) -> list[OverheadSample]:
    """Launch cost of a small kernel, and the round trip of a tiny kernel plus synchronize."""
    import statistics
    import time

    x = torch.zeros(16, device=device)

    def burst_fn() -> None:
        for _ in range(burst):
            x.add_(1.0)

    launch = median_time_s(torch, device, burst_fn, warmup=warmup, repeats=repeats) / burst
    trips, empty = [], []
    for _ in range(max(repeats, 5) * 4):
        t0 = time.perf_counter()
        x.add_(1.0)
        synchronize(torch, device)
        trips.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        synchronize(torch, device)
        empty.append(time.perf_counter() - t0)
    return [
        OverheadSample(kind="launch", time_s=launch),
        OverheadSample(kind="sync", time_s=float(statistics.median(trips))),
        OverheadSample(kind="empty_sync", time_s=float(statistics.median(empty))),
    ]
