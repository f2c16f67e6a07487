"""Request streams for the serving simulator: real traces and synthetic arrivals.

Trace formats:

- Azure LLM inference trace 2023 (CSV ``TIMESTAMP,ContextTokens,GeneratedTokens``; wall-clock
  timestamps), Patel et al., "Splitwise", ISCA 2024; CC BY 4.0.
- Mooncake FAST'25 traces (JSONL ``timestamp`` in ms, ``input_length``, ``output_length``,
  ``hash_ids`` of 512-token prompt blocks); Qin et al., FAST 2025; Apache-2.0.
- Generic CSV or JSONL with ``arrival_s``, ``input_tokens``, ``output_tokens`` (and optional
  ``prefix_hashes``, a list of integers).

Synthetic streams: :func:`synthetic_trace` (fixed lengths, Poisson or bursty arrivals) and
:func:`agent_trace` (multi-turn agent sessions whose prompts grow on a shared prefix, with the
block hashes prefix caching needs); :data:`ARCHETYPES` names them.

A malformed file stops with the file and line number; unsorted arrivals are sorted with a
:class:`TraceWarning`.
"""

from __future__ import annotations

import csv
import datetime
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError

MOONCAKE_BLOCK_TOKENS = 512
"""Tokens per ``hash_ids`` block in the Mooncake traces (FAST25-release README)."""


class TraceWarning(UserWarning):
    """A trace was usable but needed a repair (e.g. sorting)."""


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """Requests as arrays: arrival time (s from the first arrival), prompt and output tokens."""

    arrival_s: NDArray[np.float64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]
    prefix_hashes: tuple[tuple[int, ...], ...] = field(default=())
    block_tokens: int = MOONCAKE_BLOCK_TOKENS
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.input_tokens) != n or len(self.output_tokens) != n:
            raise InvalidParameterError(
                "trace", self.source, "equal numbers of arrivals, inputs and outputs"
            )
        if self.prefix_hashes and len(self.prefix_hashes) != n:
            raise InvalidParameterError(
                "trace prefix_hashes", len(self.prefix_hashes), f"one list per request ({n})"
            )

    @property
    def num_requests(self) -> int:
        """Requests in the trace."""
        return len(self.arrival_s)

    @property
    def duration_s(self) -> float:
        """Last arrival minus first arrival."""
        return float(self.arrival_s[-1] - self.arrival_s[0]) if self.num_requests else 0.0

    @property
    def mean_rate_per_s(self) -> float:
        """Requests per second over the trace."""
        return self.num_requests / self.duration_s if self.duration_s > 0 else float("inf")


def _fail(path: Path, line: int, message: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"{path}:{line}", message, "a well-formed trace row (see chip2grid.serving.workload)"
    )


def _number(
    path: Path, line: int, column: str, text: object, *, integer: bool = True, minimum: float = 0
) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _fail(path, line, f"{column} is not a number: {text!r}") from None
    if value != value or value < minimum or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise _fail(path, line, f"{column} must be {kind} >= {minimum:g}, got {text!r}")
    return value


def _check_block_tokens(block_tokens: int) -> None:
    if not isinstance(block_tokens, int) or block_tokens < 1:
        raise InvalidParameterError(
            "block_tokens", block_tokens, "tokens per prefix hash block, >= 1 (Mooncake: 512)"
        )


def _finish(
    path: Path,
    arrivals: list[float],
    inputs: list[float],
    outputs: list[float],
    hashes: list[tuple[int, ...]],
    block_tokens: int = MOONCAKE_BLOCK_TOKENS,
) -> RequestTrace:
    if not arrivals:
        raise InvalidParameterError("trace", str(path), "a file with at least one request")
    a = np.asarray(arrivals, dtype=float)
    order = np.argsort(a, kind="stable")
    if np.any(np.diff(a) < 0):
        warnings.warn(f"{path}: arrivals are not sorted; sorted them", TraceWarning, stacklevel=3)
    a = a[order] - a[order][0]
    hashes_sorted = tuple(hashes[i] for i in order) if hashes else ()
    return RequestTrace(
        arrival_s=a,
        input_tokens=np.asarray(inputs, dtype=np.int64)[order],
        output_tokens=np.asarray(outputs, dtype=np.int64)[order],
        prefix_hashes=hashes_sorted,
        block_tokens=block_tokens,
        source=str(path),
    )


