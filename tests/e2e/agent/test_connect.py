"""Enrolment, connection, presence and config sync against a real server and a real agent."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY
from tests.e2e.agent.conftest import AgentProcess, agent_for, make_robot, wait_for


def _online(server: FleetportServer, machine_id: str) -> bool:
    with Client(server.url, ADMIN_KEY) as fp:
        return fp.machines.get(machine_id).online


def test_agent_connects_and_its_machine_goes_online_then_offline(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    assert not _online(agent_server, robot.machine_id)
    agent = agent_for(robot, tmp_path / "agent")
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    wait_for(lambda: _online(agent_server, robot.machine_id), what="the machine online")
    with Client(agent_server.url, ADMIN_KEY) as fp:
        machine = fp.machines.get(robot.machine_id)
        part = fp.parts.get(robot.part_id)
        listed = [m for m in fp.machines.list() if m.id == robot.machine_id]
    assert machine.last_seen is not None and part.online and part.last_access is not None
    assert listed[0].online
    first_seen = machine.last_seen
    wait_for(
        lambda: Client(agent_server.url, ADMIN_KEY).machines.get(robot.machine_id).last_seen != first_seen,
        what="heartbeats moving last_seen on",
    )
    agent.stop(signal.SIGKILL)
    wait_for(lambda: not _online(agent_server, robot.machine_id), timeout=5, what="the machine offline")
    assert "agent of part" in agent_server.log_text() and "disconnected" in agent_server.log_text()


def test_a_stopping_server_logs_that_it_ended_the_agent_connection_itself(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    agent = agent_for(robot, tmp_path / "agent")
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")
    assert agent_server.stop() == 0
    log = agent_server.log_text()
    assert f"agent of part {robot.part_id} disconnected: the server is stopping" in log
    assert "the agent closed the connection" not in log


def test_config_reaches_the_agent_file_and_the_reload_command_runs(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(agent_server, tmp_path)
    marker = tmp_path / "reloads"
    config_file = tmp_path / "robot" / "config.json"
    agent = agent_for(
        robot,
        tmp_path / "agent",
        "--part-config",
        str(config_file),
        "--reload-command",
        f"echo reloaded >> {marker}",
    )
    with Client(agent_server.url, ADMIN_KEY) as fp:
        fp.parts.set_config(robot.part_id, {"components": [{"name": "arm"}]})
    agents.append(agent.start())
    wait_for(lambda: config_file.exists(), what="the config file")
    assert json.loads(config_file.read_text()) == {"components": [{"name": "arm"}]}
    wait_for(lambda: marker.exists() and marker.read_text().count("reloaded") == 1, what="the first reload")
    with Client(agent_server.url, ADMIN_KEY) as fp:
        fp.parts.set_config(robot.part_id, {"components": [{"name": "arm"}, {"name": "camera"}]})
    wait_for(
        lambda: json.loads(config_file.read_text()).get("components", [{}])[-1].get("name") == "camera",
        what="the changed config in the file",
    )
    wait_for(lambda: marker.read_text().count("reloaded") == 2, what="the second reload")
    # a restarted agent finds the same config written: no reload for it
    agent.stop()
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}", count=2)
    with Client(agent_server.url, ADMIN_KEY) as fp:
        fp.parts.set_config(robot.part_id, {"v": 3})
    wait_for(lambda: marker.read_text().count("reloaded") == 3, what="the third reload")
    assert json.loads(config_file.read_text()) == {"v": 3}


def test_the_cli_hands_out_the_enrolment_and_the_agent_takes_flags_or_toml(
    agent_server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    import os
    import subprocess
    import sys

    robot = make_robot(agent_server, tmp_path)
    env = {**os.environ, "FLEETPORT_URL": agent_server.url, "FLEETPORT_API_KEY": ADMIN_KEY}
    printed = subprocess.run(
        [sys.executable, "-m", "fleetport.cli", "parts", "agent-config", robot.part_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    enrolment = json.loads(printed)
    assert enrolment == {"server": agent_server.url, "part_id": robot.part_id, "secret": robot.secret}
    toml = tmp_path / "rover.toml"
    toml.write_text("".join(f'{key} = "{value}"\n' for key, value in enrolment.items()))
    by_toml = agent_for(robot, tmp_path / "toml")
    by_toml.args[1] = str(toml)
    agents.append(by_toml.start())
    by_toml.wait_log(f"connected to the server as part {robot.part_id}")
    by_toml.stop()
    flags = ["--server", agent_server.url, "--part", robot.part_id, "--secret", robot.secret]
    by_flags = AgentProcess(
        tmp_path / "toml", [*flags, "--telemetry-port", "0", "--state-dir", str(tmp_path / "s")], 0
    )
    agents.append(by_flags.start())
    by_flags.wait_log(f"connected to the server as part {robot.part_id}", count=2)
    assert "telemetry endpoint" not in by_flags.text().split("agent stopped")[-1]
