"""Container workspaces, end to end: a real server, a real ``fleetport agent --workspace-runtime``
process and the unmodified ``rerobots`` client with paramiko.

The container tests run real podman with the image ``containers_here`` makes (skipped, saying so,
where podman is not installed). The failure tests run the
real docker CLI with no Docker engine (none runs on this machine) and a runtime that is not there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rerobots.api import APIClient
from rerobots.instances import Instance

from fleetport.testing import FleetportServer
from tests.conformance.rerobots.containers_here import (
    IMAGE,
    MARKER,
    NO_SLEEP,
    RUN_OPTIONS,
    Podman,
    podman,
    podman_options,
)
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24500-24539",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "60",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetportServer]:
    running = start_server(tmp_path_factory.mktemp("server"), env=ENV)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    deployment_id: str
    workspaces: Path

    def launch(self, until: str = "READY") -> Instance:
        instance = Instance(wdeployment_id=self.deployment_id, apic=self.client())
        wait_for(lambda: instance.get_status() == until, 60, f"the instance to be {until}")
        return instance

    def client(self) -> APIClient:
        return APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=self.server.url + "/rerobots")

    def failure(self, instance: Instance) -> str:
        return str(self.client().get_instance_info(iid(instance)).get("failure"))


Start = Callable[..., Site]


@pytest.fixture
def site_with(server: FleetportServer, tmp_path: Path) -> Iterator[Start]:
    """Starts an agent with the given options and a deployment on its robot."""
    agents: list[AgentProcess] = []

    def start(*options: str) -> Site:
        robot = make_robot(server, tmp_path)
        agent = agent_for(robot, tmp_path / "agent", *options).start()
        agents.append(agent)
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id})
            assert made.status_code == 201, made.text
        return Site(server, agent, made.json()["id"], tmp_path / "agent" / "state" / "workspaces")

    yield start
    for agent in agents:
        agent.stop()


def iid(instance: Instance) -> str:
    return str(instance._id)


def test_commands_and_files_are_in_the_container(
    podman_here: Podman, site_with: Start, tmp_path: Path
) -> None:
    site = site_with(*podman_options())
    instance = site.launch()
    name = f"fleetport-{iid(instance)}"
    assert name in podman_here.names()
    instance.start_sshclient()
    assert instance.exec_ssh(f"cat {MARKER}").decode().strip() == podman_here.marker
    assert not Path(MARKER).exists()
    inside = instance.exec_ssh("uname -n").decode().strip()
    assert inside != socket.gethostname()
    assert inside == podman("inspect", "--format", "{{.Config.Hostname}}", name)
    assert instance.exec_ssh("pwd; echo $HOME").decode().split() == ["/root", "/root"]
    assert instance.exec_ssh("echo a\0b") == b""  # refused (a NUL), and the session goes on
    assert instance.exec_ssh("echo 'x;y' \"$(uname -n)\"").decode().split() == ["x;y", inside]
    local = tmp_path / "upload.bin"
    local.write_bytes(bytes(range(256)) * 400)
    instance.put_file(str(local), "data.bin")
    assert instance.exec_ssh("wc -c < /root/data.bin").strip() == b"102400"
    instance.exec_ssh("echo made inside > made.txt")
    back = tmp_path / "made.txt"
    instance.get_file("made.txt", str(back))
    assert back.read_text() == "made inside\n"
    assert (site.workspaces / iid(instance) / "made.txt").read_text() == "made inside\n"
    instance.terminate()
    wait_for(lambda: instance.get_status() == "TERMINATED", 15, "the instance to end")
    wait_for(lambda: name not in podman_here.names(), 15, "the container to be removed")
    wait_for(lambda: not (site.workspaces / iid(instance)).exists(), 10, "the workspace to be wiped")


def test_sftp_follows_no_link_out_of_the_workspace(
    podman_here: Podman, site_with: Start, tmp_path: Path
) -> None:
    site = site_with(*podman_options())
    instance = site.launch()
    instance.start_sshclient()
    instance.exec_ssh("ln -s / out; ln -s /etc/hostname name; mkdir d; echo kept > d/f; ln -s d near")
    with pytest.raises(OSError):
        instance.get_file("out/etc/hostname", str(tmp_path / "a"))
    with pytest.raises(OSError):
        instance.get_file("name", str(tmp_path / "b"))
    probe = f"fleetport-probe-{secrets.token_hex(6)}"
    (tmp_path / "c").write_text("x")
    with pytest.raises(OSError):
        instance.put_file(str(tmp_path / "c"), f"out/tmp/{probe}")
    assert not Path("/tmp", probe).exists()
    instance.get_file("near/f", str(tmp_path / "d"))  # a link within the workspace is followed
    assert (tmp_path / "d").read_text() == "kept\n"
    instance.terminate()


def test_leftover_containers_are_removed_when_the_agent_starts(podman_here: Podman, site_with: Start) -> None:
    site = site_with(*podman_options())
    instance = site.launch()
    name = f"fleetport-{iid(instance)}"
    other = f"fleetport-{secrets.token_hex(8)}"  # another part's agent's, on the same machine
    label = "io.fleetport.part=another"
    podman(
        "run",
        "--detach",
        "--name",
        other,
        "--label",
        label,
        *RUN_OPTIONS,
        "--entrypoint",
        "sleep",
        IMAGE,
        "60",
    )
    site.agent.stop(signal.SIGKILL)
    wait_for(lambda: instance.get_status() == "TERMINATED", 15, "the instance to end")
    assert name in podman_here.names()  # nobody removed it: the agent was killed
    site.agent.start()
    site.agent.wait_log("connected to the server", count=2)
    assert name not in podman_here.names()
    assert not (site.workspaces / iid(instance)).exists()
    assert other in podman_here.names()
    podman("rm", "--force", other)


def test_a_missing_image_fails_the_launch(podman_here: Podman, site_with: Start) -> None:
    site = site_with(*podman_options("localhost/fleetport-absent:1"))
    instance = site.launch(until="INIT_FAIL")
    failure = site.failure(instance)
    assert "podman could not start the workspace's container" in failure
    assert "image not known" in failure
    assert f"fleetport-{iid(instance)}" not in podman_here.names()
    assert not (site.workspaces / iid(instance)).exists()


def test_a_container_that_stops_at_once_fails_the_launch(podman_here: Podman, site_with: Start) -> None:
    site = site_with(*podman_options(NO_SLEEP))
    instance = site.launch(until="INIT_FAIL")
    assert "container stopped as soon as it started (exit code 0)" in site.failure(instance)
    assert f"fleetport-{iid(instance)}" not in podman_here.names()


def test_a_runtime_that_is_not_installed_fails_the_launch(site_with: Start, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-runtime")
    site = site_with("--workspace-runtime", missing, "--workspace-image", IMAGE)
    instance = site.launch(until="INIT_FAIL")
    assert f"the container runtime {missing!r} is not installed" in site.failure(instance)


def test_docker_without_an_engine_fails_the_launch(site_with: Start) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0:
        pytest.skip("a Docker engine runs here; this test is of the docker CLI without one")
    site = site_with("--workspace-runtime", "docker", "--workspace-image", "busybox:latest")
    instance = site.launch(until="INIT_FAIL")
    failure = site.failure(instance)
    assert "docker could not start the workspace's container" in failure
    assert "Cannot connect to the Docker daemon" in failure


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--workspace-image", "img"], "--workspace-runtime"),
        (["--workspace-runtime", "podman"], "--workspace-image"),
        (["--workspace-runtime", "podman", "--workspace-image=-v/:/host"], "--workspace-image"),
        (["--workspace-run-option=--privileged"], "--workspace-run-option"),
    ],
)
def test_incomplete_runtime_options_are_refused(options: list[str], named: str) -> None:
    enrol = ["--server", "http://127.0.0.1:9", "--part", "p", "--secret", "s"]
    done = subprocess.run(
        [sys.executable, "-m", "fleetport.cli", "agent", *enrol, *options],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert named in done.stderr
