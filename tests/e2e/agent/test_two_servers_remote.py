"""Remote access through a server process that does not hold the robot's agent: two server
processes on one PostgreSQL database with Redis, a real ``fleetport agent`` connected to server a,
and the unmodified ``rerobots`` client (with paramiko) talking to server b only."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from rerobots.api import APIClient
from rerobots.instances import Instance

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conformance.rerobots.test_ssh import closed
from tests.conftest import ADMIN_KEY, REDIS_URL, fresh_pg_database, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24600-24619",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}
DRIVER = "import sys\nfor line in sys.stdin:\n    open(sys.argv[1], 'a').write(line)\n"
NOT_CONNECTED = "the robot's agent is not connected"


@dataclass
class Pair:
    a: FleetportServer
    b: FleetportServer
    robot: Robot
    deployment_id: str

    def api(self) -> APIClient:
        """The rerobots client, on server b."""
        return APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=self.b.url + "/rerobots")

    def admin(self, server: FleetportServer) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with fresh_pg_database() as url:
        env = {**ENV, "FLEETPORT_REDIS_URL": REDIS_URL, "FLEETPORT_REDIS_PREFIX": f"fp-{uuid.uuid4().hex}:"}
        a = start_server(tmp_path / "a", env=env, database_url=url)
        try:
            b = start_server(tmp_path / "b", env=env, database_url=url)
            try:
                robot = make_robot(a, tmp_path)  # the enrolment names server a
                with httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
                    wanted = {"machine_id": robot.machine_id, "addons": ["cam", "drive"]}
                    made = admin.post("/api/v1/deployments", json=wanted)
                    assert made.status_code == 201, made.text
                yield Pair(a, b, robot, made.json()["id"])
            finally:
                b.stop()
        finally:
            a.stop()


def connect_agent(pair: Pair, tmp_path: Path, agents: list[AgentProcess]) -> Path:
    """Starts the robot's agent, connected to server a; the file its drive command writes."""
    driver, driven = tmp_path / "driver.py", tmp_path / "driven.jsonl"
    driver.write_text(DRIVER)
    drive = f"{sys.executable} {driver} {driven}"
    agent = agent_for(pair.robot, tmp_path / "agent", "--drive-command", drive)
    agents.append(agent.start())
    agent.wait_log("connected to the server")
    return driven


def ready(pair: Pair) -> Instance:
    instance = Instance(wdeployment_id=pair.deployment_id, apic=pair.api())
    wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
    return instance


