"""The native API's CI operations: projects (``client.ci_projects``) and their jobs
(``client.ci_jobs``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator

from fleetport.client import models as m
from fleetport.client.operations import Mode, Resource, call, listing


class CiProjects(Resource[Mode]):
    @call
    def list(self) -> builtins.list[m.CiProject]:
        return self._t.call("GET", "/ci/projects", builtins.list[m.CiProject])

    @call
    def create(self, repo_url: str) -> m.CiProject:
        """A project of the repository at ``repo_url`` (https, http, git, ssh or file)."""
        return self._t.call("POST", "/ci/projects", m.CiProject, json={"repo_url": repo_url})

    @call
    def get(self, project_id: str) -> m.CiProject:
        return self._t.call("GET", f"/ci/projects/{project_id}", m.CiProject)


class CiJobs(Resource[Mode]):
    @call
    def submit(
        self, project_id: str, branch: str, *, ref: str = "", workspace_type: str | None = None
    ) -> m.CiJob:
        """Runs ``branch`` (at ``ref``: a commit id or ref name; "" for its tip) on a deployment of
        ``workspace_type`` (None: as the repository's job file says)."""
        body: dict[str, object] = {"branch": branch, "ref": ref}
        if workspace_type is not None:
            body["workspace_type"] = workspace_type
        return self._t.call("POST", f"/ci/projects/{project_id}/jobs", m.CiJob, json=body)

    @listing
    def list(self, project_id: str, *, limit: int | None = None) -> Iterator[m.CiJob]:
        """The project's jobs, newest first, without their logs."""
        return self._t.pages(f"/ci/projects/{project_id}/jobs", m.CiJob, {"limit": limit})

    @call
    def get(self, job_id: str) -> m.CiJob:
        """The job with its log."""
        return self._t.call("GET", f"/ci/jobs/{job_id}", m.CiJob)
