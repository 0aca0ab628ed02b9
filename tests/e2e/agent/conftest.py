"""A real server and real `fleetport agent` processes on free ports, for the agent's tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleetport import Client
from fleetport.testing import FleetportServer, free_port
from tests.conftest import ADMIN_KEY, fresh_pg_database, start_server

# Agents beat often and go offline soon in these tests
FAST = {
    "FLEETPORT_AGENT__HEARTBEAT_SECONDS": "0.3",
    "FLEETPORT_AGENT__OFFLINE_AFTER_SECONDS": "1.5",
    "FLEETPORT_LOG_LEVEL": "info",
}


def wait_for(check: Callable[[], object], timeout: float = 15.0, what: str = "the condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {timeout} s")


@dataclass
class Robot:
    """A machine with its main part, and the agent's enrolment file."""

    machine_id: str
    part_id: str
    secret: str
    enrolment: Path


@dataclass
class AgentProcess:
    directory: Path
    args: list[str]
    telemetry_port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "agent.log"

    def start(self) -> AgentProcess:
        out = self.log.open("ab")
        command = [sys.executable, "-m", "fleetport.cli", "agent", *self.args]
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        out.close()
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, text: str, timeout: float = 15.0, count: int = 1) -> None:
        wait_for(lambda: self.text().count(text) >= count, timeout, f"agent log line {text!r}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def make_robot(server: FleetportServer, directory: Path, name: str = "rover") -> Robot:
    with Client(server.url, ADMIN_KEY) as fp:
        org = fp.organizations.create(f"Agents {name} {time.monotonic_ns()}")
        lab = fp.locations.create(org.id, "Lab")
        machine = fp.machines.create(lab.id, name)
        (part,) = list(fp.machines.parts(machine.id))
        enrolment = fp.parts.agent_config(part.id)
    path = directory / f"{name}-enrolment.json"
    path.write_text(json.dumps(enrolment.model_dump()))
    path.chmod(0o600)
    return Robot(machine.id, part.id, enrolment.secret, path)


def agent_for(robot: Robot, directory: Path, *extra: str) -> AgentProcess:
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    args = [
        "--config",
        str(robot.enrolment),
        "--state-dir",
        str(directory / "state"),
        "--telemetry-port",
        str(port),
        *extra,
    ]
    return AgentProcess(directory, args, port)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def agent_server(tmp_path: Path, database_url: str | None) -> Iterator[FleetportServer]:
    running = start_server(tmp_path / "server", env=FAST, database_url=database_url)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[AgentProcess]]:
    """Agents a test starts, stopped at its end."""
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.stop()


@pytest.fixture(scope="module")
def agent_server_small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetportServer]:
    """A server (SQLite) whose agent messages may be at most 256 KiB."""
    env = {**FAST, "FLEETPORT_AGENT__MAX_MESSAGE_BYTES": str(256 << 10)}
    running = start_server(tmp_path_factory.mktemp("small"), env=env)
    try:
        yield running
    finally:
        running.stop()
