"""How much of an engine's busy time serving the input tokens costs, and how much the output.

A step that fuses prompt chunks with decodes has one duration; splitting it by token count
charges a prompt token as much as an output token, which is wrong on both sides of the
roofline: a prompt token rides a compute-bound GEMM with thousands of others, an output token
pays its share of reading every weight and its own KV cache. chip2grid charges each side its
stand-alone cost instead:

- input: the time a prefill-only engine spends on one request's prompt, with as many prompts
  per step as the token budget holds (a prompt longer than the budget is prefilled in chunks,
  each attending to the chunks before it);
- output: ``output_tokens - 1`` decode steps (the first token comes out of the prefill) at the
  running batch, divided by that batch, with the mean context of a decoding sequence.

The share of busy time charged to input tokens is ``input / (input + output)`` of those costs.
"""

from __future__ import annotations

import math

from chip2grid.errors import InvalidParameterError
from chip2grid.perf.step import RankShape, StepBatch, step_time


def prefill_seconds_per_request(
    shape: RankShape, input_tokens: float, token_budget: float
) -> float:
    """Seconds a prefill-only engine spends on one prompt of ``input_tokens``."""
    if not input_tokens > 0:
        return 0.0
    if input_tokens <= token_budget:
        per_step = max(1, math.floor(token_budget / input_tokens))
        step = step_time(shape, StepBatch.prefill(float(per_step), input_tokens))
        return float(step.total_s) / per_step
    total, done = 0.0, 0.0
    while done < input_tokens:
        chunk = min(token_budget, input_tokens - done)
        total += float(step_time(shape, StepBatch.prefill(1.0, chunk, cached_tokens=done)).total_s)
        done += chunk
    return total


def decode_seconds_per_request(
    shape: RankShape, input_tokens: float, output_tokens: float, decode_batch: float
) -> float:
    """One request's share of the decode steps that produce its output after the first token."""
    if output_tokens <= 1.0:
        return 0.0
    batch = max(decode_batch, 1.0)
    context = input_tokens + output_tokens / 2.0
    step = step_time(shape, StepBatch.decode(batch, context))
    return float(step.total_s) / batch * (output_tokens - 1.0)


def prefill_time_share(
    shape: RankShape,
    input_tokens: float,
    output_tokens: float,
    decode_batch: float,
    token_budget: float,
) -> float:
    """Share of busy time charged to input tokens (stand-alone costs; module docstring)."""
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("decode_batch", decode_batch),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise InvalidParameterError(name, value, "a finite number >= 0")
    if not token_budget >= 1:
        raise InvalidParameterError("token_budget", token_budget, "a number of tokens >= 1")
    pre = prefill_seconds_per_request(shape, input_tokens, token_budget)
    dec = decode_seconds_per_request(shape, input_tokens, output_tokens, decode_batch)
    if pre + dec <= 0.0:
        return 0.0
    return pre / (pre + dec)
