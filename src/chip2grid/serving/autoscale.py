"""Replicas added and removed while the load changes, each new one ready only after a delay.

Every ``interval_s`` the autoscaler reads a metric over the replicas serving traffic and asks
for ``desired = ceil(metric_total / target)`` replicas, between ``min_replicas`` and
``max_replicas`` (as Kubernetes' horizontal pod autoscaler and KServe/Knative do):

- ``metric="outstanding"``: requests queued or running, ``target`` per replica;
- ``metric="busy"``: the busy fraction of the ready replicas over the last interval,
  ``desired = ceil(ready * busy_frac / target)`` with ``target`` in (0, 1].

More replicas than it has (ready or provisioning): it launches the difference; each new replica
starts empty ``scale_up_delay_s`` later (120 s is typical of a GPU node pulling a model).
Fewer, for ``scale_down_cooldown_s`` in a row: it first cancels provisioning replicas, then stops
routing to the ready replicas with the fewest outstanding requests, which leave once they have
finished them. Requests go to the ready, non-draining replica with the fewest outstanding
requests; while none is ready they queue on the replica that will be ready first.

A replica is paid for from its launch to its release (``replica_seconds``); it draws idle power
while provisioning and between steps (the ``idle_accelerator_energy_j``). After the last arrival
the autoscaler stops and every replica left is held until the last completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import ServerPower
from chip2grid.perf import Calibration, Deployment
from chip2grid.serving.disagg import _calibration, pool_energy_j
from chip2grid.serving.simulate import ServingResult, engine_config_for, step_timers
from chip2grid.serving.simulator import Engine, EngineConfig, percentiles
from chip2grid.serving.workload import RequestTrace

__all__ = ["METRICS", "AutoscalePolicy", "AutoscaleResult", "simulate_autoscaled"]

METRICS = ("outstanding", "busy")


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoscalePolicy:
    """When to add and remove replicas (see module notes)."""

    metric: str = "outstanding"
    target: float = 16.0
    min_replicas: int = 1
    max_replicas: int = 8
    initial_replicas: int | None = None
    """Replicas ready at the start (``min_replicas`` when ``None``)."""
    interval_s: float = 15.0
    scale_up_delay_s: float = 120.0
    scale_down_cooldown_s: float = 300.0

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InvalidParameterError("metric", self.metric, " or ".join(METRICS))
        if not self.target > 0 or (self.metric == "busy" and self.target > 1):
            raise InvalidParameterError(
                "target", self.target, "> 0 (outstanding) or a fraction in (0, 1] (busy)"
            )
        if not isinstance(self.min_replicas, int) or self.min_replicas < 1:
            raise InvalidParameterError("min_replicas", self.min_replicas, "an integer >= 1")
        if not isinstance(self.max_replicas, int) or self.max_replicas < self.min_replicas:
            raise InvalidParameterError(
                "max_replicas",
                self.max_replicas,
                f"an integer >= min_replicas ({self.min_replicas})",
            )
        start = self.initial_replicas
        if start is not None and not self.min_replicas <= start <= self.max_replicas:
            raise InvalidParameterError(
                "initial_replicas", start, f"{self.min_replicas}..{self.max_replicas}"
            )
        for name in ("interval_s", "scale_up_delay_s", "scale_down_cooldown_s"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)) or (name == "interval_s" and value == 0):
                raise InvalidParameterError(name, value, "seconds >= 0 (interval > 0)")


@dataclass(slots=True)
class _Replica:
    engine: Engine
    launched_s: float
    ready_s: float
    released_s: float = math.inf
    draining: bool = False
    requests: list[int] = field(default_factory=list)
    busy_mark_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoscaleResult:
    """The replicas' results (``serving``; one per replica ever launched) and their lives."""

    serving: ServingResult
    policy: AutoscalePolicy
    launched_s: NDArray[np.float64]
    ready_s: NDArray[np.float64]
    released_s: NDArray[np.float64]
    ttft_s: NDArray[np.float64]
    """Per request, in trace order."""
    arrival_s: NDArray[np.float64]
    idle_accelerator_energy_j: float

    @property
    def replica_seconds(self) -> float:
        """Launch to release, summed over replicas (provisioning included)."""
        return float(np.sum(self.released_s - self.launched_s))

    def replica_counts(
        self, times_s: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Replicas ready and replicas provisioning at each of ``times_s``."""
        t = np.asarray(times_s, dtype=float)[:, None]
        ready = (self.ready_s <= t) & (t < self.released_s)
        prov = (self.launched_s <= t) & (t < np.minimum(self.ready_s, self.released_s))
        return ready.sum(axis=1).astype(np.int64), prov.sum(axis=1).astype(np.int64)

    def ttft_p99_by_window(self, edges_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """p99 TTFT of the requests arriving in each window ``[edges[k], edges[k+1])``."""
        e = np.asarray(edges_s, dtype=float)
        out = np.full(len(e) - 1, math.nan)
        for k in range(len(e) - 1):
            sel = (self.arrival_s >= e[k]) & (self.arrival_s < e[k + 1])
            v = self.ttft_s[sel]
            v = v[np.isfinite(v)]
            if len(v):
                out[k] = float(np.percentile(v, 99))
        return out

    def summary(self) -> dict[str, object]:
        """:meth:`ServingResult.summary` plus the replicas' lives."""
        out = self.serving.summary()
        out["ttft_s"] = percentiles(self.ttft_s)
        out.update(
            {
                "num_replicas_launched": len(self.launched_s),
                "max_replicas_at_once": int(np.max(self.replica_counts(np.sort(self.ready_s))[0]))
                if len(self.ready_s)
                else 0,
                "replica_seconds": self.replica_seconds,
                "idle_accelerator_energy_j": self.idle_accelerator_energy_j,
                "autoscale": {
                    "metric": self.policy.metric,
                    "target": self.policy.target,
                    "min_replicas": self.policy.min_replicas,
                    "max_replicas": self.policy.max_replicas,
                    "interval_s": self.policy.interval_s,
                    "scale_up_delay_s": self.policy.scale_up_delay_s,
                    "scale_down_cooldown_s": self.policy.scale_down_cooldown_s,
                },
            }
        )
        return out


class _Autoscaler:
    """The state of one autoscaled run."""

    def __init__(
        self, deployment: Deployment, config: EngineConfig, cal: Calibration, trace: RequestTrace
    ) -> None:
        self.timer, self.draft = step_timers(deployment, config, cal)
        self.config, self.block_tokens = config, trace.block_tokens
        self.replicas: list[_Replica] = []
        self.below_since: float | None = None

    def launch(self, now: float, ready: float) -> None:
        engine = Engine(
            self.timer, self.config, block_tokens=self.block_tokens, draft_timer=self.draft
        )
        self.replicas.append(_Replica(engine=engine, launched_s=now, ready_s=ready))

    def live(self) -> list[_Replica]:
        return [r for r in self.replicas if r.released_s == math.inf]

    def advance(self, t: float) -> None:
        for r in self.live():
            r.engine.advance_to(t)
            if r.draining and r.engine.num_outstanding == 0:
                r.released_s = max(t, r.engine.now_s) if r.requests else t

    def evaluate(self, t: float, policy: AutoscalePolicy) -> None:
        self.advance(t)
        serving = [r for r in self.live() if not r.draining]
        ready = [r for r in serving if r.ready_s <= t]
        if policy.metric == "outstanding":
            load = sum(r.engine.num_outstanding for r in self.live())
            desired = math.ceil(load / policy.target)
        else:
            busy = 0.0
            for r in ready:
                now_busy = r.engine.busy_s
                busy += now_busy - r.busy_mark_s
                r.busy_mark_s = now_busy
            frac = min(busy / (policy.interval_s * len(ready)), 1.0) if ready else 1.0
            desired = math.ceil(max(len(ready), 1) * frac / policy.target)
        desired = min(max(desired, policy.min_replicas), policy.max_replicas)
        have = len(serving)
        if desired > have:
            for _ in range(desired - have):
                self.launch(t, t + policy.scale_up_delay_s)
            self.below_since = None
        elif desired < have:
            if self.below_since is None:
                self.below_since = t
            if t - self.below_since >= policy.scale_down_cooldown_s:
                self.scale_down(t, have - desired, serving)
                self.below_since = None
        else:
            self.below_since = None

    def scale_down(self, t: float, count: int, serving: list[_Replica]) -> None:
        provisioning = sorted((r for r in serving if r.ready_s > t), key=lambda r: -r.launched_s)
        ready = sorted(
            (r for r in serving if r.ready_s <= t), key=lambda r: r.engine.num_outstanding
        )
        for r in (provisioning + ready)[:count]:
            r.draining = True
            if r.ready_s > t or r.engine.num_outstanding == 0:
                r.released_s = t

    def route(self, t: float) -> _Replica:
        serving = [r for r in self.live() if not r.draining]
        ready = [r for r in serving if r.ready_s <= t]
        if ready:
            return min(ready, key=lambda r: r.engine.num_outstanding)
        return min(serving, key=lambda r: (r.ready_s, r.engine.num_outstanding))


def simulate_autoscaled(
    deployment: Deployment,
    trace: RequestTrace,
    policy: AutoscalePolicy,
    *,
    config: EngineConfig | None = None,
    calibration: Calibration | None = None,
    server: ServerPower | None = None,
) -> AutoscaleResult:
    """Serve ``trace`` with replicas of ``deployment``'s instance under ``policy``.

    ``deployment`` gives one replica's layout (its ``num_replicas`` is ignored).
    """
    cal = _calibration(deployment, calibration)
    config = config or engine_config_for(deployment)
    server = server or ServerPower()
    n = trace.num_requests
    if not n:
        raise InvalidParameterError("trace", trace.source, "at least one request")
    cal.check_coverage(
        gemm_m_tokens=[1.0, float(config.max_num_batched_tokens)],
        context_tokens=float(np.max(trace.input_tokens + trace.output_tokens)),
    )
    state = _Autoscaler(deployment, config, cal, trace)
    t0 = float(trace.arrival_s[0])
    for _ in range(policy.initial_replicas or policy.min_replicas):
        state.launch(t0, t0)
    arrivals: list[float] = trace.arrival_s.tolist()
    inputs: list[int] = trace.input_tokens.tolist()
    outputs: list[int] = trace.output_tokens.tolist()
    hashes = trace.prefix_hashes
    next_eval = t0 + policy.interval_s
    for i in range(n):
        t = arrivals[i]
        while next_eval <= t:
            state.evaluate(next_eval, policy)
            next_eval += policy.interval_s
        state.advance(t)
        replica = state.route(t)
        at = max(t, replica.ready_s)  # queued until the replica is up
        replica.engine.submit(at, inputs[i], outputs[i], hashes[i] if hashes else ())
        replica.requests.append(i)
    results = [r.engine.finish() for r in state.replicas]
    done = [float(np.nanmax(res.finish_s)) for res in results if (~res.rejected).any()]
    t_end = max(done) if done else arrivals[-1]
    for r, res in zip(state.replicas, results, strict=True):
        if r.released_s == math.inf:
            r.released_s = t_end
        elif r.requests and (~res.rejected).any():  # drained: left after its last token
            r.released_s = max(r.released_s, float(np.nanmax(res.finish_s)))
    launched = np.array([r.launched_s for r in state.replicas])
    ready = np.array([r.ready_s for r in state.replicas])
    released = np.array([r.released_s for r in state.replicas])
    spans = (released - launched).tolist()
    acc_j, sys_j = pool_energy_j(deployment, cal, results, server, spans)
    idle_w = float(deployment.accelerator.idle_power_w) * deployment.instance_size
    busy = np.array([float(res.timeline.duration_s.sum()) for res in results])
    idle_j = float(np.sum(idle_w * np.maximum(np.asarray(spans) - busy, 0.0)))
    indices = tuple(np.asarray(r.requests, dtype=np.int64) for r in state.replicas)
    ttft = np.full(n, math.nan)
    for res, idx in zip(results, indices, strict=True):
        ttft[idx] = res.first_token_s - trace.arrival_s[idx]  # from the true arrival
    serving = ServingResult.of_pool(
        deployment,
        config,
        cal,
        results,
        (acc_j, sys_j),
        router="least-outstanding",
        request_indices=indices,
    )
    return AutoscaleResult(
        serving=serving,
        policy=policy,
        launched_s=launched,
        ready_s=ready,
        released_s=released,
        ttft_s=ttft,
        arrival_s=trace.arrival_s.astype(float),
        idle_accelerator_energy_j=idle_j,
    )