def test_everything_through_the_process_without_the_agent(
    pair: Pair, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    driven = connect_agent(pair, tmp_path, agents)
    instance = ready(pair)
    iid, apic = str(instance._id), pair.api()
    port = instance.get_details()["conn"]["port"]
    instance.start_sshclient()
    assert instance.exec_ssh("echo through b") == b"through b\n"
    relayed = "/agent/v1/streams/"  # (a relays the session: it holds the agent; b only asked)
    assert relayed in pair.a.log_text() and relayed not in pair.b.log_text()

    apic.activate_addon_cam(iid)
    wait_for(lambda: apic.status_addon_cam(iid)["status"] == "active", 10, "the cam add-on to be active")
    image = apic.get_snapshot_cam(iid, dformat="ndarray")
    assert image["success"] and image["data"].dtype == np.uint8 and image["data"].shape == (240, 320, 3)
    assert image["data"].std() > 10

    apic.activate_addon_drive(iid)
    wait_for(lambda: apic.status_addon_drive(iid)["status"] == "active", 10, "the drive add-on to be active")
    for speed in (0.25, 0.5, 0.75):
        apic.send_drive_command(iid, {"linearv": speed, "angularv": 0})
    wait_for(lambda: driven.exists() and len(driven.read_text().splitlines()) == 3, 10, "3 drive lines")
    assert driven.read_text().splitlines() == [f'{{"linearv":{s},"angularv":0}}' for s in (0.25, 0.5, 0.75)]

    apic.deactivate_addon_cam(iid)  # (completes once the holding process closed what it had)
    assert apic.status_addon_cam(iid) == {"status": "notfound"}
    agents[-1].wait_log("cam add-on of instance")

    instance.terminate()
    wait_for(lambda: closed(port), 10, "the forwarding port to close")
    wait_for(lambda: instance.get_status() == "TERMINATED", 10, "the instance to end")


def test_no_agent_anywhere_gives_the_errors_of_one_process(pair: Pair) -> None:
    apic = pair.api()
    instance = Instance(wdeployment_id=pair.deployment_id, apic=apic)
    iid = str(instance._id)
    assert instance.get_status() == "INIT"  # asked of nobody: it waits for the launch timeout
    apic.activate_addon_cam(iid)
    for server in (pair.a, pair.b):
        with pair.admin(server) as admin:
            answer = admin.get(f"/rerobots/addon/cam/{iid}/0/img")
        assert answer.status_code == 503 and NOT_CONNECTED in answer.text, answer.text
    instance.terminate()  # no agent to confirm: it ends at once
    assert instance.get_status() == "TERMINATED"


def test_the_holding_process_stopped_gives_unavailable_without_hanging(
    pair: Pair, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    connect_agent(pair, tmp_path, agents)
    instance = ready(pair)
    iid, apic = str(instance._id), pair.api()
    apic.activate_addon_cam(iid)
    wait_for(lambda: apic.status_addon_cam(iid)["status"] == "active", 10, "the cam add-on to be active")
    assert pair.a.process is not None
    os.kill(pair.a.process.pid, signal.SIGSTOP)  # a holds the agent, still online in the database
    try:
        with pair.admin(pair.b) as admin:
            began = time.monotonic()
            answer = admin.get(f"/rerobots/addon/cam/{iid}/0/img")
            took = time.monotonic() - began
            assert answer.status_code == 503 and "did not answer" in answer.text, answer.text
            assert took < 20
            # its presence lapses: b's sweep ends the instance, whose workspace nobody holds now
            wait_for(lambda: apic.get_instance_info(iid)["status"] == "TERMINATED", 15, "the instance to end")
            assert "no longer connected" in str(apic.get_instance_info(iid).get("failure"))
            began = time.monotonic()
            answer = admin.get(f"/rerobots/addon/cam/{iid}/0/img")
            assert answer.status_code == 404 and "not active" in answer.text, answer.text
            assert time.monotonic() - began < 5
    finally:
        os.kill(pair.a.process.pid, signal.SIGCONT)


def test_agents_of_two_parts_on_two_processes_one_process_acts(
    pair: Pair, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    """The machine's first part (by id) connected to one process, its second part to the other:
    every request, made on either process, is performed by the process holding the first part's
    agent, whichever process asks."""
    connect_agent(pair, tmp_path, agents)  # the machine's main part, on a
    with Client(pair.b.url, ADMIN_KEY) as fp:
        second = fp.parts.create(pair.robot.machine_id, "arm")
        enrolment = fp.parts.agent_config(second.id)  # (names server b)
    path = tmp_path / "arm-enrolment.json"
    path.write_text(json.dumps(enrolment.model_dump()))
    path.chmod(0o600)
    arm = agent_for(Robot(pair.robot.machine_id, second.id, enrolment.secret, path), tmp_path / "arm")
    agents.append(arm.start())
    arm.wait_log(f"connected to the server as part {second.id}")
    holder, other = (pair.a, pair.b) if pair.robot.part_id < second.id else (pair.b, pair.a)
    relayed = "/agent/v1/streams/"
    for asked in (pair.a, pair.b):
        apic = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=asked.url + "/rerobots")
        ssh_and_end(Instance(wdeployment_id=pair.deployment_id, apic=apic))
        assert relayed in holder.log_text() and relayed not in other.log_text()


def ssh_and_end(instance: Instance) -> None:
    wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
    port = instance.get_details()["conn"]["port"]
    instance.start_sshclient()
    assert instance.exec_ssh("echo one") == b"one\n"
    instance.terminate()
    wait_for(lambda: closed(port), 10, "the forwarding port to close")
    wait_for(lambda: instance.get_status() == "TERMINATED", 10, "the instance to end")
