"""Request streams for the serving simulator: real traces and synthetic arrivals.

Trace formats:

- Azure LLM inference trace 2023 (CSV ``TIMESTAMP,ContextTokens,GeneratedTokens``; wall-clock
  timestamps), Patel et al., "Splitwise", ISCA 2024; CC BY 4.0.
- Mooncake FAST'25 traces (JSONL ``timestamp`` in ms, ``input_length``, ``output_length``,
  ``hash_ids`` of 512-token prompt blocks); Qin et al., FAST 2025; Apache-2.0.
- Generic CSV or JSONL with ``arrival_s``, ``input_tokens``, ``output_tokens`` (and optional
  ``prefix_hashes``, a list of integers).

Synthetic streams: :func:`synthetic_trace` (fixed lengths, Poisson or bursty arrivals),
:func:`agent_trace` (multi-turn agent sessions whose prompts grow on a shared prefix, with the
block hashes prefix caching needs) and :func:`archetype_trace` (the named workloads of the
catalog ``workload_archetypes.toml``: chat, code, rag, reasoning, agent, batch, each figure
with its source); :data:`ARCHETYPES` names them. Request lengths follow a :class:`LengthDist`
(fixed, normal truncated at 1, lognormal, or resampled from a file); arrivals are Poisson,
Gamma (bursty), jobs of many requests (batch), or a :class:`DiurnalCurve` (a non-homogeneous
Poisson process, by thinning). A closed loop of users is in :mod:`.closed_loop`.

A malformed file stops with the file and line number; unsorted arrivals are sorted with a
:class:`TraceWarning`.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from chip2grid.catalog.workload_archetypes import get_workload_archetype
from chip2grid.errors import InvalidParameterError
from chip2grid.perf.estimate import (
    MAX_LENGTH_CV,
    Workload,
    check_length_cv,
    length_spread_label,
)

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

    def workload(self) -> Workload:
        """The mean request of the trace and the spread of its lengths (coefficients of
        variation, capped at :data:`chip2grid.perf.estimate.MAX_LENGTH_CV`), for the steady
        state."""

        def spread(lengths: NDArray[np.int64]) -> float:
            mean = float(np.mean(lengths)) if lengths.size else 0.0
            return min(float(np.std(lengths)) / mean, MAX_LENGTH_CV) if mean > 0 else 0.0

        return Workload(
            input_tokens=max(float(np.mean(self.input_tokens)), 1.0),
            output_tokens=max(float(np.mean(self.output_tokens)), 1.0),
            input_tokens_cv=spread(self.input_tokens),
            output_tokens_cv=spread(self.output_tokens),
        )

    @property
    def mean_rate_per_s(self) -> float:
        """Requests per second over the trace."""
        return self.num_requests / self.duration_s if self.duration_s > 0 else float("inf")

    def select(self, index: NDArray[np.int64], source: str | None = None) -> RequestTrace:
        """The requests at ``index`` (in that order, arrival times kept), with their prefix
        hashes and block size; ``source`` defaults to this trace's."""
        hashes = self.prefix_hashes
        return RequestTrace(
            arrival_s=self.arrival_s[index],
            input_tokens=self.input_tokens[index],
            output_tokens=self.output_tokens[index],
            prefix_hashes=tuple(hashes[i] for i in index.tolist()) if hashes else (),
            block_tokens=self.block_tokens,
            source=self.source if source is None else source,
        )


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
    if not math.isfinite(value) or value < minimum or (integer and value != int(value)):
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


