"""Replicas behind a router that sees their state: each arrival goes where the policy says.

The cluster loop advances every replica's engine to the arrival time, asks the router for a
replica given what the engines report then (outstanding requests, cached prefix blocks), and
submits the request there. Routers, by their ``--router`` names:

- ``round-robin``: request ``i`` to replica ``i mod n`` (state-blind);
- ``least-outstanding``: the replica with the fewest requests queued or running (ties: the
  lowest index), as "least outstanding requests" load balancers do;
- ``prefix-aware``: the replica whose prefix cache holds the longest run of the request's
  leading blocks, ties by fewest outstanding (as SGLang's cache-aware router or llm-d's
  prefix-cache scorer favour cache hits); without prefix caching it is least-outstanding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.perf.timer import StepTimer
from chip2grid.serving.simulator import Engine, EngineConfig, SimulationResult
from chip2grid.serving.workload import RequestTrace

PROGRESS_EVERY = 1000
"""Requests routed between two progress reports."""


class Router(Protocol):
    """Picks the replica for one request from the engines' state at its arrival."""

    def choose(self, engines: Sequence[Engine], request: int, prefix_hashes: Sequence[int]) -> int:
        """Index of the engine that gets request ``request``."""
        ...


class RoundRobin:
    """Request ``i`` goes to replica ``i mod n``."""

    def choose(self, engines: Sequence[Engine], request: int, prefix_hashes: Sequence[int]) -> int:
        return request % len(engines)


class LeastOutstanding:
    """Fewest requests queued or running; ties go to the lowest index."""

    def choose(self, engines: Sequence[Engine], request: int, prefix_hashes: Sequence[int]) -> int:
        best, best_n = 0, engines[0].num_outstanding
        for k in range(1, len(engines)):
            n = engines[k].num_outstanding
            if n < best_n:
                best, best_n = k, n
        return best


class PrefixAware:
    """Longest cached prefix of the request; ties by fewest outstanding, then lowest index."""

    def choose(self, engines: Sequence[Engine], request: int, prefix_hashes: Sequence[int]) -> int:
        best, best_key = 0, (0, 0)
        for k, engine in enumerate(engines):
            key = (-engine.cached_prefix_blocks(prefix_hashes), engine.num_outstanding)
            if k == 0 or key < best_key:
                best, best_key = k, key
        return best


ROUTER_CLASSES: dict[str, type[Router]] = {
    "round-robin": RoundRobin,
    "least-outstanding": LeastOutstanding,
    "prefix-aware": PrefixAware,
}
ROUTERS = tuple(ROUTER_CLASSES)


def get_router(name: str) -> Router:
    """A router by its ``--router`` name."""
    try:
        return ROUTER_CLASSES[name]()
    except KeyError:
        raise InvalidParameterError("router", name, " or ".join(ROUTERS)) from None


def replicas_behind(
    timer: StepTimer,
    config: EngineConfig,
    trace: RequestTrace,
    num_replicas: int,
    router: str | Router,
    step_by_step: bool = False,
    draft_timer: StepTimer | None = None,
) -> tuple[Router, list[Engine]]:
    """The router policy and ``num_replicas`` fresh engines for ``trace`` (checked)."""
    if not isinstance(num_replicas, int) or num_replicas < 1:
        raise InvalidParameterError("num_replicas", num_replicas, "an integer >= 1")
    policy = get_router(router) if isinstance(router, str) else router
    engines = [
        Engine(
            timer,
            config,
            block_tokens=trace.block_tokens,
            step_by_step=step_by_step,
            draft_timer=draft_timer,
        )
        for _ in range(num_replicas)
    ]
    return policy, engines


def dispatch(
    policy: Router,
    engines: list[Engine],
    t: float,
    index: int,
    input_tokens: int,
    output_tokens: int,
    prefix_hashes: tuple[int, ...],
) -> int:
    """Bring every engine to time ``t``, let ``policy`` choose one and submit request ``index``
    there; the replica chosen. A choice outside the replicas is a named error."""
    for engine in engines:  # no-op for busy engines: their clocks are at t or later
        engine.advance_to(t)
    k = policy.choose(engines, index, prefix_hashes)
    if not 0 <= k < len(engines):
        raise InvalidParameterError("router choice", k, f"a replica index in 0..{len(engines) - 1}")
    engines[k].submit(t, input_tokens, output_tokens, prefix_hashes)
    return k


def simulate_cluster(
    timer: StepTimer,
    config: EngineConfig,
    trace: RequestTrace,
    num_replicas: int,
    router: str | Router,
    *,
    step_by_step: bool = False,
    draft_timer: StepTimer | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[SimulationResult], list[NDArray[np.int64]]]:
    """Route ``trace`` across ``num_replicas`` engines; their results and the trace indices
    each one served (in its result order)."""
    policy, engines = replicas_behind(
        timer, config, trace, num_replicas, router, step_by_step, draft_timer
    )
    n = trace.num_requests
    arrivals: list[float] = trace.arrival_s.tolist()
    inputs: list[int] = trace.input_tokens.tolist()
    outputs: list[int] = trace.output_tokens.tolist()
    hashes = trace.prefix_hashes
    assigned = np.empty(n, dtype=np.int64)
    for i in range(n):
        h = hashes[i] if hashes else ()
        assigned[i] = dispatch(policy, engines, arrivals[i], i, inputs[i], outputs[i], h)
        if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1, n)
    results = [engine.finish() for engine in engines]
    if progress is not None:
        progress(n, n)
    return results, [np.flatnonzero(assigned == k) for k in range(num_replicas)]
