"""Speculative decoding: a draft proposes ``k`` tokens, the target verifies ``k + 1`` at once.

With a per-token acceptance rate ``alpha`` (independent positions), the expected tokens emitted
per verification step are (Leviathan, Kalman & Matias, ICML 2023, eq. 1)

.. math::  E = \\frac{1 - \\alpha^{k+1}}{1 - \\alpha}.

A step costs one target forward over ``k + 1`` query tokens per sequence plus ``k`` draft
steps: a separate draft model, or multi-token-prediction (MTP) heads, which cost about one
extra decoder layer each (DeepSeek-V3 technical report, section 2.2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from chip2grid.errors import InvalidParameterError
from chip2grid.llm import Architecture


def expected_tokens_per_step(acceptance_rate: float, num_speculative_tokens: int) -> float:
    """Expected tokens per verification step: ``(1 - a^(k+1)) / (1 - a)``."""
    a, k = acceptance_rate, num_speculative_tokens
    if a >= 1.0:
        return float(k + 1)
    return (1.0 - a ** (k + 1)) / (1.0 - a)


def acceptance_rate_for_length(mean_tokens_per_step: float, num_speculative_tokens: int) -> float:
    """The per-token acceptance rate whose expected tokens per step is ``mean_tokens_per_step``.

    Engines report the mean acceptance length (SGLang's ``accept length``, vLLM's and
    TensorRT-LLM's tokens per step: the bonus token included, so 1 to ``k + 1``); this inverts
    :func:`expected_tokens_per_step`, which rises monotonically in the rate, by bisection.
    """
    k, length = num_speculative_tokens, mean_tokens_per_step
    if not 1 <= k <= 16:
        raise InvalidParameterError("num-speculative-tokens", k, "1..16")
    if not 1.0 <= length <= k + 1:
        raise InvalidParameterError(
            "acceptance-length",
            length,
            f"1 to {k + 1} tokens per step (1 + num-speculative-tokens, the bonus token included)",
        )
    if length >= k + 1:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if expected_tokens_per_step(mid, k) < length:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeculativeDecoding:
    """Speculative decoding with a draft model or MTP heads."""

    method: Literal["draft", "mtp"] = "mtp"
    num_speculative_tokens: int = 1
    acceptance_rate: float = 0.7
    draft_model: Architecture | None = None

    def __post_init__(self) -> None:
        if self.method not in ("draft", "mtp"):
            raise InvalidParameterError("speculative method", self.method, "draft or mtp")
        if not 1 <= self.num_speculative_tokens <= 16:
            raise InvalidParameterError(
                "num-speculative-tokens", self.num_speculative_tokens, "1..16"
            )
        if not 0.0 <= self.acceptance_rate <= 1.0:
            raise InvalidParameterError(
                "acceptance-rate", self.acceptance_rate, "a fraction in [0, 1]"
            )
        if self.method == "draft" and self.draft_model is None:
            raise InvalidParameterError(
                "draft-model", None, "a catalog model id for method 'draft'"
            )

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens emitted per sequence per verification step."""
        return expected_tokens_per_step(self.acceptance_rate, self.num_speculative_tokens)

    def draft_architecture(self, target: Architecture) -> Architecture:
        """The network that drafts: the draft model, or one decoder layer of the target (MTP)."""
        if self.method == "draft" and self.draft_model is not None:
            return self.draft_model
        return dataclasses.replace(
            target,
            num_layers=1,
            num_dense_layers=min(target.num_dense_layers, 1),
            num_sliding_window_layers=0,
            moe_layer_interval=1,
        )