def _parse_time(path: Path, line: int, text: str, column: str = "TIMESTAMP") -> float:
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise _fail(path, line, f"{column} must be a finite time, got {text!r}")
        return seconds
    stamp = text.strip()
    if "." in stamp:  # Azure writes 7 fractional digits; Python parses at most 6
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        raise _fail(path, line, f"{column} is neither seconds nor a date-time: {text!r}") from None


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
            arrivals.append(_parse_time(file, line, row[t_col], t_col))
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
    *,
    input_tokens_cv: float = 0.0,
    output_tokens_cv: float = 0.0,
) -> RequestTrace:
    """Poisson arrivals (Gamma gaps when ``burstiness_cv`` is not 1) with fixed lengths, or
    with gamma-distributed lengths of these means where ``input_tokens_cv`` or
    ``output_tokens_cv`` (standard deviation over mean) is above 0."""
    if num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    if not request_rate_per_s > 0:
        raise InvalidParameterError("request_rate_per_s", request_rate_per_s, "a rate > 0")
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if value < 1:
            raise InvalidParameterError(name, value, "an integer >= 1")
    check_length_cv("input_tokens_cv", input_tokens_cv)
    check_length_cv("output_tokens_cv", output_tokens_cv)
    rng = np.random.default_rng(seed)
    arrivals = (
        poisson_arrivals(request_rate_per_s, num_requests, rng)
        if burstiness_cv == 1.0
        else gamma_arrivals(request_rate_per_s, burstiness_cv, num_requests, rng)
    )
    label = length_spread_label(input_tokens_cv, output_tokens_cv)
    spread = f", length {label}" if label else ""
    return RequestTrace(
        arrival_s=arrivals,
        input_tokens=gamma_lengths(rng, input_tokens, input_tokens_cv, num_requests, 1),
        output_tokens=gamma_lengths(rng, output_tokens, output_tokens_cv, num_requests, 1),
        source=f"synthetic ({num_requests} requests at {request_rate_per_s:g}/s, seed {seed}{spread})",
    )


def gamma_lengths(
    rng: np.random.Generator, mean: float, cv: float, num: int, minimum: int
) -> NDArray[np.int64]:
    """``num`` integer lengths of about ``mean`` and coefficient of variation ``cv`` (gamma
    draws rounded, at least ``minimum``); all ``round(mean)`` when ``cv`` is 0."""
    if cv <= 0:
        return np.full(num, max(round(mean), minimum), dtype=np.int64)
    shape = 1.0 / cv**2
    draws = rng.gamma(shape, mean / shape, num)
    out: NDArray[np.int64] = np.maximum(np.rint(draws), minimum).astype(np.int64)
    return out


ARCHETYPES = ("fixed", "chat", "code", "rag", "reasoning", "agent", "batch")
"""Synthetic workloads: fixed lengths (:func:`synthetic_trace`), then the catalog archetypes of
:func:`archetype_trace` (``agent`` is :func:`agent_trace` with the catalog's defaults)."""
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


