"""CI projects and their jobs: a repository, and runs of a branch of it on a deployment's robot."""

from __future__ import annotations

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m

router = api_router(tags=["CI"])


@router.post("/ci/projects", response_model=m.CiProject, status_code=201)
async def create_project(body: s.CiProjectIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.ci.create, body.repo_url)


@router.get("/ci/projects", response_model=list[m.CiProject])
async def list_projects(fleet: FleetDep, caller: Caller) -> object:
    """Your CI projects (at most 1,000, oldest first)."""
    return await caller(fleet.remote.ci.list)


@router.get("/ci/projects/{project_id}", response_model=m.CiProject)
async def get_project(project_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.ci.get, project_id)


@router.post("/ci/projects/{project_id}/jobs", response_model=m.CiJob, status_code=201)
async def submit_job(project_id: str, body: s.CiJobIn, fleet: FleetDep, caller: Caller) -> object:
    """A job of the branch (at ``ref``): running when a matching deployment was free, queued when
    they are busy, error (with its reason) when none matches."""
    return await caller(fleet.remote.ci_jobs.submit, project_id, body.branch, body.ref, body.workspace_type)


@router.get("/ci/projects/{project_id}/jobs", response_model=m.Page[m.CiJob])
async def list_jobs(project_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    """The project's jobs, newest first, without their logs."""
    return await caller(fleet.remote.ci_jobs.list, project_id, paging)


@router.get("/ci/jobs/{job_id}", response_model=m.CiJob)
async def get_job(job_id: str, fleet: FleetDep, caller: Caller) -> object:
    """The job with its log."""
    return await caller(fleet.remote.ci_jobs.get, job_id)
