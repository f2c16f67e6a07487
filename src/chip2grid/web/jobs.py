"""Long runs (simulation and report) in background threads, with progress and cancellation.

A job goes ``queued -> running -> done | failed | cancelled``. Progress advances by stage
(resolve, evaluate, build the report); cancelling a queued job removes it at once, cancelling
a running one takes effect at the next stage boundary and its result is discarded. At most
``max_active`` jobs may be queued or running; finished jobs are kept (newest ``max_kept``) so
their report can be downloaded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from chip2grid.errors import Chip2GridError
from chip2grid.report import Report
from chip2grid.scenario import ScenarioResult

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL: tuple[JobStatus, ...] = ("done", "failed", "cancelled")


class TooManyJobsError(Chip2GridError):
    """Every job slot is taken; retry when one finishes."""


class JobCancelled(Exception):
    """Raised inside a job at a stage boundary once it was cancelled."""


@dataclass(slots=True, kw_only=True)
class Job:
    """One background run. Mutable: the worker updates it under the manager's lock."""

    id: str
    status: JobStatus = "queued"
    stage: str = "queued"
    progress_frac: float = 0.0
    error: str | None = None
    created_s: float = field(default_factory=time.time)
    finished_s: float | None = None
    cancel_requested: bool = False
    result: ScenarioResult | None = None
    report: Report | None = None
    payload: dict[str, Any] | None = None
    future: Future[None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as the API shows it (the payload only when done)."""
        return {
            "id": self.id,
            "status": self.status,
            "stage": self.stage,
            "progress_frac": self.progress_frac,
            "error": self.error,
            "created_s": self.created_s,
            "finished_s": self.finished_s,
            "result": self.payload if self.status == "done" else None,
        }


Progress = Callable[[str, float], None]
"""``progress(stage, frac)``: report a stage; raises :class:`JobCancelled` when cancelled."""
Work = Callable[[Progress], tuple[ScenarioResult, Report, dict[str, Any]]]


class JobManager:
    """A bounded pool of background jobs."""

    def __init__(self, *, max_workers: int = 2, max_active: int = 4, max_kept: int = 16) -> None:
        self.max_active = max_active
        self.max_kept = max_kept
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="c2g-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, work: Work) -> Job:
        """Queue ``work``; raises :class:`TooManyJobsError` when all slots are taken."""
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.status not in FINAL)
            if active >= self.max_active:
                raise TooManyJobsError(
                    f"{active} jobs are queued or running (at most {self.max_active}); "
                    "retry when one finishes or cancel one"
                )
            job = Job(id=uuid.uuid4().hex)
            self._jobs[job.id] = job
            self._evict()
        job.future = self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown (or evicted)."""
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop (at once if queued, at the next stage if running)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status in FINAL:
                return job
            job.cancel_requested = True
            if job.status == "queued" and job.future is not None and job.future.cancel():
                self._finish(job, "cancelled", "cancelled before it started")
        return job

    def shutdown(self) -> None:
        """Cancel queued jobs and stop the workers (running ones end at their next stage)."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel_requested = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _progress(self, job: Job) -> Progress:
        def progress(stage: str, frac: float) -> None:
            with self._lock:
                if job.cancel_requested:
                    raise JobCancelled
                job.stage = stage
                job.progress_frac = max(job.progress_frac, min(frac, 1.0))

        return progress

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            if job.cancel_requested:
                self._finish(job, "cancelled", "cancelled before it started")
                return
            job.status = "running"
            job.stage = "starting"
        try:
            result, report, payload = work(self._progress(job))
            self._progress(job)("done", 1.0)
        except JobCancelled:
            with self._lock:
                self._finish(job, "cancelled", "cancelled while running")
            return
        except Exception as exc:  # reported to the client, never lost
            with self._lock:
                job.error = f"{type(exc).__name__}: {exc}"
                self._finish(job, "failed", "failed")
            return
        with self._lock:
            job.result, job.report, job.payload = result, report, payload
            self._finish(job, "done", "done")

    def _finish(self, job: Job, status: JobStatus, stage: str) -> None:
        job.status = status
        job.stage = stage
        job.finished_s = time.time()
        if status == "done":
            job.progress_frac = 1.0

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in FINAL]
        for job in finished[: max(len(finished) - self.max_kept, 0)]:
            del self._jobs[job.id]
