"""A real server with a robot whose real ``fleetport agent`` runs and whose machine is offered as a
deployment, for the tests of SSH access (``fleetport ssh``, ``client.ssh``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleetport import Client
from fleetport.client import models as m
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24120-24159",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}


@dataclass
class Site:
    server: FleetportServer
    machine: m.Machine
    deployment: m.Deployment
    org_id: str
    location_id: str
    agent: AgentProcess


@contextlib.contextmanager
def running_site(
    directory: Path, database_url: str | None = None, env: dict[str, str] | None = None
) -> Iterator[Site]:
    """A server, a robot ("rover") whose agent runs, and its deployment."""
    server = start_server(directory / "server", env={**ENV, **(env or {})}, database_url=database_url)
    agent: AgentProcess | None = None
    try:
        robot = make_robot(server, directory)
        agent = agent_for(robot, directory / "agent").start()
        agent.wait_log("connected to the server")
        with Client(server.url, ADMIN_KEY) as fp:
            machine = fp.machines.get(robot.machine_id)
            deployment = fp.deployments.create(machine.id)
            wait_for(lambda: fp.deployments.get(deployment.id).online, 10, "the agent to be online")
        yield Site(server, machine, deployment, machine.organization_id, machine.location_id, agent)
    finally:
        if agent is not None:
            agent.stop()
        server.stop()
