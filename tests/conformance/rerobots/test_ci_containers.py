"""CI jobs in container workspaces, end to end: a real server, a real ``fleetport agent`` whose
workspaces are real podman containers (the image of ``containers_here``: a few tools and a marker
file only the image has), local git repositories, and the unmodified ``rerobots`` client. Git runs
on the robot; the script lines run inside the instance's container. Skipped, saying so, where
podman is not installed."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rerobots.api import APIClient

from fleetport import Client
from fleetport.agent.containers import ContainerRunner
from fleetport.client import models as m
from fleetport.testing import FleetportServer
from tests.conformance.rerobots.containers_here import IMAGE, MARKER, RUN_OPTIONS, Podman, podman_options
from tests.conformance.rerobots.test_ci import ENDED, branch, make_repo
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

TIME_LIMIT = 8
ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24700-24719",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "60",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
    "FLEETPORT_REMOTE__CI_TIME_LIMIT_SECONDS": str(TIME_LIMIT),
    "FLEETPORT_REMOTE__CI_LOG_BYTES": "8192",
}


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    podman: Podman
    repo: Path

    def submit(self, name: str, job_file: str) -> str:
        commit = branch(self.repo, name, job_file)
        apic = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=self.server.url + "/rerobots")
        return str(apic.submit_ci_job(apic.create_ci_project(self.repo.as_uri()), name, commit))

    def ended(self, job_id: str, timeout: float = 90) -> m.CiJob:
        with Client(self.server.url, ADMIN_KEY) as fp:
            wait_for(lambda: fp.ci_jobs.get(job_id).status in ENDED, timeout, f"CI job {job_id} to end")
            return fp.ci_jobs.get(job_id)


@pytest.fixture(scope="module")
def site(podman_here: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp_path = tmp_path_factory.mktemp("ci-containers")
    server = start_server(tmp_path / "server", env=ENV)
    agent = None
    try:
        robot = make_robot(server, tmp_path)
        agent = agent_for(robot, tmp_path / "agent", "--allow-file-repos", *podman_options()).start()
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id})
            assert made.status_code == 201, made.text
        yield Site(server, agent, podman_here, make_repo(tmp_path / "repos"))
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


def after(log: str, command: str) -> str:
    """The line the job's log holds right after ``$ <command>``."""
    lines = log.splitlines()
    return lines[lines.index(f"$ {command}") + 1]


def host_processes_naming(token: str) -> list[str]:
    """The command lines of the processes on this machine (the containers' too) holding ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if token in line:
                found.append(line)
    return found


def test_script_lines_run_inside_the_container(site: Site) -> None:
    assert not Path(MARKER).exists()
    job_file = (
        'script = ["hostname", "cat ' + MARKER + '", "test -f ' + MARKER + ' && echo image here", '
        '"pwd; echo $HOME", "cat data.txt", "echo branch $FLEETPORT_CI_BRANCH ci=$CI"]\n'
    )
    job = site.ended(site.submit("inside", job_file))
    assert (job.status, job.exit_code) == ("passed", 0), job.log
    log = job.log or ""
    inside = after(log, "hostname")
    assert inside and inside != socket.gethostname()
    assert after(log, f"cat {MARKER}") == site.podman.marker
    assert "image here\n" in log and "/root/repo\n/root\n" in log and "first commit\n" in log
    assert "branch inside ci=true\n" in log
    wait_for(lambda: not any(n.startswith("fleetport-") for n in site.podman.names()), 20, "containers gone")


def test_a_failing_line_fails_the_job_with_its_exit_code(site: Site) -> None:
    job = site.ended(
        site.submit("broken", 'script = ["echo before", "test -f /nowhere || exit 7", "echo never"]\n')
    )
    assert (job.status, job.exit_code) == ("failed", 7), job.log
    assert job.log is not None and "before\n" in job.log and "never\n" not in job.log
    assert "exited with 7" in job.reason


def test_the_time_limit_ends_the_line_inside_the_container(site: Site) -> None:
    token = secrets.token_hex(6)
    started = time.monotonic()
    job = site.ended(site.submit("slow", f'script = ["echo started {token}; sleep 600; echo {token}"]\n'))
    assert job.status == "failed" and job.exit_code is None, job.log
    assert f"time limit of {TIME_LIMIT} s" in job.reason and f"started {token}\n" in (job.log or "")
    assert time.monotonic() - started < 60
    site.agent.wait_log(f"commands in container fleetport-{job.instance_id} ended")
    wait_for(lambda: host_processes_naming(token) == [], 20, "the line's processes to be gone")


def test_end_commands_ends_what_a_killed_exec_client_leaves_running(
    podman_here: Podman, tmp_path: Path
) -> None:
    """The runner alone, with real podman: killing the ``exec`` client leaves its command running
    in the container (podman's behaviour); ``end_commands`` ends it and the container stays."""
    runner = ContainerRunner("podman", IMAGE, RUN_OPTIONS, "ci-containers-test")
    instance, token = secrets.token_hex(16), secrets.token_hex(6)
    directory = tmp_path / "workspace"
    (directory / "sub").mkdir(parents=True)

    async def scenario() -> None:
        await runner.start(instance, directory)
        try:
            run = runner.invocation(
                instance, directory, f"pwd; echo $X; sleep 600; echo {token}", workdir="sub", env={"X": token}
            )
            child = await asyncio.create_subprocess_exec(
                *run.argv, cwd=run.cwd, env=run.env, stdout=asyncio.subprocess.PIPE, start_new_session=True
            )
            assert child.stdout is not None
            assert await child.stdout.readline() == b"/root/sub\n"
            assert await child.stdout.readline() == f"{token}\n".encode()
            os.killpg(child.pid, 9)
            await child.wait()
            await asyncio.sleep(1)
            assert host_processes_naming(token) != []  # still running inside
            await runner.end_commands(instance)
            await asyncio.sleep(0.5)
            assert host_processes_naming(token) == []
            assert runner.name(instance) in podman_here.names()
        finally:
            await runner.stop(instance)

    asyncio.run(scenario())
    assert runner.name(instance) not in podman_here.names()


@pytest.mark.parametrize("workdir", ["/etc", "../x", "a/../../b", "a\0b", ""])
def test_a_working_directory_outside_the_workspace_is_refused(workdir: str) -> None:
    runner = ContainerRunner("podman", IMAGE, [], "ci-containers-test")
    with pytest.raises(ValueError, match="not a path within the workspace"):
        runner.invocation("i", Path("/tmp/w"), "true", workdir=workdir)
