"""A closed loop of users: each sends its next request a think time after its previous one
completes, so the load follows the engine's speed (as a benchmark at fixed concurrency does).

The loop drives the engines' incremental API (:class:`~chip2grid.serving.simulator.Engine`):
a request is submitted when its user is ready; a busy engine is advanced one step at a time,
always the one whose clock is earliest, and the drop in its outstanding requests tells how
many completed at the end of that step. A request is sent only once every busy engine's clock
has reached its send time, so every completion before it has been seen: the loop is exact to
the step. (A request too large for the KV cache is rejected when the engine first sees it; its
user gets the answer at the end of that step.)

The requests' lengths (and prefix hashes) come from a trace, in its order; its arrival times
are not used. Think times are exponential of mean ``think_time_s`` (0: none); each user starts
with one, so the users do not all send at time 0.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import ServerPower
from chip2grid.perf import Calibration, Deployment
from chip2grid.perf.timer import StepTimer
from chip2grid.serving.cluster import PROGRESS_EVERY, ROUTERS, Router, dispatch, replicas_behind
from chip2grid.serving.simulate import ServingResult, simulation_setup, timeline_energy_j
from chip2grid.serving.simulator import EngineConfig, SimulationResult
from chip2grid.serving.workload import RequestTrace

__all__ = [
    "ClosedLoop",
    "ClosedLoopResult",
    "ClosedLoopRun",
    "run_closed_loop",
    "simulate_closed_loop",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoop:
    """``num_users`` users, each thinking an exponential time of mean ``think_time_s``
    between the completion of one request and the sending of the next."""

    num_users: int
    think_time_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.num_users, int) or self.num_users < 1:
            raise InvalidParameterError("num_users", self.num_users, "an integer >= 1")
        if not 0.0 <= self.think_time_s < math.inf:
            raise InvalidParameterError("think_time_s", self.think_time_s, "seconds >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoopRun:
    """What the loop did: per replica its results and the trace index of each request it
    served; per trace request the think time that preceded its sending."""

    results: tuple[SimulationResult, ...]
    indices: tuple[NDArray[np.int64], ...]
    think_s: NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoopResult:
    """A simulated deployment under a closed loop: the serving result and the loop's think
    times (per trace request, the think that preceded it)."""

    serving: ServingResult
    loop: ClosedLoop
    think_s: NDArray[np.float64]

    def summary(
        self, ttft_slo_s: float | None = None, tpot_slo_s: float | None = None
    ) -> dict[str, object]:
        """The serving summary plus the loop's users, think times and Little's law check."""
        out = self.serving.summary(ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s)
        e2e = self.serving.e2e_latency_s
        done = np.isfinite(e2e)
        duration = self.serving.duration_s
        rate = float(done.sum()) / duration if duration else 0.0
        cycle = float(np.mean(e2e[done])) + float(np.mean(self.think_s)) if done.any() else 0.0
        out["closed_loop"] = {
            "num_users": self.loop.num_users,
            "think_time_s": self.loop.think_time_s,
            "mean_think_s": float(np.mean(self.think_s)) if len(self.think_s) else 0.0,
            "littles_law_users": rate * cycle,
        }
        return out


def run_closed_loop(
    timer: StepTimer,
    config: EngineConfig,
    trace: RequestTrace,
    loop: ClosedLoop,
    *,
    num_replicas: int = 1,
    router: str | Router = "round-robin",
    seed: int = 0,
    step_by_step: bool = False,
    draft_timer: StepTimer | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ClosedLoopRun:
    """Serve ``trace``'s requests (in order) to ``loop.num_users`` users on ``num_replicas``
    engines behind ``router``; think times are drawn from a generator seeded with ``seed``."""
    policy, engines = replicas_behind(
        timer, config, trace, num_replicas, router, step_by_step, draft_timer
    )
    rng = np.random.default_rng(seed)
    mean_think = loop.think_time_s

    def think() -> float:
        return float(rng.exponential(mean_think)) if mean_think > 0 else 0.0

    n = trace.num_requests
    inputs: list[int] = trace.input_tokens.tolist()
    outputs: list[int] = trace.output_tokens.tolist()
    hashes = trace.prefix_hashes
    think_s = np.zeros(n)
    assigned = np.empty(n, dtype=np.int64)
    ready: list[tuple[float, int, float]] = []  # (send time, tie-break, think before it)
    seq = 0
    for _ in range(loop.num_users):
        z = think()
        heapq.heappush(ready, (z, seq, z))
        seq += 1
    last_submit = [-math.inf] * num_replicas
    sent = 0
    while True:
        t_next = ready[0][0] if ready and sent < n else math.inf
        busy = -1
        clock = math.inf
        for k, engine in enumerate(engines):
            if engine.num_outstanding:
                c = max(engine.now_s, last_submit[k])
                if c < clock:
                    busy, clock = k, c
        if busy >= 0 and clock < t_next:  # one step of the earliest busy engine
            engine = engines[busy]
            before = engine.num_outstanding
            engine.advance_to(math.nextafter(clock, math.inf))
            t_done = engine.now_s
            for _ in range(before - engine.num_outstanding):
                z = think()
                heapq.heappush(ready, (t_done + z, seq, z))
                seq += 1
            continue
        if t_next == math.inf:
            break
        t, _, z = heapq.heappop(ready)
        h = hashes[sent] if hashes else ()
        k = dispatch(policy, engines, t, sent, inputs[sent], outputs[sent], h)
        last_submit[k] = t
        assigned[sent] = k
        think_s[sent] = z
        sent += 1
        if progress is not None and sent % PROGRESS_EVERY == 0:
            progress(sent, n)
    results = tuple(engine.finish() for engine in engines)
    if progress is not None:
        progress(n, n)
    return ClosedLoopRun(
        results=results,
        indices=tuple(np.flatnonzero(assigned == k) for k in range(num_replicas)),
        think_s=think_s,
    )


def simulate_closed_loop(
    deployment: Deployment,
    trace: RequestTrace,
    loop: ClosedLoop,
    *,
    config: EngineConfig | None = None,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
    router: str = "round-robin",
    seed: int = 0,
    step_by_step: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ClosedLoopResult:
    """Simulate ``deployment`` (all its replicas behind ``router``) serving ``trace``'s
    requests to a closed loop of users; step times and energy as in
    :func:`chip2grid.serving.simulate`."""
    if router not in ROUTERS:
        raise InvalidParameterError("router", router, " or ".join(ROUTERS))
    config, calibration, server, timer, draft_timer = simulation_setup(
        deployment, trace, config, calibration, server
    )
    run = run_closed_loop(
        timer,
        config,
        trace,
        loop,
        num_replicas=deployment.num_replicas,
        router=router,
        seed=seed,
        step_by_step=step_by_step,
        draft_timer=draft_timer,
        progress=progress,
    )
    acc_j = sys_j = 0.0
    for res in run.results:
        a, s = timeline_energy_j(deployment, calibration, res, server)
        acc_j += a
        sys_j += s
    serving = ServingResult.of_pool(
        deployment,
        config,
        calibration,
        run.results,
        (acc_j, sys_j),
        router=router,
        request_indices=run.indices,
        step_by_step=step_by_step,
    )
    return ClosedLoopResult(serving=serving, loop=loop, think_s=run.think_s)
