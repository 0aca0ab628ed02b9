"""Two server processes on one PostgreSQL database with Redis: an agent connected to one shows
online through the other, a config change made through the other reaches it, and a secret deleted
through the other closes its connection."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, REDIS_URL, fresh_pg_database, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[FleetportServer, FleetportServer]]:
    with fresh_pg_database() as url:
        env = {
            **FAST,
            "FLEETPORT_REDIS_URL": REDIS_URL,
            "FLEETPORT_REDIS_PREFIX": f"fleetport-test-{uuid.uuid4().hex}:",
            "FLEETPORT_CREDENTIAL_CACHE_SECONDS": "60",  # revocation must come through the bus
        }
        a = start_server(tmp_path / "a", env=env, database_url=url)
        try:
            b = start_server(tmp_path / "b", env=env, database_url=url)
            try:
                yield a, b
            finally:
                b.stop()
        finally:
            a.stop()


def test_presence_config_and_revocation_across_processes(
    two: tuple[FleetportServer, FleetportServer], tmp_path: Path, agents: list[AgentProcess]
) -> None:
    a, b = two
    robot = make_robot(a, tmp_path)  # the enrolment names server a
    config_file = tmp_path / "config.json"
    agent = agent_for(robot, tmp_path / "agent", "--part-config", str(config_file))
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    with Client(b.url, ADMIN_KEY) as fp:
        wait_for(lambda: fp.machines.get(robot.machine_id).online, what="online through b")
        fp.parts.set_config(robot.part_id, {"through": "b"})
    wait_for(
        lambda: config_file.exists() and json.loads(config_file.read_text()) == {"through": "b"},
        what="b's config change at the agent on a",
    )
    with Client(b.url, ADMIN_KEY) as fp:
        (secret,) = fp.parts.secrets(robot.part_id)
        fp.parts.delete_secret(robot.part_id, secret.id)
    wait_for(lambda: "its part secret was deleted" in a.log_text(), timeout=5, what="a closing it")
    agent.stop(signal.SIGKILL)
    with Client(b.url, ADMIN_KEY) as fp:
        wait_for(lambda: not fp.machines.get(robot.machine_id).online, timeout=5, what="offline through b")
