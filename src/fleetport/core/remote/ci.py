"""Continuous-integration projects: a repository named by its URL, kept per caller. Jobs are not
run by this server: submitting one is refused with a message saying so."""

from __future__ import annotations

import builtins

from fleetport.core import validate
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import utcnow
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import CiProject
from fleetport.store import Store
from fleetport.store import remote as rq

URL_MAX = 2048


class CiProjects:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, p: Principal, repo_url: str) -> CiProject:
        if not isinstance(repo_url, str) or not repo_url.strip():
            raise Invalid("repo_url must be the URL of a repository")
        row = {
            "id": new_id(),
            "owner_id": p.id,
            "repo_url": validate.bounded_text(repo_url.strip(), "repo_url", URL_MAX),
            "created_at": utcnow(),
        }
        with self.store.write() as conn:
            rq.insert_ci_project(conn, row)
        return CiProject.from_row(row)

    def list(self, p: Principal) -> builtins.list[CiProject]:
        with self.store.read() as conn:
            return [CiProject.from_row(r) for r in rq.ci_projects_of(conn, p.id)]

    def submit_job(self, p: Principal, project_id: str, branch: str, ref: str) -> None:
        """Refused: the project is checked, then the caller told jobs do not run here."""
        with self.store.read() as conn:
            found = rq.ci_project(conn, project_id.lower()) if is_uuid(project_id) else None
            if found is None or found["owner_id"] != p.id:
                raise NotFound(f"no CI project {project_id[:100]!r}")
        raise FailedPrecondition("CI jobs are not run by this server: projects are kept, jobs are not run")