def _parse_time(path: Path, line: int, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    stamp = text.strip()
    if "." in stamp:  # Azure writes 7 fractional digits; Python parses at most 6
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        raise _fail(path, line, f"TIMESTAMP is neither seconds nor a date-time: {text!r}") from None


def load_csv_trace(path: str | Path) -> RequestTrace:
    """Read an Azure 2023 trace or a generic CSV (``arrival_s,input_tokens,output_tokens``)."""
    file = Path(path)
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        azure = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}
        generic = {"arrival_s", "input_tokens", "output_tokens"}
        if azure <= columns:
            t_col, i_col, o_col = "TIMESTAMP", "ContextTokens", "GeneratedTokens"
        elif generic <= columns:
            t_col, i_col, o_col = "arrival_s", "input_tokens", "output_tokens"
        else:
            raise _fail(
                file,
                1,
                f"header {sorted(columns)} lacks {sorted(generic)} (or Azure's {sorted(azure)})",
            )
        arrivals, inputs, outputs = [], [], []
        for line, row in enumerate(reader, start=2):
            if None in row.values() or None in row:
                raise _fail(file, line, "wrong number of fields")
            arrivals.append(_parse_time(file, line, row[t_col]))
            inputs.append(_number(file, line, i_col, row[i_col], minimum=1))
            outputs.append(_number(file, line, o_col, row[o_col], minimum=1))
    return _finish(file, arrivals, inputs, outputs, [])


