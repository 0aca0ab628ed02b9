"""CI jobs: a branch (and a commit or ref of it) of a CI project, run on a robot.

A job is ``queued`` until a deployment that matches it is free: one the project's owner may launch
instances on, of the workspace type the job needs (any type until that is known), with no active
instance, no reservation waiting and its agent connected. It then takes an instance launched as
the owner (``running``). Once the instance is READY the agent clones the repository into the
instance's workspace and runs the script of its job file; it reports the log as it goes
(``log``), and the outcome (``done``: ``passed``, ``failed`` with the exit code, or ``error`` when
the job could not run). A job file naming another workspace type sends the job back to the queue
for a deployment of that type (``needs``). The instance is terminated when the job ends.

A job fails as ``error`` at once when no deployment at all matches it, when it waited in the queue
longer than ``ci_queue_seconds``, when its instance ends first (launch timeout, the agent gone) or
when the agent does not report within the time limit. Jobs are seen by their project's owner only.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fleetport.core import validate
from fleetport.core.errors import CoreError, FailedPrecondition, Invalid, NotFound, Taken
from fleetport.core.identity import principal_of
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import Row, as_utc, utcnow
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import SYSTEM, Principal
from fleetport.core.remote import ci, keys, lifecycle, policy
from fleetport.core.remote.deployments import workspace_type
from fleetport.core.remote.instances import Instances
from fleetport.core.remote.lifecycle import Started
from fleetport.core.remote.model import (
    JOB_ENDED,
    JOB_ERROR,
    JOB_QUEUED,
    JOB_RUNNING,
    CiJob,
)
from fleetport.settings import RemoteSettings
from fleetport.store import Store, Tx
from fleetport.store import ci as ci_store
from fleetport.store import remote as rq

log = logging.getLogger(__name__)

JOBS = Listing("ci-jobs")  # a project's jobs, newest first
NO_JOB = "no CI job {!r}"
REASON_MAX = 1000
GRACE_SECONDS = 30  # past the time limit (and the launch timeout) before the server gives up


class CiJobs:
    def __init__(self, store: Store, settings: RemoteSettings, instances: Instances) -> None:
        self.store = store
        self.settings = settings
        self.instances = instances

    # --- the owner's calls --------------------------------------------------------------------

    def submit(
        self, p: Principal, project_id: str, branch: str, ref: str | None = "", needs: str | None = None
    ) -> CiJob:
        """A new job of the project for ``branch`` at ``ref`` (a commit id or ref name; "" for the
        branch's tip), needing a deployment of workspace type ``needs`` (None: as its job file
        says). It starts at once when a matching deployment is free, else waits in the queue."""
        job_id = new_id()
        row: dict[str, object] = {
            "id": job_id,
            "branch": ci.branch_name(branch),
            "ref": ci.revision(ref),
            "workspace_type": None if needs is None else workspace_type(needs),
            "status": JOB_QUEUED,
            "exit_code": None,
            "reason": "",
            "log": "",
            "log_size": 0,
            "log_truncated": False,
            "created_at": utcnow(),
        }
        with self.store.write() as conn:
            project = ci.owned_project(conn, p, project_id)
            ci.repo_url(project["repo_url"])  # (kept from before URLs were checked: checked again)
            row |= {"project_id": project["id"], "owner_id": project["owner_id"]}
            ci_store.insert_job(conn, row)
        self._dispatch(job_id, p)
        return self._read(job_id)

    def get(self, p: Principal, job_id: str) -> CiJob:
        """The job with its log."""
        with self.store.read() as conn:
            return CiJob.from_row(_owned(conn, p, job_id))

    def _read(self, job_id: str) -> CiJob:
        with self.store.read() as conn:
            found = ci_store.job(conn, job_id)
        if found is None:  # (its project was deleted meanwhile)
            raise NotFound(NO_JOB.format(job_id))
        return CiJob.from_row(found)

    def list(self, p: Principal, project_id: str, page: PageRequest) -> Page[CiJob]:
        """The project's jobs, newest first, without their logs."""
        window = JOBS.open(page)
        with self.store.read() as conn:
            project = ci.owned_project(conn, p, project_id)
            rows = ci_store.jobs_of_project(
                conn, project["id"], limit=window.limit, before=window.after_text()
            )
        return JOBS.page(rows, window, CiJob.from_row)

    # --- taking a job off the queue -----------------------------------------------------------

    def _dispatch(self, job_id: str, p: Principal | None = None) -> bool:
        """Starts the queued job on a free matching deployment, if there is one; whether it
        started (or ended: nothing matches, or its owner is gone)."""
        started: Started | bool = False
        for attempt in range(5):  # a port taken by a concurrent launch elsewhere: choose again
            try:
                started = self._take(job_id, p)
                break
            except Taken:
                if attempt == 4:
                    return False
        if isinstance(started, Started):
            self.instances.host.launch(started.instance, started.machine_id)
            return True
        return started

    def _take(self, job_id: str, p: Principal | None) -> Started | bool:
        now = utcnow()
        with self.store.write(conflict=RETRY) as conn:
            job = ci_store.job(conn, job_id)
            if job is None or job["status"] != JOB_QUEUED:
                return False
            owner = p if p is not None and p.id == job["owner_id"] else principal_of(conn, job["owner_id"])
            if owner is None:
                return self._fail(conn, job_id, "the project's owner (a user or an API key) no longer exists")
            needs = job["workspace_type"]
            candidates = [
                r
                for r in rq.of_type(conn, policy.seen(conn, owner), needs)
                if policy.may_launch(conn, owner, r) is None
            ]
            if not candidates:
                kind = f"of workspace type {needs} " if needs else ""
                return self._fail(
                    conn,
                    job_id,
                    f"no workspace deployment {kind}that the project's owner may launch instances on",
                )
            for row in candidates:
                if not self.instances.host.connected(row["machine_id"]):
                    continue
                locked = rq.lock_deployment(conn, row["id"])
                if locked is None or rq.active_instance(conn, row["id"]) or locked["queuelen"]:
                    continue
                job = ci_store.lock_job(conn, job_id)
                if job is None or job["status"] != JOB_QUEUED:
                    return False
                expire = (
                    self.settings.ci_time_limit_seconds
                    + int(self.settings.launch_timeout_seconds)
                    + GRACE_SECONDS
                )
                try:
                    started = lifecycle.start(
                        conn,
                        self.settings,
                        locked,
                        launched_by=owner.id,
                        user_id=owner.user_id,
                        public_key=keys.sealed_public_key(),
                        expire_seconds=expire,
                        event_url=None,
                        now=now,
                    )
                except FailedPrecondition:  # every forwarding port held: it waits for one
                    return False
                ci_store.update_job(
                    conn,
                    job_id,
                    {
                        "status": JOB_RUNNING,
                        "instance_id": started.instance.id,
                        "deployment_id": locked["id"],
                        "started_at": now,
                    },
                )
                return started
            return False  # every match busy, or its agent away: it waits

    def _fail(self, conn: Tx, job_id: str, reason: str) -> bool:
        values = {"status": JOB_ERROR, "reason": reason[:REASON_MAX], "ended_at": utcnow()}
        return ci_store.end_job(conn, job_id, JOB_QUEUED, values, reason) > 0

    # --- what the robot's agent reports -------------------------------------------------------

    def log(self, p: Principal, job_id: str, text: str) -> None:
        """Adds ``text`` to the running job's log (past ``ci_log_bytes`` it is cut, and the log
        marked truncated)."""
        if not isinstance(text, str):
            raise Invalid("a log chunk is text")
        clean = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
        limit = self.settings.ci_log_bytes
        with self.store.write() as conn:
            job = self._reported(conn, p, job_id)
            room = limit - int(job["log_size"])
            data = clean.encode()
            if len(data) <= room:
                if data:
                    ci_store.append_log(conn, job["id"], clean, len(data), False)
                return
            kept = data[: max(room, 0)].decode("utf-8", "ignore")
            if kept or not job["log_truncated"]:
                note = f"\n[the log is cut here: it reached its limit of {limit} bytes]\n"
                ci_store.append_log(conn, job["id"], kept + note, len(kept.encode()) + len(note), True)

    def needs(self, p: Principal, job_id: str, wanted: str) -> CiJob:
        """The job file asks for workspace type ``wanted``, not the deployment's: the job goes back
        to the queue for a deployment of that type (once; a job submitted for a type is not moved)."""
        wanted = workspace_type(wanted)
        with self.store.write() as conn:
            job = self._reported(conn, p, job_id)
            instance_id = job["instance_id"]
            if job["workspace_type"] is not None:
                reason = (
                    f"the job file asks for workspace type {wanted}, but the job was submitted "
                    f"for workspace type {job['workspace_type']}"
                )
                values = {"status": JOB_ERROR, "reason": reason, "ended_at": utcnow()}
                ci_store.end_job(conn, job["id"], JOB_RUNNING, values, reason)
                requeued = False
            else:
                note = f"the job file asks for workspace type {wanted}: the job waits for a deployment of it"
                values = {"status": JOB_QUEUED, "workspace_type": wanted, "instance_id": None}
                values |= {"deployment_id": None, "started_at": None}
                ci_store.end_job(conn, job["id"], JOB_RUNNING, values, note)
                requeued = True
        self._end_instance(instance_id)
        if requeued:
            self._dispatch(job["id"])
        return self._read(job["id"])

    def done(self, p: Principal, job_id: str, status: str, exit_code: int | None, reason: str = "") -> CiJob:
        """The job ended on the robot: ``passed``, ``failed`` (``exit_code`` of the script line
        that failed, None when the time limit stopped it) or ``error`` (it could not run)."""
        if status not in JOB_ENDED:
            raise Invalid(f"a job ends as one of {', '.join(JOB_ENDED)}")
        if exit_code is not None and (type(exit_code) is not int or not -(2**31) <= exit_code < 2**31):
            raise Invalid("exit_code is a whole number (32 bits) or null")
        reason = validate.bounded_text(str(reason)[:REASON_MAX], "reason", REASON_MAX)
        with self.store.write() as conn:
            job = self._reported(conn, p, job_id)
            values = {"status": status, "exit_code": exit_code, "reason": reason, "ended_at": utcnow()}
            ci_store.update_job(conn, job["id"], values)
        self._end_instance(job["instance_id"])
        return self._read(job["id"])

    def _reported(self, conn: Tx, p: Principal, job_id: str) -> Row:
        """The running job (locked after its instance), if ``p`` is a part of its instance's
        machine (or the system)."""
        key = _job_id(job_id)
        found = ci_store.job(conn, key)
        if found is None or found["instance_id"] is None:
            raise NotFound(NO_JOB.format(job_id[:100]))
        instance = rq.lock_instance(conn, found["instance_id"])
        job = ci_store.lock_job(conn, key)
        if instance is None or job is None or job["instance_id"] != instance["id"]:
            raise NotFound(NO_JOB.format(job_id[:100]))
        if not p.is_admin:
            part = rq.part_machine(conn, p.part_id) if p.kind == "part" and p.part_id else None
            if part != instance["machine_id"]:
                raise NotFound(NO_JOB.format(job_id[:100]))
        if job["status"] != JOB_RUNNING:
            raise FailedPrecondition(f"CI job {job['id']} is {job['status']}, not running")
        return job

    def _end_instance(self, instance_id: str | None) -> None:
        if instance_id is None:
            return
        try:
            self.instances.terminate(SYSTEM, instance_id)
        except CoreError as exc:  # ended or ending already
            log.info("instance %s of a CI job not terminated: %s", instance_id, exc.message)

    # --- the duty -----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Ends jobs the agent did not finish in time and jobs that waited too long, and starts
        queued jobs on freed deployments; how many jobs it changed."""
        now = utcnow()
        limit = self.settings.ci_time_limit_seconds
        overdue_after = limit + self.settings.launch_timeout_seconds + GRACE_SECONDS
        with self.store.read() as conn:
            overdue = ci_store.running_since(conn, now - timedelta(seconds=overdue_after))
            waiting = [ci_store.job(conn, x) for x in ci_store.queued(conn)]
        changed = 0
        for job_id in overdue:
            reason = f"the job did not finish within its time limit of {limit} s"
            with self.store.write() as conn:
                job = ci_store.job(conn, job_id)
                values = {"status": JOB_ERROR, "reason": reason, "ended_at": utcnow()}
                ended = job is not None and ci_store.end_job(conn, job_id, JOB_RUNNING, values, reason) > 0
            if ended and job is not None:
                changed += 1
                self._end_instance(job["instance_id"])
        expired = now - timedelta(seconds=self.settings.ci_queue_seconds)
        for job in waiting:
            if job is None:
                continue
            if job["created_at"] is not None and as_utc(job["created_at"]) < expired:
                reason = (
                    f"no matching deployment was free within {self.settings.ci_queue_seconds} s "
                    "(FLEETPORT_REMOTE__CI_QUEUE_SECONDS)"
                )
                with self.store.write() as conn:
                    changed += self._fail(conn, job["id"], reason)
            elif self._dispatch(job["id"]):
                changed += 1
        return changed


RETRY = "a forwarding port was taken by a concurrent launch"


def _job_id(value: str) -> str:
    if not isinstance(value, str) or not is_uuid(value):
        raise NotFound(NO_JOB.format(str(value)[:100]))
    return value.lower()


def _owned(conn: Tx, p: Principal, job_id: str) -> Row:
    job = ci_store.job(conn, _job_id(job_id))
    if job is None or job["owner_id"] != p.id:
        raise NotFound(NO_JOB.format(job_id[:100]))
    return job
