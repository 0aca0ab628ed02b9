"""The cam add-on reading a real ``--camera-device`` with OpenCV, end to end: a real server, a real
``fleetport agent`` process, and the unmodified ``rerobots`` client. No camera is attached to this
machine, so the device is a video file (OpenCV's ``VideoCapture`` opens files and cameras alike)
written here with ``cv2.VideoWriter``: frames of one known colour."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from rerobots.api import APIClient
from rerobots.api import Error as RerobotsError
from rerobots.instances import Instance

from fleetport.agent import addons
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24720-24739",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}
WIDTH, HEIGHT = 160, 96  # not the test pattern's 320 x 240
RGB = (200, 90, 40)


def write_video(path: Path, frames: int = 5) -> None:
    """An MJPG .avi of ``frames`` solid frames of the colour ``RGB``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (WIDTH, HEIGHT))
    assert writer.isOpened()
    frame = np.full((HEIGHT, WIDTH, 3), RGB[::-1], dtype=np.uint8)  # OpenCV's frames are BGR
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0


Camera = Callable[[str], tuple[APIClient, str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetportServer]:
    running = start_server(tmp_path_factory.mktemp("server"), env=ENV)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def camera(server: FleetportServer, tmp_path: Path) -> Iterator[Camera]:
    """Starts an agent with ``--camera-device <device>`` and an instance with the cam add-on active."""
    agents: list[AgentProcess] = []

    def start(device: str) -> tuple[APIClient, str]:
        robot = make_robot(server, tmp_path)
        agent = agent_for(robot, tmp_path / "agent", "--camera-device", device).start()
        agents.append(agent)
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id, "addons": ["cam"]})
            assert made.status_code == 201, made.text
        apic = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=server.url + "/rerobots")
        instance = Instance(wdeployment_id=made.json()["id"], apic=apic)
        wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
        iid = str(instance._id)
        apic.activate_addon_cam(iid)
        wait_for(lambda: apic.status_addon_cam(iid)["status"] == "active", 10, "the cam add-on")
        return apic, iid

    yield start
    for agent in agents:
        agent.stop()


def test_a_snapshot_is_a_frame_of_the_device(camera: Camera, tmp_path: Path) -> None:
    video = tmp_path / "solid.avi"
    write_video(video)
    apic, iid = camera(str(video))
    for _ in range(3):  # the device is opened for each snapshot and released after it
        image = apic.get_snapshot_cam(iid, dformat="ndarray")
        assert image["success"] and image["format"] == "ndarray"
        pixels = image["data"]
        assert pixels.dtype == np.uint8 and pixels.shape == (HEIGHT, WIDTH, 3)
        mean = pixels.reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - np.array(RGB)).max() < 8, mean  # JPEG twice over: close, not exact
        assert pixels.std(axis=(0, 1)).max() < 6  # one colour throughout


def failure(server: FleetportServer, iid: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        return admin.get(f"/rerobots/addon/cam/{iid}/0/img", timeout=30)


@pytest.mark.parametrize("device", ["missing.avi", "7"])  # a path, then a camera index
def test_a_device_that_does_not_open_fails_the_snapshot_saying_so(
    camera: Camera, server: FleetportServer, tmp_path: Path, device: str
) -> None:
    named = str(tmp_path / device) if device.endswith(".avi") else device
    apic, iid = camera(named)
    began = time.monotonic()
    answer = failure(server, iid)
    assert answer.status_code == 503, answer.text
    assert f"camera device {named!r} could not be opened" in answer.text
    assert time.monotonic() - began < 9  # a prompt answer, not the server's wait running out
    with pytest.raises(RerobotsError):
        apic.get_snapshot_cam(iid, dformat="ndarray")


def test_a_file_that_is_not_a_video_fails_the_snapshot(
    camera: Camera, server: FleetportServer, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video\n" * 100)
    _, iid = camera(str(junk))
    answer = failure(server, iid)
    assert answer.status_code == 503 and repr(str(junk)) in answer.text, answer.text


def test_camera_device_is_an_index_or_a_path() -> None:
    assert addons.camera_source("0") == 0 and addons.camera_source("12") == 12
    assert addons.camera_source("/dev/video2") == "/dev/video2"
    assert addons.camera_source("rtsp://cam.local/1") == "rtsp://cam.local/1"
    assert addons.camera_source("٣") == "٣"  # a digit only to Unicode: a path, not int("٣")
    for bad in ("", "a\0b"):
        with pytest.raises(addons.CameraUnavailable, match="neither an index nor a path"):
            addons.camera_source(bad)