def load_jsonl_trace(path: str | Path, block_tokens: int = MOONCAKE_BLOCK_TOKENS) -> RequestTrace:
    """Read a Mooncake JSONL trace (ms timestamps) or a generic JSONL (``arrival_s`` ...).

    ``block_tokens`` is the number of prompt tokens each hash names (512 in Mooncake's traces).
    """
    _check_block_tokens(block_tokens)
    file = Path(path)
    arrivals, inputs, outputs, hashes = [], [], [], []
    with file.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _fail(file, line, f"not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise _fail(file, line, "not a JSON object")
            if "timestamp" in row:
                arrivals.append(
                    _number(file, line, "timestamp", row["timestamp"], integer=False) / 1000.0
                )
                inputs.append(
                    _number(file, line, "input_length", row.get("input_length"), minimum=1)
                )
                outputs.append(
                    _number(file, line, "output_length", row.get("output_length"), minimum=1)
                )
                key = "hash_ids"
            elif "arrival_s" in row:
                arrivals.append(_number(file, line, "arrival_s", row["arrival_s"], integer=False))
                inputs.append(
                    _number(file, line, "input_tokens", row.get("input_tokens"), minimum=1)
                )
                outputs.append(
                    _number(file, line, "output_tokens", row.get("output_tokens"), minimum=1)
                )
                key = "prefix_hashes"
            else:
                raise _fail(file, line, "needs 'timestamp' (Mooncake) or 'arrival_s' (generic)")
            ids = row.get(key, [])
            if not isinstance(ids, list) or not all(isinstance(x, int) for x in ids):
                raise _fail(file, line, f"{key} must be a list of integers")
            hashes.append(tuple(ids))
    if hashes and not any(hashes):
        hashes = []
    return _finish(file, arrivals, inputs, outputs, hashes, block_tokens)


def load_trace(path: str | Path, block_tokens: int = MOONCAKE_BLOCK_TOKENS) -> RequestTrace:
    """Read a trace by its extension: ``.csv`` or ``.jsonl``/``.json`` (prefix hashes of
    ``block_tokens`` tokens each)."""
    _check_block_tokens(block_tokens)
    file = Path(path)
    if not file.is_file():
        raise InvalidParameterError("trace", str(path), "a path to a CSV or JSONL trace file")
    if file.suffix.lower() == ".csv":
        return load_csv_trace(file)
    if file.suffix.lower() in (".jsonl", ".json"):
        return load_jsonl_trace(file, block_tokens)
    raise InvalidParameterError("trace", str(path), "a .csv or .jsonl file")


def poisson_arrivals(
    rate_per_s: float, num_requests: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Arrival times of a Poisson process (exponential gaps), starting at 0."""
    return gamma_arrivals(rate_per_s, 1.0, num_requests, rng)


def gamma_arrivals(
    rate_per_s: float, cv: float, num_requests: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Arrivals with Gamma-distributed gaps of mean ``1/rate`` and coefficient of variation ``cv``.

    ``cv = 1`` is Poisson; ``cv > 1`` is bursty (shape ``k = 1/cv^2``, scale ``cv^2/rate``).
    """
    if not rate_per_s > 0:
        raise InvalidParameterError("request rate", rate_per_s, "requests per second > 0")
    if not cv > 0:
        raise InvalidParameterError("arrival cv", cv, "a coefficient of variation > 0")
    if num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    shape = 1.0 / cv**2
    gaps = rng.gamma(shape, 1.0 / (shape * rate_per_s), num_requests)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def synthetic_trace(
    num_requests: int,
    request_rate_per_s: float,
    input_tokens: int,
    output_tokens: int,
    burstiness_cv: float = 1.0,
    seed: int = 0,
) -> RequestTrace:
    """Poisson arrivals (Gamma gaps when ``burstiness_cv`` is not 1) with fixed lengths."""
    if num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    if not request_rate_per_s > 0:
        raise InvalidParameterError("request_rate_per_s", request_rate_per_s, "a rate > 0")
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if value < 1:
            raise InvalidParameterError(name, value, "an integer >= 1")
    rng = np.random.default_rng(seed)
    arrivals = (
        poisson_arrivals(request_rate_per_s, num_requests, rng)
        if burstiness_cv == 1.0
        else gamma_arrivals(request_rate_per_s, burstiness_cv, num_requests, rng)
    )
    return RequestTrace(
        arrival_s=arrivals,
        input_tokens=np.full(num_requests, input_tokens, dtype=np.int64),
        output_tokens=np.full(num_requests, output_tokens, dtype=np.int64),
        source=f"synthetic ({num_requests} requests at {request_rate_per_s:g}/s, seed {seed})",
    )


ARCHETYPES = ("fixed", "agent")
"""Synthetic workloads: fixed lengths (:func:`synthetic_trace`), agent sessions (:func:`agent_trace`)."""
AGENT_BLOCK_TOKENS = 64
"""Tokens per prefix hash block of :func:`agent_trace` (a multiple of the usual KV block sizes)."""


def agent_trace(
    num_requests: int,
    request_rate_per_s: float,
    turn_input_tokens: int,
    output_tokens: int,
    *,
    turns_per_session: int = 8,
    system_prompt_tokens: int = 2048,
    think_time_s: float = 10.0,
    block_tokens: int = AGENT_BLOCK_TOKENS,
    seed: int = 0,
) -> RequestTrace:
    """Multi-turn agent sessions: every prompt repeats the session so far, after a shared prefix.

    Sessions start as a Poisson process at ``request_rate_per_s / turns_per_session``; a turn
    follows the previous one after an exponential think time of mean ``think_time_s``. Turn
    ``k``'s prompt is the system prompt (the same in every session), then every earlier turn's
    input and output, then ``turn_input_tokens`` new tokens (uniform in 1..2x the mean, as is
    the output). A session's token stream only grows, so a full block of ``block_tokens``
    tokens keeps its hash from turn to turn; blocks wholly inside the system prompt have the
    same hashes in every session; a prompt's partial last block gets a hash of its own.
    """
    for name, value in (
        ("num_requests", num_requests),
        ("turn_input_tokens", turn_input_tokens),
        ("output_tokens", output_tokens),
        ("turns_per_session", turns_per_session),
    ):
        if not isinstance(value, int) or value < 1:
            raise InvalidParameterError(name, value, "an integer >= 1")
    if not isinstance(system_prompt_tokens, int) or system_prompt_tokens < 0:
        raise InvalidParameterError("system_prompt_tokens", system_prompt_tokens, "an integer >= 0")
    if not request_rate_per_s > 0:
        raise InvalidParameterError("request_rate_per_s", request_rate_per_s, "a rate > 0")
    if not think_time_s >= 0:
        raise InvalidParameterError("think_time_s", think_time_s, "seconds >= 0")
    _check_block_tokens(block_tokens)
    rng = np.random.default_rng(seed)
    num_sessions = -(-num_requests // turns_per_session)
    starts = poisson_arrivals(request_rate_per_s / turns_per_session, num_sessions, rng)
    shared_blocks = system_prompt_tokens // block_tokens
    arrivals: list[float] = []
    inputs: list[int] = []
    outputs: list[int] = []
    hashes: list[tuple[int, ...]] = []
    unique = 0
    for s in range(num_sessions):
        turns = min(turns_per_session, num_requests - s * turns_per_session)
        t = float(starts[s])
        history = system_prompt_tokens
        session_ids = list(range(shared_blocks))
        for _ in range(turns):
            prompt = history + int(rng.integers(1, 2 * turn_input_tokens + 1))
            out = int(rng.integers(1, 2 * output_tokens + 1))
            full = prompt // block_tokens
            while len(session_ids) < full:  # (session, block index) names a full block
                session_ids.append(((s + 1) << 32) | len(session_ids))
            ids = session_ids[:full]
            if prompt % block_tokens:
                unique += 1
                ids.append(-unique)
            arrivals.append(t)
            inputs.append(prompt)
            outputs.append(out)
            hashes.append(tuple(ids))
            history = prompt + out
            t += float(rng.exponential(think_time_s)) if think_time_s > 0 else 0.0
    order = np.argsort(np.asarray(arrivals), kind="stable")
    return RequestTrace(
        arrival_s=np.asarray(arrivals)[order],
        input_tokens=np.asarray(inputs, dtype=np.int64)[order],
        output_tokens=np.asarray(outputs, dtype=np.int64)[order],
        prefix_hashes=tuple(hashes[i] for i in order.tolist()),
        block_tokens=block_tokens,
        source=(
            f"agent sessions ({num_requests} requests at {request_rate_per_s:g}/s, "
            f"{turns_per_session} turns, seed {seed})"
        ),
    )
