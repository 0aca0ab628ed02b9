"""CI jobs end to end: a real server (SQLite), a real ``fleetport agent`` process offering its
machine as a deployment, local git repositories made by the test, the unmodified ``rerobots``
client creating projects and submitting jobs, and the Fleetport SDK and command line reading the
jobs back."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rerobots.api import APIClient, Error

from fleetport import Client
from fleetport.client import models as m
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24200-24219",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
    "FLEETPORT_REMOTE__CI_TIME_LIMIT_SECONDS": "12",
    "FLEETPORT_REMOTE__CI_LOG_BYTES": "4096",
}
ENDED = ("passed", "failed", "error")
_names = itertools.count()


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    deployment_id: str
    workspaces: Path
    owner_token: str  # the owner of the robot's organization
    stranger_token: str  # a user with no role anywhere
    repo: Path

    def rerobots(self, token: str) -> APIClient:
        return APIClient(api_token=token, ignore_env=True, base_uri=self.server.url + "/rerobots")

    def job(self, token: str, job_id: str) -> m.CiJob:
        with Client(self.server.url, token) as fp:
            return fp.ci_jobs.get(job_id)

    def ended(self, token: str, job_id: str, timeout: float = 60) -> m.CiJob:
        wait_for(lambda: self.job(token, job_id).status in ENDED, timeout, f"CI job {job_id} to end")
        job = self.job(token, job_id)
        if job.instance_id is not None:  # its instance is terminated: the deployment frees
            instance = self.rerobots(token).get_instance_info(job.instance_id)
            wait_for(
                lambda: self.rerobots(token).get_instance_info(job.instance_id)["status"] == "TERMINATED",
                15,
                f"instance {instance['id']} to end",
            )
            wait_for(lambda: not (self.workspaces / str(job.instance_id)).exists(), 10, "the workspace to go")
        return job


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def branch(repo: Path, name: str, job_file: str, files: dict[str, str] | None = None) -> str:
    """A branch ``name`` off main holding ``job_file`` (and ``files``); its commit id."""
    git(repo, "checkout", "-q", "-B", name, "main")
    (repo / ".fleetport-ci.toml").write_text(job_file)
    for path, text in (files or {}).items():
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"job of {name}")
    return git(repo, "rev-parse", "HEAD")


def make_repo(directory: Path) -> Path:
    repo = directory / "rovers"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".fleetport-ci.toml").write_text(
        'workspace = "generic"\n'
        "script = [\n"
        '  "echo hello from $FLEETPORT_CI_BRANCH",\n'
        '  "echo to stderr >&2",\n'
        '  "cat data.txt",\n'
        "]\n"
    )
    (repo / "data.txt").write_text("first commit\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def user(admin: httpx.Client, org_id: str | None) -> str:
    """A new user (an owner of ``org_id`` when given), logged in: their session token."""
    email = f"ci{next(_names)}@example.com"
    made = admin.post("/api/v1/users", json={"email": email, "name": email, "password": "password1"})
    assert made.status_code == 201, made.text
    if org_id is not None:
        grant = {"subject_type": "user", "subject_id": made.json()["id"], "role": "owner"}
        grant |= {"resource_type": "organization", "resource_id": org_id}
        given = admin.post(f"/api/v1/organizations/{org_id}/authorizations", json=grant)
        assert given.status_code < 300, given.text
    session = admin.post("/api/v1/auth/login", json={"email": email, "password": "password1"})
    return str(session.json()["token"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp_path = tmp_path_factory.mktemp("ci")
    server = start_server(tmp_path / "server", env=ENV)
    agent = None
    try:
        robot = make_robot(server, tmp_path)
        agent = agent_for(robot, tmp_path / "agent", "--allow-file-repos").start()
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id})
            assert made.status_code == 201, made.text
            org_id = admin.get(f"/api/v1/machines/{robot.machine_id}").json()["organization_id"]
            owner, stranger = user(admin, org_id), user(admin, None)
        yield Site(
            server,
            agent,
            made.json()["id"],
            tmp_path / "agent" / "state" / "workspaces",
            owner,
            stranger,
            make_repo(tmp_path / "repos"),
        )
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


def test_a_job_clones_runs_and_passes_on_the_robot(site: Site) -> None:
    apic = site.rerobots(site.owner_token)
    pid = apic.create_ci_project(site.repo.as_uri())
    commit = git(site.repo, "rev-parse", "main")
    jid = apic.submit_ci_job(pid, "main", commit)
    job = site.ended(site.owner_token, jid)
    assert job.status == "passed" and job.exit_code == 0, job.log
    assert job.log is not None and f"checked out {commit} (branch main)" in job.log
    assert "hello from main\n" in job.log and "to stderr\n" in job.log and "first commit\n" in job.log
    assert (job.deployment_id, job.branch, job.ref) == (site.deployment_id, "main", commit)
    assert job.started_at is not None and job.ended_at is not None and job.started_at <= job.ended_at
    instance = apic.get_instance_info(str(job.instance_id))
    assert instance["status"] == "TERMINATED" and instance["deployment"] == site.deployment_id
    with Client(site.server.url, site.owner_token) as fp:
        (listed,) = [j for j in fp.ci_jobs.list(pid) if j.id == jid]
        assert listed.status == "passed" and listed.log is None


def test_a_failing_script_fails_with_its_exit_code_and_a_queued_job_runs_after(site: Site) -> None:
    apic = site.rerobots(site.owner_token)
    broken = branch(site.repo, "broken", 'script = ["echo before", "exit 3", "echo never"]\n')
    later = branch(site.repo, "later", 'script = ["echo later ran"]\n')
    pid = apic.create_ci_project(site.repo.as_uri())
    first = apic.submit_ci_job(pid, "broken", broken)
    second = apic.submit_ci_job(pid, "later", later)  # the one deployment is busy: queued
    assert site.job(site.owner_token, second).status in ("queued", "running")
    failed = site.ended(site.owner_token, first)
    assert (failed.status, failed.exit_code) == ("failed", 3), failed.log
    assert failed.log is not None and "before\n" in failed.log and "never" not in failed.log
    assert "the command exited with 3" in failed.log and "exited with 3" in failed.reason
    passed = site.ended(site.owner_token, second)
    assert passed.status == "passed" and passed.log is not None and "later ran\n" in passed.log


def test_a_bad_branch_or_commit_ends_the_job_with_a_clear_log_line(site: Site) -> None:
    apic = site.rerobots(site.owner_token)
    pid = apic.create_ci_project(site.repo.as_uri())
    no_branch = site.ended(site.owner_token, apic.submit_ci_job(pid, "no-such-branch", ""))
    assert no_branch.status == "error" and no_branch.log is not None
    assert "could not be cloned at branch 'no-such-branch'" in no_branch.log
    assert "no-such-branch" in no_branch.reason
    no_commit = site.ended(site.owner_token, apic.submit_ci_job(pid, "main", "0" * 40))
    assert no_commit.status == "error" and no_commit.log is not None
    assert f"the commit '{'0' * 40}' was not found" in no_commit.log
    other_type = branch(site.repo, "kobuki", 'workspace = "kobuki"\nscript = ["echo kobuki"]\n')
    moved = site.ended(site.owner_token, apic.submit_ci_job(pid, "kobuki", other_type))
    assert moved.status == "error" and moved.workspace_type == "kobuki"
    assert "no workspace deployment of workspace type kobuki" in moved.reason
    assert moved.log is not None and "this deployment is of type generic" in moved.log


def test_the_time_limit_stops_a_job_and_the_log_is_bounded(site: Site) -> None:
    apic = site.rerobots(site.owner_token)
    slow = branch(site.repo, "slow", 'script = ["echo started", "sleep 60"]\n')
    noisy = branch(site.repo, "noisy", 'script = ["yes rover | head -c 100000"]\n')
    pid = apic.create_ci_project(site.repo.as_uri())
    stopped = site.ended(site.owner_token, apic.submit_ci_job(pid, "slow", slow), timeout=60)
    assert stopped.status == "failed" and stopped.exit_code is None
    assert "time limit of 12 s" in stopped.reason and stopped.log is not None and "started\n" in stopped.log
    bounded = site.ended(site.owner_token, apic.submit_ci_job(pid, "noisy", noisy))
    assert bounded.status == "passed" and bounded.log_truncated
    assert bounded.log is not None and "the log is cut here" in bounded.log
    assert bounded.log_size <= 4096 + 200


def test_unknown_and_others_projects_are_not_found(site: Site) -> None:
    mine = site.rerobots(site.owner_token).create_ci_project(site.repo.as_uri())
    stranger = site.rerobots(site.stranger_token)
    for pid in (mine, "0" * 36, "not-a-project"):
        with pytest.raises(Error) as caught:
            stranger.submit_ci_job(pid, "main", "")
        assert str(caught.value) == "not found"
    assert mine not in stranger.get_ci_projects()
    with Client(site.server.url, site.stranger_token) as fp, pytest.raises(Exception, match="no CI project"):
        list(fp.ci_jobs.list(mine))


def test_hostile_input_is_refused_and_nothing_runs(site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    apic = site.rerobots(site.owner_token)
    for url in (f"--upload-pack=touch {marker}", f"ext::sh -c touch% {marker}", "-u" + site.repo.as_uri()):
        with pytest.raises(Error, match="repo_url"):
            apic.create_ci_project(url)
    pid = apic.create_ci_project(site.repo.as_uri())
    refused = {
        f"--upload-pack=touch {marker}": "start with '-'",
        "ma\x00in": "NUL character",
        "ma\ud800in": "not valid JSON",
        "m" * 50_000: "the limit is 255",
        "a..b": "not a git branch name",
    }
    raw = httpx.Client(
        base_url=site.server.url + "/rerobots", headers={"Authorization": f"Bearer {site.owner_token}"}
    )
    with raw:
        for name, says in refused.items():
            with pytest.raises(Error, match=says):
                apic.submit_ci_job(pid, name, "")
            body = json.dumps({"branch": name, "commit": ""})  # (escaped: a lone surrogate too)
            answer = raw.post(f"/ci/project/{pid}/job", content=body)
            assert answer.status_code == 400, answer.text
        answer = raw.post(f"/ci/project/{pid}/job", json={"branch": "main", "commit": f"--output={marker}"})
        assert answer.status_code == 400 and "start with '-'" in answer.text
        huge = raw.post(f"/ci/project/{pid}/job", json={"branch": "m" * 100_000, "commit": ""})
        assert huge.status_code == 413 and "larger than the limit" in huge.text
        assert raw.post(f"/ci/project/{pid}/job", json={"branch": 7}).status_code == 400
    with pytest.raises(Error):
        apic.submit_ci_job(pid, "main", "m" * 100_000)
    with Client(site.server.url, site.owner_token) as fp:
        assert list(fp.ci_jobs.list(pid)) == []
    assert not marker.exists()


def cli(site: Site, *args: str) -> str:
    argv = [sys.executable, "-m", "fleetport.cli", "--url", site.server.url, "--api-key", site.owner_token]
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_command_line_makes_projects_submits_and_reads_jobs(site: Site) -> None:
    project = json.loads(cli(site, "ci", "create", site.repo.as_uri(), "--json"))
    assert project["id"] in cli(site, "ci", "projects")
    job = json.loads(cli(site, "ci", "submit", project["id"], "main", "--json"))
    assert job["status"] in ("queued", "running") and job["branch"] == "main"
    ended = site.ended(site.owner_token, job["id"])
    assert ended.status == "passed"
    assert "hello from main" in cli(site, "ci", "job", job["id"], "--log")
    shown = cli(site, "ci", "job", job["id"])
    assert "passed" in shown and "hello from main" not in shown
    listed = json.loads(cli(site, "ci", "jobs", project["id"], "--json"))
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["log"] is None
