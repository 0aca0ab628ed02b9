"""``fleetport ci``: CI projects (a repository) and their jobs (a branch run on a robot)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="CI projects and their jobs, run on robots.")

PROJECT_COLUMNS: list[Column] = ["id", "repo_url", "created_at"]
JOB_COLUMNS: list[Column] = ["id", "status", "branch", "ref", "exit_code", "created_at", "ended_at"]


@app.command("projects")
def projects(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List your CI projects."""
    listing(sdk(ctx).ci_projects.list(), PROJECT_COLUMNS, as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    repo_url: Annotated[str, typer.Argument(help="The repository: https, http, git, ssh or file URL.")],
    as_json: JsonOpt = False,
) -> None:
    """Make a CI project of a repository (it holds .fleetport-ci.toml at its root)."""
    show(sdk(ctx).ci_projects.create(repo_url), as_json)


@app.command("submit")
def submit(
    ctx: typer.Context,
    project_id: str,
    branch: str,
    ref: Annotated[str, typer.Option(help="A commit id or ref name; default: the branch's tip.")] = "",
    type: Annotated[
        str | None, typer.Option("--type", help="The workspace type the job needs [as its job file says].")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a branch of a project on a robot."""
    job = sdk(ctx).ci_jobs.submit(project_id, branch, ref=ref, workspace_type=type)
    show(job, as_json, hide=frozenset({"log"}))


@app.command("jobs")
def jobs(ctx: typer.Context, project_id: str, as_json: JsonOpt = False) -> None:
    """List a project's jobs, newest first."""
    listing(sdk(ctx).ci_jobs.list(project_id), JOB_COLUMNS, as_json)


@app.command("job")
def job(
    ctx: typer.Context,
    job_id: str,
    log: Annotated[bool, typer.Option("--log", help="Print only the job's log.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a job (its status, exit code, reason), or its log."""
    found = sdk(ctx).ci_jobs.get(job_id)
    if log:
        sys.stdout.write(found.log or "")
        return
    show(found, as_json, hide=frozenset() if as_json else frozenset({"log"}))
