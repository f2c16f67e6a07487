"""New estimates computed off the server's event loop, in worker processes.

An estimate is about 0.1 s of pure-Python CPU. Run in a thread of the server, it holds the
GIL, and the event loop (which answers cached estimates, pages and job polls in a
millisecond or two) waits up to the interpreter's switch interval for the GIL at every turn;
with a few new scenarios arriving at once, cached answers queued behind them for hundreds of
milliseconds. A worker process has its own interpreter, so the loop keeps serving while a
new scenario is computed, and two workers use both cores of a small machine.

Workers are started with ``spawn`` (no fork of a threaded server) and import the package
when the server starts, not on the first request.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from chip2grid.scenario import Scenario
from chip2grid.web.service import (
    ErrorParts,
    FieldError,
    encode_payload,
    error_parts,
    estimate_payload,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedEstimate:
    """An estimate payload and its JSON bytes (what a cached answer sends as is)."""

    payload: dict[str, Any]
    json_bytes: bytes


def encoded_estimate(scenario: Scenario) -> EncodedEstimate:
    """Compute the estimate of ``scenario`` here and encode it once."""
    payload = estimate_payload(scenario)
    return EncodedEstimate(payload=payload, json_bytes=encode_payload(payload))


def _estimate_in_worker(scenario: Scenario) -> tuple[EncodedEstimate | None, ErrorParts | None]:
    """Worker side: the estimate, or how its error reads as a 422 (exceptions of the model
    do not all survive pickling, their 422 form does)."""
    try:
        return encoded_estimate(scenario), None
    except Exception as exc:
        parts = error_parts(exc)
        if parts is None:
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
        return None, parts


def _warm_up() -> EncodedEstimate:
    """Import the model and load its catalogs in a worker; the default scenario's estimate."""
    return encoded_estimate(Scenario())


class EstimateWorkers:
    """A pool of ``num_processes`` worker processes computing estimates.

    Parameters
    ----------
    num_processes
        Worker processes (at least 1).
    """

    def __init__(self, num_processes: int) -> None:
        self.num_processes = num_processes
        self._pool = ProcessPoolExecutor(
            max_workers=num_processes, mp_context=multiprocessing.get_context("spawn")
        )
        self.warm_up: list[Future[EncodedEstimate]] = [
            self._pool.submit(_warm_up) for _ in range(num_processes)
        ]
        """One warm-up per worker (each returns the default scenario's estimate)."""

    def estimate(self, scenario: Scenario) -> EncodedEstimate:
        """The estimate of ``scenario`` (blocks the calling thread, not the GIL).

        Raises
        ------
        FieldError
            Where the scenario is at fault, as the server would have raised it.
        """
        encoded, parts = self._pool.submit(_estimate_in_worker, scenario).result()
        if parts is not None:
            raise FieldError(*parts)
        assert encoded is not None  # a worker returns exactly one of the two
        return encoded

    def shutdown(self) -> None:
        """Stop the workers (pending estimates are cancelled, running ones finish)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
