"""A server restarted under a running agent, on SQLite and PostgreSQL: a real server process, a
real ``fleetport agent`` and the unmodified ``rerobots`` client with paramiko. The server is stopped
(SIGTERM, or a crash: SIGKILL) while an SSH session is open and started again on the same port and
data; the agent comes back by itself, the instance that was active is ended with its reason (its
workspace went with the agent's connection: by the stopping server, or when the agent returns after
a crash), its forwarding port is free again, and a new instance is launched and reached over SSH.
After a crash with no agent coming back, the instance ends once its agent counts as offline."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest
from rerobots.api import APIClient
from rerobots.instances import Instance

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, fresh_pg_database, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    # the agent beats often but counts as online for long: a crash is noticed by its return
    "FLEETPORT_AGENT__OFFLINE_AFTER_SECONDS": "60",
    "FLEETPORT_REMOTE__PORTS": "24400-24419",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}
TURNED_AWAY = (paramiko.SSHException, EOFError, OSError)


@dataclass
class Site:
    server: FleetportServer
    env: dict[str, str]
    agent: AgentProcess
    robot: Robot
    deployment_id: str

    def apic(self) -> APIClient:
        return APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=self.server.url + "/rerobots")

    def instance(self) -> Instance:
        instance = Instance(wdeployment_id=self.deployment_id, apic=self.apic())
        wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
        return instance

    def online(self) -> bool:
        with Client(self.server.url, ADMIN_KEY) as fp:
            return fp.machines.get(self.robot.machine_id).online

    def stop(self, sig: signal.Signals) -> int:
        assert self.server.process is not None
        self.server.process.send_signal(sig)
        return self.server.process.wait(30)

    def restart(self) -> None:
        """Starts the server again on the port and data it had (it was stopped)."""
        old = self.server
        (old.data_dir / f"server-{time.monotonic_ns()}.log").write_bytes(old.log_text().encode())
        self.server = start_server(
            old.data_dir, env=self.env, database_url=old.database_url, http_port=old.http_port
        )

    def shown(self, instance_id: str) -> dict[str, Any]:
        with httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
            found = c.get(f"/rerobots/instance/{instance_id}")
        assert found.status_code == 200, found.text
        return dict(found.json())

    def ended(self, instance_id: str) -> dict[str, Any]:
        """The instance once it is TERMINATED."""
        found = wait_for(
            lambda: (s := self.shown(instance_id))["status"] == "TERMINATED" and s, 15, "the instance to end"
        )
        assert isinstance(found, dict)
        return found


@pytest.fixture(params=["sqlite", "postgres"])
def open_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Site]]:
    """Opens a site (a server on the database of the test's parameter, a robot with a running agent,
    its deployment) with the server settings given; stopped at the test's end."""
    opened: list[Site] = []

    def open_site(env: dict[str, str]) -> Site:
        database_url = None
        if request.param == "postgres":
            database_url = request.getfixturevalue("database_url_pg")
        server = start_server(tmp_path / "server", env=env, database_url=database_url)
        site = Site(server, env, None, None, "")  # type: ignore[arg-type]
        opened.append(site)
        site.robot = make_robot(server, tmp_path)
        site.agent = agent_for(site.robot, tmp_path / "agent").start()
        site.agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": site.robot.machine_id})
            assert made.status_code == 201, made.text
        site.deployment_id = made.json()["id"]
        return site

    yield open_site
    for site in opened:
        if site.agent is not None:
            site.agent.stop()
        if site.server.running:
            site.server.stop()


@pytest.fixture
def database_url_pg() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


def iid(instance: Instance) -> str:
    return str(instance._id)


def bindable(port: int) -> bool:
    """Whether nothing holds ``port`` any more (a listener could take it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        (signal.SIGTERM, "the robot's agent disconnected"),  # ended by the server as it stopped
        (signal.SIGKILL, "the robot's agent connected again without its workspace"),  # when it came back
    ],
    ids=["sigterm", "sigkill"],
)
def test_after_a_restart_the_agent_is_back_the_old_instance_ended_and_a_new_one_serves_ssh(
    open_site: Callable[[dict[str, str]], Site], stop: signal.Signals, reason: str
) -> None:
    site = open_site(ENV)
    old = site.instance()
    old_port = old.get_details()["conn"]["port"]
    old.start_sshclient()
    assert old.exec_ssh("echo before") == b"before\n"

    status = site.stop(stop)
    assert status == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
    site.agent.wait_log("connection to the server lost")
    with pytest.raises(TURNED_AWAY):  # the session went with the server
        old.exec_ssh("echo during", timeout=5)

    site.restart()
    site.agent.wait_log("s away", timeout=60)  # "connected to the server as part ... after N s away"
    wait_for(site.online, 15, "the machine to be online again")
    ended = site.ended(iid(old))
    assert "fwd" not in ended and "endtime" in ended
    assert str(ended["failure"]).startswith(reason), ended
    assert bindable(old_port)

    new = site.instance()
    assert iid(new) != iid(old)
    new.start_sshclient()
    assert new.exec_ssh("echo after") == b"after\n"
    new_port = new.get_details()["conn"]["port"]
    new.terminate()
    wait_for(lambda: new.get_status() == "TERMINATED", 15, "the new instance to end")
    wait_for(lambda: bindable(new_port), 10, "the new instance's port to be free")


def test_after_a_crash_without_the_agent_the_instance_ends_when_its_agent_counts_as_offline(
    open_site: Callable[[dict[str, str]], Site],
) -> None:
    site = open_site({**ENV, "FLEETPORT_AGENT__OFFLINE_AFTER_SECONDS": "3"})
    old = site.instance()
    old_port = old.get_details()["conn"]["port"]
    site.stop(signal.SIGKILL)  # the process that held the agent's connection died
    site.agent.stop()  # and the agent does not come back
    site.restart()
    ended = site.ended(iid(old))
    assert str(ended["failure"]).startswith("the robot's agent is no longer connected"), ended
    assert bindable(old_port)
    waiting = site.apic().request_instance(site.deployment_id, reserve=True)
    assert waiting["success"] is True  # the deployment is free again (the launch waits for an agent)


def test_a_launch_asked_while_the_agent_was_away_is_set_up_when_it_comes_back(
    open_site: Callable[[dict[str, str]], Site],
) -> None:
    site = open_site(ENV)
    site.agent.stop()  # a clean stop: the server sees it go at once
    wait_for(lambda: not site.online(), 15, "the machine to be offline")
    instance = Instance(wdeployment_id=site.deployment_id, apic=site.apic())  # launched now
    time.sleep(1)
    assert instance.get_status() == "INIT"  # nobody could set it up yet

    site.agent = agent_for(site.robot, site.agent.directory).start()
    wait_for(lambda: instance.get_status() == "READY", 20, "the launch to be READY")
    instance.start_sshclient()
    assert instance.exec_ssh("echo set up late") == b"set up late\n"
    instance.terminate()
    wait_for(lambda: instance.get_status() == "TERMINATED", 15, "the instance to end")
