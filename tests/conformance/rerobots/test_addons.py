"""The cam and drive add-ons through a connected agent, end to end: a real server (SQLite), a
real ``fleetport agent`` process, and the unmodified ``rerobots`` client."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from rerobots.api import APIClient
from rerobots.api import Error as RerobotsError
from rerobots.instances import Instance

from fleetport import Client
from fleetport.agent import addons
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "23120-23139",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}

# The robot's drive command: each line it reads is appended to the file it is given
DRIVER = "import sys\nfor line in sys.stdin:\n    open(sys.argv[1], 'a').write(line)\n"


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    robot: Robot
    apic: APIClient
    iid: str
    driven: Path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    server = start_server(tmp_path / "server", env=ENV)
    agent = None
    try:
        robot = make_robot(server, tmp_path)
        driver, driven = tmp_path / "driver.py", tmp_path / "driven.jsonl"
        driver.write_text(DRIVER)
        drive_command = f"{sys.executable} {driver} {driven}"
        agent = agent_for(robot, tmp_path / "agent", "--drive-command", drive_command).start()
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post(
                "/api/v1/deployments", json={"machine_id": robot.machine_id, "addons": ["cam", "drive"]}
            )
            assert made.status_code == 201, made.text
        apic = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=server.url + "/rerobots")
        instance = Instance(wdeployment_id=made.json()["id"], apic=apic)
        wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
        yield Site(server, agent, robot, apic, str(instance._id), driven)
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


def test_a_camera_snapshot_comes_from_the_agent(site: Site) -> None:
    apic, iid = site.apic, site.iid
    assert apic.status_addon_cam(iid) == {"status": "notfound"}
    with pytest.raises(RerobotsError):  # not active: no image
        apic.get_snapshot_cam(iid)
    apic.activate_addon_cam(iid)
    wait_for(lambda: apic.status_addon_cam(iid)["status"] == "active", 10, "the cam add-on to be active")
    image = apic.get_snapshot_cam(iid, dformat="ndarray")
    assert image["success"] and image["format"] == "ndarray"
    pixels = image["data"]
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.shape[:2] == (240, 320) and pixels.std() > 10  # a pattern, not a blank image
    with httpx.Client(base_url=site.server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        raw = admin.get(f"/rerobots/addon/cam/{iid}/0/img").json()
    assert raw["success"] is True and raw["format"] == "JPEG" and raw["coding"] == "base64"
    assert base64.b64decode(raw["data"])[:3] == b"\xff\xd8\xff"
    apic.deactivate_addon_cam(iid)
    assert apic.status_addon_cam(iid) == {"status": "notfound"}
    site.agent.wait_log("cam add-on of instance")


def test_drive_commands_reach_the_drive_command_in_order(site: Site) -> None:
    apic, iid = site.apic, site.iid
    with pytest.raises(RerobotsError):  # not active
        apic.send_drive_command(iid, {"linearv": 1, "angularv": 0})
    apic.activate_addon_drive(iid)
    wait_for(lambda: apic.status_addon_drive(iid)["status"] == "active", 10, "the drive add-on to be active")
    apic.send_drive_command(iid, {"linearv": 0.5, "angularv": 0})
    apic.send_drive_command(iid, None)  # the client's default: stop
    lines = ['{"linearv":0.5,"angularv":0}', '{"linearv":0,"angularv":0}']
    wait_for(lambda: site.driven.exists() and len(site.driven.read_text().splitlines()) == 2, 10, "2 lines")
    assert site.driven.read_text().splitlines() == lines
    with Client(site.server.url, ADMIN_KEY) as fp:
        wait_for(
            lambda: len(list(fp.logs.list(site.robot.part_id, filter="drive: ", order="asc"))) == 2,
            15,
            "the drive lines in the part's logs",
        )
        logged = [e.message for e in fp.logs.list(site.robot.part_id, filter="drive: ", order="asc")]
    assert logged == [f"drive: {line}" for line in lines]


@pytest.mark.parametrize(
    ("command", "status"),
    [("[1, 2]", 400), ('{"x": "' + "a" * 5000 + '"}', 400), ("not json", 400)],
)
def test_hostile_drive_commands_are_refused(site: Site, command: str, status: int) -> None:
    site.apic.activate_addon_drive(site.iid)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=site.server.url, headers=headers) as admin:
        answer = admin.post(f"/rerobots/addon/drive/{site.iid}/tx", content=command)
    assert answer.status_code == status, answer.text


def test_without_pillow_the_agent_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # importing PIL now fails
    with pytest.raises(addons.CameraUnavailable, match=r"fleetport\[camera\]"):
        addons.snapshot(None)
