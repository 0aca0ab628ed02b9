"""Queries of CI jobs (see core/remote/cijobs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from fleetport.store import tables as t
from fleetport.store.locks import lock

j, c = t.ci_jobs, t.ci_projects
RUNNING, QUEUED = "running", "queued"
# every column but the log, for listings
_SUMMARY = [col for col in j.columns if col.name != "log"]


def _jobs(*columns: Any) -> Any:
    return select(*columns, c.c.repo_url).join(c, c.c.id == j.c.project_id)


def insert_job(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(j).values(**row))


def job(conn: Connection, job_id: str) -> RowMapping | None:
    """The job with its project's repository URL."""
    return conn.execute(_jobs(j).where(j.c.id == job_id)).mappings().first()


def lock_job(conn: Connection, job_id: str) -> RowMapping | None:
    lock(conn, j.c.id, [job_id])
    return job(conn, job_id)


def job_of_instance(conn: Connection, instance_id: str) -> RowMapping | None:
    return conn.execute(_jobs(j).where(j.c.instance_id == instance_id)).mappings().first()


def jobs_of_project(conn: Connection, project_id: str, *, limit: int, before: str | None) -> list[RowMapping]:
    """The project's jobs without their logs, newest first (``limit + 1`` of them)."""
    stmt = _jobs(*_SUMMARY).where(j.c.project_id == project_id)
    if before is not None:
        stmt = stmt.where(j.c.id < before)
    return list(conn.execute(stmt.order_by(j.c.id.desc()).limit(limit + 1)).mappings())


def update_job(conn: Connection, job_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(j).where(j.c.id == job_id).values(**values))


def append_log(conn: Connection, job_id: str, text: str, size: int, truncated: bool) -> None:
    """Appends to the log of the job (locked): ``size`` UTF-8 bytes."""
    values: dict[str, Any] = {"log": j.c.log + text, "log_size": j.c.log_size + size}
    if truncated:
        values["log_truncated"] = True
    conn.execute(update(j).where(j.c.id == job_id).values(**values))


def with_note(values: Mapping[str, Any], note: str) -> dict[str, Any]:
    """``values`` of a job's update, with ``note`` added to its log as a line of the server's."""
    line = f"fleetport: {note}\n"
    return {**values, "log": j.c.log + line, "log_size": j.c.log_size + len(line.encode())}


def end_running(conn: Connection, instance_id: str, values: Mapping[str, Any], note: str) -> int:
    """Ends the running job that holds the instance, if any, noting why in its log (one
    statement: no lock needed)."""
    stmt = update(j).where(j.c.instance_id == instance_id, j.c.status == RUNNING)
    return int(conn.execute(stmt.values(**with_note(values, note))).rowcount)


def end_job(conn: Connection, job_id: str, status: str, values: Mapping[str, Any], note: str) -> int:
    """Changes the job if it is still in ``status``, noting why in its log (one statement)."""
    stmt = update(j).where(j.c.id == job_id, j.c.status == status)
    return int(conn.execute(stmt.values(**with_note(values, note))).rowcount)


def queued(conn: Connection, limit: int = 100) -> list[str]:
    """The ids of queued jobs, oldest first."""
    stmt = select(j.c.id).where(j.c.status == QUEUED).order_by(j.c.id).limit(limit)
    return [str(x) for x in conn.execute(stmt).scalars()]


def running_since(conn: Connection, before: datetime, limit: int = 1000) -> list[str]:
    """The ids of running jobs taken off the queue before ``before``."""
    stmt = select(j.c.id).where(j.c.status == RUNNING, j.c.started_at < before).order_by(j.c.id)
    return [str(x) for x in conn.execute(stmt.limit(limit)).scalars()]
