"""A model deployed on accelerators: precisions, parallel layout, engine."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import ALLREDUCE_QUANTIZATIONS, Accelerator
from chip2grid.llm import Architecture
from chip2grid.precision import bytes_per_element, check_precision


def instance_size(tp: int, pp: int, ep: int) -> int:
    """Accelerators in one model instance of a ``tp x pp x ep`` split: attention is split TP
    ways and replicated over the expert-parallel ranks, so a stage spans ``max(tp, ep)``."""
    return pp * max(tp, ep)


NCCL_NVLS_SETTINGS = ("auto", "on", "off")
"""Values of :attr:`Deployment.nccl_nvls`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """One model served on ``num_accelerators`` accelerators.

    The accelerators form ``num_replicas`` identical instances (data parallelism); each instance
    spans ``pp * max(tp, ep)`` accelerators. Attention is split ``tp`` ways (tensor parallel)
    and, when ``ep > tp``, replicated ``ep / tp`` ways over disjoint tokens (attention data
    parallelism, as in TensorRT-LLM's "DEP" layouts); routed experts are split ``ep`` ways and
    each expert ``max(tp, ep) / ep`` ways.
    """

    model: Architecture
    accelerator: Accelerator
    num_accelerators: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    weight_precision: str = "bf16"
    kv_precision: str = "auto"
    activation_precision: str = "auto"
    engine: str = "tensorrt-llm"
    power_limit_w: float = 0.0
    """Power cap of each accelerator (``nvidia-smi -pl``); 0: its TDP. Below what the die needs
    under full matrix load, the clock falls (:meth:`Accelerator.clock_frac`); above the TDP (up
    to the part's ``max_power_limit_w``) it may rise, where the fitted family does not hold its
    datasheet clock at the TDP."""
    allreduce_quantization: str = "none"
    """Codec of a quantized tensor-parallel all-reduce (``none``, ``int8``, ``int6``, ``int4``):
    ROCm's QuickReduce in vLLM and SGLang (``ROCM_QUICK_REDUCE_QUANTIZATION``) sends large
    messages as block-scaled integers (:data:`chip2grid.hardware.ALLREDUCE_QUANTIZATIONS`)."""
    nccl_nvls: str = "auto"
    """NCCL's in-switch all-reduce (NVLS) where the accelerator's switch reduces: ``auto`` (the
    engine's default, :attr:`chip2grid.perf.engine.EngineProfile.nccl_nvls`), ``on``
    (``NCCL_NVLS_ENABLE=1``, SGLang's ``--enable-nccl-nvls``) or ``off``
    (``NCCL_NVLS_ENABLE=0``, often set to save the GPU memory its buffers take)."""

    def __post_init__(self) -> None:
        acc = self.accelerator
        if self.nccl_nvls not in NCCL_NVLS_SETTINGS:
            raise InvalidParameterError("nccl_nvls", self.nccl_nvls, ", ".join(NCCL_NVLS_SETTINGS))
        if self.allreduce_quantization not in ALLREDUCE_QUANTIZATIONS:
            raise InvalidParameterError(
                "allreduce_quantization",
                self.allreduce_quantization,
                ", ".join(ALLREDUCE_QUANTIZATIONS),
            )
        if self.power_limit_w and not acc.idle_power_w < self.power_limit_w <= acc.max_power_w:
            most = (
                f"its TDP {acc.tdp_w:g} W"
                if acc.max_power_w == acc.tdp_w
                else f"its highest stated board power {acc.max_power_w:g} W (TDP {acc.tdp_w:g} W)"
            )
            raise InvalidParameterError(
                "power_limit_w",
                self.power_limit_w,
                f"0 (the TDP) or a power above {acc.id}'s idle {acc.idle_power_w:g} W and at most "
                f"{most}",
            )
        for name in ("num_accelerators", "tp", "pp", "ep"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(name, value, "an integer >= 1")
        check_precision(self.weight_precision, "weight_precision")
        if self.kv_precision != "auto":
            check_precision(self.kv_precision, "kv_precision")
        self.accelerator.compute_precision(self.weight_precision, self.activation_precision)
        m = self.model
        if m.num_attention_heads % self.tp:
            divisors = [
                t
                for t in range(1, m.num_attention_heads + 1)
                if m.num_attention_heads % t == 0 and t <= 64
            ]
            raise InvalidParameterError(
                "tp",
                self.tp,
                f"a divisor of {m.id}'s {m.num_attention_heads} attention heads: {divisors}",
            )
        if not m.is_mla and self.tp > m.num_kv_heads and self.tp % m.num_kv_heads:
            raise InvalidParameterError(
                "tp", self.tp, f"a divisor or multiple of {m.id}'s {m.num_kv_heads} KV heads"
            )
        if self.ep > 1 and (not m.is_moe or m.num_experts % self.ep):
            allowed = (
                f"a divisor of {m.id}'s {m.num_experts} experts"
                if m.is_moe
                else f"1 ({m.id} is dense)"
            )
            raise InvalidParameterError("ep", self.ep, allowed)
        if max(self.tp, self.ep) % min(self.tp, self.ep):
            raise InvalidParameterError("ep", self.ep, f"a divisor or multiple of tp ({self.tp})")
        if self.pp > m.num_layers:
            raise InvalidParameterError("pp", self.pp, f"at most {m.id}'s {m.num_layers} layers")
        if self.num_accelerators % self.instance_size:
            raise InvalidParameterError(
                "num_accelerators",
                self.num_accelerators,
                f"a multiple of pp * max(tp, ep) = {self.instance_size}",
            )

    @property
    def power_limit_resolved_w(self) -> float:
        """The power each accelerator may draw: the cap, else the TDP."""
        return self.power_limit_w or self.accelerator.tdp_w

    # ----------------------------------------------------------------------------- layout
    @property
    def instance_size(self) -> int:
        """Accelerators in one model instance."""
        return instance_size(self.tp, self.pp, self.ep)

    @property
    def num_replicas(self) -> int:
        """Data-parallel instances."""
        return self.num_accelerators // self.instance_size

    @property
    def attention_dp(self) -> int:
        """Attention replicas within an instance (``ep / tp`` when ``ep > tp``).

        Each attention replica schedules its own requests, so an engine's per-scheduler caps
        (``max_num_seqs``, ``max_num_batched_tokens``) hold once per replica: TensorRT-LLM's
        ``max_batch_size`` is the batch "in each rank" under attention DP, and vLLM runs one
        engine core per data-parallel rank. An instance batches up to ``attention_dp`` times them.
        """
        return max(self.tp, self.ep) // self.tp

    def instance_caps(self, max_num_seqs: int, max_num_batched_tokens: int) -> tuple[int, int]:
        """The batch cap and token budget of one instance, from the per-scheduler knobs:
        ``attention_dp`` times each (see :attr:`attention_dp`)."""
        return max_num_seqs * self.attention_dp, max_num_batched_tokens * self.attention_dp

    @property
    def expert_tp(self) -> int:
        """Ways each routed expert is split."""
        return max(self.tp, self.ep) // self.ep

    @property
    def kv_split(self) -> int:
        """Ways the KV cache of one sequence is split across the TP ranks."""
        if self.model.is_mla:
            return 1
        return min(self.tp, self.model.num_kv_heads)

    @property
    def layout(self) -> str:
        """A short description such as ``2x(TP4 PP1 EP1)``."""
        return f"{self.num_replicas}x(TP{self.tp} PP{self.pp} EP{self.ep})"

    # --------------------------------------------------------------------------- precision
    @property
    def compute_precision(self) -> str:
        """The precision of the matrix multiplications."""
        return self.accelerator.compute_precision(self.weight_precision, self.activation_precision)

    @property
    def kv_precision_resolved(self) -> str:
        """The KV-cache precision (``auto``: FP8 when compute is FP8 or narrower, else 16-bit)."""
        if self.kv_precision != "auto":
            return self.kv_precision
        compute = self.compute_precision
        return "fp8" if bytes_per_element(compute) <= 1.0 else self.accelerator.sixteen_bit

    @property
    def weight_bytes_per_param(self) -> float:
        """Storage bytes of one weight."""
        return bytes_per_element(self.weight_precision)

    @property
    def activation_bytes_per_element(self) -> float:
        """Bytes of one activation element moved between kernels (16-bit unless FP8 compute)."""
        return 1.0 if self.compute_precision in ("fp8", "int8") else 2.0

    @property
    def kv_bytes_per_element(self) -> float:
        """Bytes of one cached K or V element."""
        return bytes_per_element(self.kv_precision_resolved)

    # ----------------------------------------------------------------------------- memory
    @property
    def weight_bytes_per_accelerator(self) -> float:
        """Weight bytes held by the most loaded accelerator of an instance.

        Embedding and output projections stay in 16 bits (common practice in FP8/FP4
        checkpoints) and sit on the first and last pipeline stages.
        """
        m = self.model
        w = self.weight_bytes_per_param
        attention = m.attention_params_per_layer / self.tp
        dense = m.dense_mlp_params_per_layer / self.tp
        moe = (
            m.num_experts / self.ep * m.expert_params / self.expert_tp
            + m.shared_expert_params_per_layer / self.tp
            + m.router_params_per_layer
        )
        layers = (
            m.num_layers * attention + m.num_dense_mlp_layers * dense + m.num_moe_layers * moe
        ) / self.pp
        tables = m.vocab_size * m.hidden_size / self.tp * 2.0
        tables_on_stage = tables * (2 if (self.pp == 1 and not m.tie_word_embeddings) else 1)
        return layers * w + tables_on_stage

    def kv_bytes_per_token_per_accelerator(self, context_tokens: float | None = None) -> float:
        """KV-cache bytes one token adds on one accelerator of the instance."""
        total = self.model.kv_cache_bytes_per_token(self.kv_bytes_per_element, context_tokens)
        return total / self.pp / self.kv_split

    def replace(self, **changes: object) -> Deployment:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def parallel_layouts(
    model: Architecture, num_accelerators: int, *, max_tp: int = 64
) -> list[tuple[int, int, int]]:
    """All ``(tp, pp, ep)`` splits of ``num_accelerators`` that are valid for ``model``.

    TP and EP are powers of two (as engines require), PP divides the layers evenly or nearly.
    """
    layouts = []
    powers = [2**i for i in range(int(math.log2(max(num_accelerators, 1))) + 1)]
    for tp in powers:
        if tp > max_tp or model.num_attention_heads % tp:
            continue
        if not model.is_mla and tp > model.num_kv_heads and tp % model.num_kv_heads:
            continue
        eps = [1] + (
            [e for e in powers if e > 1 and model.num_experts % e == 0] if model.is_moe else []
        )
        for ep in eps:
            if max(tp, ep) % min(tp, ep):
                continue
            width = max(tp, ep)
            for pp in range(1, num_accelerators // width + 1):
                if num_accelerators % (pp * width) == 0 and pp <= model.num_layers:
                    layouts.append((tp, pp, ep))
    return layouts