# --- request lengths ------------------------------------------------------------------------
LENGTH_DISTS = ("fixed", "normal", "lognormal", "empirical")
"""Kinds of :class:`LengthDist`."""
_LENGTH_COLUMNS = (
    ("input_tokens", "output_tokens"),
    ("ContextTokens", "GeneratedTokens"),
    ("input_length", "output_length"),
)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LengthDist:
    """A distribution of token counts (prompt or output lengths); draws are integers >= 1.

    Build one with :meth:`fixed`, :meth:`normal` (truncated at 1 token: drawn again below),
    :meth:`lognormal` (``median * exp(sigma * z)``) or :meth:`empirical` (resampled with
    replacement); :func:`parse_length_dist` reads the CLI's ``kind:a:b`` form. Draws are
    rounded to the nearest integer, then clipped to ``max_tokens`` when it is set.
    """

    kind: str
    center_tokens: float
    """Fixed: the length; normal: the mean before truncation; lognormal: the median;
    empirical: the mean of the values."""
    spread: float = 0.0
    """Normal: the standard deviation (tokens); lognormal: sigma of ln(tokens)."""
    max_tokens: int = 0
    """Clip draws to this many tokens (0: no clip)."""
    values: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    """Empirical: the lengths to resample."""
    name: str = "lengths"
    """How errors name this distribution (an option or a field)."""

    def __post_init__(self) -> None:
        n = self.name
        if self.kind not in LENGTH_DISTS:
            raise InvalidParameterError(n, self.kind, " or ".join(LENGTH_DISTS))
        if not isinstance(self.max_tokens, int) or self.max_tokens < 0:
            raise InvalidParameterError(f"{n} max_tokens", self.max_tokens, "an integer >= 0")
        if self.kind == "fixed" and not (
            self.center_tokens >= 1 and self.center_tokens == int(self.center_tokens)
        ):
            raise InvalidParameterError(n, self.center_tokens, "fixed: an integer >= 1 tokens")
        if self.kind == "normal":
            if not self.center_tokens >= 1:
                raise InvalidParameterError(f"{n} mean", self.center_tokens, "tokens >= 1")
            if not self.spread >= 0:
                raise InvalidParameterError(f"{n} std", self.spread, "tokens >= 0")
        if self.kind == "lognormal":
            if not self.center_tokens >= 1:
                raise InvalidParameterError(f"{n} median", self.center_tokens, "tokens >= 1")
            if not 0 <= self.spread <= 5:
                raise InvalidParameterError(f"{n} sigma", self.spread, "a number in [0, 5]")
        if self.kind == "empirical" and (not len(self.values) or int(self.values.min()) < 1):
            raise InvalidParameterError(n, self.describe(), "at least one length, all >= 1")

    @classmethod
    def fixed(cls, tokens: int, *, name: str = "lengths") -> LengthDist:
        """Every draw is ``tokens``."""
        return cls(kind="fixed", center_tokens=tokens, name=name)

    @classmethod
    def normal(
        cls, mean_tokens: float, std_tokens: float, *, max_tokens: int = 0, name: str = "lengths"
    ) -> LengthDist:
        """Normal of mean ``mean_tokens`` and deviation ``std_tokens``, truncated at 1 token."""
        return cls(
            kind="normal",
            center_tokens=mean_tokens,
            spread=std_tokens,
            max_tokens=max_tokens,
            name=name,
        )

    @classmethod
    def lognormal(
        cls, median_tokens: float, sigma: float, *, max_tokens: int = 0, name: str = "lengths"
    ) -> LengthDist:
        """Lognormal of median ``median_tokens`` and ``sigma`` (of ln tokens)."""
        return cls(
            kind="lognormal",
            center_tokens=median_tokens,
            spread=sigma,
            max_tokens=max_tokens,
            name=name,
        )

    @classmethod
    def empirical(cls, values: NDArray[np.int64], *, name: str = "lengths") -> LengthDist:
        """Resample ``values`` with replacement."""
        v = np.asarray(values, dtype=np.int64)
        return cls(
            kind="empirical", center_tokens=float(v.mean()) if len(v) else 0.0, values=v, name=name
        )

    def describe(self) -> str:
        """A short description, e.g. ``lognormal(median 1020, sigma 0.77)``."""
        clip = f", max {self.max_tokens}" if self.max_tokens else ""
        if self.kind == "fixed":
            return f"fixed({self.center_tokens:g})"
        if self.kind == "normal":
            return f"normal(mean {self.center_tokens:g}, std {self.spread:g}{clip})"
        if self.kind == "lognormal":
            return f"lognormal(median {self.center_tokens:g}, sigma {self.spread:g}{clip})"
        return f"empirical({len(self.values)} values, mean {self.center_tokens:.1f})"

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """``n`` lengths drawn with ``rng``."""
        if not isinstance(n, int) or n < 0:
            raise InvalidParameterError("num_requests", n, "an integer >= 0")
        if self.kind == "fixed":
            out = np.full(n, int(self.center_tokens), dtype=np.int64)
        elif self.kind == "empirical":
            out = self.values[rng.integers(0, len(self.values), n)]
        elif self.kind == "lognormal":
            raw = self.center_tokens * np.exp(self.spread * rng.standard_normal(n))
            out = np.maximum(np.rint(raw), 1).astype(np.int64)
        else:  # normal, truncated at 1 by drawing again (acceptance >= 1/2: mean >= 1)
            raw = rng.normal(self.center_tokens, self.spread, n)
            low = raw < 1
            while low.any():
                raw[low] = rng.normal(self.center_tokens, self.spread, int(low.sum()))
                low = raw < 1
            out = np.maximum(np.rint(raw), 1).astype(np.int64)
        if self.max_tokens:
            out = np.minimum(out, self.max_tokens)
        return out


