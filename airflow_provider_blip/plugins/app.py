"""The Blip page's FastAPI app, mounted by the api-server at ``/blip``.

Plugin apps get no authentication from Airflow by themselves: every route here depends on
Airflow's own ``get_user`` (the UI's session cookie or a bearer token) and on the auth
manager's authorization of the DAG's runs, as Airflow's API routes do, so a request without
a session gets 401 and a user who may not read a DAG's runs gets 403. Pages and JSON only
hold what :class:`~airflow_provider_blip.utils.runview.JobView` holds: counts and masked
recipients, never a full number, a key or a file path.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

# FastAPI reads the routes' annotations at runtime: SessionDep must be importable here.
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.responses import HTMLResponse

from airflow_provider_blip.utils.funnel_html import index_page, render_job
from airflow_provider_blip.utils.jobs import RunLayout, job_key
from airflow_provider_blip.utils.runfiles import default_root, safe_segment
from airflow_provider_blip.utils.runview import JobView, list_dags, list_jobs, read_job

#: How often an open page reloads while a chunk still sends or waits (seconds).
REFRESH_SECONDS = 10

app = FastAPI(title="Blip delivery", docs_url=None, redoc_url=None, openapi_url=None)

CanReadRuns = Depends(requires_access_dag("GET", DagAccessEntity.RUN))


def _base_url() -> str:
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def _job_view(dag_id: str, job: str) -> JobView:
    # A job key from the URL is one path segment of our own making, nothing else.
    if safe_segment(job) != job:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such Blip job")
    layout = RunLayout.for_job(None, dag_id, job)
    if not layout.manifest.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No Blip run files for this job (yet)")
    return read_job(layout, dag_id)


def _run_job(dag_id: str, run_id: str, session: Any) -> tuple[str, bool]:
    """Return the job key a DAG run used (as ``utils/jobs.job_key`` made it) and whether it ended."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such DAG run")
    context = {
        "logical_date": run.logical_date,
        "data_interval_start": run.data_interval_start,
        "ti": SimpleNamespace(run_id=run_id),
    }
    campaign = (run.conf or {}).get("campaign_key")
    return job_key(context, campaign), run.state in ("success", "failed")


def _settled(view: JobView) -> bool:
    return all(chunk.phase == "done" for chunk in view.chunks)


@app.get("/", response_class=HTMLResponse)
def index(user: GetUserDep) -> HTMLResponse:
    """Every job of every DAG the user may read the runs of."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    dags = [
        dag_id
        for dag_id in list_dags(default_root())
        if manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
        )
    ]
    return HTMLResponse(index_page({dag_id: list_jobs(None, dag_id) for dag_id in dags}))


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[CanReadRuns])
def run_page(dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
    """One DAG run's funnel, reloading itself until delivery settled."""
    job, ended = _run_job(dag_id, run_id, session)
    view = _job_view(dag_id, job)
    base = _base_url()
    link = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    refresh = None if ended or _settled(view) else REFRESH_SECONDS
    return HTMLResponse(render_job(view, run_link=link, refresh_seconds=refresh))


@app.get("/jobs/{dag_id}/{job}", response_class=HTMLResponse, dependencies=[CanReadRuns])
def job_page(dag_id: str, job: str) -> HTMLResponse:
    """One job's funnel, found by its key (the index page links here)."""
    view = _job_view(dag_id, job)
    return HTMLResponse(render_job(view, refresh_seconds=None if _settled(view) else REFRESH_SECONDS))


@app.get("/api/runs/{dag_id}/{run_id}", dependencies=[CanReadRuns])
def run_json(dag_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
    """One DAG run's funnel as JSON: counts, chunks, reasons, masked recipients, history."""
    job, _ = _run_job(dag_id, run_id, session)
    return _job_view(dag_id, job).as_dict()


@app.get("/api/jobs/{dag_id}", dependencies=[CanReadRuns])
def jobs_json(dag_id: str) -> dict[str, list[str]]:
    """List the job keys of a DAG, newest first."""
    return {"jobs": list_jobs(None, dag_id)}


@app.get("/api/jobs/{dag_id}/{job}", dependencies=[CanReadRuns])
def job_json(dag_id: str, job: str) -> dict[str, Any]:
    """One job's funnel as JSON."""
    return _job_view(dag_id, job).as_dict()
