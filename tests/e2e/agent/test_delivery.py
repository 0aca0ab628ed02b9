"""Logs and points buffered on the robot while the server is away are delivered in order, each
stored once: across a killed and restarted server, and a killed and restarted agent."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

BASE = 1_700_000_000


def _post_point(agent: AgentProcess, alias: str, i: int) -> None:
    answer = httpx.post(
        f"http://127.0.0.1:{agent.telemetry_port}/dataports/{alias}/points",
        json={"points": [{"timestamp": BASE + i, "value": i}]},
        timeout=5,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"queued": 1}


def _lines(server: FleetportServer, robot: Robot, logfile: Path) -> list[str]:
    with Client(server.url, ADMIN_KEY) as fp:
        entries = list(fp.logs.list(robot.part_id, filter="shipped line", order="asc", limit=500))
    return [e.message for e in entries if e.logger_name == str(logfile)]


def _points(server: FleetportServer, robot: Robot) -> list[tuple[int, float]]:
    with Client(server.url, ADMIN_KEY) as fp:
        found = fp.dataports.read(robot.machine_id, "temp", start=BASE, limit=10_000, order="asc")
    return [(p.timestamp, p.value) for p in found]


def _restart(server: FleetportServer) -> FleetportServer:
    port = int(server.url.rsplit(":", 1)[1])
    return start_server(server.data_dir, env=FAST, database_url=server.database_url, http_port=port)


def test_what_waited_while_the_server_was_down_arrives_once_in_order(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    with Client(agent_server.url, ADMIN_KEY) as fp:
        fp.dataports.create(robot.machine_id, "temp", "integer")
    logfile = tmp_path / "robot.log"
    logfile.write_text("written before the agent started\n")
    agent = agent_for(robot, tmp_path / "agent", "--log-file", str(logfile))
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    with logfile.open("a") as out:
        out.write("shipped line 0\n")
    _post_point(agent, "temp", 0)
    wait_for(lambda: len(_lines(agent_server, robot, logfile)) == 1, what="the first line")
    wait_for(lambda: len(_points(agent_server, robot)) == 1, what="the first point")

    assert agent_server.process is not None
    agent_server.process.kill()  # no goodbye: the agent finds the connection gone
    agent_server.process.wait()
    agent.wait_log("connection to the server lost")
    with logfile.open("a") as out:
        for i in range(1, 301):
            out.write(f"shipped line {i}\n")
            if i % 100 == 0:
                out.flush()
                time.sleep(0.6)  # in several batches
    for i in range(1, 51):
        _post_point(agent, "temp", i)
    status = httpx.get(f"http://127.0.0.1:{agent.telemetry_port}/status", timeout=5).json()
    assert status["connected"] is False and status["waiting"]["points"] == 50

    restarted = _restart(agent_server)
    try:
        agent.wait_log("s away", timeout=90)  # "connected to the server as part ... after N s away"
        expected = [f"shipped line {i}" for i in range(301)]
        wait_for(lambda: len(_lines(restarted, robot, logfile)) >= 301, timeout=30, what="every line")
        wait_for(lambda: len(_points(restarted, robot)) >= 51, timeout=30, what="every point")
        time.sleep(1.0)  # anything sent twice would have landed by now
        assert _lines(restarted, robot, logfile) == expected
        assert _points(restarted, robot) == [(BASE + i, i) for i in range(51)]
        assert "written before the agent started" not in [m for m in _lines(restarted, robot, logfile)]
    finally:
        restarted.stop()


def test_a_killed_agent_restarts_where_it_stopped_with_nothing_twice(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    with Client(agent_server.url, ADMIN_KEY) as fp:
        fp.dataports.create(robot.machine_id, "temp", "integer")
    logfile = tmp_path / "robot.log"
    logfile.touch()
    agent = agent_for(robot, tmp_path / "agent", "--log-file", str(logfile))
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    for i in range(200):
        _post_point(agent, "temp", i)
        with logfile.open("a") as out:
            out.write(f"shipped line {i}\n")
    agent.stop(signal.SIGKILL)  # mid-delivery: some messages sent, not all acknowledged
    with logfile.open("a") as out:
        for i in range(200, 250):
            out.write(f"shipped line {i}\n")
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}", count=2)
    wait_for(lambda: len(_points(agent_server, robot)) >= 200, timeout=30, what="every point")
    wait_for(lambda: len(_lines(agent_server, robot, logfile)) >= 250, timeout=30, what="every line")
    time.sleep(1.0)
    assert _points(agent_server, robot) == [(BASE + i, i) for i in range(200)]
    assert _lines(agent_server, robot, logfile) == [f"shipped line {i}" for i in range(250)]
