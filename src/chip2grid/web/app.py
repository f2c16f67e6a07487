"""The FastAPI application: the dashboard page, its JSON API and plotly.js from the package.

Build it with :func:`create_app`; ``chip2grid serve`` runs it with uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from chip2grid.catalog import load_table
from chip2grid.errors import InfeasibleError, InvalidParameterError, UnknownEntryError
from chip2grid.report import Report, plotly_js, render_html
from chip2grid.scenario import (
    PACKAGED_TRACES,
    Scenario,
    ScenarioResult,
    builtin_scenario_text,
    list_scenarios,
    load_scenario,
)
from chip2grid.web.jobs import Job, JobManager, Progress, TooManyJobsError
from chip2grid.web.security import LOOPBACK_NAMES, MAX_BODY_BYTES, BodySizeLimit
from chip2grid.web.service import (
    CompareRequest,
    EvaluateRequest,
    FieldError,
    ResultCache,
    compare_payload,
    error_parts,
    evaluation_payload,
    full_evaluation,
    resolve,
    scenario_key,
    strict_arithmetic,
)
from chip2grid.web.workers import EncodedEstimate, EstimateWorkers, encoded_estimate

CATALOG_KINDS = {
    "accelerators": "accelerators",
    "models": "models",
    "engines": "engines",
    "regions": "regions",
    "cooling": "cooling",
    "energy-sources": "energy_sources",
    "platforms": "platforms",
}
"""``/api/catalog/{kind}`` names and the catalog table each reads."""
PRECISIONS = ("bf16", "fp16", "fp8", "int8", "fp4", "int4")
PLOTLY_CACHE_S = 86_400


class NotFound(Exception):
    """A name the API does not know (404)."""

    def __init__(self, kind: str, name: str, valid: list[str] | None = None) -> None:
        self.kind, self.name, self.valid = kind, name, valid or []
        super().__init__(f"unknown {kind} {name!r}")


def _error(loc: list[str | int], msg: str, value: Any) -> JSONResponse:
    detail = [
        {"loc": loc, "msg": msg, "input": jsonable_encoder(value, custom_encoder={object: str})}
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _parts_error(exc: Exception) -> JSONResponse:
    parts = error_parts(exc)
    assert parts is not None  # only registered for the error types error_parts maps
    loc, message, value = parts
    return _error(list(loc), message, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticBundle:
    """A static asset held in memory: its bytes, gzipped bytes and a content hash (ETag)."""

    raw: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, raw: bytes) -> StaticBundle:
        digest = hashlib.sha256(raw).hexdigest()[:32]
        return cls(raw=raw, gzipped=gzip.compress(raw, 6, mtime=0), etag=f'"{digest}"')

    def response(self, request: Request, media_type: str, max_age_s: int) -> Response:
        """304 when the browser holds this version, else the (gzipped if accepted) bytes."""
        headers = {
            "Cache-Control": f"public, max-age={max_age_s}",
            "ETag": self.etag,
            "Vary": "Accept-Encoding",
        }
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=media_type, headers=headers)
        return Response(self.raw, media_type=media_type, headers=headers)


@functools.cache
def plotly_bundle_bytes() -> StaticBundle:
    """plotly.js of the installed plotly package, read and compressed once per process."""
    return StaticBundle.of(plotly_js().encode())


@functools.cache
def catalog_entries(kind: str) -> list[dict[str, Any]]:
    """Id, name and source of every entry of one catalog table."""
    table = load_table(CATALOG_KINDS[kind])
    return [
        {
            "id": key,
            "name": str(entry.get("name", key)),
            "source": str(entry.get("source", "")),
            "estimate": bool(entry.get("estimate", False)),
        }
        for key, entry in table.items()
        if isinstance(entry, dict) or hasattr(entry, "get")
    ]


def create_app(
    *,
    allowed_hosts: list[str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_jobs: int = 4,
    job_workers: int = 2,
    estimate_processes: int = 0,
) -> FastAPI:
    """The dashboard and its API.

    Parameters
    ----------
    allowed_hosts
        ``Host`` headers accepted (a guard against DNS rebinding); default the loopback names
        (and ``testserver`` for tests); ``["*"]`` for any.
    max_body_bytes
        Larger request bodies get 413.
    max_jobs
        Background jobs queued or running at once (more get 429).
    job_workers
        Threads running background jobs.
    estimate_processes
        Worker processes computing new estimates off the event loop (see
        :mod:`chip2grid.web.workers`); 0 computes them in threads of the server, as tests do.
        Started with the app's lifespan.
    """
    jobs = JobManager(max_workers=job_workers, max_active=max_jobs)
    workers: list[EstimateWorkers] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if estimate_processes > 0:
            pool = EstimateWorkers(estimate_processes)
            workers.append(pool)
            # Listen once every worker has imported the model (a few seconds), so the first
            # users do not wait for it; the default scenario's estimate is then cached.
            warm = await asyncio.gather(*(asyncio.wrap_future(f) for f in pool.warm_up))
            estimates.get(scenario_key(resolve(Scenario())), lambda: warm[0])
        try:
            yield
        finally:
            jobs.shutdown()
            for pool in workers:
                pool.shutdown()
            workers.clear()

    app = FastAPI(
        lifespan=lifespan,
        title="chip2grid",
        summary="AI inference from chip to grid: evaluate scenarios, compare, report.",
        version="1",
    )
    estimates: ResultCache[EncodedEstimate] = ResultCache(256)
    evaluations: ResultCache[tuple[ScenarioResult, Report]] = ResultCache(16)
    app.state.jobs = jobs
    templates = Jinja2Templates(directory=str(resources.files(__package__).joinpath("templates")))
    static_dir = resources.files(__package__).joinpath("static")
    hosts = allowed_hosts or [*LOOPBACK_NAMES, "testserver"]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    for error_type in (FieldError, UnknownEntryError, InvalidParameterError, InfeasibleError):
        app.add_exception_handler(error_type, _unprocessable)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        detail = f"{exc}; known: {', '.join(exc.valid)}" if exc.valid else str(exc)
        return JSONResponse({"detail": detail}, status_code=404)

    @app.exception_handler(TooManyJobsError)
    async def too_many(request: Request, exc: TooManyJobsError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429)

    def estimated(scenario: Scenario) -> EncodedEstimate:
        """The estimate of a resolved scenario: cached, else computed once (in a worker
        process when there are any) for all concurrent callers. Blocks: call in a thread."""
        compute = workers[0].estimate if workers else encoded_estimate
        return estimates.get(scenario_key(scenario), lambda: compute(scenario))

    def evaluated(scenario: Scenario, simulate: bool) -> tuple[ScenarioResult, Report]:
        return evaluations.get(
            scenario_key(scenario, simulate), lambda: full_evaluation(scenario, simulate)
        )

    # ---- pages -----------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request) -> HTMLResponse:
        options = {
            kind: [e["id"] for e in catalog_entries(kind)]
            for kind in (
                "accelerators",
                "models",
                "engines",
                "regions",
                "cooling",
                "energy-sources",
            )
        }
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "scenarios": list_scenarios(),
                "options": options,
                "precisions": PRECISIONS,
                "traces": list(PACKAGED_TRACES),
            },
        )

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_bundle(request: Request) -> Response:
        return plotly_bundle_bytes().response(request, "application/javascript", PLOTLY_CACHE_S)

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    # ---- scenarios and catalogs --------------------------------------------------------
    @app.get("/api/scenarios", tags=["scenarios"])
    def scenarios() -> list[dict[str, str]]:
        """The built-in scenarios: name and description."""
        return [
            {"name": n, "description": load_scenario(n).description.strip()}
            for n in list_scenarios()
        ]

    @app.get("/api/scenarios/{name}", tags=["scenarios"])
    def scenario(name: str) -> dict[str, Any]:
        """One built-in scenario as data, and its commented YAML (names only, never paths)."""
        if name not in list_scenarios():
            raise NotFound("scenario", name, list_scenarios())
        return {"scenario": load_scenario(name).to_dict(), "yaml": builtin_scenario_text(name)}

    @app.get("/api/catalog/{kind}", tags=["catalog"])
    def catalog(kind: str) -> list[dict[str, Any]]:
        """Id, name and source of every entry of a catalog: accelerators, models, engines,
        regions, cooling, energy-sources, platforms."""
        if kind not in CATALOG_KINDS:
            raise NotFound("catalog", kind, sorted(CATALOG_KINDS))
        return catalog_entries(kind)

    # ---- evaluation --------------------------------------------------------------------
    @app.post("/api/estimate", tags=["evaluate"], response_model=dict[str, Any])
    async def estimate(body: EvaluateRequest) -> Response:
        """The fast path: capacity, steady state at the offered load and cost; no charts,
        no simulation (``simulate`` is ignored). Cached by scenario.

        A cached answer is served on the event loop as JSON encoded once (checking the
        scenario takes a fraction of a millisecond); a new one is computed off the loop.
        """
        resolved = resolve(body.scenario)
        cached = estimates.peek(scenario_key(resolved))
        if cached is None:
            cached = await run_in_threadpool(estimated, resolved)
        return Response(cached.json_bytes, media_type="application/json")

    @app.post("/api/evaluate", tags=["evaluate"])
    def evaluate_scenario(body: EvaluateRequest) -> dict[str, Any]:
        """Evaluate a scenario (simulated if asked): metrics, chart data and tables."""
        resolved = resolve(body.scenario)
        return evaluation_payload(*evaluated(resolved, body.simulate))

    @app.post("/api/report", tags=["evaluate"], response_class=HTMLResponse)
    def report(body: EvaluateRequest) -> HTMLResponse:
        """The self-contained HTML report of a scenario, as a download."""
        resolved = resolve(body.scenario)
        _, rep = evaluated(resolved, body.simulate)
        return _html_download(rep)

    @app.post("/api/compare", tags=["evaluate"])
    def compare(body: CompareRequest) -> dict[str, Any]:
        """Two scenarios side by side: inputs that differ and every metric with its change."""
        a, b = resolve(body.a, "a"), resolve(body.b, "b")
        if body.simulate:
            ma = evaluation_payload(*evaluated(a, True))["metrics"]
            mb = evaluation_payload(*evaluated(b, True))["metrics"]
        else:
            ma = estimated(a).payload["metrics"]
            mb = estimated(b).payload["metrics"]
        return compare_payload(a, b, ma, mb)

    # ---- jobs --------------------------------------------------------------------------
    @app.post("/api/jobs", tags=["jobs"], status_code=202)
    async def submit_job(body: EvaluateRequest) -> dict[str, Any]:
        """Start a long run (simulation and report) in the background; poll its progress."""
        resolved = await run_in_threadpool(resolve, body.scenario)
        simulate = body.simulate

        def work(progress: Progress) -> tuple[ScenarioResult, Report, dict[str, Any]]:
            progress("evaluating" + (" (simulating the trace)" if simulate else ""), 0.1)
            result, rep = full_evaluation_staged(resolved, simulate, progress)
            progress("preparing the result", 0.95)
            return result, rep, evaluation_payload(result, rep)

        return jobs.submit(work).to_dict()

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def job_status(job_id: str) -> dict[str, Any]:
        """Status, stage, progress and (when done) the result of a job."""
        return _job(jobs, job_id).to_dict()

    @app.delete("/api/jobs/{job_id}", tags=["jobs"])
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a job (queued: at once; running: at its next stage)."""
        _job(jobs, job_id)
        job = jobs.cancel(job_id)
        assert job is not None  # it existed a line above and jobs are only evicted when final
        return job.to_dict()

    @app.get("/api/jobs/{job_id}/report", tags=["jobs"], response_class=HTMLResponse)
    def job_report(job_id: str) -> HTMLResponse:
        """The HTML report of a finished job, as a download."""
        job = _job(jobs, job_id)
        if job.status != "done" or job.report is None:
            raise NotFound("finished job", job_id)
        return _html_download(job.report)

    return app


async def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    return _parts_error(exc)


def full_evaluation_staged(
    scenario: Scenario, simulate: bool, progress: Progress
) -> tuple[ScenarioResult, Report]:
    """Evaluate, then build the report, reporting each stage."""
    from chip2grid.report import build_report
    from chip2grid.scenario import evaluate

    start = time.perf_counter()
    with strict_arithmetic():
        result = evaluate(scenario, simulate=simulate)
        progress(f"building the report (evaluated in {time.perf_counter() - start:.1f} s)", 0.6)
        return result, build_report(result)


def _job(jobs: JobManager, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


def _html_download(report: Report) -> HTMLResponse:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in report.scenario_name)
    return HTMLResponse(
        render_html(report),
        headers={"Content-Disposition": f'attachment; filename="chip2grid-report-{name}.html"'},
    )
