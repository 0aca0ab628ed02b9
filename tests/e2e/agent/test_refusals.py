"""Wrong and deleted secrets are refused (an open connection closed when its secret goes), and
hostile messages close the connection that sent them with a clear log line, never the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY
from tests.e2e.agent.conftest import AgentProcess, agent_for, make_robot, wait_for


def _ws(server: FleetportServer, path: str = "/agent/v1/connect") -> str:
    return server.url.replace("http://", "ws://") + path


async def _refused(server: FleetportServer, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_ws(server), additional_headers=headers):
            pass
    return refused.value.response.status_code


def test_wrong_secrets_and_other_credentials_are_refused(agent_server: FleetportServer) -> None:
    assert asyncio.run(_refused(agent_server, None)) == 401
    assert asyncio.run(_refused(agent_server, "fpp_" + "x" * 40)) == 401
    assert asyncio.run(_refused(agent_server, "fpp_" + "é" * 5000)) == 401
    assert asyncio.run(_refused(agent_server, ADMIN_KEY)) == 403  # an API key is no part
    assert agent_server.process is not None and agent_server.process.poll() is None


def test_deleting_the_secret_closes_the_open_connection(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    agent = agent_for(robot, tmp_path / "agent")
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    with Client(agent_server.url, ADMIN_KEY) as fp:
        (secret,) = fp.parts.secrets(robot.part_id)
        fp.parts.delete_secret(robot.part_id, secret.id)
    wait_for(lambda: "its part secret was deleted" in agent_server.log_text(), timeout=5, what="the close")
    agent.wait_log("HTTP 401")  # and its next attempts are refused
    with Client(agent_server.url, ADMIN_KEY) as fp:
        wait_for(lambda: not fp.machines.get(robot.machine_id).online, timeout=5, what="offline")


async def _hostile(server: FleetportServer, secret: str, frame: str | bytes) -> tuple[int, str]:
    async with connect(
        _ws(server), additional_headers={"Authorization": f"Bearer {secret}"}, max_size=None
    ) as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome"
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.parametrize(
    ("frame", "code", "logged"),
    [
        ("{not json", 1008, "not JSON"),
        ("[1, 2]", 1008, "not a JSON object"),
        ('{"type": "reboot"}', 1008, "unknown type 'reboot'"),
        ('{"type": "logs", "stream": 7, "seq": 1, "entries": []}', 1008, "stream is not text"),
        (b"\x00\x01binary", 1008, "binary frame"),
        ('{"type": "launched", "instance": "i", "hostkey": "k", "port": 70000}', 1008, "not a TCP port"),
        ('{"type": "launched", "instance": 5, "hostkey": "k", "port": 2222}', 1008, "instance is not text"),
        ('{"type": "destroyed", "instance": "' + "\u00e9" * 200 + '"}', 1008, "instance is not text"),
        (
            '{"type": "addon_active", "instance": "i", "addon": "vnc", "target": 5}',
            1008,
            "target is not text",
        ),
        (
            '{"type": "addon_active", "instance": "i", "addon": "vnc", "target": "' + "h" * 400 + '"}',
            1008,
            "target",
        ),
        ('{"type": "addon_failed", "instance": "i", "addon": "vnc"}', 1008, "error is not text"),
        ('{"type": "ci_log", "job": 5, "data": "x"}', 1008, "job is not text"),
        (
            '{"type": "ci_done", "job": "j", "status": "passed", "exit_code": "3", "reason": ""}',
            1008,
            "exit_code is not a whole number or null",
        ),
        ("x" * (300 << 10), 1009, "over 262144 bytes"),
        ("x" * (1 << 20), 1009, "over the size limit"),
    ],
)
def test_hostile_messages_close_that_connection_only(
    agent_server_small: FleetportServer, tmp_path: Path, frame: str | bytes, code: int, logged: str
) -> None:
    robot = make_robot(agent_server_small, tmp_path)
    got, _ = asyncio.run(_hostile(agent_server_small, robot.secret, frame))
    assert got == code
    wait_for(lambda: logged in agent_server_small.log_text(), timeout=5, what=f"log line {logged!r}")
    with Client(agent_server_small.url, ADMIN_KEY) as fp:
        assert fp.machines.get(robot.machine_id).id == robot.machine_id  # the server goes on
    assert "Traceback" not in agent_server_small.log_text()


async def _unasked(server: FleetportServer, secret: str, instance_id: str) -> dict[str, object]:
    async with connect(_ws(server), additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        report = {"type": "launched", "instance": instance_id, "hostkey": "ssh-ed25519 AAAA", "port": 2222}
        await ws.send(json.dumps(report))
        await ws.send(json.dumps({"type": "destroyed", "instance": instance_id}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] not in ("config",):
                return dict(message)


def test_a_workspace_the_server_did_not_ask_for_is_destroyed(
    agent_server_small: FleetportServer, tmp_path: Path
) -> None:
    robot = make_robot(agent_server_small, tmp_path)
    answer = asyncio.run(_unasked(agent_server_small, robot.secret, "0190a1b2-0000-7000-8000-000000000000"))
    assert answer == {"type": "destroy", "instance": "0190a1b2-0000-7000-8000-000000000000"}
    assert "Traceback" not in agent_server_small.log_text()