def read_lengths(path: str | Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Prompt and output lengths of every row of a CSV or JSONL file (arrival times ignored).

    Columns (or JSON keys): ``input_tokens``/``output_tokens``, Azure's
    ``ContextTokens``/``GeneratedTokens`` or Mooncake's ``input_length``/``output_length``.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidParameterError("lengths file", str(path), "a path to a CSV or JSONL file")
    inputs: list[float] = []
    outputs: list[float] = []
    suffix = file.suffix.lower()
    with file.open(newline="", encoding="utf-8") as handle:
        if suffix == ".csv":
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            pair = next((p for p in _LENGTH_COLUMNS if set(p) <= columns), None)
            if pair is None:
                raise _fail(file, 1, f"header {sorted(columns)} lacks any of {_LENGTH_COLUMNS}")
            for line, row in enumerate(reader, start=2):
                if None in row.values() or None in row:
                    raise _fail(file, line, "wrong number of fields")
                inputs.append(_number(file, line, pair[0], row[pair[0]], minimum=1))
                outputs.append(_number(file, line, pair[1], row[pair[1]], minimum=1))
        elif suffix in (".jsonl", ".json"):
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise _fail(file, line, f"not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise _fail(file, line, "not a JSON object")
                pair = next((p for p in _LENGTH_COLUMNS if set(p) <= set(row)), None)
                if pair is None:
                    raise _fail(file, line, f"needs one of the key pairs {_LENGTH_COLUMNS}")
                inputs.append(_number(file, line, pair[0], row[pair[0]], minimum=1))
                outputs.append(_number(file, line, pair[1], row[pair[1]], minimum=1))
        else:
            raise InvalidParameterError("lengths file", str(path), "a .csv or .jsonl file")
    if not inputs:
        raise InvalidParameterError("lengths file", str(path), "a file with at least one row")
    return np.asarray(inputs, dtype=np.int64), np.asarray(outputs, dtype=np.int64)


def parse_length_dist(text: str, name: str, *, column: str = "input") -> LengthDist:
    """Read ``N`` or ``fixed:N``, ``normal:MEAN:STD``, ``lognormal:MEDIAN:SIGMA`` or
    ``empirical:PATH`` (the ``column`` lengths, ``input`` or ``output``, of a CSV/JSONL file).

    ``name`` names the option in errors (e.g. ``--input-dist``).
    """
    allowed = "N, fixed:N, normal:MEAN:STD, lognormal:MEDIAN:SIGMA or empirical:PATH"
    kind, _, rest = text.strip().partition(":")
    if not rest and kind.isdigit():
        kind, rest = "fixed", kind
    if kind == "empirical":
        if not rest:
            raise InvalidParameterError(name, text, allowed)
        inputs, outputs = read_lengths(rest)
        return LengthDist.empirical(inputs if column == "input" else outputs, name=name)
    parts = rest.split(":") if rest else []
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterError(name, text, allowed) from None
    if kind == "fixed" and len(numbers) == 1:
        return LengthDist(kind="fixed", center_tokens=numbers[0], name=name)
    if kind in ("normal", "lognormal") and len(numbers) == 2:
        return LengthDist(kind=kind, center_tokens=numbers[0], spread=numbers[1], name=name)
    raise InvalidParameterError(name, text, allowed)


# --- diurnal arrivals -----------------------------------------------------------------------
DAY_S = 86_400.0
"""Seconds in a day."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DiurnalCurve:
    """A 24-hour profile of relative request rates, normalized to a daily mean of 1.

    Either a sinusoid, ``1 + a cos(2 pi (h - peak_hour) / 24)`` with ``a`` set by the
    peak-to-trough ratio ``R``: ``a = (R - 1) / (R + 1)``; or 24 hourly points (rates at hours
    0, 1, ..., 23), linear in between and wrapping from 23 h to 0 h.
    """

    peak_to_trough: float = 1.0
    peak_hour: float = 14.0
    """Sinusoid: the hour of the peak (an afternoon peak is a convention, not a measurement)."""
    hourly_rates: tuple[float, ...] = ()
    """Piecewise-linear profile: 24 relative rates (any positive scale)."""

    def __post_init__(self) -> None:
        if self.hourly_rates:
            if len(self.hourly_rates) != 24 or not all(r >= 0 for r in self.hourly_rates):
                raise InvalidParameterError(
                    "diurnal hourly_rates", self.hourly_rates, "24 relative rates >= 0"
                )
            if not sum(self.hourly_rates) > 0:
                raise InvalidParameterError(
                    "diurnal hourly_rates", self.hourly_rates, "at least one rate > 0"
                )
            return
        if not 1.0 <= self.peak_to_trough < math.inf:
            raise InvalidParameterError(
                "diurnal peak_to_trough", self.peak_to_trough, "a ratio >= 1 (1: flat)"
            )
        if not 0.0 <= self.peak_hour < 24.0:
            raise InvalidParameterError("diurnal peak_hour", self.peak_hour, "an hour in [0, 24)")

    def relative_rate(self, hour: NDArray[np.float64]) -> NDArray[np.float64]:
        """The rate at ``hour`` (any real; taken modulo 24) over the daily mean."""
        h = np.mod(np.asarray(hour, dtype=float), 24.0)
        if self.hourly_rates:
            points = np.asarray(self.hourly_rates, dtype=float)
            wrapped = np.append(points, points[0])
            out: NDArray[np.float64] = np.interp(h, np.arange(25.0), wrapped) / points.mean()
            return out
        a = (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)
        out = 1.0 + a * np.cos(2.0 * np.pi * (h - self.peak_hour) / 24.0)
        return out

    @property
    def peak_factor(self) -> float:
        """The largest relative rate (the thinning envelope)."""
        if self.hourly_rates:
            return max(self.hourly_rates) / (sum(self.hourly_rates) / 24.0)
        return 2.0 * self.peak_to_trough / (self.peak_to_trough + 1.0)

    def describe(self) -> str:
        """A short description."""
        if self.hourly_rates:
            return "diurnal (hourly profile)"
        return f"diurnal (peak/trough {self.peak_to_trough:g} at {self.peak_hour:g} h)"


def parse_diurnal(text: str, name: str = "--diurnal") -> DiurnalCurve:
    """Read ``PEAK_TO_TROUGH[:PEAK_HOUR]`` (e.g. ``3`` or ``3:20``)."""
    head, _, tail = text.strip().partition(":")
    try:
        ratio = float(head)
        hour = float(tail) if tail else DiurnalCurve().peak_hour
    except ValueError:
        raise InvalidParameterError(name, text, "PEAK_TO_TROUGH[:PEAK_HOUR], e.g. 3:14") from None
    if not ratio >= 1.0 or not 0.0 <= hour < 24.0:
        raise InvalidParameterError(name, text, "a ratio >= 1, then an hour in [0, 24)")
    return DiurnalCurve(peak_to_trough=ratio, peak_hour=hour)


def diurnal_arrivals(
    rate_per_s: float,
    curve: DiurnalCurve,
    num_requests: int,
    rng: np.random.Generator,
    *,
    day_s: float = DAY_S,
    start_hour: float = 0.0,
) -> NDArray[np.float64]:
    """Arrivals of a Poisson process whose rate follows ``curve`` (mean ``rate_per_s``).

    Lewis-Shedler thinning: candidates of a homogeneous process at the peak rate are kept with
    probability ``rate(t) / peak rate``. Time 0 is ``start_hour``; ``day_s`` compresses the
    24-hour curve (86,400 s is a real day). Times are on that clock, not shifted to the first
    arrival.
    """
    if not rate_per_s > 0:
        raise InvalidParameterError("request rate", rate_per_s, "requests per second > 0")
    if not isinstance(num_requests, int) or num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    if not 0 < day_s < math.inf:
        raise InvalidParameterError("day_s", day_s, "seconds > 0 (86400 is a real day)")
    if not 0.0 <= start_hour < 24.0:
        raise InvalidParameterError("start_hour", start_hour, "an hour in [0, 24)")
    peak = curve.peak_factor
    envelope = rate_per_s * peak
    kept: list[NDArray[np.float64]] = []
    count = 0
    t0 = 0.0
    while count < num_requests:
        chunk = max(64, int(1.2 * (num_requests - count) * peak) + 16)
        t = t0 + np.cumsum(rng.exponential(1.0 / envelope, chunk))
        t0 = float(t[-1])
        hour = start_hour + 24.0 * t / day_s
        keep = t[rng.random(chunk) * peak < curve.relative_rate(hour)]
        kept.append(keep)
        count += len(keep)
    return np.concatenate(kept)[:num_requests]


def batch_arrivals(
    rate_per_s: float, batch_size: int, num_requests: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Jobs of ``batch_size`` requests that arrive together; jobs are a Poisson process at
    ``rate_per_s / batch_size`` (the first at 0), so requests arrive at ``rate_per_s``."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidParameterError("batch_size", batch_size, "an integer >= 1")
    num_jobs = -(-num_requests // batch_size)
    jobs = poisson_arrivals(rate_per_s / batch_size, num_jobs, rng)
    return np.repeat(jobs, batch_size)[:num_requests]


# --- named archetypes -----------------------------------------------------------------------
def archetype_lengths(name: str) -> tuple[LengthDist, LengthDist]:
    """The catalog prompt and output length distributions of an independent archetype."""
    entry = get_workload_archetype(name)
    if entry.kind != "independent":
        raise InvalidParameterError(
            "archetype", name, "an archetype of independent requests (agent has sessions)"
        )
    dists = []
    for which, text, cap in (
        ("input", entry.input, entry.input_max_tokens),
        ("output", entry.output, entry.output_max_tokens),
    ):
        d = parse_length_dist(text, f"workload_archetypes.toml [{entry.id}].{which}")
        dists.append(replace(d, max_tokens=cap) if d.kind != "fixed" else d)
    return dists[0], dists[1]


def archetype_trace(
    name: str,
    num_requests: int,
    request_rate_per_s: float,
    seed: int = 0,
    *,
    input_dist: LengthDist | None = None,
    output_dist: LengthDist | None = None,
    burstiness_cv: float | None = None,
    batch_size: int | None = None,
    diurnal: DiurnalCurve | None = None,
    day_s: float = DAY_S,
    start_hour: float = 0.0,
    turn_input_tokens: int | None = None,
    output_tokens: int | None = None,
    turns_per_session: int | None = None,
    system_prompt_tokens: int | None = None,
    think_time_s: float | None = None,
) -> RequestTrace:
    """A request stream of the catalog archetype ``name`` (chat, code, rag, reasoning, agent,
    batch), its defaults replaced by the keyword arguments given.

    Lengths are drawn first, then arrivals, from one generator seeded with ``seed``. The
    archetype's arrivals (Poisson, Gamma of its CV, or batch jobs) give way to ``burstiness_cv``
    (Gamma gaps) or ``diurnal`` (a non-homogeneous Poisson process; not both). ``agent`` builds
    :func:`agent_trace` sessions and takes the session keywords only.
    """
    entry = get_workload_archetype(name)
    if not isinstance(num_requests, int) or num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    if not request_rate_per_s > 0:
        raise InvalidParameterError("request_rate_per_s", request_rate_per_s, "a rate > 0")
    if diurnal is not None and burstiness_cv is not None:
        raise InvalidParameterError(
            "diurnal", diurnal.describe(), "no burstiness_cv with it (diurnal load is Poisson)"
        )
    if entry.kind == "agent":
        for key, value in (
            ("input_dist", input_dist),
            ("output_dist", output_dist),
            ("burstiness_cv", burstiness_cv),
            ("batch_size", batch_size),
            ("diurnal", diurnal),
        ):
            if value is not None:
                raise InvalidParameterError(
                    key, value, "unset for agent (sessions: turn_input_tokens, output_tokens, ...)"
                )
        return agent_trace(
            num_requests,
            request_rate_per_s,
            entry.turn_input_tokens if turn_input_tokens is None else turn_input_tokens,
            entry.output_tokens if output_tokens is None else output_tokens,
            turns_per_session=entry.turns_per_session
            if turns_per_session is None
            else turns_per_session,
            system_prompt_tokens=entry.system_prompt_tokens
            if system_prompt_tokens is None
            else system_prompt_tokens,
            think_time_s=entry.think_time_s if think_time_s is None else think_time_s,
            seed=seed,
        )
    for key, value in (
        ("turn_input_tokens", turn_input_tokens),
        ("output_tokens", output_tokens),
        ("turns_per_session", turns_per_session),
        ("system_prompt_tokens", system_prompt_tokens),
        ("think_time_s", think_time_s),
    ):
        if value is not None:
            raise InvalidParameterError(key, value, f"unset: {name} has no agent sessions")
    default_in, default_out = archetype_lengths(entry.id)
    use_batch = burstiness_cv is None and diurnal is None and entry.arrival == "batch"
    return lengths_trace(
        num_requests,
        request_rate_per_s,
        input_dist or default_in,
        output_dist or default_out,
        burstiness_cv=entry.arrival_cv if burstiness_cv is None else burstiness_cv,
        batch_size=(entry.batch_size if batch_size is None else batch_size) if use_batch else 0,
        diurnal=diurnal,
        day_s=day_s,
        start_hour=start_hour,
        seed=seed,
        label=f"{entry.id} archetype",
    )


def lengths_trace(
    num_requests: int,
    request_rate_per_s: float,
    input_dist: LengthDist,
    output_dist: LengthDist,
    *,
    burstiness_cv: float = 1.0,
    batch_size: int = 0,
    diurnal: DiurnalCurve | None = None,
    day_s: float = DAY_S,
    start_hour: float = 0.0,
    seed: int = 0,
    label: str = "synthetic",
) -> RequestTrace:
    """Independent requests with lengths from two :class:`LengthDist` and arrivals that are
    diurnal (when ``diurnal`` is set), jobs of ``batch_size`` (when > 0), or Gamma gaps of
    CV ``burstiness_cv`` (1: Poisson). Lengths are drawn first, then arrivals, from one
    generator seeded with ``seed``."""
    if not isinstance(num_requests, int) or num_requests < 1:
        raise InvalidParameterError("num_requests", num_requests, "an integer >= 1")
    if not request_rate_per_s > 0:
        raise InvalidParameterError("request_rate_per_s", request_rate_per_s, "a rate > 0")
    rng = np.random.default_rng(seed)
    inputs = input_dist.sample(num_requests, rng)
    outputs = output_dist.sample(num_requests, rng)
    if diurnal is not None:
        arrivals = diurnal_arrivals(
            request_rate_per_s, diurnal, num_requests, rng, day_s=day_s, start_hour=start_hour
        )
        how = diurnal.describe()
    elif batch_size:
        arrivals = batch_arrivals(request_rate_per_s, batch_size, num_requests, rng)
        how = f"jobs of {batch_size}"
    else:
        arrivals = gamma_arrivals(request_rate_per_s, burstiness_cv, num_requests, rng)
        how = "Poisson" if burstiness_cv == 1.0 else f"Gamma gaps, CV {burstiness_cv:g}"
    return RequestTrace(
        arrival_s=arrivals,
        input_tokens=inputs,
        output_tokens=outputs,
        source=(
            f"{label} ({num_requests} requests at {request_rate_per_s:g}/s, {how}; "
            f"input {input_dist.describe()}, output {output_dist.describe()}; seed {seed})"
        ),
    )
